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
use crate::runner::{ChunkJob, RunContext};
use crate::settings::EngineSettings;

/// Largest chunk of specs a worker takes at once.
const MAX_CHUNK: u64 = 8192;
/// Chunks per worker, so a slow chunk does not leave the others idle at the end.
const CHUNKS_PER_WORKER: u64 = 16;
/// Longest time a finished result waits in memory before it is written.
const FLUSH_INTERVAL: Duration = Duration::from_millis(500);

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
        let mut offsets = Vec::with_capacity(batches.len());
        let mut next = 0;
        for batch in &batches {
            offsets.push(next);
            next += batch.num_rows() as u64;
        }
        Self { batches, offsets }
    }

    /// Rows `range` as one batch.
    fn slice(&self, range: Range<u64>) -> Result<RecordBatch, Error> {
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
    specs: SpecRows,
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
        layout,
        store,
        runtime: tokio::runtime::Handle::current(),
        scratch_root: scratch.path().to_path_buf(),
        cache: FileCache::new(settings.cache_dir.clone()),
        generation,
        stop: AtomicBool::new(false),
        succeeded: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        flush_interval: FLUSH_INTERVAL,
        flush_rows: chunk as usize,
    });
    let pool = {
        let run = Arc::clone(&run);
        let queue = Arc::new(Mutex::new(queue));
        let specs = Arc::new(specs);
        tokio::task::spawn_blocking(move || run_pool(experiment, run, queue, specs, workers))
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

fn run_pool(
    experiment: Arc<dyn Registered>,
    run: Arc<RunContext>,
    queue: Arc<Mutex<VecDeque<Range<u64>>>>,
    specs: Arc<SpecRows>,
    workers: usize,
) -> Vec<Error> {
    let errors = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for index in 0..workers {
            let (experiment, run, queue, specs, errors) = (&experiment, &run, &queue, &specs, &errors);
            let spawned =
                std::thread::Builder::new().name(format!("scythe-worker-{index}")).spawn_scoped(scope, move || {
                    while !run.stop.load(Ordering::Relaxed) {
                        let Some(range) = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front() else { break };
                        let result = specs
                            .slice(range.clone())
                            .and_then(|batch| experiment.run_chunk(ChunkJob { run, start: range.start, specs: batch }));
                        if let Err(error) = result {
                            // Results can no longer be stored: stop the run; it can be resumed.
                            run.stop.store(true, Ordering::Relaxed);
                            errors.lock().unwrap_or_else(|p| p.into_inner()).push(error);
                        }
                    }
                });
            if let Err(error) = spawned {
                errors.lock().unwrap_or_else(|p| p.into_inner()).push(Error::io("starting a worker thread")(error));
            }
        }
    });
    errors.into_inner().unwrap_or_else(|p| p.into_inner())
}
