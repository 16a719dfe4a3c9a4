//! `--max-concurrency N` through the real `faults` binary: the specs of a run, as their
//! `started_at` and `duration_s` in `final/provenance.pq` tell, never overlap more than N at a
//! time — on the embedded engine (a control run without the limit overlaps more), and on a
//! Hatchet engine with more worker slots than N (when `HATCHET_CLIENT_TOKEN` is set).
//!
//! ```sh
//! . "$(bash scripts/hatchet-engine.sh start)" && cargo build --examples && cargo test --test max_concurrency
//! ```

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, TimestampMicrosecondType};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// Seconds each spec sleeps.
const SLEEP: f64 = 1.0;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn ok(command: &mut Command) -> String {
    let output = command.stdin(Stdio::null()).output().expect("run the faults binary");
    assert!(output.status.success(), "failed: {}{}", text(&output.stdout), text(&output.stderr));
    text(&output.stdout)
}

fn specs(dir: &Path, n: usize) -> PathBuf {
    let mut csv = String::from("x,mode\n");
    for _ in 0..n {
        csv.push_str(&format!("{SLEEP},sleep\n"));
    }
    let path = dir.join("specs.csv");
    std::fs::write(&path, csv).unwrap();
    path
}

/// The most specs of the run in `folder` that ran at the same moment, from its provenance: the
/// largest number of `[started_at, started_at + duration_s]` intervals that share an instant.
/// Each interval is shrunk by 20 ms at both ends so that a spec starting the moment another one
/// ends (the same thread, or the same lane, taking the next) does not count as an overlap.
fn most_at_once(folder: &Path) -> usize {
    let file = File::open(folder.join("final/provenance.pq")).unwrap();
    let batches: Vec<RecordBatch> =
        ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap().collect::<Result<_, _>>().unwrap();
    let mut events = Vec::new();
    for batch in &batches {
        let started = batch.column_by_name("started_at").unwrap().as_primitive::<TimestampMicrosecondType>();
        let duration = batch.column_by_name("duration_s").unwrap().as_primitive::<Float64Type>();
        for (start, seconds) in started.values().iter().zip(duration.values()) {
            let end = *start + (seconds * 1e6) as i64;
            events.push((*start + 20_000, 1_i32));
            events.push((end - 20_000, -1));
        }
    }
    assert!(!events.is_empty(), "no provenance rows in {}", folder.display());
    // At one instant, ends before starts.
    events.sort_unstable();
    let (mut now, mut most) = (0_i32, 0_i32);
    for (_, step) in events {
        now += step;
        most = most.max(now);
    }
    most as usize
}

fn run_folder(store: &Path, stdout: &str) -> PathBuf {
    let id = stdout.lines().find_map(|l| l.strip_prefix("run        ")).expect("a `run` line").trim();
    store.join(id)
}

#[test]
fn an_embedded_run_runs_at_most_n_specs_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let path = specs(dir.path(), 8);
    let faults = || {
        let mut command = support::bin::embedded("faults");
        command.arg("--storage").arg(&store).arg("--no-cache");
        command
    };
    let limited =
        ok(faults().args(["scatter", "faulty", "--workers", "4", "--max-concurrency", "2", "--specs"]).arg(&path));
    let at_once = most_at_once(&run_folder(&store, &limited));
    assert!((1..=2).contains(&at_once), "{at_once} specs ran at once with --max-concurrency 2");
    // The control: without the limit, the same 4 threads run more at once (the check above can fail).
    let free = ok(faults().args(["scatter", "faulty", "--workers", "4", "--specs"]).arg(&path));
    let at_once = most_at_once(&run_folder(&store, &free));
    assert!(at_once > 2, "only {at_once} specs ran at once on 4 threads without a limit");
    let plan = ok(faults()
        .args(["scatter", "faulty", "--dry-run", "--workers", "4", "--max-concurrency", "3", "--specs"])
        .arg(&path));
    assert!(plan.contains("embedded, 3 worker threads"), "{plan}");
}

/// A worker killed when the test ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_hatchet_run_runs_at_most_n_leaves_at_once_on_more_slots() {
    if std::env::var_os("HATCHET_CLIENT_TOKEN").is_none() {
        support::require::skip(
            "HATCHET_CLIENT_TOKEN is not set (source the env file of `scripts/hatchet-engine.sh start`)",
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let path = specs(dir.path(), 10);
    let namespace = format!("limit_{}", std::process::id());
    let faults = || {
        let mut command = Command::new(support::bin::example("faults"));
        command
            .arg("--storage")
            .arg(&store)
            .arg("--no-cache")
            .env_remove("SCYTHE_SUPERVISE")
            .env_remove("RUST_LOG")
            .env_remove("SCYTHE_ENGINE")
            .env("HATCHET_CLIENT_NAMESPACE", &namespace);
        command
    };
    let log_path = dir.path().join("worker.log");
    let log = File::create(&log_path).unwrap();
    let worker = faults()
        .arg("worker")
        .env("SCYTHE_WORKER_NAME", format!("limit-{}", std::process::id()))
        .env("SCYTHE_WORKER_SLOTS", "5")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let _worker = Killed(worker);
    let worker_log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    // The engine drops a trigger of a workflow nobody has registered yet.
    let started = Instant::now();
    while !worker_log().contains("serving") {
        assert!(started.elapsed() < Duration::from_secs(60), "the worker did not register:\n{}", worker_log());
        std::thread::sleep(Duration::from_millis(200));
    }

    // Ten one-spec leaves on five slots, at most two at once.
    let output = faults()
        .args(["scatter", "faulty", "--engine", "hatchet", "--wait", "--batch", "1", "--max-concurrency", "2"])
        .arg("--specs")
        .arg(&path)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}{}\nworker:\n{}", text(&output.stderr), worker_log());
    assert!(stdout.contains("at most 2 leaves at once"), "{stdout}");
    assert!(stdout.contains("10 (10 succeeded, 0 failed, 0 not run)"), "{stdout}");
    let at_once = most_at_once(&run_folder(&store, &stdout));
    assert!((1..=2).contains(&at_once), "{at_once} leaves ran at once with --max-concurrency 2 on 5 slots");

    // The control: without the limit the same worker runs more leaves at once.
    let output = faults()
        .args(["scatter", "faulty", "--engine", "hatchet", "--wait", "--batch", "1", "--specs"])
        .arg(&path)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}{}\nworker:\n{}", text(&output.stderr), worker_log());
    let at_once = most_at_once(&run_folder(&store, &stdout));
    assert!(at_once > 2, "only {at_once} leaves ran at once on 5 slots without a limit");
}
