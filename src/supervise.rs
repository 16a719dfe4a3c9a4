//! The supervisor of the command line: `scatter`, `resume` and `work` on the embedded engine
//! run their specs in a child process (this same binary, re-run with the same arguments), and
//! when the child dies abnormally — a spec aborted, called `exit`, segfaulted or was killed by
//! the OOM killer — the parent says so in one line and starts it again on the same run. The
//! run's [journal](crate::journal) makes the new child run the specs that were in flight alone
//! first, so the spec that kills the process is found and, after `retries + 1` crashes, recorded
//! as failed (`crashed`) while every other spec completes.
//!
//! The child reports to the parent through a small status file (`SCYTHE_SUPERVISOR`): the run
//! it works on once it knows it, and `done` when the command returned (whatever its exit code).
//! A child that ends without `done` died. Ctrl-C reaches both processes: the child finishes the
//! specs in flight, gathers and exits; the parent waits for it and does not restart it.
//! The Hatchet `worker` runs in a child process too, started again whenever it dies
//! ([`supervise_worker`]). A supervisor killed outright (SIGKILL) takes its child with it ([`bind_to_parent`]).
//! `SCYTHE_SUPERVISE=0` runs the command in-process instead.

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use scythe_core::layout::{RunId, RunLayout};
use scythe_storage::Store;

use crate::error::Error;
use crate::journal::Journal;

/// Set for a supervised child: the path of its status file.
const STATUS_ENV: &str = "SCYTHE_SUPERVISOR";
/// Set for a restarted `scatter` child: resume this run instead of allocating a new one.
const RESUME_ENV: &str = "SCYTHE_SUPERVISOR_RESUME";
/// Set for a supervised child: the supervisor's process id.
const PARENT_ENV: &str = "SCYTHE_SUPERVISOR_PARENT";
/// `0`, `false` or `off` turns supervision off.
const SWITCH_ENV: &str = "SCYTHE_SUPERVISE";
/// Restarts in a row that add no result and no crash record before the parent gives up.
const MAX_STALLED: u32 = 3;
/// A worker process that dies sooner than this after its start counts as a quick death.
const QUICK_DEATH: Duration = Duration::from_secs(10);
/// The longest pause before a worker process that keeps dying is started again.
const MAX_PAUSE: Duration = Duration::from_secs(30);

/// Whether this process should supervise a child instead of running specs itself.
pub(crate) fn wanted() -> bool {
    let off = std::env::var(SWITCH_ENV).is_ok_and(|v| matches!(v.trim(), "0" | "false" | "off" | "no"));
    !off && std::env::var_os(STATUS_ENV).is_none()
}

/// Whether this process is a supervised child.
pub(crate) fn is_child() -> bool {
    std::env::var_os(STATUS_ENV).is_some()
}

/// In a supervised child: dies with the supervisor. A supervisor killed with SIGKILL (by hand,
/// by a batch scheduler or the OOM killer) cannot stop its child, so the child asks the kernel
/// for SIGKILL when its parent dies, as if the two were one process; the run's journal and lease
/// make the work resumable either way. Exits at once if the supervisor is already gone.
pub(crate) fn bind_to_parent() {
    let Some(parent) = std::env::var(PARENT_ENV).ok().and_then(|pid| pid.parse::<i32>().ok()) else {
        return;
    };
    #[cfg(target_os = "linux")]
    if let Err(error) = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL) {
        tracing::warn!(%error, "cannot ask to be stopped with the supervisor");
    }
    // The supervisor may have died before the request above: the child then has a new parent.
    if nix::unistd::getppid().as_raw() != parent {
        eprintln!("error: the supervising process is gone; stopping its worker process");
        std::process::exit(1);
    }
}

/// For a restarted `scatter` child: the run to resume.
pub(crate) fn resuming() -> Option<RunId> {
    std::env::var(RESUME_ENV).ok()?.parse().ok()
}

/// In a supervised child: tells the parent which run it works on.
pub(crate) fn announce(run: &RunId) {
    if let Some(path) = std::env::var_os(STATUS_ENV)
        && let Err(error) = std::fs::write(&path, format!("run {run}\n"))
    {
        tracing::warn!(%error, "cannot write the supervisor's status file");
    }
}

/// In a supervised child: tells the parent the command returned (not a crash).
pub(crate) fn finished() {
    if let Some(path) = std::env::var_os(STATUS_ENV) {
        let mut status = std::fs::read_to_string(&path).unwrap_or_default();
        status.push_str("done\n");
        let _ = std::fs::write(&path, status);
    }
}

/// What a child's status file says.
#[derive(Debug, Default, PartialEq, Eq)]
struct Status {
    run: Option<RunId>,
    done: bool,
}

impl Status {
    fn parse(text: &str) -> Status {
        let mut status = Status::default();
        for line in text.lines() {
            if let Some(run) = line.strip_prefix("run ") {
                status.run = run.trim().parse().ok();
            } else if line.trim() == "done" {
                status.done = true;
            }
        }
        status
    }
}

/// How a child that did not finish ended, for people.
fn describe(status: std::process::ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (_, Some(signal)) => {
            let name = match signal {
                4 => ": SIGILL",
                6 => ": SIGABRT, the process aborted",
                7 => ": SIGBUS",
                8 => ": SIGFPE",
                9 => ": SIGKILL, killed, often by the out-of-memory killer",
                11 => ": SIGSEGV, a segmentation fault",
                15 => ": SIGTERM",
                _ => "",
            };
            format!("signal {signal}{name}")
        }
        (Some(code), None) => format!("exit code {code} before the command finished: a spec called `exit`"),
        (None, None) => "an unknown cause".to_owned(),
    }
}

/// The exit code that mirrors how a child ended (128 + signal, as shells do).
fn mirror(status: std::process::ExitStatus) -> ExitCode {
    match (status.code(), status.signal()) {
        (Some(code), _) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        (None, Some(signal)) => ExitCode::from(u8::try_from(128 + signal).unwrap_or(1)),
        (None, None) => ExitCode::FAILURE,
    }
}

/// Runs the command line `args` in a child process until it finishes, restarting it on the
/// same run when it dies; returns the exit code of the child that finished.
pub(crate) async fn supervise(args: &[OsString], store: &Store) -> Result<ExitCode, Error> {
    let supervisor = Supervisor::start()?;
    let mut resume: Option<RunId> = None;
    let mut last_evidence: Option<u64> = None;
    let (mut stalled, mut restarts) = (0u32, 0u32);
    loop {
        let resume_env = resume.as_ref().map(|run| (RESUME_ENV, run.to_string()));
        let (exit, status) = supervisor.run_child(args, resume_env).await?;
        if status.done {
            break Ok(mirror(exit));
        }
        let how = describe(exit);
        let Some(run) = status.run else {
            eprintln!("error: the worker process died ({how}) before it started on a run");
            break Ok(mirror(exit));
        };
        if supervisor.stopping() {
            eprintln!("error: the worker process died ({how}) while stopping; `resume {run}` runs the remaining specs");
            break Ok(mirror(exit));
        }
        let layout = RunLayout::new(store.prefix(), run.clone());
        let (evidence, suspects) = match Journal::new(store.clone(), &layout).inspect().await {
            Ok(found) => found,
            Err(error) => break Err(error),
        };
        stalled = if last_evidence.is_some_and(|last| evidence <= last) { stalled + 1 } else { 0 };
        last_evidence = Some(evidence);
        if stalled >= MAX_STALLED {
            eprintln!(
                "error: the worker process died ({how}) {} times in a row without a new result or crash record; \
                 giving up. `resume {run}` tries again; `SCYTHE_SUPERVISE=0` runs specs in-process for a debugger",
                stalled + 1
            );
            break Ok(ExitCode::from(3));
        }
        restarts += 1;
        let specs = if suspects.is_empty() { String::new() } else { format!(" while running specs {suspects}") };
        tracing::warn!(
            "the worker process died ({how}){specs} of run {run}; isolating the suspects and starting it again \
             (restart {restarts})"
        );
        resume = Some(run);
    }
}

/// Runs the Hatchet `worker` command line `args` in a child process and starts it again
/// whenever it dies (a spec aborted, the OOM killer); returns the exit code of the child that
/// returned. The engine hands the dead worker's tasks out again once its heartbeat stops
/// (about 30 s), and the leaf's journal runs the specs that were in flight alone first, so a
/// spec that kills the process ends as a `crashed` failure after `retries + 1` crashes. Quick
/// deaths in a row wait longer and longer (up to 30 s) before the next start.
pub(crate) async fn supervise_worker(args: &[OsString]) -> Result<ExitCode, Error> {
    let supervisor = Supervisor::start()?;
    let mut quick_deaths = 0u32;
    loop {
        let started = std::time::Instant::now();
        let (exit, status) = supervisor.run_child(args, None).await?;
        if status.done || supervisor.stopping() {
            break Ok(mirror(exit));
        }
        quick_deaths = if started.elapsed() < QUICK_DEATH { quick_deaths + 1 } else { 0 };
        let pause = Duration::from_secs(1u64 << quick_deaths.min(5)).min(MAX_PAUSE);
        tracing::warn!(
            "the worker process died ({}); the engine hands its tasks out again once its heartbeat stops, and \
             the specs it was running run alone first. Starting it again in {}s",
            describe(exit),
            pause.as_secs()
        );
        tokio::time::sleep(pause).await;
        if supervisor.stopping() {
            break Ok(mirror(exit));
        }
    }
}

/// What both supervisors share: this program's path, the child's status file, and the
/// forwarding of Ctrl-C/SIGTERM to the running child (stopped when the supervisor is dropped).
struct Supervisor {
    exe: PathBuf,
    status_file: tempfile::NamedTempFile,
    stopping: Arc<AtomicBool>,
    child_pid: Arc<AtomicU32>,
    forward: tokio::task::JoinHandle<()>,
}

impl Supervisor {
    fn start() -> Result<Self, Error> {
        let exe = std::env::current_exe().map_err(Error::io("locating this program to run its worker process"))?;
        let status_file = tempfile::Builder::new()
            .prefix("scythe-supervisor-")
            .tempfile()
            .map_err(Error::io("creating the supervisor's status file"))?;
        let stopping = Arc::new(AtomicBool::new(false));
        let child_pid = Arc::new(AtomicU32::new(0));
        let forward = tokio::spawn(forward_signals(Arc::clone(&stopping), Arc::clone(&child_pid)));
        Ok(Self { exe, status_file, stopping, child_pid, forward })
    }

    /// Whether Ctrl-C or SIGTERM asked to stop.
    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Runs this program with `args` (and `env`, if any) in a child process bound to this one,
    /// and returns how it ended and what its status file says.
    async fn run_child(
        &self,
        args: &[OsString],
        env: Option<(&str, String)>,
    ) -> Result<(std::process::ExitStatus, Status), Error> {
        let status_path = self.status_file.path();
        std::fs::write(status_path, "").map_err(Error::io("resetting the supervisor's status file"))?;
        let mut command = std::process::Command::new(&self.exe);
        command.args(args.iter().skip(1)).env(STATUS_ENV, status_path).env(PARENT_ENV, std::process::id().to_string());
        if let Some((key, value)) = env {
            command.env(key, value);
        }
        let mut child = command.spawn().map_err(Error::io("starting the worker process"))?;
        self.child_pid.store(child.id(), Ordering::Release);
        let exit = tokio::task::spawn_blocking(move || child.wait())
            .await
            .map_err(|error| Error::Io { context: "waiting for the worker process".to_owned(), source: error.into() })?
            .map_err(Error::io("waiting for the worker process"))?;
        self.child_pid.store(0, Ordering::Release);
        let status = Status::parse(&std::fs::read_to_string(status_path).unwrap_or_default());
        Ok((exit, status))
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.forward.abort();
    }
}

/// Ctrl-C and SIGTERM: the child is told to stop (SIGINT: it finishes the specs in flight and
/// gathers) and is not restarted.
async fn forward_signals(stopping: Arc<AtomicBool>, child_pid: Arc<AtomicU32>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut interrupt), Ok(mut terminate)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
    else {
        return;
    };
    loop {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        stopping.store(true, Ordering::Release);
        let pid = child_pid.load(Ordering::Acquire);
        if let Ok(pid) = i32::try_from(pid)
            && pid > 0
        {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGINT);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_files_say_which_run_and_whether_done() {
        assert_eq!(Status::parse(""), Status::default());
        let run: RunId = "faulty/v1.0.0/2026-12-02_18-00-00".parse().expect("run id");
        assert_eq!(Status::parse(&format!("run {run}\n")), Status { run: Some(run.clone()), done: false });
        assert_eq!(Status::parse(&format!("run {run}\ndone\n")), Status { run: Some(run), done: true });
        assert_eq!(Status::parse("done\n"), Status { run: None, done: true });
    }

    #[test]
    fn deaths_are_described_for_people() {
        let aborted = std::process::ExitStatus::from_raw(6);
        assert_eq!(describe(aborted), "signal 6: SIGABRT, the process aborted");
        let exited = std::process::ExitStatus::from_raw(7 << 8);
        assert!(describe(exited).starts_with("exit code 7"));
        assert_eq!(format!("{:?}", mirror(aborted)), format!("{:?}", ExitCode::from(134)));
    }
}
