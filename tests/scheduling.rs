//! How runs share workers, through the real `faults` binary and the specs' `started_at` and
//! `duration_s` in `final/provenance.pq`:
//!
//! - `--max-concurrency N`: the specs of a run never overlap more than N at a time — on the
//!   embedded engine (a control run without the limit overlaps more), and on a Hatchet engine
//!   with more worker slots than N.
//! - `--priority high` (Hatchet): the leaves of a later high-priority run start before the
//!   queued leaves of an earlier low-priority run of the same experiment.
//!
//! The Hatchet tests need `HATCHET_CLIENT_TOKEN`:
//!
//! ```sh
//! . "$(bash scripts/hatchet-engine.sh start)" && cargo build --examples && cargo test --test scheduling
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
    specs_named(dir, "specs.csv", n, SLEEP)
}

/// `n` specs that sleep `seconds` each, as `dir/name`.
fn specs_named(dir: &Path, name: &str, n: usize, seconds: f64) -> PathBuf {
    let mut csv = String::from("x,mode\n");
    for _ in 0..n {
        csv.push_str(&format!("{seconds},sleep\n"));
    }
    let path = dir.join(name);
    std::fs::write(&path, csv).unwrap();
    path
}

/// The `started_at` of every spec of the run in `folder`, microseconds since the epoch.
fn starts(folder: &Path) -> Vec<i64> {
    let file = File::open(folder.join("final/provenance.pq")).unwrap();
    let batches: Vec<RecordBatch> =
        ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap().collect::<Result<_, _>>().unwrap();
    let starts: Vec<i64> = batches
        .iter()
        .flat_map(|batch| {
            let started = batch.column_by_name("started_at").unwrap().as_primitive::<TimestampMicrosecondType>();
            started.values().to_vec()
        })
        .collect();
    assert!(!starts.is_empty(), "no provenance rows in {}", folder.display());
    starts
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
    if !support::require::hatchet() {
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
    let _worker = hatchet_worker(&store, &namespace, 5, &log_path);
    let worker_log = || std::fs::read_to_string(&log_path).unwrap_or_default();

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

/// A `faults` worker (result cache off) of the Hatchet engine in namespace `namespace`, with
/// `slots` leaf slots, logging to `log`; returns once it serves.
fn hatchet_worker(store: &Path, namespace: &str, slots: u32, log: &Path) -> Killed {
    let file = File::create(log).unwrap();
    let worker = Command::new(support::bin::example("faults"))
        .arg("--storage")
        .arg(store)
        .arg("--no-cache")
        .arg("worker")
        .env_remove("SCYTHE_SUPERVISE")
        .env_remove("RUST_LOG")
        .env_remove("SCYTHE_ENGINE")
        .env("HATCHET_CLIENT_NAMESPACE", namespace)
        .env("SCYTHE_WORKER_NAME", format!("{namespace}-worker"))
        .env("SCYTHE_WORKER_SLOTS", slots.to_string())
        .env("SCYTHE_LOG", "scythe=debug")
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap();
    let worker = Killed(worker);
    // The engine drops a trigger of a workflow nobody has registered yet.
    let started = Instant::now();
    while !std::fs::read_to_string(log).unwrap_or_default().contains("serving") {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        assert!(started.elapsed() < Duration::from_secs(60), "the worker did not register:\n{text}");
        std::thread::sleep(Duration::from_millis(200));
    }
    worker
}

#[test]
fn a_high_priority_run_overtakes_the_queued_leaves_of_a_low_priority_one() {
    if !support::require::hatchet() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let namespace = format!("priority_{}", std::process::id());
    let log = dir.path().join("worker.log");
    let _worker = hatchet_worker(&store, &namespace, 1, &log);
    let scatter = |specs: &Path, extra: &[&str]| {
        let mut command = Command::new(support::bin::example("faults"));
        command
            .arg("--storage")
            .arg(&store)
            .arg("--no-cache")
            .env_remove("RUST_LOG")
            .env("HATCHET_CLIENT_NAMESPACE", &namespace)
            .args(["scatter", "faulty", "--engine", "hatchet", "--wait", "--batch", "1"])
            .args(extra)
            .arg("--specs")
            .arg(specs)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    };
    // Twelve one-second leaves on one slot, at the default priority: queued one behind another.
    let low = scatter(&specs_named(dir.path(), "low.csv", 12, SLEEP), &[]).spawn().unwrap();
    std::thread::sleep(Duration::from_secs(3));
    // A later run of the same experiment at high priority goes ahead of the queued ones.
    // (Other inputs than the low run's: no result of one can stand for the other's.)
    let high =
        scatter(&specs_named(dir.path(), "high.csv", 2, SLEEP + 0.01), &["--priority", "high"]).output().unwrap();
    let (high_out, low) = (text(&high.stdout), low.wait_with_output().unwrap());
    let worker_log = || std::fs::read_to_string(&log).unwrap_or_default();
    assert!(high.status.success(), "{high_out}{}\nworker:\n{}", text(&high.stderr), worker_log());
    assert!(high_out.contains("2 leaves of up to 1 specs") && high_out.contains("priority high"), "{high_out}");
    let low_out = text(&low.stdout);
    assert!(low.status.success(), "{low_out}{}\nworker:\n{}", text(&low.stderr), worker_log());

    let (high_starts, low_starts) = (starts(&run_folder(&store, &high_out)), starts(&run_folder(&store, &low_out)));
    let high_started = high_starts.iter().copied().max().unwrap();
    let low_after = low_starts.iter().filter(|&&start| start > high_started).count();
    // In arrival order none of the low run's leaves would start after the high run's; with
    // priority, those still queued when the high run arrived (about 12 - 3) do.
    assert!(
        low_after >= 4,
        "only {low_after} of the low run's 12 leaves started after the high run's last one:\nlow {low_starts:?}\n\
         high {high_starts:?}\nworker:\n{}",
        worker_log()
    );
}
