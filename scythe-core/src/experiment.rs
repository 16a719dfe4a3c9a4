//! The [`Experiment`] trait: what `#[scythe::experiment]` generates for a user's function.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::task::{TaskContext, TaskFuture};

/// A type that can be an experiment's input or output.
///
/// Implemented for every type that derives `serde::Serialize`, `serde::Deserialize` and
/// `schemars::JsonSchema`; those derives give Scythe the JSON Schema, the Arrow schema and the
/// (de)serialization glue of the type.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an experiment input or output",
    label = "derive `serde::Serialize`, `serde::Deserialize` and `schemars::JsonSchema` on this type",
    note = "experiment inputs and outputs are plain structs with `#[derive(Serialize, Deserialize, JsonSchema)]`"
)]
pub trait ExperimentData: Serialize + DeserializeOwned + JsonSchema + Send + 'static {}

#[diagnostic::do_not_recommend]
impl<T> ExperimentData for T where T: Serialize + DeserializeOwned + JsonSchema + Send + 'static {}

/// How `#[scythe::experiment]` names its input and output types: `<In as DataType>::Type` is
/// `In` itself, for a type that implements [`ExperimentData`] (used by generated code).
///
/// rustc checks an associated type's bound once per supertrait, so `type Input = In;` with
/// `In` lacking the derives gives one error per missing derive (four in all). This trait has no
/// supertraits: naming the type through it gives one error, with `ExperimentData`'s message.
#[doc(hidden)]
pub trait DataType {
    /// The type itself.
    type Type: ExperimentData;
}

#[diagnostic::do_not_recommend]
impl<T: ExperimentData> DataType for T {
    type Type = T;
}

/// Worker capabilities an experiment asks for (Hatchet desired worker labels).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerLabels {
    /// The task needs a worker that declares `high_memory`.
    pub high_memory: bool,
    /// The task needs a worker that declares `high_cpu`.
    pub high_cpu: bool,
    /// The task needs a worker that declares `has_gpu`.
    pub has_gpu: bool,
}

/// Static settings of an experiment, from the `#[scythe::experiment(...)]` options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExperimentConfig {
    /// Experiment name: the run folder and the task name (default: the function name).
    pub name: &'static str,
    /// Human description (default: the function's doc comment).
    pub description: &'static str,
    /// Extra attempts after a failed one.
    pub retries: u32,
    /// Longest time one attempt may run.
    pub timeout: Duration,
    /// Longest time a task may wait in the queue before it starts (distributed engine).
    pub schedule_timeout: Duration,
    /// Worker capabilities the task needs.
    pub labels: WorkerLabels,
    /// Specs per distributed task; `None` lets Scythe choose.
    pub batch: Option<u32>,
    /// At most this many specs of the experiment run at once across all workers (distributed
    /// engine); `None`: no limit.
    pub concurrency: Option<u32>,
    /// What the experiment's code is, for the result cache: set by `#[scythe::experiment]`.
    /// `None` (a hand-written `impl Experiment`) turns the cache off for the experiment, as
    /// nothing would tell a changed body from an unchanged one.
    pub fingerprint: Option<CodeFingerprint>,
}

/// The code fingerprint of an experiment, computed at compile time by `#[scythe::experiment]`.
///
/// A cached result is reused only when all three parts are equal: `function` changes with any
/// token of the annotated function (its signature, body and attributes, doc comments included,
/// but not whitespace or `//` comments, which are not tokens) and with `cache_version`;
/// `crate_version` is the `CARGO_PKG_VERSION` of the crate that defines the function. Code the
/// function calls (helpers, other crates, data it reads outside its input) is **not** seen: bump
/// `cache_version` or the crate's version when it changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeFingerprint {
    /// SHA-256 (hex) of the function's tokens and `cache_version`.
    pub function: &'static str,
    /// The `cache_version = "..."` option, or `""`.
    pub cache_version: &'static str,
    /// `CARGO_PKG_VERSION` of the crate defining the experiment.
    pub crate_version: &'static str,
}

impl CodeFingerprint {
    /// One line for provenance tables: `<first 16 hex digits of function>@<crate_version>`,
    /// with `+<cache_version>` when one is set.
    pub fn short(&self) -> String {
        let hash = self.function.get(..16).unwrap_or(self.function);
        if self.cache_version.is_empty() {
            format!("{hash}@{}", self.crate_version)
        } else {
            format!("{hash}+{}@{}", self.cache_version, self.crate_version)
        }
    }
}

impl ExperimentConfig {
    /// Defaults for every option but the name.
    pub const DEFAULT: ExperimentConfig = ExperimentConfig {
        name: "",
        description: "",
        retries: 0,
        timeout: Duration::from_secs(60 * 60),
        schedule_timeout: Duration::from_secs(24 * 60 * 60),
        labels: WorkerLabels { high_memory: false, high_cpu: false, has_gpu: false },
        batch: None,
        concurrency: None,
        fingerprint: None,
    };
}

/// An experiment: a typed function from one input spec to one output, plus its settings.
///
/// Implemented by the proxy type that `#[scythe::experiment]` generates next to the user's
/// function; the function itself stays callable as written.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a Scythe experiment",
    label = "annotate the function with `#[scythe::experiment]` and pass its name here",
    note = "`#[scythe::experiment]` on `fn simulate(...)` generates a type `simulate` that implements `Experiment`"
)]
pub trait Experiment: Send + Sync + 'static {
    /// One spec: a row of the specs table.
    type Input: ExperimentData;
    /// What one spec produces.
    type Output: ExperimentData;
    /// The experiment's settings.
    const CONFIG: ExperimentConfig;

    /// Runs the experiment on one spec.
    fn run<'a>(input: Self::Input, ctx: &'a TaskContext) -> TaskFuture<'a, Self::Output>;
}
