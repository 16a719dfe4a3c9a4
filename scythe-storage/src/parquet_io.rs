//! Streaming Parquet I/O on a [`Store`]: ranged reads and multipart writes, never whole files
//! in memory.

use std::ops::Range;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, SchemaRef};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, TryFutureExt};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::arrow::async_reader::{AsyncFileReader, ParquetRecordBatchStream};
use parquet::arrow::{ArrowWriter, ParquetRecordBatchStreamBuilder};
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::metadata::{KeyValue, ParquetMetaData, ParquetMetaDataReader};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::error::StoreError;
use crate::store::Store;

/// A stream of record batches read from a Parquet object.
pub type ParquetStream = ParquetRecordBatchStream<ObjectReader>;

/// The footer of a stored Parquet object, from [`Store::parquet_footer`]; cheap to clone.
#[derive(Debug, Clone)]
pub struct ParquetFooter {
    uri: String,
    path: ObjectPath,
    size: u64,
    metadata: ArrowReaderMetadata,
}

impl ParquetFooter {
    /// The Arrow schema of the object's rows.
    pub fn schema(&self) -> &SchemaRef {
        self.metadata.schema()
    }

    /// How many rows the object holds.
    pub fn num_rows(&self) -> u64 {
        u64::try_from(self.metadata.metadata().file_metadata().num_rows()).unwrap_or(0)
    }
}

/// Reads byte ranges of one object; what the Parquet reader fetches through.
#[derive(Debug, Clone)]
pub struct ObjectReader {
    store: Arc<dyn ObjectStore>,
    path: ObjectPath,
    size: u64,
}

impl ObjectReader {
    /// A reader of the object at `path`, of `size` bytes.
    pub(crate) fn new(store: Arc<dyn ObjectStore>, path: ObjectPath, size: u64) -> Self {
        Self { store, path, size }
    }
}

impl AsyncFileReader for ObjectReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        self.store.get_range(&self.path, range).map_err(|error| ParquetError::External(Box::new(error))).boxed()
    }

    fn get_byte_ranges(&mut self, ranges: Vec<Range<u64>>) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        async move {
            self.store.get_ranges(&self.path, &ranges).await.map_err(|error| ParquetError::External(Box::new(error)))
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        _options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            let size = self.size;
            let metadata =
                ParquetMetaDataReader::new().with_prefetch_hint(Some(64 * 1024)).load_and_finish(self, size).await?;
            Ok(Arc::new(metadata))
        }
        .boxed()
    }
}

/// Writer settings for one kind of table.
#[derive(Debug, Clone, Copy)]
pub(crate) enum TableKind {
    /// A table people read (final tables, specs): zstd, statistics.
    Final,
    /// An intermediate part written while tasks run: fast to write.
    Part,
}

pub(crate) fn writer_properties(
    kind: TableKind,
    metadata: &[(String, String)],
    row_group_rows: usize,
) -> WriterProperties {
    let key_values = metadata.iter().map(|(key, value)| KeyValue::new(key.clone(), value.clone())).collect();
    let builder = WriterProperties::builder()
        .set_max_row_group_row_count(Some(row_group_rows))
        .set_key_value_metadata(Some(key_values))
        .set_created_by(format!("scythe version {}", env!("CARGO_PKG_VERSION")));
    match kind {
        // Small dictionary pages: columns of mostly distinct values (floats, ids) give up on
        // the dictionary early instead of filling 1 MiB per row group first.
        TableKind::Final => builder
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap_or_default()))
            .set_dictionary_page_size_limit(64 * 1024)
            .set_column_dictionary_enabled(ColumnPath::from("sort_index"), false)
            .set_column_dictionary_enabled(ColumnPath::from("sort_subindex"), false)
            .build(),
        // Read once by gather, soon after: plain and uncompressed is fastest both ways (strings
        // get a dictionary in `encode_parquet`).
        // No statistics: nothing prunes by them, and on columns of hashes they cost a
        // comparison per value.
        TableKind::Part => builder
            .set_compression(Compression::UNCOMPRESSED)
            .set_dictionary_enabled(false)
            .set_statistics_enabled(EnabledStatistics::None)
            .build(),
    }
}

/// The writer settings of final tables (zstd level 1, small dictionary pages, no dictionary
/// for sort indexes), for tools that must write Parquet exactly like Scythe does.
pub fn final_writer_properties(metadata: &[(String, String)], row_group_rows: usize) -> WriterProperties {
    writer_properties(TableKind::Final, metadata, row_group_rows)
}

/// Encodes batches into one in-memory Parquet file (for small parts).
pub fn encode_parquet(
    schema: SchemaRef,
    batches: &[RecordBatch],
    metadata: &[(String, String)],
) -> Result<Bytes, ParquetError> {
    let mut buffer = Vec::new();
    let mut properties = writer_properties(TableKind::Part, metadata, 1 << 20).into_builder();
    // Strings are often one value repeated (a run id, a code fingerprint, a host): a dictionary
    // stores them once. Small dictionary pages make columns of distinct strings give up early.
    for field in schema.fields().iter().filter(|f| matches!(f.data_type(), DataType::Utf8 | DataType::LargeUtf8)) {
        properties = properties.set_column_dictionary_enabled(ColumnPath::from(field.name().as_str()), true);
    }
    let properties = properties.set_dictionary_page_size_limit(64 * 1024).build();
    let mut writer = ArrowWriter::try_new(&mut buffer, schema, Some(properties))?;
    for batch in batches {
        writer.write(batch)?;
    }
    writer.close()?;
    Ok(Bytes::from(buffer))
}

impl Store {
    /// Reads every row of a Parquet object fetched whole in one request: for small objects
    /// (result parts), where ranged reads would cost several round trips each.
    pub async fn read_parquet_whole(&self, key: &str) -> Result<Vec<RecordBatch>, StoreError> {
        let bytes = self.get(key).await?;
        let parquet = |source| StoreError::Parquet { uri: self.uri(key), source };
        let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(parquet)?;
        let rows = usize::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0).max(1);
        builder
            .with_batch_size(rows)
            .build()
            .map_err(parquet)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| parquet(ParquetError::from(error)))
    }

    /// Opens a Parquet object for streaming reads of `batch_size` rows, fetching only the
    /// byte ranges it needs.
    pub async fn read_parquet(&self, key: &str, batch_size: usize) -> Result<ParquetStream, StoreError> {
        let uri = self.uri(key);
        let meta = self.head(key).await?.ok_or_else(|| StoreError::NotFound { uri: uri.clone() })?;
        let reader = ObjectReader { store: Arc::clone(self.object_store()), path: meta.location, size: meta.size };
        let parquet = |source| StoreError::Parquet { uri: uri.clone(), source };
        ParquetRecordBatchStreamBuilder::new(reader)
            .await
            .map_err(parquet)?
            .with_batch_size(batch_size)
            .build()
            .map_err(parquet)
    }

    /// Reads the footer of a Parquet object (its size, schema and row groups), for reading
    /// parts of an object that does not change without fetching the footer again.
    pub async fn parquet_footer(&self, key: &str) -> Result<ParquetFooter, StoreError> {
        let uri = self.uri(key);
        let meta = self.head(key).await?.ok_or_else(|| StoreError::NotFound { uri: uri.clone() })?;
        let mut reader = ObjectReader { store: Arc::clone(self.object_store()), path: meta.location, size: meta.size };
        let metadata = ArrowReaderMetadata::load_async(&mut reader, ArrowReaderOptions::default())
            .await
            .map_err(|source| StoreError::Parquet { uri: uri.clone(), source })?;
        Ok(ParquetFooter { uri, path: reader.path, size: reader.size, metadata })
    }

    /// Streams rows `rows` (0-based row numbers) of a Parquet object, fetching only the row
    /// groups that hold them. Returns the stream and the row number of its first row (the
    /// start of the first row group read, at or before `rows.start`).
    pub async fn read_parquet_rows(
        &self,
        key: &str,
        rows: std::ops::Range<u64>,
        batch_size: usize,
    ) -> Result<(ParquetStream, u64), StoreError> {
        self.read_parquet_rows_of(&self.parquet_footer(key).await?, rows, batch_size)
    }

    /// [`read_parquet_rows`](Self::read_parquet_rows) of an object whose footer was read
    /// before: only the row groups are fetched.
    pub fn read_parquet_rows_of(
        &self,
        footer: &ParquetFooter,
        rows: std::ops::Range<u64>,
        batch_size: usize,
    ) -> Result<(ParquetStream, u64), StoreError> {
        let reader =
            ObjectReader { store: Arc::clone(self.object_store()), path: footer.path.clone(), size: footer.size };
        let builder = ParquetRecordBatchStreamBuilder::new_with_metadata(reader, footer.metadata.clone());
        let mut groups = Vec::new();
        let mut first_row = None;
        let mut start = 0u64;
        for (index, group) in builder.metadata().row_groups().iter().enumerate() {
            let end = start + group.num_rows() as u64;
            if end > rows.start && start < rows.end {
                groups.push(index);
                first_row.get_or_insert(start);
            }
            start = end;
        }
        let stream = builder
            .with_row_groups(groups)
            .with_batch_size(batch_size)
            .build()
            .map_err(|source| StoreError::Parquet { uri: footer.uri.clone(), source })?;
        Ok((stream, first_row.unwrap_or(rows.start)))
    }

    /// Writes small batches as one Parquet object (one request).
    pub async fn put_parquet(
        &self,
        key: &str,
        schema: SchemaRef,
        batches: &[RecordBatch],
        metadata: &[(String, String)],
    ) -> Result<(), StoreError> {
        let bytes = encode_parquet(schema, batches, metadata)
            .map_err(|source| StoreError::Parquet { uri: self.uri(key), source })?;
        self.put(key, bytes).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ParquetSink;
    use arrow::array::{Float64Array, UInt64Array};
    use arrow::datatypes::{DataType, Field, Schema};
    use futures::TryStreamExt;

    fn batch(start: u64, rows: u64) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("sort_index", DataType::UInt64, false),
            Field::new("value", DataType::Float64, false),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(UInt64Array::from_iter_values(start..start + rows)),
                Arc::new(Float64Array::from_iter_values((start..start + rows).map(|i| i as f64 / 2.0))),
            ],
        )
        .unwrap()
    }

    #[tokio::test]
    async fn streams_a_table_out_and_back() {
        let store = Store::memory();
        let metadata = vec![("pandas".to_owned(), "{}".to_owned())];
        let mut sink =
            ParquetSink::create(&store, "run/final/scalars.pq", batch(0, 1).schema(), &metadata, 1000).unwrap();
        for start in (0..10_000).step_by(2_500) {
            sink.write(&batch(start, 2_500)).await.unwrap();
        }
        assert_eq!(sink.close().await.unwrap(), 10_000);
        let batches: Vec<RecordBatch> =
            store.read_parquet("run/final/scalars.pq", 4096).await.unwrap().try_collect().await.unwrap();
        assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), 10_000);
        let last = batches.last().unwrap();
        let values = last.column(1).as_any().downcast_ref::<Float64Array>().unwrap();
        assert_eq!(values.value(values.len() - 1), 9_999.0 / 2.0);
    }

    #[tokio::test]
    async fn small_parts_round_trip() {
        let store = Store::memory();
        store.put_parquet("run/results/parts/scalars/p.pq", batch(0, 1).schema(), &[batch(5, 3)], &[]).await.unwrap();
        let batches: Vec<RecordBatch> =
            store.read_parquet("run/results/parts/scalars/p.pq", 10).await.unwrap().try_collect().await.unwrap();
        assert_eq!(batches[0].num_rows(), 3);
    }
}
