//! Runs a chunk of specs on the current thread: decode, attempt with retries, timeouts and
//! panic capture, and hand results to a [`PartBuffer`] that persists them as they finish.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use scythe_core::schema::ExperimentSchema;
use scythe_core::validate::decode;
use scythe_core::{Experiment, TaskContext, TaskError, TaskErrorKind, TaskFuture};
use tokio::time::error::Elapsed;

use crate::error::Error;
use crate::journal::Marker;
use crate::parts::{Failure, PartBuffer};
use crate::provenance::Timing;
use crate::run_context::RunContext;

/// What one worker thread is doing, for the watchdog that enforces timeouts on bodies that
/// never yield (CPU-bound or blocking code cannot be cancelled in place).
///
/// The worker never reads the clock per task: it bumps `attempts` when an attempt starts and
/// again when it ends (odd while running), and the watchdog times each odd value it sees.
#[derive(Debug, Default)]
pub(crate) struct Slot {
    /// Bumped at the start and at the end of every attempt: odd while one runs.
    pub(crate) attempts: AtomicU64,
    /// Set by the pool every flush interval: the worker writes what it has buffered.
    pub(crate) flush_due: AtomicBool,
    pub(crate) sort_index: AtomicU64,
    pub(crate) attempt: AtomicU32,
    /// First sort index of the chunk whose results are not yet written.
    pub(crate) unwritten_from: AtomicU64,
    /// One past the chunk's last sort index.
    pub(crate) chunk_end: AtomicU64,
    /// Set by the watchdog: the thread's work was handed to another thread; it must exit
    /// without writing anything when its body returns.
    pub(crate) abandoned: AtomicBool,
    /// Whether the chunk runs in careful mode (suspects of a process that died).
    pub(crate) careful: AtomicBool,
    /// The journal marker of the chunk (left behind if the thread is abandoned).
    pub(crate) marker: Mutex<Option<Marker>>,
}

/// The watchdog's view of one slot: which attempt it last saw running, and since when.
#[derive(Debug, Default)]
pub(crate) struct SlotWatch {
    seen: u64,
    since: Option<Instant>,
}

impl SlotWatch {
    /// How long the slot's current attempt has been seen running (at most one tick short).
    pub(crate) fn running_for(&mut self, slot: &Slot, now: Instant) -> Option<Duration> {
        let attempts = slot.attempts.load(Ordering::Acquire);
        if attempts.is_multiple_of(2) {
            self.since = None;
            return None;
        }
        if attempts != self.seen || self.since.is_none() {
            self.seen = attempts;
            self.since = Some(now);
        }
        self.since.map(|since| now - since)
    }
}

/// One chunk of consecutive specs for one worker thread.
pub(crate) struct ChunkJob<'a> {
    pub(crate) run: &'a RunContext,
    pub(crate) slot: &'a Slot,
    /// Sort index of the first spec.
    pub(crate) start: u64,
    /// The specs, conformed to the input schema, file references as stored URIs.
    pub(crate) specs: RecordBatch,
    /// For a spec run alone in careful mode: how many times the process already died while it
    /// ran alone. Past the experiment's attempts it is recorded as crashed instead of run.
    pub(crate) crashes: Option<u32>,
}

/// Runs every spec of the chunk and persists the results.
pub(crate) fn run_chunk<E: Experiment>(schema: &ExperimentSchema, job: ChunkJob<'_>) -> Result<(), Error> {
    let (run, slot) = (job.run, job.slot);
    let _runtime = run.runtime.enter();
    slot.unwritten_from.store(job.start, Ordering::Release);
    slot.chunk_end.store(job.start + job.specs.num_rows() as u64, Ordering::Release);
    let mut buffer = PartBuffer::<E::Output>::new(schema, run, job.start);
    if let Some(crashes) = job.crashes.filter(|&crashes| crashes > E::CONFIG.retries) {
        buffer.push_failure(Failure::new(job.start, crashes, crashed(&run.run_id, job.start, crashes)));
        return buffer.flush();
    }
    let mut ctx = TaskContext::new(Arc::clone(&run.run_id), job.start, 0, Arc::clone(&run.scratch_root));
    let localized = match run.runtime.block_on(run.cache.localize(&job.specs, schema.input(), &run.store)) {
        Ok(localized) => localized,
        Err(error) => {
            // No spec of the chunk can run without its input files: record each as failed.
            for row in 0..job.specs.num_rows() as u64 {
                let error = TaskError::new(TaskErrorKind::Infrastructure, error.to_string());
                buffer.push_failure(Failure::new(job.start + row, 1, error));
            }
            return buffer.flush();
        }
    };
    let mut inputs: Vec<Option<E::Input>> = match decode::<E::Input>(&localized, job.start) {
        Ok(all) => all.into_iter().map(Some).collect(),
        Err(_) => (0..localized.num_rows()).map(|row| decode_row::<E>(&localized, row).ok()).collect(),
    };
    // Start times are offsets from one reading of the wall clock per chunk: reading it per spec
    // costs as much as a no-op spec.
    let (wall, anchor) = (chrono::Utc::now(), Instant::now());
    for (row, input) in inputs.iter_mut().enumerate() {
        if run.stop.load(Ordering::Relaxed) {
            break;
        }
        let sort_index = job.start + row as u64;
        let clock = Instant::now();
        let started_at = wall + chrono::TimeDelta::from_std(clock - anchor).unwrap_or_default();
        let timing = |attempts| Timing { started_at, duration: clock.elapsed(), attempts };
        match attempt_with_retries::<E>(run, slot, &mut ctx, &localized, row, input.take(), sort_index) {
            Outcome::Succeeded(output, scratch, attempts) => {
                buffer.push_success(sort_index, output, scratch, timing(attempts));
            }
            Outcome::Failed(mut failure) => {
                failure.timing = timing(failure.attempts);
                buffer.push_failure(failure);
            }
            // The watchdog gave this chunk's unwritten specs to another thread.
            Outcome::Abandoned => return Ok(()),
        }
        let due = slot.flush_due.load(Ordering::Relaxed) && slot.flush_due.swap(false, Ordering::Relaxed);
        if buffer.flush_if_due(due)? {
            slot.unwritten_from.store(sort_index + 1, Ordering::Release);
        }
    }
    buffer.flush()
}

enum Outcome<O> {
    /// The output, the task's scratch folder if it made one, and the attempts it took.
    Succeeded(O, Option<PathBuf>, u32),
    Failed(Failure),
    Abandoned,
}

fn decode_row<E: Experiment>(specs: &RecordBatch, row: usize) -> Result<E::Input, TaskError> {
    decode::<E::Input>(&specs.slice(row, 1), 0)
        .map_err(|error| TaskError::new(TaskErrorKind::InvalidInput, error.to_string()))?
        .pop()
        .ok_or_else(|| TaskError::new(TaskErrorKind::InvalidInput, "the spec row is empty"))
}

fn attempt_with_retries<E: Experiment>(
    run: &RunContext,
    slot: &Slot,
    ctx: &mut TaskContext,
    specs: &RecordBatch,
    row: usize,
    mut first_input: Option<E::Input>,
    sort_index: u64,
) -> Outcome<E::Output> {
    let config = E::CONFIG;
    let mut attempt = 0;
    if let Some((used, error)) = run.take_timed_out(sort_index) {
        if !error.kind().is_retryable() || used > config.retries {
            return Outcome::Failed(Failure::new(sort_index, used, error));
        }
        attempt = used;
        first_input = None;
    }
    loop {
        let input = match first_input.take().map(Ok).unwrap_or_else(|| decode_row::<E>(specs, row)) {
            Ok(input) => input,
            Err(error) => return Outcome::Failed(Failure::new(sort_index, attempt + 1, error)),
        };
        ctx.reset(sort_index, attempt);
        slot.sort_index.store(sort_index, Ordering::Relaxed);
        slot.attempt.store(attempt, Ordering::Relaxed);
        let seq = slot.attempts.load(Ordering::Relaxed);
        slot.attempts.store(seq + 1, Ordering::Release);
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| drive(run, E::run(input, ctx), config.timeout)));
        slot.attempts.store(seq + 2, Ordering::Release);
        if slot.abandoned.load(Ordering::Acquire) {
            return Outcome::Abandoned;
        }
        let error = match outcome {
            Ok(Ok(Ok(output))) => {
                return Outcome::Succeeded(output, ctx.created_scratch_dir().map(PathBuf::from), attempt + 1);
            }
            Ok(Ok(Err(error))) => error,
            Ok(Err(_elapsed)) => timed_out(config.timeout),
            Err(panic) => TaskError::new(TaskErrorKind::Panicked, panic_message(panic.as_ref())),
        };
        if let Some(dir) = ctx.created_scratch_dir() {
            let _ = std::fs::remove_dir_all(dir);
        }
        if !error.kind().is_retryable() || attempt >= config.retries {
            return Outcome::Failed(Failure::new(sort_index, attempt + 1, error));
        }
        attempt += 1;
    }
}

/// Runs a task's future to completion on this worker thread.
///
/// A synchronous body finishes on its first poll, so it is polled once directly (inside the
/// runtime's context, entered once per chunk, so async bodies may use tokio on that poll); only a future that is
/// still pending goes to `block_on` under the timeout. Bodies that block instead of yielding
/// are bounded by the pool's watchdog.
fn drive<T>(
    run: &RunContext,
    mut future: TaskFuture<'_, T>,
    timeout: Duration,
) -> Result<Result<T, TaskError>, Elapsed> {
    let mut context = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut context) {
        Poll::Ready(result) => Ok(result),
        Poll::Pending => run.runtime.block_on(tokio::time::timeout(timeout, future)),
    }
}

/// The error of a spec that killed the process `crashes` times while it ran alone.
fn crashed(run_id: &str, sort_index: u64, crashes: u32) -> TaskError {
    let times = if crashes == 1 { "once".to_owned() } else { format!("{crashes} times") };
    TaskError::new(
        TaskErrorKind::Crashed,
        format!(
            "the process died {times} while spec {sort_index} ran alone: the body aborted, called \
             `exit`, was killed by a signal (a segfault in foreign code, the OOM killer) or the \
             machine stopped; no error could be caught. Find the cause (run the spec alone, watch \
             its memory), then `resume {run_id} --retry-failed`"
        ),
    )
}

/// The error of an attempt that ran past `limit`.
pub(crate) fn timed_out(limit: Duration) -> TaskError {
    TaskError::new(
        TaskErrorKind::TimedOut,
        format!("the attempt ran longer than the timeout of {}", humantime_duration(limit)),
    )
}

fn humantime_duration(duration: Duration) -> String {
    let seconds = duration.as_secs_f64();
    let (value, unit) = match seconds {
        s if s >= 3600.0 => (s / 3600.0, "h"),
        s if s >= 60.0 => (s / 60.0, "m"),
        s if s >= 1.0 => (s, "s"),
        _ => return format!("{}ms", duration.as_millis()),
    };
    let number = format!("{value:.3}");
    format!("{}{unit}", number.trim_end_matches('0').trim_end_matches('.'))
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with a non-string payload".to_owned());
    format!("panicked: {text}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_timeouts_for_people() {
        assert_eq!(humantime_duration(Duration::from_secs(600)), "10m");
        assert_eq!(humantime_duration(Duration::from_secs(5400)), "1.5h");
        assert_eq!(humantime_duration(Duration::from_millis(250)), "250ms");
    }

    #[test]
    fn crash_errors_name_the_spec_and_what_to_do() {
        let error = crashed("faulty/v1.0.0/2026-12-02_18-00-00", 120, 2);
        assert_eq!(error.kind(), TaskErrorKind::Crashed);
        assert!(!error.kind().is_retryable());
        for needle in ["2 times", "spec 120", "abort", "resume faulty/v1.0.0/2026-12-02_18-00-00 --retry-failed"] {
            assert!(error.message().contains(needle), "{needle} missing from: {}", error.message());
        }
    }

    #[test]
    fn panic_messages_keep_the_payload() {
        let payload: Box<dyn Any + Send> = Box::new(String::from("negative area"));
        assert_eq!(panic_message(payload.as_ref()), "panicked: negative area");
    }
}
