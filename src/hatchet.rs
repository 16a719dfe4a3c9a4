//! Distributed runs on Hatchet: the worker that serves Scythe's tasks, and the distributed
//! scatter that triggers them.
//!
//! Two kinds of tasks, both taking a run id and a sort-index range (specs travel by reference
//! in `specs.pq`, never inline):
//! - `scythe_experiment_<name>`: a leaf runs its range with the embedded runner
//!   ([`Scythe::work`]), writing the same result parts as a local run;
//! - `scythe_scatter_gather`: the root spawns one leaf per batch of consecutive specs in bulk
//!   (children carry their index, so a retried root gets its existing children back), waits for
//!   them on one result stream, records a leaf that failed for good in `failures.pq`, and
//!   gathers the final tables.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use scythe_core::layout::RunId;
use scythe_hatchet::{
    ActionKind, AssignedAction, DesiredLabel, HEARTBEAT_INTERVAL, HatchetClient, HatchetConfig, LabelValue, RunOutcome,
    RunWatcher, StepEvent, TriggerRequest, WorkflowDefinition,
};
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::registry::Registered;
use crate::scythe::Scythe;
use crate::settings::EngineSettings;

/// The task that fans a run out and gathers it.
pub(crate) const SCATTER_GATHER: &str = "scythe_scatter_gather";
/// Most leaves a root spawns; larger runs get larger batches.
const MAX_LEAVES: u64 = 256;
/// How long a root may wait for its leaves.
const ROOT_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

/// The Hatchet task name of an experiment's leaves (Python Scythe's name).
pub(crate) fn leaf_task(experiment: &str) -> String {
    format!("scythe_experiment_{experiment}")
}

/// A range of a run's specs: the input of every Scythe task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RangeInput {
    /// `<experiment>/<vX.Y.Z>/<timestamp>`.
    pub(crate) run: String,
    pub(crate) start: u64,
    pub(crate) end: u64,
    /// Specs per leaf (root only).
    #[serde(default)]
    pub(crate) batch: u64,
}

/// What a task reports back (counts; the results themselves are in storage).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RangeOutput {
    pub(crate) succeeded: u64,
    pub(crate) failed: u64,
    pub(crate) missing: u64,
}

/// How a worker presents itself (the `SCYTHE_WORKER_*` settings).
#[derive(Debug, Clone)]
pub(crate) struct WorkerSettings {
    pub(crate) name: String,
    pub(crate) slots: u32,
    pub(crate) does_fan: bool,
    pub(crate) does_leaf: bool,
    pub(crate) high_memory: bool,
    pub(crate) high_cpu: bool,
    pub(crate) has_gpu: bool,
}

impl WorkerSettings {
    /// From `SCYTHE_WORKER_NAME`, `_SLOTS`, `_DOES_FAN`, `_DOES_LEAF`, `_HIGH_MEMORY`,
    /// `_HIGH_CPU`, `_HAS_GPU`.
    pub(crate) fn from_env() -> Result<Self, Error> {
        let flag = |name: &str, default: bool| -> Result<bool, Error> {
            match std::env::var(name) {
                Err(_) => Ok(default),
                Ok(text) => match text.to_ascii_lowercase().as_str() {
                    "1" | "true" | "yes" | "t" => Ok(true),
                    "0" | "false" | "no" | "f" => Ok(false),
                    _ => Err(Error::Settings(format!("{name}=`{text}` is not true or false"))),
                },
            }
        };
        let slots = match std::env::var("SCYTHE_WORKER_SLOTS") {
            Ok(text) => text
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| Error::Settings(format!("SCYTHE_WORKER_SLOTS=`{text}` is not a positive number")))?,
            Err(_) => std::thread::available_parallelism().map_or(1, |n| n.get() as u32) + 1,
        };
        Ok(Self {
            name: std::env::var("SCYTHE_WORKER_NAME").unwrap_or_else(|_| format!("scythe-{}", std::process::id())),
            slots,
            does_fan: flag("SCYTHE_WORKER_DOES_FAN", true)?,
            does_leaf: flag("SCYTHE_WORKER_DOES_LEAF", true)?,
            high_memory: flag("SCYTHE_WORKER_HIGH_MEMORY", false)?,
            high_cpu: flag("SCYTHE_WORKER_HIGH_CPU", false)?,
            has_gpu: flag("SCYTHE_WORKER_HAS_GPU", false)?,
        })
    }
}

fn hatchet_error(error: impl std::fmt::Display) -> Error {
    Error::Hatchet(error.to_string())
}

/// Connects with the `HATCHET_CLIENT_*` settings.
pub(crate) async fn connect() -> Result<HatchetClient, Error> {
    let config = HatchetConfig::from_env().map_err(hatchet_error)?;
    HatchetClient::connect(&config).await.map_err(hatchet_error)
}

fn leaf_definition(experiment: &dyn Registered) -> WorkflowDefinition {
    let config = experiment.config();
    let mut definition = WorkflowDefinition::single_task(leaf_task(config.name))
        .description(config.description)
        .retries(config.retries.max(1))
        .execution_timeout(config.timeout.saturating_mul(config.batch.unwrap_or(1).max(1)))
        .schedule_timeout(config.schedule_timeout);
    for (label, wanted) in [
        ("high_memory", config.labels.high_memory),
        ("high_cpu", config.labels.high_cpu),
        ("has_gpu", config.labels.has_gpu),
    ] {
        if wanted {
            definition = definition.desired_label(label, DesiredLabel::required("yes"));
        }
    }
    definition
}

fn root_definition() -> WorkflowDefinition {
    WorkflowDefinition::single_task(SCATTER_GATHER)
        .description("Scythe: fan a run out to its experiment's leaves, then gather the final tables.")
        .retries(1)
        .execution_timeout(ROOT_TIMEOUT)
        .schedule_timeout(ROOT_TIMEOUT)
}

enum Handler {
    Leaf(Arc<dyn Registered>),
    Root(HashMap<String, Arc<dyn Registered>>),
}

/// Serves Scythe's tasks until SIGINT/SIGTERM, then finishes what it holds and unsubscribes.
pub(crate) async fn serve(
    experiments: Vec<Arc<dyn Registered>>,
    scythe: Scythe,
    settings: WorkerSettings,
) -> Result<(), Error> {
    let client = connect().await?;
    let version = client.version().await.map_err(hatchet_error)?;
    let mut handlers: HashMap<String, Arc<Handler>> = HashMap::new();
    let mut actions = Vec::new();
    if settings.does_leaf {
        for experiment in &experiments {
            let registered =
                client.register_workflow(&leaf_definition(experiment.as_ref())).await.map_err(hatchet_error)?;
            handlers.insert(registered.action.as_str().to_owned(), Arc::new(Handler::Leaf(Arc::clone(experiment))));
            actions.push(registered.action);
        }
    }
    if settings.does_fan {
        let registered = client.register_workflow(&root_definition()).await.map_err(hatchet_error)?;
        let by_name = experiments.iter().map(|e| (e.schema().name().to_owned(), Arc::clone(e))).collect();
        handlers.insert(registered.action.as_str().to_owned(), Arc::new(Handler::Root(by_name)));
        actions.push(registered.action);
    }
    let mut labels = BTreeMap::new();
    for (label, has) in
        [("high_memory", settings.high_memory), ("high_cpu", settings.high_cpu), ("has_gpu", settings.has_gpu)]
    {
        labels.insert(label.to_owned(), LabelValue::from(if has { "yes" } else { "no" }));
    }
    let worker =
        client.register_worker(&settings.name, &actions, settings.slots, &labels).await.map_err(hatchet_error)?;
    tracing::info!(engine = %version, worker = %settings.name, slots = settings.slots, "worker registered");
    eprintln!(
        "worker {} serving {} task types on Hatchet {version} with {} slots",
        settings.name,
        actions.len(),
        settings.slots
    );
    let heartbeat = tokio::spawn({
        let (client, worker) = (client.clone(), worker.clone());
        async move {
            loop {
                if let Err(error) = client.heartbeat(&worker).await {
                    tracing::warn!(%error, "heartbeat failed");
                }
                tokio::time::sleep(HEARTBEAT_INTERVAL).await;
            }
        }
    });
    let mut stream = client.listen(&worker);
    let mut running = tokio::task::JoinSet::new();
    let mut cancels: HashMap<String, tokio::task::AbortHandle> = HashMap::new();
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            Some(_) = running.join_next(), if !running.is_empty() => {}
            next = stream.next() => {
                let Some(next) = next else { break };
                let action = match next {
                    Ok(action) => action,
                    Err(error) => { tracing::warn!(%error, "listen stream"); continue; }
                };
                match action.kind {
                    ActionKind::Cancel => {
                        if let Some(task) = cancels.remove(&action.task_run_id) { task.abort(); }
                    }
                    ActionKind::Unsupported(kind) => tracing::warn!(kind, "unsupported action"),
                    ActionKind::Start => {
                        let Some(handler) = handlers.get(&action.action_id).cloned() else {
                            let _ = client.send_step_event(&worker, &action, StepEvent::failed_permanently(format!("this worker does not serve `{}`", action.action_id))).await;
                            continue;
                        };
                        let (client, worker, scythe) = (client.clone(), worker.clone(), scythe.clone());
                        let task_run = action.task_run_id.clone();
                        let handle = running.spawn(async move {
                            let _ = client.send_step_event(&worker, &action, StepEvent::started()).await;
                            let event = match run_action(&client, &scythe, &handler, &action).await {
                                Ok(output) => StepEvent::completed(&output).unwrap_or_else(|error| StepEvent::failed(error.to_string())),
                                Err(error) => StepEvent::failed(error.to_string()),
                            };
                            if let Err(error) = client.send_step_event(&worker, &action, event).await {
                                tracing::warn!(%error, "could not report a finished task");
                            }
                        });
                        cancels.insert(task_run, handle);
                    }
                }
            }
        }
    }
    eprintln!("worker {}: stopping; finishing {} task(s) in hand", settings.name, running.len());
    drop(stream);
    while running.join_next().await.is_some() {}
    heartbeat.abort();
    client.unsubscribe(&worker).await.map_err(hatchet_error)?;
    Ok(())
}

async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
}

async fn run_action(
    client: &HatchetClient,
    scythe: &Scythe,
    handler: &Handler,
    action: &AssignedAction,
) -> Result<RangeOutput, Error> {
    let input: RangeInput = action.input().map_err(hatchet_error)?;
    let run: RunId = input.run.parse()?;
    match handler {
        Handler::Leaf(experiment) => {
            let report = scythe.work_registered(Arc::clone(experiment), &run, input.start..input.end).await?;
            Ok(RangeOutput { succeeded: report.succeeded, failed: report.failed, missing: 0 })
        }
        Handler::Root(experiments) => {
            let experiment = experiments.get(run.experiment()).cloned().ok_or_else(|| Error::UnknownExperiment {
                name: run.experiment().to_owned(),
                registered: experiments.keys().map(|name| format!("`{name}`")).collect::<Vec<_>>().join(", "),
            })?;
            scatter_gather(client, scythe, experiment, action, &run, input).await
        }
    }
}

async fn scatter_gather(
    client: &HatchetClient,
    scythe: &Scythe,
    experiment: Arc<dyn Registered>,
    action: &AssignedAction,
    run: &RunId,
    input: RangeInput,
) -> Result<RangeOutput, Error> {
    let total = input.end - input.start;
    let batch = if input.batch > 0 { input.batch } else { total.div_ceil(MAX_LEAVES).max(1) };
    let leaf = leaf_task(experiment.schema().name());
    let mut ranges = Vec::new();
    let mut requests = Vec::new();
    for (index, start) in (input.start..input.end).step_by(batch as usize).enumerate() {
        let range = RangeInput { run: input.run.clone(), start, end: (start + batch).min(input.end), batch: 0 };
        requests.push(TriggerRequest::new(&leaf, &range).map_err(hatchet_error)?.child_of(action, index as u32));
        ranges.push(range);
    }
    let ids = client.bulk_trigger(requests).await.map_err(hatchet_error)?;
    let watcher = RunWatcher::new(client);
    let outcomes = futures::future::join_all(ids.into_iter().map(|id| watcher.watch(id))).await;
    let mut lost = Vec::new();
    for (range, outcome) in ranges.iter().zip(outcomes) {
        match outcome {
            Ok(RunOutcome::Completed(_)) => {}
            Ok(RunOutcome::Failed(failures)) => {
                let reason = failures.iter().map(|f| f.error.as_str()).collect::<Vec<_>>().join("; ");
                lost.push((range.start..range.end, reason));
            }
            Err(error) => lost.push((range.start..range.end, error.to_string())),
        }
    }
    for (rows, reason) in lost {
        scythe.record_lost(Arc::clone(&experiment), run, rows, &format!("the leaf task failed: {reason}")).await?;
    }
    let summary = scythe.gather_registered(experiment, run).await?;
    Ok(RangeOutput { succeeded: summary.succeeded, failed: summary.failed, missing: summary.missing })
}

/// Triggers the root task of an allocated run; returns its Hatchet run id.
pub(crate) async fn trigger(
    client: &HatchetClient,
    run: &RunId,
    n_specs: u64,
    batch: Option<u32>,
) -> Result<scythe_hatchet::RunId, Error> {
    let input = RangeInput { run: run.to_string(), start: 0, end: n_specs, batch: batch.map_or(0, u64::from) };
    let request = TriggerRequest::new(SCATTER_GATHER, &input)
        .map_err(hatchet_error)?
        .metadata(&serde_json::json!({"experiment_id": run.to_string(), "experiment_name": run.experiment()}))
        .map_err(hatchet_error)?;
    let mut ids = client.bulk_trigger(vec![request]).await.map_err(hatchet_error)?;
    ids.pop().ok_or_else(|| Error::Hatchet("the engine returned no run id".to_owned()))
}

/// Waits for a root run to finish.
pub(crate) async fn wait(client: &HatchetClient, root: scythe_hatchet::RunId) -> Result<RangeOutput, Error> {
    match RunWatcher::new(client).watch(root).await.map_err(hatchet_error)? {
        RunOutcome::Completed(output) => serde_json::from_value(output).map_err(hatchet_error),
        RunOutcome::Failed(failures) => {
            Err(Error::Hatchet(failures.iter().map(|f| f.error.as_str()).collect::<Vec<_>>().join("; ")))
        }
    }
}

/// The embedded-engine settings a leaf runs with: one thread per Hatchet slot.
pub(crate) fn leaf_engine(base: &EngineSettings) -> EngineSettings {
    EngineSettings { workers: 1, progress: false, ..base.clone() }
}
