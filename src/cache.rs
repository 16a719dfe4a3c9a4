//! The worker-side file cache: input [`FileRef`]s become readable local paths.
//!
//! Files are cached under `<root>/<scheme>/<bucket or host>/<path>`, so two buckets (or hosts)
//! with the same path never collide. Concurrent requests for one file share one download.
//! Past a size cap, the least recently used downloads are evicted, never one used within the
//! last minute (a running task may be reading it).

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use scythe_core::schema::{ColumnKind, DataSchema};
use scythe_core::validate::replace_column;
use scythe_core::{FileRef, FileRefKind};
use scythe_storage::{Store, StoreLocation};
use tokio::sync::OnceCell;

use crate::error::Error;

type Slot = Arc<OnceCell<PathBuf>>;

/// How long after its last use a cached file is safe from eviction.
const IN_USE_WINDOW: Duration = Duration::from_secs(60);

/// A file this cache downloaded.
struct Entry {
    uri: String,
    bytes: u64,
    last_used: Instant,
}

/// Fetches remote input files once and hands out local paths.
pub(crate) struct FileCache {
    root: PathBuf,
    max_bytes: u64,
    in_use_window: Duration,
    slots: Mutex<HashMap<String, Slot>>,
    entries: Mutex<HashMap<PathBuf, Entry>>,
    buckets: Mutex<HashMap<String, Store>>,
    http: OnceCell<reqwest::Client>,
    downloads: AtomicU64,
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
        }
    }

    /// Rewrites the input's file columns of `specs` to local paths, fetching what is remote.
    pub(crate) async fn localize(
        &self,
        specs: &RecordBatch,
        input: &DataSchema,
        store: &Store,
    ) -> Result<RecordBatch, Error> {
        let mut batch = specs.clone();
        for column in input.columns_of(ColumnKind::FileRef) {
            let Some(values) = specs.column_by_name(&column.name) else { continue };
            let strings = values.as_string::<i32>();
            let mut local = Vec::with_capacity(strings.len());
            let mut previous: Option<(&str, String)> = None;
            for value in strings.iter() {
                let path = match value {
                    None => None,
                    Some(uri) => match &previous {
                        Some((last, path)) if *last == uri => Some(path.clone()),
                        _ => {
                            let path = self.local_path(uri, store).await?.to_string_lossy().into_owned();
                            previous = Some((uri, path.clone()));
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

    /// A readable local path for `uri`.
    pub(crate) async fn local_path(&self, uri: &str, store: &Store) -> Result<PathBuf, Error> {
        let reference = FileRef::new(uri);
        let kind = reference.kind().map_err(|error| Error::Artifacts(error.to_string()))?;
        if let FileRefKind::Local(path) = kind {
            return if path.is_file() {
                Ok(path.to_path_buf())
            } else {
                Err(Error::Artifacts(format!("input file `{}` does not exist", path.display())))
            };
        }
        let slot = { Arc::clone(lock(&self.slots).entry(uri.to_owned()).or_default()) };
        let path = slot.get_or_try_init(|| self.fetch_and_track(uri, kind, store)).await?.clone();
        if let Some(entry) = lock(&self.entries).get_mut(&path) {
            entry.last_used = Instant::now();
        }
        Ok(path)
    }

    async fn fetch_and_track(&self, uri: &str, kind: FileRefKind<'_>, store: &Store) -> Result<PathBuf, Error> {
        let path = self.fetch(kind, store).await?;
        let bytes = tokio::fs::metadata(&path).await.map(|m| m.len()).unwrap_or(0);
        lock(&self.entries).insert(path.clone(), Entry { uri: uri.to_owned(), bytes, last_used: Instant::now() });
        self.evict();
        Ok(path)
    }

    /// Deletes least recently used downloads until the cache fits its cap.
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
                let _ = std::fs::remove_file(&path);
                lock(&self.slots).remove(&entry.uri);
                total -= entry.bytes;
            }
        }
    }

    /// How many files were downloaded (not served from the cache).
    #[cfg(test)]
    fn downloads(&self) -> u64 {
        self.downloads.load(Ordering::Relaxed)
    }

    async fn fetch(&self, kind: FileRefKind<'_>, store: &Store) -> Result<PathBuf, Error> {
        let (scheme, authority, path) = match kind {
            FileRefKind::Object { scheme, bucket, key } => (scheme, bucket, key),
            FileRefKind::Http(url) => {
                let parsed = url::Url::parse(url)
                    .map_err(|error| Error::Artifacts(format!("`{url}` is not a valid URL: {error}")))?;
                let local =
                    self.cache_path(parsed.scheme(), parsed.host_str().unwrap_or("unknown-host"), parsed.path());
                if !local.is_file() {
                    self.downloads.fetch_add(1, Ordering::Relaxed);
                    self.download_http(url, &local).await?;
                }
                return Ok(local);
            }
            FileRefKind::Local(path) => return Ok(path.to_path_buf()),
        };
        let local = self.cache_path(scheme, authority, path);
        if local.is_file() {
            return Ok(local);
        }
        self.downloads.fetch_add(1, Ordering::Relaxed);
        let root = format!("{scheme}://{authority}");
        // The run's own store when the file is in it, else a store for that bucket from the
        // environment's credentials.
        let bucket_store =
            if store.location().uri("") == format!("{root}/") { store.clone() } else { self.bucket(&root)? };
        bucket_store.download_file(path, &local).await?;
        Ok(local)
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

    async fn download_http(&self, url: &str, local: &Path) -> Result<(), Error> {
        let client = self.http.get_or_init(|| async { reqwest::Client::new() }).await;
        let failed = |reason: String| Error::Artifacts(format!("cannot download `{url}`: {reason}"));
        let response = client.get(url).send().await.map_err(|error| failed(error.to_string()))?;
        if !response.status().is_success() {
            return Err(failed(format!("the server answered {}", response.status())));
        }
        let bytes = response.bytes().await.map_err(|error| failed(error.to_string()))?;
        if let Some(parent) = local.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(Error::io(format!("creating cache folder {}", parent.display())))?;
        }
        let partial = local.with_extension(format!("partial-{}", std::process::id()));
        tokio::fs::write(&partial, &bytes).await.map_err(Error::io(format!("writing {}", partial.display())))?;
        tokio::fs::rename(&partial, local).await.map_err(Error::io(format!("writing {}", local.display())))
    }

    /// `<root>/<scheme>/<authority>/<path>`, keeping only normal path segments.
    fn cache_path(&self, scheme: &str, authority: &str, path: &str) -> PathBuf {
        let mut local = self.root.join(sanitize(scheme)).join(sanitize(authority));
        for component in Path::new(path.trim_start_matches('/')).components() {
            if let Component::Normal(segment) = component {
                local.push(segment);
            }
        }
        local
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn sanitize(segment: &str) -> String {
    segment.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_keys_keep_bucket_and_drop_escapes() {
        let cache = FileCache::new(PathBuf::from("/cache"), u64::MAX);
        assert_eq!(cache.cache_path("s3", "a", "w/x.epw"), PathBuf::from("/cache/s3/a/w/x.epw"));
        assert_ne!(cache.cache_path("s3", "a", "x"), cache.cache_path("s3", "b", "x"));
        assert_ne!(cache.cache_path("s3", "a", "x"), cache.cache_path("https", "a", "x"));
        assert_eq!(cache.cache_path("s3", "a", "../../etc/passwd"), PathBuf::from("/cache/s3/a/etc/passwd"));
    }

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

    /// A one-file HTTP server on loopback that counts the requests it answers.
    async fn http_server(body: &'static str) -> (String, Arc<AtomicU64>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&hits);
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else { continue };
                let counter = Arc::clone(&counter);
                tokio::spawn(async move {
                    let mut request = [0u8; 4096];
                    let _ = socket.read(&mut request).await;
                    counter.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    let response =
                        format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
                    let _ = socket.write_all(response.as_bytes()).await;
                });
            }
        });
        (address, hits)
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn many_tasks_asking_for_one_file_download_it_once() {
        let dir = tempfile::tempdir().unwrap();
        let (address, hits) = http_server("hour,t\n0,1\n").await;
        let cache = Arc::new(FileCache::new(dir.path().to_path_buf(), u64::MAX));
        let store = Store::memory();
        let uri = format!("{address}/weather/w.csv");
        let requests = (0..16).map(|_| {
            let (cache, store, uri) = (Arc::clone(&cache), store.clone(), uri.clone());
            tokio::spawn(async move { cache.local_path(&uri, &store).await.unwrap() })
        });
        let paths = futures::future::join_all(requests).await;
        assert!(paths.iter().all(|p| p.as_ref().unwrap() == paths[0].as_ref().unwrap()));
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        assert_eq!(cache.downloads(), 1);
        let path = paths[0].as_ref().unwrap();
        assert!(path.starts_with(dir.path().join("http/127.0.0.1")), "{}", path.display());
        assert_eq!(std::fs::read_to_string(path).unwrap(), "hour,t\n0,1\n");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn evicts_least_recently_used_files_past_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let (address, _) = http_server("123456").await;
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
