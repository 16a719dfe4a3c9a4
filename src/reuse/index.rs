//! The cache index, in the store: `.scythe-cache/<experiment>/<pp>/<run>.pq`,
//! where `<pp>` is the first two hex digits of the key (256 shards) and each run writes its own
//! file per shard, holding `(key, run, sort_index)` for the specs it ran successfully.
//!
//! A run only ever writes its own files, with the same content for the same results, so
//! concurrent runs cannot lose each other's entries, and a gather that runs twice writes the
//! same objects. A lookup reads only the shards of the keys it looks for, streaming, and keeps
//! only the matches: memory grows with the keys asked, not with the index.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt64Type};
use futures::TryStreamExt;
use scythe_core::layout::{RunId, RunLayout};
use scythe_storage::Store;

use super::key::Key;
use crate::error::Error;

/// Where a spec's result can be found: a run that ran it, and its sort index there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) run: RunId,
    pub(crate) sort_index: u64,
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("run", DataType::Utf8, false),
        Field::new("sort_index", DataType::UInt64, false),
    ]))
}

/// `<prefix>/.scythe-cache/<experiment>`: outside the experiment's folder, whose every
/// subfolder the Python tool parses as a version.
/// The folder at the store's root that holds the cache index of every experiment.
pub(crate) const CACHE_DIR: &str = ".scythe-cache";

fn index_dir(prefix: &str, experiment: &str) -> String {
    RunLayout::experiment_dir(&RunLayout::experiment_dir(prefix, CACHE_DIR), experiment)
}

fn shard_of(key: &str) -> &str {
    key.get(..2).unwrap_or("00")
}

/// Records that `run` holds the results of `entries` (key, sort index).
pub(crate) async fn record(store: &Store, layout: &RunLayout, entries: Vec<(Key, u64)>) -> Result<(), Error> {
    let mut shards: BTreeMap<String, Vec<(Key, u64)>> = BTreeMap::new();
    for (key, sort_index) in entries {
        shards.entry(shard_of(&key).to_owned()).or_default().push((key, sort_index));
    }
    let run = layout.run();
    let file = format!("{}_{}.pq", run.version(), run.folder_name());
    let dir = index_dir(layout.prefix(), run.experiment());
    for (shard, mut entries) in shards {
        entries.sort();
        let n = entries.len();
        let batch = RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(StringArray::from_iter_values(entries.iter().map(|(key, _)| key.as_str()))),
                Arc::new(StringArray::from_iter_values(std::iter::repeat_n(run.to_string(), n))),
                Arc::new(UInt64Array::from_iter_values(entries.iter().map(|&(_, index)| index))),
            ],
        )
        .map_err(Error::arrow("building a cache index shard"))?;
        store.put_parquet(&format!("{dir}/{shard}/{file}"), schema(), &[batch], &[]).await?;
    }
    Ok(())
}

/// The entries of `keys` in the index of `experiment`, ignoring those of run `exclude`.
pub(crate) async fn lookup(
    store: &Store,
    experiment: &str,
    keys: impl IntoIterator<Item = &Key>,
    exclude: &RunId,
) -> Result<HashMap<Key, Entry>, Error> {
    let mut by_shard: BTreeMap<&str, Vec<&Key>> = BTreeMap::new();
    for key in keys {
        by_shard.entry(shard_of(key)).or_default().push(key);
    }
    let dir = index_dir(store.prefix(), experiment);
    let mut found = HashMap::new();
    for (shard, wanted) in by_shard {
        let wanted: std::collections::HashSet<&str> = wanted.into_iter().map(String::as_str).collect();
        for meta in store.list(&format!("{dir}/{shard}")).await? {
            let key = meta.location.to_string();
            let mut stream = store.read_parquet(&key, 64 * 1024).await?;
            while let Some(batch) = stream
                .try_next()
                .await
                .map_err(|source| Error::Store(scythe_storage::StoreError::Parquet { uri: store.uri(&key), source }))?
            {
                let (Some(keys), Some(runs), Some(indexes)) = (
                    batch.column_by_name("key").and_then(|c| c.as_string_opt::<i32>()),
                    batch.column_by_name("run").and_then(|c| c.as_string_opt::<i32>()),
                    batch.column_by_name("sort_index").and_then(|c| c.as_primitive_opt::<UInt64Type>()),
                ) else {
                    tracing::warn!(shard = %store.uri(&key), "ignoring a cache index shard of another layout");
                    break;
                };
                for row in 0..batch.num_rows() {
                    let spec_key = keys.value(row);
                    if !wanted.contains(spec_key) || found.contains_key(spec_key) || indexes.is_null(row) {
                        continue;
                    }
                    let Ok(run) = runs.value(row).parse::<RunId>() else { continue };
                    if &run == exclude {
                        continue;
                    }
                    found.insert(spec_key.to_owned(), Entry { run, sort_index: indexes.value(row) });
                }
            }
        }
    }
    Ok(found)
}
