//! Provenance of every spec's result: the table `provenance` (one row per spec, in
//! `final/provenance.pq` like every table) says which code, Scythe version, worker and attempt
//! produced it, when and how long it ran, and for a cached result the run it was reused from.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arrow::array::{ArrayRef, Float64Array, StringArray, TimestampMicrosecondArray, UInt32Array};
use arrow::datatypes::{DataType, Field, FieldRef, TimeUnit};
use chrono::{DateTime, Utc};

/// The column naming the run a cached result was copied from (null when the spec ran).
pub(crate) const CACHED_FROM: &str = "cached_from";

/// When one spec ran and how many attempts it took.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Timing {
    pub(crate) started_at: DateTime<Utc>,
    pub(crate) duration: Duration,
    pub(crate) attempts: u32,
}

impl Timing {
    /// A spec recorded without running (it crashed the process before, or its input files
    /// could not be fetched).
    pub(crate) fn not_run(attempts: u32) -> Self {
        Self { started_at: Utc::now(), duration: Duration::ZERO, attempts }
    }
}

/// The data columns of the table (after `sort_index`).
pub(crate) fn fields() -> Vec<FieldRef> {
    vec![
        Arc::new(Field::new("code_fingerprint", DataType::Utf8, true)),
        Arc::new(Field::new("scythe_version", DataType::Utf8, false)),
        Arc::new(Field::new("started_at", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false)),
        Arc::new(Field::new("duration_s", DataType::Float64, false)),
        Arc::new(Field::new("attempts", DataType::UInt32, false)),
        Arc::new(Field::new("worker_host", DataType::Utf8, false)),
        Arc::new(Field::new("worker_pid", DataType::UInt32, false)),
        Arc::new(Field::new(CACHED_FROM, DataType::Utf8, true)),
    ]
}

/// The data columns for specs that ran here with `timings`, in the order of [`fields`].
pub(crate) fn columns(fingerprint: Option<&str>, timings: &[Timing]) -> Vec<ArrayRef> {
    let n = timings.len();
    let host = this_host();
    vec![
        Arc::new(StringArray::from(vec![fingerprint; n])),
        Arc::new(StringArray::from_iter_values(std::iter::repeat_n(env!("CARGO_PKG_VERSION"), n))),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(timings.iter().map(|t| t.started_at.timestamp_micros()))
                .with_timezone("UTC"),
        ),
        Arc::new(Float64Array::from_iter_values(timings.iter().map(|t| t.duration.as_secs_f64()))),
        Arc::new(UInt32Array::from_iter_values(timings.iter().map(|t| t.attempts))),
        Arc::new(StringArray::from_iter_values(std::iter::repeat_n(host, n))),
        Arc::new(UInt32Array::from_iter_values(std::iter::repeat_n(std::process::id(), n))),
        Arc::new(StringArray::from(vec![None::<&str>; n])),
    ]
}

/// This machine's host name (read once).
fn this_host() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| crate::lease::Lease::mine().host)
}

/// How many rows of a gathered run's `final/provenance.pq` were reused from another run
/// (`cached_from` set): what a Hatchet scatter reports, its leaves having looked up the cache.
#[cfg(feature = "hatchet")]
pub(crate) async fn count_reused(
    store: &scythe_storage::Store,
    layout: &scythe_core::layout::RunLayout,
) -> Result<u64, crate::error::Error> {
    use futures::TryStreamExt;
    let key = layout.final_table(crate::parts::PROVENANCE);
    if !store.exists(&key).await? {
        return Ok(0);
    }
    let mut stream = store.read_parquet(&key, 64 * 1024).await?;
    let mut reused = 0u64;
    while let Some(batch) = stream.try_next().await.map_err(|source| {
        crate::error::Error::Store(scythe_storage::StoreError::Parquet { uri: store.uri(&key), source })
    })? {
        if let Some(column) = batch.column_by_name(CACHED_FROM) {
            reused += (arrow::array::Array::len(column) - arrow::array::Array::null_count(column)) as u64;
        }
    }
    Ok(reused)
}
