//! The result cache: a spec whose cache key (see [`key`]) has a successful result in the same
//! store is not run again; its rows are copied from the run that ran it ([`copy`]), found
//! through the index under the experiment ([`index`]).
//!
//! Before an execution runs its pending specs, [`prepare`] keys them, copies the rows of
//! those the index knows, says why the others run ([`Explanation`]) and writes their keys to
//! `results/cache_keys/` of the run. Gather, once the final tables are written, [`record`]s the
//! specs that succeeded or failed in the index: an entry always points at a final table that
//! holds the result. Failures are recorded but never reused (they explain why a spec ran).
//!
//! An identical re-run skips all of that: a run that keyed every spec and succeeded whole
//! records the digest of its result keys; a later run with the same digest copies that run's
//! final tables with one lookup ([`digest`]), and runs and gathers nothing.
//!
//! What invalidates an entry: the experiment's name, its code fingerprint (the function's
//! tokens, `cache_version`, the crate's version; see `scythe_core::CodeFingerprint`), the
//! input or output schema, any input value, or the contents of an input file. What does not:
//! the path or URI of an input file, other options (`retries`, `timeout`), code the function
//! calls, the machine or the Scythe version. `--no-cache` runs everything.

mod copy;
mod digest;
mod explain;
mod index;
mod key;
mod writes;

use std::ops::Range;
use std::sync::Arc;

use arrow::array::{Array, AsArray, FixedSizeBinaryArray, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, UInt64Type};
use futures::TryStreamExt;
use scythe_core::layout::{PartId, RunId, RunLayout};
use scythe_storage::Store;

pub(crate) use digest::{RunDigest, copied_from};
pub use explain::{Explanation, RanBecause};

use crate::cache::FileCache;
use crate::error::Error;
use crate::ranges::subtract;
use crate::registry::Registered;
use crate::specs::SpecRows;

/// Rows keyed per batch.
const KEY_BATCH: u64 = 64 * 1024;
/// Keys files written at once.
const KEYS_WRITES_AT_ONCE: usize = 2;

/// `results/cache_keys` of a run: the keys of the specs it ran, by sort index, one file per
/// [`KEY_BATCH`] of them (named after the generation and the sort indexes they span).
fn keys_dir(layout: &RunLayout) -> String {
    format!("{}/results/cache_keys", layout.run_dir())
}

fn keys_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("sort_index", DataType::UInt64, false),
        Field::new("result", DataType::FixedSizeBinary(32), false),
        Field::new("spec", DataType::FixedSizeBinary(16), false),
        Field::new("files", DataType::FixedSizeBinary(16), true),
        Field::new("code", DataType::Utf8, false),
    ]))
}

/// What the cache did before an execution.
#[derive(Debug, Default)]
pub(crate) struct Prepared {
    /// The ranges still to run.
    pub(crate) pending: Vec<Range<u64>>,
    /// Specs whose results were copied from earlier runs.
    pub(crate) reused: u64,
    /// Why the others run.
    pub(crate) explanation: Explanation,
    /// The identical earlier run whose final tables were copied whole (nothing runs, and
    /// gather keeps the copied tables).
    pub(crate) copied_from: Option<RunId>,
    /// The digest of every spec's result key, when the execution covers the whole run and
    /// did not copy one: gather records it if every spec succeeds.
    pub(crate) digest: Option<RunDigest>,
}

/// The cache keys of the specs an execution runs, by sort index.
#[derive(Debug)]
struct RunKeys {
    /// Sort indexes, ascending.
    indexes: Vec<u64>,
    /// Their keys.
    keys: Vec<key::SpecKeys>,
    /// The code fingerprint they run with.
    code: String,
}

impl RunKeys {
    /// Writes the keys to `results/cache_keys/` of `layout`, one file per [`KEY_BATCH`] specs
    /// (bounded memory, the same content on a retry), a few at once on the runtime's threads.
    async fn write(&self, store: &Store, layout: &RunLayout, generation: u32) -> Result<(), Error> {
        let mut writes = writes::Writes::new(KEYS_WRITES_AT_ONCE);
        for (indexes, keys) in self.indexes.chunks(KEY_BATCH as usize).zip(self.keys.chunks(KEY_BATCH as usize)) {
            let (Some(&start), Some(&last)) = (indexes.first(), indexes.last()) else { continue };
            let stem = PartId { generation, start, end: last + 1 }.stem();
            let batch = self.batch(indexes, keys)?;
            writes.put(store, format!("{}/{stem}.pq", keys_dir(layout)), keys_schema(), batch).await?;
        }
        writes.finish().await
    }

    /// The keys file of `keys` of the specs `indexes`.
    fn batch(&self, indexes: &[u64], keys: &[key::SpecKeys]) -> Result<RecordBatch, Error> {
        let files = if keys.iter().all(|spec| spec.files.is_none()) {
            FixedSizeBinaryArray::new_null(16, keys.len())
        } else {
            let values = keys.iter().map(|spec| spec.files.as_ref().map(|files| &files[..]));
            FixedSizeBinaryArray::try_from_sparse_iter_with_size(values, 16)
                .map_err(Error::arrow("recording cache keys"))?
        };
        RecordBatch::try_new(
            keys_schema(),
            vec![
                Arc::new(UInt64Array::from(indexes.to_vec())),
                Arc::new(index::fixed_size(keys.iter().map(|spec| &spec.result[..]), 32, keys.len())),
                Arc::new(index::fixed_size(keys.iter().map(|spec| &spec.spec[..]), 16, keys.len())),
                Arc::new(files),
                Arc::new(StringArray::from_iter_values(std::iter::repeat_n(self.code.as_str(), keys.len()))),
            ],
        )
        .map_err(Error::arrow("recording cache keys"))
    }
}

/// Copies cached results of `pending` specs into the run and returns what is left to run;
/// records the keys of the rest for gather. An experiment without a code fingerprint returns
/// `pending` as it is.
///
/// With `whole_run` (`pending` is every spec of the run, held in `specs`), an identical earlier
/// run is looked up by digest first; if one is found, its final tables are copied whole and
/// nothing is left to run.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn prepare(
    experiment: &dyn Registered,
    store: &Store,
    layout: &RunLayout,
    specs: &Arc<SpecRows>,
    pending: Vec<Range<u64>>,
    generation: u32,
    cache: &FileCache,
    whole_run: bool,
) -> Result<Prepared, Error> {
    let Some(fingerprint) = experiment.config().fingerprint else {
        let explanation = Explanation::all(&pending, RanBecause::NoFingerprint);
        return Ok(Prepared { pending, explanation, ..Prepared::default() });
    };
    if pending.is_empty() {
        return Ok(Prepared { pending, ..Prepared::default() });
    }
    let started = std::time::Instant::now();
    let schema = experiment.schema();
    let mut keyer = key::Keyer::new(schema, &fingerprint)?;
    // A whole run of an experiment with complete runs recorded hashes its result keys first:
    // an identical earlier run needs no other key. Otherwise every key at once.
    let look_for_identical = whole_run && digest::any_recorded(store, schema.name()).await?;
    let first = if look_for_identical { key::Digests::Result } else { key::Digests::All };
    // Sort indexes with keys (ascending), their keys, and those without (unreadable files).
    let (mut indexes, mut asked, mut unreadable) = (Vec::new(), Vec::new(), Vec::new());
    for range in &pending {
        let mut start = range.start;
        while start < range.end {
            let end = range.end.min(start + KEY_BATCH);
            let batch = specs.slice(start..end)?;
            for (offset, keys) in keyer.keys(&batch, cache, store, first).await?.into_iter().enumerate() {
                match keys {
                    Some(keys) => {
                        indexes.push(start + offset as u64);
                        asked.push(keys);
                    }
                    None => unreadable.push(start + offset as u64),
                }
            }
            start = end;
        }
    }
    let keyed = started.elapsed();
    // Every spec keyed, in sort-index order: the run's digest.
    let digest = (whole_run && unreadable.is_empty()).then(|| RunDigest::of(&asked));
    if let Some(digest) = digest.as_ref().filter(|_| look_for_identical) {
        let n_specs = asked.len() as u64;
        match copy_whole(store, schema, layout, specs, digest, n_specs).await {
            Ok(Some(source)) => {
                tracing::debug!(
                    run = %layout.run(),
                    from = %source,
                    keys_s = keyed.as_secs_f64(),
                    copy_s = (started.elapsed() - keyed).as_secs_f64(),
                    "result cache: identical to an earlier run, whose final tables were copied"
                );
                let prepared = Prepared { reused: n_specs, copied_from: Some(source), ..Prepared::default() };
                return Ok(prepared);
            }
            Ok(None) => {}
            Err(error) => {
                tracing::debug!(run = %layout.run(), "result cache: the identical earlier run cannot be copied ({error}); copying its rows instead");
            }
        }
    }
    if first == key::Digests::Result {
        // The same rows have keys (file hashes are remembered): fill in the rest, batch by batch.
        let mut at = asked.iter_mut();
        for range in &pending {
            let mut start = range.start;
            while start < range.end {
                let end = range.end.min(start + KEY_BATCH);
                let batch = specs.slice(start..end)?;
                for keys in keyer.keys(&batch, cache, store, key::Digests::SpecAndFiles).await?.into_iter().flatten() {
                    if let Some(known) = at.next() {
                        (known.spec, known.files) = (keys.spec, keys.files);
                    }
                }
                start = end;
            }
        }
    }
    let keyed = started.elapsed();
    let found = index::lookup(store, schema.name(), &asked, layout.run()).await?;
    let looked_up = started.elapsed();
    let hits: Vec<(u64, u32, u64)> = indexes
        .iter()
        .zip(&found.findings)
        .filter_map(|(&new, finding)| finding.hit().map(|entry| (new, entry.run, entry.sort_index)))
        .collect();
    let copied = if hits.is_empty() {
        Vec::new()
    } else {
        copy::copy_hits(store, schema, layout, generation, &found.runs, hits).await?
    };
    let copied_at = started.elapsed();
    let mut explanation = Explanation::default();
    let mut unreadable = unreadable.into_iter().peekable();
    let mut copies = copied.iter().copied().peekable();
    // The keys of the specs that run, kept in place (`asked` and `indexes` compacted).
    let mut kept = 0;
    for position in 0..indexes.len() {
        let index = indexes[position];
        while let Some(other) = unreadable.next_if(|&other| other < index) {
            explanation.add(other, RanBecause::InputUnreadable);
        }
        while copies.next_if(|&copy| copy < index).is_some() {}
        if copies.next_if_eq(&index).is_none() {
            explanation.add(index, RanBecause::of(&found.findings[position]));
            (indexes[kept], asked[kept]) = (index, asked[position]);
            kept += 1;
        }
    }
    for other in unreadable {
        explanation.add(other, RanBecause::InputUnreadable);
    }
    drop(found);
    indexes.truncate(kept);
    asked.truncate(kept);
    let keys = RunKeys { indexes, keys: asked, code: fingerprint.short() };
    keys.write(store, layout, generation).await?;
    drop(keys);
    let pending = subtract(&pending, &copied);
    tracing::debug!(
        keys_s = keyed.as_secs_f64(),
        lookup_s = (looked_up - keyed).as_secs_f64(),
        copy_s = (copied_at - looked_up).as_secs_f64(),
        keys_file_s = (started.elapsed() - copied_at).as_secs_f64(),
        reused = copied.len(),
        "result cache prepared"
    );
    Ok(Prepared { pending, reused: copied.len() as u64, explanation, copied_from: None, digest })
}

/// For a run about to start on Hatchet, whose `n_specs` specs are in `specs`: the digest of its
/// result keys (`None` without a code fingerprint, or if an input file cannot be read), and
/// the complete identical earlier run whose final tables were then copied into the run of
/// `layout`, if there is one (nothing is left to run: the caller gathers, which keeps them).
/// A copy that fails is logged and leaves the run to its tasks, which reuse spec by spec.
#[cfg(feature = "hatchet")]
pub(crate) async fn copy_if_identical(
    experiment: &dyn Registered,
    store: &Store,
    layout: &RunLayout,
    specs: &Arc<SpecRows>,
    n_specs: u64,
    cache: &FileCache,
) -> Result<(Option<RunDigest>, Option<RunId>), Error> {
    let Some(fingerprint) = experiment.config().fingerprint else { return Ok((None, None)) };
    let schema = experiment.schema();
    let mut keyer = key::Keyer::new(schema, &fingerprint)?;
    let mut digest = digest::RunDigester::new(n_specs);
    let mut start = 0;
    while start < n_specs {
        let end = n_specs.min(start + KEY_BATCH);
        let batch = specs.slice(start..end)?;
        for keys in keyer.keys(&batch, cache, store, key::Digests::Result).await? {
            let Some(keys) = keys else { return Ok((None, None)) };
            digest.add(&keys.result);
        }
        start = end;
    }
    let digest = digest.finish();
    match copy_whole(store, schema, layout, specs, &digest, n_specs).await {
        Ok(copied) => Ok((Some(digest), copied)),
        Err(error) => {
            tracing::warn!(run = %layout.run(), "the identical earlier run cannot be copied ({error}); the tasks reuse its results spec by spec");
            Ok((Some(digest), None))
        }
    }
}

/// Copies the final tables of a complete earlier run recorded under `digest` into the run of
/// `layout`, if there is one; returns it.
async fn copy_whole(
    store: &Store,
    schema: &scythe_core::schema::ExperimentSchema,
    layout: &RunLayout,
    specs: &Arc<SpecRows>,
    digest: &RunDigest,
    n_specs: u64,
) -> Result<Option<RunId>, Error> {
    let Some(source) = digest::find(store, schema.name(), digest, n_specs, layout.run()).await? else {
        return Ok(None);
    };
    digest::copy_run(store, schema, layout, specs, &source, digest).await?;
    Ok(Some(source))
}

/// Records that the run of `layout`, whose `n_specs` specs all succeeded (cache on, none
/// copied whole), holds the results of `digest`, for identical runs to copy.
pub(crate) async fn record_whole(
    store: &Store,
    layout: &RunLayout,
    digest: &RunDigest,
    n_specs: u64,
) -> Result<(), Error> {
    digest::record(store, layout, digest, n_specs).await
}

/// Most bytes of index entries [`record`] holds at once: a larger run is recorded in passes,
/// each over the keys files for a range of the index's shards.
const RECORD_BYTES: u64 = 256 << 20;

/// Adds the specs of `layout` that ran and `succeeded` or `failed` to the index (idempotent);
/// specs with neither (not run yet) are left out. `expected` is how many there are about: the
/// entries of one pass are allocated once, and a run with more than [`RECORD_BYTES`] of them
/// is recorded in passes over the keys files, each for a range of shards.
pub(crate) async fn record(
    store: &Store,
    layout: &RunLayout,
    succeeded: &(dyn Fn(u64) -> bool + Sync),
    failed: &(dyn Fn(u64) -> bool + Sync),
    expected: u64,
) -> Result<(), Error> {
    record_within(store, layout, succeeded, failed, expected, RECORD_BYTES).await
}

/// [`record`] holding at most about `budget` bytes of entries at once.
async fn record_within(
    store: &Store,
    layout: &RunLayout,
    succeeded: &(dyn Fn(u64) -> bool + Sync),
    failed: &(dyn Fn(u64) -> bool + Sync),
    expected: u64,
    budget: u64,
) -> Result<(), Error> {
    let started = std::time::Instant::now();
    let files: Vec<String> =
        store.list(&keys_dir(layout)).await?.into_iter().map(|meta| meta.location.to_string()).collect();
    let entry = std::mem::size_of::<index::Recorded>() as u64;
    let passes = (expected * entry).div_ceil(budget.max(1)).clamp(1, index::SHARDS as u64) as usize;
    let per_pass = index::SHARDS.div_ceil(passes);
    let mut recorded = 0;
    for first in (0..index::SHARDS).step_by(per_pass) {
        let shards = first..(first + per_pass).min(index::SHARDS);
        let capacity = usize::try_from(expected / passes as u64).unwrap_or(0);
        let (entries, code) = read_keys(store, &files, succeeded, failed, shards, capacity).await?;
        let Some(code) = code.filter(|_| !entries.is_empty()) else { continue };
        recorded += entries.len();
        index::record(store, layout, &code, entries).await?;
    }
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), recorded, passes, "result cache recorded");
    Ok(())
}

/// The entries of the keys `files` whose spec key falls in `shards`, for specs that
/// `succeeded` or `failed`, and the code fingerprint they ran with.
async fn read_keys(
    store: &Store,
    files: &[String],
    succeeded: &(dyn Fn(u64) -> bool + Sync),
    failed: &(dyn Fn(u64) -> bool + Sync),
    shards: std::ops::Range<usize>,
    capacity: usize,
) -> Result<(index::Buckets, Option<String>), Error> {
    let mut entries = index::Buckets::new(shards, capacity);
    let mut code = None;
    for key in files {
        let mut stream = store.read_parquet(key, 64 * 1024).await?;
        while let Some(batch) = stream
            .try_next()
            .await
            .map_err(|source| Error::Store(scythe_storage::StoreError::Parquet { uri: store.uri(key), source }))?
        {
            let column = |name: &str| batch.column_by_name(name);
            let (Some(indexes), Some(results), Some(specs), Some(files), Some(codes)) = (
                column("sort_index").and_then(|c| c.as_primitive_opt::<UInt64Type>()),
                column("result").and_then(|c| c.as_fixed_size_binary_opt()),
                column("spec").and_then(|c| c.as_fixed_size_binary_opt()),
                column("files").and_then(|c| c.as_fixed_size_binary_opt()),
                column("code").and_then(|c| c.as_string_opt::<i32>()),
            ) else {
                tracing::warn!(keys = %store.uri(key), "ignoring cache keys of another layout");
                break;
            };
            if code.is_none() && !codes.is_empty() {
                code = Some(codes.value(0).to_owned());
            }
            for row in 0..batch.num_rows() {
                let Ok(spec) = <[u8; 16]>::try_from(specs.value(row)) else { continue };
                if !entries.holds(index::shard_of(&spec)) {
                    continue;
                }
                let index = indexes.value(row);
                let ok = succeeded(index);
                if !ok && !failed(index) {
                    continue;
                }
                let Ok(result) = results.value(row).try_into() else { continue };
                let files = files.is_valid(row).then(|| files.value(row).try_into().ok()).flatten();
                entries.push(index::Recorded { keys: key::SpecKeys { result, spec, files }, sort_index: index, ok });
            }
        }
    }
    Ok((entries, code))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::ArrayRef;

    /// Writes keys files of `n` specs (two files, one spec twice: a retried attempt) to `layout`.
    async fn write_keys(store: &Store, layout: &RunLayout, n: u64) {
        use arrow::array::FixedSizeBinaryArray;
        let digest = |tag: u8, i: u64, size: usize| {
            let mut bytes = vec![tag; size];
            bytes[..8].copy_from_slice(&(i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(tag)).to_le_bytes());
            bytes
        };
        for (file, range) in [("0_0_600", 0..600), ("1_599_1000", 599..n)] {
            let rows = range.clone().count();
            let binary = |tag: u8, size: usize| {
                let values: Vec<Vec<u8>> = range.clone().map(|i| digest(tag, i, size)).collect();
                Arc::new(FixedSizeBinaryArray::try_from_iter(values.into_iter()).unwrap()) as ArrayRef
            };
            let batch = RecordBatch::try_new(
                keys_schema(),
                vec![
                    Arc::new(UInt64Array::from_iter_values(range.clone())),
                    binary(1, 32),
                    binary(2, 16),
                    Arc::new(
                        FixedSizeBinaryArray::try_from_sparse_iter_with_size(
                            std::iter::repeat_n(None::<Vec<u8>>, rows),
                            16,
                        )
                        .unwrap(),
                    ),
                    Arc::new(StringArray::from_iter_values(std::iter::repeat_n("code", rows))),
                ],
            )
            .unwrap();
            let key = format!("{}/{file}.pq", keys_dir(layout));
            store.put_parquet(&key, keys_schema(), &[batch], &[]).await.unwrap();
        }
    }

    #[tokio::test]
    async fn recording_in_passes_writes_the_same_index_as_in_one() {
        let run: RunId = "e/v1.0.0/2026-01-01_00-00-00".parse().unwrap();
        let (one, many) = (Store::memory(), Store::memory());
        let mut shards = Vec::new();
        for (store, budget) in [(&one, u64::MAX), (&many, 1)] {
            let layout = RunLayout::new(store.prefix(), run.clone());
            write_keys(store, &layout, 1000).await;
            let ok = |index: u64| index % 10 != 3;
            record_within(store, &layout, &ok, &|index| index % 10 == 3, 1000, budget).await.unwrap();
            let mut objects: Vec<(String, Vec<RecordBatch>)> = Vec::new();
            for meta in store.list(&index::index_dir(store.prefix(), "e")).await.unwrap() {
                let key = meta.location.to_string();
                objects.push((key.clone(), store.read_parquet_whole(&key).await.unwrap()));
            }
            objects.sort_by(|a, b| a.0.cmp(&b.0));
            shards.push(objects);
        }
        let rows: usize = shards[0].iter().flat_map(|(_, batches)| batches).map(RecordBatch::num_rows).sum();
        assert_eq!(rows, 1000, "each spec once, the retried one too");
        assert!(shards[0].len() > 100, "{} shards", shards[0].len());
        assert_eq!(shards[0], shards[1]);
    }

    #[test]
    fn a_finding_takes_16_bytes_and_keeps_its_hit() {
        // A lookup keeps one per spec asked: part of the re-run's memory budget.
        assert_eq!(std::mem::size_of::<index::Finding>(), 16);
        assert_eq!(index::Finding::default().hit(), None);
    }
}
