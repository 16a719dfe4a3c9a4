//! Runs a chunk of specs on the current thread: decode, attempt with retries, timeouts and
//! panic capture, and hand results to a [`PartBuffer`] that persists them as they finish.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use scythe_core::layout::RunLayout;
use scythe_core::schema::ExperimentSchema;
use scythe_core::validate::decode;
use scythe_core::{Experiment, TaskContext, TaskError, TaskErrorKind};
use scythe_storage::Store;

use crate::cache::FileCache;
use crate::error::Error;
use crate::parts::{Failure, PartBuffer};

/// What every task of one run shares.
pub(crate) struct RunContext {
    pub(crate) layout: RunLayout,
    pub(crate) store: Store,
    pub(crate) runtime: tokio::runtime::Handle,
    pub(crate) scratch_root: PathBuf,
    pub(crate) cache: FileCache,
    /// 0 for the scatter, 1+ for resumes.
    pub(crate) generation: u32,
    /// Set to stop taking new specs (Ctrl-C); finished results are still written.
    pub(crate) stop: AtomicBool,
    pub(crate) succeeded: AtomicU64,
    pub(crate) failed: AtomicU64,
    /// Longest time a finished result waits in memory before it is written.
    pub(crate) flush_interval: Duration,
    /// Most results buffered before they are written.
    pub(crate) flush_rows: usize,
}

/// One chunk of consecutive specs for one worker thread.
pub(crate) struct ChunkJob<'a> {
    pub(crate) run: &'a RunContext,
    /// Sort index of the first spec.
    pub(crate) start: u64,
    /// The specs, conformed to the input schema, file references as stored URIs.
    pub(crate) specs: RecordBatch,
}

/// Runs every spec of the chunk and persists the results.
pub(crate) fn run_chunk<E: Experiment>(schema: &ExperimentSchema, job: ChunkJob<'_>) -> Result<(), Error> {
    let run = job.run;
    let mut buffer = PartBuffer::<E::Output>::new(schema, run, job.start);
    let localized = match run.runtime.block_on(run.cache.localize(&job.specs, schema.input(), &run.store)) {
        Ok(localized) => localized,
        Err(error) => {
            // No spec of the chunk can run without its input files: record each as failed.
            for row in 0..job.specs.num_rows() as u64 {
                let error = TaskError::new(TaskErrorKind::Infrastructure, error.to_string());
                buffer.push_failure(Failure::new(job.start + row, 1, error));
                run.failed.fetch_add(1, Ordering::Relaxed);
            }
            return buffer.flush();
        }
    };
    let mut inputs: Vec<Option<E::Input>> = match decode::<E::Input>(&localized, job.start) {
        Ok(all) => all.into_iter().map(Some).collect(),
        Err(_) => (0..localized.num_rows()).map(|row| decode_row::<E>(&localized, row).ok()).collect(),
    };
    for (row, input) in inputs.iter_mut().enumerate() {
        if run.stop.load(Ordering::Relaxed) {
            break;
        }
        let sort_index = job.start + row as u64;
        match attempt_with_retries::<E>(run, &localized, row, input.take(), sort_index) {
            Ok((output, ctx)) => {
                buffer.push_success(sort_index, output, ctx.created_scratch_dir().map(PathBuf::from));
                run.succeeded.fetch_add(1, Ordering::Relaxed);
            }
            Err(failure) => {
                buffer.push_failure(failure);
                run.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        buffer.flush_if_due()?;
    }
    buffer.flush()
}

fn decode_row<E: Experiment>(specs: &RecordBatch, row: usize) -> Result<E::Input, TaskError> {
    decode::<E::Input>(&specs.slice(row, 1), 0)
        .map_err(|error| TaskError::new(TaskErrorKind::InvalidInput, error.to_string()))?
        .pop()
        .ok_or_else(|| TaskError::new(TaskErrorKind::InvalidInput, "the spec row is empty"))
}

fn attempt_with_retries<E: Experiment>(
    run: &RunContext,
    specs: &RecordBatch,
    row: usize,
    mut first_input: Option<E::Input>,
    sort_index: u64,
) -> Result<(E::Output, TaskContext), Failure> {
    let config = E::CONFIG;
    let mut attempt = 0;
    loop {
        let input = match first_input.take().map(Ok).unwrap_or_else(|| decode_row::<E>(specs, row)) {
            Ok(input) => input,
            Err(error) => return Err(Failure::new(sort_index, attempt + 1, error)),
        };
        let ctx = TaskContext::new(run.layout.run().to_string(), sort_index, attempt, &run.scratch_root);
        let started = Instant::now();
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
            run.runtime.block_on(async { tokio::time::timeout(config.timeout, E::run(input, &ctx)).await })
        }));
        let error = match outcome {
            Ok(Ok(Ok(_))) if started.elapsed() > config.timeout => timed_out(config.timeout),
            Ok(Ok(Ok(output))) => return Ok((output, ctx)),
            Ok(Ok(Err(error))) => error,
            Ok(Err(_elapsed)) => timed_out(config.timeout),
            Err(panic) => TaskError::new(TaskErrorKind::Panicked, panic_message(panic.as_ref())),
        };
        if let Some(dir) = ctx.created_scratch_dir() {
            let _ = std::fs::remove_dir_all(dir);
        }
        if !error.kind().is_retryable() || attempt >= config.retries {
            return Err(Failure::new(sort_index, attempt + 1, error));
        }
        attempt += 1;
    }
}

fn timed_out(limit: Duration) -> TaskError {
    TaskError::new(
        TaskErrorKind::TimedOut,
        format!("the attempt ran longer than the timeout of {}", humantime_duration(limit)),
    )
}

fn humantime_duration(duration: Duration) -> String {
    let seconds = duration.as_secs_f64();
    if seconds >= 3600.0 {
        format!("{:.3}h", seconds / 3600.0).trim_end_matches('0').trim_end_matches('.').to_owned()
    } else if seconds >= 60.0 {
        format!("{:.3}m", seconds / 60.0).trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        format!("{}ms", duration.as_millis())
    }
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
    fn panic_messages_keep_the_payload() {
        let payload: Box<dyn Any + Send> = Box::new(String::from("negative area"));
        assert_eq!(panic_message(payload.as_ref()), "panicked: negative area");
    }
}
