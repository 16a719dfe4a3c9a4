//! [`FileRef`]: a file-valued field of an experiment's input or output.

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A reference to a file: a local path, `file:///abs/path`, `s3://bucket/key`, `gs://bucket/key`,
/// `az://container/key` or an `http(s)://` URL.
///
/// In an input, local files are uploaded once when the run is allocated and the spec is
/// rewritten to the stored copy; when the task runs, [`FileRef::path`] is a readable local file
/// (remote files are fetched into a cache first). In an output, return a file written into
/// [`TaskContext::scratch_dir`](crate::TaskContext::scratch_dir): Scythe uploads it to
/// `results/<field>/<sort_index>.<ext>` and lists it in `final/result_file_refs.pq`. A local
/// output file outside the task's scratch folder (after symlinks and `..` are resolved) fails
/// the spec (`invalid_output`, not retried); a remote URI (`s3://`, `gs://`, `az://`,
/// `http(s)://`) is recorded as it is, not uploaded.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileRef(String);

/// Where a [`FileRef`] points, parsed from its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileRefKind<'a> {
    /// A file on this machine (a plain path or `file:///path`).
    Local(&'a Path),
    /// An object in a cloud bucket.
    Object {
        /// `s3`, `gs` or `az`.
        scheme: &'a str,
        /// The bucket (or Azure container).
        bucket: &'a str,
        /// The object key inside the bucket.
        key: &'a str,
    },
    /// An `http://` or `https://` URL.
    Http(&'a str),
}

/// A [`FileRef`] that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileRefError {
    /// The reference is the empty string.
    #[error("empty file reference")]
    Empty,
    /// A `file://` URI with a host part (`file://dir/x` instead of `file:///dir/x`).
    #[error("`{0}` is not an absolute file URI; write `file:///absolute/path`")]
    RelativeFileUri(String),
    /// A bucket URI without a bucket or without a key.
    #[error("`{0}` needs a bucket and a key, like `s3://bucket/path/to/file`")]
    IncompleteObjectUri(String),
    /// A scheme Scythe cannot read.
    #[error(
        "`{uri}` uses the unsupported scheme `{scheme}`; use a local path, file://, s3://, gs://, az:// or http(s)://"
    )]
    UnsupportedScheme {
        /// The reference.
        uri: String,
        /// Its scheme.
        scheme: String,
    },
}

impl FileRef {
    /// A reference from its text (a path or a URI). It is checked when used, see [`FileRef::kind`].
    pub fn new(reference: impl Into<String>) -> Self {
        Self(reference.into())
    }

    /// The reference as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Parses where the reference points.
    pub fn kind(&self) -> Result<FileRefKind<'_>, FileRefError> {
        let text = self.0.as_str();
        if text.is_empty() {
            return Err(FileRefError::Empty);
        }
        let Some((scheme, rest)) = text.split_once("://") else {
            return Ok(FileRefKind::Local(Path::new(text)));
        };
        match scheme {
            "file" => {
                let path = rest.strip_prefix("localhost").unwrap_or(rest);
                if path.starts_with('/') {
                    Ok(FileRefKind::Local(Path::new(path)))
                } else {
                    Err(FileRefError::RelativeFileUri(text.to_owned()))
                }
            }
            "s3" | "gs" | "az" => match rest.split_once('/') {
                Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => {
                    Ok(FileRefKind::Object { scheme, bucket, key })
                }
                _ => Err(FileRefError::IncompleteObjectUri(text.to_owned())),
            },
            "http" | "https" => Ok(FileRefKind::Http(text)),
            _ if scheme.chars().all(|c| c.is_ascii_alphanumeric() || c == '+') => {
                Err(FileRefError::UnsupportedScheme { uri: text.to_owned(), scheme: scheme.to_owned() })
            }
            // Something like `weird:/ //name` is a strange local path, not a URI.
            _ => Ok(FileRefKind::Local(Path::new(text))),
        }
    }

    /// The local file this reference names, if it names one.
    ///
    /// Inside a running task every input `FileRef` is local, so this is `Some`.
    pub fn path(&self) -> Option<&Path> {
        match self.kind() {
            Ok(FileRefKind::Local(path)) => Some(path),
            _ => None,
        }
    }

    /// The file name (last path segment), if any.
    pub fn file_name(&self) -> Option<&str> {
        let text = self.0.split(['?', '#']).next().unwrap_or_default();
        text.rsplit('/').next().filter(|name| !name.is_empty())
    }
}

impl fmt::Debug for FileRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("FileRef").field(&self.0).finish()
    }
}

impl fmt::Display for FileRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for FileRef {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

impl From<String> for FileRef {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl From<&Path> for FileRef {
    fn from(value: &Path) -> Self {
        Self::new(value.to_string_lossy().into_owned())
    }
}

impl From<PathBuf> for FileRef {
    fn from(value: PathBuf) -> Self {
        Self::from(value.as_path())
    }
}

impl Serialize for FileRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for FileRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Checked where it is used (allocation, task start), not here: schema tracing feeds
        // placeholder values through this impl.
        String::deserialize(deserializer).map(FileRef)
    }
}

/// The JSON Schema definition name of [`FileRef`]; schema code finds file fields by it.
pub const FILE_REF_SCHEMA_NAME: &str = "FileRef";

impl JsonSchema for FileRef {
    fn schema_name() -> Cow<'static, str> {
        Cow::Borrowed(FILE_REF_SCHEMA_NAME)
    }

    fn schema_id() -> Cow<'static, str> {
        Cow::Borrowed("scythe::FileRef")
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "minLength": 1,
            "format": "uri-reference",
            "description": "A file: a local path, file:///path, s3://bucket/key, gs://bucket/key, az://container/key or an http(s):// URL."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_supported_form() {
        assert_eq!(FileRef::from("weather/boston.csv").kind(), Ok(FileRefKind::Local(Path::new("weather/boston.csv"))));
        assert_eq!(FileRef::from("file:///data/a.csv").kind(), Ok(FileRefKind::Local(Path::new("/data/a.csv"))));
        assert_eq!(
            FileRef::from("s3://bucket/runs/a.csv").kind(),
            Ok(FileRefKind::Object { scheme: "s3", bucket: "bucket", key: "runs/a.csv" })
        );
        assert_eq!(
            FileRef::from("https://example.org/a.csv").kind(),
            Ok(FileRefKind::Http("https://example.org/a.csv"))
        );
    }

    #[test]
    fn rejects_relative_file_uris_and_incomplete_buckets() {
        assert!(matches!(FileRef::from("file://scratch/a").kind(), Err(FileRefError::RelativeFileUri(_))));
        assert!(matches!(FileRef::from("s3://bucket").kind(), Err(FileRefError::IncompleteObjectUri(_))));
        assert!(matches!(FileRef::from("s3:///key").kind(), Err(FileRefError::IncompleteObjectUri(_))));
        assert!(matches!(FileRef::from("ftp://host/a").kind(), Err(FileRefError::UnsupportedScheme { .. })));
        assert_eq!(FileRef::from("").kind(), Err(FileRefError::Empty));
    }

    #[test]
    fn round_trips_through_serde_as_a_string() {
        let reference: FileRef = serde_json::from_str("\"s3://b/k.csv\"").unwrap();
        assert_eq!(reference.file_name(), Some("k.csv"));
        assert_eq!(serde_json::to_string(&reference).unwrap(), "\"s3://b/k.csv\"");
    }

    #[test]
    fn file_name_ignores_queries() {
        assert_eq!(FileRef::from("https://h/p/w.epw?token=x").file_name(), Some("w.epw"));
        assert_eq!(FileRef::from("https://h/p/").file_name(), None);
    }
}
