//! `scatter` on Hatchet as steps of the Rust API: allocate the run and trigger its root task
//! ([`Scythe::scatter_on_hatchet`]), then, if the caller waits, follow it to the end
//! ([`Scythe::wait_on_hatchet`]). The CLI only parses the options and prints what these return.

use std::sync::Arc;
use std::time::{Duration, Instant};

use scythe_core::VersionStrategy;
use scythe_core::layout::{RunId, RunLayout};
use scythe_hatchet::HatchetClient;

use super::{Plan, connect, trigger, wait};
use crate::api::Scythe;
use crate::error::Error;
use crate::progress::Progress;
use crate::registry::Registered;
use crate::specs::Specs;
use crate::summary::FailureGroup;

/// How a run on Hatchet is cut into tasks; `None` takes the default (for `batch`, the
/// experiment's own `batch` option first).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TaskShape {
    /// Specs per leaf task.
    pub(crate) batch: Option<u32>,
    /// Most children per scatter task.
    pub(crate) fanout: Option<u64>,
    /// Most leaves of the run at once.
    pub(crate) max_concurrency: Option<u32>,
    /// The engine priority of every task of the run.
    pub(crate) priority: Option<scythe_hatchet::Priority>,
}

/// A run allocated and triggered on the engine.
pub(crate) struct Triggered {
    /// The run.
    pub(crate) run: RunId,
    /// Its folder's URI.
    pub(crate) folder: String,
    /// The engine's id of the root task, or the identical earlier run whose final tables were
    /// copied instead (nothing was triggered).
    pub(crate) root: Root,
    /// The engine's version.
    pub(crate) engine_version: String,
    /// The task tree.
    pub(crate) plan: Plan,
    n_specs: u64,
    client: HatchetClient,
    /// The digest of the run's result keys, recorded once every spec succeeded.
    digest: Option<crate::reuse::RunDigest>,
}

/// What started a run on Hatchet.
pub(crate) enum Root {
    /// Its root task, by the engine's id.
    Task(scythe_hatchet::RunId),
    /// Nothing: the run is identical to this complete earlier run, whose final tables were
    /// copied and gathered in the scattering process, in the time given.
    CopiedFrom(RunId, Duration),
}

/// How a run on Hatchet ended; its root task gathered the final tables.
pub(crate) struct Finished {
    pub(crate) n_specs: u64,
    pub(crate) succeeded: u64,
    pub(crate) failed: u64,
    /// Specs without a result (a leaf lost for good is recorded as failures, so normally 0).
    pub(crate) missing: u64,
    /// From the trigger to the end of the root task (a copied run: from connecting to the
    /// engine to the end of the copy).
    pub(crate) elapsed: Duration,
    /// Specs whose results the leaves took from the result cache.
    pub(crate) reused: u64,
    /// The failures, grouped by message.
    pub(crate) failure_groups: Vec<FailureGroup>,
    /// Why the specs that ran were not reused, as the leaves reported it.
    pub(crate) explanation: crate::reuse::Explanation,
    /// The identical earlier run whose final tables were copied (no task ran).
    pub(crate) copied_from: Option<RunId>,
}

/// How often the progress bar of a waiting scatter counts the result parts.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);
/// After this long with no spec finished, a waiting scatter says what to check.
const IDLE_WARNING: Duration = Duration::from_secs(60);
/// How many times a root task the engine lost is triggered again.
const ROOT_RETRIGGERS: u32 = 3;

impl Scythe {
    /// Connects to the engine (first: a wrong token or address must not use up a version),
    /// allocates a run of `specs` and triggers its root task, cut as `shape` says.
    ///
    /// With the result cache on, the specs are keyed here first (for an experiment with file
    /// inputs only on a local store): a run identical to a complete earlier one (same specs in
    /// the same order, code and input file contents) copies that run's final tables and is
    /// gathered here, and nothing is triggered. A run that then succeeds whole records its
    /// digest in [`wait_on_hatchet`](Self::wait_on_hatchet).
    pub(crate) async fn scatter_on_hatchet(
        &self,
        experiment: Arc<dyn Registered>,
        specs: &Specs,
        version: VersionStrategy,
        shape: TaskShape,
    ) -> Result<Triggered, Error> {
        let started = Instant::now();
        let (client, engine_version) = connect().await?;
        let batch = shape.batch.or(experiment.config().batch);
        let (run, rows) = self.allocate_with_specs(Arc::clone(&experiment), specs, version, "hatchet").await?;
        let store = self.store();
        let layout = RunLayout::new(store.prefix(), run.clone());
        let n_specs = rows.len();
        let plan = Plan::new(n_specs, batch, shape.fanout, shape.max_concurrency)
            .with_priority(shape.priority)
            .with_no_cache(!self.reuses_results());
        let folder = store.uri(&layout.run_dir());
        let mut digest = None;
        // Keying hashes the input files: here only if they are at hand (a local store), not
        // downloaded from a bucket to the scattering machine; the leaves key them anyway.
        let has_files =
            experiment.schema().input().columns_of(scythe_core::schema::ColumnKind::FileRef).next().is_some();
        if self.reuses_results() && (!has_files || store.location().local_root().is_some()) {
            let settings = self.engine_settings();
            let cache = crate::cache::FileCache::new(settings.cache_dir.clone(), settings.cache_max_bytes);
            let rows = Arc::new(rows);
            let (found, copied) =
                crate::reuse::copy_if_identical(experiment.as_ref(), store, &layout, &rows, n_specs, &cache).await?;
            if let Some(source) = copied {
                self.gather_here(experiment.schema(), &layout, n_specs, &rows).await?;
                let root = Root::CopiedFrom(source, started.elapsed());
                return Ok(Triggered { folder, run, root, engine_version, plan, n_specs, client, digest: None });
            }
            digest = found;
        }
        let root = trigger(&client, &run, &plan).await?;
        // `cancel` reads the root from here (and finds the rest of the run's tasks by metadata).
        crate::cancel::record_engine_run(store, &layout, root.as_str()).await?;
        let root = Root::Task(root);
        Ok(Triggered { folder, run, root, engine_version, plan, n_specs, client, digest })
    }

    /// Waits for the root task of `triggered` to end, counting the result parts for a progress
    /// bar if `show_progress`. A run cancelled meanwhile (`cancel` from another shell) is
    /// [`Error::RunCancelled`], not a failure.
    ///
    /// A root the engine accepted and then lost (it still has no run of that id 10 minutes after
    /// its first "not found") is cancelled, should it turn up after all, and triggered again, up
    /// to [`ROOT_RETRIGGERS`] times, unless the run was cancelled: the root works on the run's
    /// folder and every write is idempotent.
    pub(crate) async fn wait_on_hatchet(&self, triggered: Triggered, show_progress: bool) -> Result<Finished, Error> {
        let Triggered { run, root, n_specs, client, plan, digest, .. } = triggered;
        let store = self.store();
        let layout = RunLayout::new(store.prefix(), run.clone());
        let started = Instant::now();
        let mut root = match root {
            Root::Task(root) => root,
            Root::CopiedFrom(source, took) => {
                return Ok(Finished {
                    n_specs,
                    succeeded: n_specs,
                    failed: 0,
                    missing: 0,
                    elapsed: took,
                    reused: n_specs,
                    failure_groups: Vec::new(),
                    explanation: crate::reuse::Explanation::default(),
                    copied_from: Some(source),
                });
            }
        };
        let progress = Progress::new(n_specs, show_progress);
        let mut retriggers = 0;
        // Once: a run with nothing done a while after the trigger most often has no worker.
        let mut idle_check = Some(Box::pin(tokio::time::sleep(IDLE_WARNING)));
        let output = loop {
            let waiting = wait(&client, root.clone());
            tokio::pin!(waiting);
            let output = loop {
                tokio::select! {
                    output = &mut waiting => break output,
                    _ = tokio::time::sleep(PROGRESS_EVERY), if show_progress => {
                        if let Ok(done) = crate::catalog::progress(store, &run).await {
                            progress.set(done, 0);
                        }
                    }
                    () = async { if let Some(check) = idle_check.as_mut() { check.await } }, if idle_check.is_some() => {
                        idle_check = None;
                        if crate::catalog::progress(store, &run).await.is_ok_and(|done| done == 0) {
                            tracing::warn!(
                                run = %run,
                                namespace = %std::env::var("HATCHET_CLIENT_NAMESPACE").unwrap_or_default(),
                                "no spec of the run has finished after {} s: is a `worker` of this binary running \
                                 against this engine, with the same HATCHET_CLIENT_NAMESPACE and storage? \
                                 (`status {run}` shows where its tasks are)",
                                IDLE_WARNING.as_secs()
                            );
                        }
                    }
                }
            };
            match output {
                Err(error)
                    if is_lost(&error)
                        && retriggers < ROOT_RETRIGGERS
                        && !crate::cancel::is_cancelled(store, &layout).await? =>
                {
                    retriggers += 1;
                    tracing::warn!(%error, run = %run, "triggering the run's root task again");
                    // Should the lost root turn up after all, it must not run alongside the new one.
                    if let Err(error) = client.cancel_runs(&[root.clone()]).await {
                        tracing::debug!(%error, "could not cancel the lost root task");
                    }
                    root = trigger(&client, &run, &plan).await?;
                    crate::cancel::record_engine_run(store, &layout, root.as_str()).await?;
                }
                output => break output,
            }
        };
        progress.finish();
        let output = match output {
            Err(_) if crate::cancel::is_cancelled(store, &layout).await? => {
                return Err(Error::RunCancelled { run: run.to_string() });
            }
            output => output?,
        };
        let failure_groups = if output.failed > 0 {
            crate::summary::failure_groups(store, &layout.final_table(crate::parts::FAILURES)).await?
        } else {
            Vec::new()
        };
        if let Some(digest) = digest
            && output.succeeded == n_specs
            && output.failed == 0
            && output.missing == 0
        {
            // The root has gathered and written the summary: an identical run may copy it.
            crate::reuse::record_whole(store, &layout, &digest, n_specs).await?;
        }
        Ok(Finished {
            n_specs,
            succeeded: output.succeeded,
            failed: output.failed,
            missing: output.missing,
            elapsed: started.elapsed(),
            reused: crate::provenance::count_reused(store, &layout).await?,
            failure_groups,
            explanation: output.explanation,
            copied_from: None,
        })
    }
}

/// Whether `error` says the engine lost a run it had accepted.
fn is_lost(error: &Error) -> bool {
    match error {
        Error::Hatchet(source) => {
            matches!(
                source.downcast_ref::<scythe_hatchet::HatchetError>(),
                Some(scythe_hatchet::HatchetError::RunLost { .. })
            )
        }
        _ => false,
    }
}
