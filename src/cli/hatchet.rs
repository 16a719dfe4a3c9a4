//! The commands that need a Hatchet engine: `worker`, and `scatter` on Hatchet.

use std::io::IsTerminal;
use std::process::ExitCode;

use scythe_core::layout::{RunId, RunLayout};
use scythe_storage::Store;

use scythe_hatchet::Priority;

use super::{HatchetTasks, NewRun, Outcome, RunPriority, choose_specs, scythe_for};
use crate::api::Scythe;
use crate::app::App;
use crate::error::Error;
use crate::hatchet::{Root, TaskShape};
use crate::settings::EngineSettings;

/// `worker`: serves the binary's experiments to the engine until stopped; with `no_cache`
/// its leaves run every spec.
pub(super) async fn worker(app: &App, store: Store, no_cache: bool) -> Result<ExitCode, Error> {
    let settings = crate::hatchet::WorkerSettings::from_env()?;
    let mut engine = EngineSettings::from_env()?;
    if no_cache {
        engine.reuse_results = false;
    }
    let scythe = Scythe::new(store).with_engine(crate::hatchet::leaf_engine(&engine));
    crate::hatchet::serve(app.experiments.clone(), scythe, settings).await?;
    Ok(ExitCode::SUCCESS)
}

/// The task tree a run of `specs` specs gets, as `--dry-run` prints it.
pub(super) fn plan(
    specs: u64,
    batch: Option<u32>,
    fanout: Option<u64>,
    max_concurrency: Option<u32>,
    priority: Option<RunPriority>,
) -> Result<String, Error> {
    let plan = crate::hatchet::Plan::new(specs, batch, fanout, max_concurrency);
    Ok(plan.with_priority(priority.map(engine_priority)).to_string())
}

fn engine_priority(priority: RunPriority) -> Priority {
    match priority {
        RunPriority::Low => Priority::Low,
        RunPriority::Medium => Priority::Medium,
        RunPriority::High => Priority::High,
    }
}

/// `scatter --engine hatchet`: allocates the run, triggers its root task and, with `--wait`,
/// follows it to the end.
pub(super) async fn scatter(
    app: &App,
    store: Store,
    new: &NewRun,
    outcome: &Outcome,
    tasks: HatchetTasks,
) -> Result<ExitCode, Error> {
    let registered = app.find(&new.experiment)?;
    let specs = choose_specs(app, new)?;
    // The leaves run on the workers, each with its own settings; only whether they may reuse
    // results travels with the run (`--no-cache`, or SCYTHE_NO_CACHE here).
    let mut engine = EngineSettings::from_env()?;
    engine.reuse_results &= !tasks.no_cache;
    let scythe = scythe_for(store, new).with_engine(engine);
    let shape = TaskShape {
        batch: tasks.batch,
        fanout: tasks.fanout,
        max_concurrency: tasks.max_concurrency,
        priority: tasks.priority.map(engine_priority),
    };
    let triggered = scythe.scatter_on_hatchet(registered, &specs, new.version, shape).await?;
    let run = triggered.run.clone();
    say!("run        {run}");
    say!("folder     {}", triggered.folder);
    let copied = match &triggered.root {
        Root::Task(root) => {
            say!("hatchet    {} (engine {})", root.as_str(), triggered.engine_version);
            say!("tasks      {}", triggered.plan);
            false
        }
        Root::CopiedFrom(source, _) => {
            say!("hatchet    no task (engine {}): identical to run {source}", triggered.engine_version);
            true
        }
    };
    // A copied run is complete already: its summary follows, waited for or not.
    if !tasks.wait && !copied {
        say!("note       running on Hatchet workers: `status {run}` shows progress");
        if tasks.explain {
            say!("note       --explain needs --wait on Hatchet: the leaves report why their specs ran when they end");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let finished = scythe.wait_on_hatchet(triggered, std::io::stderr().is_terminal()).await?;
    say!(
        "specs      {} ({} succeeded, {} failed, {} not run) in {:.2?}",
        finished.n_specs,
        finished.succeeded,
        finished.failed,
        finished.missing,
        finished.elapsed
    );
    if finished.reused > 0 {
        say!(
            "cache      reused {} specs whose code, inputs and input files are unchanged (`--no-cache` runs them)",
            finished.reused
        );
    }
    if let Some(earlier) = &finished.copied_from {
        say!("cache      identical to run {earlier}: its final tables were copied, nothing ran or was gathered");
    }
    if finished.failed > 0 {
        crate::summary::write_failure_groups(&mut std::io::stdout().lock(), finished.failed, &finished.failure_groups)
            .map_err(Error::io("writing to standard output"))?;
    }
    if tasks.explain {
        // Specs not reused ran (or were counted done after a stall, without a report).
        let ran = finished.n_specs.saturating_sub(finished.reused);
        crate::summary::write_explanation(&mut std::io::stdout().lock(), &finished.explanation, ran, finished.reused)
            .map_err(Error::io("writing to standard output"))?;
    }
    Ok(crate::summary::exit_code(finished.failed, finished.missing, outcome.allow_failures))
}

/// Where the engine says the recorded root tasks of a Hatchet run are (nothing when it cannot
/// be reached: `status` works without an engine).
pub(super) async fn engine_status(store: &Store, run: &RunId) -> Vec<(String, String)> {
    let layout = RunLayout::new(store.prefix(), run.clone());
    let Ok(runs) = crate::cancel::engine_runs(store, &layout).await else { return Vec::new() };
    if runs.roots.is_empty() || std::env::var_os("HATCHET_CLIENT_TOKEN").is_none_or(|token| token.is_empty()) {
        return Vec::new();
    }
    match crate::hatchet::connect().await {
        Ok((client, _)) => crate::hatchet::root_statuses(&client, &runs.roots).await,
        Err(error) => runs.roots.into_iter().map(|root| (root, format!("unknown ({error})"))).collect(),
    }
}
