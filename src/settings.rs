//! Typed settings, filled from CLI flags and `SCYTHE_*` environment variables.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `SCYTHE_STORAGE` | folder or URL runs are stored in (`./runs`, `file:///…`, `s3://bucket/prefix`) | `scythe-runs` |
//! | `SCYTHE_STORAGE_BUCKET` | S3 bucket (overrides `SCYTHE_STORAGE`) | – |
//! | `SCYTHE_STORAGE_BUCKET_PREFIX` | key prefix inside the bucket | `scythe` |
//! | `SCYTHE_STORAGE_RETRY_WINDOW` | how long a failing storage request is retried (`90s`, `10m`) | `5m` |
//! | `SCYTHE_WORKERS` | embedded engine threads | number of CPUs |
//! | `SCYTHE_CACHE_DIR` | where remote input files are cached | `$XDG_CACHE_HOME/scythe/files` or `~/.cache/scythe/files` |
//! | `SCYTHE_CACHE_MAX_BYTES` | size cap of that cache (least recently used files go first) | 20 GiB |

use std::path::PathBuf;
use std::time::Duration;

use scythe_storage::{DEFAULT_RETRY_WINDOW, Store, StoreLocation};

use crate::error::Error;

/// Default local folder for runs.
pub(crate) const DEFAULT_STORAGE: &str = "scythe-runs";
/// Default size cap of the input file cache.
const DEFAULT_CACHE_MAX_BYTES: u64 = 20 << 30;
/// Default key prefix inside a bucket (Python Scythe's `BUCKET_PREFIX`).
pub(crate) const DEFAULT_BUCKET_PREFIX: &str = "scythe";

/// Where runs are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageSettings {
    /// A folder, `file://`, `memory://` or `s3://bucket[/prefix]` URL.
    pub url: String,
    /// Key prefix for buckets whose URL carries none.
    pub bucket_prefix: String,
    /// How long a failing request to a bucket is retried before the command fails.
    pub retry_window: Duration,
}

impl Default for StorageSettings {
    fn default() -> Self {
        Self {
            url: DEFAULT_STORAGE.to_owned(),
            bucket_prefix: DEFAULT_BUCKET_PREFIX.to_owned(),
            retry_window: DEFAULT_RETRY_WINDOW,
        }
    }
}

impl StorageSettings {
    /// Settings from `SCYTHE_STORAGE`, `SCYTHE_STORAGE_BUCKET`, `SCYTHE_STORAGE_BUCKET_PREFIX`
    /// and `SCYTHE_STORAGE_RETRY_WINDOW` (an unreadable window is logged and the default used).
    pub fn from_env() -> Self {
        let bucket_prefix =
            std::env::var("SCYTHE_STORAGE_BUCKET_PREFIX").unwrap_or_else(|_| DEFAULT_BUCKET_PREFIX.to_owned());
        let url = match std::env::var("SCYTHE_STORAGE_BUCKET") {
            Ok(bucket) if !bucket.is_empty() => format!("s3://{bucket}"),
            _ => std::env::var("SCYTHE_STORAGE").unwrap_or_else(|_| DEFAULT_STORAGE.to_owned()),
        };
        let retry_window = match std::env::var("SCYTHE_STORAGE_RETRY_WINDOW") {
            Ok(text) => humantime::parse_duration(&text).unwrap_or_else(|error| {
                tracing::warn!("SCYTHE_STORAGE_RETRY_WINDOW=`{text}` is not a duration like `5m` ({error}); using 5m");
                DEFAULT_RETRY_WINDOW
            }),
            Err(_) => DEFAULT_RETRY_WINDOW,
        };
        Self { url, bucket_prefix, retry_window }
    }

    /// Opens the store. Local folders get no prefix; buckets get the bucket prefix.
    pub fn open(&self) -> Result<Store, Error> {
        let is_bucket =
            self.url.contains("://") && !self.url.starts_with("file://") && !self.url.starts_with("memory://");
        let default_prefix = if is_bucket { self.bucket_prefix.as_str() } else { "" };
        let (location, prefix) = StoreLocation::parse(&self.url)?;
        let prefix = if prefix.is_empty() { default_prefix.to_owned() } else { prefix };
        Ok(Store::open_with_retry(location, prefix, std::iter::empty::<(&str, &str)>(), self.retry_window)?)
    }
}

/// How the embedded engine runs tasks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineSettings {
    /// Worker threads (tasks running at once).
    pub workers: usize,
    /// Cache folder for remote input files.
    pub cache_dir: PathBuf,
    /// Size cap of the cache; the least recently used downloads are evicted beyond it.
    pub cache_max_bytes: u64,
    /// Show a progress bar.
    pub progress: bool,
    /// Reuse the results of specs whose cache key has a successful result in the store
    /// (default); `false` (`--no-cache`, `SCYTHE_NO_CACHE=1`) runs every spec.
    pub reuse_results: bool,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            workers: default_workers(),
            cache_dir: default_cache_dir(),
            cache_max_bytes: DEFAULT_CACHE_MAX_BYTES,
            progress: false,
            reuse_results: true,
        }
    }
}

impl EngineSettings {
    /// Settings from `SCYTHE_WORKERS`, `SCYTHE_CACHE_DIR`, `SCYTHE_CACHE_MAX_BYTES` and
    /// `SCYTHE_NO_CACHE` (`1` or `true`: run every spec, reuse no cached result).
    pub fn from_env() -> Result<Self, Error> {
        let workers = match std::env::var("SCYTHE_WORKERS") {
            Ok(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| Error::Settings(format!("SCYTHE_WORKERS=`{text}` is not a positive number")))?,
            Err(_) => default_workers(),
        };
        let cache_dir = std::env::var_os("SCYTHE_CACHE_DIR").map(PathBuf::from).unwrap_or_else(default_cache_dir);
        let cache_max_bytes = match std::env::var("SCYTHE_CACHE_MAX_BYTES") {
            Ok(text) => text
                .parse::<u64>()
                .map_err(|_| Error::Settings(format!("SCYTHE_CACHE_MAX_BYTES=`{text}` is not a number of bytes")))?,
            Err(_) => DEFAULT_CACHE_MAX_BYTES,
        };
        let reuse_results = match std::env::var("SCYTHE_NO_CACHE").as_deref() {
            Ok("1" | "true") => false,
            Ok("" | "0" | "false") | Err(_) => true,
            Ok(other) => {
                return Err(Error::Settings(format!("SCYTHE_NO_CACHE=`{other}` is none of `1`, `true`, `0`, `false`")));
            }
        };
        Ok(Self { workers, cache_dir, cache_max_bytes, progress: false, reuse_results })
    }
}

fn default_workers() -> usize {
    std::thread::available_parallelism().map(usize::from).unwrap_or(1)
}

fn default_cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("scythe").join("files")
}
