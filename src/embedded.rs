//! The embedded engine: runs a run's specs on a pool of worker threads in this process.
//!
//! Specs are cut into chunks of consecutive sort indexes; each worker thread takes the next
//! chunk, runs its specs one after another (CPU-bound bodies never touch the async executor)
//! and persists results as they finish. Ctrl-C stops taking new specs; finished ones are kept.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use scythe_core::layout::RunLayout;
use scythe_storage::Store;

use crate::cache::FileCache;
use crate::error::Error;
use crate::progress::Progress;
use crate::registry::Registered;
use crate::runner::{ChunkJob, RunContext, Slot, SlotWatch, timed_out};
use crate::settings::EngineSettings;

/// Largest chunk of specs a worker takes at once.
const MAX_CHUNK: u64 = 8192;
/// Chunks per worker, so a slow chunk does not leave the others idle at the end.
const CHUNKS_PER_WORKER: u64 = 16;
/// Longest time a finished result waits in memory before it is written.
const FLUSH_INTERVAL: Duration = Duration::from_millis(500);
/// How often the watchdog looks for attempts past their timeout.
const WATCHDOG_TICK: Duration = Duration::from_millis(50);
/// Extra time a body gets to honour its timeout itself before its thread is abandoned.
const TIMEOUT_GRACE: Duration = Duration::from_millis(250);

/// What an execution did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Execution {
    pub(crate) succeeded: u64,
    pub(crate) failed: u64,
    /// Stopped early (Ctrl-C); the remaining specs can be resumed.
    pub(crate) interrupted: bool,
    pub(crate) elapsed: Duration,
}

/// The specs of a run, in memory, addressable by sort index.
pub(crate) struct SpecRows {
    batches: Vec<RecordBatch>,
    offsets: Vec<u64>,
}

impl SpecRows {
    pub(crate) fn new(batches: Vec<RecordBatch>) -> Self {
        Self::starting_at(0, batches)
    }

    /// Specs whose first row has sort index `first`.
    pub(crate) fn starting_at(first: u64, batches: Vec<RecordBatch>) -> Self {
        let mut offsets = Vec::with_capacity(batches.len());
        let mut next = first;
        for batch in &batches {
            offsets.push(next);
            next += batch.num_rows() as u64;
        }
        Self { batches, offsets }
    }

    /// Rows `range` as one batch.
    pub(crate) fn slice(&self, range: Range<u64>) -> Result<RecordBatch, Error> {
        let mut pieces = Vec::new();
        for (batch, &offset) in self.batches.iter().zip(&self.offsets) {
            let end = offset + batch.num_rows() as u64;
            if end <= range.start || offset >= range.end {
                continue;
            }
            let from = range.start.max(offset) - offset;
            let to = range.end.min(end) - offset;
            pieces.push(batch.slice(from as usize, (to - from) as usize));
        }
        match pieces.as_slice() {
            [one] => Ok(one.clone()),
            _ => {
                let schema = self
                    .batches
                    .first()
                    .map(RecordBatch::schema)
                    .ok_or_else(|| Error::Settings("no specs".to_owned()))?;
                arrow::compute::concat_batches(&schema, &pieces).map_err(Error::arrow("slicing specs"))
            }
        }
    }
}

/// Runs the specs in `pending` (sort-index ranges) of one run.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn execute(
    experiment: Arc<dyn Registered>,
    store: Store,
    layout: RunLayout,
    specs: Arc<SpecRows>,
    pending: Vec<Range<u64>>,
    generation: u32,
    settings: &EngineSettings,
    progress: &Progress,
) -> Result<Execution, Error> {
    let started = Instant::now();
    let total: u64 = pending.iter().map(|r| r.end - r.start).sum();
    let workers = settings.workers.max(1);
    let chunk = (total / (workers as u64 * CHUNKS_PER_WORKER)).clamp(1, MAX_CHUNK);
    let queue: VecDeque<Range<u64>> = pending
        .iter()
        .flat_map(|range| {
            (range.start..range.end).step_by(chunk as usize).map(move |start| start..(start + chunk).min(range.end))
        })
        .collect();
    let scratch = tempfile::Builder::new()
        .prefix("scythe-scratch-")
        .tempdir()
        .map_err(Error::io("creating the scratch folder"))?;
    let run = Arc::new(RunContext {
        run_id: layout.run().to_string().into(),
        layout,
        store,
        runtime: tokio::runtime::Handle::current(),
        scratch_root: scratch.path().into(),
        cache: FileCache::new(settings.cache_dir.clone(), settings.cache_max_bytes),
        generation,
        stop: AtomicBool::new(false),
        succeeded: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        flush_rows: chunk as usize,
        timed_out: Mutex::new(std::collections::HashMap::new()),
        any_timed_out: AtomicBool::new(false),
    });
    let timeout = experiment.config().timeout;
    let pool = {
        let pool = Arc::new(Pool { experiment, run: Arc::clone(&run), queue: Mutex::new(queue), specs });
        tokio::task::spawn_blocking(move || pool.run(workers, timeout))
    };
    tokio::pin!(pool);
    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    let interrupt = tokio::signal::ctrl_c();
    tokio::pin!(interrupt);
    let result = loop {
        tokio::select! {
            result = &mut pool => break result,
            _ = &mut interrupt, if !run.stop.load(Ordering::Relaxed) => {
                progress.message("interrupted: finishing the specs in flight, then stopping");
                run.stop.store(true, Ordering::Relaxed);
            }
            _ = ticker.tick() => progress.set(run.succeeded.load(Ordering::Relaxed), run.failed.load(Ordering::Relaxed)),
        }
    };
    let errors = result.map_err(|error| Error::Io {
        context: "the embedded worker pool".to_owned(),
        source: std::io::Error::other(error.to_string()),
    })?;
    let succeeded = run.succeeded.load(Ordering::Relaxed);
    let failed = run.failed.load(Ordering::Relaxed);
    progress.set(succeeded, failed);
    drop(scratch);
    if let Some(error) = errors.into_iter().next() {
        return Err(error);
    }
    Ok(Execution {
        succeeded,
        failed,
        interrupted: run.stop.load(Ordering::Relaxed) && succeeded + failed < total,
        elapsed: started.elapsed(),
    })
}

/// The worker threads of one execution and what they share.
struct Pool {
    experiment: Arc<dyn Registered>,
    run: Arc<RunContext>,
    queue: Mutex<VecDeque<Range<u64>>>,
    specs: Arc<SpecRows>,
}

/// A worker thread's last word.
type Exit = Result<(), Error>;

impl Pool {
    /// Runs the queue on `workers` threads and watches their attempts: one that runs past
    /// `timeout` (plus a grace period for bodies that honour it themselves) is recorded as
    /// timed out, its thread is abandoned, and a fresh thread takes over its unwritten specs.
    fn run(self: Arc<Self>, workers: usize, timeout: Duration) -> Vec<Error> {
        let (exits, exited) = std::sync::mpsc::channel::<Exit>();
        let mut errors = Vec::new();
        let mut slots = Vec::new();
        for _ in 0..workers {
            match self.spawn_worker(exits.clone()) {
                Ok(slot) => slots.push(slot),
                Err(error) => errors.push(error),
            }
        }
        let mut watches: Vec<SlotWatch> = slots.iter().map(|_| SlotWatch::default()).collect();
        let mut last_flush_tick = Instant::now();
        let mut live = slots.len();
        while live > 0 {
            match exited.recv_timeout(WATCHDOG_TICK) {
                Ok(exit) => {
                    live -= 1;
                    if let Err(error) = exit {
                        errors.push(error);
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            }
            let now = Instant::now();
            let flush = now - last_flush_tick >= FLUSH_INTERVAL;
            if flush {
                last_flush_tick = now;
            }
            for (slot, watch) in slots.iter_mut().zip(watches.iter_mut()) {
                if flush {
                    slot.flush_due.store(true, Ordering::Relaxed);
                }
                let overdue = watch.running_for(slot, now).is_some_and(|running| running > timeout + TIMEOUT_GRACE);
                if !overdue || slot.abandoned.swap(true, Ordering::AcqRel) {
                    continue;
                }
                self.hand_over(slot, timeout);
                match self.spawn_worker(exits.clone()) {
                    Ok(fresh) => {
                        *slot = fresh;
                        *watch = SlotWatch::default();
                    }
                    Err(error) => {
                        errors.push(error);
                        live -= 1;
                    }
                }
            }
        }
        errors
    }

    /// Records the overdue attempt and requeues the slot's unwritten specs (its thread is
    /// left to finish on its own and will write nothing).
    fn hand_over(&self, slot: &Slot, timeout: Duration) {
        let sort_index = slot.sort_index.load(Ordering::Acquire);
        let attempts = slot.attempt.load(Ordering::Acquire) + 1;
        tracing::warn!(sort_index, attempts, "an attempt ran past its timeout; its worker thread is abandoned");
        self.run.timed_out.lock().unwrap_or_else(|p| p.into_inner()).insert(sort_index, (attempts, timed_out(timeout)));
        self.run.any_timed_out.store(true, Ordering::Release);
        let unwritten = slot.unwritten_from.load(Ordering::Acquire)..slot.chunk_end.load(Ordering::Acquire);
        if !unwritten.is_empty() {
            self.queue.lock().unwrap_or_else(|p| p.into_inner()).push_front(unwritten);
        }
    }

    fn spawn_worker(self: &Arc<Self>, exits: std::sync::mpsc::Sender<Exit>) -> Result<Arc<Slot>, Error> {
        let slot = Arc::new(Slot::default());
        let (pool, worker_slot) = (Arc::clone(self), Arc::clone(&slot));
        std::thread::Builder::new()
            .name("scythe-worker".to_owned())
            .spawn(move || {
                let exit = pool.work(&worker_slot);
                if !worker_slot.abandoned.load(Ordering::Acquire) {
                    let _ = exits.send(exit);
                }
            })
            .map_err(Error::io("starting a worker thread"))?;
        Ok(slot)
    }

    fn work(&self, slot: &Slot) -> Exit {
        while !self.run.stop.load(Ordering::Relaxed) && !slot.abandoned.load(Ordering::Acquire) {
            let Some(range) = self.queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front() else { break };
            let batch = self.specs.slice(range.clone())?;
            let job = ChunkJob { run: &self.run, slot, start: range.start, specs: batch };
            if let Err(error) = self.experiment.run_chunk(job) {
                // Results can no longer be stored: stop the run; it can be resumed.
                self.run.stop.store(true, Ordering::Relaxed);
                return Err(error);
            }
        }
        Ok(())
    }
}
