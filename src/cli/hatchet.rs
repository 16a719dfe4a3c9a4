//! The commands that need a Hatchet engine: `worker`, and `scatter` on Hatchet.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use scythe_core::layout::{RunId, RunLayout};
use scythe_storage::Store;

use super::{HatchetTasks, NewRun, Outcome, choose_specs, scythe_for};
use crate::api::Scythe;
use crate::app::App;
use crate::catalog;
use crate::error::Error;
use crate::settings::EngineSettings;

/// `worker`: serves the binary's experiments to the engine until stopped.
pub(super) async fn worker(app: &App, store: Store) -> Result<ExitCode, Error> {
    let settings = crate::hatchet::WorkerSettings::from_env()?;
    let scythe = Scythe::new(store).with_engine(crate::hatchet::leaf_engine(&EngineSettings::from_env()?));
    crate::hatchet::serve(app.experiments.clone(), scythe, settings).await?;
    Ok(ExitCode::SUCCESS)
}

/// The task tree a run of `specs` specs gets, as `--dry-run` prints it.
pub(super) fn plan(
    specs: u64,
    batch: Option<u32>,
    fanout: Option<u64>,
    max_concurrency: Option<u32>,
) -> Result<String, Error> {
    Ok(crate::hatchet::Plan::new(specs, batch, fanout, max_concurrency).to_string())
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
    // Connect first: a wrong token or engine must not use up a version.
    let (client, engine_version) = crate::hatchet::connect().await?;
    let scythe = scythe_for(store.clone(), new);
    let run = scythe.allocate_on(Arc::clone(&registered), &specs, new.version, "hatchet").await?;
    let n_specs = catalog::run_info(&store, run.clone()).await?.n_specs;
    let plan = crate::hatchet::Plan::new(
        n_specs,
        tasks.batch.or(registered.config().batch),
        tasks.fanout,
        tasks.max_concurrency,
    );
    let root = crate::hatchet::trigger(&client, &run, &plan).await?;
    let layout = RunLayout::new(store.prefix(), run.clone());
    // `cancel` reads the root from here (and finds the rest of the run's tasks by metadata).
    crate::cancel::record_engine_run(&store, &layout, root.as_str()).await?;
    say!("run        {run}");
    say!("folder     {}", store.uri(&layout.run_dir()));
    say!("hatchet    {} (engine {engine_version})", root.as_str());
    say!("tasks      {plan}");
    if !tasks.wait {
        say!("note       running on Hatchet workers: `status {run}` shows progress");
        return Ok(ExitCode::SUCCESS);
    }
    let started = std::time::Instant::now();
    let progress = crate::progress::Progress::new(n_specs, std::io::stderr().is_terminal());
    let waiting = crate::hatchet::wait(&client, root);
    tokio::pin!(waiting);
    let output = loop {
        tokio::select! {
            output = &mut waiting => break output,
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {
                if let Ok(done) = catalog::progress(&store, &run).await {
                    progress.set(done, 0);
                }
            }
        }
    };
    progress.finish();
    let output = match output {
        // `cancel` from another shell: the root ends cancelled, which is not a failure of the run.
        Err(_) if crate::cancel::is_cancelled(&store, &layout).await? => {
            return Err(Error::RunCancelled { run: run.to_string() });
        }
        output => output?,
    };
    say!(
        "specs      {n_specs} ({} succeeded, {} failed, {} not run) in {:.2?}",
        output.succeeded,
        output.failed,
        output.missing,
        started.elapsed()
    );
    let reused = crate::provenance::count_reused(&store, &layout).await?;
    if reused > 0 {
        say!(
            "cache      reused {reused} specs whose code, inputs and input files are unchanged (`--no-cache` runs them)"
        );
    }
    if output.failed > 0 {
        let groups = crate::summary::failure_groups(&store, &layout.final_table(crate::parts::FAILURES)).await?;
        crate::summary::write_failure_groups(&mut std::io::stdout().lock(), output.failed, &groups)
            .map_err(Error::io("writing to standard output"))?;
    }
    Ok(crate::summary::exit_code(output.failed, output.missing, outcome.allow_failures))
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
