//! The cache index, in the store: `.scythe-cache/<experiment>/<pp>/<version>_<run>.pq`, where
//! `<pp>` is the first byte of the spec key in hex (256 shards) and each run writes its own file
//! per shard, one row per spec it ran that has a result: `spec`, `result` (the keys of
//! [`super::key`]), `files` (its input files' digest, or null), `ok` (succeeded or failed for
//! good), `sort_index`, `run` and `code` (the code fingerprint).
//!
//! Sharding by the spec key (values without files or code) puts every entry of a spec, whatever
//! code or input files produced it, in one shard: one streaming pass finds the hits (same result
//! key, `ok`) and what tells why a miss runs (failed before, other code, other files).
//!
//! A run only ever writes its own files, with the same content for the same results, so
//! concurrent runs cannot lose each other's entries, and a gather that runs twice writes the
//! same objects. A lookup reads only the shards of the specs it asks about, streaming, and keeps
//! one small finding per spec asked: memory grows with the specs asked, not with the index.
//!
//! `runs/` beside the shards holds the digests of whole runs ([`super::digest`]); lookups
//! skip it.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray, BooleanArray, FixedSizeBinaryArray, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt64Type};
use futures::TryStreamExt;
use scythe_core::layout::{RunId, RunLayout};
use scythe_storage::Store;

use super::key::{Short, SpecKeys};
use crate::error::Error;

/// Shard files written at once by [`record`].
const WRITES_AT_ONCE: usize = 8;

/// Rows per batch when streaming a shard.
const READ_BATCH: usize = 64 * 1024;

/// A lookup whose specs fall in at most this many shards lists those shards one by one;
/// otherwise the whole index at once.
const LIST_SHARDS_APART: usize = 16;

/// The folder at the store's root that holds the cache index of every experiment.
pub(crate) const CACHE_DIR: &str = ".scythe-cache";

/// A result the index knows: the run that holds it (an index into [`Findings::runs`]) and its
/// sort index there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) run: u32,
    pub(crate) sort_index: u64,
}

/// What the index says about one spec asked for (16 bytes: a lookup keeps one per spec).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Finding {
    /// The sort index of the hit, if `hit_run` names one.
    hit_sort_index: u64,
    /// The run of a success with the same result key in another run, or [`NO_HIT`].
    hit_run: u32,
    /// A failure with the same result key.
    pub(crate) failed_before: bool,
    /// An entry of the same spec with the same input files but another result key: the code
    /// (or the output schema) changed.
    pub(crate) same_files: bool,
    /// An entry of the same spec with other input file contents.
    pub(crate) other_files: bool,
}

/// [`Finding::hit_run`] of a spec without a hit.
const NO_HIT: u32 = u32::MAX;

impl Default for Finding {
    fn default() -> Self {
        Self { hit_sort_index: 0, hit_run: NO_HIT, failed_before: false, same_files: false, other_files: false }
    }
}

impl Finding {
    /// A success with the same result key, in another run.
    pub(crate) fn hit(&self) -> Option<Entry> {
        (self.hit_run != NO_HIT).then_some(Entry { run: self.hit_run, sort_index: self.hit_sort_index })
    }
}

/// The findings of one lookup, aligned with the specs asked, and the runs their hits name.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    pub(crate) runs: Vec<RunId>,
    pub(crate) findings: Vec<Finding>,
}

/// One row to record: a spec this run ran, and whether it succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Recorded {
    pub(crate) keys: SpecKeys,
    pub(crate) sort_index: u64,
    pub(crate) ok: bool,
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("spec", DataType::FixedSizeBinary(16), false),
        Field::new("result", DataType::FixedSizeBinary(32), false),
        Field::new("files", DataType::FixedSizeBinary(16), true),
        Field::new("ok", DataType::Boolean, false),
        Field::new("sort_index", DataType::UInt64, false),
        Field::new("run", DataType::Utf8, false),
        Field::new("code", DataType::Utf8, false),
    ]))
}

/// `<prefix>/.scythe-cache/<experiment>`: outside the experiment's folder, whose every
/// subfolder the Python tool parses as a version.
pub(super) fn index_dir(prefix: &str, experiment: &str) -> String {
    RunLayout::experiment_dir(&RunLayout::experiment_dir(prefix, CACHE_DIR), experiment)
}

/// Shards of the index: one per first byte of the spec key.
pub(crate) const SHARDS: usize = 256;

/// The shard of a spec key.
pub(crate) fn shard_of(spec: &Short) -> usize {
    usize::from(spec[0])
}

fn shard_name(shard: usize) -> String {
    format!("{shard:02x}")
}

/// The entries of one recording pass, bucketed by shard as they are read (sequential appends:
/// no sort of the whole pass moving entries across memory).
#[derive(Debug)]
pub(crate) struct Buckets {
    /// The first shard held.
    first: usize,
    /// The entries of shards `first..first + buckets.len()`.
    buckets: Vec<Vec<Recorded>>,
}

impl Buckets {
    /// Empty buckets for `shards`, each with room for about `expected` entries in all.
    pub(crate) fn new(shards: std::ops::Range<usize>, expected: usize) -> Self {
        let each = expected / shards.len().max(1) + expected / (shards.len().max(1) * 16) + 16;
        Self { first: shards.start, buckets: shards.map(|_| Vec::with_capacity(each)).collect() }
    }

    /// Whether the entry for a spec key in `shard` belongs here.
    pub(crate) fn holds(&self, shard: usize) -> bool {
        (self.first..self.first + self.buckets.len()).contains(&shard)
    }

    /// Adds an entry whose shard [`Self::holds`].
    pub(crate) fn push(&mut self, entry: Recorded) {
        if let Some(bucket) = self.buckets.get_mut(shard_of(&entry.keys.spec).wrapping_sub(self.first)) {
            bucket.push(entry);
        }
    }

    /// How many entries are held.
    pub(crate) fn len(&self) -> usize {
        self.buckets.iter().map(Vec::len).sum()
    }

    /// Whether none are.
    pub(crate) fn is_empty(&self) -> bool {
        self.buckets.iter().all(Vec::is_empty)
    }
}

/// Records that `run` ran the entries of `buckets`, with code fingerprint `code` (idempotent:
/// one file per shard, named after the run, with the same content for the same entries; a
/// spec recorded twice, by two attempts, counts once).
pub(crate) async fn record(store: &Store, layout: &RunLayout, code: &str, buckets: Buckets) -> Result<(), Error> {
    let run = layout.run();
    let file = format!("{}_{}.pq", run.version(), run.folder_name());
    let dir = index_dir(layout.prefix(), run.experiment());
    let run = run.to_string();
    // Writes overlap (a shard is a small object of its own); batches are built one by one.
    let mut writes = super::writes::Writes::new(WRITES_AT_ONCE);
    for (offset, mut these) in buckets.buckets.into_iter().enumerate() {
        if these.is_empty() {
            continue;
        }
        sort_shard(&mut these);
        let n = these.len();
        let files = if these.iter().all(|e| e.keys.files.is_none()) {
            FixedSizeBinaryArray::new_null(16, n)
        } else {
            let values = these.iter().map(|e| e.keys.files.as_ref().map(|f| &f[..]));
            FixedSizeBinaryArray::try_from_sparse_iter_with_size(values, 16)
                .map_err(Error::arrow("building a cache index shard"))?
        };
        let batch = RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(fixed_size(these.iter().map(|e| &e.keys.spec[..]), 16, n)),
                Arc::new(fixed_size(these.iter().map(|e| &e.keys.result[..]), 32, n)),
                Arc::new(files),
                Arc::new(BooleanArray::from_iter(these.iter().map(|e| Some(e.ok)))),
                Arc::new(UInt64Array::from_iter_values(these.iter().map(|e| e.sort_index))),
                Arc::new(StringArray::from_iter_values(std::iter::repeat_n(run.as_str(), n))),
                Arc::new(StringArray::from_iter_values(std::iter::repeat_n(code, n))),
            ],
        )
        .map_err(Error::arrow("building a cache index shard"))?;
        drop(these);
        let shard = buckets.first + offset;
        writes.put(store, format!("{dir}/{}/{file}", shard_name(shard)), schema(), batch).await?;
    }
    writes.finish().await
}

/// Sorts the entries of one shard by everything they hold, spec key first (shards are written
/// sorted by spec key), then keeps one entry per spec. Sorted by all of an entry (attempts of
/// one spec by different binaries may differ), the one kept of a spec recorded twice is the
/// same whatever order the keys came in.
fn sort_shard(entries: &mut Vec<Recorded>) {
    // Spec keys compare as big-endian integers: the order of their bytes, at a fraction of the
    // cost of comparing arrays.
    entries.sort_unstable_by(|a, b| {
        let first = |e: &Recorded| (u128::from_be_bytes(e.keys.spec), e.sort_index);
        let rest = |e: &Recorded| (e.keys.result, e.keys.files, e.ok);
        first(a).cmp(&first(b)).then_with(|| rest(a).cmp(&rest(b)))
    });
    entries.dedup_by_key(|e| e.sort_index);
}

/// A non-null binary column of `n` values of `size` bytes each.
pub(super) fn fixed_size<'a>(values: impl Iterator<Item = &'a [u8]>, size: usize, n: usize) -> FixedSizeBinaryArray {
    let mut bytes = Vec::with_capacity(n * size);
    for value in values {
        bytes.extend_from_slice(value);
    }
    // Every value is `size` bytes (keys are fixed-size arrays), so the buffer divides evenly.
    FixedSizeBinaryArray::new(size as i32, bytes.into(), None)
}

/// What the index of `experiment` says about each of `asked` (hits in run `exclude` do not
/// count: a run never reuses its own results).
///
/// The index is listed once (only the shards of the specs asked, when they fall in at most
/// [`LIST_SHARDS_APART`]); an empty index costs that listing only. The specs asked are
/// bucketed by shard and sorted by spec key, so each row of a shard is matched by a binary
/// search in a small sorted slice (specs sharing a spec key sit side by side) and only the
/// matches touch `asked` and the findings.
pub(crate) async fn lookup(
    store: &Store,
    experiment: &str,
    asked: &[SpecKeys],
    exclude: &RunId,
) -> Result<Findings, Error> {
    let mut out = Findings { runs: Vec::new(), findings: vec![Finding::default(); asked.len()] };
    if asked.is_empty() {
        return Ok(out);
    }
    let dir = index_dir(store.prefix(), experiment);
    let mut files: Vec<Vec<String>> = vec![Vec::new(); SHARDS];
    let digests = format!("{}/", super::digest::runs_dir(store.prefix(), experiment));
    // A few specs (a small leaf on Hatchet) list only their shards: the whole index holds a
    // file per shard for every run of the experiment.
    let needed: std::collections::BTreeSet<usize> = asked.iter().map(|keys| shard_of(&keys.spec)).collect();
    let listed = if needed.len() <= LIST_SHARDS_APART {
        let lists = needed.iter().map(|&shard| {
            let prefix = format!("{dir}/{}", shard_name(shard));
            async move { store.list(&prefix).await }
        });
        futures::future::try_join_all(lists).await?.into_iter().flatten().collect()
    } else {
        store.list(&dir).await?
    };
    for meta in listed {
        let key = meta.location.to_string();
        if key.starts_with(&digests) {
            continue;
        }
        let shard =
            key.rsplit('/').nth(1).and_then(|name| u8::from_str_radix(name, 16).ok().filter(|_| name.len() == 2));
        match shard {
            Some(shard) => files[usize::from(shard)].push(key),
            None => tracing::warn!(object = %store.uri(&key), "ignoring an object outside the cache index's shards"),
        }
    }
    if files.iter().all(Vec::is_empty) {
        return Ok(out);
    }
    // `(spec key, position in asked)` by shard (a counting sort), each shard sorted by key.
    let mut starts = vec![0usize; SHARDS + 1];
    for keys in asked {
        starts[shard_of(&keys.spec) + 1] += 1;
    }
    for shard in 0..SHARDS {
        starts[shard + 1] += starts[shard];
    }
    let mut sorted: Vec<(Short, u32)> = vec![([0; 16], 0); asked.len()];
    let mut fill = starts.clone();
    for (position, keys) in asked.iter().enumerate() {
        let shard = shard_of(&keys.spec);
        sorted[fill[shard]] = (keys.spec, position as u32);
        fill[shard] += 1;
    }
    let exclude = exclude.to_string();
    let mut run_index: HashMap<String, Option<u32>> = HashMap::new();
    // The run of the last hit, and its index: rows of one run follow each other.
    let mut last_run: Option<(String, Option<u32>)> = None;
    for (shard, keys) in files.iter().enumerate() {
        let bucket = &mut sorted[starts[shard]..starts[shard + 1]];
        if bucket.is_empty() {
            continue;
        }
        bucket.sort_unstable_by_key(|&(spec, position)| (u128::from_be_bytes(spec), position));
        let bucket = &*bucket;
        for key in keys {
            let mut stream = store.read_parquet(key, READ_BATCH).await?;
            while let Some(batch) = stream
                .try_next()
                .await
                .map_err(|source| Error::Store(scythe_storage::StoreError::Parquet { uri: store.uri(key), source }))?
            {
                let Some(rows) = IndexRows::of(&batch) else {
                    tracing::warn!(shard = %store.uri(key), "ignoring a cache index shard of another layout");
                    break;
                };
                // Shards are written sorted by spec key: search from the last match onwards.
                let mut from = 0;
                for row in 0..batch.num_rows() {
                    let Some(spec) = rows.spec(row) else { continue };
                    if from > 0 && bucket[from - 1].0 >= *spec {
                        from = 0;
                    }
                    from += bucket[from..].partition_point(|(at, _)| at < spec);
                    for &(_, position) in bucket[from..].iter().take_while(|(at, _)| at == spec) {
                        let mine = &asked[position as usize];
                        let finding = &mut out.findings[position as usize];
                        if rows.result.value(row) != mine.result {
                            let same_files = match (mine.files, rows.files.is_valid(row)) {
                                (Some(files), true) => rows.files.value(row) == files,
                                (None, _) => true,
                                (Some(_), false) => false,
                            };
                            finding.same_files |= same_files;
                            finding.other_files |= !same_files;
                        } else if !rows.ok.value(row) {
                            finding.failed_before = true;
                        } else if finding.hit_run == NO_HIT {
                            let run = rows.run.value(row);
                            let index = match &last_run {
                                Some((name, index)) if name == run => *index,
                                _ => {
                                    let index = *run_index.entry(run.to_owned()).or_insert_with(|| {
                                        match run.parse::<RunId>() {
                                            Ok(id) if run != exclude => {
                                                out.runs.push(id);
                                                Some(out.runs.len() as u32 - 1)
                                            }
                                            _ => None,
                                        }
                                    });
                                    last_run = Some((run.to_owned(), index));
                                    index
                                }
                            };
                            if let Some(run) = index {
                                finding.hit_run = run;
                                finding.hit_sort_index = rows.sort_index.value(row);
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(out)
}

/// The columns of a batch of an index shard.
struct IndexRows<'a> {
    spec: &'a FixedSizeBinaryArray,
    result: &'a FixedSizeBinaryArray,
    files: &'a FixedSizeBinaryArray,
    ok: &'a BooleanArray,
    sort_index: &'a arrow::array::PrimitiveArray<UInt64Type>,
    run: &'a StringArray,
}

impl<'a> IndexRows<'a> {
    /// `None` for a shard of another layout.
    fn of(batch: &'a RecordBatch) -> Option<Self> {
        let binary = |name: &str, size: i32| {
            batch.column_by_name(name).and_then(|c| c.as_fixed_size_binary_opt()).filter(|c| c.value_length() == size)
        };
        Some(Self {
            spec: binary("spec", 16)?,
            result: binary("result", 32)?,
            files: binary("files", 16)?,
            ok: batch.column_by_name("ok")?.as_boolean_opt()?,
            sort_index: batch.column_by_name("sort_index")?.as_primitive_opt::<UInt64Type>()?,
            run: batch.column_by_name("run")?.as_string_opt::<i32>()?,
        })
    }

    fn spec(&self, row: usize) -> Option<&Short> {
        self.spec.value(row).try_into().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucketing_by_shard_then_sorting_each_is_a_full_sort() {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut entries: Vec<Recorded> = (0..20_000)
            .map(|i| {
                let mut spec = [0u8; 16];
                spec[..8].copy_from_slice(&next().to_le_bytes());
                // Some specs recorded twice (two attempts, below), some sort indexes alike.
                let sort_index = if i % 97 == 0 { 5 } else { next() % 1000 };
                let files = (i % 3 == 0).then_some([(i % 7) as u8; 16]);
                Recorded { keys: SpecKeys { result: [(i % 5) as u8; 32], spec, files }, sort_index, ok: i % 2 == 0 }
            })
            .collect();
        entries.extend(entries.clone().into_iter().take(500));
        let mut expected = entries.clone();
        expected.sort_by_key(|e| (e.keys.spec, e.sort_index, e.keys.result, e.keys.files, e.ok));
        expected.dedup_by_key(|e| e.sort_index);
        let mut buckets = Buckets::new(0..SHARDS, entries.len());
        for entry in entries {
            buckets.push(entry);
        }
        let mut sorted = Vec::new();
        for mut bucket in buckets.buckets {
            sort_shard(&mut bucket);
            sorted.extend(bucket);
        }
        assert_eq!(sorted.len(), expected.len());
        assert!(sorted == expected, "the bucketed order differs from a full sort");
    }

    #[test]
    fn fixed_size_columns_hold_the_values_in_order() {
        let values = [[1u8; 16], [2; 16], [3; 16]];
        let column = fixed_size(values.iter().map(|v| &v[..]), 16, 3);
        assert_eq!(column.len(), 3);
        assert_eq!(column.value(1), &[2u8; 16]);
    }
}
