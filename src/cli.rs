//! The command line of a Scythe binary.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use scythe_core::VersionStrategy;
use scythe_core::layout::RunLayout;

use crate::api::{RunReport, Scythe};
use crate::app::App;
use crate::catalog::{self, find_run};
use crate::design::DesignOptions;
use crate::error::Error;
use crate::manifest::to_yaml;
use crate::settings::{EngineSettings, StorageSettings};
use crate::specs::Specs;
use crate::summary::ReportOf;
use scythe_core::design::DesignMethod;

const DESIGN_HELP: &str = "\
Fields come from the input's JSON Schema: numbers with both bounds, integers, unit enums and bools
are drawn; other fields (no bounds, strings, FileRefs) need --set FIELD=VALUE or --levels
FIELD=V1,V2,… (nested fields by dotted path, `--set FIELD=null` for an Option).

Examples:
  design simulate --method lhs -n 100 --out specs.csv
  design simulate --method saltelli -n 1024 --seed 1 --out saltelli.pq
  design simulate --method grid --points 5 --levels weather=oslo.csv,phoenix.csv
  design simulate --template > specs.csv
  design simulate --template --out specs.jsonl   (nested struct fields: CSV cannot hold them)

Rows are generated, validated and written 65,536 at a time: 10,000,000 specs stream to .pq in
bounded memory. A file appears only once whole: nothing is left of a refused design.";

const DIFF_HELP: &str = "\
Specs are matched on the input fields both runs have: uploaded input files by file name, remote
ones by URI, numbers of two numeric types as f64. Outputs are compared for the specs that
succeeded in both runs (both must be gathered), column by column of final/scalars.pq.

Breaking schema changes (those `scatter --version keep` refuses without --force): in the input a
field removed, retyped or added as required, or a constraint tightened (a bound moved inward, an
enum value dropped, a pattern or multipleOf changed, an optional field made required); in the
output a field removed or retyped.

Examples:
  diff counted/v1.0.0/latest counted/v2.0.0/latest
  diff ishigami/v1.0.0/2026-01-05_10-00-00 ishigami/latest --tolerance 1e-9 --json";

const CANCEL_HELP: &str = "\
On Hatchet: cancels the run's tasks on the engine (its root task, recorded in engine_runs.yml,
and every queued or running scatter node and leaf tagged with the run's experiment_id); specs
that were running end without a result. On the embedded engine: an interrupted run is marked
cancelled; a run that a live process is still running is refused, naming that process (stop it
first).

The run is marked with cancelled.yml (`status` and `runs` show it `cancelled`) and keeps every
result written so far; `resume <run>` removes the mark and runs the specs without a result.
Cancelling a cancelled run again is harmless (on Hatchet it sweeps the engine again); a
complete run cannot be cancelled.";

/// `println!` that returns an error instead of panicking when stdout is closed, so
/// `runs | head -1` ends quietly ([`main`] maps a broken pipe to success).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*).map_err(Error::io("writing to standard output"))?
    }};
}

/// Flags shared by the commands that end a run's execution.
#[derive(Debug, Clone, Copy, clap::Args)]
struct Outcome {
    /// Exit 0 when every spec has a result even if some failed (default: exit 1).
    #[arg(long)]
    allow_failures: bool,
}

/// The per-run concurrency limit of `scatter`, `resume` and `work`.
#[derive(Debug, Clone, Copy, clap::Args)]
struct Limit {
    /// At most N specs of this run at once. Embedded engine (scatter, resume, work): at most N
    /// worker threads (the smaller of N and --workers). Hatchet (scatter --engine hatchet): at
    /// most N of the run's leaf tasks on workers at once, whatever the number of workers: the
    /// leaves are dealt round robin into N lanes keyed by the run, and the engine's concurrency
    /// groups (one per lane, GROUP_ROUND_ROBIN) run one leaf per lane at a time; a leaf runs its
    /// --batch specs one after another, other runs are not held back. Needs workers of this
    /// Scythe version.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_concurrency: Option<u32>,
}

/// What scatter (embedded, or on Hatchet with `--wait`), resume and work also print.
#[derive(Debug, Clone, Copy, clap::Args)]
struct Explain {
    /// Say why specs ran instead of reusing a cached result: a count per reason (no entry,
    /// code changed, input file changed, failed before, cache disabled, …) and the first 10.
    #[arg(long)]
    explain: bool,
}

#[derive(Debug, Parser)]
#[command(
    about = "Scatter typed experiments and reap their results as Parquet.",
    version,
    after_help = crate::summary::EXIT_CODES_HELP
)]
struct Cli {
    /// Where runs are stored: a folder, file:///path or s3://bucket/prefix.
    #[arg(long, global = true, env = "SCYTHE_STORAGE")]
    storage: Option<String>,
    /// Run every spec: do not reuse the results of specs whose code, inputs and input files
    /// are unchanged since a run that succeeded (the result cache is on by default). For
    /// `worker`: the leaves it runs never reuse results.
    #[arg(long, global = true)]
    no_cache: bool,
    #[command(subcommand)]
    command: Command,
}

/// What a new run is: an experiment, its specs and its version.
#[derive(Debug, clap::Args)]
struct NewRun {
    /// The experiment's name.
    experiment: String,
    /// Specs file: .pq/.parquet, .csv or .jsonl.
    #[arg(long, conflicts_with_all = ["sample", "design"], required_unless_present_any = ["sample", "design"])]
    specs: Option<PathBuf>,
    /// Draw this many specs from the experiment's sampler instead.
    #[arg(long, conflicts_with = "design")]
    sample: Option<usize>,
    /// Build the specs with a design from the input's schema: grid, random, lhs, sobol,
    /// halton, saltelli or morris (with -n N and the options below); recorded in the manifest.
    #[arg(long, value_name = "METHOD", value_parser = crate::design::parse_method)]
    design: Option<DesignMethod>,
    /// Seed for --sample and --design.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[command(flatten)]
    design_options: DesignOptions,
    /// bump-major (default), bump-minor, bump-patch, keep, or a version like v1.2.0.
    /// `keep` (or an existing version) is refused when the schema changed in a breaking way
    /// since the version's latest run (see `diff --help`), unless --force.
    #[arg(long, default_value = "bump-major")]
    version: VersionStrategy,
    /// With `--version keep` (or an existing version): add the run to the version despite a
    /// breaking schema change since its latest run, with a warning per change.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Allocate a versioned run of an experiment, run every spec and gather the results.
    #[command(after_help = crate::summary::EXIT_CODES_HELP)]
    Scatter {
        #[command(flatten)]
        run: NewRun,
        #[command(flatten)]
        outcome: Outcome,
        #[command(flatten)]
        explain: Explain,
        /// Worker threads (default: SCYTHE_WORKERS or the number of CPUs).
        #[arg(long)]
        workers: Option<usize>,
        #[command(flatten)]
        limit: Limit,
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
        /// On hatchet: the engine priority of the run's tasks (default: low, the engine's). The
        /// engine hands out the queued leaves of higher-priority runs of the same experiment
        /// first, so an urgent run need not wait behind a large one; it promises no order across
        /// experiments.
        #[arg(long, value_enum, value_name = "PRIORITY")]
        priority: Option<RunPriority>,
        /// Validate the specs and print the plan (count, version, storage, engine, first rows);
        /// write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Write the specs of a design built from the experiment's input schema (to pass to
    /// `--specs`), or with --template the input's columns and one example row to fill in by hand.
    #[command(after_help = DESIGN_HELP)]
    Design {
        /// The experiment's name.
        experiment: String,
        /// grid, random, lhs, sobol, halton, saltelli or morris.
        #[arg(long, value_name = "METHOD", value_parser = crate::design::parse_method, required_unless_present = "template")]
        method: Option<DesignMethod>,
        /// Seed of every random choice: the same command and seed write the same file.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[command(flatten)]
        options: DesignOptions,
        /// Where to write: .csv, .pq/.parquet or .jsonl (default: CSV on standard output).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Write the input's columns and one example row instead (CSV, or .jsonl with --out:
        /// nested struct fields need JSON Lines).
        #[arg(long, conflicts_with = "method")]
        template: bool,
    },
    /// Serve this binary's experiments to a Hatchet engine (HATCHET_CLIENT_* settings).
    ///
    /// The worker runs in a child process that is started again when a spec kills it (abort,
    /// segfault, out of memory); such a spec ends as a `crashed` failure. SCYTHE_SUPERVISE=0
    /// serves in this process instead.
    Worker,
    /// Validate specs and allocate a run without running it (then `work` shards of it, `gather`).
    Allocate {
        #[command(flatten)]
        run: NewRun,
    },
    /// Run one shard of an allocated run (specs without a result yet); safe to repeat.
    #[command(after_help = crate::summary::EXIT_CODES_HELP)]
    Work {
        /// The run.
        run: String,
        #[command(flatten)]
        outcome: Outcome,
        /// Shard `I/N` (0-based I): the I-th of N contiguous parts of the specs. Default: all.
        #[arg(long, default_value = "0/1")]
        shard: Shard,
        #[command(flatten)]
        explain: Explain,
        /// Worker threads.
        #[arg(long)]
        workers: Option<usize>,
        #[command(flatten)]
        limit: Limit,
    },
    /// Run the specs of an interrupted run that have no result yet, then gather.
    #[command(after_help = crate::summary::EXIT_CODES_HELP)]
    Resume {
        /// `<experiment>/<vX.Y.Z>/<timestamp>` or `<experiment>/latest`.
        run: String,
        /// Also run again the specs that failed (after fixing the cause); a success replaces
        /// the recorded failure in the final tables.
        #[arg(long)]
        retry_failed: bool,
        #[command(flatten)]
        outcome: Outcome,
        #[command(flatten)]
        explain: Explain,
        /// Worker threads.
        #[arg(long)]
        workers: Option<usize>,
        #[command(flatten)]
        limit: Limit,
    },
    /// Rewrite a run's final tables from its results.
    #[command(after_help = crate::summary::EXIT_CODES_HELP)]
    Gather {
        /// The run.
        run: String,
        #[command(flatten)]
        outcome: Outcome,
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
    /// Cancel a run that is not complete: keep the results it has and stop the rest; `resume`
    /// continues it later.
    #[command(after_help = CANCEL_HELP)]
    Cancel {
        /// The run.
        run: String,
    },
    /// Compare two runs: schema changes (fields added, removed, retyped, constraints changed;
    /// breaking ones marked), specs only one run has (matched by their input values, not by
    /// row number), and for the specs both have how many outputs changed, with the largest
    /// change of each output column.
    #[command(after_help = DIFF_HELP)]
    Diff {
        /// The first run (`<experiment>/<vX.Y.Z>/<timestamp>`, `<experiment>/<vX.Y.Z>/latest`).
        a: String,
        /// The second run.
        b: String,
        /// Numbers that differ by at most this much count as unchanged.
        #[arg(long, default_value_t = 0.0, value_name = "ABS")]
        tolerance: f64,
        /// Print the comparison as JSON (for scripts) instead of text.
        #[arg(long)]
        json: bool,
        /// Exit 1 when the runs differ (schema, specs or outputs), 0 when they do not, as
        /// `git diff --exit-code` (errors exit 2).
        #[arg(long)]
        exit_code: bool,
    },
    /// Download a run's final tables.
    Results {
        /// The run.
        run: String,
        /// Folder to write them to.
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
    /// Write a run's report: a self-contained index.html (histograms and statistics of each
    /// output, inputs against outputs — a strip per value of a categorical input —, failures
    /// by message and across each input, spec durations and the slowest specs, Sobol' or Morris
    /// sensitivity indices when the run's design allows) and its tables (sensitivity.pq,
    /// summary.pq, histograms.pq, failure_rates.pq, time.pq, slowest.pq), into
    /// `<run>/report/` of the store or a local folder.
    Report {
        /// The run.
        run: String,
        /// Write the report to this local folder instead of the run's `report/` folder.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Open index.html with xdg-open afterwards (else print where it is).
        #[arg(long)]
        open: bool,
    },
    /// Print an experiment's input/output JSON Schema (experiment_io_spec.yml).
    Schema {
        /// The experiment's name.
        experiment: String,
    },
}

// The command line is the App's entry point; it lives here so that `app` (what a binary
// registers) does not depend on the CLI built over it.
impl App {
    /// Parses the command line, runs the command and returns the process exit code.
    pub fn run(self) -> ExitCode {
        main(self, std::env::args_os().collect())
    }

    /// Runs the command line `args` (the first is the program name).
    pub fn run_with_args<I, T>(self, args: I) -> ExitCode
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString>,
    {
        main(self, args.into_iter().map(Into::into).collect())
    }
}

pub(crate) fn main(app: App, args: Vec<OsString>) -> ExitCode {
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    init_logging();
    crate::supervise::bind_to_parent();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let supervised = cli.command.runs_specs_here() && crate::supervise::wanted();
    let supervised_worker = matches!(cli.command, Command::Worker) && crate::supervise::wanted();
    // `diff --exit-code` keeps 1 for "the runs differ".
    let error_code = if matches!(cli.command, Command::Diff { exit_code: true, .. }) { 2 } else { 1 };
    let result = runtime.block_on(async {
        if supervised {
            crate::supervise::supervise(&args, &open_store(cli.storage.clone())?).await
        } else if supervised_worker {
            crate::supervise::supervise_worker(&args).await
        } else {
            execute(app, cli).await
        }
    });
    crate::supervise::finished();
    match result {
        Ok(code) => code,
        // stdout was closed by its reader (`runs | head -1`): nothing is wrong.
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(error_code)
        }
    }
}

impl Command {
    /// Whether the command runs specs on the embedded engine (in a supervised child process).
    fn runs_specs_here(&self) -> bool {
        match self {
            Command::Scatter { engine, dry_run, .. } => !engine.is_hatchet() && !dry_run,
            Command::Resume { .. } | Command::Work { .. } => true,
            _ => false,
        }
    }
}

/// How a scatter on Hatchet cuts the run into tasks, and whether it waits for them.
#[cfg_attr(not(feature = "hatchet"), allow(dead_code, reason = "only the Hatchet commands read it"))]
struct HatchetTasks {
    /// Wait for the run to finish and print its summary.
    wait: bool,
    /// Specs per leaf task.
    batch: Option<u32>,
    /// Most children per scatter task.
    fanout: Option<u64>,
    /// Most leaves of the run at once.
    max_concurrency: Option<u32>,
    /// The engine priority of the run's tasks.
    priority: Option<RunPriority>,
    /// Leaves reuse no cached result (`--no-cache`).
    no_cache: bool,
    /// Print why specs ran (with `wait`: the leaves report it).
    explain: bool,
}

/// The commands that need a Hatchet engine, compiled with the `hatchet` feature.
#[cfg(feature = "hatchet")]
#[path = "cli/hatchet.rs"]
mod hatchet;

/// Without the `hatchet` feature, the Hatchet commands say how to get it.
#[cfg(not(feature = "hatchet"))]
#[path = "cli/no_hatchet.rs"]
mod hatchet;

/// The folder of a local store that does not exist yet (opening the store creates it).
fn missing_local_root(url: Option<&str>) -> Option<PathBuf> {
    let url = url.map_or_else(|| StorageSettings::from_env().url, str::to_owned);
    match scythe_storage::StoreLocation::parse(&url) {
        Ok((scythe_storage::StoreLocation::Local(root), _)) if !root.exists() => Some(root),
        _ => None,
    }
}

fn open_store(url: Option<String>) -> Result<scythe_storage::Store, Error> {
    let mut storage = StorageSettings::from_env();
    if let Some(url) = url {
        storage.url = url;
    }
    storage.open()
}

/// Logs to stderr above the progress bar: `SCYTHE_LOG`, else `RUST_LOG`, else warnings;
/// colours only on a terminal. Panics of experiment bodies go to the log at debug level.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SCYTHE_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| "warn".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(crate::progress::LogWriter)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
    crate::progress::route_worker_panics_to_log();
}

async fn execute(app: App, cli: Cli) -> Result<ExitCode, Error> {
    if let Some(error) = app.errors.into_iter().next() {
        return Err(error);
    }
    let app = App { errors: Vec::new(), ..app };
    if let Command::Design { experiment, method, seed, options, out, template } = &cli.command {
        return design_command(&app, experiment, *method, *seed, options, out.clone(), *template);
    }
    // A dry run writes nothing, not even the folder of a local store that does not exist yet.
    let missing_root = match &cli.command {
        Command::Scatter { dry_run: true, .. } => missing_local_root(cli.storage.as_deref()),
        _ => None,
    };
    let store = open_store(cli.storage)?;
    let no_cache = cli.no_cache;
    let engine = |workers: Option<usize>, limit: Limit| -> Result<EngineSettings, Error> {
        let mut settings = EngineSettings::from_env()?;
        if no_cache {
            settings.reuse_results = false;
        }
        if let Some(workers) = workers {
            settings.workers = workers.max(1);
        }
        if let Some(limit) = limit.max_concurrency {
            settings.workers = settings.workers.min(limit as usize).max(1);
        }
        settings.progress = std::io::stderr().is_terminal();
        Ok(settings)
    };
    match cli.command {
        Command::Allocate { run: new } => {
            let registered = app.find(&new.experiment)?;
            let specs = choose_specs(&app, &new)?;
            let run = scythe_for(store, &new).allocate_registered(registered, &specs, new.version).await?;
            say!("{run}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Work { run, outcome, shard, explain, workers, limit } => {
            let id = find_run(&store, &run).await?;
            let registered = app.find(id.experiment())?;
            let n_specs = catalog::run_info(&store, id.clone()).await?.n_specs;
            let rows = shard.rows(n_specs);
            let scythe = Scythe::new(store).with_engine(engine(workers, limit)?);
            let report = scythe.work_leased(registered, &id, rows.clone()).await?;
            say!(
                "{id}: specs {}..{}: ran {} ({} succeeded, {} failed, {} without a result), reused {} cached, in {:.2?}",
                rows.start,
                rows.end,
                report.ran,
                report.succeeded,
                report.failed,
                report.missing,
                report.reused,
                report.run_time
            );
            if explain.explain {
                crate::summary::write_explanation(
                    &mut std::io::stdout().lock(),
                    &report.explanation,
                    report.ran,
                    report.reused,
                )
                .map_err(Error::io("writing to standard output"))?;
            }
            Ok(crate::summary::exit_code(report.failed, report.missing, outcome.allow_failures))
        }
        Command::Worker => hatchet::worker(&app, store, no_cache).await,
        Command::Scatter {
            run: new, engine: choice, workers, limit, batch, fanout, priority, dry_run: true, ..
        } => {
            let registered = app.find(&new.experiment)?;
            let specs = choose_specs(&app, &new)?;
            let valid = {
                let check =
                    |batch: &arrow::array::RecordBatch, first_row: u64| registered.check_decode(batch, first_row);
                crate::specs::load(&specs, registered.schema().input(), &check)?
            };
            let version = new.version.resolve(crate::allocate::existing_versions(&store, &new.experiment).await?);
            say!("dry run    nothing is written");
            say!("specs      {} (valid)", valid.rows);
            say!("version    {version} ({})", new.version);
            say!("storage    {}", store.uri(store.prefix()));
            if choice.is_hatchet() {
                let batch = batch.or(registered.config().batch);
                let plan = hatchet::plan(valid.rows, batch, fanout, limit.max_concurrency, priority)?;
                say!("engine     hatchet, tasks {plan}");
            } else {
                let given =
                    [("--batch", batch.is_some()), ("--fanout", fanout.is_some()), ("--priority", priority.is_some())];
                warn_hatchet_only(&given);
                say!("engine     embedded, {} worker threads", engine(workers, limit)?.workers);
            }
            if let Some(design) = &valid.design {
                say!(
                    "design     {} (n {}, seed {}, {} sampled fields)",
                    design.method,
                    design.n,
                    design.seed,
                    design.dimensions.len()
                );
            }
            if let Some(first) = valid.batches.first() {
                let shown = first.slice(0, first.num_rows().min(5));
                let text = arrow::util::pretty::pretty_format_batches(&[shown])
                    .map_err(|source| Error::Arrow { context: "printing the first specs".to_owned(), source })?;
                say!("first rows\n{text}");
            }
            if let Some(root) = missing_root {
                // Only removes what opening the store created: an empty folder.
                let _ = std::fs::remove_dir(root);
            }
            Ok(ExitCode::SUCCESS)
        }
        // Handled before the store is opened (a design touches no storage).
        Command::Design { .. } => Ok(ExitCode::SUCCESS),
        Command::Scatter {
            run: new, outcome, engine: choice, wait, batch, fanout, priority, limit, explain, ..
        } if choice.is_hatchet() => {
            let max_concurrency = limit.max_concurrency;
            let tasks =
                HatchetTasks { wait, batch, fanout, max_concurrency, priority, no_cache, explain: explain.explain };
            hatchet::scatter(&app, store, &new, &outcome, tasks).await
        }
        Command::Scatter { run: new, outcome, explain, workers, limit, wait, batch, fanout, priority, .. } => {
            warn_hatchet_only(&[
                ("--wait", wait),
                ("--batch", batch.is_some()),
                ("--fanout", fanout.is_some()),
                ("--priority", priority.is_some()),
            ]);
            let registered = app.find(&new.experiment)?;
            let specs = choose_specs(&app, &new)?;
            let version = new.version;
            let scythe = scythe_for(store, &new).with_engine(engine(workers, limit)?);
            let report = scythe.scatter_registered(registered, &specs, version).await?;
            print_report(&report, ReportOf::Scatter, explain.explain)?;
            Ok(crate::summary::exit_code(report.failed, report.missing, outcome.allow_failures))
        }
        Command::Resume { run, retry_failed, outcome, explain, workers, limit } => {
            let id = find_run(&store, &run).await?;
            let registered = app.find(id.experiment())?;
            let scythe = Scythe::new(store).with_engine(engine(workers, limit)?);
            let report = scythe.resume_registered(registered, &id, retry_failed).await?;
            print_report(&report, ReportOf::Resume, explain.explain)?;
            Ok(crate::summary::exit_code(report.failed, report.missing, outcome.allow_failures))
        }
        Command::Gather { run, outcome } => {
            let id = find_run(&store, &run).await?;
            let registered = app.find(id.experiment())?;
            let summary = Scythe::new(store.clone()).gather_registered(registered, &id).await?;
            say!("{id}: {} succeeded, {} failed, {} missing", summary.succeeded, summary.failed, summary.missing);
            if summary.failed > 0 {
                let layout = RunLayout::new(store.prefix(), id.clone());
                let groups =
                    crate::summary::failure_groups(&store, &layout.final_table(crate::parts::FAILURES)).await?;
                crate::summary::write_failure_groups(&mut std::io::stdout().lock(), summary.failed, &groups)
                    .map_err(Error::io("writing to standard output"))?;
            }
            Ok(crate::summary::exit_code(summary.failed, summary.missing, outcome.allow_failures))
        }
        Command::Runs { experiment } => {
            let experiments = match experiment {
                Some(name) => vec![name],
                None => catalog::experiments(&store).await?,
            };
            if experiments.is_empty() {
                say!("no runs in {}", store.uri(store.prefix()));
            }
            let mut abandoned = 0;
            for name in experiments {
                say!("{name}");
                for version in catalog::versions(&store, &name).await? {
                    say!("  {version}");
                    for run in catalog::runs(&store, &name, version).await? {
                        if run.state == catalog::RunState::Abandoned {
                            abandoned += 1;
                            continue;
                        }
                        let counts = match (run.succeeded, run.failed) {
                            (Some(ok), Some(failed)) => format!("{ok} succeeded, {failed} failed"),
                            _ => String::new(),
                        };
                        say!("    {:<24} {:<10} {:>9} specs  {counts}", run.id.folder_name(), run.state, run.n_specs);
                    }
                }
            }
            if abandoned > 0 {
                say!(
                    "({abandoned} abandoned allocations not shown: the next allocation of their version removes them)"
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { run } => {
            let id = find_run(&store, &run).await?;
            let info = catalog::run_info(&store, id.clone()).await?;
            let layout = RunLayout::new(store.prefix(), id.clone());
            say!("run:       {id}");
            say!("folder:    {}", store.uri(&layout.run_dir()));
            say!("state:     {}", info.state);
            say!("specs:     {}", info.n_specs);
            if let (Some(ok), Some(failed)) = (info.succeeded, info.failed) {
                say!("succeeded: {ok}\nfailed:    {failed}");
            } else if info.n_specs > 0 {
                let done = catalog::progress(&store, &id).await?;
                say!(
                    "progress:  {done} of {} specs have a result ({:.1}%)",
                    info.n_specs,
                    100.0 * done as f64 / info.n_specs as f64
                );
            }
            for (root, status) in hatchet::engine_status(&store, &id).await {
                say!("hatchet:   root task {root} {status}");
            }
            match info.state {
                catalog::RunState::Interrupted => {
                    say!("next:      nothing is running it: `resume {id}` runs the specs without a result");
                }
                catalog::RunState::Cancelled => {
                    let layout = RunLayout::new(store.prefix(), id.clone());
                    if let Some(cancelled) = crate::cancel::read(&store, &layout).await? {
                        say!(
                            "cancelled: at {} (by process {} on {})",
                            cancelled.cancelled_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                            cancelled.pid,
                            cancelled.host
                        );
                    }
                    say!("next:      `resume {id}` runs the specs without a result");
                }
                _ => {}
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Cancel { run } => {
            let id = find_run(&store, &run).await?;
            let report = Scythe::new(store).cancel(&id).await?;
            let cancelled_at = report.cancelled_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            if report.already {
                say!("{id}: already cancelled at {cancelled_at}");
            } else {
                say!("{id}: cancelled at {cancelled_at}");
            }
            if let Some(tasks) = report.engine_tasks {
                say!("hatchet:   cancelled {tasks} engine tasks of the run");
            }
            say!("specs:     {} of {} have a result and are kept", report.kept, report.n_specs);
            say!("next:      `resume {id}` runs the specs without a result");
            Ok(ExitCode::SUCCESS)
        }
        Command::Diff { a, b, tolerance, json, exit_code } => {
            let (a, b) = (find_run(&store, &a).await?, find_run(&store, &b).await?);
            let diff = crate::diff::diff(&store, &a, &b, crate::diff::DiffOptions { tolerance }).await?;
            if json {
                let text = serde_json::to_string_pretty(&diff)
                    .map_err(|error| Error::Document { document: "the diff".to_owned(), reason: error.to_string() })?;
                say!("{text}");
            } else {
                say!("{}", diff.to_string().trim_end());
            }
            Ok(if exit_code && diff.differs() { ExitCode::FAILURE } else { ExitCode::SUCCESS })
        }
        Command::Results { run, out } => {
            let id = find_run(&store, &run).await?;
            for file in crate::catalog::download_results(&store, &id, &out).await? {
                say!("{}", file.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Report { run, out, open } => {
            let id = find_run(&store, &run).await?;
            let written = crate::report::write(&store, &id, out.as_deref()).await?;
            for file in &written.files {
                say!("wrote      {file}");
            }
            for note in &written.notes {
                say!("{note}");
            }
            if open {
                say!("{}", crate::report::open(&written));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Schema { experiment } => {
            let registered = app.find(&experiment)?;
            let text = to_yaml("experiment_io_spec.yml", &registered.schema().io_spec())?;
            say!("{}", text.trim_end());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `design`: builds, validates and writes a design's specs, or the template; no storage.
fn design_command(
    app: &App,
    experiment: &str,
    method: Option<DesignMethod>,
    seed: u64,
    options: &DesignOptions,
    out: Option<PathBuf>,
    template: bool,
) -> Result<ExitCode, Error> {
    let registered = app.find(experiment)?;
    let input = registered.schema().input();
    if template {
        crate::design::write_template(input, out.as_deref())?;
        return Ok(ExitCode::SUCCESS);
    }
    let method = method.ok_or_else(|| Error::Settings("pass --method METHOD or --template".to_owned()))?;
    let built = crate::design::build(input, method, seed, options)?;
    // Each chunk is validated like a run would validate it before it is written, and a file
    // appears only once whole, so nothing is left of a design the run would refuse.
    let check = |batch: &arrow::array::RecordBatch, first_row: u64| registered.check_decode(batch, first_row);
    let rows = crate::design::write(&built, input, &check, out.as_deref())?;
    if let Some(path) = out {
        eprintln!("wrote {rows} specs ({} design, seed {seed}) to {}", built.record.method, path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// The engine priority of a run on Hatchet (`scatter --priority`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[cfg_attr(not(feature = "hatchet"), allow(dead_code, reason = "only the Hatchet commands read it"))]
enum RunPriority {
    /// The engine's default.
    Low,
    /// Ahead of low.
    Medium,
    /// Ahead of medium and low.
    High,
}

/// Warns that options of `scatter` that only Hatchet runs read were given for an embedded run.
fn warn_hatchet_only(given: &[(&str, bool)]) {
    let given: Vec<&str> = given.iter().filter(|(_, is_given)| *is_given).map(|(name, _)| *name).collect();
    if !given.is_empty() {
        tracing::warn!(
            "{} only apply to runs on Hatchet; this run is embedded (pass --engine hatchet, or set \
             HATCHET_CLIENT_TOKEN for --engine auto)",
            given.join(", ")
        );
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
            EngineChoice::Auto => {
                cfg!(feature = "hatchet") && std::env::var_os("HATCHET_CLIENT_TOKEN").is_some_and(|t| !t.is_empty())
            }
            EngineChoice::Embedded => false,
            EngineChoice::Hatchet => true,
        }
    }
}

/// A [`Scythe`] on `store` that allocates `new` as its flags say (`--force`).
fn scythe_for(store: scythe_storage::Store, new: &NewRun) -> Scythe {
    let scythe = Scythe::new(store);
    if new.force { scythe.allow_breaking_changes() } else { scythe }
}

fn choose_specs(app: &App, new: &NewRun) -> Result<Specs, Error> {
    let experiment = &new.experiment;
    if let Some(method) = new.design {
        let registered = app.find(experiment)?;
        let input = registered.schema().input();
        return crate::design::build(input, method, new.seed, &new.design_options)?.to_specs(input);
    }
    match (&new.specs, new.sample) {
        (Some(path), _) => Ok(Specs::file(path)),
        (None, Some(n)) => {
            let sampler = app.samplers.get(experiment).ok_or_else(|| {
                Error::Settings(format!("experiment `{experiment}` has no sampler; pass --specs FILE"))
            })?;
            sampler(n, new.seed)
        }
        (None, None) => Err(Error::Settings("pass --specs FILE, --design METHOD -n N or --sample N".to_owned())),
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

fn print_report(report: &RunReport, of: ReportOf, explain: bool) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    crate::summary::write_report(&mut out, report, of).map_err(Error::io("writing to standard output"))?;
    if explain {
        crate::summary::write_explanation(&mut out, &report.explanation, report.ran, report.reused)
            .map_err(Error::io("writing to standard output"))?;
    }
    Ok(())
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
