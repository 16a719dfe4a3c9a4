//! Copies the result rows of cached specs from the runs that ran them into parts of the new
//! run, so gather sees them like results of specs that ran. Output files are not copied: their
//! rows keep the stored object's URI.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, BooleanArray, RecordBatch, StringArray, UInt64Array};
use arrow::compute::{SortColumn, cast, concat_batches, filter_record_batch, lexsort_to_indices, take_record_batch};
use arrow::datatypes::UInt64Type;
use futures::TryStreamExt;
use scythe_core::layout::{PartId, RunId, RunLayout};
use scythe_core::schema::{ExperimentSchema, SORT_INDEX};
use scythe_storage::Store;

use crate::error::Error;
use crate::parts::{FAILURES, PROVENANCE, TableSpec, table_specs};

/// Copies the rows of `hits` (new sort index → source run and sort index) into parts of
/// generation `generation` of `layout`; returns the new sort indexes copied (a source run whose
/// final tables are gone is skipped: its specs run again).
pub(crate) async fn copy_hits(
    store: &Store,
    schema: &ExperimentSchema,
    layout: &RunLayout,
    generation: u32,
    hits: BTreeMap<u64, (RunId, u64)>,
) -> Result<Vec<u64>, Error> {
    let mut by_run: BTreeMap<RunId, HashMap<u64, u64>> = BTreeMap::new();
    for (new, (run, old)) in hits {
        let mapping = by_run.entry(run).or_default();
        // Two specs of this run with one source spec: the first is copied, the other runs.
        mapping.entry(old).or_insert(new);
    }
    let tables: Vec<TableSpec> = table_specs(schema).into_iter().filter(|t| t.name != FAILURES).collect();
    let mut rows: Vec<Vec<RecordBatch>> = vec![Vec::new(); tables.len()];
    let mut copied = Vec::new();
    for (run, mapping) in by_run {
        let source = RunLayout::new(store.prefix(), run.clone());
        if !store.exists(&source.final_table(crate::parts::SCALARS)).await? {
            tracing::warn!(run = %run, "the cache points at a run whose final tables are gone; its specs run again");
            continue;
        }
        for (table, out) in tables.iter().zip(&mut rows) {
            let key = source.final_table(&table.name);
            if !store.exists(&key).await? {
                continue;
            }
            let mut stream = store.read_parquet(&key, 64 * 1024).await?;
            while let Some(batch) = stream
                .try_next()
                .await
                .map_err(|source| Error::Store(scythe_storage::StoreError::Parquet { uri: store.uri(&key), source }))?
            {
                if let Some(batch) = pick(&batch, table, &mapping, &run)? {
                    out.push(batch);
                }
            }
        }
        copied.extend(mapping.values().copied());
    }
    copied.sort_unstable();
    for (table, batches) in tables.iter().zip(rows) {
        if batches.is_empty() {
            continue;
        }
        let all = concat_batches(&table.schema, &batches).map_err(Error::arrow("collecting cached rows"))?;
        let mut order = vec![SortColumn { values: Arc::clone(all.column(0)), options: None }];
        if table.has_subindex {
            order.push(SortColumn { values: Arc::clone(all.column(1)), options: None });
        }
        let indices = lexsort_to_indices(&order, None).map_err(Error::arrow("sorting cached rows"))?;
        let sorted = take_record_batch(&all, &indices).map_err(Error::arrow("sorting cached rows"))?;
        let sort_indexes = sorted.column(0).as_primitive::<UInt64Type>().values().to_vec();
        for range in ranges_of(&copied) {
            let from = sort_indexes.partition_point(|&i| i < range.start);
            let to = sort_indexes.partition_point(|&i| i < range.end);
            if from == to {
                continue;
            }
            let part = PartId { generation, start: range.start, end: range.end };
            let slice = sorted.slice(from, to - from);
            store.put_parquet(&layout.part(&table.name, part), table.schema.clone(), &[slice], &[]).await?;
        }
    }
    Ok(copied)
}

/// The rows of a final-table batch that `mapping` wants, projected to the part schema with
/// their new sort indexes (and, in the provenance table, the run they came from).
fn pick(
    batch: &RecordBatch,
    table: &TableSpec,
    mapping: &HashMap<u64, u64>,
    run: &RunId,
) -> Result<Option<RecordBatch>, Error> {
    let Some(old) = batch.column_by_name(SORT_INDEX).and_then(|c| c.as_primitive_opt::<UInt64Type>()) else {
        return Ok(None);
    };
    let mask = BooleanArray::from_iter(old.values().iter().map(|i| Some(mapping.contains_key(i))));
    if mask.true_count() == 0 {
        return Ok(None);
    }
    let kept = filter_record_batch(batch, &mask).map_err(Error::arrow("picking cached rows"))?;
    let old = kept.column_by_name(SORT_INDEX).and_then(|c| c.as_primitive_opt::<UInt64Type>());
    let new: ArrayRef = Arc::new(UInt64Array::from_iter_values(
        old.map(|old| old.values().iter().filter_map(|i| mapping.get(i).copied()).collect::<Vec<_>>())
            .unwrap_or_default(),
    ));
    let mut columns = vec![new];
    for field in &table.schema.fields()[1..] {
        let column = if table.name == PROVENANCE && field.name() == crate::provenance::CACHED_FROM {
            Arc::new(StringArray::from_iter_values(std::iter::repeat_n(run.to_string(), kept.num_rows()))) as ArrayRef
        } else {
            match kept.column_by_name(field.name()) {
                Some(column) if column.data_type() == field.data_type() => Arc::clone(column),
                Some(column) => cast(column, field.data_type()).map_err(Error::arrow("casting cached rows"))?,
                None => arrow::array::new_null_array(field.data_type(), kept.num_rows()),
            }
        };
        columns.push(column);
    }
    RecordBatch::try_new(table.schema.clone(), columns)
        .map(Some)
        .map_err(Error::arrow(format!("copying cached rows of table `{}`", table.name)))
}

/// Consecutive runs of sorted, distinct `indexes` as ranges.
pub(crate) fn ranges_of(indexes: &[u64]) -> Vec<Range<u64>> {
    let mut ranges: Vec<Range<u64>> = Vec::new();
    for &index in indexes {
        match ranges.last_mut() {
            Some(last) if last.end == index => last.end += 1,
            _ => ranges.push(index..index + 1),
        }
    }
    ranges
}
