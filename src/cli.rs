//! The command line of a Scythe binary.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use scythe_core::VersionStrategy;
use scythe_core::layout::RunLayout;

use crate::app::App;
use crate::catalog::{self, find_run};
use crate::error::Error;
use crate::manifest::to_yaml;
use crate::scythe::{RunReport, Scythe};
use crate::settings::{EngineSettings, StorageSettings};
use crate::specs::Specs;

#[derive(Debug, Parser)]
#[command(about = "Scatter typed experiments and reap their results as Parquet.", version)]
struct Cli {
    /// Where runs are stored: a folder, file:///path or s3://bucket/prefix.
    #[arg(long, global = true, env = "SCYTHE_STORAGE")]
    storage: Option<String>,
    #[command(subcommand)]
    command: Command,
}

/// What a new run is: an experiment, its specs and its version.
#[derive(Debug, clap::Args)]
struct NewRun {
    /// The experiment's name.
    experiment: String,
    /// Specs file: .pq/.parquet, .csv or .jsonl.
    #[arg(long, conflicts_with = "sample", required_unless_present = "sample")]
    specs: Option<PathBuf>,
    /// Draw this many specs from the experiment's sampler instead.
    #[arg(long)]
    sample: Option<usize>,
    /// Seed for --sample.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// bump-major (default), bump-minor, bump-patch, keep, or a version like v1.2.0.
    #[arg(long, default_value = "bump-major")]
    version: VersionStrategy,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Allocate a versioned run of an experiment, run every spec and gather the results.
    Scatter {
        #[command(flatten)]
        run: NewRun,
        /// Worker threads (default: SCYTHE_WORKERS or the number of CPUs).
        #[arg(long)]
        workers: Option<usize>,
        /// embedded, hatchet, or auto: hatchet when HATCHET_CLIENT_TOKEN is set.
        #[arg(long, env = "SCYTHE_ENGINE", default_value = "auto")]
        engine: EngineChoice,
        /// On hatchet: wait for the run to finish and print its summary.
        #[arg(long)]
        wait: bool,
        /// On hatchet: specs per task (default: the experiment's `batch`, else 1/256 of the run).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        batch: Option<u32>,
        /// On hatchet: most children per scatter task; deeper trees for more leaves (default 256).
        #[arg(long, value_parser = clap::value_parser!(u64).range(2..))]
        fanout: Option<u64>,
    },
    /// Serve this binary's experiments to a Hatchet engine (HATCHET_CLIENT_* settings).
    Worker,
    /// Validate specs and allocate a run without running it (then `work` shards of it, `gather`).
    Allocate {
        #[command(flatten)]
        run: NewRun,
    },
    /// Run one shard of an allocated run (specs without a result yet); safe to repeat.
    Work {
        /// The run.
        run: String,
        /// Shard `I/N` (0-based I): the I-th of N contiguous parts of the specs. Default: all.
        #[arg(long, default_value = "0/1")]
        shard: Shard,
        /// Worker threads.
        #[arg(long)]
        workers: Option<usize>,
    },
    /// Run the specs of an interrupted run that have no result yet, then gather.
    Resume {
        /// `<experiment>/<vX.Y.Z>/<timestamp>` or `<experiment>/latest`.
        run: String,
        /// Worker threads.
        #[arg(long)]
        workers: Option<usize>,
    },
    /// Rewrite a run's final tables from its results.
    Gather {
        /// The run.
        run: String,
    },
    /// List experiments, versions and runs in the store.
    Runs {
        /// Only this experiment.
        experiment: Option<String>,
    },
    /// Show a run's state and counts.
    Status {
        /// The run.
        run: String,
    },
    /// Download a run's final tables.
    Results {
        /// The run.
        run: String,
        /// Folder to write them to.
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
    /// Print an experiment's input/output JSON Schema (experiment_io_spec.yml).
    Schema {
        /// The experiment's name.
        experiment: String,
    },
}

pub(crate) fn main(app: App, args: Vec<OsString>) -> ExitCode {
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("SCYTHE_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .try_init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let supervised = cli.command.runs_specs_here() && crate::supervise::wanted();
    let result = runtime.block_on(async {
        if supervised {
            crate::supervise::supervise(&args, &open_store(cli.storage.clone())?).await
        } else {
            execute(app, cli).await
        }
    });
    crate::supervise::finished();
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

impl Command {
    /// Whether the command runs specs on the embedded engine (in a supervised child process).
    fn runs_specs_here(&self) -> bool {
        match self {
            Command::Scatter { engine, .. } => !engine.is_hatchet(),
            Command::Resume { .. } | Command::Work { .. } => true,
            _ => false,
        }
    }
}

fn open_store(url: Option<String>) -> Result<scythe_storage::Store, Error> {
    let mut storage = StorageSettings::from_env();
    if let Some(url) = url {
        storage.url = url;
    }
    storage.open()
}

async fn execute(app: App, cli: Cli) -> Result<ExitCode, Error> {
    if let Some(error) = app.errors.into_iter().next() {
        return Err(error);
    }
    let app = App { errors: Vec::new(), ..app };
    let store = open_store(cli.storage)?;
    let engine = |workers: Option<usize>| -> Result<EngineSettings, Error> {
        let mut settings = EngineSettings::from_env()?;
        if let Some(workers) = workers {
            settings.workers = workers.max(1);
        }
        settings.progress = std::io::stderr().is_terminal();
        Ok(settings)
    };
    match cli.command {
        Command::Allocate { run: new } => {
            let registered = app.find(&new.experiment)?;
            let specs = choose_specs(&app, &new)?;
            let run = Scythe::new(store).allocate_registered(registered, &specs, new.version).await?;
            println!("{run}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Work { run, shard, workers } => {
            let id = find_run(&store, &run).await?;
            let registered = app.find(id.experiment())?;
            let n_specs = catalog::run_info(&store, id.clone()).await?.n_specs;
            let rows = shard.rows(n_specs);
            let scythe = Scythe::new(store).with_engine(engine(workers)?);
            let report = scythe.work_registered(registered, &id, rows.clone(), false).await?;
            println!(
                "{id}: specs {}..{}: ran {} ({} succeeded, {} failed) in {:.2?}",
                rows.start, rows.end, report.ran, report.succeeded, report.failed, report.run_time
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Worker => {
            let settings = crate::hatchet::WorkerSettings::from_env()?;
            let scythe = Scythe::new(store).with_engine(crate::hatchet::leaf_engine(&EngineSettings::from_env()?));
            crate::hatchet::serve(app.experiments.clone(), scythe, settings).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Scatter { run: new, engine: choice, wait, batch, fanout, .. } if choice.is_hatchet() => {
            let registered = app.find(&new.experiment)?;
            let specs = choose_specs(&app, &new)?;
            // Connect first: a wrong token or engine must not use up a version.
            let (client, engine_version) = crate::hatchet::connect().await?;
            let scythe = Scythe::new(store.clone());
            let run = scythe.allocate_registered(Arc::clone(&registered), &specs, new.version).await?;
            let n_specs = catalog::run_info(&store, run.clone()).await?.n_specs;
            let plan = crate::hatchet::Plan::new(n_specs, batch.or(registered.config().batch), fanout);
            let root = crate::hatchet::trigger(&client, &run, &plan).await?;
            println!("run        {run}");
            println!("folder     {}", store.uri(&RunLayout::new(store.prefix(), run.clone()).run_dir()));
            println!("hatchet    {} (engine {engine_version})", root.as_str());
            println!("tasks      {plan}");
            if !wait {
                println!("note       running on Hatchet workers: `status {run}` shows progress");
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
            let output = output?;
            println!(
                "specs      {n_specs} ({} succeeded, {} failed, {} not run) in {:.2?}",
                output.succeeded,
                output.failed,
                output.missing,
                started.elapsed()
            );
            Ok(if output.missing > 0 { ExitCode::from(3) } else { ExitCode::SUCCESS })
        }
        Command::Scatter { run: new, workers, .. } => {
            let registered = app.find(&new.experiment)?;
            let specs = choose_specs(&app, &new)?;
            let version = new.version;
            let scythe = Scythe::new(store).with_engine(engine(workers)?);
            let report = scythe.scatter_registered(registered, &specs, version).await?;
            print_report(&report);
            Ok(exit_code(&report))
        }
        Command::Resume { run, workers } => {
            let id = find_run(&store, &run).await?;
            let registered = app.find(id.experiment())?;
            let scythe = Scythe::new(store).with_engine(engine(workers)?);
            let report = scythe.resume_registered(registered, &id).await?;
            print_report(&report);
            Ok(exit_code(&report))
        }
        Command::Gather { run } => {
            let id = find_run(&store, &run).await?;
            let registered = app.find(id.experiment())?;
            let summary = Scythe::new(store).gather_registered(registered, &id).await?;
            println!("{id}: {} succeeded, {} failed, {} missing", summary.succeeded, summary.failed, summary.missing);
            Ok(ExitCode::SUCCESS)
        }
        Command::Runs { experiment } => {
            let experiments = match experiment {
                Some(name) => vec![name],
                None => catalog::experiments(&store).await?,
            };
            if experiments.is_empty() {
                println!("no runs in {}", store.uri(store.prefix()));
            }
            for name in experiments {
                println!("{name}");
                for version in catalog::versions(&store, &name).await? {
                    println!("  {version}");
                    for run in catalog::runs(&store, &name, version).await? {
                        let counts = match (run.succeeded, run.failed) {
                            (Some(ok), Some(failed)) => format!("{ok} succeeded, {failed} failed"),
                            _ => String::new(),
                        };
                        println!(
                            "    {:<24} {:<10} {:>9} specs  {counts}",
                            run.id.folder_name(),
                            run.state,
                            run.n_specs
                        );
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { run } => {
            let id = find_run(&store, &run).await?;
            let info = catalog::run_info(&store, id.clone()).await?;
            let layout = RunLayout::new(store.prefix(), id.clone());
            println!("run:       {id}");
            println!("folder:    {}", store.uri(&layout.run_dir()));
            println!("state:     {}", info.state);
            println!("specs:     {}", info.n_specs);
            if let (Some(ok), Some(failed)) = (info.succeeded, info.failed) {
                println!("succeeded: {ok}\nfailed:    {failed}");
            } else if info.n_specs > 0 {
                let done = catalog::progress(&store, &id).await?;
                println!(
                    "progress:  {done} of {} specs have a result ({:.1}%)",
                    info.n_specs,
                    100.0 * done as f64 / info.n_specs as f64
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Results { run, out } => {
            let id = find_run(&store, &run).await?;
            let layout = RunLayout::new(store.prefix(), id.clone());
            let folder = out.join(id.to_string());
            let finals = store.list(&layout.final_dir()).await?;
            if finals.is_empty() {
                return Err(Error::Settings(format!(
                    "run `{id}` has no final tables yet; run `resume {id}` or `gather {id}`"
                )));
            }
            for meta in finals {
                let name = meta.location.filename().unwrap_or_default().to_owned();
                let target = folder.join(&name);
                store.download_file(meta.location.as_ref(), &target).await?;
                println!("{}", target.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Schema { experiment } => {
            let registered = app.find(&experiment)?;
            print!("{}", to_yaml("experiment_io_spec.yml", &registered.schema().io_spec())?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Which engine runs a scatter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum EngineChoice {
    /// Hatchet when `HATCHET_CLIENT_TOKEN` is set, else embedded.
    Auto,
    /// The in-process pool.
    Embedded,
    /// A Hatchet engine and its workers.
    Hatchet,
}

impl EngineChoice {
    fn is_hatchet(self) -> bool {
        match self {
            EngineChoice::Auto => std::env::var_os("HATCHET_CLIENT_TOKEN").is_some_and(|t| !t.is_empty()),
            EngineChoice::Embedded => false,
            EngineChoice::Hatchet => true,
        }
    }
}

fn choose_specs(app: &App, new: &NewRun) -> Result<Specs, Error> {
    let experiment = &new.experiment;
    match (&new.specs, new.sample) {
        (Some(path), _) => Ok(Specs::file(path)),
        (None, Some(n)) => {
            let sampler = app.samplers.get(experiment).ok_or_else(|| {
                Error::Settings(format!("experiment `{experiment}` has no sampler; pass --specs FILE"))
            })?;
            sampler(n, new.seed)
        }
        (None, None) => Err(Error::Settings("pass --specs FILE or --sample N".to_owned())),
    }
}

/// `I/N`: the I-th (0-based) of N contiguous shards of a run's specs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Shard {
    index: u64,
    count: u64,
}

impl Shard {
    /// The sort indexes of this shard among `n_specs`.
    fn rows(self, n_specs: u64) -> std::ops::Range<u64> {
        let bound = |i: u64| (u128::from(n_specs) * u128::from(i) / u128::from(self.count)) as u64;
        bound(self.index)..bound(self.index + 1)
    }
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || format!("`{text}` is not a shard; write I/N with 0 <= I < N, like 3/10");
        let (index, count) = text.split_once('/').ok_or_else(error)?;
        let (index, count): (u64, u64) = (index.parse().map_err(|_| error())?, count.parse().map_err(|_| error())?);
        if count == 0 || index >= count {
            return Err(error());
        }
        Ok(Shard { index, count })
    }
}

fn print_report(report: &RunReport) {
    let rate = report.ran as f64 / report.run_time.as_secs_f64().max(1e-9);
    println!("run        {}", report.run);
    println!("folder     {}", report.folder);
    println!(
        "specs      {} ({} succeeded, {} failed, {} not run)",
        report.n_specs, report.succeeded, report.failed, report.missing
    );
    println!(
        "time       {:.2?} running {} specs ({rate:.0} specs/s), {:.2?} gathering",
        report.run_time, report.ran, report.gather_time
    );
    for (table, uri) in &report.tables {
        println!("table      {table:<18} {uri}");
    }
    if report.failed > 0 {
        println!("note       {} specs failed: see final/failures.pq", report.failed);
    }
    if report.missing > 0 {
        println!("note       interrupted: `resume {}` runs the {} remaining specs", report.run, report.missing);
    }
}

fn exit_code(report: &RunReport) -> ExitCode {
    if report.missing > 0 { ExitCode::from(3) } else { ExitCode::SUCCESS }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_every_spec_once() {
        for n_specs in [0, 1, 7, 1000, 1001] {
            let shards: Vec<_> = (0..7).map(|i| Shard { index: i, count: 7 }.rows(n_specs)).collect();
            assert_eq!(shards[0].start, 0);
            assert_eq!(shards[6].end, n_specs);
            assert!(shards.windows(2).all(|pair| pair[0].end == pair[1].start));
        }
        assert_eq!("2/3".parse::<Shard>(), Ok(Shard { index: 2, count: 3 }));
        assert!("3/3".parse::<Shard>().is_err() && "1/0".parse::<Shard>().is_err() && "x".parse::<Shard>().is_err());
    }
}
