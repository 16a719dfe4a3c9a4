//! Allocation: pick the version, reserve a fresh run folder, upload input files and write the
//! specs, the schemas and — last — the manifest. Nothing is written before every spec is valid.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use chrono::{DateTime, Utc};
use scythe_core::layout::{RunId, RunLayout, VERSION_CLAIM};
use scythe_core::schema::{DataSchema, EXPERIMENT_ID, SORT_INDEX};
use scythe_core::{Version, VersionStrategy};
use scythe_storage::{ParquetSink, Store};

use crate::artifacts::ArtifactPlan;
use crate::diff::keep::{self, OnBreakingChange};
use crate::error::Error;
use crate::lease::Holder;
use crate::manifest::{InputArtifacts, Manifest, to_yaml};
use crate::registry::Registered;
use crate::specs::ValidSpecs;

/// How many times a bumped version is re-chosen when concurrent allocations take it.
const VERSION_ATTEMPTS: usize = 16;
/// Row group size of `specs.pq` (distributed leaves read whole row groups).
pub(crate) const SPECS_ROW_GROUP: usize = 64 * 1024;

/// A run whose folder is reserved and holds its input files and schemas; [`commit`] writes
/// `specs.pq` and then `manifest.yml`, after which the run exists. Until then the folder is
/// only the allocating process's: its [`lease`](crate::lease) says so, and once that process
/// is gone the folder is abandoned (not a run, not a version) and the next allocation of the
/// version cleans it.
#[derive(Debug, Clone)]
pub(crate) struct Allocation {
    pub(crate) layout: RunLayout,
    pub(crate) manifest: Manifest,
    /// The specs as stored (file references rewritten), in sort-index order.
    pub(crate) specs: Vec<RecordBatch>,
    /// This process's lease on the run folder, kept until the run is executed.
    pub(crate) lease: Holder,
    /// Whether this allocation created the version (its claim marker is ours to remove).
    claimed_version: bool,
}

/// The versions of `experiment` that exist in `store`: folders that are not versions are
/// ignored, and so are the newest versions that hold nothing but abandoned allocations.
pub(crate) async fn existing_versions(store: &Store, experiment: &str) -> Result<Vec<Version>, Error> {
    let dir = RunLayout::experiment_dir(store.prefix(), experiment);
    let mut versions: Vec<Version> = store.list_dirs(&dir).await?.iter().filter_map(|name| name.parse().ok()).collect();
    versions.sort();
    while let Some(&newest) = versions.last() {
        if !crate::catalog::version_abandoned(store, experiment, newest).await? {
            break;
        }
        versions.pop();
    }
    Ok(versions)
}

/// Allocates a run of `experiment` for already validated specs, up to (not including)
/// `specs.pq` and the manifest: the caller runs the specs from memory while [`commit`] writes
/// them.
pub(crate) async fn allocate(
    store: &Store,
    experiment: &dyn Registered,
    specs: ValidSpecs,
    strategy: VersionStrategy,
    now: DateTime<Utc>,
    on_breaking: OnBreakingChange,
) -> Result<Allocation, Error> {
    let schema = experiment.schema();
    let plan = ArtifactPlan::new(&specs.batches, schema.input())?;
    let (version, claimed_version) = claim_version(store, schema.name(), strategy).await?;
    // `keep` or an existing `vX.Y.Z`: the version's runs should share a schema. (A version
    // this allocation claimed has no runs yet, but others may join it at once: see `recheck`.)
    let seen =
        if claimed_version { Default::default() } else { keep::check(store, schema, version, on_breaking).await? };
    let layout = match claim_run_folder(store, RunId::new(schema.name(), version, now, 0)).await {
        Ok(layout) => layout,
        Err(error) => {
            if claimed_version {
                let _ = store.delete(&version_claim(store, schema.name(), version)).await;
            }
            return Err(error);
        }
    };
    let lease = match Holder::hold(store, crate::lease::key(&layout.run_dir())).await {
        Ok(lease) => lease,
        Err(error) => {
            discard_folder(store, &layout, claimed_version).await;
            return Err(error);
        }
    };
    let prepared = match prepare(store, experiment, specs, plan, &layout, now).await {
        Ok(prepared) => {
            keep::recheck(store, schema, version, on_breaking, &seen, layout.run()).await.map(|()| prepared)
        }
        Err(error) => Err(error),
    };
    match prepared {
        Ok((manifest, specs)) => Ok(Allocation { layout, manifest, specs, lease, claimed_version }),
        Err(error) => {
            discard_folder(store, &layout, claimed_version).await;
            let _ = lease.release().await;
            Err(error)
        }
    }
}

/// Removes an allocation that will never be committed (best effort: what is left behind is
/// abandoned once this process ends, and cleaned by the next allocation of its version).
pub(crate) async fn discard(store: &Store, allocation: &Allocation) {
    discard_folder(store, &allocation.layout, allocation.claimed_version).await;
    let _ = allocation.lease.release().await;
}

async fn discard_folder(store: &Store, layout: &RunLayout, claimed_version: bool) {
    let lease_key = crate::lease::key(&layout.run_dir());
    let _ = delete_all(store, &layout.run_dir(), &[lease_key.as_str()]).await;
    if claimed_version {
        let run = layout.run();
        let _ = store.delete(&version_claim(store, run.experiment(), run.version())).await;
    }
}

/// Deletes every object under `dir` but `keep`.
pub(crate) async fn delete_all(store: &Store, dir: &str, keep: &[&str]) -> Result<(), Error> {
    for meta in store.list(dir).await? {
        let key = meta.location.to_string();
        if !keep.contains(&key.as_str()) {
            store.delete(&key).await?;
        }
    }
    Ok(())
}

fn version_claim(store: &Store, experiment: &str, version: Version) -> String {
    format!("{}/{VERSION_CLAIM}", RunLayout::version_dir(store.prefix(), experiment, version))
}

/// Uploads the input files and writes the schemas of a claimed run folder.
async fn prepare(
    store: &Store,
    experiment: &dyn Registered,
    specs: ValidSpecs,
    plan: ArtifactPlan,
    layout: &RunLayout,
    now: DateTime<Utc>,
) -> Result<(Manifest, Vec<RecordBatch>), Error> {
    let schema = experiment.schema();
    let design = specs.design.clone();
    let (batches, artifact_uris) = if plan.is_empty() {
        (specs.batches, Default::default())
    } else {
        plan.upload(store, layout, specs.batches).await?
    };
    store.put(&layout.io_spec(), to_yaml("experiment_io_spec.yml", &schema.io_spec())?).await?;
    let input_artifacts = if artifact_uris.is_empty() {
        None
    } else {
        let document = InputArtifacts { files: artifact_uris };
        store.put(&layout.input_artifacts(), to_yaml("input_artifacts.yml", &document)?).await?;
        Some(store.uri(&layout.input_artifacts()))
    };
    let manifest = Manifest {
        // The Python tool's manifest names the engine's run here; one Scythe run may span many
        // engine runs (resume, shards), so this is the Scythe run id.
        workflow_run_id: Some(layout.run().to_string()),
        experiment_id: layout.run().to_string(),
        experiment_name: schema.name().to_owned(),
        specs_uri: store.uri(&layout.specs()),
        io_spec: store.uri(&layout.io_spec()),
        input_artifacts,
        n_specs: specs.rows,
        created_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        engine: "embedded".to_owned(),
        scythe_version: env!("CARGO_PKG_VERSION").to_owned(),
        design,
    };
    Ok((manifest, batches))
}

/// Writes `specs.pq`, then `manifest.yml` (create-only): from then on the run exists.
pub(crate) async fn commit(store: &Store, allocation: &Allocation, input: &DataSchema) -> Result<(), Error> {
    let layout = &allocation.layout;
    write_specs(store, layout, input, &allocation.specs).await?;
    if !store.put_new(&layout.manifest(), to_yaml("manifest.yml", &allocation.manifest)?).await? {
        return Err(Error::CorruptRun {
            run: layout.run().to_string(),
            reason: "another allocation wrote its manifest first".to_owned(),
        });
    }
    Ok(())
}

/// Resolves the version; a bumped version is reserved with a create-only marker so two
/// concurrent allocations never share it (says whether this call created the version). A
/// version that holds only abandoned allocations is cleaned and claimed again.
async fn claim_version(store: &Store, experiment: &str, strategy: VersionStrategy) -> Result<(Version, bool), Error> {
    for _ in 0..VERSION_ATTEMPTS {
        let version = strategy.resolve(existing_versions(store, experiment).await?);
        if !strategy.creates_version() {
            return Ok((version, false));
        }
        let marker = version_claim(store, experiment, version);
        if claim(store, &marker).await? {
            return Ok((version, true));
        }
        if crate::catalog::version_abandoned(store, experiment, version).await? {
            tracing::info!(experiment, %version, "cleaning a version left by an allocation that died");
            delete_all(store, &RunLayout::version_dir(store.prefix(), experiment, version), &[]).await?;
        }
    }
    Err(Error::VersionContention(experiment.to_owned()))
}

/// Reserves a run folder; a run whose second is taken takes the next free second, so every folder
/// name is a plain timestamp (the Python tool parses nothing else).
async fn claim_run_folder(store: &Store, mut run: RunId) -> Result<RunLayout, Error> {
    loop {
        let layout = RunLayout::new(store.prefix(), run.clone());
        if claim(store, &layout.claim()).await? {
            return Ok(layout);
        }
        run = run.next_second();
    }
}

/// Creates `key` only if it does not exist, and reads it back: a store whose conditional
/// writes are not atomic (some S3 look-alikes check, then write) can let two writers both
/// "create" it, but only the last one finds its own token there.
///
/// The claim holds a [`Lease`](crate::lease::Lease) (host, pid, time) so a claim whose owner
/// died is recognised as abandoned.
async fn claim(store: &Store, key: &str) -> Result<bool, Error> {
    let token = crate::lease::Lease::mine().to_yaml()?;
    if !store.put_new(key, token.clone()).await? {
        return Ok(false);
    }
    Ok(store.get(key).await? == token.as_bytes())
}

/// The schema of `specs.pq`: `experiment_id`, `sort_index`, then the input's fields.
pub(crate) fn specs_schema(input: &DataSchema) -> SchemaRef {
    let mut fields = vec![
        Arc::new(Field::new(EXPERIMENT_ID, DataType::Utf8, false)),
        Arc::new(Field::new(SORT_INDEX, DataType::UInt64, false)),
    ];
    fields.extend(input.fields().iter().cloned());
    Arc::new(Schema::new(fields))
}

async fn write_specs(
    store: &Store,
    layout: &RunLayout,
    input: &DataSchema,
    batches: &[RecordBatch],
) -> Result<(), Error> {
    let schema = specs_schema(input);
    let mut sink = ParquetSink::create(store, &layout.specs(), Arc::clone(&schema), &[], SPECS_ROW_GROUP)?;
    let experiment_id = layout.run().to_string();
    let mut next = 0u64;
    for batch in batches {
        let rows = batch.num_rows();
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(std::iter::repeat_n(experiment_id.as_str(), rows))),
            Arc::new(UInt64Array::from_iter_values(next..next + rows as u64)),
        ];
        columns.extend(batch.columns().iter().cloned());
        next += rows as u64;
        let with_index =
            RecordBatch::try_new(Arc::clone(&schema), columns).map_err(Error::arrow("building specs.pq"))?;
        sink.write(&with_index).await?;
    }
    sink.close().await?;
    Ok(())
}
