//! [`StoreError`]: what can go wrong talking to storage.

use crate::location::StoreLocation;

/// A storage operation that failed; every variant names the key or location (never credentials).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The object does not exist.
    #[error("`{uri}` does not exist")]
    NotFound {
        /// The object's URI.
        uri: String,
    },
    /// A create-only write found the object already there.
    #[error("`{uri}` already exists")]
    AlreadyExists {
        /// The object's URI.
        uri: String,
    },
    /// The bucket (S3, GCS) or container (Azure) does not exist, or these credentials cannot
    /// see it.
    #[error("`{location}` does not exist: no such bucket or container (accessing `{uri}`)")]
    MissingBucket {
        /// The bucket's location, e.g. `gs://bucket` or `az://container`.
        location: String,
        /// The object's URI.
        uri: String,
    },
    /// A key that could escape its prefix or is not a valid object path.
    #[error("`{key}` is not a valid storage key: {reason}")]
    InvalidKey {
        /// The offending key.
        key: String,
        /// Why.
        reason: String,
    },
    /// The storage location could not be configured.
    #[error("cannot use storage `{location}`: {reason}")]
    Config {
        /// The location as given.
        location: String,
        /// Why.
        reason: String,
    },
    /// The backend failed.
    #[error("storage error on `{uri}`: {source}")]
    Backend {
        /// The object's URI.
        uri: String,
        /// The backend's error.
        #[source]
        source: object_store::Error,
    },
    /// Reading or writing Parquet failed.
    #[error("Parquet error on `{uri}`: {source}")]
    Parquet {
        /// The object's URI.
        uri: String,
        /// The Parquet error.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// A local file could not be read or written.
    #[error("cannot access local file `{path}`: {source}")]
    LocalIo {
        /// The local path.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// What a failed request did: a 404 on a write can only mean a missing bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// A read or a listing.
    Read,
    /// A write.
    Write,
}

/// Error codes in response bodies that mean the bucket or container is missing: Azure, S3 and
/// GCS's XML API.
const MISSING_BUCKET_CODES: [&str; 3] = ["ContainerNotFound", "NoSuchBucket", "The specified bucket does not exist"];

impl StoreError {
    /// Classifies a backend error on `uri` in `location`.
    pub(crate) fn backend(location: &StoreLocation, uri: String, access: Access, source: object_store::Error) -> Self {
        let cloud = !matches!(location, StoreLocation::Local(_) | StoreLocation::Memory);
        let missing_bucket = cloud
            && match &source {
                object_store::Error::NotFound { .. } if access == Access::Write => true,
                object_store::Error::NotFound { .. } | object_store::Error::Generic { .. } => {
                    let text = source.to_string();
                    MISSING_BUCKET_CODES.iter().any(|code| text.contains(code))
                }
                _ => false,
            };
        if missing_bucket {
            return StoreError::MissingBucket { location: location.to_string(), uri };
        }
        match source {
            object_store::Error::NotFound { .. } => StoreError::NotFound { uri },
            object_store::Error::AlreadyExists { .. } => StoreError::AlreadyExists { uri },
            source => StoreError::Backend { uri, source },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn not_found(body: &str) -> object_store::Error {
        object_store::Error::NotFound { path: "k".into(), source: body.to_owned().into() }
    }

    #[test]
    fn tells_a_missing_bucket_from_a_missing_object() {
        let location = StoreLocation::Azure { container: "runs".into() };
        let uri = || location.uri("a/b");
        let classify = |access, error| StoreError::backend(&location, uri(), access, error);
        assert!(matches!(classify(Access::Read, not_found("404")), StoreError::NotFound { .. }));
        let missing = classify(Access::Write, not_found("404"));
        assert!(matches!(&missing, StoreError::MissingBucket { location, .. } if location == "az://runs"));
        assert!(missing.to_string().contains("az://runs"), "{missing}");
        assert!(matches!(
            classify(Access::Read, not_found("<Code>ContainerNotFound</Code>")),
            StoreError::MissingBucket { .. }
        ));
        let listing = object_store::Error::Generic { store: "S3", source: "<Code>NoSuchBucket</Code>".into() };
        assert!(matches!(classify(Access::Read, listing), StoreError::MissingBucket { .. }));
        let other = object_store::Error::Generic { store: "S3", source: "500 Internal Server Error".into() };
        assert!(matches!(classify(Access::Read, other), StoreError::Backend { .. }));
    }
}
