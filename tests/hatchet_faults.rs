//! Crash isolation on a real Hatchet engine: a spec that aborts its worker process ends as one
//! `crashed` failure, every other spec of its leaf completes, and the supervised worker comes
//! back by itself. Runs when `HATCHET_CLIENT_TOKEN` is set (`scripts/test.sh` starts an engine):
//!
//! ```sh
//! . "$(bash scripts/hatchet-engine.sh start)" && cargo build --example faults && cargo test --test hatchet_faults
//! ```

mod support;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::UInt64Type;
use support::tables::{read_table, strings};

/// A command of the `faults` example that keeps the suite's Hatchet settings, in a namespace of
/// this test's own: a worker of another binary serving the same engine in the default namespace
/// would otherwise take this run's scatter task (and fail it: "unknown experiment").
fn faults(storage: &Path) -> Command {
    let mut command = Command::new(support::bin::example("faults"));
    command
        .arg("--storage")
        .arg(storage)
        .env_remove("SCYTHE_SUPERVISE")
        .env_remove("RUST_LOG")
        .env("HATCHET_CLIENT_NAMESPACE", format!("faults_{}", std::process::id()));
    command
}

/// A worker that is killed (with the worker process it supervises) when the test ends.
struct Worker(Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sort_indexes(batches: &[RecordBatch]) -> Vec<u64> {
    let mut indexes: Vec<u64> = batches
        .iter()
        .flat_map(|b| {
            b.column_by_name("sort_index").expect("sort_index").as_primitive::<UInt64Type>().values().to_vec()
        })
        .collect();
    indexes.sort_unstable();
    indexes
}

fn run_folder(storage: &Path) -> PathBuf {
    let version = storage.join("faulty/v1.0.0");
    let mut runs: Vec<PathBuf> = std::fs::read_dir(&version)
        .expect("the run's version folder")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.is_dir())
        .collect();
    assert_eq!(runs.len(), 1, "one run in {}", version.display());
    runs.pop().expect("one run")
}

#[test]
fn a_spec_that_aborts_a_hatchet_worker_fails_alone_and_the_worker_comes_back() {
    if !support::require::hatchet() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let storage = dir.path().join("store");
    let mut csv = String::from("x,mode\n");
    for i in 0..40 {
        csv.push_str(&format!("{i},{}\n", if i == 25 { "abort" } else { "ok" }));
    }
    let specs = dir.path().join("specs.csv");
    std::fs::write(&specs, csv).expect("write specs");

    let log_path = dir.path().join("worker.log");
    let log = File::create(&log_path).expect("worker log");
    let worker = faults(&storage)
        .arg("worker")
        .env("SCYTHE_WORKER_NAME", format!("faults-{}", std::process::id()))
        .env("SCYTHE_WORKER_SLOTS", "2")
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("start the worker");
    let worker = Worker(worker);
    // The engine drops a trigger of a workflow nobody has registered yet (in a fresh namespace).
    let registered = std::time::Instant::now();
    while !std::fs::read_to_string(&log_path).unwrap_or_default().contains("serving") {
        assert!(registered.elapsed() < std::time::Duration::from_secs(60), "the worker did not register");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }

    // Four leaves of 10 specs; the leaf of rows 20..30 kills its worker process.
    let output = faults(&storage)
        .args(["scatter", "faulty", "--engine", "hatchet", "--wait", "--batch", "10", "--specs"])
        .arg(&specs)
        .output()
        .expect("run scatter");
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    let worker_log = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert_eq!(output.status.code(), Some(1), "some specs failed: {stdout}{stderr}\nworker:\n{worker_log}");
    assert!(stdout.contains("40 (39 succeeded, 1 failed, 0 not run)"), "{stdout}");

    let folder = run_folder(&storage);
    let scalars = read_table(&folder.join("final/scalars.pq"));
    let mut expected: Vec<u64> = (0..40).collect();
    expected.retain(|&i| i != 25);
    assert_eq!(sort_indexes(&scalars), expected);
    let failures = read_table(&folder.join("final/failures.pq"));
    assert_eq!(sort_indexes(&failures), vec![25]);
    assert_eq!(strings(&failures, "error_kind"), vec!["crashed"]);
    assert!(worker_log.contains("the worker process died"), "the supervisor said nothing:\n{worker_log}");
    drop(worker);
}
