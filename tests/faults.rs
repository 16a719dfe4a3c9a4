//! Crash isolation, end to end: the real `faults` example binary runs specs that kill the
//! process (abort, `exit`), or is killed itself (SIGKILL), in a temporary storage folder; the
//! final tables are read back.

mod support;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::UInt64Type;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use support::tables::{read_table, strings};

/// Writes `n` specs (`x = i`, mode `ok`) with `mode` at row `bad` (if any) to `dir/specs.csv`.
fn write_specs(dir: &Path, n: u64, rows: impl Fn(u64) -> (f64, &'static str)) -> PathBuf {
    let mut csv = String::from("x,mode\n");
    for i in 0..n {
        let (x, mode) = rows(i);
        csv.push_str(&format!("{x},{mode}\n"));
    }
    let path = dir.join("specs.csv");
    std::fs::write(&path, csv).expect("write specs");
    path
}

fn faults(storage: &Path) -> Command {
    let mut command = support::bin::embedded("faults");
    command.arg("--storage").arg(storage).env("SCYTHE_WORKERS", "2");
    command
}

fn run(command: &mut Command) -> Output {
    let output = command.output().expect("run the faults example");
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    output
}

/// The one run folder of experiment `faulty` in `storage`.
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

fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

fn sort_indexes(batches: &[RecordBatch]) -> Vec<u64> {
    batches
        .iter()
        .flat_map(|b| {
            b.column_by_name("sort_index").expect("sort_index").as_primitive::<UInt64Type>().values().to_vec()
        })
        .collect()
}

/// Markers of specs in flight left in the run folder. A local folder writes each object to
/// `<name>#<n>` first and renames it into place; a process killed in between leaves that staging
/// file, which every reader skips (object_store does not list it), so it is no marker.
fn leftover_markers(folder: &Path) -> Vec<PathBuf> {
    let staging = |path: &PathBuf| {
        path.file_name()
            .and_then(|name| name.to_str())
            .and_then(|name| name.rsplit_once('#'))
            .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    match std::fs::read_dir(folder.join("results/inflight")) {
        Ok(entries) => entries.map(|entry| entry.expect("entry").path()).filter(|path| !staging(path)).collect(),
        Err(_) => Vec::new(),
    }
}

/// One `scatter` with a spec at row 120 that kills the process: 199 results, one `crashed`
/// failure, nothing left in flight.
fn one_spec_kills_the_process(mode: &'static str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let storage = dir.path().join("store");
    let specs = write_specs(dir.path(), 200, |i| (i as f64, if i == 120 { mode } else { "ok" }));
    let output = run(faults(&storage).args(["scatter", "faulty", "--specs"]).arg(&specs));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("the worker process died"), "the supervisor said nothing: {stderr}");
    // Exit code 1: some specs failed. Anything else (134 for an abort, 7 for the exit, 3 for
    // missing specs) is wrong.
    assert_eq!(output.status.code(), Some(1), "exit status {:?}", output.status);

    let folder = run_folder(&storage);
    let scalars = read_table(&folder.join("final/scalars.pq"));
    assert_eq!(rows(&scalars), 199);
    assert!(!sort_indexes(&scalars).contains(&120));
    let failures = read_table(&folder.join("final/failures.pq"));
    assert_eq!(sort_indexes(&failures), vec![120]);
    assert_eq!(strings(&failures, "error_kind"), vec!["crashed"]);
    // `faulty` has retries = 1: two crashes while it ran alone.
    assert_eq!(strings(&failures, "attempts"), vec!["2"]);
    let message = &strings(&failures, "error")[0];
    assert!(message.contains("spec 120") && message.contains("--retry-failed"), "{message}");
    assert!(folder.join("summary.yml").exists(), "the run is complete");
    assert_eq!(leftover_markers(&folder), Vec::<PathBuf>::new());
}

#[test]
fn a_spec_that_aborts_is_recorded_as_crashed_and_every_other_spec_completes() {
    one_spec_kills_the_process("abort");
}

#[test]
fn a_spec_that_calls_exit_is_recorded_as_crashed_and_every_other_spec_completes() {
    one_spec_kills_the_process("exit");
}

/// Waits until the run has written some results (or `limit` passes, failing the test).
fn wait_for_results(storage: &Path, limit: Duration) {
    let started = Instant::now();
    loop {
        let written = std::fs::read_dir(storage.join("faulty/v1.0.0")).into_iter().flatten().flatten().any(|run| {
            std::fs::read_dir(run.path().join("results/parts/scalars")).is_ok_and(|mut d| d.next().is_some())
        });
        if written {
            return;
        }
        assert!(started.elapsed() < limit, "no results after {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn slow_specs(dir: &Path) -> PathBuf {
    // 400 specs of 20 ms on 2 threads: about 4 s, long enough to be killed midway.
    write_specs(dir, 400, |_| (0.02, "sleep"))
}

fn assert_complete_without_failures(storage: &Path) {
    let folder = run_folder(storage);
    let scalars = read_table(&folder.join("final/scalars.pq"));
    assert_eq!(sort_indexes(&scalars), (0..400).collect::<Vec<u64>>());
    if let Ok(file) = File::open(folder.join("final/failures.pq")) {
        let reader = ParquetRecordBatchReaderBuilder::try_new(file).expect("parquet").build().expect("reader");
        let failures: Vec<RecordBatch> = reader.collect::<Result<_, _>>().expect("read");
        assert_eq!(rows(&failures), 0, "failures: {:?}", strings(&failures, "error"));
    }
    assert_eq!(leftover_markers(&folder), Vec::<PathBuf>::new());
}

#[test]
fn a_healthy_run_killed_with_sigkill_resumes_without_failures() {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let storage = dir.path().join("store");
    let specs = slow_specs(dir.path());
    // Its own process group, so the kill takes the supervisor and its worker process at once.
    let mut scatter = faults(&storage)
        .args(["scatter", "faulty", "--specs"])
        .arg(&specs)
        .process_group(0)
        .spawn()
        .expect("start scatter");
    wait_for_results(&storage, Duration::from_secs(60));
    let group = nix::unistd::Pid::from_raw(i32::try_from(scatter.id()).expect("pid"));
    nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL).expect("kill the scatter");
    let killed = scatter.wait().expect("wait");
    assert!(!killed.success());
    assert!(!run_folder(&storage).join("summary.yml").exists(), "killed before it finished");

    let output = run(faults(&storage).args(["resume", "faulty/latest"]));
    assert_eq!(output.status.code(), Some(0), "resume: {:?}", output.status);
    assert_complete_without_failures(&storage);
}

#[test]
fn a_worker_process_killed_like_the_oom_killer_does_is_restarted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let storage = dir.path().join("store");
    let specs = slow_specs(dir.path());
    let mut scatter = faults(&storage).args(["scatter", "faulty", "--specs"]).arg(&specs).spawn().expect("start");
    wait_for_results(&storage, Duration::from_secs(60));
    // The supervisor's worker process (its only child) gets SIGKILL, as from the OOM killer.
    let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", scatter.id())).expect("children");
    let worker: i32 = children.split_whitespace().next().expect("a worker process").parse().expect("pid");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(worker), nix::sys::signal::Signal::SIGKILL).expect("kill");
    let status = scatter.wait().expect("wait");
    assert_eq!(status.code(), Some(0), "one scatter completes the run: {status:?}");
    assert_complete_without_failures(&storage);
}

/// Whether process `pid` still runs (a zombie no one reaped has stopped running).
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z')))
}

#[test]
fn a_supervisor_killed_with_sigkill_takes_its_worker_process_with_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let storage = dir.path().join("store");
    // 100 specs of 0.2 s on 2 threads: the worker would run for 10 s on its own.
    let specs = write_specs(dir.path(), 100, |_| (0.2, "sleep"));
    let mut scatter = faults(&storage).args(["scatter", "faulty", "--specs"]).arg(&specs).spawn().expect("start");
    wait_for_results(&storage, Duration::from_secs(60));
    let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", scatter.id())).expect("children");
    let worker: i32 = children.split_whitespace().next().expect("a worker process").parse().expect("pid");
    // Only the supervisor, as a batch scheduler or the OOM killer would.
    scatter.kill().expect("kill the supervisor");
    scatter.wait().expect("wait");
    let started = Instant::now();
    while alive(worker) {
        assert!(started.elapsed() < Duration::from_secs(3), "the worker process {worker} outlived its supervisor");
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = run(faults(&storage).args(["resume", "faulty/latest"]));
    assert_eq!(output.status.code(), Some(0), "resume: {:?}", output.status);
    let scalars = read_table(&run_folder(&storage).join("final/scalars.pq"));
    assert_eq!(sort_indexes(&scalars), (0..100).collect::<Vec<u64>>());
}

#[test]
fn ctrl_c_stops_the_worker_process_without_a_restart() {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let storage = dir.path().join("store");
    let specs = slow_specs(dir.path());
    let scatter = faults(&storage)
        .args(["scatter", "faulty", "--specs"])
        .arg(&specs)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("start scatter");
    wait_for_results(&storage, Duration::from_secs(60));
    // As a terminal does: SIGINT to the whole foreground group, supervisor and worker alike.
    let group = nix::unistd::Pid::from_raw(i32::try_from(scatter.id()).expect("pid"));
    nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGINT).expect("interrupt the scatter");
    let output = scatter.wait_with_output().expect("wait");
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert_eq!(output.status.code(), Some(3), "incomplete run: {stdout}{stderr}");
    assert!(!stderr.contains("worker process died"), "restarted after Ctrl-C: {stderr}");
    assert!(stdout.contains("not run"), "the report names the missing specs: {stdout}");
    // The specs in flight finished and were written: nothing is suspect.
    assert_eq!(leftover_markers(&run_folder(&storage)), Vec::<PathBuf>::new());

    let output = run(faults(&storage).args(["resume", "faulty/latest"]));
    assert_eq!(output.status.code(), Some(0), "resume: {:?}", output.status);
    assert_complete_without_failures(&storage);
}
