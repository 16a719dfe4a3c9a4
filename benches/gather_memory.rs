//! Peak memory and wall time of gathering a 10,000,000-row run, on its own.
//!
//! The issue's memory target: a gather holds one result part and one specs batch at a time,
//! so its peak resident memory must stay at or below 1 GiB however many rows the run has. This
//! benchmark checks that on a run of ten million no-op specs:
//!
//! 1. the parent writes the specs (`{a: i / 2, b: i}`, snappy Parquet);
//! 2. a first child process runs them with the embedded engine, without gathering:
//!    `Scythe::allocate::<noop>` then `Scythe::work::<noop>` over every row, into a fresh local
//!    store, with as many workers as there are CPUs;
//! 3. a second child process, started fresh, runs only `Scythe::gather::<noop>` on that run
//!    (reading the result parts and `specs.pq` back from the store, as `scythe gather` does)
//!    and reports its wall time and peak resident memory (`VmHWM`), along with its resident
//!    memory just before the gather started (the runtime's fixed cost).
//!
//! The last line reads `gather peak memory = X MiB (target <= 1024 MiB)`. Missing the target
//! never fails the benchmark; it exits non-zero only if it could not run. The load average is
//! printed before and after: other work on the machine skews the times.
//!
//! ```text
//! cargo bench --bench gather_memory
//! SCYTHE_BENCH_ROWS=1000000 SCYTHE_BENCH_REPS=3 cargo bench --bench gather_memory
//! ```
//!
//! `SCYTHE_BENCH_ROWS` sets the number of specs (default 10,000,000), `SCYTHE_BENCH_REPS` how
//! many times the gather runs, each in a new process (default 1; the table shows the min and
//! median time and the largest peak). Files go to `TMPDIR` (about 300 MiB for ten million
//! rows) and are removed at the end.

#[path = "support/measure.rs"]
mod measure;
#[path = "support/noop_experiment.rs"]
mod noop_experiment;

use std::cell::OnceCell;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, ensure};
use measure::{Measurement, RUN_ENV, SPECS_FILE_ENV, STORE_ENV, Summary, mib};
use noop_experiment::noop;

/// The peak the issue allows a gather, MiB.
const TARGET_MIB: f64 = 1024.0;

/// This benchmark: a `run` child before the repetitions of one `gather` child.
#[derive(Default)]
struct GatherMemory {
    /// The run's folder, once it has run.
    run_dir: OnceCell<PathBuf>,
}

impl measure::Bench for GatherMemory {
    type Experiment = noop;
    const NAME: &'static str = "gather memory";
    const COUNT: (&'static str, usize) = ("SCYTHE_BENCH_ROWS", 10_000_000);
    const REPS: usize = 1;
    const VARIANTS: &'static [&'static str] = &["gather"];
    const TABLE: (&'static str, [usize; 2]) = ("rows", [22, 14]);

    fn title(n_rows: usize, reps: usize) -> String {
        format!("gather peak memory: {n_rows} no-op specs, {reps} gather(s), each in a process of its own")
    }

    fn write_specs(path: &Path, n: usize) -> anyhow::Result<()> {
        noop_experiment::write_specs(path, n)
    }

    /// Runs the specs (`run` child), into a store in `dir`; the gathers then gather that run.
    fn prepare(&mut self, dir: &Path, specs: &Path, n_rows: usize) -> anyhow::Result<Vec<(&'static str, OsString)>> {
        let store = dir.join("runs");
        let env = [(SPECS_FILE_ENV, specs.into()), (STORE_ENV, store.clone().into())];
        let run = measure::run_child("run", &env)?;
        ensure!(run.rows == n_rows as u64, "the run has {} results instead of {n_rows}", run.rows);
        let run_id: String = run.get("run")?;
        println!("run {run_id}: allocate+work {:.3} s, peak {:.1} MiB", run.wall.as_secs_f64(), mib(run.peak_kib));
        let _ = self.run_dir.set(store.join(&run_id));
        Ok(vec![(STORE_ENV, store.into()), (RUN_ENV, run_id.into())])
    }

    fn note(&self, gather: &Measurement) -> anyhow::Result<String> {
        Ok(format!(" (resident before gathering: {:.1} MiB)", mib(gather.get("start_kib")?)))
    }

    /// The size of the run folder, then `gather peak memory = X MiB (target <= 1024 MiB)`.
    fn finish(&self, table: &[Summary]) -> anyhow::Result<String> {
        let run_dir = self.run_dir.get().context("the run has not run")?;
        let (run_size, final_size) = (folder_size(run_dir)?, folder_size(&run_dir.join("final"))?);
        println!(
            "run folder: {:.1} MiB, of which final tables {:.1} MiB ({})",
            run_size as f64 / (1024.0 * 1024.0),
            final_size as f64 / (1024.0 * 1024.0),
            run_dir.display()
        );
        let peak = table.first().context("no gathers")?.peak_kib;
        Ok(format!("gather peak memory = {:.0} MiB (target <= {TARGET_MIB:.0} MiB)", mib(peak)))
    }
}

fn main() -> ExitCode {
    measure::main::<GatherMemory>()
}

/// Bytes of the files under `dir`.
fn folder_size(dir: &Path) -> anyhow::Result<u64> {
    let mut bytes = 0;
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry?;
        let metadata = entry.metadata()?;
        bytes += if metadata.is_dir() { folder_size(&entry.path())? } else { metadata.len() };
    }
    Ok(bytes)
}
