//! [`StoreError`]: what can go wrong talking to storage.

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
