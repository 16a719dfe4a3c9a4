//! The engine's throughput ceiling: the lightest possible Hatchet client, the baseline of Scythe's
//! benchmark suite.
//!
//! It registers one no-op workflow and `W` workers (independent registrations in this process, each
//! with its own connection, listen stream, heartbeat task and `N` slots, like `W` worker processes),
//! whose tasks report STARTED and then COMPLETED with `{}` at once. It then times a bulk trigger of
//! `tasks` runs (inputs `{"i": i}`) plus waiting for every outcome through one [`RunWatcher`]. No
//! storage, no Parquet, no validation: just trigger and complete, so whatever Scythe's own benchmarks
//! lose against this number is Scythe's overhead, not the engine's.
//!
//! ```sh
//! . "$(bash scripts/hatchet-engine.sh start)"   # HATCHET_CLIENT_* of the local engine
//! cargo run --release -p scythe-hatchet --example ceiling -- 2000 --slots 8 --workers 2
//! ```
//!
//! Defaults: 2000 tasks, 8 slots, 2 workers. Each run uses a fresh namespace, so runs against the same
//! engine do not collide. A human summary goes to stderr and one JSON line to stdout:
//! `{"client":"scythe-hatchet minimal","tasks":N,"workers":W,"slots":S,"seconds":…,"tasks_per_s":…}`.
//! Exits non-zero unless every run completed.

use std::collections::BTreeMap;
use std::error::Error;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt as _;
use futures::future::join_all;
use scythe_hatchet::{
    ActionId, ActionKind, HEARTBEAT_INTERVAL, HatchetClient, HatchetConfig, RunOutcome, RunWatcher, StepEvent,
    TriggerRequest, WorkerId, WorkflowDefinition,
};
use serde_json::json;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

type BoxError = Box<dyn Error + Send + Sync>;

const USAGE: &str = "usage: ceiling [<tasks>] [--slots N] [--workers W]   (defaults: 2000 tasks, 8 slots, 2 workers)";
const WORKFLOW: &str = "ceiling_noop";
/// How long the workers may take to come up (first successful heartbeat).
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Retry pause for heartbeats until the first one succeeds (the listen stream may not be open yet).
const READY_RETRY: Duration = Duration::from_millis(200);

struct Args {
    tasks: usize,
    slots: u32,
    workers: usize,
}

fn parse_args() -> Result<Args, BoxError> {
    fn positive<T: std::str::FromStr + PartialEq + Default>(what: &str, value: Option<String>) -> Result<T, BoxError> {
        let value = value.ok_or_else(|| format!("{what} needs a value\n{USAGE}"))?;
        match value.parse::<T>() {
            Ok(n) if n != T::default() => Ok(n),
            _ => Err(format!("{what} must be a positive integer, not {value:?}\n{USAGE}").into()),
        }
    }
    let mut args = Args { tasks: 2000, slots: 8, workers: 2 };
    let mut tasks_seen = false;
    let mut argv = std::env::args().skip(1);
    while let Some(arg) = argv.next() {
        match arg.as_str() {
            "--slots" => args.slots = positive("--slots", argv.next())?,
            "--workers" => args.workers = positive("--workers", argv.next())?,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            _ if !tasks_seen && !arg.starts_with('-') => {
                args.tasks = positive("<tasks>", Some(arg))?;
                tasks_seen = true;
            }
            _ => return Err(format!("unexpected argument {arg:?}\n{USAGE}").into()),
        }
    }
    Ok(args)
}

/// One worker: its own connection, registration, listen stream (served on a task that spawns one task
/// per action, so slots overlap) and heartbeat task.
struct Worker {
    client: HatchetClient,
    id: WorkerId,
    serving: JoinHandle<()>,
    heartbeats: JoinHandle<()>,
}

async fn start_worker(
    config: &HatchetConfig,
    action: &ActionId,
    index: usize,
    slots: u32,
) -> Result<(Worker, oneshot::Receiver<()>), BoxError> {
    let client = HatchetClient::connect(config).await?;
    let id = client
        .register_worker(&format!("scythe-ceiling-{index}"), std::slice::from_ref(action), slots, &BTreeMap::new())
        .await?;
    let mut actions = client.listen(&id);
    let (ready, is_ready) = oneshot::channel();
    let heartbeats = tokio::spawn({
        let (client, id) = (client.clone(), id.clone());
        async move {
            let mut ready = Some(ready);
            loop {
                match client.heartbeat(&id).await {
                    Ok(()) => {
                        if let Some(ready) = ready.take() {
                            let _ = ready.send(());
                        }
                    }
                    Err(err) if ready.is_none() => eprintln!("worker {index}: heartbeat failed: {err}"),
                    Err(_) => {
                        // Not up yet (the listen stream opens in the background): try again soon.
                        tokio::time::sleep(READY_RETRY).await;
                        continue;
                    }
                }
                tokio::time::sleep(HEARTBEAT_INTERVAL).await;
            }
        }
    });
    let completed = StepEvent::completed(&json!({}))?;
    let serving = tokio::spawn({
        let (client, id) = (client.clone(), id.clone());
        async move {
            while let Some(action) = actions.next().await {
                let action = match action {
                    Ok(action) if action.kind == ActionKind::Start => action,
                    Ok(_) => continue,
                    Err(err) => {
                        eprintln!("worker {index}: action stream failed: {err}");
                        return;
                    }
                };
                let (client, id, completed) = (client.clone(), id.clone(), completed.clone());
                tokio::spawn(async move {
                    for event in [StepEvent::started(), completed] {
                        if let Err(err) = client.send_step_event(&id, &action, event).await {
                            eprintln!("worker {index}: step event for run {} failed: {err}", action.workflow_run_id);
                            return;
                        }
                    }
                });
            }
        }
    });
    Ok((Worker { client, id, serving, heartbeats }, is_ready))
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("ceiling: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), BoxError> {
    let Args { tasks, slots, workers } = parse_args()?;
    let millis = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let namespace = format!("scythe_ceiling_{millis}_{}", std::process::id());
    let config = HatchetConfig::from_env()?.with_namespace(&namespace)?;
    let client = HatchetClient::connect(&config).await?;
    let version = client.check_version().await?;
    eprintln!("engine {version} at {}, namespace {}", client.address(), config.namespace());

    let registered = client.register_workflow(&WorkflowDefinition::single_task(WORKFLOW)).await?;
    let mut pool = Vec::with_capacity(workers);
    let mut readiness = Vec::with_capacity(workers);
    for index in 0..workers {
        let (worker, ready) = start_worker(&config, &registered.action, index, slots).await?;
        pool.push(worker);
        readiness.push(ready);
    }
    tokio::time::timeout(READY_TIMEOUT, join_all(readiness))
        .await
        .map_err(|_| format!("the workers did not come up within {READY_TIMEOUT:?}"))?;

    let requests =
        (0..tasks).map(|i| TriggerRequest::new(WORKFLOW, &json!({ "i": i }))).collect::<Result<Vec<_>, _>>()?;
    let watcher = RunWatcher::new(&client);
    let deadline = Duration::from_secs(300) + Duration::from_millis(50) * u32::try_from(tasks).unwrap_or(u32::MAX);
    let started = Instant::now();
    let runs = client.bulk_trigger(requests).await?;
    let triggered = started.elapsed();
    let outcomes = tokio::time::timeout(deadline, join_all(runs.into_iter().map(|run| watcher.watch(run))))
        .await
        .map_err(|_| format!("not every run finished within {deadline:?}"))?;
    let elapsed = started.elapsed();

    let mut not_completed = 0;
    for outcome in &outcomes {
        match outcome {
            Ok(RunOutcome::Completed(_)) => {}
            Ok(RunOutcome::Failed(failures)) => {
                not_completed += 1;
                if not_completed <= 5 {
                    eprintln!("a run failed: {failures:?}");
                }
            }
            Err(err) => {
                not_completed += 1;
                if not_completed <= 5 {
                    eprintln!("a run's outcome is unknown: {err}");
                }
            }
        }
    }

    for worker in pool {
        worker.serving.abort();
        if let Err(err) = worker.client.unsubscribe(&worker.id).await {
            eprintln!("unsubscribing worker {} failed: {err}", worker.id);
        }
        worker.heartbeats.abort();
    }

    if not_completed > 0 {
        return Err(format!("{not_completed} of {tasks} runs did not complete").into());
    }
    let seconds = elapsed.as_secs_f64();
    let tasks_per_s = tasks as f64 / seconds;
    eprintln!(
        "{tasks} no-op tasks on {workers} workers x {slots} slots: bulk trigger {triggered:.2?}, all completed after \
         {elapsed:.2?} = {tasks_per_s:.1} tasks/s"
    );
    let report = json!({
        "client": "scythe-hatchet minimal",
        "tasks": tasks,
        "workers": workers,
        "slots": slots,
        "seconds": (seconds * 1000.0).round() / 1000.0,
        "tasks_per_s": (tasks_per_s * 10.0).round() / 10.0,
    });
    println!("{report}");
    Ok(())
}
