//! [`Store`]: the object store a run lives in.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use tokio::io::AsyncWriteExt;

use crate::backends::{DEFAULT_RETRY_WINDOW, open_backend};
use crate::classify::{Access, classify};
use crate::error::StoreError;
use crate::location::StoreLocation;

/// Files at least this large are uploaded in parts.
const MULTIPART_THRESHOLD: u64 = 16 * 1024 * 1024;

/// A storage location with a key prefix: where runs are written and read.
///
/// Its `Debug` output shows the location and prefix only, never the backend's credentials.
#[derive(Clone)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
    location: StoreLocation,
    prefix: String,
}

impl Store {
    /// Opens a location; `prefix` is prepended to experiment folders (may be empty).
    ///
    /// A local folder is created if missing. Cloud buckets read their standard variables:
    /// S3 `AWS_*` (credentials, region, `AWS_ENDPOINT`, `AWS_ALLOW_HTTP`), GCS `GOOGLE_*`
    /// (`GOOGLE_SERVICE_ACCOUNT`, `GOOGLE_APPLICATION_CREDENTIALS`, ...), Azure `AZURE_*`
    /// (`AZURE_STORAGE_ACCOUNT_NAME`, `AZURE_STORAGE_ACCOUNT_KEY`, `AZURE_STORAGE_USE_EMULATOR`, ...).
    pub fn open(location: StoreLocation, prefix: impl Into<String>) -> Result<Self, StoreError> {
        Self::open_with_options(location, prefix, std::iter::empty::<(&str, &str)>())
    }

    /// Like [`Store::open`], with backend options on top of the environment: `object_store`
    /// config keys such as
    /// - S3: `aws_endpoint`, `aws_access_key_id`, `aws_secret_access_key`, `aws_region`,
    ///   `aws_allow_http`, `aws_virtual_hosted_style_request`;
    /// - GCS: `google_service_account`, `google_service_account_key`,
    ///   `google_application_credentials`, `google_bearer_token`, `google_base_url`. An emulator
    ///   such as fake-gcs-server takes a service-account key `{"gcs_base_url": "http://…",
    ///   "disable_oauth": true, "client_email": "", "private_key": "", "private_key_id": ""}`
    ///   (`google_skip_signature` is not enough: object_store 0.14 still fetches a token for
    ///   uploads);
    /// - Azure: `azure_storage_account_name`, `azure_storage_account_key`,
    ///   `azure_storage_sas_key`, `azure_storage_endpoint` (with the account in the path for
    ///   path-style servers: `http://127.0.0.1:10000/devstoreaccount1`), `azure_allow_http`, or
    ///   `azure_storage_use_emulator` for Azurite at `AZURITE_BLOB_STORAGE_URL` with its
    ///   well-known account.
    ///
    /// Transient failures (timeouts, 5xx, throttling, refused connections) are retried with
    /// exponential backoff for [`DEFAULT_RETRY_WINDOW`] (5 minutes); permanent ones (bad
    /// credentials, missing bucket) fail at once. Errors name the location and unknown option
    /// keys, never option values.
    pub fn open_with_options<K: AsRef<str>, V: Into<String>>(
        location: StoreLocation,
        prefix: impl Into<String>,
        options: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, StoreError> {
        Self::open_with_retry(location, prefix, options, DEFAULT_RETRY_WINDOW)
    }

    /// Like [`Store::open_with_options`], retrying a failing request of a cloud backend for
    /// `retry_window` (however many attempts that takes) before giving up.
    pub fn open_with_retry<K: AsRef<str>, V: Into<String>>(
        location: StoreLocation,
        prefix: impl Into<String>,
        options: impl IntoIterator<Item = (K, V)>,
        retry_window: Duration,
    ) -> Result<Self, StoreError> {
        let options = options.into_iter().map(|(key, value)| (key.as_ref().to_owned(), value.into())).collect();
        let (inner, location) = open_backend(location, options, retry_window)?;
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

    /// The URI of `key`, e.g. `s3://bucket/key`, `gs://bucket/key`, `az://container/key` or
    /// `file:///root/key`.
    pub fn uri(&self, key: &str) -> String {
        self.location.uri(key)
    }

    /// Checks `key` and turns it into an object path; rejects `..`, `.`, empty segments and
    /// control characters, so keys built from user data cannot escape their prefix.
    pub fn path(&self, key: &str) -> Result<ObjectPath, StoreError> {
        check_key(key)
    }

    /// Writes `bytes` to `key`, replacing what is there (writes are idempotent).
    pub async fn put(&self, key: &str, bytes: impl Into<Bytes>) -> Result<(), StoreError> {
        let path = self.path(key)?;
        self.inner
            .put(&path, PutPayload::from_bytes(bytes.into()))
            .await
            .map(drop)
            .map_err(|error| self.failed(key, Access::Write, error))
    }

    /// Writes `bytes` to `key` only if nothing is there; `Ok(false)` if something was.
    pub async fn put_new(&self, key: &str, bytes: impl Into<Bytes>) -> Result<bool, StoreError> {
        let path = self.path(key)?;
        let options = PutOptions { mode: PutMode::Create, ..Default::default() };
        match self.inner.put_opts(&path, PutPayload::from_bytes(bytes.into()), options).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) | Err(object_store::Error::Precondition { .. }) => Ok(false),
            Err(error) => Err(self.failed(key, Access::Write, error)),
        }
    }

    /// Reads the whole object at `key`.
    pub async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        let path = self.path(key)?;
        let failed = |error| self.failed(key, Access::Read, error);
        self.inner.get(&path).await.map_err(failed)?.bytes().await.map_err(failed)
    }

    /// The object's metadata, or `None` if it does not exist (a HEAD request cannot tell a
    /// missing object from a missing bucket).
    pub async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StoreError> {
        let path = self.path(key)?;
        match self.inner.head(&path).await {
            Ok(meta) => Ok(Some(meta)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(self.failed(key, Access::Read, error)),
        }
    }

    /// Whether an object exists at `key`.
    pub async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        Ok(self.head(key).await?.is_some())
    }

    /// Every object under `prefix` (recursively).
    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        let path = self.path(prefix)?;
        self.inner.list(Some(&path)).try_collect().await.map_err(|error| self.failed(prefix, Access::Read, error))
    }

    /// The names of the "folders" directly under `prefix`.
    pub async fn list_dirs(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let path = if prefix.is_empty() { None } else { Some(self.path(prefix)?) };
        let listing = self
            .inner
            .list_with_delimiter(path.as_ref())
            .await
            .map_err(|error| self.failed(prefix, Access::Read, error))?;
        Ok(listing.common_prefixes.iter().filter_map(|dir| dir.filename().map(str::to_owned)).collect())
    }

    /// Copies the object at `from` to `to`, replacing what is there (inside the backend:
    /// server-side on cloud stores, a file copy on a local folder; nothing passes through here).
    pub async fn copy(&self, from: &str, to: &str) -> Result<(), StoreError> {
        let (source, target) = (self.path(from)?, self.path(to)?);
        self.inner.copy(&source, &target).await.map_err(|error| self.failed(from, Access::Read, error))
    }

    /// Deletes `key`; deleting a missing object is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let path = self.path(key)?;
        match self.inner.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(self.failed(key, Access::Write, error)),
        }
    }

    /// Uploads a local file to `key`, in parts when it is large (an unfinished multipart
    /// upload is aborted).
    pub async fn upload_file(&self, local: &Path, key: &str) -> Result<(), StoreError> {
        let path = self.path(key)?;
        let local_error = |source| StoreError::LocalIo { path: local.display().to_string(), source };
        let size = tokio::fs::metadata(local).await.map_err(local_error)?.len();
        if size < MULTIPART_THRESHOLD {
            let bytes = tokio::fs::read(local).await.map_err(local_error)?;
            return self.put(key, bytes).await;
        }
        let mut file = tokio::fs::File::open(local).await.map_err(local_error)?;
        let mut writer = object_store::buffered::BufWriter::new(Arc::clone(&self.inner), path);
        let copied = tokio::io::copy(&mut file, &mut writer).await;
        let finished = match copied {
            Ok(_) => writer.shutdown().await,
            Err(error) => {
                let _ = writer.abort().await;
                Err(error)
            }
        };
        finished.map_err(|error| match storage_error(error) {
            Ok(error) => self.failed(key, Access::Write, error),
            Err(error) => local_error(error),
        })
    }

    /// Downloads `key` into the local file `local` (written to a temporary file, then renamed;
    /// nothing is left behind on failure). Returns the metadata of the object that was read
    /// (its ETag and version identify exactly those bytes).
    pub async fn download_file(&self, key: &str, local: &Path) -> Result<ObjectMeta, StoreError> {
        let path = self.path(key)?;
        let failed = |error| self.failed(key, Access::Read, error);
        let local_error = |source| StoreError::LocalIo { path: local.display().to_string(), source };
        let result = self.inner.get(&path).await.map_err(failed)?;
        let meta = result.meta.clone();
        let mut stream = result.into_stream();
        if let Some(parent) = local.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(local_error)?;
        }
        let partial = local.with_extension(format!("partial-{}", std::process::id()));
        let written = async {
            let mut file = tokio::fs::File::create(&partial).await.map_err(local_error)?;
            while let Some(chunk) = stream.try_next().await.map_err(failed)? {
                file.write_all(&chunk).await.map_err(local_error)?;
            }
            file.flush().await.map_err(local_error)?;
            drop(file);
            tokio::fs::rename(&partial, local).await.map_err(local_error)
        }
        .await;
        if written.is_err() {
            let _ = tokio::fs::remove_file(&partial).await;
        }
        written.map(|()| meta)
    }

    /// The error for a failed request on `key`, telling a missing bucket from a missing object.
    fn failed(&self, key: &str, access: Access, error: object_store::Error) -> StoreError {
        classify(&self.location, self.uri(key), access, error)
    }
}

/// Checks that `key` is a valid storage key and returns it as an object path: relative, no
/// control characters, no `.`, `..` or empty segments. Pure (no I/O), so validation can check
/// keys built from user data before anything is written.
pub fn check_key(key: &str) -> Result<ObjectPath, StoreError> {
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

/// The `object_store` error inside an I/O error from `BufWriter` (how it reports storage
/// failures), or the I/O error itself.
fn storage_error(error: std::io::Error) -> Result<object_store::Error, std::io::Error> {
    if !error.get_ref().is_some_and(|inner| inner.is::<object_store::Error>()) {
        return Err(error);
    }
    let kind = error.kind();
    match error.into_inner().map(|inner| inner.downcast::<object_store::Error>()) {
        Some(Ok(error)) => Ok(*error),
        Some(Err(inner)) => Err(std::io::Error::new(kind, inner)),
        None => Err(kind.into()),
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("location", &self.location).field("prefix", &self.prefix).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn copy_replaces_the_target_and_keeps_the_source() {
        let store = Store::memory();
        store.put("a/final/x.pq", "rows").await.unwrap();
        store.put("b/final/x.pq", "old").await.unwrap();
        store.copy("a/final/x.pq", "b/final/x.pq").await.unwrap();
        assert_eq!(store.get("b/final/x.pq").await.unwrap(), "rows");
        assert_eq!(store.get("a/final/x.pq").await.unwrap(), "rows");
        assert!(matches!(store.copy("a/missing.pq", "b/y.pq").await, Err(StoreError::NotFound { .. })));
    }

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
