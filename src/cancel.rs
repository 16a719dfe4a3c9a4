//! Cancelling a run: `cancelled.yml` in the run folder says it is cancelled, `resume` removes it.
//!
//! The marker is written before the engine is asked to cancel anything, so that a Hatchet scatter
//! node whose children are cancelled under it finds the marker and does not record their specs as
//! failures: a cancelled run keeps exactly the results it had, and `resume` runs the rest.
//! An embedded run still being run by a live process is refused (the lease names the process).

use chrono::{DateTime, Utc};
use scythe_core::layout::{RunId, RunLayout};
use scythe_storage::Store;
use serde::{Deserialize, Serialize};

use crate::catalog::{self, RunState};
use crate::error::Error;
use crate::manifest::{Manifest, from_yaml, to_yaml};

/// `cancelled.yml`: when the run was cancelled, and by whom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Cancelled {
    /// When `cancel` marked the run.
    pub(crate) cancelled_at: DateTime<Utc>,
    /// The host of the process that cancelled it.
    pub(crate) host: String,
    /// That process's id.
    pub(crate) pid: u32,
}

/// `engine_runs.yml`: the root tasks the engine runs for a run, so `cancel` can name them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct EngineRuns {
    /// Hatchet run ids of the root scatter tasks, oldest first.
    pub(crate) roots: Vec<String>,
}

/// What [`Scythe::cancel`](crate::Scythe::cancel) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelReport {
    /// The run.
    pub run: RunId,
    /// When it was marked cancelled (by this call or an earlier one).
    pub cancelled_at: DateTime<Utc>,
    /// Whether it was already cancelled (cancelling again is harmless).
    pub already: bool,
    /// How many engine tasks the engine cancelled (Hatchet runs; `None` on the embedded engine).
    pub engine_tasks: Option<usize>,
    /// Specs that have a result, kept for `resume`.
    pub kept: u64,
    /// The run's specs.
    pub n_specs: u64,
}

/// Cancels `run`: [`mark`]s it, then, for a Hatchet run, cancels its tasks on the engine.
pub(crate) async fn cancel(store: &Store, run: &RunId) -> Result<CancelReport, Error> {
    let marked = mark(store, run).await?;
    let engine_tasks = if marked.manifest.engine == "hatchet" {
        let layout = RunLayout::new(store.prefix(), run.clone());
        let roots = engine_runs(store, &layout).await?.roots;
        // Every task of the run was created after its allocation (a minute of slack for skew).
        let since = chrono::DateTime::parse_from_rfc3339(&marked.manifest.created_at)
            .map(|created| std::time::SystemTime::from(created) - std::time::Duration::from_secs(60))
            .unwrap_or(std::time::UNIX_EPOCH);
        Some(cancel_on_hatchet(run, &roots, since).await?)
    } else {
        None
    };
    Ok(CancelReport {
        run: run.clone(),
        cancelled_at: marked.cancelled.cancelled_at,
        already: marked.already,
        engine_tasks,
        kept: catalog::progress(store, run).await?,
        n_specs: marked.manifest.n_specs,
    })
}

/// Cancels the run's tasks on the Hatchet engine of the `HATCHET_CLIENT_*` settings.
#[cfg(feature = "hatchet")]
async fn cancel_on_hatchet(run: &RunId, roots: &[String], since: std::time::SystemTime) -> Result<usize, Error> {
    let engine_error = |source: Error| Error::CancelEngine { run: run.to_string(), source: Box::new(source) };
    let (client, _) = crate::hatchet::connect().await.map_err(engine_error)?;
    crate::hatchet::cancel(&client, run, roots, since).await.map_err(engine_error)
}

/// Without the `hatchet` feature the run is marked cancelled, and its engine tasks are left.
#[cfg(not(feature = "hatchet"))]
async fn cancel_on_hatchet(_: &RunId, _: &[String], _: std::time::SystemTime) -> Result<usize, Error> {
    Err(Error::NotBuiltIn { feature: "hatchet", what: "cancelling the tasks of a run on a Hatchet engine" })
}

/// What [`mark`] found and did.
#[derive(Debug, Clone)]
pub(crate) struct Marked {
    /// The run's manifest (its engine and creation time).
    pub(crate) manifest: Manifest,
    /// Whether the run was already cancelled (the marker is left as it was).
    pub(crate) already: bool,
    /// The marker now in the run folder.
    pub(crate) cancelled: Cancelled,
}

/// Marks `run` cancelled, after checking it can be: refused when it is complete, or when a live
/// process holds its lease (an embedded run in progress, or a `resume`/`work` of any run).
pub(crate) async fn mark(store: &Store, run: &RunId) -> Result<Marked, Error> {
    let layout = RunLayout::new(store.prefix(), run.clone());
    let manifest = catalog::read_manifest(store, &layout).await?.ok_or_else(|| Error::RunNotFound(run.to_string()))?;
    let info = catalog::run_info(store, run.clone()).await?;
    if info.state == RunState::Complete {
        return Err(Error::CancelComplete { run: run.to_string() });
    }
    if let Some(holder) = crate::lease::read(store, &crate::lease::key(&layout.run_dir())).await?
        && holder.is_live(Utc::now())
    {
        return Err(Error::RunInProgress { run: run.to_string(), host: holder.host, pid: holder.pid });
    }
    if let Some(cancelled) = read(store, &layout).await? {
        return Ok(Marked { manifest, already: true, cancelled });
    }
    let mine = crate::lease::Lease::mine();
    let cancelled = Cancelled { cancelled_at: Utc::now(), host: mine.host, pid: mine.pid };
    store.put(&layout.cancelled(), to_yaml("cancelled.yml", &cancelled)?).await?;
    Ok(Marked { manifest, already: false, cancelled })
}

/// The run's cancellation marker, if it is cancelled.
pub(crate) async fn read(store: &Store, layout: &RunLayout) -> Result<Option<Cancelled>, Error> {
    match store.get(&layout.cancelled()).await {
        Ok(bytes) => Ok(Some(from_yaml("cancelled.yml", &bytes)?)),
        Err(scythe_storage::StoreError::NotFound { .. }) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// Whether the run is marked cancelled.
pub(crate) async fn is_cancelled(store: &Store, layout: &RunLayout) -> Result<bool, Error> {
    Ok(store.exists(&layout.cancelled()).await?)
}

/// Removes the marker (`resume`, holding the run's lease); says whether there was one.
pub(crate) async fn clear(store: &Store, layout: &RunLayout) -> Result<bool, Error> {
    if !is_cancelled(store, layout).await? {
        return Ok(false);
    }
    store.delete(&layout.cancelled()).await?;
    Ok(true)
}

/// The root tasks recorded for the run (none for an embedded run).
pub(crate) async fn engine_runs(store: &Store, layout: &RunLayout) -> Result<EngineRuns, Error> {
    match store.get(&layout.engine_runs()).await {
        Ok(bytes) => from_yaml("engine_runs.yml", &bytes),
        Err(scythe_storage::StoreError::NotFound { .. }) => Ok(EngineRuns::default()),
        Err(error) => Err(error.into()),
    }
}

/// Adds a root task the engine runs for the run to `engine_runs.yml`.
#[cfg_attr(not(feature = "hatchet"), allow(dead_code, reason = "only the Hatchet commands write it"))]
pub(crate) async fn record_engine_run(store: &Store, layout: &RunLayout, root: &str) -> Result<(), Error> {
    let mut runs = engine_runs(store, layout).await?;
    runs.roots.push(root.to_owned());
    store.put(&layout.engine_runs(), to_yaml("engine_runs.yml", &runs)?).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_round_trip() {
        let cancelled = Cancelled { cancelled_at: Utc::now(), host: "h".into(), pid: 7 };
        let text = to_yaml("cancelled.yml", &cancelled).unwrap();
        assert_eq!(from_yaml::<Cancelled>("cancelled.yml", text.as_bytes()).unwrap(), cancelled);
        let runs = EngineRuns { roots: vec!["3f1c0c36-0000-4000-8000-000000000001".into()] };
        let text = to_yaml("engine_runs.yml", &runs).unwrap();
        assert_eq!(from_yaml::<EngineRuns>("engine_runs.yml", text.as_bytes()).unwrap(), runs);
    }
}
