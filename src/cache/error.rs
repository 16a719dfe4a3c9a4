//! [`CacheError`]: why a remote input file could not be made local.
//!
//! Addresses are shown redacted (no query, no user info): a signed URL's token never reaches a
//! message or a log.

use scythe_storage::StoreError;

/// A remote input file that could not be fetched or cached.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The input's address is not a usable URL.
    #[error("input file `{url}` is not a valid URL: {reason}")]
    InvalidUrl {
        /// The address, redacted.
        url: String,
        /// Why it is invalid.
        reason: String,
    },
    /// The HTTP request failed before an answer came (connection, TLS, timeout, body).
    #[error("cannot download `{url}`")]
    Http {
        /// The address, redacted.
        url: String,
        /// The client's error, without its URL.
        #[source]
        source: reqwest::Error,
    },
    /// The HTTP server answered with an error status.
    #[error("cannot download `{url}`: the server answered {status}")]
    Status {
        /// The address, redacted.
        url: String,
        /// The status it answered.
        status: reqwest::StatusCode,
    },
    /// The object does not exist.
    #[error("input file `{0}` does not exist")]
    NotFound(String),
    /// The object store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The cache folder could not be written or read.
    #[error("worker cache: {context}")]
    Io {
        /// What was being done, naming the local path.
        context: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl CacheError {
    /// A closure turning an I/O error into [`CacheError::Io`] with `context`.
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> CacheError {
        let context = context.into();
        move |source| CacheError::Io { context, source }
    }

    /// A closure turning a client error into [`CacheError::Http`], dropping the error's URL.
    pub(crate) fn http(url: &str) -> impl FnOnce(reqwest::Error) -> CacheError {
        let url = url.to_owned();
        move |source| CacheError::Http { url, source: source.without_url() }
    }
}
