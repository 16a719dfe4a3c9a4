//! # Scythe
//!
//! Run millions of typed, embarrassingly parallel experiments (simulations, parameter sweeps,
//! dataset generation) and get one tidy, versioned Parquet dataset back.
//!
//! ```no_run
//! use schemars::JsonSchema;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, JsonSchema)]
//! struct Input { x: f64 }
//!
//! #[derive(Serialize, Deserialize, JsonSchema)]
//! struct Output { y: f64 }
//!
//! /// Squares a number.
//! #[scythe::experiment(retries = 2, timeout = "10m")]
//! fn square(input: Input) -> Output {
//!     Output { y: input.x * input.x }
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     scythe::App::new().experiment::<square>().run()
//! }
//! ```
//!
//! `cargo run -- scatter square --specs specs.csv` allocates a versioned run folder, runs every
//! spec on an in-process pool and gathers `final/scalars.pq`, `final/failures.pq` and friends.
//! The same steps are a Rust API: [`Scythe::scatter`], [`Scythe::gather`], [`catalog`].

mod allocate;
mod api;
mod app;
mod artifacts;
mod cache;
mod cancel;
pub mod catalog;
mod cli;
pub mod design;
pub mod diff;
mod embedded;
mod error;
mod gather;
#[cfg(feature = "hatchet")]
mod hatchet;
mod journal;
mod lease;
mod manifest;
mod parts;
mod progress;
mod provenance;
mod ranges;
mod registry;
mod report;
mod reuse;
mod run_context;
mod runner;
mod settings;
mod specs;
mod summary;
mod supervise;

pub use api::{RunReport, Scythe, WorkReport};
pub use app::App;
pub use cache::CacheError;
pub use cancel::CancelReport;
pub use error::Error;
pub use gather::GatherSummary;
pub use reuse::{Explanation, RanBecause};
pub use scythe_core::layout::{RunId, RunLayout};
pub use scythe_core::schema::{ColumnKind, DataSchema, ExperimentSchema};
pub use scythe_core::{
    CodeFingerprint, Experiment, ExperimentConfig, ExperimentData, ExperimentError, FileRef, TaskContext, TaskError,
    TaskErrorKind, Version, VersionStrategy, WorkerLabels,
};
pub use scythe_macros::experiment;
pub use scythe_storage::{Store, StoreLocation};
pub use settings::{EngineSettings, StorageSettings};
pub use specs::Specs;
pub use summary::FailureGroup;

#[doc(hidden)]
pub mod __private {
    //! Paths used by code that `#[scythe::experiment]` generates. Not a public API.
    pub use core::env;
    pub use core::time::Duration;
    pub use scythe_core::{
        CodeFingerprint, DataType, Experiment, ExperimentConfig, TaskContext, TaskFuture, WorkerLabels, fallible,
        infallible,
    };
    pub use std::boxed::Box;
}

/// Compiles the README's Rust code blocks as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
