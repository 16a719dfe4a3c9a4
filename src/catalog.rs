//! What runs a store holds: experiments, versions, runs and their state.

use scythe_core::Version;
use scythe_core::layout::{RunId, RunLayout};
use scythe_storage::Store;

use crate::error::Error;
use crate::manifest::{Manifest, Summary, from_yaml};

/// How far a run got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    /// The folder is reserved but allocation did not finish (no `manifest.yml`).
    Allocating,
    /// Allocated; results are still coming in or the run was interrupted (no summary yet).
    Running,
    /// Gathered: `final/` is complete.
    Complete,
}

impl std::fmt::Display for RunState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RunState::Allocating => "allocating",
            RunState::Running => "running",
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
    names.sort();
    Ok(names)
}

/// The versions of `experiment`, oldest first (folders that are not versions are skipped).
pub async fn versions(store: &Store, experiment: &str) -> Result<Vec<Version>, Error> {
    let mut versions = crate::allocate::existing_versions(store, experiment).await?;
    versions.sort();
    Ok(versions)
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
        return Ok(RunInfo { id, state: RunState::Allocating, n_specs: 0, succeeded: None, failed: None });
    };
    let summary = match store.head(&layout.summary()).await? {
        Some(_) => Some(from_yaml::<Summary>("summary.yml", &store.get(&layout.summary()).await?)?),
        None => None,
    };
    Ok(RunInfo {
        id,
        state: if summary.is_some() { RunState::Complete } else { RunState::Running },
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
            .find(|run| run.state != RunState::Allocating)
            .map(|run| run.id)
            .ok_or_else(|| Error::RunNotFound(text.to_owned()));
    }
    let id: RunId = trimmed.parse()?;
    let layout = RunLayout::new(store.prefix(), id.clone());
    match read_manifest(store, &layout).await? {
        Some(_) => Ok(id),
        None => Err(Error::RunNotFound(text.to_owned())),
    }
}
