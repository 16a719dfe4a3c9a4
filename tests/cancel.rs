//! `cancel <run>` through the real `faults` binary: an embedded run is refused while its process
//! runs it and marked `cancelled` once nothing does; a Hatchet run's engine tasks are cancelled
//! mid-run (when `HATCHET_CLIENT_TOKEN` is set); `resume` continues either to a result per spec.
//!
//! ```sh
//! . "$(bash scripts/hatchet-engine.sh start)" && cargo build --examples && cargo test --test cancel
//! ```

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::fs::File;
use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::UInt64Type;
use support::tables::read_table;

/// The `faults` binary on the embedded engine, storing runs in `store`.
fn faults(store: &Path) -> Command {
    let mut command = support::bin::embedded("faults");
    command.arg("--storage").arg(store);
    command
}

fn run(command: &mut Command) -> Output {
    command.stdin(Stdio::null()).output().expect("run the faults binary")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `command`, asserts it succeeded and returns its standard output.
fn ok(command: &mut Command) -> String {
    let output = run(command);
    assert!(output.status.success(), "failed: {}{}", text(&output.stdout), text(&output.stderr));
    text(&output.stdout)
}

/// Writes a specs CSV of `n` rows `x,mode`.
fn specs(dir: &Path, n: usize, x: f64, mode: &str) -> PathBuf {
    let mut csv = String::from("x,mode\n");
    for _ in 0..n {
        csv.push_str(&format!("{x},{mode}\n"));
    }
    let path = dir.join("specs.csv");
    std::fs::write(&path, csv).unwrap();
    path
}

fn field(status: &str, name: &str) -> String {
    status
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{name}:")))
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| panic!("no `{name}` line in:\n{status}"))
}

fn sort_indexes(batches: &[RecordBatch]) -> Vec<u64> {
    let mut indexes: Vec<u64> = batches
        .iter()
        .flat_map(|b| b.column_by_name("sort_index").unwrap().as_primitive::<UInt64Type>().values().to_vec())
        .collect();
    indexes.sort_unstable();
    indexes
}

/// Waits (bounded) until `probe` holds.
fn wait_until(what: &str, timeout: Duration, mut probe: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !probe() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A child process killed when the test ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// How many specs of `id` have a result, from `status`.
fn results_so_far(store: &Path, id: &str) -> u64 {
    let status = ok(faults(store).args(["status", id]));
    let count =
        |name: &str| status.lines().find_map(|line| line.strip_prefix(name)).and_then(|n| n.trim().parse::<u64>().ok());
    if let (Some(ok), Some(failed)) = (count("succeeded:"), count("failed:")) {
        return ok + failed;
    }
    status
        .lines()
        .find_map(|line| line.strip_prefix("progress:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[test]
fn an_embedded_run_is_cancelled_once_nothing_runs_it_and_resume_completes_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let path = specs(dir.path(), 12, 0.5, "sleep");

    // While its process runs it, cancel refuses and names the process.
    let scatter = faults(&store)
        .args(["scatter", "faulty", "--workers", "1", "--specs"])
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut scatter = Killed(scatter);
    let mut id = String::new();
    wait_until("the run is running", Duration::from_secs(60), || {
        let output = run(faults(&store).args(["status", "faulty/latest"]));
        let status = text(&output.stdout);
        if output.status.success() && status.contains("state:     running") {
            id = field(&status, "run");
            return true;
        }
        false
    });
    let refused = run(faults(&store).args(["cancel", &id]));
    assert_eq!(refused.status.code(), Some(1));
    let message = text(&refused.stderr);
    assert!(message.contains("is being run by process") && message.contains("stop that process"), "{message}");
    assert_eq!(field(&ok(faults(&store).args(["status", &id])), "state"), "running");

    // Killed mid-run: interrupted; cancel marks it, twice is harmless.
    scatter.0.kill().unwrap();
    scatter.0.wait().unwrap();
    wait_until("the run is interrupted", Duration::from_secs(30), || {
        field(&ok(faults(&store).args(["status", &id])), "state") == "interrupted"
    });
    let cancelled = ok(faults(&store).args(["cancel", &id]));
    assert!(cancelled.contains(&format!("{id}: cancelled at")), "{cancelled}");
    assert!(cancelled.contains(&format!("`resume {id}`")), "{cancelled}");
    let status = ok(faults(&store).args(["status", &id]));
    assert_eq!(field(&status, "state"), "cancelled");
    assert!(status.contains(&format!("next:      `resume {id}`")), "{status}");
    let again = ok(faults(&store).args(["cancel", &id]));
    assert!(again.contains("already cancelled"), "{again}");
    let listed = ok(faults(&store).arg("runs"));
    assert!(listed.lines().any(|line| line.contains("cancelled")), "{listed}");
    let before = results_so_far(&store, &id);
    assert!(before < 12, "the run was stopped early: {before} results");

    // Resume clears the mark and runs the rest: every spec has a result.
    let resumed = ok(faults(&store).args(["resume", &id, "--workers", "4"]));
    assert!(resumed.contains("12 succeeded") || resumed.contains("succeeded"), "{resumed}");
    assert_eq!(field(&ok(faults(&store).args(["status", &id])), "state"), "complete");
    let folder = store.join(&id);
    assert!(!folder.join("cancelled.yml").exists());
    assert_eq!(sort_indexes(&read_table(&folder.join("final/scalars.pq"))), (0..12).collect::<Vec<u64>>());

    // A complete run cannot be cancelled.
    let refused = run(faults(&store).args(["cancel", &id]));
    assert_eq!(refused.status.code(), Some(1));
    assert!(text(&refused.stderr).contains("is complete"), "{}", text(&refused.stderr));
}

#[test]
fn an_allocated_run_that_never_ran_is_cancelled_and_resumed() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let path = specs(dir.path(), 5, 1.0, "ok");
    let id = ok(faults(&store).args(["allocate", "faulty", "--specs"]).arg(&path)).trim().to_owned();
    ok(faults(&store).args(["cancel", &id]));
    assert_eq!(field(&ok(faults(&store).args(["status", &id])), "state"), "cancelled");
    // `latest` still finds a cancelled run.
    assert_eq!(field(&ok(faults(&store).args(["status", "faulty/latest"])), "state"), "cancelled");
    ok(faults(&store).args(["resume", &id]));
    assert_eq!(sort_indexes(&read_table(&store.join(&id).join("final/scalars.pq"))), (0..5).collect::<Vec<u64>>());
}

/// The `faults` binary on Hatchet, in a namespace of its own (the suite's other Hatchet tests
/// serve the same workflow names on the same engine).
fn on_hatchet(store: &Path, namespace: &str) -> Command {
    let mut command = Command::new(support::bin::example("faults"));
    command
        .arg("--storage")
        .arg(store)
        .env_remove("SCYTHE_SUPERVISE")
        .env_remove("RUST_LOG")
        .env_remove("SCYTHE_ENGINE")
        .env("HATCHET_CLIENT_NAMESPACE", namespace);
    command
}

#[test]
fn a_hatchet_run_cancelled_mid_run_stops_on_the_engine_and_resume_completes_it() {
    if !support::require::hatchet() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let namespace = format!("cancel_{}", std::process::id());
    // 24 leaves of one 2-second spec on 2 slots: about 24 s if nothing stops them.
    let path = specs(dir.path(), 24, 2.0, "sleep");
    let log_path = dir.path().join("worker.log");
    let log = File::create(&log_path).unwrap();
    let worker = on_hatchet(&store, &namespace)
        .arg("worker")
        .env("SCYTHE_WORKER_NAME", format!("cancel-{}", std::process::id()))
        .env("SCYTHE_WORKER_SLOTS", "2")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let worker = Killed(worker);
    // The engine drops a trigger of a workflow nobody has registered yet (the run id it returns
    // is then never found): scatter once the worker has registered Scythe's workflows.
    let worker_log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    wait_until("the worker has registered", Duration::from_secs(60), || worker_log().contains("serving"));

    // A scatter that waits for the run, as a researcher would: it ends saying the run was cancelled.
    let mut waiting = on_hatchet(&store, &namespace)
        .args(["scatter", "faulty", "--engine", "hatchet", "--wait", "--batch", "1", "--specs"])
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut scattered = String::new();
    let mut lines = BufReader::new(waiting.stdout.take().unwrap()).lines();
    while !scattered.contains("\nhatchet    ") {
        let line = lines.next().expect("the scatter printed its run and root task").unwrap();
        scattered.push_str(&format!("{line}\n"));
    }
    let waiting = Killed(waiting);
    let id = scattered.lines().find_map(|l| l.strip_prefix("run        ")).unwrap().trim().to_owned();
    let root = scattered.lines().find_map(|l| l.strip_prefix("hatchet    ")).unwrap();
    let root = root.split_whitespace().next().unwrap().to_owned();
    assert!(std::fs::read_to_string(store.join(&id).join("engine_runs.yml")).unwrap().contains(&root));
    let started = Instant::now();
    while results_so_far(&store, &id) < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "no results in 90 s\nscatter:\n{scattered}\nstatus:\n{}\nworker:\n{}",
            text(&run(faults(&store).args(["status", &id])).stdout),
            worker_log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    let cancelled = run(on_hatchet(&store, &namespace).args(["cancel", &id]));
    let stdout = text(&cancelled.stdout);
    assert!(cancelled.status.success(), "{stdout}{}\nworker:\n{}", text(&cancelled.stderr), worker_log());
    assert!(stdout.contains("hatchet:   cancelled"), "{stdout}");
    let status = ok(on_hatchet(&store, &namespace).args(["status", &id]));
    assert_eq!(field(&status, "state"), "cancelled", "{status}");
    let mut waiting = waiting;
    let ended = waiting.0.wait().unwrap();
    let mut said = String::new();
    waiting.0.stderr.take().unwrap().read_to_string(&mut said).unwrap();
    assert_eq!(ended.code(), Some(1), "{said}");
    assert!(said.contains(&format!("run `{id}` was cancelled; `resume {id}` continues it")), "{said}");
    // The engine says the root task is cancelled (its status can lag a moment behind).
    wait_until("the engine reports the root cancelled", Duration::from_secs(30), || {
        ok(on_hatchet(&store, &namespace).args(["status", &id]))
            .contains(&format!("hatchet:   root task {root} cancelled"))
    });

    // Nothing runs any more: the count stops growing well short of 24, and nothing was
    // recorded as failed (the cancelled leaves' specs are left for resume).
    std::thread::sleep(Duration::from_secs(3));
    let stopped = results_so_far(&store, &id);
    std::thread::sleep(Duration::from_secs(6));
    let later = results_so_far(&store, &id);
    assert!(later < 24, "specs kept running after cancel: {later} results\nworker:\n{}", worker_log());
    assert!(later <= stopped + 2, "specs kept running after cancel: {stopped} then {later}");
    assert!(!store.join(&id).join("results/parts/failures").exists(), "cancelled specs were recorded as failures");
    let again = ok(on_hatchet(&store, &namespace).args(["cancel", &id]));
    assert!(again.contains("already cancelled"), "{again}");
    drop(worker);

    // Resume (on this machine) runs the rest: every spec has a result, none failed.
    let resumed = run(faults(&store).args(["resume", &id, "--workers", "8"]));
    assert!(resumed.status.success(), "{}{}", text(&resumed.stdout), text(&resumed.stderr));
    assert_eq!(field(&ok(faults(&store).args(["status", &id])), "state"), "complete");
    let folder = store.join(&id);
    assert_eq!(sort_indexes(&read_table(&folder.join("final/scalars.pq"))), (0..24).collect::<Vec<u64>>());
    assert!(sort_indexes(&read_table(&folder.join("final/failures.pq"))).is_empty());
}
