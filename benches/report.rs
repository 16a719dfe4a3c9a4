//! Wall time and peak memory of `report` on a 1,000,000-spec and a 4,000,000-spec run.
//!
//! The issue's target: a report of a 1,000,000-spec run takes at most 10 s, in memory that
//! does not grow with the run (statistics streamed in passes, scatter plots drawn from a
//! sample). For each size the parent:
//!
//! 1. runs a `build` child: `scatter ishigami --design random -n N` (3 inputs on [−π, π], one
//!    output; the experiment of `examples/ishigami.rs`, included as a module) through `App::run_with_args`, into a fresh local store, with the embedded engine;
//! 2. runs `report ishigami/latest` in a fresh `report` child per repetition, which prints its
//!    wall time and peak resident memory (`VmHWM`, the whole process: runtime, reading and
//!    writing included).
//!
//! The last lines give the median wall time of each size against the 10 s target and the ratio
//! of the peaks, 4,000,000 over 1,000,000 specs (about 1 when memory is bounded; 4 if it grew
//! with the specs). Missing a target never fails the benchmark; it exits non-zero only if it
//! could not run.
//!
//! ```text
//! cargo bench --bench report
//! SCYTHE_BENCH_SIZES=100000,400000 SCYTHE_BENCH_REPS=1 cargo bench --bench report
//! ```
//!
//! Files go to `TMPDIR` (about 250 MiB for the larger run) and are removed after each size.

#[path = "../examples/ishigami.rs"]
#[allow(dead_code)] // the example's other experiments and its `main`
mod example;
#[path = "support/measure.rs"]
#[allow(dead_code)] // this benchmark has two sizes: it reuses the children, not the one-size parent
mod measure;

use std::ffi::OsString;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail, ensure};
use example::ishigami;
use measure::{CHILD_ENV, Measurement, STORE_ENV, mib};

/// The seconds a report of 1,000,000 specs may take.
const TARGET_S: f64 = 10.0;
/// The number of specs of the run a child builds or reports on.
const SPECS_ENV: &str = "SCYTHE_BENCH_SPECS";

fn main() -> ExitCode {
    let result = match std::env::var(CHILD_ENV) {
        Ok(role) => child(&role),
        Err(_) => parent(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("report benchmark could not run: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The whole number in the environment variable `name` (`_` separators allowed), or `default`.
fn env_number(name: &str, default: usize) -> anyhow::Result<usize> {
    match std::env::var(name) {
        Ok(text) => text.trim().replace('_', "").parse().with_context(|| format!("{name}=`{text}`")),
        Err(_) => Ok(default),
    }
}

/// `build`: scatters the run; `report`: reports on it. Both through the command line.
fn child(role: &str) -> anyhow::Result<()> {
    let store = std::env::var_os(STORE_ENV).with_context(|| format!("{STORE_ENV} is not set"))?;
    let n = env_number(SPECS_ENV, 0)?;
    let mut args: Vec<OsString> = vec!["bench".into(), "--storage".into(), store];
    match role {
        "build" => {
            let n = n.to_string();
            args.extend(["scatter", "ishigami", "--design", "random", "-n", &n].map(OsString::from));
        }
        "report" => args.extend(["report", "ishigami/latest"].map(OsString::from)),
        other => bail!("{CHILD_ENV}=`{other}` is neither `build` nor `report`"),
    }
    let started = Instant::now();
    let code = scythe::App::new().experiment::<ishigami>().run_with_args(args);
    ensure!(code == ExitCode::SUCCESS, "`{role}` failed");
    Measurement { wall: started.elapsed(), rows: n as u64, ..Measurement::default() }.report()
}

fn parent() -> anyhow::Result<()> {
    let sizes: Vec<usize> = match std::env::var("SCYTHE_BENCH_SIZES") {
        Ok(text) => text
            .split(',')
            .map(|n| n.trim().replace('_', "").parse().with_context(|| format!("SCYTHE_BENCH_SIZES=`{text}`")))
            .collect::<anyhow::Result<_>>()?,
        Err(_) => vec![1_000_000, 4_000_000],
    };
    let reps = env_number("SCYTHE_BENCH_REPS", 3)?.max(1);
    println!("report of an ishigami run (random design, 3 inputs, 1 output): sizes {sizes:?}, {reps} repetitions");
    let mut rows = Vec::new();
    for &n in &sizes {
        let dir = tempfile::Builder::new().prefix("scythe-bench-report-").tempdir().context("creating a folder")?;
        let env = [(STORE_ENV, dir.path().join("runs").into_os_string()), (SPECS_ENV, n.to_string().into())];
        let build = measure::run_child("build", &env)?;
        println!("{n} specs: scatter {:.3} s, peak {:.1} MiB", build.wall.as_secs_f64(), mib(build.peak_kib));
        let mut walls = Vec::new();
        let mut peak = 0;
        for rep in 1..=reps {
            let report = measure::run_child("report", &env)?;
            println!("  report {rep}: {:>8.3} s  peak {:>8.1} MiB", report.wall.as_secs_f64(), mib(report.peak_kib));
            walls.push(report.wall.as_secs_f64());
            peak = peak.max(report.peak_kib);
        }
        walls.sort_by(f64::total_cmp);
        rows.push((n, walls[0], walls[walls.len() / 2], peak));
    }
    println!();
    println!("{:<16} {:>11}  {:>12}  {:>12}", "specs", "min wall", "median wall", "peak RSS");
    for &(n, min, median, peak) in &rows {
        println!("{n:<16} {min:>9.3} s  {median:>10.3} s  {:>8.1} MiB", mib(peak));
    }
    println!("load average at the end: {}", std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim());
    for &(n, _, median, _) in &rows {
        println!("report of {n} specs = {median:.2} s (target <= {TARGET_S:.0} s for 1000000)");
    }
    if let (Some(first), Some(last)) = (rows.first(), rows.last())
        && rows.len() > 1
    {
        println!(
            "ratio peak memory {} / {} specs = {:.2} (bounded: about 1; {:.0} if it grew with the specs)",
            last.0,
            first.0,
            last.3 as f64 / first.3.max(1) as f64,
            last.0 as f64 / first.0 as f64
        );
    }
    Ok(())
}
