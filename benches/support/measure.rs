//! What the benchmarks share: a parent process that writes the specs and re-executes its own
//! binary as children, each child timing one job and printing its measurement, and the parent
//! reading those back and printing a min/median table.
//!
//! Included by `benches/embedded.rs`, `benches/gather_memory.rs`, `benches/design.rs` and
//! `examples/building_energy/benches/vs_baseline.rs` with `#[path = "…/support/measure.rs"] mod
//! measure;`. Each describes itself with a [`Bench`] and hands [`main`] over to it. Every item
//! here is used by all four (through [`main`]), so none is dead code in any of them.
//!
//! A child is this binary re-executed with [`CHILD_ENV`] naming what it runs (see [`child`]).
//! It prints `SCYTHE_BENCH_RESULT key=value …` ([`RESULT_PREFIX`]), with at least `wall_s`,
//! `peak_kib` (`VmHWM`, so the peak is the child's own) and `rows`, after one
//! `SCYTHE_BENCH_STAGE <seconds> <name>` line ([`STAGE_PREFIX`]) per stage of its wall time.

use std::ffi::OsString;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

/// Selects what a child process runs (its role or variant); unset in the parent.
pub(crate) const CHILD_ENV: &str = "SCYTHE_BENCH_CHILD";
/// The specs file a child process reads.
pub(crate) const SPECS_FILE_ENV: &str = "SCYTHE_BENCH_SPECS_FILE";
/// The folder of the store the `run` and `gather` children share.
pub(crate) const STORE_ENV: &str = "SCYTHE_BENCH_STORE";
/// The run the `gather` child gathers.
pub(crate) const RUN_ENV: &str = "SCYTHE_BENCH_RUN";
/// Prefix of the line a child prints its measurement on.
const RESULT_PREFIX: &str = "SCYTHE_BENCH_RESULT";
/// Prefix of the lines a child prints the stages of its wall time on.
const STAGE_PREFIX: &str = "SCYTHE_BENCH_STAGE";
/// Rows per batch of the specs files, read and written (as Scythe reads specs).
pub(crate) const BATCH_ROWS: usize = 64 * 1024;
/// The ratio of median wall times, Scythe over the baseline, the issue asks for.
const TARGET_RATIO: f64 = 1.25;

/// One benchmark: what its parent prints and its children run. The defaults are those of a
/// comparison of a hand-written baseline with Scythe: children `baseline` and `scythe`,
/// reading the specs file, and a last line with the ratio of their median wall times.
pub(crate) trait Bench: Default {
    /// The experiment the Scythe children run.
    type Experiment: scythe::Experiment;
    /// Names the benchmark: in its error message, `{NAME} benchmark could not run: …`, and in
    /// the default title.
    const NAME: &'static str;
    /// What the specs are, in the default title.
    const SPECS: &'static str = "specs";
    /// The environment variable setting how many specs to run, and its default.
    const COUNT: (&'static str, usize);
    /// Repetitions when `SCYTHE_BENCH_REPS` is not set.
    const REPS: usize = 3;
    /// The children each repetition runs, in this order on even repetitions and the reverse
    /// on odd ones.
    const VARIANTS: &'static [&'static str] = &["baseline", "scythe"];
    /// What the table counts (`{n} {unit}`, `{unit}/s (median)`), and the widths of its first
    /// and rate columns.
    const TABLE: (&'static str, [usize; 2]) = ("specs", [18, 16]);
    /// The unit the specs file's size is printed in: `MiB` or `KiB`.
    const SPECS_SIZE_UNIT: &'static str = "MiB";

    /// The first line, for `n` specs and `reps` repetitions. By default, `{NAME}
    /// scatter→gather vs hand-written baseline: {n} {SPECS}, {reps} repetitions, {threads}
    /// threads`.
    fn title(n: usize, reps: usize) -> String {
        let (name, specs, threads) = (Self::NAME, Self::SPECS, rayon::current_num_threads());
        format!("{name} scatter→gather vs hand-written baseline: {n} {specs}, {reps} repetitions, {threads} threads")
    }

    /// Writes `n` specs to `path` (with [`write_specs`]). By default there are none.
    fn write_specs(path: &Path, n: usize) -> anyhow::Result<()> {
        let _ = (path, n);
        bail!("{} writes no specs file", Self::NAME)
    }

    /// The parent process; by default [`parent`]: the specs file, the repetitions of each
    /// variant and their table. A benchmark whose children vary more than by variant (the
    /// design benchmark's sizes and methods) runs its own, with [`run_child`].
    fn run(self) -> anyhow::Result<()> {
        parent(self)
    }

    /// Runs the child `role` if it is one of this benchmark's own, returning its measurement
    /// ([`child`] prints it); `None` for the shared roles. By default there are none.
    fn own_child(role: &str) -> Option<anyhow::Result<Measurement>> {
        let _ = role;
        None
    }

    /// The `baseline` child's hand-written job, writing into `out_dir`: given the batches of
    /// the specs file, read since `started`, it returns its measurement, `wall` since
    /// `started`. By default there is none.
    fn baseline(batches: &[RecordBatch], started: Instant, out_dir: &Path) -> anyhow::Result<Measurement> {
        let _ = (batches, started, out_dir);
        bail!("{} has no baseline", Self::NAME)
    }

    /// Runs what must run before the repetitions, in the parent's temporary folder `dir`,
    /// for the `n` specs in `specs`; returns the environment of the repeated children. By
    /// default nothing runs and the children get the specs file.
    fn prepare(&mut self, dir: &Path, specs: &Path, n: usize) -> anyhow::Result<Vec<(&'static str, OsString)>> {
        let _ = (dir, n);
        Ok(vec![(SPECS_FILE_ENV, specs.as_os_str().to_owned())])
    }

    /// What ends the line of one repetition of a child; by default nothing.
    fn note(&self, measurement: &Measurement) -> anyhow::Result<String> {
        let _ = measurement;
        Ok(String::new())
    }

    /// Prints what follows the table and returns the last line, given the figures of each
    /// variant. By default, `ratio scythe/baseline = X.XX (target <= 1.25)`: the ratio of the
    /// median wall times of the second variant and the first.
    fn finish(&self, table: &[Summary]) -> anyhow::Result<String> {
        let ([first, second], [a, b]) = (Self::VARIANTS, table) else { bail!("not two variants") };
        Ok(format!("ratio {second}/{first} = {:.2} (target <= {TARGET_RATIO:.2})", b.median / a.median))
    }
}

/// What one child process measured.
#[derive(Debug, Clone, Default)]
pub(crate) struct Measurement {
    /// The child's own work, from its start to its output being closed.
    pub(crate) wall: Duration,
    /// Peak resident memory of the child process (`VmHWM`), KiB; [`Measurement::report`]
    /// fills it in.
    pub(crate) peak_kib: u64,
    /// Rows (specs with a result) in the output.
    pub(crate) rows: u64,
    /// Stages of `wall`, by name, in order; empty when not split.
    pub(crate) stages: Vec<(String, Duration)>,
    /// Further named figures (`start_kib`, `run`), values without whitespace. Once read back
    /// by the parent, every `key=value` pair of the result line, so [`Measurement::get`] finds
    /// any of them.
    pub(crate) fields: Vec<(String, String)>,
}

impl Measurement {
    /// A measurement of `rows` rows in `wall`, in the named `stages`.
    pub(crate) fn new(wall: Duration, rows: u64, stages: [(&str, Duration); 3]) -> Self {
        let stages = stages.into_iter().map(|(name, time)| (name.to_owned(), time)).collect();
        Measurement { wall, rows, stages, ..Measurement::default() }
    }

    /// The field `key`, parsed.
    pub(crate) fn get<T>(&self, key: &str) -> anyhow::Result<T>
    where
        T: FromStr,
        T::Err: std::error::Error + Send + Sync + 'static,
    {
        let (_, value) = self.fields.iter().find(|(k, _)| k == key).with_context(|| format!("no `{key}`"))?;
        value.parse().with_context(|| format!("`{key}={value}`"))
    }

    /// Prints this measurement, with this process's peak memory: the last thing a child does.
    pub(crate) fn report(mut self) -> anyhow::Result<()> {
        self.peak_kib = rss_kib("VmHWM")?;
        for (name, time) in &self.stages {
            println!("{STAGE_PREFIX} {:.6} {name}", time.as_secs_f64());
        }
        let mut line = format!(
            "{RESULT_PREFIX} wall_s={:.6} peak_kib={} rows={}",
            self.wall.as_secs_f64(),
            self.peak_kib,
            self.rows
        );
        for (key, value) in &self.fields {
            line += &format!(" {key}={value}");
        }
        println!("{line}");
        Ok(())
    }

    /// Reads back what [`Measurement::report`] printed, among the other lines of `stdout`.
    fn parse(stdout: &str) -> anyhow::Result<Self> {
        let line = stdout.lines().find_map(|line| line.strip_prefix(RESULT_PREFIX)).context("no result line")?;
        let fields = line
            .split_whitespace()
            .map(|pair| {
                let (key, value) = pair.split_once('=').with_context(|| format!("`{pair}` is not key=value"))?;
                Ok((key.to_owned(), value.to_owned()))
            })
            .collect::<anyhow::Result<_>>()?;
        let mut measurement = Measurement { fields, ..Measurement::default() };
        measurement.wall = Duration::from_secs_f64(measurement.get("wall_s")?);
        measurement.peak_kib = measurement.get("peak_kib")?;
        measurement.rows = measurement.get("rows")?;
        for stage in stdout.lines().filter_map(|line| line.strip_prefix(STAGE_PREFIX)) {
            let (seconds, name) = stage.trim().split_once(' ').with_context(|| format!("stage `{stage}`"))?;
            measurement.stages.push((name.to_owned(), Duration::from_secs_f64(seconds.parse()?)));
        }
        ensure!(measurement.wall > Duration::ZERO && measurement.peak_kib > 0, "the wall time or peak is missing");
        Ok(measurement)
    }
}

/// The figures of one row of the table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Summary {
    /// Shortest wall time, seconds.
    pub(crate) min: f64,
    /// Median wall time, seconds.
    pub(crate) median: f64,
    /// Largest peak memory, KiB.
    pub(crate) peak_kib: u64,
}

/// The benchmark's `main`: runs [`child`] with the role [`CHILD_ENV`] names if it is set,
/// [`parent`] otherwise; on an error prints `{NAME} benchmark could not run: …` and fails.
pub(crate) fn main<B: Bench>() -> ExitCode {
    let result = match std::env::var(CHILD_ENV) {
        Ok(role) => child::<B>(&role),
        Err(_) => B::default().run(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{} benchmark could not run: {error:#}", B::NAME);
            ExitCode::FAILURE
        }
    }
}

/// The parent process: writes `n` specs (`B::COUNT`) into a temporary folder and prints
/// `B::title`, the specs file and the load average; [`Bench::prepare`]s; runs each of
/// `B::VARIANTS` `reps` times (`SCYTHE_BENCH_REPS`, default `B::REPS`), each run a child of its
/// own, alternating their order; prints the table ([`print_table`]) and what
/// [`Bench::finish`] prints, the load average at the end and, last, the line `finish` returns.
fn parent<B: Bench>(mut bench: B) -> anyhow::Result<()> {
    let n = env_count(B::COUNT.0, B::COUNT.1)?;
    let reps = env_count("SCYTHE_BENCH_REPS", B::REPS)?;
    let dir = tempfile::Builder::new().prefix("scythe-bench-").tempdir().context("creating a temporary folder")?;
    let specs = dir.path().join("specs.pq");
    let started = Instant::now();
    B::write_specs(&specs, n)?;
    let specs_size = std::fs::metadata(&specs).context("reading the specs file's size")?.len();
    let size_unit = if B::SPECS_SIZE_UNIT == "KiB" { 1024.0 } else { 1024.0 * 1024.0 };
    println!("{}", B::title(n, reps));
    println!(
        "specs: {} ({:.1} {}), generated in {:.3} s; load average {}",
        specs.display(),
        specs_size as f64 / size_unit,
        B::SPECS_SIZE_UNIT,
        started.elapsed().as_secs_f64(),
        load_average()
    );

    let env = bench.prepare(dir.path(), &specs, n)?;
    let mut runs = vec![Vec::with_capacity(reps); B::VARIANTS.len()];
    for rep in 0..reps {
        let mut order: Vec<usize> = (0..B::VARIANTS.len()).collect();
        if rep % 2 == 1 {
            order.reverse();
        }
        for i in order {
            let variant = B::VARIANTS[i];
            let measurement = run_child(variant, &env)?;
            ensure!(measurement.rows == n as u64, "the {variant} child has {} rows instead of {n}", measurement.rows);
            // With one variant, `  <variant> N: …`; with several, `  rep N: <variant> …`.
            let name = match B::VARIANTS {
                [_] => format!("{variant} {}:", rep + 1),
                _ => format!("rep {}: {variant:<8}", rep + 1),
            };
            println!(
                "  {name} {:>8.3} s  peak {:>8.1} MiB{}",
                measurement.wall.as_secs_f64(),
                mib(measurement.peak_kib),
                bench.note(&measurement)?
            );
            runs[i].push(measurement);
        }
    }

    let (unit, widths) = B::TABLE;
    let table = print_table(n, unit, widths, B::VARIANTS, &runs);
    let last = bench.finish(&table)?;
    println!("load average at the end: {}", load_average());
    println!("{last}");
    Ok(())
}

/// The positive whole number in the environment variable `name` (`_` separators allowed),
/// `default` when it is not set.
fn env_count(name: &str, default: usize) -> anyhow::Result<usize> {
    match std::env::var(name) {
        Ok(text) => text
            .trim()
            .replace('_', "")
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .with_context(|| format!("{name}=`{text}` is not a positive whole number")),
        Err(_) => Ok(default),
    }
}

/// The path in the environment variable `name`, which must be set.
fn env_path(name: &str) -> anyhow::Result<PathBuf> {
    Ok(PathBuf::from(std::env::var_os(name).with_context(|| format!("{name} is not set"))?))
}

/// The 1, 5 and 15 minute load averages, to spot a busy machine; best effort.
pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| text.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// A memory line of `/proc/self/status` (`VmHWM` is the peak resident set size, `VmRSS` the
/// current one), KiB.
fn rss_kib(key: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("/proc/self/status has no {key} line"))
}

/// The smallest of `values` (infinity when empty).
fn min(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::INFINITY, f64::min)
}

/// The median of `values`: the middle one, or the mean of the middle two (NaN when empty).
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// KiB to MiB.
pub(crate) fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Writes `batches` of `schema` as a snappy Parquet file (pyarrow's default) at `path`.
pub(crate) fn write_specs(
    path: &Path,
    schema: SchemaRef,
    batches: impl IntoIterator<Item = anyhow::Result<RecordBatch>>,
) -> anyhow::Result<()> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let properties = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
    let mut writer = ArrowWriter::try_new(BufWriter::new(file), schema, Some(properties))?;
    for batch in batches {
        writer.write(&batch?)?;
    }
    writer.close().context("writing the specs file")?;
    Ok(())
}

/// Runs this binary as the child `role`, with `env` added to its environment, and reads back
/// its measurement. Its stderr passes through; its stdout is searched for the result.
pub(crate) fn run_child(role: &str, env: &[(&str, OsString)]) -> anyhow::Result<Measurement> {
    let exe = std::env::current_exe().context("locating the benchmark binary")?;
    let output = Command::new(&exe)
        .env(CHILD_ENV, role)
        .envs(env.iter().map(|(key, value)| (key, value)))
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("starting {} for the {role} child", exe.display()))?;
    ensure!(output.status.success(), "the {role} child failed ({})", output.status);
    let stdout = String::from_utf8_lossy(&output.stdout);
    Measurement::parse(&stdout).with_context(|| format!("reading the {role} child's result; its output was:\n{stdout}"))
}

/// Prints, after a blank line, the table of the `runs` of each of `names`: min and median
/// wall time, `unit`s per second at the median and the largest peak, for `n` `unit`s; the
/// first column is `widths[0]` wide, the rate `widths[1]`. With two rows, a last row gives
/// the ratios of the second to the first. Then, for each row whose runs have stages, the
/// split of its median repetition (by wall time). Returns the figures of each row.
fn print_table(n: usize, unit: &str, widths: [usize; 2], names: &[&str], runs: &[Vec<Measurement>]) -> Vec<Summary> {
    let [name_width, rate_width] = widths;
    let summaries: Vec<Summary> = runs
        .iter()
        .map(|runs| {
            let wall: Vec<f64> = runs.iter().map(|m| m.wall.as_secs_f64()).collect();
            let peak_kib = runs.iter().map(|m| m.peak_kib).max().unwrap_or(0);
            Summary { min: min(&wall), median: median(&wall), peak_kib }
        })
        .collect();

    println!();
    println!(
        "{:<name_width$} {:>11}  {:>12}   {:>rate_width$}   {:>12}",
        format!("{n} {unit}"),
        "min wall",
        "median wall",
        format!("{unit}/s (median)"),
        "peak RSS"
    );
    for (name, s) in names.iter().zip(&summaries) {
        println!(
            "{name:<name_width$} {:>9.3} s  {:>10.3} s   {:>rate_width$.0}   {:>8.1} MiB",
            s.min,
            s.median,
            n as f64 / s.median,
            mib(s.peak_kib)
        );
    }
    if let ([first, second], [a, b]) = (names, summaries.as_slice()) {
        println!(
            "{:<name_width$} {:>9.2} x  {:>10.2} x   {:>rate_width$}   {:>8.2} x",
            format!("{second}/{first}"),
            b.min / a.min,
            b.median / a.median,
            "",
            b.peak_kib as f64 / a.peak_kib.max(1) as f64
        );
    }

    // Where the time goes, in the repetition with the median wall time.
    for (name, runs) in names.iter().zip(runs) {
        let mut by_wall: Vec<&Measurement> = runs.iter().collect();
        by_wall.sort_by_key(|m| m.wall);
        let Some(m) = by_wall.get(by_wall.len() / 2).filter(|m| !m.stages.is_empty()) else { continue };
        let split: Vec<String> = m
            .stages
            .iter()
            .map(|(stage, time)| {
                format!(
                    "{stage} {:.3} s ({:.0}%)",
                    time.as_secs_f64(),
                    100.0 * time.as_secs_f64() / m.wall.as_secs_f64()
                )
            })
            .collect();
        println!("{name} split (median rep): {}", split.join(", "));
    }
    summaries
}

/// Runs this process as the child `role` of `B` and prints its measurement: one of `B`'s own
/// ([`Bench::own_child`]), or
///
/// - `baseline`: reads the specs file in [`SPECS_FILE_ENV`] in batches of [`BATCH_ROWS`]
///   rows, then [`Bench::baseline`], writing into a fresh temporary folder; its wall time
///   starts with opening the specs;
/// - `scythe`: `Scythe::scatter` of that specs file into a fresh local store in a fresh
///   temporary folder, which gathers at the end; its stages are loading, validating and
///   allocating, running (`RunReport::run_time`) and gathering (`RunReport::gather_time`);
/// - `first`: the same as `scythe` (a first run: the result cache is empty);
/// - `rerun`: `Scythe::scatter` of that specs file into the store in [`STORE_ENV`], whose
///   result cache may know them;
/// - `run`: `Scythe::allocate` of that specs file, then `Scythe::work` over every row,
///   without gathering, into the store in [`STORE_ENV`];
/// - `gather`: `Scythe::gather` of the run in [`RUN_ENV`], in that store.
///
/// Scythe runs `B::Experiment` on a multi-threaded tokio runtime, with as many workers as
/// rayon has threads (the number of CPUs), no progress bar and its cache next to the store.
/// Its wall time starts once the store is open; the fields `start_kib` (the resident memory
/// then: the runtime's fixed cost) and `run` (the run) go with it. Every spec must succeed.
fn child<B: Bench>(role: &str) -> anyhow::Result<()> {
    // `SCYTHE_LOG=scythe=debug`: Scythe's own split of the time (cache, gather), on stderr.
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_env("SCYTHE_LOG") {
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    }
    if let Some(measurement) = B::own_child(role) {
        return measurement?.report();
    }
    let out = tempfile::Builder::new().prefix("scythe-bench-out-").tempdir().context("creating a temporary folder")?;
    let store_dir = match role {
        "baseline" => {
            let specs = env_path(SPECS_FILE_ENV)?;
            let started = Instant::now();
            let file = File::open(&specs).with_context(|| format!("opening {}", specs.display()))?;
            let batches: Vec<RecordBatch> = ParquetRecordBatchReaderBuilder::try_new(file)?
                .with_batch_size(BATCH_ROWS)
                .build()?
                .collect::<Result<_, _>>()?;
            return B::baseline(&batches, started, out.path())?.report();
        }
        "scythe" | "first" => out.path().join("runs"),
        "run" | "gather" | "rerun" => env_path(STORE_ENV)?,
        other => bail!("{CHILD_ENV}=`{other}` is none of `baseline`, `scythe`, `first`, `rerun`, `run` and `gather`"),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let store = scythe::Store::open(scythe::StoreLocation::Local(store_dir.clone()), "")?;
    let engine = scythe::EngineSettings {
        workers: rayon::current_num_threads(),
        cache_dir: store_dir.join("cache"),
        progress: false,
        // `SCYTHE_NO_CACHE=1`: the same run without the result cache, to compare.
        reuse_results: std::env::var_os("SCYTHE_NO_CACHE").is_none(),
        ..scythe::EngineSettings::default()
    };
    let scythe = scythe::Scythe::new(store).with_engine(engine);
    let specs = || env_path(SPECS_FILE_ENV).map(scythe::Specs::file);
    let version = scythe::VersionStrategy::BumpMajor;
    let start_kib = rss_kib("VmRSS")?;
    let started = Instant::now();
    // The run, its rows, and for a scatter its run and gather times.
    let (run, rows, times) = runtime.block_on(async {
        match role {
            "scythe" | "first" | "rerun" => {
                let report = scythe.scatter::<B::Experiment>(specs()?, version).await?;
                let (failed, missing) = (report.failed, report.missing);
                ensure!(failed == 0 && missing == 0, "{failed} specs failed, {missing} missing");
                anyhow::Ok((report.run, report.succeeded, Some((report.run_time, report.gather_time))))
            }
            "run" => {
                let run = scythe.allocate::<B::Experiment>(specs()?, version).await?;
                let report = scythe.work::<B::Experiment>(&run, 0..u64::MAX).await?;
                ensure!(report.failed == 0, "{} specs failed", report.failed);
                anyhow::Ok((run, report.succeeded, None))
            }
            _ => {
                let text = std::env::var(RUN_ENV).with_context(|| format!("{RUN_ENV} is not set"))?;
                let run: scythe::RunId = text.parse().with_context(|| format!("{RUN_ENV}=`{text}` is not a run id"))?;
                let summary = scythe.gather::<B::Experiment>(&run).await?;
                let (failed, missing) = (summary.failed, summary.missing);
                ensure!(failed == 0 && missing == 0, "{failed} failed, {missing} missing");
                anyhow::Ok((run, summary.succeeded, None))
            }
        }
    })?;
    let wall = started.elapsed();
    let mut measurement = match times {
        Some((run_time, gather_time)) => Measurement::new(
            wall,
            rows,
            [
                ("load+validate+allocate", wall.saturating_sub(run_time + gather_time)),
                ("run (RunReport::run_time)", run_time),
                ("gather (RunReport::gather_time)", gather_time),
            ],
        ),
        None => Measurement { wall, rows, ..Measurement::default() },
    };
    measurement.fields = vec![("start_kib".to_owned(), start_kib.to_string()), ("run".to_owned(), run.to_string())];
    measurement.report()
}
