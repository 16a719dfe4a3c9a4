//! A run's lifecycle as a researcher sees it, through the real `faults` binary: exit codes,
//! the failure summary, `running` vs `interrupted`, `resume --retry-failed`, quiet broken
//! pipes, and no orphaned run whenever a scatter is killed.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Where the binary stores runs: a folder, or a bucket with its `AWS_*` settings.
#[derive(Debug, Clone)]
struct Storage {
    url: std::ffi::OsString,
    env: Vec<(&'static str, String)>,
}

impl From<&std::path::PathBuf> for Storage {
    fn from(path: &std::path::PathBuf) -> Self {
        Storage { url: path.clone().into_os_string(), env: Vec::new() }
    }
}

impl From<&Storage> for Storage {
    fn from(storage: &Storage) -> Self {
        storage.clone()
    }
}

fn faults(store: impl Into<Storage>) -> Command {
    let store = store.into();
    let mut command = support::bin::embedded("faults");
    command.envs(store.env.iter().map(|(k, v)| (k, v)));
    command.arg("--storage").arg(&store.url);
    command
}

fn run(command: &mut Command) -> Output {
    command.stdin(Stdio::null()).output().expect("run the faults binary")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Writes a specs CSV with one `x,mode` row per entry.
fn specs(dir: &Path, name: &str, rows: &[(f64, &str)]) -> std::path::PathBuf {
    let mut csv = String::from("x,mode\n");
    for (x, mode) in rows {
        csv.push_str(&format!("{x},{mode}\n"));
    }
    let path = dir.join(name);
    std::fs::write(&path, csv).unwrap();
    path
}

/// The run id a scatter or resume printed (`run        <id>`).
fn run_id(stdout: &str) -> String {
    stdout.lines().find_map(|line| line.strip_prefix("run        ")).expect("a `run` line").trim().to_owned()
}

fn status(store: impl Into<Storage> + Copy, id: &str) -> String {
    let output = run(faults(store).args(["status", id]));
    assert!(output.status.success(), "status failed: {}", text(&output.stderr));
    text(&output.stdout)
}

fn state(store: impl Into<Storage> + Copy, id: &str) -> String {
    status(store, id)
        .lines()
        .find_map(|line| line.strip_prefix("state:"))
        .map(|s| s.trim().to_owned())
        .expect("a state line")
}

#[test]
fn exit_codes_tell_success_failures_and_allowed_failures() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let ok = specs(dir.path(), "ok.csv", &[(1.0, "ok"), (2.0, "ok")]);
    let output = run(faults(&store).args(["scatter", "faulty", "--specs"]).arg(&ok));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));

    let rows = [(1.0, "ok"), (2.0, "fail"), (3.0, "fail"), (4.0, "panic"), (5.0, "ok"), (6.0, "fail")];
    let mixed = specs(dir.path(), "mixed.csv", &rows);
    // Even with RUST_BACKTRACE set, a panicking spec prints no backtrace at the default level.
    let output = run(faults(&store).env("RUST_BACKTRACE", "1").args(["scatter", "faulty", "--specs"]).arg(&mixed));
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(1), "some specs failed\n{stdout}\n{stderr}");
    assert!(stdout.contains("failures   4 specs failed (final/failures.pq), by error:"), "{stdout}");
    assert!(stdout.contains("        3 × asked to fail (x = 2)  (e.g. sort_index 1)"), "{stdout}");
    assert!(stdout.contains("        1 × panicked: asked to panic (x = 4)  (e.g. sort_index 3)"), "{stdout}");
    assert!(stdout.contains("--retry-failed"), "{stdout}");
    for sort_index in [1, 2, 3, 5] {
        let line = stderr
            .lines()
            .find(|line| line.contains("spec failed") && line.contains(&format!("sort_index={sort_index} ")))
            .unwrap_or_else(|| panic!("a warning for spec {sort_index}:\n{stderr}"));
        assert!(!line.contains('\x1b'), "no colours when stderr is not a terminal: {line:?}");
    }
    assert!(!stderr.contains("stack backtrace") && !stderr.contains("panicked at"), "{stderr}");
    let run_id = run_id(&stdout);

    let allowed = run(faults(&store).args(["scatter", "faulty", "--allow-failures", "--specs"]).arg(&mixed));
    assert_eq!(allowed.status.code(), Some(0), "{}", text(&allowed.stderr));

    let gather = run(faults(&store).args(["gather", &run_id]));
    assert_eq!(gather.status.code(), Some(1), "{}", text(&gather.stderr));
    assert!(text(&gather.stdout).contains("3 × asked to fail"), "{}", text(&gather.stdout));
    let gather = run(faults(&store).args(["gather", &run_id, "--allow-failures"]));
    assert_eq!(gather.status.code(), Some(0));

    // At debug level the panic's report (with its backtrace) is in the log.
    let debug = run(faults(&store).env("SCYTHE_LOG", "debug").args(["scatter", "faulty", "--specs"]).arg(&mixed));
    assert!(text(&debug.stderr).contains("asked to panic"), "{}", text(&debug.stderr));

    // `work` on an allocated run: 1 when a spec of its shard failed, unless allowed.
    let allocated = run(faults(&store).args(["allocate", "faulty", "--specs"]).arg(&mixed));
    let allocated = text(&allocated.stdout).trim().to_owned();
    let work = run(faults(&store).args(["work", &allocated, "--shard", "0/2"]));
    assert_eq!(work.status.code(), Some(1), "{}", text(&work.stdout));
    let work = run(faults(&store).args(["work", &allocated, "--shard", "1/2", "--allow-failures"]));
    assert_eq!(work.status.code(), Some(0), "{}", text(&work.stdout));

    let help = run(faults(&store).args(["scatter", "--help"]));
    let help = text(&help.stdout);
    assert!(
        help.contains("Exit codes") && help.contains("3  incomplete") && help.contains("--allow-failures"),
        "{help}"
    );
}

#[test]
fn retry_failed_runs_the_failed_specs_again_after_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let rows: Vec<(f64, &str)> =
        (0..8).map(|i| (f64::from(i), if i % 3 == 1 { "fail_unless_fixed" } else { "ok" })).collect();
    let path = specs(dir.path(), "specs.csv", &rows);
    let output = run(faults(&store).args(["scatter", "faulty", "--specs"]).arg(&path));
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let run_id = run_id(&text(&output.stdout));

    let resumed = run(faults(&store).args(["resume", &run_id]).env("SCYTHE_FAULTS_FIXED", "1"));
    let stdout = text(&resumed.stdout);
    assert_eq!(resumed.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("3 failed specs were left alone") && stdout.contains("--retry-failed"), "{stdout}");
    assert!(stdout.contains("running 0 specs"), "a plain resume runs nothing here: {stdout}");

    let retried = run(faults(&store).args(["resume", &run_id, "--retry-failed"]).env("SCYTHE_FAULTS_FIXED", "1"));
    let stdout = text(&retried.stdout);
    assert_eq!(retried.status.code(), Some(0), "{stdout}\n{}", text(&retried.stderr));
    assert!(stdout.contains("specs      8 (8 succeeded, 0 failed, 0 not run)"), "{stdout}");
    assert!(stdout.contains("ran 3 failed specs again; 0 still fail"), "{stdout}");
    let status = status(&store, &run_id);
    assert!(status.contains("succeeded: 8") && status.contains("failed:    0"), "{status}");
}

#[test]
fn runs_into_a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let path = specs(dir.path(), "specs.csv", &[(1.0, "ok")]);
    for _ in 0..2 {
        assert!(run(faults(&store).args(["scatter", "faulty", "--specs"]).arg(&path)).status.success());
    }
    // The reader is gone before anything is written: every write fails with EPIPE.
    let mut child = faults(&store).arg("runs").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert!(matches!(output.status.code(), Some(0) | None), "{:?}: {}", output.status, text(&output.stderr));
    assert!(!text(&output.stderr).contains("panicked"), "{}", text(&output.stderr));

    // And through a shell's `| head -1`.
    let exe = support::bin::example("faults");
    let script = format!("'{}' --storage '{}' runs | head -1; exit ${{PIPESTATUS[0]}}", exe.display(), store.display());
    let output = Command::new("bash").args(["-c", &script]).env("SCYTHE_ENGINE", "embedded").output().unwrap();
    assert!(matches!(output.status.code(), Some(0) | Some(141)), "{:?}: {}", output.status, text(&output.stderr));
    assert_eq!(text(&output.stdout), "faulty\n");
    assert!(!text(&output.stderr).contains("panicked"), "{}", text(&output.stderr));
}

/// Waits (bounded) until `status` of the newest run says `want`.
fn wait_for_state(store: impl Into<Storage> + Copy, want: &str, child: &mut Child) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(child.try_wait().unwrap().is_none(), "the scatter ended before it was seen {want}");
        let output = run(faults(store).args(["status", "faulty/latest"]));
        if output.status.success() {
            let stdout = text(&output.stdout);
            if stdout.contains(&format!("state:     {want}")) {
                let id = stdout.lines().find_map(|l| l.strip_prefix("run:")).unwrap().trim().to_owned();
                return id;
            }
        }
        assert!(Instant::now() < deadline, "never saw state {want}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits (bounded) until `runs` lists a run in `want`.
fn wait_until_listed(store: impl Into<Storage> + Copy, want: &str, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !listed_runs(store).iter().any(|(_, state, _)| state == want) {
        assert!(child.try_wait().unwrap().is_none(), "the scatter ended before it was seen {want}");
        assert!(Instant::now() < deadline, "never saw a run {want}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill").args([&format!("-{name}"), &child.id().to_string()]).status().unwrap();
    assert!(status.success());
}

#[test]
fn status_tells_running_from_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let rows = [(0.0, "ok"), (1.5, "sleep"), (1.5, "sleep"), (1.5, "sleep"), (1.0, "ok")];
    let path = specs(dir.path(), "specs.csv", &rows);

    // Ctrl-C: the spec in flight finishes, the rest is left for `resume`: exit 3.
    let mut scatter = faults(&store)
        .args(["scatter", "faulty", "--workers", "1", "--specs"])
        .arg(&path)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let run_id = wait_for_state(&store, "running", &mut scatter);
    signal(&scatter, "INT");
    let output = scatter.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(3), "incomplete: {}", text(&output.stdout));
    assert!(text(&output.stdout).contains(&format!("`resume {run_id}`")), "{}", text(&output.stdout));
    assert_eq!(state(&store, &run_id), "interrupted");
    assert!(status(&store, &run_id).contains("`resume"), "status says what to do next");
    let gather = run(faults(&store).args(["gather", &run_id]));
    assert_eq!(gather.status.code(), Some(3), "an incomplete run: {}", text(&gather.stdout));

    // SIGKILL: nothing is cleaned up, yet no live process holds the run.
    let mut scatter = faults(&store)
        .args(["scatter", "faulty", "--workers", "1", "--specs"])
        .arg(&path)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let killed = wait_for_state(&store, "running", &mut scatter);
    assert_ne!(killed, run_id);
    signal(&scatter, "KILL");
    scatter.wait().unwrap();
    assert_eq!(state(&store, &killed), "interrupted");

    let resumed = run(faults(&store).args(["resume", &killed]));
    assert_eq!(resumed.status.code(), Some(0), "{}", text(&resumed.stderr));
    assert_eq!(state(&store, &killed), "complete");
}

/// Parses `runs`: (run folder, state) of every run listed.
fn listed_runs(store: impl Into<Storage> + Copy) -> Vec<(String, String, String)> {
    let output = run(faults(store).arg("runs"));
    assert!(output.status.success(), "{}", text(&output.stderr));
    let mut version = String::new();
    let mut runs = Vec::new();
    for line in text(&output.stdout).lines() {
        if let Some(v) = line.strip_prefix("  ").filter(|l| !l.starts_with(' ')) {
            version = v.trim().to_owned();
        } else if let Some(rest) = line.strip_prefix("    ") {
            let mut words = rest.split_whitespace();
            let (folder, state) = (words.next().unwrap().to_owned(), words.next().unwrap().to_owned());
            runs.push((format!("faulty/{version}/{folder}"), state, version.clone()));
        }
    }
    runs
}

#[test]
fn a_scatter_killed_at_any_moment_leaves_nothing_or_a_resumable_run() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    kill_at_every_point(&Storage::from(&store), dir.path(), 100_000, 16);
}

#[tokio::test(flavor = "multi_thread")]
async fn on_s3_too_a_killed_scatter_leaves_nothing_or_a_resumable_run() {
    let dir = tempfile::tempdir().unwrap();
    let server = support::s3_server::S3Server::start(&dir.path().join("s3")).await;
    server.create_bucket("runs");
    let storage = Storage {
        url: "s3://runs/lifecycle".into(),
        env: vec![
            ("AWS_ENDPOINT", server.endpoint()),
            ("AWS_ACCESS_KEY_ID", support::s3_server::ACCESS_KEY.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", support::s3_server::SECRET_KEY.to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ALLOW_HTTP", "true".to_owned()),
        ],
    };
    let work = dir.path().to_path_buf();
    // The server answers on this runtime's workers while the kills run on a blocking thread.
    tokio::task::spawn_blocking(move || kill_at_every_point(&storage, &work, 20_000, 10)).await.unwrap();
}

/// Kills a scatter of `specs` no-op specs at `kill_points` moments spread over its life; after
/// each, `runs` lists no `allocating` run and only complete runs or interrupted ones that
/// `resume` completes, numbered without gaps.
///
/// The result cache is off: every scatter here has the same specs, and with it on each would
/// copy the first run's rows instead of running (tests/reuse.rs covers the cache); the kill
/// points are spread over the life of a scatter that runs its specs.
fn kill_at_every_point(store: &Storage, dir: &Path, specs: usize, kill_points: u32) {
    let faults = |store: &Storage| {
        let mut command = faults(store);
        command.env("SCYTHE_NO_CACHE", "1");
        command
    };
    let mut csv = String::with_capacity(specs * 10);
    csv.push_str("x,mode\n");
    for i in 0..specs {
        csv.push_str(&format!("{i},ok\n"));
    }
    let path = dir.join("specs.csv");
    std::fs::write(&path, csv).unwrap();

    // How long an undisturbed scatter lives, to spread the kill points over its whole life.
    let started = Instant::now();
    let first = run(faults(store).args(["scatter", "faulty", "--workers", "2", "--specs"]).arg(&path));
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    let lifetime = started.elapsed();

    // The last kill comes once the run is seen `running` (committed): a few sleeping specs at
    // the end keep it alive long enough to be seen.
    let mut slow = std::fs::read_to_string(&path).unwrap();
    slow.push_str(&"0.5,sleep\n".repeat(4));
    let slow_path = dir.join("slow.csv");
    std::fs::write(&slow_path, slow).unwrap();

    let mut committed = 1;
    let (mut left_nothing, mut left_resumable) = (0, 0);
    for point in 0..=kill_points {
        let last = point == kill_points;
        let delay = lifetime * point / kill_points;
        let mut scatter = faults(store)
            .args(["scatter", "faulty", "--workers", "2", "--specs"])
            .arg(if last { &slow_path } else { &path })
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        if last {
            wait_until_listed(store, "running", &mut scatter);
        } else {
            std::thread::sleep(delay);
        }
        signal(&scatter, "KILL");
        scatter.wait().unwrap();

        let runs = listed_runs(store);
        assert!(runs.iter().all(|(_, state, _)| state != "allocating"), "after a kill at {delay:?}: {runs:?}");
        if runs.len() == committed {
            left_nothing += 1;
        }
        assert!(runs.len() == committed || runs.len() == committed + 1, "after a kill at {delay:?}: {runs:?}");
        for (id, state, _) in &runs {
            match state.as_str() {
                "complete" => {}
                "interrupted" => {
                    left_resumable += 1;
                    let resumed = run(faults(store).args(["resume", id]));
                    let stdout = text(&resumed.stdout);
                    assert_eq!(resumed.status.code(), Some(0), "resume {id} after a kill at {delay:?}: {stdout}");
                    let n = if last { specs + 4 } else { specs };
                    assert!(
                        stdout.contains(&format!("specs      {n} ({n} succeeded, 0 failed, 0 not run)")),
                        "{stdout}"
                    );
                }
                other => panic!("run {id} is {other} after a kill at {delay:?}"),
            }
        }
        committed = runs.len();
        // Versions are the committed runs, numbered without gaps: an abandoned one is reused.
        let versions: Vec<&str> = runs.iter().map(|(_, _, version)| version.as_str()).collect();
        let expected: Vec<String> = (1..=committed).map(|major| format!("v{major}.0.0")).collect();
        assert_eq!(versions, expected, "after a kill at {delay:?}");
    }
    assert!(listed_runs(store).iter().all(|(_, state, _)| state == "complete"));
    eprintln!(
        "of {} kills, {left_nothing} left no run and {left_resumable} a run that resume completed",
        kill_points + 1
    );
    // Early kills come before the manifest, the last one after it.
    assert!(left_nothing > 0 && left_resumable > 0, "{left_nothing} / {left_resumable}");
}
