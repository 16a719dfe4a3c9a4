//! [`Store`]: the object store a run lives in.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::RetryConfig;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey, S3ConditionalPut};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use tokio::io::AsyncWriteExt;

use crate::error::StoreError;
use crate::location::StoreLocation;

/// Files at least this large are uploaded in parts.
const MULTIPART_THRESHOLD: u64 = 16 * 1024 * 1024;

/// Retries of transient failures: exponential backoff from 250 ms to 15 s, for up to five
/// minutes, so a storage outage of a few minutes delays a run instead of failing it.
fn retry_config() -> RetryConfig {
    RetryConfig {
        backoff: object_store::BackoffConfig {
            init_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(15),
            base: 2.0,
        },
        max_retries: 40,
        retry_timeout: Duration::from_secs(5 * 60),
    }
}

/// A storage location with a key prefix: where runs are written and read.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
    location: StoreLocation,
    prefix: String,
}

impl Store {
    /// Opens a location; `prefix` is prepended to experiment folders (may be empty).
    ///
    /// A local folder is created if missing. S3 reads the standard `AWS_*` variables
    /// (credentials, region, `AWS_ENDPOINT`, `AWS_ALLOW_HTTP`).
    pub fn open(location: StoreLocation, prefix: impl Into<String>) -> Result<Self, StoreError> {
        Self::open_with_options(location, prefix, std::iter::empty::<(&str, &str)>())
    }

    /// Like [`Store::open`], with backend options on top of the environment: for S3 the
    /// `object_store` keys such as `aws_endpoint`, `aws_access_key_id`, `aws_secret_access_key`,
    /// `aws_region`, `aws_allow_http`, `aws_virtual_hosted_style_request`.
    ///
    /// Transient failures (timeouts, 5xx, throttling, refused connections) are retried with
    /// exponential backoff for up to 5 minutes; permanent ones (bad credentials, missing bucket)
    /// fail at once.
    pub fn open_with_options<K: AsRef<str>, V: Into<String>>(
        location: StoreLocation,
        prefix: impl Into<String>,
        options: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, StoreError> {
        let config = |reason: String| StoreError::Config { location: location.to_string(), reason };
        let (inner, location): (Arc<dyn ObjectStore>, StoreLocation) = match location {
            StoreLocation::Local(ref root) => {
                std::fs::create_dir_all(root).map_err(|error| config(error.to_string()))?;
                let root = std::path::absolute(root).map_err(|error| config(error.to_string()))?;
                let store = LocalFileSystem::new_with_prefix(&root).map_err(|error| config(error.to_string()))?;
                (Arc::new(store), StoreLocation::Local(root))
            }
            StoreLocation::Memory => (Arc::new(InMemory::new()), StoreLocation::Memory),
            StoreLocation::S3 { ref bucket } => {
                let mut builder = AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_conditional_put(S3ConditionalPut::ETagMatch)
                    .with_retry(retry_config());
                for (key, value) in options {
                    let key: AmazonS3ConfigKey =
                        key.as_ref().parse().map_err(|_| config(format!("unknown S3 option `{}`", key.as_ref())))?;
                    builder = builder.with_config(key, value);
                }
                let store = builder.build().map_err(|error| config(error.to_string()))?;
                (Arc::new(store), location.clone())
            }
        };
        Ok(Self { inner, location, prefix: prefix.into().trim_matches('/').to_owned() })
    }

    /// Opens `text` as parsed by [`StoreLocation::parse`], with `default_prefix` unless the
    /// URL carries one.
    pub fn from_url(text: &str, default_prefix: &str) -> Result<Self, StoreError> {
        let (location, prefix) = StoreLocation::parse(text)?;
        let prefix = if prefix.is_empty() { default_prefix.to_owned() } else { prefix };
        Self::open(location, prefix)
    }

    /// A fresh in-memory store (tests).
    pub fn memory() -> Self {
        Self { inner: Arc::new(InMemory::new()), location: StoreLocation::Memory, prefix: String::new() }
    }

    /// Where the store lives.
    pub fn location(&self) -> &StoreLocation {
        &self.location
    }

    /// The key prefix of experiment folders.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The underlying `object_store`.
    pub fn object_store(&self) -> &Arc<dyn ObjectStore> {
        &self.inner
    }

    /// The URI of `key`, e.g. `s3://bucket/key` or `file:///root/key`.
    pub fn uri(&self, key: &str) -> String {
        self.location.uri(key)
    }

    /// Checks `key` and turns it into an object path; rejects `..`, `.`, empty segments and
    /// control characters, so keys built from user data cannot escape their prefix.
    pub fn path(&self, key: &str) -> Result<ObjectPath, StoreError> {
        let invalid = |reason: &str| StoreError::InvalidKey { key: key.to_owned(), reason: reason.to_owned() };
        if key.starts_with('/') {
            return Err(invalid("keys are relative"));
        }
        if key.chars().any(char::is_control) {
            return Err(invalid("control characters are not allowed"));
        }
        if key.split('/').any(|segment| segment == ".." || segment == ".") {
            return Err(invalid("`.` and `..` segments are not allowed"));
        }
        ObjectPath::parse(key).map_err(|error| invalid(&error.to_string()))
    }

    /// Writes `bytes` to `key`, replacing what is there (writes are idempotent).
    pub async fn put(&self, key: &str, bytes: impl Into<Bytes>) -> Result<(), StoreError> {
        let path = self.path(key)?;
        self.inner
            .put(&path, PutPayload::from_bytes(bytes.into()))
            .await
            .map(drop)
            .map_err(|error| StoreError::backend(self.uri(key), error))
    }

    /// Writes `bytes` to `key` only if nothing is there; `Ok(false)` if something was.
    pub async fn put_new(&self, key: &str, bytes: impl Into<Bytes>) -> Result<bool, StoreError> {
        let path = self.path(key)?;
        let options = PutOptions { mode: PutMode::Create, ..Default::default() };
        match self.inner.put_opts(&path, PutPayload::from_bytes(bytes.into()), options).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) | Err(object_store::Error::Precondition { .. }) => Ok(false),
            Err(error) => Err(StoreError::backend(self.uri(key), error)),
        }
    }

    /// Reads the whole object at `key`.
    pub async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        let path = self.path(key)?;
        let backend = |error| StoreError::backend(self.uri(key), error);
        self.inner.get(&path).await.map_err(backend)?.bytes().await.map_err(backend)
    }

    /// The object's metadata, or `None` if it does not exist.
    pub async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StoreError> {
        let path = self.path(key)?;
        match self.inner.head(&path).await {
            Ok(meta) => Ok(Some(meta)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(StoreError::backend(self.uri(key), error)),
        }
    }

    /// Whether an object exists at `key`.
    pub async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        Ok(self.head(key).await?.is_some())
    }

    /// Every object under `prefix` (recursively).
    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        let path = self.path(prefix)?;
        self.inner.list(Some(&path)).try_collect().await.map_err(|error| StoreError::backend(self.uri(prefix), error))
    }

    /// The names of the "folders" directly under `prefix`.
    pub async fn list_dirs(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let path = if prefix.is_empty() { None } else { Some(self.path(prefix)?) };
        let listing = self
            .inner
            .list_with_delimiter(path.as_ref())
            .await
            .map_err(|error| StoreError::backend(self.uri(prefix), error))?;
        Ok(listing.common_prefixes.iter().filter_map(|dir| dir.filename().map(str::to_owned)).collect())
    }

    /// Deletes `key`; deleting a missing object is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let path = self.path(key)?;
        match self.inner.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(StoreError::backend(self.uri(key), error)),
        }
    }

    /// Uploads a local file to `key`, in parts when it is large.
    pub async fn upload_file(&self, local: &Path, key: &str) -> Result<(), StoreError> {
        let local_error = |source| StoreError::LocalIo { path: local.display().to_string(), source };
        let size = tokio::fs::metadata(local).await.map_err(local_error)?.len();
        if size < MULTIPART_THRESHOLD {
            let bytes = tokio::fs::read(local).await.map_err(local_error)?;
            return self.put(key, bytes).await;
        }
        let mut file = tokio::fs::File::open(local).await.map_err(local_error)?;
        let mut writer = object_store::buffered::BufWriter::new(Arc::clone(&self.inner), self.path(key)?);
        let copied = tokio::io::copy(&mut file, &mut writer).await;
        let finished = match copied {
            Ok(_) => writer.shutdown().await,
            Err(error) => {
                let _ = writer.abort().await;
                Err(error)
            }
        };
        finished
            .map_err(|source| StoreError::LocalIo { path: format!("{} -> {}", local.display(), self.uri(key)), source })
    }

    /// Downloads `key` into the local file `local` (written to a temporary file, then renamed).
    pub async fn download_file(&self, key: &str, local: &Path) -> Result<(), StoreError> {
        let path = self.path(key)?;
        let backend = |error| StoreError::backend(self.uri(key), error);
        let local_error = |source| StoreError::LocalIo { path: local.display().to_string(), source };
        if let Some(parent) = local.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(local_error)?;
        }
        let partial = local.with_extension(format!("partial-{}", std::process::id()));
        let mut file = tokio::fs::File::create(&partial).await.map_err(local_error)?;
        let mut stream = self.inner.get(&path).await.map_err(backend)?.into_stream();
        while let Some(chunk) = stream.try_next().await.map_err(backend)? {
            file.write_all(&chunk).await.map_err(local_error)?;
        }
        file.flush().await.map_err(local_error)?;
        drop(file);
        tokio::fs::rename(&partial, local).await.map_err(local_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn put_new_refuses_to_overwrite() {
        let store = Store::memory();
        assert!(store.put_new("a/manifest.yml", "first").await.unwrap());
        assert!(!store.put_new("a/manifest.yml", "second").await.unwrap());
        assert_eq!(store.get("a/manifest.yml").await.unwrap(), "first");
    }

    #[tokio::test]
    async fn local_put_new_refuses_to_overwrite() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(StoreLocation::Local(root.path().into()), "").unwrap();
        assert!(store.put_new("x/claim", "a").await.unwrap());
        assert!(!store.put_new("x/claim", "b").await.unwrap());
        assert_eq!(std::fs::read_to_string(root.path().join("x/claim")).unwrap(), "a");
        assert_eq!(store.uri("x/claim"), format!("file://{}/x/claim", root.path().display()));
    }

    #[tokio::test]
    async fn rejects_keys_that_escape() {
        let store = Store::memory();
        for key in ["../etc/passwd", "a/../../b", "/abs", "a/./b", "a\nb", "a//b"] {
            assert!(matches!(store.put(key, "x").await, Err(StoreError::InvalidKey { .. })), "{key:?} accepted");
        }
    }

    #[tokio::test]
    async fn lists_folders_and_reports_missing_objects() {
        let store = Store::memory();
        store.put("exp/v1.0.0/t1/manifest.yml", "m").await.unwrap();
        store.put("exp/v2.0.0/t2/manifest.yml", "m").await.unwrap();
        let mut versions = store.list_dirs("exp").await.unwrap();
        versions.sort();
        assert_eq!(versions, ["v1.0.0", "v2.0.0"]);
        assert!(
            matches!(store.get("exp/nothing").await, Err(StoreError::NotFound { uri }) if uri == "memory:///exp/nothing")
        );
    }

    #[tokio::test]
    async fn uploads_and_downloads_files() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("weather.csv");
        std::fs::write(&source, "hour,t\n0,1.5\n").unwrap();
        let store = Store::memory();
        store.upload_file(&source, "run/artifacts/weather/weather.csv").await.unwrap();
        let target = dir.path().join("cache/w.csv");
        store.download_file("run/artifacts/weather/weather.csv", &target).await.unwrap();
        assert_eq!(std::fs::read_to_string(target).unwrap(), "hour,t\n0,1.5\n");
    }
}
