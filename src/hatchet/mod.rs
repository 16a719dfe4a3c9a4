//! Distributed runs on Hatchet: the worker that serves Scythe's tasks, and the distributed
//! scatter that triggers them (`scatter.rs`: [`Scythe::scatter_on_hatchet`] and
//! [`Scythe::wait_on_hatchet`]).
//!
//! Two kinds of tasks, both taking a run id and a sort-index range (specs travel by reference
//! in `specs.pq`, never inline):
//! - `scythe_experiment_<name>`: a leaf runs its range with the embedded runner
//!   ([`Scythe::work`]), writing the same result parts as a local run;
//! - `scythe_scatter_gather`: a scatter node spawns its children in bulk (leaves, or nodes one
//!   level down for runs with more than [`FANOUT`] leaves; see [`fanout`]), waits for them
//!   on one result stream and records a child that failed for good in `failures.pq`. Children
//!   carry their index, so a retried node gets its existing children back. The root (level 0)
//!   then gathers the final tables.
//!
//! Scatter nodes mostly wait, so they are durable tasks and take `durable` slots
//! (`SCYTHE_WORKER_FAN_SLOTS` per worker), not the `default` slots leaves run in: waiting parents
//! can never hold the slots their leaves need.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use scythe_core::layout::RunId;
use scythe_hatchet::{HatchetClient, HatchetConfig, Priority, RunOutcome, RunWatcher, TriggerRequest};
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::registry::Registered;
use crate::reuse::Explanation;
use crate::settings::EngineSettings;
use fanout::FANOUT;

mod definitions;
mod fanout;
mod scatter;
mod tasks;
mod worker;

pub(crate) use scatter::{Root, TaskShape};
pub(crate) use worker::{WorkerSettings, serve};

/// The task that fans a run out and gathers it.
pub(crate) const SCATTER_GATHER: &str = "scythe_scatter_gather";
/// How long a scatter node may wait for its children.
const ROOT_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);
/// Attempts of a scatter node: a retried node re-attaches to its children, so retrying is cheap.
const NODE_RETRIES: u32 = 3;

/// What a worker runs for an action it is assigned.
enum Handler {
    /// A leaf of this experiment.
    Leaf(Arc<dyn Registered>),
    /// A scatter node, for any of these experiments (by name).
    Root(HashMap<String, Arc<dyn Registered>>),
}

/// The Hatchet task name of an experiment's leaves (Python Scythe's name).
pub(crate) fn leaf_task(experiment: &str) -> String {
    format!("scythe_experiment_{experiment}")
}

/// The Hatchet task name of an experiment's leaves in runs scattered with `--max-concurrency`:
/// the same leaf, in a workflow whose concurrency groups are the lanes of [`RangeInput::lane`].
pub(crate) fn limited_leaf_task(experiment: &str) -> String {
    format!("scythe_limited_{experiment}")
}

/// A range of a run's specs: the input of every Scythe task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RangeInput {
    /// `<experiment>/<vX.Y.Z>/<timestamp>`.
    pub(crate) run: String,
    pub(crate) start: u64,
    pub(crate) end: u64,
    /// Specs per leaf (scatter nodes only).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(crate) batch: u64,
    /// Most children per scatter node (scatter nodes only; 0: [`FANOUT`]).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(crate) fanout: u64,
    /// Depth of a scatter node: 0 for the root, which gathers.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(crate) level: u64,
    /// Most leaves of the run at once (scatter nodes only; 0: no limit).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(crate) max_concurrency: u64,
    /// The concurrency group of a leaf of a limited run, `<run>#<k>` with k < `max_concurrency`
    /// (leaves dealt round robin): the engine runs one leaf per lane at a time.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub(crate) lane: String,
    /// The engine priority of the run's tasks, 1 (low) to 3 (high); 0: the engine's default
    /// (low). Scatter nodes give it to the children they trigger.
    #[serde(default, skip_serializing_if = "is_zero_u8")]
    pub(crate) priority: u8,
    /// The run was scattered with `--no-cache`: its leaves reuse no result.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) no_cache: bool,
}

impl RangeInput {
    /// The input of a leaf over `range` (no lane, priority or `no_cache` yet).
    fn leaf(run: &str, range: std::ops::Range<u64>) -> Self {
        Self {
            run: run.to_owned(),
            start: range.start,
            end: range.end,
            batch: 0,
            fanout: 0,
            level: 0,
            max_concurrency: 0,
            lane: String::new(),
            priority: 0,
            no_cache: false,
        }
    }

    /// The engine priority of a task over this range, if the run has one.
    pub(crate) fn engine_priority(&self) -> Option<Priority> {
        Priority::from_level(self.priority)
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_zero_u8(n: &u8) -> bool {
    *n == 0
}

/// What a task reports back (counts; the results themselves are in storage).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RangeOutput {
    pub(crate) succeeded: u64,
    pub(crate) failed: u64,
    pub(crate) missing: u64,
    /// Why the specs that ran were not reused from the result cache (for `--explain`); absent
    /// in the outputs of workers older than this field.
    #[serde(default, skip_serializing_if = "Explanation::is_empty", deserialize_with = "lenient")]
    pub(crate) explanation: Explanation,
}

/// An explanation as a task reported it, or none if it cannot be read (a reason added by a
/// newer worker): the counts of a run must not be lost over a note on why specs ran.
fn lenient<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Explanation, D::Error> {
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(serde_json::from_value(value).unwrap_or_default())
}

/// An error of the engine, its client or a payload, kept as the source of [`Error::Hatchet`].
fn hatchet_error(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
    Error::Hatchet(error.into())
}

/// Connects with the `HATCHET_CLIENT_*` settings and checks the engine's version, which it returns.
pub(crate) async fn connect() -> Result<(HatchetClient, String), Error> {
    let config = HatchetConfig::from_env().map_err(hatchet_error)?;
    let client = HatchetClient::connect(&config).await.map_err(hatchet_error)?;
    let version = client.check_version().await.map_err(hatchet_error)?;
    Ok((client, version))
}

/// How a distributed run is cut into tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Plan {
    n_specs: u64,
    batch: u64,
    fanout: u64,
    max_concurrency: Option<u32>,
    priority: Option<Priority>,
    no_cache: bool,
}

impl Plan {
    /// `batch` specs per leaf (default: [`fanout::batch_size`]), `fanout` children per
    /// node, at most `max_concurrency` leaves at once.
    pub(crate) fn new(n_specs: u64, batch: Option<u32>, fanout: Option<u64>, max_concurrency: Option<u32>) -> Self {
        let fanout = fanout.unwrap_or(FANOUT).max(2);
        let batch = fanout::batch_size(n_specs, batch);
        Self { n_specs, batch, fanout, max_concurrency, priority: None, no_cache: false }
    }

    /// Leaves that reuse no cached result (`scatter --no-cache`).
    pub(crate) fn with_no_cache(self, no_cache: bool) -> Self {
        Self { no_cache, ..self }
    }

    /// Every task of the run at the engine's `priority` (`None`: the engine's default, low).
    pub(crate) fn with_priority(self, priority: Option<Priority>) -> Self {
        Self { priority, ..self }
    }
}

impl std::fmt::Display for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let leaves = self.n_specs.div_ceil(self.batch);
        let depth = fanout::depth(self.n_specs, self.batch, self.fanout);
        let levels = if depth == 1 { "level" } else { "levels" };
        write!(f, "{leaves} leaves of up to {} specs under {depth} {levels} of scatter tasks", self.batch)?;
        if let Some(limit) = self.max_concurrency {
            write!(f, ", at most {limit} leaves at once")?;
        }
        if let Some(priority) = self.priority {
            write!(f, ", priority {}", priority.name())?;
        }
        Ok(())
    }
}

/// Triggers the root task of an allocated run; returns its Hatchet run id.
pub(crate) async fn trigger(client: &HatchetClient, run: &RunId, plan: &Plan) -> Result<scythe_hatchet::RunId, Error> {
    let input = RangeInput {
        run: run.to_string(),
        start: 0,
        end: plan.n_specs,
        batch: plan.batch,
        fanout: plan.fanout,
        level: 0,
        max_concurrency: plan.max_concurrency.map_or(0, u64::from),
        lane: String::new(),
        priority: plan.priority.map_or(0, Priority::level),
        no_cache: plan.no_cache,
    };
    let mut request = TriggerRequest::new(SCATTER_GATHER, &input)
        .map_err(hatchet_error)?
        .metadata(&serde_json::json!({"experiment_id": run.to_string(), "experiment_name": run.experiment()}))
        .map_err(hatchet_error)?;
    if let Some(priority) = plan.priority {
        request = request.priority(priority);
    }
    let mut ids = client.bulk_trigger(vec![request]).await.map_err(hatchet_error)?;
    ids.pop().ok_or_else(|| hatchet_error("the engine returned no run id"))
}

/// Passes of [`cancel`] over the run's tasks by metadata: the engine lists runs from tables that
/// lag a little behind, so a task spawned just before the cancel may show up only on a later pass.
const CANCEL_SWEEPS: u32 = 5;

/// Cancels the engine's tasks of `run`: its recorded root tasks, then every queued or running
/// task created since `since` that carries the run's `experiment_id` metadata (scatter nodes and
/// leaves), until a pass finds no new one. Returns how many tasks the engine cancelled.
pub(crate) async fn cancel(
    client: &HatchetClient,
    run: &RunId,
    roots: &[String],
    since: std::time::SystemTime,
) -> Result<usize, Error> {
    let roots: Vec<scythe_hatchet::RunId> = roots.iter().map(|id| scythe_hatchet::RunId::from(id.as_str())).collect();
    let mut cancelled: std::collections::BTreeSet<String> =
        client.cancel_runs(&roots).await.map_err(hatchet_error)?.into_iter().collect();
    for pass in 0..CANCEL_SWEEPS {
        let found = client.cancel_runs_tagged("experiment_id", &run.to_string(), since).await.map_err(hatchet_error)?;
        let new = found.into_iter().filter(|id| cancelled.insert(id.clone())).count();
        if new == 0 && pass > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Ok(cancelled.len())
}

/// Where each recorded root task of a run is, as the engine says (for `status`).
pub(crate) async fn root_statuses(client: &HatchetClient, roots: &[String]) -> Vec<(String, String)> {
    let mut statuses = Vec::with_capacity(roots.len());
    for root in roots {
        let status = match client.run_status(&scythe_hatchet::RunId::from(root.as_str())).await {
            Ok(status) => status.to_string(),
            Err(error) => format!("unknown ({error})"),
        };
        statuses.push((root.clone(), status));
    }
    statuses
}

/// Waits for a root run to finish.
pub(crate) async fn wait(client: &HatchetClient, root: scythe_hatchet::RunId) -> Result<RangeOutput, Error> {
    match RunWatcher::new(client).watch(root).await.map_err(hatchet_error)? {
        RunOutcome::Completed(output) => serde_json::from_value(output).map_err(hatchet_error),
        RunOutcome::Failed(failures) => {
            Err(hatchet_error(failures.iter().map(|f| f.error.as_str()).collect::<Vec<_>>().join("; ")))
        }
    }
}

/// The embedded-engine settings a leaf runs with: one thread per Hatchet slot.
pub(crate) fn leaf_engine(base: &EngineSettings) -> EngineSettings {
    EngineSettings { workers: 1, progress: false, ..base.clone() }
}
