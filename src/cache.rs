//! The worker-side file cache: input [`FileRef`]s become readable local paths.
//!
//! Files are cached under `<root>/<scheme>/<bucket or host>/<path>`, so two buckets (or hosts)
//! with the same path never collide. Concurrent requests for one file share one download.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use scythe_core::schema::{ColumnKind, DataSchema};
use scythe_core::validate::replace_column;
use scythe_core::{FileRef, FileRefKind};
use scythe_storage::{Store, StoreLocation};
use tokio::sync::OnceCell;

use crate::error::Error;

type Slot = Arc<OnceCell<PathBuf>>;

/// Fetches remote input files once and hands out local paths.
pub(crate) struct FileCache {
    root: PathBuf,
    slots: Mutex<HashMap<String, Slot>>,
    buckets: Mutex<HashMap<String, Store>>,
    http: OnceCell<reqwest::Client>,
}

impl FileCache {
    pub(crate) fn new(root: PathBuf) -> Self {
        Self { root, slots: Mutex::default(), buckets: Mutex::default(), http: OnceCell::new() }
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
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            Arc::clone(slots.entry(uri.to_owned()).or_default())
        };
        slot.get_or_try_init(|| self.fetch(kind, store)).await.cloned()
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
        let bucket_store = match store.location() {
            StoreLocation::S3 { bucket } if scheme == "s3" && bucket == authority => store.clone(),
            _ if scheme == "s3" => self.bucket(authority)?,
            _ => {
                return Err(Error::Artifacts(format!(
                    "{scheme}:// input files are not supported yet; use s3:// or http(s)://"
                )));
            }
        };
        bucket_store.download_file(path, &local).await?;
        Ok(local)
    }

    fn bucket(&self, bucket: &str) -> Result<Store, Error> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(store) = buckets.get(bucket) {
            return Ok(store.clone());
        }
        let store = Store::open(StoreLocation::S3 { bucket: bucket.to_owned() }, "")?;
        buckets.insert(bucket.to_owned(), store.clone());
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

fn sanitize(segment: &str) -> String {
    segment.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_keys_keep_bucket_and_drop_escapes() {
        let cache = FileCache::new(PathBuf::from("/cache"));
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
        let cache = FileCache::new(dir.path().join("cache"));
        let store = Store::memory();
        let uri = format!("file://{}", file.display());
        assert_eq!(cache.local_path(&uri, &store).await.unwrap(), file);
        let missing = cache.local_path("file:///no/such/file.csv", &store).await.unwrap_err();
        assert!(missing.to_string().contains("/no/such/file.csv"), "{missing}");
    }
}
