//! What runs a store holds: experiments, versions, runs and their state; downloading a run's
//! final tables.

use std::path::{Path, PathBuf};

use scythe_core::Version;
use scythe_core::layout::{RunId, RunLayout, VERSION_CLAIM};
use scythe_storage::Store;

use crate::error::Error;
use crate::lease;
use crate::manifest::{Manifest, Summary, from_yaml};

/// How far a run got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    /// The folder is reserved and its allocating process is alive (no `manifest.yml` yet).
    Allocating,
    /// The folder was reserved by an allocation that died before its manifest: not a run; the
    /// next allocation of its version removes it.
    Abandoned,
    /// Allocated, not gathered, and a live process holds its lease (results are coming in),
    /// or it runs on Hatchet.
    Running,
    /// Allocated, not gathered, and no process works on it: `resume` finishes it.
    Interrupted,
    /// Stopped by `cancel` (`cancelled.yml`), with the results it had: `resume` continues it.
    Cancelled,
    /// Gathered: `final/` is complete.
    Complete,
}

impl RunState {
    /// Whether the folder is a run (its manifest is written).
    pub fn is_committed(self) -> bool {
        matches!(self, RunState::Running | RunState::Interrupted | RunState::Cancelled | RunState::Complete)
    }
}

impl std::fmt::Display for RunState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RunState::Allocating => "allocating",
            RunState::Abandoned => "abandoned",
            RunState::Running => "running",
            RunState::Interrupted => "interrupted",
            RunState::Cancelled => "cancelled",
            RunState::Complete => "complete",
        })
    }
}

/// One run, as listed by [`runs`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInfo {
    /// The run's id.
    pub id: RunId,
    /// How far it got.
    pub state: RunState,
    /// Its specs (0 while allocating).
    pub n_specs: u64,
    /// Specs that succeeded, once gathered.
    pub succeeded: Option<u64>,
    /// Specs that failed, once gathered.
    pub failed: Option<u64>,
}

/// The experiments with runs in `store`.
pub async fn experiments(store: &Store) -> Result<Vec<String>, Error> {
    let mut names = store.list_dirs(store.prefix()).await?;
    // `.scythe-cache` (the result cache's index) and other hidden folders hold no runs.
    names.retain(|name| !name.starts_with('.'));
    names.sort();
    Ok(names)
}

/// The versions of `experiment`, oldest first (folders that are not versions, and versions
/// that hold nothing but abandoned allocations, are skipped).
pub async fn versions(store: &Store, experiment: &str) -> Result<Vec<Version>, Error> {
    let dir = RunLayout::experiment_dir(store.prefix(), experiment);
    let mut versions = Vec::new();
    for version in store.list_dirs(&dir).await?.iter().filter_map(|name| name.parse::<Version>().ok()) {
        if !version_abandoned(store, experiment, version).await? {
            versions.push(version);
        }
    }
    versions.sort();
    Ok(versions)
}

/// Whether a version folder holds no run and no live allocation: what an allocation that
/// died before its manifest leaves behind.
pub(crate) async fn version_abandoned(store: &Store, experiment: &str, version: Version) -> Result<bool, Error> {
    let dir = RunLayout::version_dir(store.prefix(), experiment, version);
    for name in store.list_dirs(&dir).await? {
        let Ok(id) = format!("{experiment}/{version}/{name}").parse::<RunId>() else { continue };
        let layout = RunLayout::new(store.prefix(), id);
        if store.exists(&layout.manifest()).await? || allocation_live(store, &layout).await? {
            return Ok(false);
        }
    }
    Ok(!lease::is_live(store, &format!("{dir}/{VERSION_CLAIM}")).await?)
}

/// Whether a live process still allocates the run folder of `layout` (its lease, or, before
/// the lease is first written, its claim).
async fn allocation_live(store: &Store, layout: &RunLayout) -> Result<bool, Error> {
    Ok(lease::is_live(store, &lease::key(&layout.run_dir())).await? || lease::is_live(store, &layout.claim()).await?)
}

/// The runs of one version of `experiment`, oldest first.
pub async fn runs(store: &Store, experiment: &str, version: Version) -> Result<Vec<RunInfo>, Error> {
    let dir = RunLayout::version_dir(store.prefix(), experiment, version);
    let mut ids: Vec<RunId> = store
        .list_dirs(&dir)
        .await?
        .iter()
        .filter_map(|name| format!("{experiment}/{version}/{name}").parse().ok())
        .collect();
    ids.sort();
    let mut infos = Vec::with_capacity(ids.len());
    for id in ids {
        infos.push(run_info(store, id).await?);
    }
    Ok(infos)
}

/// The state of one run.
pub async fn run_info(store: &Store, id: RunId) -> Result<RunInfo, Error> {
    let layout = RunLayout::new(store.prefix(), id.clone());
    let Some(manifest) = read_manifest(store, &layout).await? else {
        let state = if allocation_live(store, &layout).await? { RunState::Allocating } else { RunState::Abandoned };
        return Ok(RunInfo { id, state, n_specs: 0, succeeded: None, failed: None });
    };
    let mut summary = None;
    for key in [layout.summary(), layout.legacy_summary()] {
        if store.head(&key).await?.is_some() {
            summary = Some(from_yaml::<Summary>("summary.yml", &store.get(&key).await?)?);
            break;
        }
    }
    let state = if summary.is_some() {
        RunState::Complete
    } else if lease::is_live(store, &lease::key(&layout.run_dir())).await? {
        RunState::Running
    } else if crate::cancel::is_cancelled(store, &layout).await? {
        RunState::Cancelled
    } else if manifest.engine == "hatchet" {
        RunState::Running
    } else {
        RunState::Interrupted
    };
    Ok(RunInfo {
        id,
        state,
        n_specs: manifest.n_specs,
        succeeded: summary.as_ref().map(|s| s.succeeded),
        failed: summary.as_ref().map(|s| s.failed),
    })
}

/// How many specs of a run already have a result (success or failure), from the names of its
/// result parts (nothing is read but listings).
pub async fn progress(store: &Store, id: &RunId) -> Result<u64, Error> {
    let layout = RunLayout::new(store.prefix(), id.clone());
    let mut ranges = Vec::new();
    for table in [crate::parts::SCALARS, crate::parts::FAILURES] {
        ranges.extend(
            crate::gather::list_parts(store, &layout, table).await?.into_iter().map(|part| part.id.start..part.id.end),
        );
    }
    ranges.sort_by_key(|r| (r.start, r.end));
    let (mut covered, mut next) = (0, 0);
    for range in ranges {
        let start = range.start.max(next);
        if range.end > start {
            covered += range.end - start;
            next = range.end;
        }
    }
    Ok(covered)
}

/// Reads a run's manifest, or `None` if allocation has not written it.
pub(crate) async fn read_manifest(store: &Store, layout: &RunLayout) -> Result<Option<Manifest>, Error> {
    match store.get(&layout.manifest()).await {
        Ok(bytes) => Ok(Some(from_yaml("manifest.yml", &bytes)?)),
        Err(scythe_storage::StoreError::NotFound { .. }) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// Resolves `<experiment>/<version>/<timestamp>`, `<experiment>/<version>/latest` or
/// `<experiment>/latest` to an allocated run.
pub async fn find_run(store: &Store, text: &str) -> Result<RunId, Error> {
    let trimmed = text.trim_matches('/');
    if let Some(rest) = trimmed.strip_suffix("/latest") {
        let (experiment, version) = match rest.rsplit_once('/') {
            Some((experiment, version)) if version.parse::<Version>().is_ok() => {
                (experiment.to_owned(), version.parse::<Version>().ok())
            }
            _ => (rest.to_owned(), None),
        };
        let version = match version {
            Some(version) => version,
            None => *versions(store, &experiment).await?.last().ok_or_else(|| Error::RunNotFound(text.to_owned()))?,
        };
        let runs = runs(store, &experiment, version).await?;
        return runs
            .into_iter()
            .rev()
            .find(|run| run.state.is_committed())
            .map(|run| run.id)
            .ok_or_else(|| Error::RunNotFound(text.to_owned()));
    }
    let id: RunId = trimmed.parse()?;
    let layout = RunLayout::new(store.prefix(), id.clone());
    match read_manifest(store, &layout).await? {
        Some(_) => Ok(id),
        None => match run_info(store, id).await?.state {
            RunState::Allocating => Err(Error::Settings(format!(
                "run `{text}` is still being allocated (no manifest.yml yet); try again in a moment"
            ))),
            _ if store.list(&layout.run_dir()).await?.is_empty() => Err(Error::RunNotFound(text.to_owned())),
            _ => Err(Error::Settings(format!(
                "run `{text}` was abandoned: its allocation ended before writing manifest.yml, so it holds no \
                 run; scatter the specs again (the next allocation of its version removes the folder)"
            ))),
        },
    }
}

/// Downloads the final tables of run `id` into `out/<run id>/`; returns the files written.
pub async fn download_results(store: &Store, id: &RunId, out: &Path) -> Result<Vec<PathBuf>, Error> {
    let layout = RunLayout::new(store.prefix(), id.clone());
    let folder = out.join(id.to_string());
    let finals = store.list(&layout.final_dir()).await?;
    if finals.is_empty() {
        return Err(Error::NoFinalTables { run: id.to_string() });
    }
    let mut written = Vec::with_capacity(finals.len());
    for meta in finals {
        let target = folder.join(meta.location.filename().unwrap_or_default());
        store.download_file(meta.location.as_ref(), &target).await?;
        written.push(target);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn downloads_the_final_tables_or_says_what_to_run() {
        let store = Store::memory();
        let id: RunId = "sim/v1.0.0/2026-12-03_12-00-00".parse().expect("run id");
        let out = tempfile::tempdir().expect("temporary folder");
        let err = download_results(&store, &id, out.path()).await.unwrap_err();
        assert!(matches!(&err, Error::NoFinalTables { .. }), "{err}");
        assert!(err.to_string().contains("resume sim/v1.0.0/2026-12-03_12-00-00"), "{err}");

        let layout = RunLayout::new(store.prefix(), id.clone());
        store.put(&layout.final_table("scalars"), &b"PAR1"[..]).await.expect("put");
        let files = download_results(&store, &id, out.path()).await.expect("download");
        let expected = out.path().join(id.to_string()).join("scalars.pq");
        assert_eq!(files, vec![expected.clone()]);
        assert_eq!(std::fs::read(expected).expect("downloaded file"), b"PAR1");
    }
}
