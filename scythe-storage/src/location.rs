//! [`StoreLocation`]: where a store lives, parsed from a path or URL.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::StoreError;

/// Where runs are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// A folder on this machine.
    Local(PathBuf),
    /// Process memory (tests).
    Memory,
    /// An S3 (or S3-compatible) bucket, configured from the standard `AWS_*` variables.
    S3 {
        /// The bucket.
        bucket: String,
    },
    /// A Google Cloud Storage bucket, configured from the standard `GOOGLE_*` variables
    /// (`GOOGLE_SERVICE_ACCOUNT`, `GOOGLE_APPLICATION_CREDENTIALS`, ...).
    Gcs {
        /// The bucket.
        bucket: String,
    },
    /// An Azure Blob Storage container, configured from the standard `AZURE_*` variables
    /// (`AZURE_STORAGE_ACCOUNT_NAME`, `AZURE_STORAGE_ACCOUNT_KEY`, ...).
    Azure {
        /// The container.
        container: String,
    },
}

impl StoreLocation {
    /// Parses `./folder`, `/abs/folder`, `file:///abs/folder`, `memory://`, `s3://bucket[/prefix]`,
    /// `gs://bucket[/prefix]` or `az://container[/prefix]` (also `azure://`), returning the
    /// location and the key prefix inside it.
    pub fn parse(text: &str) -> Result<(StoreLocation, String), StoreError> {
        let config = |reason: &str| StoreError::Config { location: text.to_owned(), reason: reason.to_owned() };
        match text.split_once("://") {
            None => Ok((StoreLocation::Local(PathBuf::from(text)), String::new())),
            Some(("file", path)) if path.starts_with('/') => {
                Ok((StoreLocation::Local(PathBuf::from(path)), String::new()))
            }
            Some(("file", _)) => Err(config("file URLs must be absolute: file:///path/to/folder")),
            Some(("memory", _)) => Ok((StoreLocation::Memory, String::new())),
            Some(("s3" | "s3a", rest)) => {
                let (bucket, prefix) = bucket_and_prefix(rest).ok_or_else(|| config(NO_BUCKET_S3))?;
                Ok((StoreLocation::S3 { bucket }, prefix))
            }
            Some(("gs", rest)) => {
                let (bucket, prefix) = bucket_and_prefix(rest).ok_or_else(|| config(NO_BUCKET_GS))?;
                Ok((StoreLocation::Gcs { bucket }, prefix))
            }
            Some(("az" | "azure", rest)) => {
                let (container, prefix) = bucket_and_prefix(rest).ok_or_else(|| config(NO_CONTAINER))?;
                if container.contains('@') {
                    return Err(config(
                        "write az://container/prefix; the account comes from AZURE_STORAGE_ACCOUNT_NAME \
                         or the `azure_storage_account_name` option",
                    ));
                }
                Ok((StoreLocation::Azure { container }, prefix))
            }
            Some((scheme, _)) => Err(config(&format!(
                "unsupported scheme `{scheme}`; use a folder, file://, memory://, s3://, gs:// or az://"
            ))),
        }
    }

    /// The URI of `key` in this location.
    pub fn uri(&self, key: &str) -> String {
        match self {
            StoreLocation::Local(root) => format!("file://{}/{key}", root.display()),
            StoreLocation::Memory => format!("memory:///{key}"),
            StoreLocation::S3 { bucket } => format!("s3://{bucket}/{key}"),
            StoreLocation::Gcs { bucket } => format!("gs://{bucket}/{key}"),
            StoreLocation::Azure { container } => format!("az://{container}/{key}"),
        }
    }

    /// The key of `uri` if it points into this location.
    pub fn key_of<'a>(&self, uri: &'a str) -> Option<&'a str> {
        let root = self.uri("");
        uri.strip_prefix(root.as_str())
    }

    /// The local root folder, for local stores.
    pub fn local_root(&self) -> Option<&Path> {
        match self {
            StoreLocation::Local(root) => Some(root),
            _ => None,
        }
    }
}

const NO_BUCKET_S3: &str = "the URL has no bucket; write s3://bucket/prefix";
const NO_BUCKET_GS: &str = "the URL has no bucket; write gs://bucket/prefix";
const NO_CONTAINER: &str = "the URL has no container; write az://container/prefix";

/// Splits `bucket/some/prefix/` into the bucket and the trimmed prefix; `None` without a bucket.
fn bucket_and_prefix(rest: &str) -> Option<(String, String)> {
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    (!bucket.is_empty()).then(|| (bucket.to_owned(), prefix.trim_matches('/').to_owned()))
}

impl fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::Local(root) => write!(f, "{}", root.display()),
            StoreLocation::Memory => f.write_str("memory://"),
            StoreLocation::S3 { bucket } => write!(f, "s3://{bucket}"),
            StoreLocation::Gcs { bucket } => write!(f, "gs://{bucket}"),
            StoreLocation::Azure { container } => write!(f, "az://{container}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_locations_and_prefixes() {
        assert_eq!(StoreLocation::parse("runs").unwrap(), (StoreLocation::Local("runs".into()), String::new()));
        assert_eq!(StoreLocation::parse("file:///data/runs").unwrap().0, StoreLocation::Local("/data/runs".into()));
        assert_eq!(
            StoreLocation::parse("s3://bucket/team/scythe/").unwrap(),
            (StoreLocation::S3 { bucket: "bucket".into() }, "team/scythe".into())
        );
        assert!(StoreLocation::parse("s3:///prefix").is_err());
        assert!(StoreLocation::parse("ftp://host/x").is_err());
        assert!(StoreLocation::parse("file://relative").is_err());
    }

    #[test]
    fn parses_gcs_and_azure_urls() {
        assert_eq!(
            StoreLocation::parse("gs://bucket/team/scythe/").unwrap(),
            (StoreLocation::Gcs { bucket: "bucket".into() }, "team/scythe".into())
        );
        assert_eq!(
            StoreLocation::parse("gs://bucket").unwrap(),
            (StoreLocation::Gcs { bucket: "bucket".into() }, "".into())
        );
        for url in ["az://runs/team/scythe", "azure://runs/team/scythe/"] {
            assert_eq!(
                StoreLocation::parse(url).unwrap(),
                (StoreLocation::Azure { container: "runs".into() }, "team/scythe".into()),
                "{url}"
            );
        }
        for url in ["gs://", "gs:///prefix", "az://", "azure:///prefix", "az://runs@account/x"] {
            let error = StoreLocation::parse(url).unwrap_err();
            assert!(matches!(&error, StoreError::Config { location, .. } if location == url), "{url}: {error}");
        }
        let error = StoreLocation::parse("gcs://bucket").unwrap_err().to_string();
        assert!(error.contains("gs://") && error.contains("az://"), "{error}");
    }

    #[test]
    fn cloud_uris_round_trip_to_keys() {
        let gcs = StoreLocation::Gcs { bucket: "b".into() };
        assert_eq!(gcs.to_string(), "gs://b");
        assert_eq!(gcs.uri("a/b.pq"), "gs://b/a/b.pq");
        assert_eq!(gcs.key_of("gs://b/a/b.pq"), Some("a/b.pq"));
        assert_eq!(gcs.key_of("s3://b/a/b.pq"), None);
        let azure = StoreLocation::Azure { container: "c".into() };
        assert_eq!(azure.to_string(), "az://c");
        assert_eq!(azure.uri("a/b.pq"), "az://c/a/b.pq");
        assert_eq!(azure.key_of("az://c/a/b.pq"), Some("a/b.pq"));
        assert_eq!(azure.key_of("az://cc/a/b.pq"), None);
    }

    #[test]
    fn uris_round_trip_to_keys() {
        let location = StoreLocation::S3 { bucket: "b".into() };
        assert_eq!(location.uri("a/b.pq"), "s3://b/a/b.pq");
        assert_eq!(location.key_of("s3://b/a/b.pq"), Some("a/b.pq"));
        assert_eq!(location.key_of("s3://other/a/b.pq"), None);
    }
}
