//! The worker-side file cache: input [`FileRef`]s become readable local paths.
//!
//! An entry is keyed by the whole address — scheme, host, port, path and query for `http(s)://`,
//! scheme, bucket and key for objects ([`key`]) — and every reuse is revalidated first: a
//! conditional GET for `http(s)://` ([`http`]), a HEAD for objects ([`object`]). The validator
//! (ETag, last modification, size, version) is stored next to the copy, both written atomically
//! ([`entry`]), so workers sharing the folder are safe and an overwritten file is fetched again.
//! Concurrent requests for one file in a process share one request. Past a size cap, the least
//! recently used copies are evicted, never one used within the last minute (a running task may
//! be reading it).
//!
//! Hand-written rather than built on `moka`: moka caches values in one process's memory, while
//! these entries are files on disk shared by every worker process on the machine, kept across
//! restarts and revalidated against the remote file before each reuse; what moka would add
//! (single-flight, LRU order) is a `tokio::sync::OnceCell` per key and a sort by last use here,
//! and it could not keep a copy a running task may still read (the one-minute window).

mod entry;
mod error;
mod http;
mod key;
mod object;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use scythe_core::schema::{ColumnKind, DataSchema};
use scythe_core::validate::replace_column;
use scythe_core::{FileRef, FileRefKind};
use scythe_storage::{Store, StoreLocation};
use tokio::sync::OnceCell;

pub use error::CacheError;
use key::CacheKey;

use crate::error::Error;

/// One revalidation in flight, shared by the requests that arrive while it runs.
type Slot = Arc<OnceCell<PathBuf>>;

/// How long after its last use a cached file is safe from eviction.
const IN_USE_WINDOW: Duration = Duration::from_secs(60);

/// What revalidating an entry gave.
pub(crate) enum Fetched {
    /// The cached copy is still the remote file.
    Reused(entry::Cached),
    /// The file was downloaded (first use, or it changed).
    Downloaded(entry::Cached),
}

/// A copy this process downloaded or reused.
struct Entry {
    /// The entry folder (the key's).
    dir: PathBuf,
    bytes: u64,
    last_used: Instant,
}

/// Fetches remote input files, revalidates cached copies and hands out local paths.
pub(crate) struct FileCache {
    root: PathBuf,
    max_bytes: u64,
    in_use_window: Duration,
    /// Revalidations in flight, by entry folder.
    slots: Mutex<HashMap<PathBuf, Slot>>,
    /// Copies in use, by local path.
    entries: Mutex<HashMap<PathBuf, Entry>>,
    buckets: Mutex<HashMap<String, Store>>,
    http: OnceCell<reqwest::Client>,
    downloads: AtomicU64,
    /// With [`FileCache::once_per_execution`]: local copies of remote files already
    /// revalidated, by URI, so the result cache hashes the same bytes the tasks then read and
    /// each file is revalidated once per execution.
    validated: Option<Mutex<HashMap<String, PathBuf>>>,
}

impl FileCache {
    pub(crate) fn new(root: PathBuf, max_bytes: u64) -> Self {
        Self {
            root,
            max_bytes,
            in_use_window: IN_USE_WINDOW,
            slots: Mutex::default(),
            entries: Mutex::default(),
            buckets: Mutex::default(),
            http: OnceCell::new(),
            downloads: AtomicU64::new(0),
            validated: None,
        }
    }

    /// A cache for one execution: each remote file is revalidated once, on its first use.
    pub(crate) fn once_per_execution(mut self) -> Self {
        self.validated = Some(Mutex::default());
        self
    }

    /// Rewrites the input's file columns of `specs` to local paths, fetching what is remote
    /// (each distinct file once per call).
    pub(crate) async fn localize(
        &self,
        specs: &RecordBatch,
        input: &DataSchema,
        store: &Store,
    ) -> Result<RecordBatch, Error> {
        let mut batch = specs.clone();
        let mut known: HashMap<String, String> = HashMap::new();
        for column in input.columns_of(ColumnKind::FileRef) {
            let Some(values) = specs.column_by_name(&column.name) else { continue };
            let strings = values.as_string::<i32>();
            let mut local = Vec::with_capacity(strings.len());
            for value in strings.iter() {
                let path = match value {
                    None => None,
                    Some(uri) => match known.get(uri) {
                        Some(path) => Some(path.clone()),
                        None => {
                            let path = self.local_path(uri, store).await?.to_string_lossy().into_owned();
                            known.insert(uri.to_owned(), path.clone());
                            Some(path)
                        }
                    },
                };
                local.push(path);
            }
            let array: ArrayRef = Arc::new(StringArray::from(local));
            batch =
                replace_column(&batch, &column.name, array).map_err(Error::arrow("rewriting input file references"))?;
        }
        Ok(batch)
    }

    /// A readable local path for `uri`: a local file in place, a remote one revalidated (and
    /// downloaded if it is new or changed).
    pub(crate) async fn local_path(&self, uri: &str, store: &Store) -> Result<PathBuf, Error> {
        let reference = FileRef::new(uri);
        let kind = reference.kind().map_err(|error| Error::Artifacts(error.to_string()))?;
        let Some(key) = CacheKey::of(&kind)? else {
            // Only local files have no key: they are used in place.
            return match kind {
                FileRefKind::Local(path) if path.is_file() => Ok(path.to_path_buf()),
                FileRefKind::Local(path) => {
                    Err(Error::Artifacts(format!("input file `{}` does not exist", path.display())))
                }
                _ => Err(Error::Artifacts(format!("input file `{}` cannot be cached", key::redact(uri)))),
            };
        };
        let known = self.validated.as_ref().and_then(|validated| lock(validated).get(uri).cloned());
        if let Some(path) = known.filter(|path| path.is_file()) {
            if let Some(entry) = lock(&self.entries).get_mut(&path) {
                entry.last_used = Instant::now();
            }
            return Ok(path);
        }
        let slot = { Arc::clone(lock(&self.slots).entry(key.dir.clone()).or_default()) };
        let fetched = slot.get_or_try_init(|| self.refresh(&key, &kind, store)).await.cloned();
        {
            // The next request revalidates again.
            let mut slots = lock(&self.slots);
            if slots.get(&key.dir).is_some_and(|current| Arc::ptr_eq(current, &slot)) {
                slots.remove(&key.dir);
            }
        }
        let path = fetched?;
        if let Some(validated) = &self.validated {
            lock(validated).insert(uri.to_owned(), path.clone());
        }
        if let Some(entry) = lock(&self.entries).get_mut(&path) {
            entry.last_used = Instant::now();
        }
        Ok(path)
    }

    /// Revalidates the entry of `key` (downloading the file if needed) and tracks its copy.
    async fn refresh(&self, key: &CacheKey, kind: &FileRefKind<'_>, store: &Store) -> Result<PathBuf, Error> {
        let dir = self.root.join(&key.dir);
        let fetched = match *kind {
            FileRefKind::Http(url) => {
                let client = self.http.get_or_init(|| async { reqwest::Client::new() }).await;
                http::refresh(client, url, key, &dir).await?
            }
            FileRefKind::Object { scheme, bucket, key: object_key } => {
                let root = format!("{scheme}://{bucket}");
                // The run's own store when the file is in it, else a store for that bucket from
                // the environment's credentials.
                let bucket_store =
                    if store.location().uri("") == format!("{root}/") { store.clone() } else { self.bucket(&root)? };
                object::refresh(&bucket_store, object_key, key, &dir).await?
            }
            // Local files have no key, so they never get here.
            FileRefKind::Local(path) => return Ok(path.to_path_buf()),
        };
        let (copy, downloaded) = match fetched {
            Fetched::Reused(copy) => (copy, false),
            Fetched::Downloaded(copy) => (copy, true),
        };
        if downloaded {
            self.downloads.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(file = %key.shown, path = %copy.path.display(), "downloaded input file");
        }
        self.track(&dir, &copy.path, downloaded);
        Ok(copy.path)
    }

    /// Records a copy as used now; a new download retires this key's older copies that are idle.
    fn track(&self, dir: &Path, path: &Path, downloaded: bool) {
        let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        {
            let mut entries = lock(&self.entries);
            if downloaded {
                let superseded: Vec<PathBuf> = entries
                    .iter()
                    .filter(|(other, entry)| {
                        entry.dir == dir && other.as_path() != path && entry.last_used.elapsed() >= self.in_use_window
                    })
                    .map(|(other, _)| other.clone())
                    .collect();
                for other in superseded {
                    entries.remove(&other);
                    entry::remove(dir, &other);
                }
            }
            entries.entry(path.to_path_buf()).and_modify(|entry| entry.last_used = Instant::now()).or_insert(Entry {
                dir: dir.to_path_buf(),
                bytes,
                last_used: Instant::now(),
            });
        }
        self.evict();
    }

    /// Deletes least recently used copies until the cache fits its cap.
    fn evict(&self) {
        let mut entries = lock(&self.entries);
        let mut total: u64 = entries.values().map(|e| e.bytes).sum();
        if total <= self.max_bytes {
            return;
        }
        let mut candidates: Vec<(Instant, PathBuf)> = entries
            .iter()
            .filter(|(_, entry)| entry.last_used.elapsed() >= self.in_use_window)
            .map(|(path, entry)| (entry.last_used, path.clone()))
            .collect();
        candidates.sort();
        for (_, path) in candidates {
            if total <= self.max_bytes {
                break;
            }
            if let Some(entry) = entries.remove(&path) {
                entry::remove(&entry.dir, &path);
                total -= entry.bytes;
            }
        }
    }

    /// How many files were downloaded (not served from the cache).
    #[cfg(test)]
    fn downloads(&self) -> u64 {
        self.downloads.load(Ordering::Relaxed)
    }

    /// A store for `scheme://bucket` (S3, GCS or Azure), opened once.
    fn bucket(&self, root: &str) -> Result<Store, Error> {
        let mut buckets = lock(&self.buckets);
        if let Some(store) = buckets.get(root) {
            return Ok(store.clone());
        }
        let (location, _) = StoreLocation::parse(root)?;
        let store = Store::open(location, "")?;
        buckets.insert(root.to_owned(), store.clone());
        Ok(store)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test]
    async fn local_files_are_used_in_place_and_missing_ones_fail() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("w.csv");
        std::fs::write(&file, "x").unwrap();
        let cache = FileCache::new(dir.path().join("cache"), u64::MAX);
        let store = Store::memory();
        let uri = format!("file://{}", file.display());
        assert_eq!(cache.local_path(&uri, &store).await.unwrap(), file);
        let missing = cache.local_path("file:///no/such/file.csv", &store).await.unwrap_err();
        assert!(missing.to_string().contains("/no/such/file.csv"), "{missing}");
    }

    /// What the test server counts.
    #[derive(Default)]
    struct Hits {
        /// Every request.
        requests: AtomicU64,
        /// Requests answered with the whole body.
        bodies: AtomicU64,
    }

    /// An HTTP server on loopback answering every path with `body`; with `etags`, it sends an
    /// ETag of the body and answers a matching `If-None-Match` with 304.
    async fn http_server(body: Arc<Mutex<String>>, etags: bool) -> (String, Arc<Hits>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let hits = Arc::new(Hits::default());
        let counter = Arc::clone(&hits);
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else { continue };
                let (counter, body) = (Arc::clone(&counter), lock(&body).clone());
                tokio::spawn(async move {
                    let mut request = [0u8; 4096];
                    let read = socket.read(&mut request).await.unwrap_or(0);
                    let request = String::from_utf8_lossy(&request[..read]).to_ascii_lowercase();
                    counter.requests.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    let etag = format!("\"{}-{}\"", body.len(), body.bytes().map(u64::from).sum::<u64>());
                    let response = if etags && request.contains(&format!("if-none-match: {etag}")) {
                        format!("HTTP/1.1 304 Not Modified\r\netag: {etag}\r\nconnection: close\r\n\r\n")
                    } else {
                        counter.bodies.fetch_add(1, Ordering::SeqCst);
                        let etag = if etags { format!("etag: {etag}\r\n") } else { String::new() };
                        format!(
                            "HTTP/1.1 200 OK\r\n{etag}content-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        )
                    };
                    let _ = socket.write_all(response.as_bytes()).await;
                });
            }
        });
        (address, hits)
    }

    fn body(text: &str) -> Arc<Mutex<String>> {
        Arc::new(Mutex::new(text.to_owned()))
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn many_tasks_asking_for_one_file_download_it_once() {
        let dir = tempfile::tempdir().unwrap();
        let (address, hits) = http_server(body("hour,t\n0,1\n"), true).await;
        let cache = Arc::new(FileCache::new(dir.path().to_path_buf(), u64::MAX));
        let store = Store::memory();
        let uri = format!("{address}/weather/w.csv");
        let requests = (0..16).map(|_| {
            let (cache, store, uri) = (Arc::clone(&cache), store.clone(), uri.clone());
            tokio::spawn(async move { cache.local_path(&uri, &store).await.unwrap() })
        });
        let paths = futures::future::join_all(requests).await;
        assert!(paths.iter().all(|p| p.as_ref().unwrap() == paths[0].as_ref().unwrap()));
        assert_eq!(hits.requests.load(Ordering::SeqCst), 1);
        assert_eq!(cache.downloads(), 1);
        let path = paths[0].as_ref().unwrap();
        let port = address.rsplit(':').next().unwrap();
        assert!(path.starts_with(dir.path().join(format!("http/127.0.0.1_{port}"))), "{}", path.display());
        assert!(path.ends_with("w.csv"), "{}", path.display());
        assert_eq!(std::fs::read_to_string(path).unwrap(), "hour,t\n0,1\n");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_reuse_is_revalidated_and_a_changed_file_fetched_again() {
        let dir = tempfile::tempdir().unwrap();
        let text = body("first");
        let (address, hits) = http_server(Arc::clone(&text), true).await;
        let store = Store::memory();
        let uri = format!("{address}/w.csv");
        let path = FileCache::new(dir.path().to_path_buf(), u64::MAX).local_path(&uri, &store).await.unwrap();
        // Another worker process on the same folder revalidates the copy: 304, no download.
        let cache = FileCache::new(dir.path().to_path_buf(), u64::MAX);
        assert_eq!(cache.local_path(&uri, &store).await.unwrap(), path);
        assert_eq!((hits.requests.load(Ordering::SeqCst), hits.bodies.load(Ordering::SeqCst)), (2, 1));
        assert_eq!(cache.downloads(), 0);
        *lock(&text) = "second".to_owned();
        let changed = cache.local_path(&uri, &store).await.unwrap();
        assert_eq!(std::fs::read_to_string(&changed).unwrap(), "second");
        assert_eq!(cache.downloads(), 1);
        assert_eq!(cache.local_path(&uri, &store).await.unwrap(), changed, "unchanged again: reused");
        assert_eq!(hits.bodies.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_file_without_validators_is_downloaded_every_time() {
        let dir = tempfile::tempdir().unwrap();
        let (address, hits) = http_server(body("x"), false).await;
        let cache = FileCache::new(dir.path().to_path_buf(), u64::MAX);
        let store = Store::memory();
        for _ in 0..2 {
            cache.local_path(&format!("{address}/w.csv"), &store).await.unwrap();
        }
        assert_eq!((hits.bodies.load(Ordering::SeqCst), cache.downloads()), (2, 2));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn errors_never_show_the_query() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FileCache::new(dir.path().to_path_buf(), u64::MAX);
        let refused = cache.local_path("http://127.0.0.1:1/w.csv?token=s3cr3t", &Store::memory()).await.unwrap_err();
        let text = format!("{refused} {:?}", std::error::Error::source(&refused).map(ToString::to_string));
        assert!(text.contains("127.0.0.1:1/w.csv?…") && !text.contains("s3cr3t"), "{text}");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn evicts_least_recently_used_files_past_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let (address, _) = http_server(body("123456"), true).await;
        let mut cache = FileCache::new(dir.path().to_path_buf(), 13);
        cache.in_use_window = Duration::ZERO;
        let store = Store::memory();
        let first = cache.local_path(&format!("{address}/a"), &store).await.unwrap();
        let second = cache.local_path(&format!("{address}/b"), &store).await.unwrap();
        cache.local_path(&format!("{address}/a"), &store).await.unwrap(); // a is now the most recent
        let third = cache.local_path(&format!("{address}/c"), &store).await.unwrap();
        assert!(first.is_file() && third.is_file());
        assert!(!second.is_file(), "the least recently used file is evicted");
        assert_eq!(cache.downloads(), 3);
        cache.local_path(&format!("{address}/b"), &store).await.unwrap();
        assert_eq!(cache.downloads(), 4, "an evicted file is downloaded again");
    }
}
