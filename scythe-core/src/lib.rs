//! Scythe's vocabulary and the pure steps of an experiment run.
//!
//! This crate holds what every other Scythe crate speaks: the [`Experiment`] trait that
//! `#[scythe::experiment]` implements, the [`TaskContext`] a task body receives, [`FileRef`],
//! run versions and the run-folder layout, the schemas derived from the input and output types,
//! and spec validation. It performs no network or storage I/O.

pub mod analysis;
mod constraints;
pub mod design;
mod experiment;
mod file_ref;
mod json_schema;
pub mod layout;
pub mod pandas;
pub mod schema;
mod task;
pub mod validate;
mod version;

pub use experiment::{CodeFingerprint, DataType, Experiment, ExperimentConfig, ExperimentData, WorkerLabels};
pub use file_ref::{FILE_REF_SCHEMA_NAME, FileRef, FileRefError, FileRefKind};
pub use task::{ExperimentError, TaskContext, TaskError, TaskErrorKind, TaskFuture, fallible, infallible};
pub use version::{Version, VersionError, VersionStrategy};
