//! One cache entry on disk: the versions of a remote file and the record of the current one.
//!
//! An entry is the key's folder. Every download goes to a folder of its own
//! (`<key>/<version>/<name>`), and `<key>/entry.json` names the current copy with its
//! [`Validator`]. Both are written to a temporary name and renamed, so concurrent workers on one
//! machine only ever see a complete copy next to the validator of exactly those bytes (the last
//! rename wins; a lost race costs a download, never a wrong file).

use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use object_store::ObjectMeta;
use reqwest::header::{CONTENT_LENGTH, ETAG, HeaderMap, LAST_MODIFIED};
use serde::{Deserialize, Serialize};

use super::error::CacheError;

/// The record of an entry's current copy, inside the key's folder.
const RECORD: &str = "entry.json";

/// What identifies one version of a remote file, as its server reported it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Validator {
    /// The ETag (HTTP `ETag`, object store `e_tag`).
    pub(crate) etag: Option<String>,
    /// HTTP `Last-Modified` as sent, or the object's last modification (RFC 3339).
    pub(crate) last_modified: Option<String>,
    /// The object version, on versioned buckets.
    pub(crate) version: Option<String>,
    /// The size the server reported.
    pub(crate) size: Option<u64>,
}

impl Validator {
    /// The validator of an object store object.
    pub(crate) fn of_object(meta: &ObjectMeta) -> Validator {
        Validator {
            etag: meta.e_tag.clone(),
            last_modified: Some(meta.last_modified.to_rfc3339()),
            version: meta.version.clone(),
            size: Some(meta.size),
        }
    }

    /// The validator of an HTTP response.
    pub(crate) fn of_response(headers: &HeaderMap) -> Validator {
        let text = |name| headers.get(name).and_then(|value| value.to_str().ok()).map(str::to_owned);
        Validator {
            etag: text(ETAG),
            last_modified: text(LAST_MODIFIED),
            version: None,
            size: text(CONTENT_LENGTH).and_then(|length| length.parse().ok()),
        }
    }

    /// Whether a copy with this validator holds the object `current` describes: same ETag and
    /// size, else same version, else same modification time and size.
    pub(crate) fn matches_object(&self, current: &Validator) -> bool {
        if let (Some(ours), Some(theirs)) = (&self.etag, &current.etag) {
            return ours == theirs && self.size == current.size;
        }
        if let (Some(ours), Some(theirs)) = (&self.version, &current.version) {
            return ours == theirs;
        }
        matches!((&self.last_modified, &current.last_modified), (Some(ours), Some(theirs)) if ours == theirs)
            && self.size.is_some()
            && self.size == current.size
    }
}

/// What `entry.json` holds.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    /// The validator of the copy.
    validator: Validator,
    /// The copy, relative to the key's folder: `<version>/<name>`.
    file: PathBuf,
    /// Its length on disk.
    bytes: u64,
}

/// The current copy of an entry.
#[derive(Debug, Clone)]
pub(crate) struct Cached {
    /// The local file.
    pub(crate) path: PathBuf,
    /// What the server said about those bytes.
    pub(crate) validator: Validator,
}

/// The current copy in entry folder `dir`, if its record and file are intact.
pub(crate) fn current(dir: &Path) -> Option<Cached> {
    let record = record(dir)?;
    let path = dir.join(&record.file);
    let on_disk = std::fs::metadata(&path).ok()?;
    (on_disk.is_file() && on_disk.len() == record.bytes).then_some(Cached { path, validator: record.validator })
}

/// The record of entry folder `dir`, if it is readable and names a file inside the folder.
fn record(dir: &Path) -> Option<Record> {
    let text = std::fs::read(dir.join(RECORD)).ok()?;
    let record: Record = serde_json::from_slice(&text).ok()?;
    record.file.components().all(|c| matches!(c, Component::Normal(_))).then_some(record)
}

/// A new, empty folder for one download in entry folder `dir`.
pub(crate) fn new_version(dir: &Path) -> Result<PathBuf, CacheError> {
    std::fs::create_dir_all(dir).map_err(CacheError::io(format!("creating {}", dir.display())))?;
    loop {
        let version = dir.join(format!("v{}", unique()));
        match std::fs::create_dir(&version) {
            Ok(()) => return Ok(version),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(error) => return Err(CacheError::io(format!("creating {}", version.display()))(error)),
        }
    }
}

/// Makes `path` (a complete download in a folder from [`new_version`]) the entry's current copy.
pub(crate) fn commit(dir: &Path, path: &Path, validator: Validator) -> Result<Cached, CacheError> {
    let file = path.strip_prefix(dir).map_err(|_| CacheError::Io {
        context: format!("{} is not inside {}", path.display(), dir.display()),
        source: std::io::ErrorKind::InvalidInput.into(),
    })?;
    let bytes = std::fs::metadata(path).map_err(CacheError::io(format!("reading {}", path.display())))?.len();
    let record = Record { validator, file: file.to_path_buf(), bytes };
    let text = serde_json::to_vec(&record).map_err(|error| CacheError::Io {
        context: format!("encoding {}", dir.join(RECORD).display()),
        source: error.into(),
    })?;
    let partial = dir.join(format!("{RECORD}.partial-{}", unique()));
    let target = dir.join(RECORD);
    let written = std::fs::write(&partial, text)
        .and_then(|()| std::fs::rename(&partial, &target))
        .map_err(CacheError::io(format!("writing {}", target.display())));
    if written.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    written.map(|()| Cached { path: path.to_path_buf(), validator: record.validator })
}

/// Deletes the copy at `path` (and its version folder); the entry's record goes with it when it
/// names that copy, and the entry folder when nothing else is left in it.
pub(crate) fn remove(dir: &Path, path: &Path) {
    if record(dir).is_some_and(|record| dir.join(record.file) == path) {
        let _ = std::fs::remove_file(dir.join(RECORD));
    }
    match path.parent() {
        Some(version) if version != dir && version.starts_with(dir) => {
            let _ = std::fs::remove_dir_all(version);
        }
        _ => {
            let _ = std::fs::remove_file(path);
        }
    }
    let _ = std::fs::remove_dir(dir);
}

/// A name no other download on this machine uses: time, process id and a counter.
fn unique() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_nanos());
    format!("{nanos:x}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn validator(etag: Option<&str>, version: Option<&str>, modified: Option<&str>, size: u64) -> Validator {
        Validator {
            etag: etag.map(str::to_owned),
            last_modified: modified.map(str::to_owned),
            version: version.map(str::to_owned),
            size: Some(size),
        }
    }

    #[test]
    fn objects_match_by_etag_then_version_then_time_and_size() {
        let cached = validator(Some("\"a\""), None, Some("t1"), 3);
        assert!(cached.matches_object(&validator(Some("\"a\""), None, Some("t2"), 3)));
        assert!(!cached.matches_object(&validator(Some("\"b\""), None, Some("t1"), 3)));
        assert!(!cached.matches_object(&validator(Some("\"a\""), None, Some("t1"), 4)));
        let versioned = validator(None, Some("v1"), Some("t1"), 3);
        assert!(!versioned.matches_object(&validator(None, Some("v2"), Some("t1"), 3)));
        let plain = validator(None, None, Some("t1"), 3);
        assert!(plain.matches_object(&validator(None, None, Some("t1"), 3)));
        assert!(!plain.matches_object(&validator(None, None, Some("t2"), 3)));
        assert!(!Validator::default().matches_object(&Validator::default()), "nothing to compare: refetch");
    }

    #[test]
    fn a_committed_copy_is_current_until_removed() {
        let dir = tempfile::tempdir().unwrap();
        let entry = dir.path().join("k");
        assert!(current(&entry).is_none());
        let version = new_version(&entry).unwrap();
        let file = version.join("w.csv");
        std::fs::write(&file, "abc").unwrap();
        let tag = validator(Some("\"e\""), None, None, 3);
        commit(&entry, &file, tag.clone()).unwrap();
        let cached = current(&entry).unwrap();
        assert_eq!((cached.path.as_path(), &cached.validator), (file.as_path(), &tag));
        std::fs::write(&file, "truncated?").unwrap();
        assert!(current(&entry).is_none(), "a copy of another length is not trusted");
        remove(&entry, &file);
        assert!(!entry.exists(), "{:?}", std::fs::read_dir(&entry).map(|d| d.count()));
    }
}
