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

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray, BooleanArray, FixedSizeBinaryArray, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt64Type};
use futures::TryStreamExt;
use scythe_core::layout::{RunId, RunLayout};
use scythe_storage::Store;

use super::key::{Short, SpecKeys};
use crate::error::Error;

/// Rows per batch when streaming a shard.
const READ_BATCH: usize = 64 * 1024;

/// The folder at the store's root that holds the cache index of every experiment.
pub(crate) const CACHE_DIR: &str = ".scythe-cache";

/// A result the index knows: the run that holds it (an index into [`Findings::runs`]) and its
/// sort index there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) run: u32,
    pub(crate) sort_index: u64,
}

/// What the index says about one spec asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Finding {
    /// A success with the same result key, in another run.
    pub(crate) hit: Option<Entry>,
    /// A failure with the same result key.
    pub(crate) failed_before: bool,
    /// An entry of the same spec with the same input files but another result key: the code
    /// (or the output schema) changed.
    pub(crate) same_files: bool,
    /// An entry of the same spec with other input file contents.
    pub(crate) other_files: bool,
}

/// The findings of one lookup, aligned with the specs asked, and the runs their hits name.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    pub(crate) runs: Vec<RunId>,
    pub(crate) findings: Vec<Finding>,
}

/// One row to record: a spec this run ran, and whether it succeeded.
#[derive(Debug, Clone, Copy)]
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
fn index_dir(prefix: &str, experiment: &str) -> String {
    RunLayout::experiment_dir(&RunLayout::experiment_dir(prefix, CACHE_DIR), experiment)
}

fn shard_of(spec: &Short) -> usize {
    usize::from(spec[0])
}

fn shard_name(shard: usize) -> String {
    format!("{shard:02x}")
}

/// Records that `run` ran `entries`, with code fingerprint `code` (idempotent: one file per
/// shard, named after the run, with the same content for the same entries).
pub(crate) async fn record(
    store: &Store,
    layout: &RunLayout,
    code: &str,
    mut entries: Vec<Recorded>,
) -> Result<(), Error> {
    entries.sort_unstable_by_key(|e| (e.keys.spec, e.sort_index));
    let run = layout.run();
    let file = format!("{}_{}.pq", run.version(), run.folder_name());
    let dir = index_dir(layout.prefix(), run.experiment());
    let run = run.to_string();
    let mut rest = entries.as_slice();
    while let Some(first) = rest.first() {
        let shard = shard_of(&first.keys.spec);
        let n = rest.partition_point(|e| shard_of(&e.keys.spec) == shard);
        let (these, next) = rest.split_at(n);
        rest = next;
        let binary = |values: Vec<Option<&[u8]>>, size: i32| {
            FixedSizeBinaryArray::try_from_sparse_iter_with_size(values.into_iter(), size)
                .map_err(Error::arrow("building a cache index shard"))
        };
        let batch = RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(binary(these.iter().map(|e| Some(&e.keys.spec[..])).collect(), 16)?),
                Arc::new(binary(these.iter().map(|e| Some(&e.keys.result[..])).collect(), 32)?),
                Arc::new(binary(these.iter().map(|e| e.keys.files.as_ref().map(|f| &f[..])).collect(), 16)?),
                Arc::new(BooleanArray::from_iter(these.iter().map(|e| Some(e.ok)))),
                Arc::new(UInt64Array::from_iter_values(these.iter().map(|e| e.sort_index))),
                Arc::new(StringArray::from_iter_values(std::iter::repeat_n(run.as_str(), n))),
                Arc::new(StringArray::from_iter_values(std::iter::repeat_n(code, n))),
            ],
        )
        .map_err(Error::arrow("building a cache index shard"))?;
        store.put_parquet(&format!("{dir}/{}/{file}", shard_name(shard)), schema(), &[batch], &[]).await?;
    }
    Ok(())
}

/// What the index of `experiment` says about each of `asked` (hits in run `exclude` do not
/// count: a run never reuses its own results).
pub(crate) async fn lookup(
    store: &Store,
    experiment: &str,
    asked: &[SpecKeys],
    exclude: &RunId,
) -> Result<Findings, Error> {
    let mut out = Findings { runs: Vec::new(), findings: vec![Finding::default(); asked.len()] };
    // Specs asked, by shard; several specs can share a spec key (`next` chains them).
    let mut by_shard: Vec<Vec<u32>> = vec![Vec::new(); 256];
    for (position, keys) in asked.iter().enumerate() {
        by_shard[shard_of(&keys.spec)].push(position as u32);
    }
    let mut next = vec![u32::MAX; asked.len()];
    let dir = index_dir(store.prefix(), experiment);
    let exclude = exclude.to_string();
    let mut run_index: HashMap<String, Option<u32>> = HashMap::new();
    for (shard, positions) in by_shard.iter().enumerate() {
        if positions.is_empty() {
            continue;
        }
        let mut first: HashMap<Short, u32> = HashMap::with_capacity(positions.len());
        for &position in positions {
            if let Some(previous) = first.insert(asked[position as usize].spec, position) {
                next[position as usize] = previous;
            }
        }
        for meta in store.list(&format!("{dir}/{}", shard_name(shard))).await? {
            let key = meta.location.to_string();
            let mut stream = store.read_parquet(&key, READ_BATCH).await?;
            while let Some(batch) = stream
                .try_next()
                .await
                .map_err(|source| Error::Store(scythe_storage::StoreError::Parquet { uri: store.uri(&key), source }))?
            {
                let Some(rows) = IndexRows::of(&batch) else {
                    tracing::warn!(shard = %store.uri(&key), "ignoring a cache index shard of another layout");
                    break;
                };
                for row in 0..batch.num_rows() {
                    let Some(&position) = rows.spec(row).and_then(|spec| first.get(spec)) else { continue };
                    let mut position = position;
                    while position != u32::MAX {
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
                        } else if finding.hit.is_none() {
                            let run = rows.run.value(row);
                            let index = match run_index.get(run) {
                                Some(index) => *index,
                                None => {
                                    let index = match run.parse::<RunId>() {
                                        Ok(id) if run != exclude => {
                                            out.runs.push(id);
                                            Some(out.runs.len() as u32 - 1)
                                        }
                                        _ => None,
                                    };
                                    run_index.insert(run.to_owned(), index);
                                    index
                                }
                            };
                            finding.hit = index.map(|run| Entry { run, sort_index: rows.sort_index.value(row) });
                        }
                        position = next[position as usize];
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
