//! The embedded engine: runs a run's specs on a pool of worker threads in this process.
//!
//! Specs are cut into chunks of consecutive sort indexes; each worker thread takes the next
//! chunk, runs its specs one after another (CPU-bound bodies never touch the async executor)
//! and persists results as they finish. Ctrl-C stops taking new specs; finished ones are kept.
//!
//! Every chunk is announced in the run's [`journal`](crate::journal) while it runs (one marker
//! per chunk, never per spec). Suspects — specs a process that died had in flight — run first,
//! on one thread alone, in sub-chunks of 1, 2, 4, … specs (careful mode), until either the spec
//! that kills the process is found or the careful pass ran longer than results can stay
//! unwritten ([`CAREFUL_SPAN`]); the rest goes back to the parallel pool.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use scythe_core::layout::RunLayout;
use scythe_storage::Store;

use crate::cache::FileCache;
use crate::error::Error;
use crate::journal::{Journal, Marker, Recovery};
use crate::progress::Progress;
use crate::registry::Registered;
use crate::run_context::RunContext;
use crate::runner::{ChunkJob, Slot, SlotWatch, timed_out};
use crate::settings::EngineSettings;
use crate::specs::SpecRows;

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
/// How long careful mode keeps a suspect range to itself: past twice the flush interval the
/// spec that killed the process has run again (it was at most one flush interval past the
/// last written result), and the rest of the range goes back to the parallel pool.
const CAREFUL_SPAN: Duration = Duration::from_millis(2 * FLUSH_INTERVAL.as_millis() as u64);

/// What an execution did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Execution {
    pub(crate) succeeded: u64,
    pub(crate) failed: u64,
    /// Specs not run because their results were copied from the result cache.
    pub(crate) reused: u64,
    /// Why the others ran.
    pub(crate) explanation: crate::reuse::Explanation,
    /// The identical earlier run whose final tables were copied whole, if any.
    pub(crate) copied_from: Option<scythe_core::layout::RunId>,
    /// The digest of the run's result keys, for gather to record if every spec succeeds.
    pub(crate) digest: Option<crate::reuse::RunDigest>,
    /// Stopped early (Ctrl-C); the remaining specs can be resumed.
    pub(crate) interrupted: bool,
    pub(crate) elapsed: Duration,
}

/// Runs the specs in `pending` (sort-index ranges) of one run; `whole_run` says that they are
/// every spec of the run (the result cache may then copy an identical earlier run whole).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn execute(
    experiment: Arc<dyn Registered>,
    store: Store,
    layout: RunLayout,
    specs: Arc<SpecRows>,
    pending: Vec<Range<u64>>,
    recovery: Recovery,
    generation: u32,
    settings: &EngineSettings,
    progress: &Progress,
    whole_run: bool,
) -> Result<Execution, Error> {
    let started = Instant::now();
    let cache = FileCache::new(settings.cache_dir.clone(), settings.cache_max_bytes).once_per_execution();
    // Suspects of a dead process run first, exactly as recorded: no cached copies then.
    let prepared = if !settings.reuse_results {
        let explanation = crate::reuse::Explanation::all(&pending, crate::reuse::RanBecause::CacheDisabled);
        crate::reuse::Prepared { pending, explanation, ..Default::default() }
    } else if !recovery.suspects.is_empty() {
        let explanation = crate::reuse::Explanation::all(&pending, crate::reuse::RanBecause::Recovering);
        crate::reuse::Prepared { pending, explanation, ..Default::default() }
    } else {
        let (schema, layout) = (experiment.as_ref(), &layout);
        crate::reuse::prepare(schema, &store, layout, &specs, pending, generation, &cache, whole_run).await?
    };
    let crate::reuse::Prepared { pending, reused, explanation, copied_from, digest } = prepared;
    let total: u64 = pending.iter().map(|r| r.end - r.start).sum();
    let workers = settings.workers.max(1);
    let chunk = chunk_size(total, workers);
    let journal = Journal::new(store.clone(), &layout);
    journal.remove(&recovery.stale).await?;
    if !recovery.suspects.is_empty() && !crate::supervise::is_child() {
        // (A supervisor has said so already.)
        tracing::warn!(
            run = %layout.run(),
            "a process running this run died while specs {} were in flight; running them one at a time first",
            recovery.describe()
        );
    }
    let queue = Queue::new(&pending, recovery, chunk);
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
        cache,
        generation,
        code_fingerprint: experiment.config().fingerprint.map(|f| f.short()),
        stop: AtomicBool::new(false),
        succeeded: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        flush_rows: chunk as usize,
        timed_out: Mutex::new(std::collections::HashMap::new()),
        any_timed_out: AtomicBool::new(false),
    });
    let timeout = experiment.config().timeout;
    let retries = experiment.config().retries;
    let shared = Arc::new(Pool {
        experiment,
        run: Arc::clone(&run),
        queue: Mutex::new(queue),
        specs,
        journal,
        retries,
        orphans: Mutex::new(Vec::new()),
    });
    let pool = {
        let pool = Arc::clone(&shared);
        tokio::task::spawn_blocking(move || {
            let mut errors = Vec::new();
            if pool.queue().has_careful() {
                errors = Arc::clone(&pool).run(1, timeout);
                pool.queue().careful_phase = false;
            }
            if errors.is_empty() && !pool.run.stop.load(Ordering::Relaxed) {
                errors = Arc::clone(&pool).run(workers, timeout);
            }
            errors
        })
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
    // Markers of suspects that were handled, and of threads abandoned on a timeout (their
    // specs ran again elsewhere); both only once the whole execution ran.
    let handled = std::mem::take(&mut shared.queue().handled);
    shared.journal.remove(&handled).await?;
    if !run.stop.load(Ordering::Relaxed) {
        let orphans = std::mem::take(&mut *shared.orphans.lock().unwrap_or_else(|p| p.into_inner()));
        for marker in orphans {
            shared.journal.end(&marker).await?;
        }
    }
    Ok(Execution {
        succeeded,
        failed,
        reused,
        explanation,
        copied_from,
        digest,
        interrupted: run.stop.load(Ordering::Relaxed) && succeeded + failed < total,
        elapsed: started.elapsed(),
    })
}

/// The worker threads of one execution and what they share.
struct Pool {
    experiment: Arc<dyn Registered>,
    run: Arc<RunContext>,
    queue: Mutex<Queue>,
    specs: Arc<SpecRows>,
    journal: Journal,
    /// The experiment's retries: a spec that crashed alone more often is not run again.
    retries: u32,
    /// Markers of chunks whose threads were abandoned on a timeout.
    orphans: Mutex<Vec<Marker>>,
}

/// A piece of work handed to one worker thread.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Chunk {
    range: Range<u64>,
    /// The journal marker written while it runs.
    marker: Marker,
    /// For a suspect run alone: times the process died while it ran alone before.
    crashes: Option<u32>,
    careful: bool,
}

/// A suspect range in careful mode: sub-chunks of doubling size from `next`.
#[derive(Debug)]
struct Careful {
    next: u64,
    end: u64,
    size: u64,
    started: Option<Instant>,
    /// Markers that made the range suspect, deleted once it is handled.
    markers: Vec<String>,
}

/// What is left to run: suspects (careful mode) first, then chunks for the parallel pool.
#[derive(Debug)]
struct Queue {
    careful: VecDeque<Careful>,
    fast: VecDeque<Range<u64>>,
    /// While set, only careful chunks are handed out (to the one thread that runs them).
    careful_phase: bool,
    chunk: u64,
    crashes: BTreeMap<u64, u32>,
    /// Markers of suspect ranges handled so far.
    handled: Vec<String>,
}

impl Queue {
    fn new(pending: &[Range<u64>], recovery: Recovery, chunk: u64) -> Self {
        let careful: VecDeque<Careful> = recovery
            .suspects
            .into_iter()
            .map(|s| Careful { next: s.range.start, end: s.range.end, size: 1, started: None, markers: s.markers })
            .collect();
        let mut fast = VecDeque::new();
        let mut rest = careful.iter().map(|c| c.next..c.end).peekable();
        for range in pending {
            // The pending ranges minus the suspects (which lie inside them), in chunks.
            let mut start = range.start;
            while let Some(suspect) = rest.next_if(|s| s.start < range.end) {
                cut(&mut fast, start..suspect.start.max(start), chunk);
                start = start.max(suspect.end);
            }
            cut(&mut fast, start..range.end, chunk);
        }
        Self {
            careful_phase: !careful.is_empty(),
            careful,
            fast,
            chunk,
            crashes: recovery.crashes,
            handled: Vec::new(),
        }
    }

    fn has_careful(&self) -> bool {
        !self.careful.is_empty()
    }

    /// The next chunk to run, if any (`now` times careful mode).
    fn next(&mut self, now: Instant) -> Option<Chunk> {
        while let Some(careful) = self.careful.front_mut() {
            let started = *careful.started.get_or_insert(now);
            if careful.next >= careful.end || (careful.size > 1 && now - started >= CAREFUL_SPAN) {
                let done = self.careful.pop_front()?;
                self.handled.extend(done.markers);
                let mut rest = VecDeque::new();
                cut(&mut rest, done.next..done.end, self.chunk);
                while let Some(range) = rest.pop_back() {
                    self.fast.push_front(range);
                }
                continue;
            }
            let range = careful.next..(careful.next + careful.size).min(careful.end);
            careful.next = range.end;
            careful.size = (careful.size * 2).min(self.chunk.max(1));
            if range.end - range.start == 1 {
                let crashes = self.crashes.get(&range.start).copied().unwrap_or(0);
                let marker = Marker::Solo { sort_index: range.start, crash: crashes };
                return Some(Chunk { range, marker, crashes: Some(crashes), careful: true });
            }
            return Some(Chunk { marker: Marker::Range(range.clone()), range, crashes: None, careful: true });
        }
        if self.careful_phase {
            return None;
        }
        let range = self.fast.pop_front()?;
        Some(Chunk { marker: Marker::Range(range.clone()), range, crashes: None, careful: false })
    }

    /// Puts the unwritten rest of a chunk back in front (its thread was abandoned).
    fn requeue(&mut self, range: Range<u64>, careful: bool) {
        if careful {
            self.careful.push_front(Careful {
                next: range.start,
                end: range.end,
                size: 1,
                started: None,
                markers: Vec::new(),
            });
        } else {
            self.fast.push_front(range);
        }
    }
}

/// Specs per chunk for `total` specs on `workers` threads: [`CHUNKS_PER_WORKER`] chunks each,
/// between 1 and [`MAX_CHUNK`] specs.
fn chunk_size(total: u64, workers: usize) -> u64 {
    (total / (workers.max(1) as u64 * CHUNKS_PER_WORKER)).clamp(1, MAX_CHUNK)
}

/// Appends `range` to `queue` in chunks of at most `chunk` specs.
fn cut(queue: &mut VecDeque<Range<u64>>, range: Range<u64>, chunk: u64) {
    let chunk = chunk.max(1);
    let mut start = range.start;
    while start < range.end {
        let end = (start + chunk).min(range.end);
        queue.push_back(start..end);
        start = end;
    }
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
            self.queue().requeue(unwritten, slot.careful.load(Ordering::Acquire));
        }
        if let Some(marker) = slot.marker.lock().unwrap_or_else(|p| p.into_inner()).take() {
            self.orphans.lock().unwrap_or_else(|p| p.into_inner()).push(marker);
        }
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
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
            let Some(chunk) = self.queue().next(Instant::now()) else { break };
            let batch = self.specs.slice(chunk.range.clone())?;
            // A spec already recorded as crashed often enough is not run: no marker.
            let journaled = chunk.crashes.is_none_or(|crashes| crashes <= self.retries);
            let mut result = Ok(());
            if journaled {
                result = self.run.runtime.block_on(self.journal.begin(&chunk.marker));
                *slot.marker.lock().unwrap_or_else(|p| p.into_inner()) = Some(chunk.marker.clone());
            }
            if result.is_ok() {
                slot.careful.store(chunk.careful, Ordering::Release);
                let job =
                    ChunkJob { run: &self.run, slot, start: chunk.range.start, specs: batch, crashes: chunk.crashes };
                result = self.experiment.run_chunk(job);
            }
            if slot.abandoned.load(Ordering::Acquire) {
                return Ok(());
            }
            // The process did not die while the chunk ran: it is not suspect, whatever happened
            // (a spec recorded as crashed loses its crash markers here too).
            slot.marker.lock().unwrap_or_else(|p| p.into_inner()).take();
            let ended = self.run.runtime.block_on(self.journal.end(&chunk.marker));
            result = result.and(ended);
            if let Err(error) = result {
                // Results can no longer be stored: stop the run; it can be resumed.
                self.run.stop.store(true, Ordering::Relaxed);
                return Err(error);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::single_range_in_vec_init)] // one-range lists of pending specs
mod tests {
    use super::*;
    use crate::journal::Suspect;

    fn suspects(ranges: &[Range<u64>], crashes: &[(u64, u32)]) -> Recovery {
        Recovery {
            suspects: ranges
                .iter()
                .map(|r| Suspect { range: r.clone(), markers: vec![format!("m{}", r.start)] })
                .collect(),
            crashes: crashes.iter().copied().collect(),
            stale: Vec::new(),
        }
    }

    fn drain(queue: &mut Queue, now: Instant) -> Vec<Chunk> {
        std::iter::from_fn(|| queue.next(now)).collect()
    }

    #[test]
    fn chunks_give_each_worker_sixteen_between_one_and_the_cap() {
        assert_eq!(chunk_size(0, 4), 1);
        assert_eq!(chunk_size(10, 4), 1);
        assert_eq!(chunk_size(6400, 4), 100);
        assert_eq!(chunk_size(6401, 4), 100);
        assert_eq!(chunk_size(10_000_000, 2), MAX_CHUNK);
        assert_eq!(chunk_size(640, 0), 40, "no workers counts as one");
        // Every spec lands in exactly one chunk, none larger than the size.
        let mut queue = VecDeque::new();
        cut(&mut queue, 3..1000, chunk_size(997, 2));
        assert_eq!(queue.front().map(|r| r.start), Some(3));
        assert_eq!(queue.back().map(|r| r.end), Some(1000));
        assert!(queue.iter().zip(queue.iter().skip(1)).all(|(a, b)| a.end == b.start));
        assert!(queue.iter().all(|r| r.end - r.start <= 31 && r.end > r.start));
    }

    #[test]
    fn without_suspects_the_pending_ranges_are_cut_in_chunks() {
        let mut queue = Queue::new(&[0..10, 20..23], Recovery::default(), 4);
        assert!(!queue.has_careful());
        let ranges: Vec<_> = drain(&mut queue, Instant::now()).into_iter().map(|c| c.range).collect();
        assert_eq!(ranges, vec![0..4, 4..8, 8..10, 20..23]);
    }

    #[test]
    fn suspects_run_first_alone_then_in_doubling_sub_chunks() {
        let mut queue = Queue::new(&[0..40], suspects(&[8..20], &[(8, 1)]), 8);
        let now = Instant::now();
        let careful = drain(&mut queue, now);
        let ranges: Vec<_> = careful.iter().map(|c| c.range.clone()).collect();
        assert_eq!(ranges, vec![8..9, 9..11, 11..15, 15..20]);
        assert!(careful.iter().all(|c| c.careful));
        // The first spec runs alone, with its crash count, behind a crash marker.
        assert_eq!(careful[0].crashes, Some(1));
        assert_eq!(careful[0].marker, Marker::Solo { sort_index: 8, crash: 1 });
        assert_eq!(careful[1].marker, Marker::Range(9..11));
        // The careful phase hands out nothing else; then the rest runs in parallel chunks.
        assert_eq!(queue.handled, vec!["m8".to_owned()]);
        queue.careful_phase = false;
        let fast: Vec<_> = drain(&mut queue, now).into_iter().map(|c| (c.range, c.careful)).collect();
        assert_eq!(fast, vec![(0..8, false), (20..28, false), (28..36, false), (36..40, false)]);
    }

    #[test]
    fn careful_mode_gives_the_rest_back_after_its_span() {
        let mut queue = Queue::new(&[0..100], suspects(&[0..100], &[]), 16);
        let start = Instant::now();
        assert_eq!(queue.next(start).map(|c| c.range), Some(0..1));
        assert_eq!(queue.next(start).map(|c| c.range), Some(1..3));
        // Past the span, what is left of the suspect range goes to the parallel pool.
        assert_eq!(queue.next(start + CAREFUL_SPAN), None);
        queue.careful_phase = false;
        let fast: Vec<_> = drain(&mut queue, start).into_iter().map(|c| c.range).collect();
        assert_eq!(fast.first(), Some(&(3..19)));
        assert_eq!(fast.last(), Some(&(99..100)));
    }

    #[test]
    fn an_abandoned_careful_chunk_restarts_alone() {
        let mut queue = Queue::new(&[0..10], suspects(&[0..10], &[]), 4);
        let now = Instant::now();
        assert_eq!(queue.next(now).map(|c| c.range), Some(0..1));
        assert_eq!(queue.next(now).map(|c| c.range), Some(1..3));
        queue.requeue(2..3, true);
        let next = queue.next(now).expect("requeued");
        assert_eq!((next.range, next.marker), (2..3, Marker::Solo { sort_index: 2, crash: 0 }));
    }
}
