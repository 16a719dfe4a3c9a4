//! `scythe worker`: registers Scythe's workflows and serves them until SIGINT/SIGTERM.
//!
//! One process registers up to two engine workers: `<name>` runs leaves in `default` slots and
//! `<name>-fan` runs scatter nodes in `durable` slots. They are separate because the engine
//! hands out a worker's default slots about once a second instead of at once when the worker
//! also offers durable ones (Hatchet v0.104), which made leaves 10× slower.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use futures::StreamExt;
use scythe_hatchet::{
    ActionId, ActionKind, AssignedAction, DURABLE_SLOT_TYPE, HEARTBEAT_INTERVAL, HatchetClient, LabelValue, SlotConfig,
    StepEvent, WorkerId,
};
use tokio::task::{AbortHandle, JoinSet};

use super::definitions::{leaf_definition, limited_leaf_definition, root_definition};
use super::tasks::run_action;
use super::{Handler, connect, hatchet_error};
use crate::api::Scythe;
use crate::error::Error;
use crate::registry::Registered;

/// Scatter nodes a worker holds at once unless `SCYTHE_WORKER_FAN_SLOTS` says otherwise.
const DEFAULT_FAN_SLOTS: u32 = 100;

/// How a worker presents itself (the `SCYTHE_WORKER_*` settings).
#[derive(Debug, Clone)]
pub(crate) struct WorkerSettings {
    pub(crate) name: String,
    /// Leaves this worker runs at once (one spec at a time each).
    pub(crate) slots: u32,
    /// Scatter nodes this worker holds at once (they mostly wait on their children).
    pub(crate) fan_slots: u32,
    pub(crate) does_fan: bool,
    pub(crate) does_leaf: bool,
    pub(crate) high_memory: bool,
    pub(crate) high_cpu: bool,
    pub(crate) has_gpu: bool,
}

impl WorkerSettings {
    /// From `SCYTHE_WORKER_NAME`, `_SLOTS`, `_FAN_SLOTS`, `_DOES_FAN`, `_DOES_LEAF`, `_HIGH_MEMORY`,
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
        let count = |name: &str, default: u32| -> Result<u32, Error> {
            match std::env::var(name) {
                Err(_) => Ok(default),
                Ok(text) => text
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| Error::Settings(format!("{name}=`{text}` is not a positive number"))),
            }
        };
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
        let settings = Self {
            name: std::env::var("SCYTHE_WORKER_NAME").unwrap_or_else(|_| format!("scythe-{}", std::process::id())),
            slots: count("SCYTHE_WORKER_SLOTS", cores + 1)?,
            fan_slots: count("SCYTHE_WORKER_FAN_SLOTS", DEFAULT_FAN_SLOTS)?,
            does_fan: flag("SCYTHE_WORKER_DOES_FAN", true)?,
            does_leaf: flag("SCYTHE_WORKER_DOES_LEAF", true)?,
            high_memory: flag("SCYTHE_WORKER_HIGH_MEMORY", false)?,
            high_cpu: flag("SCYTHE_WORKER_HIGH_CPU", false)?,
            has_gpu: flag("SCYTHE_WORKER_HAS_GPU", false)?,
        };
        if !settings.does_fan && !settings.does_leaf {
            return Err(Error::Settings(
                "SCYTHE_WORKER_DOES_FAN and SCYTHE_WORKER_DOES_LEAF are both false: the worker would serve nothing"
                    .to_owned(),
            ));
        }
        Ok(settings)
    }

    fn labels(&self) -> BTreeMap<String, LabelValue> {
        [("high_memory", self.high_memory), ("high_cpu", self.high_cpu), ("has_gpu", self.has_gpu)]
            .into_iter()
            .map(|(label, has)| (label.to_owned(), LabelValue::from(if has { "yes" } else { "no" })))
            .collect()
    }
}

/// One engine worker of this process: its id and its heartbeat task.
struct Registration {
    worker: WorkerId,
    heartbeat: tokio::task::JoinHandle<()>,
}

impl Registration {
    async fn new(
        client: &HatchetClient,
        name: &str,
        actions: &[ActionId],
        slots: SlotConfig,
        labels: &BTreeMap<String, LabelValue>,
    ) -> Result<Self, Error> {
        let worker = client.register_worker(name, actions, slots, labels).await.map_err(hatchet_error)?;
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
        Ok(Self { worker, heartbeat })
    }
}

/// A task this process is running.
struct Running {
    action: AssignedAction,
    worker: WorkerId,
    abort: AbortHandle,
    node: bool,
}

/// Serves Scythe's tasks until SIGINT/SIGTERM. Then it stops taking work, finishes the leaves
/// it holds, hands its scatter nodes back to the engine (a retried node re-attaches to its
/// children, so nothing is redone) and unsubscribes.
pub(crate) async fn serve(
    experiments: Vec<Arc<dyn Registered>>,
    scythe: Scythe,
    settings: WorkerSettings,
) -> Result<(), Error> {
    let (client, version) = connect().await?;
    let labels = settings.labels();
    let mut handlers: HashMap<String, Arc<Handler>> = HashMap::new();
    let mut registrations = Vec::new();
    if settings.does_leaf && !experiments.is_empty() {
        let mut actions = Vec::new();
        for experiment in &experiments {
            let handler = Arc::new(Handler::Leaf(Arc::clone(experiment)));
            for definition in [leaf_definition(experiment.as_ref()), limited_leaf_definition(experiment.as_ref())] {
                let registered = client.register_workflow(&definition).await.map_err(hatchet_error)?;
                handlers.insert(registered.action.as_str().to_owned(), Arc::clone(&handler));
                actions.push(registered.action);
            }
        }
        let slots = SlotConfig::new(settings.slots);
        registrations.push(Registration::new(&client, &settings.name, &actions, slots, &labels).await?);
    }
    if settings.does_fan {
        let registered = client.register_workflow(&root_definition()).await.map_err(hatchet_error)?;
        let by_name = experiments.iter().map(|e| (e.schema().name().to_owned(), Arc::clone(e))).collect();
        handlers.insert(registered.action.as_str().to_owned(), Arc::new(Handler::Root(by_name)));
        let slots = SlotConfig::empty().with(DURABLE_SLOT_TYPE, settings.fan_slots);
        let name = format!("{}-fan", settings.name);
        registrations.push(Registration::new(&client, &name, &[registered.action], slots, &labels).await?);
    }
    if registrations.is_empty() {
        return Err(Error::Settings(
            "nothing to serve: SCYTHE_WORKER_DOES_FAN is false and this binary registers no experiment".to_owned(),
        ));
    }
    tracing::info!(engine = %version, worker = %settings.name, slots = settings.slots, "worker registered");
    eprintln!(
        "worker {} serving {} task types on Hatchet {version} with {} slots (+{} for scatter tasks)",
        settings.name,
        handlers.len(),
        if settings.does_leaf { settings.slots } else { 0 },
        if settings.does_fan { settings.fan_slots } else { 0 },
    );
    let mut streams = futures::stream::select_all(registrations.iter().map(|registration| {
        let worker = registration.worker.clone();
        client.listen(&registration.worker).map(move |next| (worker.clone(), next))
    }));
    let mut tasks = JoinSet::new();
    let mut running: HashMap<tokio::task::Id, Running> = HashMap::new();
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            Some(done) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                let id = match done { Ok((id, ())) => id, Err(error) => error.id() };
                running.remove(&id);
            }
            next = streams.next() => {
                let Some((worker, next)) = next else { break };
                let action = match next {
                    Ok(action) => action,
                    Err(error) => { tracing::warn!(%error, "listen stream"); continue; }
                };
                match action.kind {
                    ActionKind::Cancel => {
                        if let Some(task) = running.values().find(|task| task.action.task_run_id == action.task_run_id) {
                            task.abort.abort();
                        }
                    }
                    ActionKind::Unsupported(kind) => tracing::warn!(kind, "unsupported action"),
                    ActionKind::Start => {
                        tracing::debug!(
                            task = %action.action_id,
                            run = %action.workflow_run_id.as_str(),
                            priority = action.priority,
                            retry = action.retry_count,
                            "task assigned"
                        );
                        let Some(handler) = handlers.get(&action.action_id).cloned() else {
                            let refusal = StepEvent::failed_permanently(format!("this worker does not serve `{}`", action.action_id));
                            let _ = client.send_step_event(&worker, &action, refusal).await;
                            continue;
                        };
                        let node = matches!(*handler, Handler::Root(_));
                        let abort = tasks.spawn({
                            let (client, worker, scythe, action) = (client.clone(), worker.clone(), scythe.clone(), action.clone());
                            async move {
                                let _ = client.send_step_event(&worker, &action, StepEvent::started()).await;
                                let event = match run_action(&client, &scythe, &handler, &action).await {
                                    Ok(output) => StepEvent::completed(&output).unwrap_or_else(|error| StepEvent::failed(error.to_string())),
                                    Err(error) => StepEvent::failed(error.to_string()),
                                };
                                if let Err(error) = client.send_step_event(&worker, &action, event).await {
                                    tracing::warn!(%error, "could not report a finished task");
                                }
                            }
                        });
                        running.insert(abort.id(), Running { action, worker, abort, node });
                    }
                }
            }
        }
    }
    drop(streams);
    let nodes: Vec<&Running> = running.values().filter(|task| task.node).collect();
    eprintln!(
        "worker {}: stopping; finishing {} leaf task(s), handing back {} scatter task(s)",
        settings.name,
        running.len() - nodes.len(),
        nodes.len()
    );
    for task in nodes {
        task.abort.abort();
        let handback =
            StepEvent::failed("the worker shut down; the scatter task re-attaches to its children when retried");
        if let Err(error) = client.send_step_event(&task.worker, &task.action, handback).await {
            tracing::warn!(%error, "could not hand back a scatter task");
        }
    }
    while tasks.join_next().await.is_some() {}
    for registration in registrations {
        registration.heartbeat.abort();
        client.unsubscribe(&registration.worker).await.map_err(hatchet_error)?;
    }
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
