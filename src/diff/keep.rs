//! The guard of `--version keep`: a new run joins an existing version only if its schema
//! has no breaking change (see [`SchemaChange::breaking`](super::SchemaChange)) from the
//! version's latest run, unless the caller allows it (`--force`), which logs a warning.
//!
//! Two allocations into one version at the same time are checked against each other too:
//! [`check`] remembers the runs it saw, and [`recheck`], once the new run's schema is written
//! to its folder, compares it with the schema of every run that appeared since. Each writes
//! its own schema before it looks for the other's, so of two concurrent allocations whose
//! schemas break one another (in either direction: neither came first) at least one sees the
//! other and is refused.

use std::collections::BTreeSet;

use scythe_core::Version;
use scythe_core::layout::{RunId, RunLayout};
use scythe_core::schema::ExperimentSchema;
use scythe_storage::{Store, StoreError};

use crate::catalog::RunState;

use super::schema::BREAKING_MARK;
use crate::error::Error;

/// What an allocation into an existing version does when the schema broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum OnBreakingChange {
    /// Refuse with an error that lists the changes (the default).
    #[default]
    Refuse,
    /// Go on, logging each change as a warning (`--force`).
    Warn,
}

/// The committed runs of a version that [`check`] saw, for [`recheck`].
#[derive(Debug, Default)]
pub(crate) struct Seen(BTreeSet<RunId>);

/// Checks a run of `schema` joining the existing `version` against the version's latest run.
pub(crate) async fn check(
    store: &Store,
    schema: &ExperimentSchema,
    version: Version,
    policy: OnBreakingChange,
) -> Result<Seen, Error> {
    let runs = crate::catalog::runs(store, schema.name(), version).await?;
    let seen = Seen(runs.iter().filter(|run| run.state.is_committed()).map(|run| run.id.clone()).collect());
    let Some(latest) = runs.into_iter().rev().find(|run| run.state.is_committed()) else { return Ok(seen) };
    let before = super::read_io_spec(store, &RunLayout::new(store.prefix(), latest.id.clone())).await?;
    match breaking_changes(&before, schema) {
        Some(changes) => refuse_or_warn(schema, version, policy, &latest.id, changes).map(|()| seen),
        None => Ok(seen),
    }
}

/// Checks the run `ours` of `schema`, whose schema is written to its folder, against every
/// other live run of `version` that [`check`] had not seen committed: allocations at the same
/// time, refused if either schema breaks the other. A run whose schema is not written yet is
/// skipped (it sees ours when it rechecks), as is an abandoned allocation.
pub(crate) async fn recheck(
    store: &Store,
    schema: &ExperimentSchema,
    version: Version,
    policy: OnBreakingChange,
    seen: &Seen,
    ours: &RunId,
) -> Result<(), Error> {
    let runs = crate::catalog::runs(store, schema.name(), version).await?;
    let others = runs.into_iter().filter(|run| {
        &run.id != ours && !seen.0.contains(&run.id) && (run.state.is_committed() || run.state == RunState::Allocating)
    });
    for other in others.map(|run| run.id) {
        let before = match super::read_io_spec(store, &RunLayout::new(store.prefix(), other.clone())).await {
            Ok(before) => before,
            Err(super::DiffError::Store(StoreError::NotFound { .. })) => continue,
            Err(error) => return Err(error.into()),
        };
        // Neither came first: a break in either direction conflicts.
        let backwards = || breaking_changes_between(&schema.io_spec(), &before);
        if let Some(changes) = breaking_changes(&before, schema).or_else(backwards) {
            match policy {
                OnBreakingChange::Refuse => {
                    return Err(Error::ConcurrentBreakingSchema {
                        version: format!("{}/{version}", schema.name()),
                        run: other.to_string(),
                        changes: changes.join("; "),
                    });
                }
                // `--force`: a warning for every conflicting run.
                OnBreakingChange::Warn => refuse_or_warn(schema, version, policy, &other, changes)?,
            }
        }
    }
    Ok(())
}

/// The breaking changes from the schema `before` (a run's `experiment_io_spec.yml`) to
/// `schema`, if any.
fn breaking_changes(before: &serde_json::Value, schema: &ExperimentSchema) -> Option<Vec<String>> {
    breaking_changes_between(before, &schema.io_spec())
}

fn breaking_changes_between(before: &serde_json::Value, after: &serde_json::Value) -> Option<Vec<String>> {
    let breaking: Vec<String> = super::schema::compare(before, after)
        .into_iter()
        .filter(|change| change.breaking)
        .map(|change| format!("{} {change}", change.role).trim_end_matches(BREAKING_MARK).to_owned())
        .collect();
    (!breaking.is_empty()).then_some(breaking)
}

fn refuse_or_warn(
    schema: &ExperimentSchema,
    version: Version,
    policy: OnBreakingChange,
    latest: &RunId,
    breaking: Vec<String>,
) -> Result<(), Error> {
    match policy {
        OnBreakingChange::Refuse => Err(Error::BreakingSchemaChange {
            version: format!("{}/{version}", schema.name()),
            run: latest.to_string(),
            changes: breaking.join("; "),
        }),
        OnBreakingChange::Warn => {
            for change in &breaking {
                tracing::warn!(
                    "--force: run joins {}/{version} despite a breaking schema change since {}: {change}",
                    schema.name(),
                    latest
                );
            }
            Ok(())
        }
    }
}
