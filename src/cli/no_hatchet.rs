//! Stand-ins for the Hatchet commands in a build without the `hatchet` feature: each refuses
//! with the line to add to Cargo.toml.

use std::process::ExitCode;

use scythe_core::layout::RunId;
use scythe_storage::Store;

use super::{HatchetTasks, NewRun, Outcome};
use crate::app::App;
use crate::error::Error;

/// The error every Hatchet command gives in this build.
fn not_built_in() -> Error {
    Error::NotBuiltIn {
        feature: "hatchet",
        what: "distributed runs on a Hatchet engine (`worker`, `scatter --engine hatchet`)",
    }
}

/// `worker` needs the `hatchet` feature.
pub(super) async fn worker(_: &App, _: Store, _: bool) -> Result<ExitCode, Error> {
    Err(not_built_in())
}

/// `scatter --dry-run --engine hatchet` needs the `hatchet` feature.
pub(super) fn plan(
    _: u64,
    _: Option<u32>,
    _: Option<u64>,
    _: Option<u32>,
    _: Option<super::RunPriority>,
) -> Result<String, Error> {
    Err(not_built_in())
}

/// `scatter --engine hatchet` needs the `hatchet` feature.
pub(super) async fn scatter(_: &App, _: Store, _: &NewRun, _: &Outcome, _: HatchetTasks) -> Result<ExitCode, Error> {
    Err(not_built_in())
}

/// Without the `hatchet` feature `status` cannot ask the engine about a run's tasks.
pub(super) async fn engine_status(_: &Store, _: &RunId) -> Vec<(String, String)> {
    Vec::new()
}
