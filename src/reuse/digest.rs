//! The whole-run fast path: an identical re-run copies the earlier run's final tables instead
//! of looking up, copying and gathering every spec's rows.
//!
//! A run that keyed every spec (a scatter, cache on) and then succeeded whole records the
//! [`RunDigest`] of its result keys, in sort-index order, as a small create-only object
//! `.scythe-cache/<experiment>/runs/<digest>/<version>_<run>.yml` naming the run (every result
//! key already holds the experiment, its code fingerprint and its schemas; the digest adds the
//! number and order of the specs). A later run with the same digest finds it with one listing,
//! rewrites the earlier run's final tables into its own `final/` ([`copy_run`]) and writes
//! `results/copied_from.yml` last: the marker that its final tables are complete, which
//! [`copied_from`] reads for gather (and for resume, which then has nothing to run). Only what
//! must differ is re-encoded, row group by row group: `experiment_id` (the new run's id), the
//! file input columns (stored URIs of this run, from its specs), and provenance's
//! `cached_from` (the run that ran each spec: the earlier run, or where it was copied from).
//! Every other column's encoded bytes are copied as they are ([`Store::splice_parquet`]):
//! the results are the same, and so are the scalar inputs (they are part of every result key).
//!
//! Anything missing or unreadable (the earlier run deleted, its tables changed) is an error
//! the caller logs before it takes the per-spec path: the fast path never fails a run.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use arrow::datatypes::{FieldRef, SchemaRef, UInt64Type};
use scythe_core::layout::{RunId, RunLayout};
use scythe_core::schema::{ColumnKind, EXPERIMENT_ID, ExperimentSchema, SORT_INDEX};
use scythe_storage::{Store, StoreError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::key::{SpecKeys, hex};
use crate::error::Error;
use crate::gather::{final_schema, index_fields, memory_index_columns};
use crate::manifest::{Summary, from_yaml, to_yaml};
use crate::parts::{PROVENANCE, table_specs};
use crate::provenance::CACHED_FROM;
use crate::specs::SpecRows;

/// The SHA-256 of a run's result keys in sort-index order (see the module's documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RunDigest([u8; 32]);

impl RunDigest {
    /// The digest of the result keys of every spec of a run, `keys[i]` being sort index `i`.
    pub(crate) fn of(keys: &[SpecKeys]) -> Self {
        let mut digest = RunDigester::new(keys.len() as u64);
        for spec in keys {
            digest.add(&spec.result);
        }
        digest.finish()
    }

    /// Lowercase hex, as in the object's key.
    pub(crate) fn hex(&self) -> String {
        hex(&self.0)
    }
}

/// A [`RunDigest`] computed as the result keys come, without holding them.
pub(crate) struct RunDigester(Sha256);

impl RunDigester {
    /// The digest of a run of `n_specs` specs, whose result keys follow in sort-index order.
    pub(crate) fn new(n_specs: u64) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"scythe-run-digest-v1");
        hasher.update(n_specs.to_le_bytes());
        Self(hasher)
    }

    /// The result key of the next spec.
    pub(crate) fn add(&mut self, result: &super::key::Key) {
        self.0.update(result);
    }

    /// The digest.
    pub(crate) fn finish(self) -> RunDigest {
        RunDigest(self.0.finalize().into())
    }
}

/// The object recorded under a digest: the run whose final tables hold its results.
#[derive(Debug, Serialize, Deserialize)]
struct DigestEntry {
    run: String,
    n_specs: u64,
}

/// `results/copied_from.yml` of a run whose final tables were copied whole.
#[derive(Debug, Serialize, Deserialize)]
struct CopiedFrom {
    run: String,
    digest: String,
}

/// `.scythe-cache/<experiment>/runs`: beside the index shards, ignored by index lookups.
pub(crate) fn runs_dir(prefix: &str, experiment: &str) -> String {
    format!("{}/runs", super::index::index_dir(prefix, experiment))
}

fn marker(layout: &RunLayout) -> String {
    format!("{}/results/copied_from.yml", layout.run_dir())
}

/// Records that the run of `layout`, whose `n_specs` specs all succeeded, holds the results of
/// `digest` (create-only and idempotent: the object is named after the run).
pub(crate) async fn record(store: &Store, layout: &RunLayout, digest: &RunDigest, n_specs: u64) -> Result<(), Error> {
    let run = layout.run();
    let key = format!(
        "{}/{}/{}_{}.yml",
        runs_dir(layout.prefix(), run.experiment()),
        digest.hex(),
        run.version(),
        run.folder_name()
    );
    let entry = DigestEntry { run: run.to_string(), n_specs };
    store.put_new(&key, to_yaml("run digest", &entry)?).await?;
    Ok(())
}

/// A complete earlier run of `n_specs` specs recorded under `digest`, other than `exclude`:
/// one listing, then the entries in order until one names a run whose summary says every spec
/// succeeded.
/// Whether any complete run of `experiment` recorded its digest: only then can a run be
/// identical to an earlier one.
pub(crate) async fn any_recorded(store: &Store, experiment: &str) -> Result<bool, Error> {
    Ok(!store.list_dirs(&runs_dir(store.prefix(), experiment)).await?.is_empty())
}

pub(crate) async fn find(
    store: &Store,
    experiment: &str,
    digest: &RunDigest,
    n_specs: u64,
    exclude: &RunId,
) -> Result<Option<RunId>, Error> {
    let dir = format!("{}/{}", runs_dir(store.prefix(), experiment), digest.hex());
    let mut keys: Vec<String> = store.list(&dir).await?.into_iter().map(|meta| meta.location.to_string()).collect();
    keys.sort_unstable();
    for key in keys {
        let Ok(entry) = from_yaml::<DigestEntry>("run digest", &store.get(&key).await?) else {
            tracing::debug!(object = %store.uri(&key), "ignoring an unreadable run digest");
            continue;
        };
        let Ok(run) = entry.run.parse::<RunId>() else { continue };
        if &run == exclude || entry.n_specs != n_specs || run.experiment() != experiment {
            continue;
        }
        let layout = RunLayout::new(store.prefix(), run.clone());
        let summary = match store.get(&layout.summary()).await {
            Ok(bytes) => from_yaml::<Summary>("summary.yml", &bytes)?,
            Err(StoreError::NotFound { .. }) => {
                tracing::debug!(run = %run, "a run digest names a run without summary.yml; skipped");
                continue;
            }
            Err(error) => return Err(error.into()),
        };
        if summary.n_specs == n_specs && summary.succeeded == n_specs && summary.failed == 0 {
            return Ok(Some(run));
        }
    }
    Ok(None)
}

/// Writes the final tables of the run of `layout` (with `specs`, in memory) from those of
/// `source`, exactly as gathering copied rows would, then the marker that they are complete.
/// Tables are rewritten at once, each on a task of its own.
pub(crate) async fn copy_run(
    store: &Store,
    schema: &ExperimentSchema,
    layout: &RunLayout,
    specs: &Arc<SpecRows>,
    source: &RunId,
    digest: &RunDigest,
) -> Result<(), Error> {
    let from = RunLayout::new(store.prefix(), source.clone());
    let index = index_fields(schema);
    let mut copies = tokio::task::JoinSet::new();
    for table in table_specs(schema) {
        let rewrite = Rewrite::new(
            schema,
            final_schema(&table, &index),
            &index,
            Arc::clone(specs),
            layout.run().to_string(),
            (table.name == PROVENANCE).then(|| source.to_string()),
        )?;
        let (store, from, to) = (store.clone(), from.final_table(&table.name), layout.final_table(&table.name));
        copies.spawn(async move { copy_table(&store, &from, &to, &rewrite).await });
    }
    while let Some(copied) = copies.join_next().await {
        copied.map_err(|error| Error::Internal(format!("copying an earlier run's table: {error}")))??;
    }
    let copied = CopiedFrom { run: source.to_string(), digest: digest.hex() };
    store.put(&marker(layout), to_yaml("copied_from.yml", &copied)?).await?;
    Ok(())
}

/// Writes final table `to` from the earlier run's `from`, as `rewrite` says: the columns that
/// differ are re-encoded, the others' encoded bytes copied ([`Store::splice_parquet`]).
async fn copy_table(store: &Store, from: &str, to: &str, rewrite: &Rewrite) -> Result<(), Error> {
    let mut splice = store.splice_parquet(from, to, &rewrite.read, &rewrite.replace).await?;
    let (found, expected) = (splice.schema().fields(), rewrite.schema.fields());
    if found.len() != expected.len()
        || found.iter().zip(expected).any(|(a, b)| a.name() != b.name() || a.data_type() != b.data_type())
    {
        return Err(Error::CorruptRun {
            run: store.uri(from),
            reason: "it does not have the columns this experiment's gather writes".to_owned(),
        });
    }
    let copied: Result<(), Error> = async {
        while let Some(read) = splice.next_row_group().await? {
            splice.write_row_group(&rewrite.columns(&read)?).await?;
        }
        Ok(())
    }
    .await;
    if let Err(error) = copied {
        // Nothing half-written stays behind (nor a multipart upload on a bucket).
        if let Err(abort) = splice.abort().await {
            tracing::debug!(%abort, "could not abort a copy of an earlier run's table");
        }
        return Err(error);
    }
    splice.close().await?;
    Ok(())
}

/// The run whose final tables the run of `layout` copied whole, if it did (its final tables
/// are then complete and it has no result parts).
pub(crate) async fn copied_from(store: &Store, layout: &RunLayout) -> Result<Option<RunId>, Error> {
    match store.get(&marker(layout)).await {
        Ok(bytes) => {
            let copied: CopiedFrom = from_yaml("copied_from.yml", &bytes)?;
            Ok(Some(copied.run.parse()?))
        }
        Err(StoreError::NotFound { .. }) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// Which columns of one final table change on their way into the new run, and how.
struct Rewrite {
    /// The final table's schema: its data columns, `experiment_id`, `sort_index`, the inputs,
    /// then `sort_subindex` for a per-field table.
    schema: SchemaRef,
    /// The columns decoded from each row group (ascending): `sort_index`, and provenance's
    /// `cached_from`.
    read: Vec<usize>,
    /// The columns re-encoded (ascending): `cached_from`, `experiment_id` and the file inputs
    /// (stored URIs of the new run). Scalar inputs are the same values (they are part of
    /// every result key), data columns the same results.
    replace: Vec<usize>,
    experiment_id: usize,
    /// The file input fields, `replace`'s last columns.
    files: Vec<FieldRef>,
    /// Provenance's `cached_from` column, and the earlier run: the `cached_from` of the rows
    /// that ran there.
    cached_from: Option<(usize, String)>,
    /// The new run's specs.
    specs: Arc<SpecRows>,
    /// The new run's id: its `experiment_id`.
    run_id: String,
}

impl Rewrite {
    fn new(
        experiment: &ExperimentSchema,
        schema: SchemaRef,
        index: &[FieldRef],
        specs: Arc<SpecRows>,
        run_id: String,
        source: Option<String>,
    ) -> Result<Self, Error> {
        let position = |name: &str, range: std::ops::Range<usize>| {
            range
                .clone()
                .find(|&at| schema.field(at).name() == name)
                .ok_or_else(|| Error::Internal(format!("a final table without `{name}` in columns {range:?}")))
        };
        let data = position(EXPERIMENT_ID, 0..schema.fields().len())?;
        let sort_index = position(SORT_INDEX, data..data + 2)?;
        // The input index columns follow `sort_index`, in `index_fields`'s order.
        let inputs =
            experiment.input().columns().iter().filter(|c| matches!(c.kind, ColumnKind::Scalar | ColumnKind::FileRef));
        let mut files = Vec::new();
        let mut replace = Vec::new();
        let cached_from = match source {
            Some(run) => Some((position(CACHED_FROM, 0..data)?, run)),
            None => None,
        };
        replace.extend(cached_from.as_ref().map(|(at, _)| *at));
        replace.push(data);
        for (k, column) in inputs.enumerate() {
            if column.kind == ColumnKind::FileRef {
                let at = position(column.field.name(), sort_index + 1 + k..sort_index + 2 + k)?;
                files.push(Arc::clone(&index[at - data]));
                replace.push(at);
            }
        }
        let mut read: Vec<usize> = cached_from.iter().map(|(at, _)| *at).chain([sort_index]).collect();
        read.sort_unstable();
        Ok(Self { schema, read, replace, experiment_id: data, files, cached_from, specs, run_id })
    }

    /// The new values of the `replace` columns of one row group, from its `read` columns.
    fn columns(&self, read: &RecordBatch) -> Result<Vec<ArrayRef>, Error> {
        let n = read.num_rows();
        if n == 0 {
            let fields = self.schema.fields();
            return Ok(self.replace.iter().map(|&at| arrow::array::new_empty_array(fields[at].data_type())).collect());
        }
        let sort_indexes = read
            .column_by_name(SORT_INDEX)
            .and_then(|column| column.as_primitive_opt::<UInt64Type>())
            .ok_or_else(|| Error::Internal("a final table without a UInt64 sort_index".to_owned()))?;
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.replace.len());
        if let Some((_, run)) = &self.cached_from {
            let column = read
                .column_by_name(CACHED_FROM)
                .and_then(|column| column.as_string_opt::<i32>())
                .ok_or_else(|| Error::Internal("provenance's cached_from is not a string column".to_owned()))?;
            columns.push(cached_from(column, run));
        }
        columns.push(Arc::new(StringArray::from_iter_values(std::iter::repeat_n(self.run_id.as_str(), n))));
        debug_assert_eq!(self.replace[columns.len() - 1], self.experiment_id);
        if !self.files.is_empty() {
            // `sort_index`, then the file inputs.
            let index = memory_index_columns(&self.specs, sort_indexes, &self.files)?;
            columns.extend(index.into_iter().skip(1));
        }
        Ok(columns)
    }
}

/// `cached_from` of rows copied from `run`: where `run` had copied them from, else `run`.
fn cached_from(column: &StringArray, run: &str) -> ArrayRef {
    if column.null_count() == 0 {
        return Arc::new(column.clone());
    }
    Arc::new(StringArray::from_iter_values(column.iter().map(|value| value.unwrap_or(run))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(results: &[u8]) -> Vec<SpecKeys> {
        results.iter().map(|&r| SpecKeys { result: [r; 32], spec: [r; 16], files: None }).collect()
    }

    #[test]
    fn the_digest_follows_the_result_keys_and_their_order() {
        let digest = RunDigest::of(&keys(&[1, 2, 3]));
        assert_eq!(digest, RunDigest::of(&keys(&[1, 2, 3])));
        assert_ne!(digest, RunDigest::of(&keys(&[1, 3, 2])));
        assert_ne!(digest, RunDigest::of(&keys(&[1, 2])));
        assert_eq!(digest.hex().len(), 64);
    }

    #[test]
    fn cached_from_keeps_the_run_that_ran_each_spec() {
        let column = StringArray::from(vec![None, Some("a/v1.0.0/2026-01-01_00-00-00"), None]);
        let rewritten = cached_from(&column, "b/v1.0.0/2026-01-02_00-00-00");
        let values: Vec<_> = rewritten.as_string::<i32>().iter().map(Option::unwrap_or_default).collect();
        assert_eq!(
            values,
            ["b/v1.0.0/2026-01-02_00-00-00", "a/v1.0.0/2026-01-01_00-00-00", "b/v1.0.0/2026-01-02_00-00-00"]
        );
    }
}
