//! What a running task sees ([`TaskContext`]) and how it fails ([`TaskError`]).

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

/// The future an experiment body returns (boxed so the trait stays object-safe to call).
///
/// It need not be `Send`: Scythe drives each task on its own worker thread.
pub type TaskFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, TaskError>> + 'a>>;

/// What a task body may ask of Scythe while it runs.
#[derive(Debug)]
pub struct TaskContext {
    run_id: Arc<str>,
    sort_index: u64,
    attempt: u32,
    scratch_root: Arc<Path>,
    scratch: OnceLock<PathBuf>,
}

impl TaskContext {
    /// A context for spec `sort_index` of run `run_id`, on its `attempt` (0 for the first try).
    ///
    /// `scratch_root` is where the per-task scratch directory is created on first use.
    pub fn new(run_id: impl Into<Arc<str>>, sort_index: u64, attempt: u32, scratch_root: impl Into<Arc<Path>>) -> Self {
        Self { run_id: run_id.into(), sort_index, attempt, scratch_root: scratch_root.into(), scratch: OnceLock::new() }
    }

    /// Points a reused context at another attempt (the engine keeps one per worker thread).
    #[doc(hidden)]
    pub fn reset(&mut self, sort_index: u64, attempt: u32) {
        self.sort_index = sort_index;
        self.attempt = attempt;
        self.scratch = OnceLock::new();
    }

    /// The run this task belongs to: `<experiment>/<vX.Y.Z>/<timestamp>`.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The spec's position in the run (its row in `specs.pq`).
    pub fn sort_index(&self) -> u64 {
        self.sort_index
    }

    /// Which attempt this is: 0 first, 1 for the first retry, and so on.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// A directory private to this task, created on first call.
    ///
    /// Output files (`FileRef` fields of the output) must be written here; Scythe uploads them
    /// after the task and removes the directory.
    pub fn scratch_dir(&self) -> std::io::Result<&Path> {
        if let Some(dir) = self.scratch.get() {
            return Ok(dir);
        }
        let dir = self.scratch_root.join(format!("{:010}-{}", self.sort_index, self.attempt));
        std::fs::create_dir_all(&dir)?;
        Ok(self.scratch.get_or_init(|| dir))
    }

    /// The scratch directory if the task created it.
    pub fn created_scratch_dir(&self) -> Option<&Path> {
        self.scratch.get().map(PathBuf::as_path)
    }
}

/// Why an attempt failed; decides whether Scythe retries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskErrorKind {
    /// The body returned an error; retried while attempts remain.
    Failed,
    /// The body said the spec can never pass; not retried.
    Permanent,
    /// The body panicked; retried while attempts remain.
    Panicked,
    /// The attempt ran past the experiment's timeout; retried while attempts remain.
    TimedOut,
    /// The spec could not be turned into the input type; not retried.
    InvalidInput,
    /// Scythe could not prepare inputs or store outputs (files, storage); retried.
    Infrastructure,
    /// The output is unusable: an output file outside the task's scratch folder, missing, or
    /// not a file; not retried.
    InvalidOutput,
    /// The process died (abort, `exit`, a signal, out of memory) while the spec ran alone,
    /// as many times as it has attempts; recorded by the engine, never returned by a body.
    Crashed,
}

impl TaskErrorKind {
    /// Whether another attempt could succeed.
    pub fn is_retryable(self) -> bool {
        !matches!(
            self,
            TaskErrorKind::Permanent
                | TaskErrorKind::InvalidInput
                | TaskErrorKind::InvalidOutput
                | TaskErrorKind::Crashed
        )
    }

    /// Stable lower-case name, as written to `failures.pq`.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskErrorKind::Failed => "error",
            TaskErrorKind::Permanent => "permanent",
            TaskErrorKind::Panicked => "panic",
            TaskErrorKind::TimedOut => "timeout",
            TaskErrorKind::InvalidInput => "invalid_input",
            TaskErrorKind::Infrastructure => "infrastructure",
            TaskErrorKind::InvalidOutput => "invalid_output",
            TaskErrorKind::Crashed => "crashed",
        }
    }
}

impl fmt::Display for TaskErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed attempt: its kind and a message with the whole error chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskError {
    kind: TaskErrorKind,
    message: String,
}

impl TaskError {
    /// A failure of the given kind.
    pub fn new(kind: TaskErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into() }
    }

    /// A failure that retrying cannot fix (for example, a physically impossible spec).
    ///
    /// Return it (or `Err(TaskError::permanent(..))?` through `anyhow`) to skip the retries.
    pub fn permanent(message: impl fmt::Display) -> Self {
        Self::new(TaskErrorKind::Permanent, message.to_string())
    }

    /// The failure's kind.
    pub fn kind(&self) -> TaskErrorKind {
        self.kind
    }

    /// The failure's message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Turns any error into a task error, keeping a [`TaskError`] inside it as it is.
    ///
    /// A `TaskError` anywhere in the chain of sources decides the kind (so
    /// `anyhow::Error::from(TaskError::permanent(..)).context(..)` stays permanent).
    pub fn from_boxed(error: Box<dyn StdError + Send + Sync + 'static>) -> Self {
        let error = match error.downcast::<TaskError>() {
            Ok(task_error) => return *task_error,
            Err(other) => other,
        };
        let mut kind = TaskErrorKind::Failed;
        let mut cause: Option<&(dyn StdError + 'static)> = Some(error.as_ref());
        while let Some(current) = cause {
            if let Some(task_error) = current.downcast_ref::<TaskError>() {
                kind = task_error.kind;
                break;
            }
            cause = current.source();
        }
        Self::new(kind, error_chain(error.as_ref()))
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl StdError for TaskError {}

/// Formats an error and its sources as `outer: inner: innermost`, leaving out a source whose
/// text the message already ends with (a `#[error("…: {0}")]` that prints its source; a short
/// cause that merely appears inside the message is kept). The same rule as scythe-hatchet's
/// error chain (the two crates do not depend on each other).
pub(crate) fn error_chain(error: &(dyn StdError + 'static)) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.ends_with(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

/// An error type an experiment function may return as the `E` of `Result<Output, E>`.
///
/// Implemented for `anyhow::Error`, `Box<dyn Error + Send + Sync>` and every
/// `std::error::Error + Send + Sync + 'static` type (such as a `thiserror` enum or
/// `std::io::Error`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the error type of an experiment",
    label = "this error type does not implement `std::error::Error + Send + Sync + 'static`",
    note = "return `anyhow::Result<Output>`, or a `Result<Output, E>` whose `E` implements \
            `std::error::Error + Send + Sync + 'static` (for instance with `#[derive(thiserror::Error)]`)"
)]
pub trait ExperimentError: Into<Box<dyn StdError + Send + Sync + 'static>> + 'static {}

#[diagnostic::do_not_recommend]
impl<E> ExperimentError for E where E: Into<Box<dyn StdError + Send + Sync + 'static>> + 'static {}

/// Adapts an experiment body that returns `Result<T, E>` (used by generated code).
///
/// A [`TaskError`] returned directly, or anywhere in an `anyhow::Error`'s chain, keeps its kind.
pub fn fallible<T, E: ExperimentError>(result: Result<T, E>) -> Result<T, TaskError> {
    result.map_err(|error| {
        if let Some(any) = (&error as &dyn std::any::Any).downcast_ref::<anyhow::Error>() {
            let kind = any
                .chain()
                .find_map(|cause| cause.downcast_ref::<TaskError>())
                .map_or(TaskErrorKind::Failed, TaskError::kind);
            return TaskError::new(kind, format!("{any:#}"));
        }
        TaskError::from_boxed(error.into())
    })
}

/// Adapts an experiment body that returns its output directly (used by generated code).
pub fn infallible<T>(output: T) -> Result<T, TaskError> {
    Ok(output)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Outer(std::io::Error);
    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("reading weather")
        }
    }
    impl StdError for Outer {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn fallible_keeps_the_error_chain() {
        let result: Result<(), Outer> = Err(Outer(std::io::Error::other("disk on fire")));
        let error = fallible(result).unwrap_err();
        assert_eq!(error.kind(), TaskErrorKind::Failed);
        assert_eq!(error.message(), "reading weather: disk on fire");
    }

    #[test]
    fn fallible_keeps_a_permanent_error_permanent() {
        let result: Result<(), TaskError> = Err(TaskError::permanent("negative floor area"));
        let error = fallible(result).unwrap_err();
        assert_eq!(error.kind(), TaskErrorKind::Permanent);
        assert!(!error.kind().is_retryable());
        assert_eq!(error.message(), "negative floor area");
    }

    #[test]
    fn a_permanent_error_stays_permanent_through_anyhow() {
        let result: anyhow::Result<()> = Err(TaskError::permanent("impossible").into());
        let error = fallible(result).unwrap_err();
        assert_eq!(error.kind(), TaskErrorKind::Permanent, "{error}");
        let wrapped: anyhow::Result<()> =
            Err(anyhow::Error::from(TaskError::permanent("impossible")).context("simulating"));
        assert_eq!(fallible(wrapped).unwrap_err().kind(), TaskErrorKind::Permanent);
    }

    #[test]
    fn scratch_dir_is_created_lazily_once() {
        let root = std::env::temp_dir().join(format!("scythe-ctx-{}", std::process::id()));
        let ctx = TaskContext::new("exp/v1.0.0/t", 7, 1, root.as_path());
        assert!(ctx.created_scratch_dir().is_none());
        let dir = ctx.scratch_dir().unwrap().to_path_buf();
        assert!(dir.is_dir());
        assert!(dir.ends_with("0000000007-1"));
        assert_eq!(ctx.created_scratch_dir(), Some(dir.as_path()));
        std::fs::remove_dir_all(root).unwrap();
    }
}
