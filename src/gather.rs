//! Gather: merge the result parts of a run into its final tables, sorted by `sort_index`, with
//! the spec's index columns joined from `specs.pq` and `pandas` metadata so
//! `pandas.read_parquet` restores the MultiIndex.
//!
//! Parts are read in sort-index order, up to [`PREFETCH`] at a time and about
//! [`PREFETCH_BYTES`] (each small part in one request), and specs are streamed alongside, so
//! memory stays bounded by those parts plus one specs batch whatever the run's size. Parts that
//! overlap (a batch that ran twice) contribute each sort index once.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, BooleanArray, RecordBatch, StringArray, UInt32Array, UInt64Array};
use arrow::datatypes::{Field, FieldRef, Schema, SchemaRef, UInt64Type};
use futures::{StreamExt, TryStreamExt};
use scythe_core::layout::{PartId, RunLayout};
use scythe_core::pandas::{PANDAS_METADATA_KEY, pandas_metadata};
use scythe_core::schema::{ColumnKind, EXPERIMENT_ID, ExperimentSchema, SORT_INDEX, SORT_SUBINDEX};
use scythe_storage::{ParquetSink, ParquetStream, Store};

use crate::error::Error;
use crate::parts::{FAILURES, SCALARS, TableSpec, table_specs};
use crate::progress::Progress;
use crate::specs::SpecRows;

/// Rows per row group of final tables.
pub(crate) const FINAL_ROW_GROUP: usize = 128 * 1024;
/// Rows per batch when streaming specs.
const SPECS_BATCH: usize = 64 * 1024;
/// Most parts fetched ahead of the one being merged: on object storage each read is a round
/// trip.
const PREFETCH: usize = 16;
/// Bytes of parts fetched ahead, about: fewer parts when they are large (the result cache's
/// copies hold 65,536 rows each), but always 2, however large they are.
const PREFETCH_BYTES: u64 = 24 << 20;
/// Parts up to this size are fetched whole in one request instead of by ranges.
const WHOLE_PART_BYTES: u64 = 32 << 20;

/// What a gather wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatherSummary {
    /// Specs with a result in `scalars.pq`.
    pub succeeded: u64,
    /// Specs in `failures.pq`.
    pub failed: u64,
    /// Specs with neither (never run, e.g. an interrupted run).
    pub missing: u64,
    /// Table name → URI of each final table written.
    pub tables: BTreeMap<String, String>,
}

/// The index columns of every final table: `experiment_id`, `sort_index`, then the input's
/// scalar and file fields, in declaration order.
pub(crate) fn index_fields(schema: &ExperimentSchema) -> Vec<FieldRef> {
    let mut fields = vec![
        Arc::new(Field::new(EXPERIMENT_ID, arrow::datatypes::DataType::Utf8, false)),
        Arc::new(Field::new(SORT_INDEX, arrow::datatypes::DataType::UInt64, false)),
    ];
    fields.extend(
        schema
            .input()
            .columns()
            .iter()
            .filter(|c| matches!(c.kind, ColumnKind::Scalar | ColumnKind::FileRef))
            .map(|c| c.field.clone()),
    );
    fields
}

/// `sort_index` and the input's index columns of `sort_indexes` (ascending, repeats allowed),
/// from specs held in memory.
pub(crate) fn memory_index_columns(
    rows: &SpecRows,
    sort_indexes: &UInt64Array,
    inputs: &[FieldRef],
) -> Result<Vec<ArrayRef>, Error> {
    let (first, last) = (sort_indexes.value(0), sort_indexes.value(sort_indexes.len() - 1));
    let specs = rows.slice(first..last + 1)?;
    let specs = if (last - first) as usize + 1 == sort_indexes.len() {
        specs
    } else {
        let offsets = UInt32Array::from_iter_values(sort_indexes.values().iter().map(|&i| (i - first) as u32));
        arrow::compute::take_record_batch(&specs, &offsets).map_err(Error::arrow("joining spec index columns"))?
    };
    let mut columns = vec![Arc::new(sort_indexes.clone()) as ArrayRef];
    for field in inputs {
        let column = specs
            .column_by_name(field.name())
            .ok_or_else(|| Error::Internal(format!("the specs in memory lack input field `{}`", field.name())))?;
        columns.push(column.clone());
    }
    Ok(columns)
}

/// The schema of final table `table`: its data columns, the `index` columns, `sort_subindex`
/// for per-field tables, and the `pandas` metadata that restores the index.
pub(crate) fn final_schema(table: &TableSpec, index: &[FieldRef]) -> SchemaRef {
    let skip = if table.has_subindex { 2 } else { 1 };
    let mut fields: Vec<FieldRef> = table.schema.fields().iter().skip(skip).cloned().collect();
    fields.extend(index.iter().cloned());
    if table.has_subindex {
        fields.push(Arc::new(Field::new(SORT_SUBINDEX, arrow::datatypes::DataType::UInt32, false)));
    }
    let mut index_names: Vec<&str> = index.iter().map(|f| f.name().as_str()).collect();
    if table.has_subindex {
        index_names.push(SORT_SUBINDEX);
    }
    let plain = Schema::new(fields);
    // pyarrow reads the Arrow schema stored in the file, so the pandas metadata goes there.
    let pandas = pandas_metadata(&plain, &index_names);
    Arc::new(plain.with_metadata(std::collections::HashMap::from([(PANDAS_METADATA_KEY.to_owned(), pandas)])))
}

/// Gathers every table of the run in `layout`, which has `n_specs` specs.
/// Index columns come from `specs` when the caller holds them, else from `specs.pq`.
pub(crate) async fn gather(
    store: &Store,
    schema: &ExperimentSchema,
    layout: &RunLayout,
    n_specs: u64,
    specs: Option<&SpecRows>,
    progress: &Progress,
) -> Result<GatherSummary, Error> {
    if crate::reuse::copied_from(store, layout).await?.is_some() {
        // The final tables were copied whole from an identical run (written before the marker
        // that says so): complete, with no parts to gather.
        let named = |table: TableSpec| (store.uri(&layout.final_table(&table.name)), table.name);
        let tables = table_specs(schema).into_iter().map(named).map(|(uri, name)| (name, uri)).collect();
        return Ok(GatherSummary { succeeded: n_specs, failed: 0, missing: 0, tables });
    }
    let index = index_fields(schema);
    let mut summary = GatherSummary { succeeded: 0, failed: 0, missing: 0, tables: BTreeMap::new() };
    // A spec that succeeded in any attempt is not also a failure (at-least-once delivery: a
    // leaf recorded as lost may still have finished).
    let mut succeeded = SortIndexSet::new(n_specs);
    let mut failed = SortIndexSet::new(n_specs);
    let tables = table_specs(schema);
    let n_tables = tables.len();
    for table in &tables {
        summary.tables.insert(table.name.clone(), store.uri(&layout.final_table(&table.name)));
    }
    // Scalars, then failures (which drops specs that succeeded), on the progress bar; the other
    // tables at the same time, each encoding on a thread of its own.
    let (chained, others): (Vec<TableSpec>, Vec<TableSpec>) =
        tables.into_iter().partition(|table| table.name == SCALARS || table.name == FAILURES);
    let chain = async {
        for (number, table) in chained.iter().enumerate() {
            progress.table(&table.name, number + 1, n_tables);
            let role = match table.name.as_str() {
                SCALARS => Role::Record(&mut succeeded),
                _ => Role::Exclude(&succeeded, &mut failed),
            };
            let rows = gather_table(store, layout, table, &index, specs, role, progress).await?;
            match table.name.as_str() {
                SCALARS => summary.succeeded = rows,
                _ => summary.failed = rows,
            }
        }
        Ok::<_, Error>(())
    };
    let quiet = Progress::new(0, false);
    let rest = async {
        for table in &others {
            gather_table(store, layout, table, &index, specs, Role::Plain, &quiet).await?;
        }
        Ok::<_, Error>(())
    };
    futures::try_join!(chain, rest)?;
    summary.missing = n_specs.saturating_sub(summary.succeeded + summary.failed);
    // The final tables hold these results now: the cache index may point at them.
    let (ran, expected) = (|index| succeeded.contains(index), summary.succeeded + summary.failed);
    crate::reuse::record(store, layout, &ran, &|index| failed.contains(index), expected).await?;
    Ok(summary)
}

/// A stored result part.
pub(crate) struct StoredPart {
    pub(crate) id: PartId,
    key: String,
    size: u64,
}

/// The parts of `table`, in sort-index order (latest generation first among equals).
pub(crate) async fn list_parts(store: &Store, layout: &RunLayout, table: &str) -> Result<Vec<StoredPart>, Error> {
    let mut parts: Vec<StoredPart> = store
        .list(&layout.parts_dir(table))
        .await?
        .into_iter()
        .filter_map(|meta| {
            let stem = meta.location.filename()?.strip_suffix(".pq")?.to_owned();
            Some(StoredPart { id: PartId::parse_stem(&stem)?, key: meta.location.to_string(), size: meta.size })
        })
        .collect();
    parts.sort_by(|StoredPart { id: a, .. }, StoredPart { id: b, .. }| {
        (a.start, std::cmp::Reverse(a.generation), std::cmp::Reverse(a.end)).cmp(&(
            b.start,
            std::cmp::Reverse(b.generation),
            std::cmp::Reverse(b.end),
        ))
    });
    Ok(parts)
}

async fn gather_table(
    store: &Store,
    layout: &RunLayout,
    table: &TableSpec,
    index: &[FieldRef],
    in_memory: Option<&SpecRows>,
    mut role: Role<'_>,
    progress: &Progress,
) -> Result<u64, Error> {
    let skip = if table.has_subindex { 2 } else { 1 };
    let schema = final_schema(table, index);
    let key = layout.final_table(&table.name);
    let mut sink = ParquetSink::create(store, &key, Arc::clone(&schema), &[], FINAL_ROW_GROUP)?;
    let experiment_id = layout.run().to_string();
    let experiment_id = experiment_id.as_str();
    let mut specs: Option<SpecCursor> = None;
    let mut covered = 0u64;
    let mut specs_seen = 0u64;
    let listed = list_parts(store, layout, &table.name).await?;
    let largest = listed.iter().map(|part| part.size).max().unwrap_or(0).max(1);
    let prefetch = usize::try_from(PREFETCH_BYTES / largest).unwrap_or(PREFETCH).clamp(2, PREFETCH);
    let mut parts = futures::stream::iter(listed)
        .map(|part| async move {
            let batches = read_part(store, &part).await?;
            Ok::<_, Error>((part.id, batches))
        })
        .buffered(prefetch);
    while let Some((part, batches)) = parts.try_next().await? {
        if part.end <= covered {
            continue;
        }
        for batch in batches {
            let mut batch = keep_from(&batch, covered)?;
            match &mut role {
                Role::Record(set) => set.insert_all(batch.column(0).as_primitive::<UInt64Type>()),
                Role::Exclude(set, failed) => {
                    batch = set.drop_members(&batch)?;
                    failed.insert_all(batch.column(0).as_primitive::<UInt64Type>());
                }
                Role::Plain => {}
            }
            if batch.num_rows() == 0 {
                continue;
            }
            let sort_indexes = batch.column(0).as_primitive::<UInt64Type>().clone();
            let index_columns = match in_memory {
                Some(rows) => memory_index_columns(rows, &sort_indexes, &index[2..])?,
                None => {
                    if specs.is_none() {
                        specs = Some(SpecCursor::open(store, layout, &index[1..]).await?);
                    }
                    let cursor = specs
                        .as_mut()
                        .ok_or_else(|| Error::Internal("the specs cursor of a gather was not opened".to_owned()))?;
                    cursor.take(&sort_indexes).await?
                }
            };
            let mut columns: Vec<ArrayRef> = batch.columns()[skip..].to_vec();
            // `experiment_id` is the run's id on every row: no need to read it back.
            columns.push(Arc::new(StringArray::from_iter_values(std::iter::repeat_n(experiment_id, batch.num_rows()))));
            columns.extend(index_columns);
            if table.has_subindex {
                columns.push(batch.column(1).clone());
            }
            specs_seen += count_distinct_sorted(&sort_indexes);
            let out = RecordBatch::try_new(Arc::clone(&schema), columns)
                .map_err(Error::arrow(format!("gathering `{}`", table.name)))?;
            sink.write(&out).await?;
        }
        covered = covered.max(part.end);
        progress.gathered(covered);
    }
    sink.close().await?;
    Ok(specs_seen)
}

/// What a table's gather does with the sort indexes it sees.
enum Role<'a> {
    /// Nothing.
    Plain,
    /// Notes them (the successes).
    Record(&'a mut SortIndexSet),
    /// Drops rows whose sort index is in the first set (failures of specs that also
    /// succeeded) and notes the others in the second.
    Exclude(&'a SortIndexSet, &'a mut SortIndexSet),
}

/// A set of sort indexes below a run's spec count: one bit each.
struct SortIndexSet(Vec<u64>);

impl SortIndexSet {
    fn new(n_specs: u64) -> Self {
        Self(vec![0; usize::try_from(n_specs.div_ceil(64)).unwrap_or(0)])
    }

    fn insert_all(&mut self, sort_indexes: &UInt64Array) {
        for &index in sort_indexes.values() {
            if let Some(word) = self.0.get_mut((index / 64) as usize) {
                *word |= 1 << (index % 64);
            }
        }
    }

    fn contains(&self, index: u64) -> bool {
        self.0.get((index / 64) as usize).is_some_and(|word| word & (1 << (index % 64)) != 0)
    }

    /// `batch` (sort index first) without the rows whose sort index is in the set.
    fn drop_members(&self, batch: &RecordBatch) -> Result<RecordBatch, Error> {
        let sort_indexes = batch.column(0).as_primitive::<UInt64Type>();
        if !sort_indexes.values().iter().any(|&index| self.contains(index)) {
            return Ok(batch.clone());
        }
        let keep: BooleanArray = sort_indexes.values().iter().map(|&index| Some(!self.contains(index))).collect();
        arrow::compute::filter_record_batch(batch, &keep)
            .map_err(Error::arrow("dropping failures of specs that succeeded"))
    }
}

/// Every row of a part: fetched whole if small, else by ranges.
async fn read_part(store: &Store, part: &StoredPart) -> Result<Vec<RecordBatch>, Error> {
    if part.size <= WHOLE_PART_BYTES {
        return Ok(store.read_parquet_whole(&part.key).await?);
    }
    store
        .read_parquet(&part.key, usize::MAX >> 1)
        .await?
        .try_collect()
        .await
        .map_err(|source| Error::Store(parquet_error(store, &part.key, source)))
}

fn parquet_error(store: &Store, key: &str, source: parquet::errors::ParquetError) -> scythe_storage::StoreError {
    scythe_storage::StoreError::Parquet { uri: store.uri(key), source }
}

/// Rows whose sort index is at least `from` (parts are sorted by sort index).
fn keep_from(batch: &RecordBatch, from: u64) -> Result<RecordBatch, Error> {
    let sort_indexes = batch.column(0).as_primitive::<UInt64Type>();
    if sort_indexes.is_empty() || sort_indexes.value(0) >= from {
        return Ok(batch.clone());
    }
    let mask: BooleanArray = sort_indexes.iter().map(|value| Some(value.is_some_and(|v| v >= from))).collect();
    arrow::compute::filter_record_batch(batch, &mask).map_err(Error::arrow("dropping duplicate results"))
}

fn count_distinct_sorted(values: &UInt64Array) -> u64 {
    let values = values.values();
    values.iter().zip(values.iter().skip(1)).filter(|(a, b)| a != b).count() as u64 + u64::from(!values.is_empty())
}

/// Streams `specs.pq` forward, handing out the index columns of requested sort indexes.
struct SpecCursor {
    stream: ParquetStream,
    /// Buffered specs rows, starting at sort index `start`.
    buffer: Option<RecordBatch>,
    start: u64,
    columns: Vec<usize>,
}

impl SpecCursor {
    fn buffered(&self) -> u64 {
        self.buffer.as_ref().map_or(0, |b| b.num_rows() as u64)
    }

    fn drop_before(&mut self, first: u64) {
        if let Some(buffer) = &self.buffer {
            let drop_rows = first.saturating_sub(self.start).min(buffer.num_rows() as u64);
            self.buffer = Some(buffer.slice(drop_rows as usize, buffer.num_rows() - drop_rows as usize));
            self.start += drop_rows;
        }
    }

    async fn open(store: &Store, layout: &RunLayout, index: &[FieldRef]) -> Result<Self, Error> {
        let stream = store.read_parquet(&layout.specs(), SPECS_BATCH).await?;
        let specs_schema = stream.schema().clone();
        let columns = index
            .iter()
            .map(|field| {
                specs_schema.index_of(field.name()).map_err(|_| Error::CorruptRun {
                    run: layout.run().to_string(),
                    reason: format!("specs.pq has no column `{}`", field.name()),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { stream, buffer: None, start: 0, columns })
    }

    /// Index columns for ascending `sort_indexes`; later calls must not ask for smaller ones.
    ///
    /// The buffer always holds the specs rows `start..start + len`, and the stream is positioned
    /// right after them.
    async fn take(&mut self, sort_indexes: &UInt64Array) -> Result<Vec<ArrayRef>, Error> {
        let (first, last) = (sort_indexes.value(0), sort_indexes.value(sort_indexes.len() - 1));
        self.drop_before(first);
        while self.start + self.buffered() <= last {
            let Some(next) = self
                .stream
                .try_next()
                .await
                .map_err(|source| Error::CorruptRun { run: String::from("specs.pq"), reason: source.to_string() })?
            else {
                return Err(Error::CorruptRun {
                    run: String::from("specs.pq"),
                    reason: format!("results name sort index {last}, beyond the last spec"),
                });
            };
            let projected = next.project(&self.columns).map_err(Error::arrow("reading specs.pq"))?;
            self.buffer = Some(match self.buffer.take() {
                Some(buffer) if buffer.num_rows() > 0 => {
                    arrow::compute::concat_batches(&buffer.schema(), &[buffer, projected])
                        .map_err(Error::arrow("reading specs.pq"))?
                }
                _ => projected,
            });
            self.drop_before(first);
        }
        let buffer = self
            .buffer
            .as_ref()
            .ok_or_else(|| Error::Internal("the specs cursor of a gather holds no rows".to_owned()))?;
        if (last - first) as usize + 1 == sort_indexes.len() {
            // Consecutive sort indexes (the usual part): a zero-copy slice.
            let offset = (first - self.start) as usize;
            return Ok(buffer.columns().iter().map(|column| column.slice(offset, sort_indexes.len())).collect());
        }
        let offsets = UInt32Array::from_iter_values(sort_indexes.values().iter().map(|&i| (i - self.start) as u32));
        buffer
            .columns()
            .iter()
            .map(|column| {
                arrow::compute::take(column.as_ref(), &offsets, None)
                    .map_err(Error::arrow("joining spec index columns"))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_of_specs_that_succeeded_are_dropped() {
        let mut succeeded = SortIndexSet::new(130);
        succeeded.insert_all(&UInt64Array::from(vec![1, 64, 129]));
        let failures = RecordBatch::try_from_iter([
            ("sort_index", Arc::new(UInt64Array::from(vec![0, 1, 2, 64, 128, 129])) as ArrayRef),
            ("error", Arc::new(StringArray::from(vec!["a", "b", "c", "d", "e", "f"])) as ArrayRef),
        ])
        .unwrap();
        let kept = succeeded.drop_members(&failures).unwrap();
        let kept = kept.column(0).as_primitive::<UInt64Type>().values().to_vec();
        assert_eq!(kept, [0, 2, 128]);
        assert!(!succeeded.contains(1_000), "indexes past the run are never members");
    }
}
