//! The guard of `--version keep`: a new run joins an existing version only if its schema
//! has no breaking change (see [`SchemaChange::breaking`](super::SchemaChange)) from the
//! version's latest run, unless the caller allows it (`--force`), which logs a warning.

use scythe_core::Version;
use scythe_core::layout::RunLayout;
use scythe_core::schema::ExperimentSchema;
use scythe_storage::Store;

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

/// Checks a run of `schema` joining the existing `version` against the version's latest run.
pub(crate) async fn check(
    store: &Store,
    schema: &ExperimentSchema,
    version: Version,
    policy: OnBreakingChange,
) -> Result<(), Error> {
    let runs = crate::catalog::runs(store, schema.name(), version).await?;
    let Some(latest) = runs.into_iter().rev().find(|run| run.state.is_committed()) else { return Ok(()) };
    let before = super::read_io_spec(store, &RunLayout::new(store.prefix(), latest.id.clone())).await?;
    let breaking: Vec<String> = super::schema::compare(&before, &schema.io_spec())
        .into_iter()
        .filter(|change| change.breaking)
        .map(|change| format!("{} {change}", change.role).trim_end_matches(BREAKING_MARK).to_owned())
        .collect();
    if breaking.is_empty() {
        return Ok(());
    }
    match policy {
        OnBreakingChange::Refuse => Err(Error::BreakingSchemaChange {
            version: format!("{}/{version}", schema.name()),
            run: latest.id.to_string(),
            changes: breaking.join("; "),
        }),
        OnBreakingChange::Warn => {
            for change in &breaking {
                tracing::warn!(
                    "--force: run joins {}/{version} despite a breaking schema change since {}: {change}",
                    schema.name(),
                    latest.id
                );
            }
            Ok(())
        }
    }
}
