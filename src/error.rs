//! [`Error`]: everything that can stop a Scythe command.

use scythe_core::layout::RunIdError;
use scythe_core::schema::SchemaError;
use scythe_core::validate::SpecError;
use scythe_storage::StoreError;

use crate::cache::CacheError;

/// A Scythe operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The specs do not match the experiment's input.
    #[error("{source} (in {origin})")]
    Specs {
        /// Where the specs came from.
        origin: String,
        /// What is wrong with them.
        #[source]
        source: SpecError,
    },
    /// A specs file could not be read.
    #[error("cannot read specs file `{path}`: {reason}")]
    SpecsFile {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// Input files referenced by the specs are unusable.
    #[error("input file problem: {0}")]
    Artifacts(String),
    /// The experiment's types cannot be turned into tables.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A remote input file could not be fetched into the worker cache.
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// No experiment of that name is registered.
    #[error("unknown experiment `{name}`; registered: {registered}")]
    UnknownExperiment {
        /// The requested name.
        name: String,
        /// What is registered.
        registered: String,
    },
    /// Two registered experiments share a name (the second would be unreachable).
    #[error(
        "two experiments are registered under the name `{0}`; give one another name with \
         `#[scythe::experiment(name = \"…\")]` or register it once"
    )]
    DuplicateExperiment(String),
    /// A run id could not be parsed.
    #[error(transparent)]
    RunId(#[from] RunIdError),
    /// A run does not exist.
    #[error("run `{0}` not found (no manifest.yml)")]
    RunNotFound(String),
    /// A run has no final tables to download or read yet.
    #[error("run `{run}` has no final tables yet; run `resume {run}` (or `gather {run}` if every spec has a result)")]
    NoFinalTables {
        /// The run.
        run: String,
    },
    /// `cancel` of a run that is complete.
    #[error(
        "run `{run}` is complete (it has summary.yml): there is nothing to cancel; `results {run}` downloads its \
         final tables"
    )]
    CancelComplete {
        /// The run.
        run: String,
    },
    /// `cancel` of a run that a live process is running (its lease says which).
    #[error(
        "run `{run}` is being run by process {pid} on host `{host}`; stop that process (Ctrl-C, or `kill {pid}` \
         on {host}) and cancel again, or let it finish"
    )]
    RunInProgress {
        /// The run.
        run: String,
        /// The host of the process holding the run's lease.
        host: String,
        /// Its process id.
        pid: u32,
    },
    /// `cancel` marked the run cancelled but the engine did not cancel all its runs.
    #[error(
        "run `{run}` is marked cancelled, but its engine runs could not all be cancelled: {source}; run \
         `cancel {run}` again (it is safe to repeat)"
    )]
    CancelEngine {
        /// The run.
        run: String,
        /// The engine's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Work on a run stopped because it was cancelled.
    #[error("run `{run}` was cancelled; `resume {run}` continues it")]
    RunCancelled {
        /// The run.
        run: String,
    },
    /// A run's files are not what Scythe wrote.
    #[error("run `{run}` is damaged: {reason}")]
    CorruptRun {
        /// The run.
        run: String,
        /// What is wrong.
        reason: String,
    },
    /// Version allocation kept colliding with concurrent allocations.
    #[error("could not claim a new version of `{0}`: other allocations keep taking them; try again")]
    VersionContention(String),
    /// Arrow could not build or transform a table.
    #[error("table error in {context}: {source}")]
    Arrow {
        /// What was being done.
        context: String,
        /// The Arrow error.
        #[source]
        source: arrow::error::ArrowError,
    },
    /// A YAML or JSON document could not be written or read.
    #[error("cannot encode or decode {document}: {reason}")]
    Document {
        /// The document.
        document: String,
        /// Why.
        reason: String,
    },
    /// A local file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A feature this program was compiled without.
    #[error(
        "this program was built without the `{feature}` feature of scythe, needed for {what}; add it to \
         your Cargo.toml: scythe = {{ version = \"0.1\", features = [\"{feature}\"] }}"
    )]
    NotBuiltIn {
        /// The Cargo feature, e.g. `hatchet`.
        feature: &'static str,
        /// What needs it.
        what: &'static str,
    },
    /// The Hatchet engine refused or failed a request (the message never holds the token).
    #[error("hatchet: {0}")]
    Hatchet(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A design that cannot be built from the options given.
    #[error("design: {0}")]
    Design(#[from] scythe_core::design::DesignError),
    /// Two runs could not be compared (`diff`).
    #[error(transparent)]
    Diff(#[from] crate::diff::DiffError),
    /// A run would join an existing version (`--version keep`) although its schema broke.
    #[error(
        "the schema of `{version}` changed in a breaking way since its latest run {run}: {changes}; \
         bump the version (the default `--version bump-major`, or bump-minor), or pass --force to add the run \
         to {version} anyway"
    )]
    BreakingSchemaChange {
        /// `<experiment>/<version>`.
        version: String,
        /// The version's latest run, compared with.
        run: String,
        /// The breaking changes, `; `-separated.
        changes: String,
    },
    /// Another run was being allocated into the same version at the same time with a schema
    /// that breaks this one's.
    #[error(
        "run {run} was allocated into `{version}` at the same time as this one, with a schema that breaks this one's or is broken by it: \
         {changes}; run again once it is done (to be checked against it), bump the version, or pass --force"
    )]
    ConcurrentBreakingSchema {
        /// `<experiment>/<version>`.
        version: String,
        /// The other run.
        run: String,
        /// The breaking changes, `; `-separated.
        changes: String,
    },
    /// A fault inside Scythe itself (an invariant that did not hold), not in the user's input.
    #[error("internal error: {0} (a bug in Scythe; please report it with the command that ran)")]
    Internal(String),
    /// A background task of Scythe's panicked or was cancelled.
    #[error("{context}: {source}")]
    Join {
        /// What the task was doing.
        context: String,
        /// The task's end.
        #[source]
        source: tokio::task::JoinError,
    },
    /// Settings are invalid.
    #[error("invalid setting: {0}")]
    Settings(String),
}

impl Error {
    pub(crate) fn arrow(context: impl Into<String>) -> impl FnOnce(arrow::error::ArrowError) -> Error {
        let context = context.into();
        move |source| Error::Arrow { context, source }
    }

    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}

#[cfg(test)]
mod tests {
    use super::Error;

    #[test]
    fn a_missing_feature_names_itself_and_the_cargo_line_that_adds_it() {
        let text = Error::NotBuiltIn { feature: "hatchet", what: "`worker`" }.to_string();
        assert!(text.contains("without the `hatchet` feature"), "{text}");
        assert!(text.contains(r#"scythe = { version = "0.1", features = ["hatchet"] }"#), "{text}");
    }
}
