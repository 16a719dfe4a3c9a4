//! Copies the result rows of cached specs from the runs that ran them into parts of the new
//! run, so gather sees them like results of specs that ran. Output files are not copied: their
//! rows keep the stored object's URI.
//!
//! Rows are copied in bulk, as Arrow batches: each source final table is streamed once,
//! filtered to the wanted sort indexes and renumbered. When every hit comes from one run in the
//! same order (an identical or extended re-run), the rows come out in the new order and are
//! written as parts of at most [`PART_SPECS`] specs as they stream, so memory stays bounded;
//! otherwise they are collected and sorted first.

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
use crate::ranges::ranges_of;

/// Most specs per copied part.
const PART_SPECS: u64 = 64 * 1024;
/// Rows per batch when streaming a source table.
const READ_BATCH: usize = 64 * 1024;

/// Copies the rows of `hits` (new sort index, source run as an index into `runs`, sort index
/// there) into parts of generation `generation` of `layout`; returns the new sort indexes
/// copied, sorted (a source run whose final tables are gone is skipped: its specs run again).
pub(crate) async fn copy_hits(
    store: &Store,
    schema: &ExperimentSchema,
    layout: &RunLayout,
    generation: u32,
    runs: &[RunId],
    hits: Vec<(u64, u32, u64)>,
) -> Result<Vec<u64>, Error> {
    // Per source run, (old, new) by old sort index.
    let mut by_run: Vec<Vec<(u64, u64)>> = vec![Vec::new(); runs.len()];
    for (new, run, old) in hits {
        if let Some(mapping) = by_run.get_mut(run as usize) {
            mapping.push((old, new));
        }
    }
    let mut sources = Vec::new();
    for (run, mut mapping) in runs.iter().zip(by_run) {
        if mapping.is_empty() {
            continue;
        }
        let layout = RunLayout::new(store.prefix(), run.clone());
        if !store.exists(&layout.final_table(crate::parts::SCALARS)).await? {
            tracing::warn!(run = %run, "the cache points at a run whose final tables are gone; its specs run again");
            continue;
        }
        mapping.sort_unstable();
        // Two specs of this run with one source spec: the first is copied, the other runs.
        mapping.dedup_by_key(|(old, _)| *old);
        sources.push((run, layout, mapping));
    }
    let mut copied: Vec<u64> = sources.iter().flat_map(|(_, _, m)| m.iter().map(|&(_, new)| new)).collect();
    copied.sort_unstable();
    let chunks: Vec<Range<u64>> = ranges_of(&copied)
        .into_iter()
        .flat_map(|range| {
            (range.start..range.end)
                .step_by(PART_SPECS as usize)
                .map(move |start| start..range.end.min(start + PART_SPECS))
        })
        .collect();
    let in_order = matches!(sources.as_slice(), [(_, _, mapping)] if mapping.windows(2).all(|w| w[0].1 < w[1].1));
    for table in table_specs(schema).into_iter().filter(|t| t.name != FAILURES) {
        let mut parts = PartWriter {
            store,
            layout,
            generation,
            table: &table,
            chunks: &chunks,
            next: 0,
            rows: Vec::new(),
            last: None,
        };
        let mut collected = Vec::new();
        for (run, source, mapping) in &sources {
            let key = source.final_table(&table.name);
            if !store.exists(&key).await? {
                continue;
            }
            let mut stream = store.read_parquet(&key, READ_BATCH).await?;
            while let Some(batch) = stream
                .try_next()
                .await
                .map_err(|source| Error::Store(scythe_storage::StoreError::Parquet { uri: store.uri(&key), source }))?
            {
                let Some(batch) = pick(&batch, &table, mapping, run)? else { continue };
                if in_order {
                    parts.push(batch, &store.uri(&key)).await?;
                } else {
                    collected.push(batch);
                }
            }
        }
        if !collected.is_empty() {
            let all = concat_batches(&table.schema, &collected).map_err(Error::arrow("collecting cached rows"))?;
            let mut order = vec![SortColumn { values: Arc::clone(all.column(0)), options: None }];
            if table.has_subindex {
                order.push(SortColumn { values: Arc::clone(all.column(1)), options: None });
            }
            let indices = lexsort_to_indices(&order, None).map_err(Error::arrow("sorting cached rows"))?;
            let sorted = take_record_batch(&all, &indices).map_err(Error::arrow("sorting cached rows"))?;
            parts.push(sorted, "the cached rows").await?;
        }
        parts.finish().await?;
    }
    Ok(copied)
}

/// Writes rows in new sort-index order as one part per chunk of copied specs.
struct PartWriter<'a> {
    store: &'a Store,
    layout: &'a RunLayout,
    generation: u32,
    table: &'a TableSpec,
    /// Ranges of copied specs, ascending, each written as one part.
    chunks: &'a [Range<u64>],
    /// The chunk being filled.
    next: usize,
    /// Its rows so far.
    rows: Vec<RecordBatch>,
    /// The last new sort index pushed.
    last: Option<u64>,
}

impl PartWriter<'_> {
    /// Adds `batch` (rows in new sort-index order, after those pushed before; `origin` names
    /// where they come from, should they not be), writing the chunks it completes.
    async fn push(&mut self, batch: RecordBatch, origin: &str) -> Result<(), Error> {
        let indexes = batch.column(0).as_primitive::<UInt64Type>().values();
        let (Some(&first), Some(&last)) = (indexes.first(), indexes.last()) else { return Ok(()) };
        if self.last.is_some_and(|before| first < before) || indexes.windows(2).any(|w| w[1] < w[0]) {
            return Err(Error::CorruptRun {
                run: origin.to_owned(),
                reason: format!(
                    "table `{}` is not sorted by sort_index, so its cached rows cannot be copied; \
                     gather that run again, or run with --no-cache",
                    self.table.name
                ),
            });
        }
        self.last = Some(last);
        let mut from = 0;
        while from < indexes.len() {
            let Some(chunk) = self.chunks.get(self.next) else { break };
            let to = from + indexes[from..].partition_point(|&i| i < chunk.end);
            if to > from {
                self.rows.push(batch.slice(from, to - from));
            }
            if to == indexes.len() {
                break;
            }
            self.flush().await?;
            from = to;
        }
        Ok(())
    }

    /// Writes the chunk being filled, if it has rows, and moves to the next.
    async fn flush(&mut self) -> Result<(), Error> {
        let Some(chunk) = self.chunks.get(self.next) else { return Ok(()) };
        self.next += 1;
        if self.rows.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.rows);
        let part = PartId { generation: self.generation, start: chunk.start, end: chunk.end };
        self.store
            .put_parquet(&self.layout.part(&self.table.name, part), self.table.schema.clone(), &rows, &[])
            .await?;
        Ok(())
    }

    /// Writes what is left.
    async fn finish(mut self) -> Result<(), Error> {
        self.flush().await
    }
}

/// The rows of a final-table batch that `mapping` (old → new sort index, by old) wants,
/// projected to the part schema with their new sort indexes (and, in the provenance table, the
/// run they came from).
fn pick(
    batch: &RecordBatch,
    table: &TableSpec,
    mapping: &[(u64, u64)],
    run: &RunId,
) -> Result<Option<RecordBatch>, Error> {
    let Some(old) = batch.column_by_name(SORT_INDEX).and_then(|c| c.as_primitive_opt::<UInt64Type>()) else {
        return Ok(None);
    };
    let mut new = Vec::with_capacity(old.len());
    // Final tables are sorted by sort index: walk `mapping` alongside, galloping over gaps.
    let mut at = 0;
    let mask = BooleanArray::from_iter(old.values().iter().map(|&index| {
        at = seek(mapping, at, index);
        let found = mapping.get(at).filter(|&&(old, _)| old == index).map(|&(_, new)| new);
        new.extend(found);
        Some(found.is_some())
    }));
    if new.is_empty() {
        return Ok(None);
    }
    let kept = if new.len() == batch.num_rows() {
        batch.clone()
    } else {
        filter_record_batch(batch, &mask).map_err(Error::arrow("picking cached rows"))?
    };
    let mut columns: Vec<ArrayRef> = vec![Arc::new(UInt64Array::from(new))];
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

/// The first position of `mapping` (sorted by old index) whose old index is at least `index`,
/// searched from `at` onwards when everything before `at` is smaller (the usual case, rows in
/// order), else from the start.
fn seek(mapping: &[(u64, u64)], at: usize, index: u64) -> usize {
    if at > 0 && mapping[at - 1].0 >= index {
        return mapping.partition_point(|&(old, _)| old < index);
    }
    let mut step = 1;
    while at + step <= mapping.len() && mapping[at + step - 1].0 < index {
        step *= 2;
    }
    let end = (at + step).min(mapping.len());
    at + mapping[at..end].partition_point(|&(old, _)| old < index)
}

#[cfg(test)]
mod tests {
    use super::seek;

    #[test]
    fn seeking_finds_the_first_old_index_not_below() {
        let mapping: Vec<(u64, u64)> = [2, 3, 5, 8, 13, 21, 34].iter().map(|&old| (old, old * 10)).collect();
        for at in 0..=mapping.len() {
            for index in 0..40 {
                let expected = mapping.partition_point(|&(old, _)| old < index);
                assert_eq!(seek(&mapping, at, index), expected, "from {at}, index {index}");
            }
        }
    }
}
