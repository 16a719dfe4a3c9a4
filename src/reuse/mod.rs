//! The result cache: a spec whose cache key (see [`key`]) has a successful result in the same
//! store is not run again; its rows are copied from the run that ran it ([`copy`]), found
//! through the index under the experiment ([`index`]).
//!
//! Before an execution runs its pending specs, [`Reuse::prepare`] keys them, copies the rows of
//! those the index knows and writes the keys of the others to `results/cache_keys/` of the run.
//! Gather, once the final tables are written, [`record`]s the keys of the specs that succeeded
//! in the index: an entry always points at a final table that holds the result. Failures are
//! never recorded, so failed specs run again.
//!
//! What invalidates an entry: the experiment's name, its code fingerprint (the function's
//! tokens, `cache_version`, the crate's version; see `scythe_core::CodeFingerprint`), the
//! input or output schema, any input value, or the contents of an input file. What does not:
//! the path or URI of an input file, other options (`retries`, `timeout`), code the function
//! calls, the machine or the Scythe version. `--no-cache` runs everything.

mod copy;
mod index;
mod key;

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, UInt64Type};
use futures::TryStreamExt;
use scythe_core::layout::{PartId, RunLayout};
use scythe_storage::Store;

use crate::cache::FileCache;
use crate::embedded::SpecRows;
use crate::error::Error;
use crate::registry::Registered;

/// Rows keyed per batch.
const KEY_BATCH: u64 = 64 * 1024;

/// `results/cache_keys` of a run: the keys of the specs it ran, by sort index.
fn keys_dir(layout: &RunLayout) -> String {
    format!("{}/results/cache_keys", layout.run_dir())
}

fn keys_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("sort_index", DataType::UInt64, false),
        Field::new("key", DataType::Utf8, false),
    ]))
}

/// What the cache did before an execution.
#[derive(Debug, Default)]
pub(crate) struct Prepared {
    /// The ranges still to run.
    pub(crate) pending: Vec<Range<u64>>,
    /// Specs whose results were copied from earlier runs.
    pub(crate) reused: u64,
}

/// Copies cached results of `pending` specs into the run and returns what is left to run;
/// records the keys of the rest for gather. With the cache off (or an experiment without a
/// code fingerprint) returns `pending` as it is.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn prepare(
    experiment: &dyn Registered,
    store: &Store,
    layout: &RunLayout,
    specs: &SpecRows,
    pending: Vec<Range<u64>>,
    generation: u32,
    cache: &FileCache,
) -> Result<Prepared, Error> {
    let Some(fingerprint) = experiment.config().fingerprint else {
        return Ok(Prepared { pending, reused: 0 });
    };
    let (Some(first), Some(last)) = (pending.first(), pending.last()) else {
        return Ok(Prepared { pending, reused: 0 });
    };
    let span = PartId { generation, start: first.start, end: last.end };
    let schema = experiment.schema();
    let mut keyer = key::Keyer::new(schema, &fingerprint)?;
    let mut keys: Vec<(u64, key::Key)> = Vec::new();
    for range in &pending {
        let mut start = range.start;
        while start < range.end {
            let end = range.end.min(start + KEY_BATCH);
            let batch = specs.slice(start..end)?;
            for (offset, spec_key) in keyer.keys(&batch, cache, store).await?.into_iter().enumerate() {
                if let Some(spec_key) = spec_key {
                    keys.push((start + offset as u64, spec_key));
                }
            }
            start = end;
        }
    }
    let found = index::lookup(store, schema.name(), keys.iter().map(|(_, k)| k), layout.run()).await?;
    let hits: BTreeMap<u64, _> = keys
        .iter()
        .filter_map(|(index, spec_key)| {
            found.get(spec_key).map(|entry| (*index, (entry.run.clone(), entry.sort_index)))
        })
        .collect();
    let copied =
        if hits.is_empty() { Vec::new() } else { copy::copy_hits(store, schema, layout, generation, hits).await? };
    let to_run: Vec<(u64, key::Key)> =
        keys.into_iter().filter(|(index, _)| copied.binary_search(index).is_err()).collect();
    if !to_run.is_empty() {
        let batch = RecordBatch::try_new(
            keys_schema(),
            vec![
                Arc::new(UInt64Array::from_iter_values(to_run.iter().map(|(index, _)| *index))),
                Arc::new(StringArray::from_iter_values(to_run.iter().map(|(_, k)| k.as_str()))),
            ],
        )
        .map_err(Error::arrow("recording cache keys"))?;
        store.put_parquet(&format!("{}/{}.pq", keys_dir(layout), span.stem()), keys_schema(), &[batch], &[]).await?;
    }
    let pending = subtract(&pending, &copied);
    Ok(Prepared { pending, reused: copied.len() as u64 })
}

/// Adds the keys of the specs of `layout` that `succeeded` to the index (idempotent).
pub(crate) async fn record(
    store: &Store,
    layout: &RunLayout,
    succeeded: &(dyn Fn(u64) -> bool + Sync),
) -> Result<(), Error> {
    let mut entries = Vec::new();
    for meta in store.list(&keys_dir(layout)).await? {
        let key = meta.location.to_string();
        let mut stream = store.read_parquet(&key, 64 * 1024).await?;
        while let Some(batch) = stream
            .try_next()
            .await
            .map_err(|source| Error::Store(scythe_storage::StoreError::Parquet { uri: store.uri(&key), source }))?
        {
            let (Some(indexes), Some(keys)) = (
                batch.column_by_name("sort_index").and_then(|c| c.as_primitive_opt::<UInt64Type>()),
                batch.column_by_name("key").and_then(|c| c.as_string_opt::<i32>()),
            ) else {
                continue;
            };
            for row in 0..batch.num_rows() {
                let index = indexes.value(row);
                if succeeded(index) {
                    entries.push((keys.value(row).to_owned(), index));
                }
            }
        }
    }
    if entries.is_empty() {
        return Ok(());
    }
    entries.sort_by_key(|&(_, index)| index);
    entries.dedup_by_key(|(_, index)| *index);
    index::record(store, layout, entries).await
}

/// `ranges` without the sorted `removed` indexes.
fn subtract(ranges: &[Range<u64>], removed: &[u64]) -> Vec<Range<u64>> {
    let mut out = Vec::new();
    for range in ranges {
        let mut next = range.start;
        let from = removed.partition_point(|&i| i < range.start);
        for &index in removed[from..].iter().take_while(|&&i| i < range.end) {
            if index > next {
                out.push(next..index);
            }
            next = index + 1;
        }
        if next < range.end {
            out.push(next..range.end);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_specs_leave_the_pending_ranges() {
        assert_eq!(subtract(&[0..10, 20..25], &[0, 3, 4, 9, 21]), vec![1..3, 5..9, 20..21, 22..25]);
        assert_eq!(subtract(&[0..3, 5..6], &[]), vec![0..3, 5..6]);
        assert_eq!(subtract(&[0..3, 5..6], &[0, 1, 2, 5]), Vec::<Range<u64>>::new());
        assert_eq!(copy::ranges_of(&[1, 2, 3, 7]), vec![1..4, 7..8]);
    }
}
