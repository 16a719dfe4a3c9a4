//! Copying a stored Parquet object with some of its columns rewritten: the other columns'
//! encoded chunks are copied byte for byte, row group by row group, without decoding them.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions};
use arrow::datatypes::SchemaRef;
use bytes::{Buf, Bytes};
use object_store::buffered::BufWriter;
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore};
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::arrow::arrow_writer::{ArrowRowGroupWriterFactory, compute_leaves};
use parquet::arrow::async_writer::AsyncFileWriter;
use parquet::arrow::{ARROW_SCHEMA_META_KEY, ArrowWriter, ProjectionMask};
use parquet::column::writer::ColumnCloseResult;
use parquet::errors::ParquetError;
use parquet::file::metadata::PageIndexPolicy;
use parquet::file::reader::{ChunkReader, Length};
use parquet::file::writer::SerializedFileWriter;

use crate::error::StoreError;
use crate::parquet_io::{ObjectReader, final_writer_properties};
use crate::store::Store;

/// Copies a Parquet object row group by row group, re-encoding the columns named `replace`
/// from arrays the caller gives and copying the others' encoded bytes: from
/// [`Store::splice_parquet`]. For each row group, [`next_row_group`](Self::next_row_group)
/// decodes the `read` columns and [`write_row_group`](Self::write_row_group) takes the new
/// `replace` columns; [`close`](Self::close) finishes the object (nothing is visible at `to`
/// before). The copy has the source's row groups, schema and key-value metadata.
pub struct ParquetSplice {
    uri: String,
    store: Arc<dyn ObjectStore>,
    from: ObjectPath,
    size: u64,
    /// The source's ETag when the copy started: every read asks for that version, so a source
    /// rewritten meanwhile fails the copy instead of mixing two files' bytes.
    e_tag: Option<String>,
    metadata: ArrowReaderMetadata,
    writer: SerializedFileWriter<Vec<u8>>,
    factory: ArrowRowGroupWriterFactory,
    sink: BufWriter,
    /// Arrow columns read and replaced (top-level indexes, ascending).
    read: Vec<usize>,
    replace: Vec<usize>,
    /// Parquet leaf columns per Arrow column.
    leaves: Vec<usize>,
    /// The row group to read next, and the bytes of the one read last.
    next: usize,
    current: Option<Chunks>,
    rows: u64,
}

impl std::fmt::Debug for ParquetSplice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetSplice").field("uri", &self.uri).field("next", &self.next).finish_non_exhaustive()
    }
}

impl Store {
    /// Starts copying Parquet object `from` to `to`, decoding the Arrow columns `read` and
    /// re-encoding the columns `replace` (top-level column indexes, each list ascending);
    /// every other column is copied as encoded. See [`ParquetSplice`].
    pub async fn splice_parquet(
        &self,
        from: &str,
        to: &str,
        read: &[usize],
        replace: &[usize],
    ) -> Result<ParquetSplice, StoreError> {
        let meta = self.head(from).await?.ok_or_else(|| StoreError::NotFound { uri: self.uri(from) })?;
        let uri = self.uri(from);
        let parquet = |source| StoreError::Parquet { uri: uri.clone(), source };
        let mut reader = ObjectReader::new(Arc::clone(self.object_store()), meta.location.clone(), meta.size);
        let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional);
        let metadata = ArrowReaderMetadata::load_async(&mut reader, options).await.map_err(parquet)?;
        let schema = Arc::clone(metadata.schema());
        let width = schema.fields().len();
        let ascending =
            |columns: &[usize]| columns.windows(2).all(|w| w[0] < w[1]) && columns.iter().all(|&c| c < width);
        if !ascending(read) || !ascending(replace) {
            return Err(parquet(ParquetError::General(format!(
                "columns to read {read:?} and to replace {replace:?} must be ascending and below {width}"
            ))));
        }
        let key_values: Vec<(String, String)> = metadata
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .into_iter()
            .flatten()
            .filter(|kv| kv.key != ARROW_SCHEMA_META_KEY)
            .map(|kv| (kv.key.clone(), kv.value.clone().unwrap_or_default()))
            .collect();
        let properties = final_writer_properties(&key_values, usize::MAX);
        let (writer, factory) = ArrowWriter::try_new(Vec::new(), Arc::clone(&schema), Some(properties))
            .and_then(ArrowWriter::into_serialized_writer)
            .map_err(parquet)?;
        let descr = metadata.parquet_schema();
        let mut leaves = vec![0; width];
        for leaf in 0..descr.num_columns() {
            leaves[descr.get_column_root_idx(leaf)] += 1;
        }
        Ok(ParquetSplice {
            uri: self.uri(to),
            store: Arc::clone(self.object_store()),
            from: meta.location,
            size: meta.size,
            e_tag: meta.e_tag,
            metadata,
            writer,
            factory,
            sink: BufWriter::new(Arc::clone(self.object_store()), self.path(to)?),
            read: read.to_vec(),
            replace: replace.to_vec(),
            leaves,
            next: 0,
            current: None,
            rows: 0,
        })
    }
}

impl ParquetSplice {
    /// The Arrow schema of the source (and of the copy).
    pub fn schema(&self) -> &SchemaRef {
        self.metadata.schema()
    }

    /// Reads the next row group: its `read` columns, in schema order (`None` after the last).
    pub async fn next_row_group(&mut self) -> Result<Option<RecordBatch>, StoreError> {
        let parquet = |source| StoreError::Parquet { uri: self.uri.clone(), source };
        let metadata = self.metadata.metadata();
        let Some(group) = metadata.row_groups().get(self.next) else { return Ok(None) };
        let (start, end) = group
            .columns()
            .iter()
            .map(|column| column.byte_range())
            .fold((u64::MAX, 0), |(start, end), (offset, length)| (start.min(offset), end.max(offset + length)));
        let options = GetOptions {
            if_match: self.e_tag.clone(),
            range: Some(GetRange::Bounded(start..end)),
            ..GetOptions::default()
        };
        let fetched = match self.store.get_opts(&self.from, options).await {
            Ok(fetched) => fetched.bytes().await,
            Err(error) => Err(error),
        };
        let bytes = fetched.map_err(|error| StoreError::Parquet {
            uri: self.uri.clone(),
            source: ParquetError::External(Box::new(error)),
        })?;
        let chunks = Chunks { start, bytes, size: self.size };
        let rows = usize::try_from(group.num_rows()).unwrap_or(0);
        let batch = if self.read.is_empty() {
            let schema = Arc::new(self.schema().project(&[]).map_err(|error| parquet(error.into()))?);
            RecordBatch::try_new_with_options(schema, vec![], &RecordBatchOptions::new().with_row_count(Some(rows)))
                .map_err(|error| parquet(error.into()))?
        } else {
            let mask = ProjectionMask::roots(metadata.file_metadata().schema_descr(), self.read.iter().copied());
            let batches = ParquetRecordBatchReaderBuilder::new_with_metadata(chunks.clone(), self.metadata.clone())
                .with_row_groups(vec![self.next])
                .with_projection(mask)
                .with_batch_size(rows.max(1))
                .build()
                .map_err(parquet)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|error| parquet(error.into()))?;
            let schema = Arc::new(self.schema().project(&self.read).map_err(|error| parquet(error.into()))?);
            arrow::compute::concat_batches(&schema, &batches).map_err(|error| parquet(error.into()))?
        };
        self.current = Some(chunks);
        self.next += 1;
        Ok(Some(batch))
    }

    /// Writes the row group read last, with `columns` (one per `replace` column, in order, as
    /// long as the row group, of the column's type) in place of the source's; columns refused
    /// leave the row group to be written again.
    pub async fn write_row_group(&mut self, columns: &[ArrayRef]) -> Result<(), StoreError> {
        let uri = self.uri.clone();
        let parquet = |source| StoreError::Parquet { uri: uri.clone(), source };
        if self.current.is_none() {
            return Err(parquet(ParquetError::General("write_row_group before next_row_group".to_owned())));
        }
        let index = self.next - 1;
        let group = &self.metadata.metadata().row_groups()[index];
        let rows = u64::try_from(group.num_rows()).unwrap_or(0);
        if columns.len() != self.replace.len() || columns.iter().any(|column| column.len() as u64 != rows) {
            return Err(parquet(ParquetError::General(format!(
                "row group {index} has {rows} rows and {} columns to replace; got {} columns of lengths {:?}",
                self.replace.len(),
                columns.len(),
                columns.iter().map(|column| column.len()).collect::<Vec<_>>()
            ))));
        }
        let fields = self.metadata.schema().fields();
        for (&at, column) in self.replace.iter().zip(columns) {
            let field = &fields[at];
            if column.data_type() != field.data_type() || (!field.is_nullable() && column.null_count() > 0) {
                return Err(parquet(ParquetError::General(format!(
                    "column `{}` is {}{}; got {} with {} nulls",
                    field.name(),
                    field.data_type(),
                    if field.is_nullable() { "" } else { ", not nullable" },
                    column.data_type(),
                    column.null_count()
                ))));
            }
        }
        let chunks = self
            .current
            .take()
            .ok_or_else(|| parquet(ParquetError::General("write_row_group before next_row_group".to_owned())))?;
        let page_index = self.metadata.metadata().page_index_for_row_group(index);
        let mut writers = self.factory.create_column_writers(index).map_err(parquet)?.into_iter();
        let mut replaced = self.replace.iter().zip(columns).peekable();
        let mut row_group = self.writer.next_row_group().map_err(parquet)?;
        let mut leaf = 0;
        for (root, (field, &n)) in fields.iter().zip(&self.leaves).enumerate() {
            if let Some((_, column)) = replaced.next_if(|(at, _)| **at == root) {
                for (values, mut writer) in
                    compute_leaves(field, column).map_err(parquet)?.into_iter().zip(writers.by_ref())
                {
                    writer.write(&values).map_err(parquet)?;
                    writer.close().map_err(parquet)?.append_to_row_group(&mut row_group).map_err(parquet)?;
                }
            } else {
                for at in leaf..leaf + n {
                    writers.next();
                    let metadata = group.column(at);
                    let close = ColumnCloseResult {
                        bytes_written: u64::try_from(metadata.compressed_size()).unwrap_or(0),
                        rows_written: rows,
                        metadata: metadata.clone(),
                        bloom_filter: None,
                        column_index: page_index.column_index(at).cloned(),
                        offset_index: page_index.offset_index(at).cloned(),
                    };
                    row_group.append_column(&chunks, close).map_err(parquet)?;
                }
            }
            leaf += n;
        }
        row_group.close().map_err(parquet)?;
        self.rows += rows;
        let bytes = std::mem::take(self.writer.inner_mut());
        self.sink.write(Bytes::from(bytes)).await.map_err(parquet)
    }

    /// Gives the copy up: nothing appears at the target (a multipart upload begun is aborted).
    pub async fn abort(mut self) -> Result<(), StoreError> {
        self.sink.abort().await.map_err(|error| StoreError::Parquet {
            uri: self.uri.clone(),
            source: ParquetError::External(Box::new(error)),
        })
    }

    /// Finishes the copy once every row group is written; returns its number of rows.
    pub async fn close(mut self) -> Result<u64, StoreError> {
        let parquet = |source| StoreError::Parquet { uri: self.uri.clone(), source };
        let groups = self.metadata.metadata().num_row_groups();
        if self.next != groups || self.current.is_some() {
            return Err(parquet(ParquetError::General(format!(
                "closed after {} of {groups} row groups",
                self.next - usize::from(self.current.is_some())
            ))));
        }
        self.writer.finish().map_err(parquet)?;
        let footer = std::mem::take(self.writer.inner_mut());
        self.sink.write(Bytes::from(footer)).await.map_err(parquet)?;
        self.sink.complete().await.map_err(parquet)?;
        Ok(self.rows)
    }
}

/// The bytes of one row group's column chunks, served at their offsets in the source object.
#[derive(Debug, Clone)]
struct Chunks {
    start: u64,
    bytes: Bytes,
    size: u64,
}

impl Chunks {
    fn slice(&self, start: u64, length: Option<usize>) -> parquet::errors::Result<Bytes> {
        let from = start.checked_sub(self.start).and_then(|at| usize::try_from(at).ok());
        let to =
            from.and_then(|from| from.checked_add(length.unwrap_or(self.bytes.len() - from.min(self.bytes.len()))));
        match (from, to) {
            (Some(from), Some(to)) if to <= self.bytes.len() => Ok(self.bytes.slice(from..to)),
            _ => Err(ParquetError::EOF(format!(
                "bytes at {start} ({length:?}) are outside the row group read ({}..{})",
                self.start,
                self.start + self.bytes.len() as u64
            ))),
        }
    }
}

impl Length for Chunks {
    fn len(&self) -> u64 {
        self.size
    }
}

impl ChunkReader for Chunks {
    type T = bytes::buf::Reader<Bytes>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        Ok(self.slice(start, None)?.reader())
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        self.slice(start, Some(length))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ParquetSink;
    use arrow::array::{AsArray, Float64Array, StringArray, UInt64Array};
    use arrow::datatypes::{DataType, Field, Fields, Schema, UInt64Type};
    use futures::TryStreamExt;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("value", DataType::Float64, true),
            Field::new("experiment_id", DataType::Utf8, false),
            Field::new("sort_index", DataType::UInt64, false),
        ]))
    }

    async fn write_source(store: &Store, rows: u64, row_group: usize) {
        let metadata = vec![("pandas".to_owned(), "{\"index_columns\": []}".to_owned())];
        let mut sink = ParquetSink::create(store, "a.pq", schema(), &metadata, row_group).unwrap();
        let values = Float64Array::from_iter((0..rows).map(|i| (i % 7 != 0).then_some(i as f64 * 0.5)));
        let batch = RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(values),
                Arc::new(StringArray::from_iter_values((0..rows).map(|_| "old"))),
                Arc::new(UInt64Array::from_iter_values(0..rows)),
            ],
        )
        .unwrap();
        sink.write(&batch).await.unwrap();
        sink.close().await.unwrap();
    }

    #[tokio::test]
    async fn rewrites_one_column_and_copies_the_others() {
        let store = Store::memory();
        write_source(&store, 10_000, 3_000).await;
        let mut splice = store.splice_parquet("a.pq", "b.pq", &[2], &[1]).await.unwrap();
        let mut groups = 0;
        while let Some(read) = splice.next_row_group().await.unwrap() {
            let sort_indexes = read.column(0).as_primitive::<UInt64Type>();
            let ids = StringArray::from_iter_values(sort_indexes.values().iter().map(|i| format!("new-{i}")));
            splice.write_row_group(&[Arc::new(ids)]).await.unwrap();
            groups += 1;
        }
        assert_eq!(groups, 4);
        assert_eq!(splice.close().await.unwrap(), 10_000);

        let source: Vec<RecordBatch> = store.read_parquet("a.pq", 4096).await.unwrap().try_collect().await.unwrap();
        let copy: Vec<RecordBatch> = store.read_parquet("b.pq", 4096).await.unwrap().try_collect().await.unwrap();
        let (source, copy) = (
            arrow::compute::concat_batches(&schema(), &source).unwrap(),
            arrow::compute::concat_batches(&schema(), &copy).unwrap(),
        );
        assert_eq!(copy.column(0), source.column(0));
        assert_eq!(copy.column(2), source.column(2));
        let ids = copy.column(1).as_string::<i32>();
        assert_eq!(ids.value(0), "new-0");
        assert_eq!(ids.value(9_999), "new-9999");

        let bytes = store.get("b.pq").await.unwrap();
        let metadata = ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap().metadata().clone();
        let kv = metadata.file_metadata().key_value_metadata().unwrap();
        assert!(kv.iter().any(|kv| kv.key == "pandas" && kv.value.as_deref() == Some("{\"index_columns\": []}")));
        let groups: Vec<i64> = metadata.row_groups().iter().map(|g| g.num_rows()).collect();
        assert_eq!(groups, [3_000, 3_000, 3_000, 1_000]);
    }

    #[tokio::test]
    async fn refuses_columns_of_the_wrong_length_and_leaves_nothing() {
        let store = Store::memory();
        write_source(&store, 100, 64).await;
        let mut splice = store.splice_parquet("a.pq", "b.pq", &[], &[1]).await.unwrap();
        let read = splice.next_row_group().await.unwrap().unwrap();
        assert_eq!(read.num_rows(), 64);
        let short = Arc::new(StringArray::from_iter_values(["x"])) as ArrayRef;
        let error = splice.write_row_group(&[short]).await.unwrap_err();
        assert!(error.to_string().contains("row group 0 has 64 rows"), "{error}");
        drop(splice);
        assert!(!store.exists("b.pq").await.unwrap());
    }

    #[tokio::test]
    async fn copies_nested_columns_around_a_replaced_one() {
        use arrow::array::{ListBuilder, StringBuilder, StructArray};
        let point =
            Fields::from(vec![Field::new("x", DataType::Float64, false), Field::new("y", DataType::Float64, true)]);
        let mut tags = ListBuilder::new(StringBuilder::new());
        for i in 0..1_000 {
            for t in 0..i % 3 {
                tags.values().append_value(format!("t{t}"));
            }
            tags.append(i % 5 != 0);
        }
        let tags = Arc::new(tags.finish()) as ArrayRef;
        let points = Arc::new(StructArray::new(
            point.clone(),
            vec![
                Arc::new(Float64Array::from_iter_values((0..1_000).map(f64::from))) as ArrayRef,
                Arc::new(Float64Array::from_iter((0..1_000).map(|i| (i % 2 == 0).then_some(f64::from(i) / 3.0)))),
            ],
            None,
        )) as ArrayRef;
        let schema = Arc::new(Schema::new(vec![
            Field::new("point", DataType::Struct(point), false),
            Field::new("experiment_id", DataType::Utf8, false),
            Field::new("tags", tags.data_type().clone(), true),
        ]));
        let ids = Arc::new(StringArray::from_iter_values((0..1_000).map(|_| "old"))) as ArrayRef;
        let source = RecordBatch::try_new(Arc::clone(&schema), vec![points, ids, tags]).unwrap();
        let store = Store::memory();
        let mut sink = ParquetSink::create(&store, "a.pq", Arc::clone(&schema), &[], 400).unwrap();
        sink.write(&source).await.unwrap();
        sink.close().await.unwrap();

        let mut splice = store.splice_parquet("a.pq", "b.pq", &[], &[1]).await.unwrap();
        while let Some(read) = splice.next_row_group().await.unwrap() {
            let ids = StringArray::from_iter_values((0..read.num_rows()).map(|_| "new"));
            splice.write_row_group(&[Arc::new(ids)]).await.unwrap();
        }
        splice.close().await.unwrap();
        let copy = store.read_parquet_whole("b.pq").await.unwrap();
        let copy = arrow::compute::concat_batches(&schema, &copy).unwrap();
        assert_eq!(copy.column(0), source.column(0));
        assert_eq!(copy.column(2), source.column(2));
        assert!(copy.column(1).as_string::<i32>().iter().all(|id| id == Some("new")));
    }

    #[tokio::test]
    async fn refuses_a_column_of_another_type_or_with_nulls_where_none_may_be() {
        let store = Store::memory();
        write_source(&store, 10, 64).await;
        let mut splice = store.splice_parquet("a.pq", "b.pq", &[], &[1]).await.unwrap();
        splice.next_row_group().await.unwrap().unwrap();
        let numbers = Arc::new(UInt64Array::from_iter_values(0..10)) as ArrayRef;
        let error = splice.write_row_group(&[numbers]).await.unwrap_err();
        assert!(error.to_string().contains("column `experiment_id` is Utf8, not nullable; got UInt64"), "{error}");
        let nulls = Arc::new(StringArray::from(vec![None::<&str>; 10])) as ArrayRef;
        let error = splice.write_row_group(&[nulls]).await.unwrap_err();
        assert!(error.to_string().contains("with 10 nulls"), "{error}");
        splice.abort().await.unwrap();
        assert!(!store.exists("b.pq").await.unwrap());
    }

    #[tokio::test]
    async fn a_source_rewritten_during_the_copy_fails_it() {
        let store = Store::memory();
        write_source(&store, 100, 64).await;
        let mut splice = store.splice_parquet("a.pq", "b.pq", &[], &[1]).await.unwrap();
        write_source(&store, 100, 64).await;
        let error = splice.next_row_group().await.unwrap_err();
        assert!(error.to_string().to_lowercase().contains("precondition"), "{error}");
    }

    #[tokio::test]
    async fn refuses_columns_out_of_order() {
        let store = Store::memory();
        write_source(&store, 10, 64).await;
        let error = store.splice_parquet("a.pq", "b.pq", &[2, 0], &[1]).await.unwrap_err();
        assert!(error.to_string().contains("must be ascending"), "{error}");
    }
}
