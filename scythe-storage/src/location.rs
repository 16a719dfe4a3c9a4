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
}

impl StoreLocation {
    /// Parses `./folder`, `/abs/folder`, `file:///abs/folder`, `memory://` or
    /// `s3://bucket[/prefix]`, returning the location and the key prefix inside it.
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
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.is_empty() {
                    return Err(config("the URL has no bucket; write s3://bucket/prefix"));
                }
                Ok((StoreLocation::S3 { bucket: bucket.to_owned() }, prefix.trim_matches('/').to_owned()))
            }
            Some((scheme, _)) => {
                Err(config(&format!("unsupported scheme `{scheme}`; use a folder, file://, memory:// or s3://")))
            }
        }
    }

    /// The URI of `key` in this location.
    pub fn uri(&self, key: &str) -> String {
        match self {
            StoreLocation::Local(root) => format!("file://{}/{key}", root.display()),
            StoreLocation::Memory => format!("memory:///{key}"),
            StoreLocation::S3 { bucket } => format!("s3://{bucket}/{key}"),
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

impl fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::Local(root) => write!(f, "{}", root.display()),
            StoreLocation::Memory => f.write_str("memory://"),
            StoreLocation::S3 { bucket } => write!(f, "s3://{bucket}"),
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
    fn uris_round_trip_to_keys() {
        let location = StoreLocation::S3 { bucket: "b".into() };
        assert_eq!(location.uri("a/b.pq"), "s3://b/a/b.pq");
        assert_eq!(location.key_of("s3://b/a/b.pq"), Some("a/b.pq"));
        assert_eq!(location.key_of("s3://other/a/b.pq"), None);
    }
}
