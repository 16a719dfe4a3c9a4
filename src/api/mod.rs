//! [`Scythe`]: the steps of a run as a Rust API — scatter (allocate and run), resume, gather.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use chrono::Utc;
use futures::TryStreamExt;
use scythe_core::layout::{RunId, RunLayout};
use scythe_core::schema::ExperimentSchema;
use scythe_core::{Experiment, VersionStrategy};
use scythe_storage::{ParquetFooter, Store};

use crate::allocate::{Allocation, allocate, commit, discard};
use crate::catalog::read_manifest;
use crate::diff::keep::OnBreakingChange;
use crate::embedded::execute;
use crate::error::Error;
use crate::gather::{GatherSummary, gather, list_parts};
use crate::journal::{Journal, Recovery};
use crate::lease::Holder;
use crate::manifest::{Summary, to_yaml};
use crate::parts::{FAILURES, SCALARS};
use crate::progress::Progress;
#[cfg(feature = "hatchet")]
use crate::ranges::covers;
use crate::ranges::{ranges_of, uncovered, union_ranges};
use crate::registry::{Registered, register};
use crate::settings::{EngineSettings, StorageSettings};
use crate::specs::{SpecRows, Specs, load};
use crate::summary::FailureGroup;

/// What a scatter or resume did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunReport {
    /// The run.
    pub run: RunId,
    /// URI of the run folder.
    pub folder: String,
    /// Specs in the run.
    pub n_specs: u64,
    /// Specs with results.
    pub succeeded: u64,
    /// Specs that failed for good (listed in `final/failures.pq`).
    pub failed: u64,
    /// Specs not run (interrupted); `resume` runs them.
    pub missing: u64,
    /// Specs this call ran (all of them for a scatter, the remaining ones for a resume).
    pub ran: u64,
    /// Time spent running specs.
    pub run_time: Duration,
    /// Time spent gathering.
    pub gather_time: Duration,
    /// Final tables: name → URI.
    pub tables: BTreeMap<String, String>,
    /// The most common errors among the failed specs, most frequent first.
    pub failure_groups: Vec<FailureGroup>,
    /// Failed specs this call ran again (`resume --retry-failed`).
    pub retried: u64,
    /// Specs this call did not run because the result cache had their result (same code,
    /// input values and input file contents); their rows were copied from an earlier run.
    pub reused: u64,
    /// Why the specs this call ran were not reused (`--explain` prints it).
    pub explanation: crate::reuse::Explanation,
    /// The identical earlier run (same specs, code and input file contents, every spec
    /// succeeded) whose final tables this call copied whole instead of running or gathering.
    pub copied_from: Option<RunId>,
}

/// What [`Scythe::work`] did on its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkReport {
    /// The run.
    pub run: RunId,
    /// The sort indexes it was asked to cover.
    pub rows: Range<u64>,
    /// Specs it ran (those without a result yet).
    pub ran: u64,
    /// Of those, how many succeeded.
    pub succeeded: u64,
    /// Of those, how many failed for good.
    pub failed: u64,
    /// Time spent running them.
    pub run_time: Duration,
    /// Specs of `rows` still without a result afterwards (interrupted).
    pub missing: u64,
    /// Specs not run because the result cache had their result.
    pub reused: u64,
    /// Why the specs that ran were not reused.
    pub explanation: crate::reuse::Explanation,
}

/// Scatters specs and reaps results on a store, with the embedded engine.
#[derive(Debug, Clone)]
pub struct Scythe {
    store: Store,
    engine: EngineSettings,
    /// Spec counts of committed runs read so far (a manifest never changes once written), so a
    /// worker reads each run's manifest once, not once per task.
    n_specs: Arc<std::sync::Mutex<HashMap<RunId, u64>>>,
    /// Footers of runs' `specs.pq` (written once, never changed), so a worker fetches only the
    /// rows of each task, not the footer again.
    specs_footers: Arc<std::sync::Mutex<HashMap<RunId, ParquetFooter>>>,
    /// What an allocation into an existing version does when the schema broke.
    on_breaking: OnBreakingChange,
}

impl Scythe {
    /// Works on `store` with default engine settings.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            engine: EngineSettings::default(),
            n_specs: Arc::default(),
            specs_footers: Arc::default(),
            on_breaking: OnBreakingChange::Refuse,
        }
    }

    /// Storage and engine settings from the `SCYTHE_*` environment variables.
    pub fn from_env() -> Result<Self, Error> {
        Ok(Self::new(StorageSettings::from_env().open()?).with_engine(EngineSettings::from_env()?))
    }

    /// Uses these engine settings.
    pub fn with_engine(mut self, engine: EngineSettings) -> Self {
        self.engine = engine;
        self
    }

    /// The same, running every spec (no result reused) if `no_cache`: a Hatchet leaf of a run
    /// scattered with `--no-cache`.
    #[cfg(feature = "hatchet")]
    pub(crate) fn without_cache_if(&self, no_cache: bool) -> std::borrow::Cow<'_, Self> {
        if no_cache && self.engine.reuse_results {
            let mut scythe = self.clone();
            scythe.engine.reuse_results = false;
            std::borrow::Cow::Owned(scythe)
        } else {
            std::borrow::Cow::Borrowed(self)
        }
    }

    /// Whether executions reuse cached results (the engine settings' `reuse_results`).
    #[cfg(feature = "hatchet")]
    pub(crate) fn reuses_results(&self) -> bool {
        self.engine.reuse_results
    }

    /// Lets a run join an existing version ([`VersionStrategy::Keep`] or an existing
    /// [`VersionStrategy::Exact`]) although the experiment's schema changed in a breaking way
    /// since the version's latest run (see [`crate::diff::SchemaChange::breaking`]), logging
    /// each change as a warning; without it such an allocation is refused (`--force`).
    pub fn allow_breaking_changes(mut self) -> Self {
        self.on_breaking = OnBreakingChange::Warn;
        self
    }

    /// The store runs live in.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Validates `specs`, allocates a run of `E`, runs every spec and gathers the final tables.
    pub async fn scatter<E: Experiment>(&self, specs: Specs, version: VersionStrategy) -> Result<RunReport, Error> {
        self.scatter_registered(register::<E>()?, &specs, version).await
    }

    /// Runs the specs of `run` that have no result yet, then gathers.
    pub async fn resume<E: Experiment>(&self, run: &RunId) -> Result<RunReport, Error> {
        self.resume_registered(register::<E>()?, run, false).await
    }

    /// Like [`Scythe::resume`], and also runs again the specs that failed.
    pub async fn retry_failed<E: Experiment>(&self, run: &RunId) -> Result<RunReport, Error> {
        self.resume_registered(register::<E>()?, run, true).await
    }

    /// Cancels `run`, keeping its results: refused for a complete run and for one a live process
    /// is running (the error names it); marks it cancelled (`cancelled.yml`) and, for a Hatchet
    /// run, cancels its tasks on the engine (`HATCHET_CLIENT_*`). Safe to repeat;
    /// [`Scythe::resume`] continues the run.
    pub async fn cancel(&self, run: &RunId) -> Result<crate::cancel::CancelReport, Error> {
        crate::cancel::cancel(&self.store, run).await
    }

    /// (Re)writes the final tables of `run` from its results.
    pub async fn gather<E: Experiment>(&self, run: &RunId) -> Result<GatherSummary, Error> {
        self.gather_registered(register::<E>()?, run).await
    }

    /// Validates `specs` and allocates a run of `E` without running it (then run shards of it
    /// with [`Scythe::work`], on as many machines as share the store, and [`Scythe::gather`]).
    pub async fn allocate<E: Experiment>(&self, specs: Specs, version: VersionStrategy) -> Result<RunId, Error> {
        self.allocate_registered(register::<E>()?, &specs, version).await
    }

    /// Runs the specs of `rows` (sort indexes) of an allocated run that have no result yet.
    /// Safe to run again or concurrently with other shards: results are written idempotently.
    pub async fn work<E: Experiment>(&self, run: &RunId, rows: Range<u64>) -> Result<WorkReport, Error> {
        self.work_leased(register::<E>()?, run, rows).await
    }

    /// [`Scythe::work_registered`] holding the run's lease, so `status` tells it is running.
    pub(crate) async fn work_leased(
        &self,
        experiment: Arc<dyn Registered>,
        run: &RunId,
        rows: Range<u64>,
    ) -> Result<WorkReport, Error> {
        let layout = RunLayout::new(self.store.prefix(), run.clone());
        let lease = Holder::hold(&self.store, crate::lease::key(&layout.run_dir())).await?;
        let report = self.work_registered(experiment, run, rows, false).await;
        let released = lease.release().await;
        let mut report = report?;
        released?;
        let (left, _) = pending_ranges(&self.store, &layout, report.rows.clone()).await?;
        report.missing = left.iter().map(|r| r.end - r.start).sum();
        Ok(report)
    }

    pub(crate) async fn allocate_registered(
        &self,
        experiment: Arc<dyn Registered>,
        specs: &Specs,
        version: VersionStrategy,
    ) -> Result<RunId, Error> {
        self.allocate_on(experiment, specs, version, "embedded").await
    }

    /// Allocates a run that `engine` (`embedded` or `hatchet`, recorded in the manifest) runs:
    /// a Hatchet run holds no lease, so `status` shows it `running` until it is gathered.
    pub(crate) async fn allocate_on(
        &self,
        experiment: Arc<dyn Registered>,
        specs: &Specs,
        version: VersionStrategy,
        engine: &str,
    ) -> Result<RunId, Error> {
        Ok(self.allocate_with_specs(experiment, specs, version, engine).await?.0)
    }

    /// [`allocate_on`](Self::allocate_on), also returning the run's specs as stored (file
    /// inputs as URIs of the run).
    pub(crate) async fn allocate_with_specs(
        &self,
        experiment: Arc<dyn Registered>,
        specs: &Specs,
        version: VersionStrategy,
        engine: &str,
    ) -> Result<(RunId, SpecRows), Error> {
        let mut allocation = self.validate_and_allocate(experiment.as_ref(), specs, version).await?;
        engine.clone_into(&mut allocation.manifest.engine);
        if let Err(error) = commit(&self.store, &allocation, experiment.schema().input()).await {
            discard(&self.store, &allocation).await;
            return Err(error);
        }
        allocation.lease.release().await?;
        let Allocation { layout, specs, .. } = allocation;
        Ok((layout.run().clone(), SpecRows::new(specs)))
    }

    /// Gathers a run whose final tables were copied whole (or anything else in the scattering
    /// process) and writes its summary, as the embedded engine does after running.
    #[cfg(feature = "hatchet")]
    pub(crate) async fn gather_here(
        &self,
        schema: &ExperimentSchema,
        layout: &RunLayout,
        n_specs: u64,
        specs: &SpecRows,
    ) -> Result<GatherSummary, Error> {
        self.gather_and_summarize(schema, layout, n_specs, Some(specs), None).await
    }

    /// The engine settings of this Scythe.
    #[cfg(feature = "hatchet")]
    pub(crate) fn engine_settings(&self) -> &EngineSettings {
        &self.engine
    }

    /// Checks every spec (nothing is written if one is invalid), then claims the version and
    /// run folder and uploads the input files; the caller commits the allocation.
    async fn validate_and_allocate(
        &self,
        experiment: &dyn Registered,
        specs: &Specs,
        version: VersionStrategy,
    ) -> Result<Allocation, Error> {
        let check = |batch: &RecordBatch, first_row: u64| experiment.check_decode(batch, first_row);
        let valid = load(specs, experiment.schema().input(), &check)?;
        allocate(&self.store, experiment, valid, version, Utc::now(), self.on_breaking).await
    }

    /// Runs the specs of `rows` that have no result yet. With `first_attempt` (a distributed
    /// leaf's first try at its rows) the listing of existing results is skipped: nothing else is
    /// assigned those rows, and should something have run them (`resume`, a shard, a task the
    /// engine reassigned), running them again only costs time: gather takes each sort index
    /// once, and a success over a recorded failure.
    pub(crate) async fn work_registered(
        &self,
        experiment: Arc<dyn Registered>,
        run: &RunId,
        rows: Range<u64>,
        first_attempt: bool,
    ) -> Result<WorkReport, Error> {
        let layout = RunLayout::new(self.store.prefix(), run.clone());
        let n_specs = self.n_specs_of(&layout).await?;
        let rows = rows.start.min(n_specs)..rows.end.min(n_specs);
        crate::supervise::announce(run);
        let (pending, generation, recovery) = if first_attempt {
            (if rows.is_empty() { Vec::new() } else { vec![rows.clone()] }, 0, Recovery::default())
        } else {
            let (pending, generation) = pending_ranges(&self.store, &layout, rows.clone()).await?;
            let recovery = Journal::new(self.store.clone(), &layout).read(&pending, &rows).await?;
            (pending, generation, recovery)
        };
        let todo: u64 = pending.iter().map(|r| r.end - r.start).sum();
        let specs = if todo == 0 {
            SpecRows::new(Vec::new())
        } else {
            let footer = self.specs_footer(&layout).await?;
            read_specs(&self.store, &footer, &layout, experiment.schema(), rows.clone()).await?
        };
        let progress = Progress::new(todo, self.engine.progress);
        let execution = if todo == 0 {
            crate::embedded::Execution {
                succeeded: 0,
                failed: 0,
                reused: 0,
                explanation: Default::default(),
                copied_from: None,
                digest: None,
                interrupted: false,
                elapsed: Default::default(),
            }
        } else {
            execute(
                experiment,
                self.store.clone(),
                layout,
                Arc::new(specs),
                pending,
                recovery,
                generation,
                &self.engine,
                &progress,
                false,
            )
            .await?
        };
        progress.finish();
        Ok(WorkReport {
            run: run.clone(),
            rows,
            ran: execution.succeeded + execution.failed,
            succeeded: execution.succeeded,
            failed: execution.failed,
            run_time: execution.elapsed,
            missing: 0,
            reused: execution.reused,
            explanation: execution.explanation,
        })
    }

    /// The number of specs of a committed run, from its manifest (read once per run).
    async fn n_specs_of(&self, layout: &RunLayout) -> Result<u64, Error> {
        let cached = self.n_specs.lock().ok().and_then(|known| known.get(layout.run()).copied());
        if let Some(n_specs) = cached {
            return Ok(n_specs);
        }
        let manifest =
            read_manifest(&self.store, layout).await?.ok_or_else(|| Error::RunNotFound(layout.run().to_string()))?;
        if let Ok(mut known) = self.n_specs.lock() {
            known.insert(layout.run().clone(), manifest.n_specs);
        }
        Ok(manifest.n_specs)
    }

    /// The footer of a run's `specs.pq` (read once per run).
    async fn specs_footer(&self, layout: &RunLayout) -> Result<ParquetFooter, Error> {
        let cached = self.specs_footers.lock().ok().and_then(|known| known.get(layout.run()).cloned());
        if let Some(footer) = cached {
            return Ok(footer);
        }
        let footer = self.store.parquet_footer(&layout.specs()).await?;
        if let Ok(mut known) = self.specs_footers.lock() {
            known.insert(layout.run().clone(), footer.clone());
        }
        Ok(footer)
    }

    /// Which of `ranges` have a result (succeeded or failed) for every spec: one listing of the
    /// run's result parts.
    #[cfg(feature = "hatchet")]
    pub(crate) async fn have_results(&self, run: &RunId, ranges: &[Range<u64>]) -> Result<Vec<bool>, Error> {
        let layout = RunLayout::new(self.store.prefix(), run.clone());
        let mut parts = Vec::new();
        for table in [SCALARS, FAILURES] {
            parts.extend(
                list_parts(&self.store, &layout, table).await?.into_iter().map(|part| part.id.start..part.id.end),
            );
        }
        let covered = union_ranges(parts);
        Ok(ranges.iter().map(|range| covers(&covered, range)).collect())
    }

    /// Records every spec of `rows` that has no result as failed with `reason` (a leaf task
    /// that failed for good on a distributed run), so nothing is dropped silently.
    #[cfg(feature = "hatchet")]
    pub(crate) async fn record_lost(
        &self,
        experiment: Arc<dyn Registered>,
        run: &RunId,
        rows: Range<u64>,
        reason: &str,
    ) -> Result<(), Error> {
        let layout = RunLayout::new(self.store.prefix(), run.clone());
        let (pending, generation) = pending_ranges(&self.store, &layout, rows).await?;
        let attempts = experiment.config().retries + 1;
        let failures_table = crate::parts::table_specs(experiment.schema())
            .pop()
            .ok_or_else(|| Error::Internal("an experiment's tables lack `failures`".to_owned()))?;
        for range in pending {
            let lost = range
                .clone()
                .map(|sort_index| (sort_index, scythe_core::TaskErrorKind::Infrastructure, reason, attempts));
            let columns = crate::parts::failure_columns(lost);
            let batch = RecordBatch::try_new(failures_table.schema.clone(), columns)
                .map_err(Error::arrow("recording lost specs"))?;
            let part = scythe_core::layout::PartId { generation, start: range.start, end: range.end };
            let key = layout.part(crate::parts::FAILURES, part);
            self.store.put_parquet(&key, failures_table.schema.clone(), &[batch], &[]).await?;
        }
        Ok(())
    }

    pub(crate) async fn gather_registered(
        &self,
        experiment: Arc<dyn Registered>,
        run: &RunId,
    ) -> Result<GatherSummary, Error> {
        let layout = RunLayout::new(self.store.prefix(), run.clone());
        let n_specs =
            read_manifest(&self.store, &layout).await?.ok_or_else(|| Error::RunNotFound(run.to_string()))?.n_specs;
        self.gather_and_summarize(experiment.schema(), &layout, n_specs, None, None).await
    }

    pub(crate) async fn scatter_registered(
        &self,
        experiment: Arc<dyn Registered>,
        specs: &Specs,
        version: VersionStrategy,
    ) -> Result<RunReport, Error> {
        if let Some(run) = crate::supervise::resuming() {
            // A supervised scatter whose worker process died goes on with its run.
            return self.resume_registered(experiment, &run, false).await;
        }
        let allocation = Arc::new(self.validate_and_allocate(experiment.as_ref(), specs, version).await?);
        // specs.pq and the manifest are written while the specs run from memory.
        let mut committing = {
            let (store, allocation, input) =
                (self.store.clone(), Arc::clone(&allocation), experiment.schema().input().clone());
            Some(tokio::spawn(async move { commit(&store, &allocation, &input).await }))
        };
        if crate::supervise::is_child()
            && let Some(committing) = committing.take()
        {
            // The supervisor resumes the run if a spec kills this process: it must exist first.
            join_commit(committing).await?;
            crate::supervise::announce(allocation.layout.run());
        }
        tracing::info!(run = %allocation.layout.run(), folder = %self.store.uri(&allocation.layout.run_dir()), "allocated");
        let n_specs = allocation.manifest.n_specs;
        let plan = RunPlan {
            layout: allocation.layout.clone(),
            specs: SpecRows::new(allocation.specs.clone()),
            pending: std::iter::once(0..n_specs).collect(),
            recovery: Recovery::default(),
            generation: 0,
            n_specs,
            committing: committing.map(|c| (c, Arc::clone(&allocation))),
            retried: 0,
        };
        let report = self.execute_and_gather(experiment, plan).await;
        let released = allocation.lease.release().await;
        let report = report?;
        released?;
        Ok(report)
    }

    /// Runs the specs of `run` without a result (and, with `retry_failed`, those that failed),
    /// holding the run's lease, then gathers. A cancelled run is no longer cancelled.
    pub(crate) async fn resume_registered(
        &self,
        experiment: Arc<dyn Registered>,
        run: &RunId,
        retry_failed: bool,
    ) -> Result<RunReport, Error> {
        let layout = RunLayout::new(self.store.prefix(), run.clone());
        let lease = Holder::hold(&self.store, crate::lease::key(&layout.run_dir())).await?;
        // A cancelled run continues: holding the lease, it is `running` again, and stays so.
        let report = match crate::cancel::clear(&self.store, &layout).await {
            Ok(_) => self.resume_unleased(experiment, run, retry_failed).await,
            Err(error) => Err(error),
        };
        let released = lease.release().await;
        let report = report?;
        released?;
        Ok(report)
    }

    async fn resume_unleased(
        &self,
        experiment: Arc<dyn Registered>,
        run: &RunId,
        retry_failed: bool,
    ) -> Result<RunReport, Error> {
        let layout = RunLayout::new(self.store.prefix(), run.clone());
        let manifest = read_manifest(&self.store, &layout).await?.ok_or_else(|| Error::RunNotFound(run.to_string()))?;
        if manifest.experiment_name != experiment.schema().name() {
            return Err(Error::CorruptRun {
                run: run.to_string(),
                reason: format!("it belongs to experiment `{}`", manifest.experiment_name),
            });
        }
        crate::supervise::announce(run);
        let (mut pending, generation) = pending_ranges(&self.store, &layout, 0..manifest.n_specs).await?;
        let mut retried = 0;
        if retry_failed {
            let failed = self.failed_sort_indexes(experiment.schema(), &layout, manifest.n_specs).await?;
            retried = failed.len() as u64;
            pending = union_ranges(pending.into_iter().chain(ranges_of(&failed)));
        }
        let recovery = Journal::new(self.store.clone(), &layout).read(&pending, &(0..manifest.n_specs)).await?;
        let footer = self.store.parquet_footer(&layout.specs()).await?;
        let specs = read_specs(&self.store, &footer, &layout, experiment.schema(), 0..manifest.n_specs).await?;
        let plan = RunPlan {
            layout,
            specs,
            pending,
            recovery,
            generation,
            n_specs: manifest.n_specs,
            committing: None,
            retried,
        };
        self.execute_and_gather(experiment, plan).await
    }

    /// The sort indexes of the specs whose latest result is a failure, from `final/failures.pq`
    /// (gathered first if the run is not complete).
    async fn failed_sort_indexes(
        &self,
        schema: &ExperimentSchema,
        layout: &RunLayout,
        n_specs: u64,
    ) -> Result<Vec<u64>, Error> {
        if !self.store.exists(&layout.summary()).await? && !self.store.exists(&layout.legacy_summary()).await? {
            self.gather_and_summarize(schema, layout, n_specs, None, None).await?;
        }
        let mut failed = Vec::new();
        let mut stream = self.store.read_parquet(&layout.final_table(FAILURES), 64 * 1024).await?;
        while let Some(batch) = stream.try_next().await.map_err(|source| {
            Error::Store(scythe_storage::StoreError::Parquet {
                uri: self.store.uri(&layout.final_table(FAILURES)),
                source,
            })
        })? {
            let column = batch
                .column_by_name(scythe_core::schema::SORT_INDEX)
                .and_then(|c| c.as_any().downcast_ref::<arrow::array::UInt64Array>())
                .ok_or_else(|| Error::CorruptRun {
                    run: layout.run().to_string(),
                    reason: "final/failures.pq has no UInt64 sort_index column".to_owned(),
                })?;
            failed.extend(column.values().iter().copied());
        }
        failed.sort_unstable();
        failed.dedup();
        Ok(failed)
    }

    async fn execute_and_gather(&self, experiment: Arc<dyn Registered>, plan: RunPlan) -> Result<RunReport, Error> {
        let RunPlan { layout, specs, pending, recovery, generation, n_specs, committing, retried } = plan;
        let todo: u64 = pending.iter().map(|r| r.end - r.start).sum();
        let progress = Progress::new(todo, self.engine.progress);
        let specs = Arc::new(specs);
        let execution = execute(
            Arc::clone(&experiment),
            self.store.clone(),
            layout.clone(),
            Arc::clone(&specs),
            pending,
            recovery,
            generation,
            &self.engine,
            &progress,
            todo == n_specs,
        )
        .await;
        progress.finish();
        if let Some((committing, allocation)) = committing {
            // The run exists (specs.pq and manifest written) before anything is gathered; a run
            // that cannot be committed is removed, results and all.
            let committed = committing.await.unwrap_or_else(|error| {
                Err(Error::Io {
                    context: "writing specs.pq and the manifest".to_owned(),
                    source: std::io::Error::other(error.to_string()),
                })
            });
            if let Err(error) = committed {
                discard(&self.store, &allocation).await;
                return Err(error);
            }
        }
        let execution = execution?;
        let started = Instant::now();
        let summary =
            self.gather_and_summarize(experiment.schema(), &layout, n_specs, Some(&specs), execution.digest).await?;
        let failure_groups = if summary.failed > 0 {
            crate::summary::failure_groups(&self.store, &layout.final_table(FAILURES)).await?
        } else {
            Vec::new()
        };
        Ok(RunReport {
            run: layout.run().clone(),
            folder: self.store.uri(&layout.run_dir()),
            n_specs,
            succeeded: summary.succeeded,
            failed: summary.failed,
            missing: summary.missing,
            ran: execution.succeeded + execution.failed,
            run_time: execution.elapsed,
            gather_time: started.elapsed(),
            tables: summary.tables,
            failure_groups,
            retried,
            reused: execution.reused,
            explanation: execution.explanation,
            copied_from: execution.copied_from,
        })
    }

    /// Gathers, then writes `summary.yml` last if every spec has a result; with the `digest` of
    /// a run whose every spec was keyed, records it once every spec succeeded.
    async fn gather_and_summarize(
        &self,
        schema: &ExperimentSchema,
        layout: &RunLayout,
        n_specs: u64,
        specs: Option<&SpecRows>,
        digest: Option<crate::reuse::RunDigest>,
    ) -> Result<GatherSummary, Error> {
        let progress = Progress::gathering(n_specs, crate::parts::table_specs(schema).len(), self.engine.progress);
        let summary = gather(&self.store, schema, layout, n_specs, specs, &progress).await;
        progress.finish();
        let summary = summary?;
        if summary.missing == 0 {
            let document = Summary {
                experiment_id: layout.run().to_string(),
                n_specs,
                succeeded: summary.succeeded,
                failed: summary.failed,
                tables: summary.tables.clone(),
                gathered_at: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            };
            self.store.put(&layout.summary(), to_yaml("summary.yml", &document)?).await?;
        } else {
            // A partial gather must not look complete.
            self.store.delete(&layout.summary()).await?;
        }
        // A run gathered by an earlier version kept its summary in `final/`.
        self.store.delete(&layout.legacy_summary()).await?;
        if let Some(digest) = digest
            && summary.succeeded == n_specs
            && summary.failed == 0
        {
            // Only now is the run complete: an identical run may copy its final tables.
            crate::reuse::record_whole(&self.store, layout, &digest, n_specs).await?;
        }
        Ok(summary)
    }
}

/// The task writing a fresh allocation's `specs.pq` and manifest.
type Committing = tokio::task::JoinHandle<Result<(), Error>>;

/// What one execution runs.
struct RunPlan {
    layout: RunLayout,
    /// The run's specs, conformed, in sort-index order.
    specs: SpecRows,
    /// Sort-index ranges to run.
    pending: Vec<Range<u64>>,
    /// What the journal says about them: suspects of a process that died, crash counts.
    recovery: Recovery,
    /// 0 for the scatter, 1+ for resumes.
    generation: u32,
    n_specs: u64,
    /// Writing specs.pq and the manifest, for a fresh allocation (discarded if that fails).
    committing: Option<(Committing, Arc<Allocation>)>,
    /// Failed specs run again.
    retried: u64,
}

/// Waits for `commit` (specs.pq, then the manifest) started alongside the specs.
async fn join_commit(committing: tokio::task::JoinHandle<Result<(), Error>>) -> Result<(), Error> {
    committing
        .await
        .map_err(|source| Error::Join { context: "writing specs.pq and the manifest".to_owned(), source })?
}

/// Sort-index ranges no part covers yet, and the generation a resume writes.
async fn pending_ranges(
    store: &Store,
    layout: &RunLayout,
    within: Range<u64>,
) -> Result<(Vec<Range<u64>>, u32), Error> {
    if crate::reuse::copied_from(store, layout).await?.is_some() {
        // Final tables copied whole from an identical run: every spec has its result.
        return Ok((Vec::new(), 1));
    }
    let mut covered: Vec<Range<u64>> = Vec::new();
    let mut generation = 0;
    for table in [SCALARS, FAILURES] {
        for part in list_parts(store, layout, table).await? {
            let part = part.id;
            covered.push(part.start..part.end);
            generation = generation.max(part.generation + 1);
        }
    }
    Ok((uncovered(covered, within), generation))
}

/// Reads a run's `specs.pq` back as conformed input batches.
async fn read_specs(
    store: &Store,
    footer: &ParquetFooter,
    layout: &RunLayout,
    schema: &ExperimentSchema,
    rows: Range<u64>,
) -> Result<SpecRows, Error> {
    let (stream, first_row) = store.read_parquet_rows_of(footer, rows, 64 * 1024)?;
    let batches: Vec<RecordBatch> = stream.try_collect().await.map_err(|source| {
        Error::Store(scythe_storage::StoreError::Parquet { uri: store.uri(&layout.specs()), source })
    })?;
    let input_columns: Vec<usize> = match batches.first() {
        Some(batch) => {
            let names = schema.input().fields().iter().map(|f| f.name().as_str());
            let specs_schema = batch.schema();
            names
                .map(|name| {
                    specs_schema.index_of(name).map_err(|_| Error::CorruptRun {
                        run: layout.run().to_string(),
                        reason: format!("specs.pq lacks field `{name}`"),
                    })
                })
                .collect::<Result<_, _>>()?
        }
        None => Vec::new(),
    };
    let projected = batches
        .iter()
        .map(|batch| batch.project(&input_columns).map_err(Error::arrow("reading specs.pq")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(SpecRows::starting_at(first_row, projected))
}
