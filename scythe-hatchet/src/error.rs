//! What can go wrong talking to the engine ([`HatchetError`]) and what the client refuses to send
//! ([`RequestError`]), with the retry classification every caller needs.

use std::path::PathBuf;
use std::sync::Arc;

use tonic::Code;

use crate::ids::RunId;

/// An error from the engine or the connection to it. Cheap to clone (one error may be handed to every
/// waiter of a run).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum HatchetError {
    /// The connection could not be set up.
    #[error("cannot reach the Hatchet engine at {address} ({detail}); is it running and is the address right?")]
    Connect {
        /// The engine address.
        address: String,
        /// The cause, with its chain of sources.
        detail: String,
        /// The transport error.
        #[source]
        source: Arc<tonic::transport::Error>,
    },
    /// A TLS file could not be read.
    #[error("cannot read the TLS {what} file {}: {source}", path.display())]
    TlsFile {
        /// Which file: "root CA", "client certificate" or "client key".
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// `UNAUTHENTICATED`: the engine does not accept the token.
    #[error("the Hatchet token was rejected; create a new one ({method}: {message})")]
    Unauthenticated {
        /// The gRPC method.
        method: &'static str,
        /// The engine's message.
        message: String,
    },
    /// `PERMISSION_DENIED`.
    #[error("the Hatchet token may not call {method}; use a token of the right tenant ({message})")]
    PermissionDenied {
        /// The gRPC method.
        method: &'static str,
        /// The engine's message.
        message: String,
    },
    /// `UNAVAILABLE`: the engine is down, restarting or unreachable.
    #[error("cannot reach the Hatchet engine at {address} ({method}: {message})")]
    Unavailable {
        /// The engine address.
        address: String,
        /// The gRPC method.
        method: &'static str,
        /// The engine's or transport's message.
        message: String,
    },
    /// `INVALID_ARGUMENT`: the engine refused the request's content.
    #[error("the Hatchet engine rejected {method}: {message}")]
    InvalidArgument {
        /// The gRPC method.
        method: &'static str,
        /// The engine's message.
        message: String,
    },
    /// `NOT_FOUND`: an id the request names does not exist (yet).
    #[error("{method}: not found ({message})")]
    NotFound {
        /// The gRPC method.
        method: &'static str,
        /// The engine's message.
        message: String,
    },
    /// `ALREADY_EXISTS`, e.g. an idempotency-key collision.
    #[error("{method}: already exists ({message})")]
    AlreadyExists {
        /// The gRPC method.
        method: &'static str,
        /// The engine's message.
        message: String,
    },
    /// `RESOURCE_EXHAUSTED`: rate limit (per token) or message size.
    #[error("the Hatchet engine is rate-limiting or the message is too large ({method}: {message}); slow down")]
    ResourceExhausted {
        /// The gRPC method.
        method: &'static str,
        /// The engine's message.
        message: String,
    },
    /// `FAILED_PRECONDITION`, e.g. a heartbeat for a worker whose listen stream is closed.
    #[error("{method} is not possible now: {message}")]
    FailedPrecondition {
        /// The gRPC method.
        method: &'static str,
        /// The engine's message.
        message: String,
    },
    /// `UNIMPLEMENTED`: the engine is too old for this call.
    #[error("the Hatchet engine at {address} does not implement {method}; upgrade the engine")]
    Unimplemented {
        /// The engine address.
        address: String,
        /// The gRPC method.
        method: &'static str,
    },
    /// Any other gRPC status (`INTERNAL`, `UNKNOWN`, `DEADLINE_EXCEEDED`, …); retryable.
    #[error("{method} failed with {code:?}: {message}")]
    Status {
        /// The gRPC method.
        method: &'static str,
        /// The status code.
        code: Code,
        /// The engine's message.
        message: String,
    },
    /// The engine is older than the oldest version this client supports.
    #[error(
        "the Hatchet engine at {address} is {found}, older than the {required} this client needs; upgrade the engine"
    )]
    EngineTooOld {
        /// The engine address.
        address: String,
        /// The version the engine reported.
        found: String,
        /// The oldest supported version.
        required: &'static str,
    },
    /// The engine answered something this client cannot use.
    #[error("unexpected answer to {method}: {detail}")]
    Protocol {
        /// The gRPC method.
        method: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// A bulk trigger failed after some chunks were accepted; `triggered` holds their run ids, in order.
    #[error("triggered only {} of {total} runs: {source}", triggered.len())]
    PartiallyTriggered {
        /// Run ids of the requests that were accepted (a prefix of the input).
        triggered: Vec<RunId>,
        /// Number of requests given.
        total: usize,
        /// Why the next chunk failed.
        #[source]
        source: Box<HatchetError>,
    },
    /// The request was refused before sending.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// The background task of a [`RunWatcher`](crate::RunWatcher) ended before delivering a result.
    #[error("the run watcher stopped before the run finished")]
    WatcherStopped,
    /// The engine still had no run of this id long after it returned the id from a trigger: it
    /// accepted the trigger and then lost it (its message queue dropped the message).
    #[error("the Hatchet engine has no run {run} {seconds} s after it accepted its trigger (the engine lost it)")]
    RunLost {
        /// The run id the trigger returned.
        run: String,
        /// How long the run was seen missing.
        seconds: u64,
    },
}

/// A request the client refuses to send because the engine would reject or mishandle it.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// Hatchet needs JSON objects for inputs, outputs and metadata.
    #[error("{what} must be a JSON object, not {found}")]
    NotAnObject {
        /// What was checked, e.g. "workflow input".
        what: &'static str,
        /// The JSON type found instead.
        found: &'static str,
    },
    /// The engine rejects `\u0000` in JSON (PostgreSQL cannot store it).
    #[error("{what} contains a NUL character (\\u0000), which Hatchet rejects")]
    ContainsNul {
        /// What was checked.
        what: &'static str,
    },
    /// Serialization failed.
    #[error("cannot serialize {what} to JSON: {source}")]
    Serialize {
        /// What was serialized.
        what: &'static str,
        /// The serde error.
        #[source]
        source: Arc<serde_json::Error>,
    },
    /// Names must match `^[a-zA-Z0-9.\-_]+$`.
    #[error("{what} {name:?} is not a valid Hatchet name; use only letters, digits, '.', '-' and '_'")]
    InvalidName {
        /// What kind of name.
        what: &'static str,
        /// The rejected name.
        name: String,
    },
    /// A number outside what Hatchet accepts.
    #[error("{what} must be between {min} and {max}, not {value}")]
    OutOfRange {
        /// What was checked.
        what: &'static str,
        /// The rejected value.
        value: String,
        /// Smallest allowed value.
        min: String,
        /// Largest allowed value.
        max: String,
    },
    /// A metadata filter the engine cannot parse (it splits `key:value` on `:`).
    #[error("cannot select runs by metadata {key:?} = {value:?}: neither may contain ':' and the key may not be empty")]
    InvalidMetadataFilter {
        /// The metadata key.
        key: String,
        /// The value looked for.
        value: String,
    },
    /// Not a run id the engine could have issued (a UUID).
    #[error("{run:?} is not a Hatchet run id (a UUID)")]
    InvalidRunId {
        /// The rejected id.
        run: String,
    },
    /// One request alone exceeds the engine's message size.
    #[error(
        "trigger request {index} is {bytes} bytes, more than the {limit}-byte message limit; pass large inputs by reference (e.g. an object-store URI)"
    )]
    TooLarge {
        /// Position in the input.
        index: usize,
        /// Its encoded size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
}

impl HatchetError {
    /// Maps a gRPC status of `method` (e.g. `"Dispatcher/Register"`) to an error.
    pub(crate) fn from_status(status: &tonic::Status, method: &'static str, address: &str) -> Self {
        // Transport failures arrive as a generic message with the cause in the source chain.
        let message = match std::error::Error::source(status).map(chain) {
            Some(cause) if cause.contains(status.message()) => cause,
            Some(cause) => format!("{}: {cause}", status.message()),
            None => status.message().to_owned(),
        };
        match status.code() {
            Code::Unauthenticated => Self::Unauthenticated { method, message },
            Code::PermissionDenied => Self::PermissionDenied { method, message },
            Code::Unavailable => Self::Unavailable { address: address.to_owned(), method, message },
            Code::InvalidArgument => Self::InvalidArgument { method, message },
            Code::NotFound => Self::NotFound { method, message },
            Code::AlreadyExists => Self::AlreadyExists { method, message },
            Code::ResourceExhausted => Self::ResourceExhausted { method, message },
            Code::FailedPrecondition => Self::FailedPrecondition { method, message },
            Code::Unimplemented => Self::Unimplemented { address: address.to_owned(), method },
            code => Self::Status { method, code, message },
        }
    }

    /// Whether trying again later can succeed. Permanent: the token, permissions, invalid or unknown
    /// requests, missing engine features, and requests refused before sending (the classification of
    /// Hatchet's own SDKs). Everything else (unreachable engine, rate limits, internal errors) is
    /// transient. `NOT_FOUND` is permanent here; callers that just created the id may retry it.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Connect { .. }
            | Self::Unavailable { .. }
            | Self::ResourceExhausted { .. }
            | Self::FailedPrecondition { .. }
            | Self::Status { .. } => true,
            Self::PartiallyTriggered { source, .. } => source.is_retryable(),
            Self::TlsFile { .. }
            | Self::Unauthenticated { .. }
            | Self::PermissionDenied { .. }
            | Self::InvalidArgument { .. }
            | Self::NotFound { .. }
            | Self::AlreadyExists { .. }
            | Self::Unimplemented { .. }
            | Self::Protocol { .. }
            | Self::EngineTooOld { .. }
            | Self::Request(_)
            | Self::WatcherStopped
            | Self::RunLost { .. } => false,
        }
    }

    /// The gRPC status code, when the engine answered with one.
    pub fn code(&self) -> Option<Code> {
        Some(match self {
            Self::Unauthenticated { .. } => Code::Unauthenticated,
            Self::PermissionDenied { .. } => Code::PermissionDenied,
            Self::Unavailable { .. } => Code::Unavailable,
            Self::InvalidArgument { .. } => Code::InvalidArgument,
            Self::NotFound { .. } => Code::NotFound,
            Self::AlreadyExists { .. } => Code::AlreadyExists,
            Self::ResourceExhausted { .. } => Code::ResourceExhausted,
            Self::FailedPrecondition { .. } => Code::FailedPrecondition,
            Self::Unimplemented { .. } => Code::Unimplemented,
            Self::Status { code, .. } => *code,
            Self::PartiallyTriggered { source, .. } => return source.code(),
            _ => return None,
        })
    }
}

/// The error and its sources, joined with ": ", leaving out a source whose text the message
/// already ends with (transport errors hide the useful part in the chain). The same rule as
/// scythe-core's error chain (the two crates do not depend on each other).
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Why a [`HatchetConfig`](crate::HatchetConfig) could not be built. Messages say what to fix; none quotes the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No token was given.
    #[error(
        "HATCHET_CLIENT_TOKEN is not set; create an API token (`hatchet-admin token create` or the dashboard) and export it"
    )]
    MissingToken,
    /// The token is not a JWT.
    #[error("the Hatchet token is malformed ({reason}); copy the whole token again or create a new one")]
    MalformedToken {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The token's `exp` claim is in the past.
    #[error("the Hatchet token expired at {expired_at}; create a new one")]
    TokenExpired {
        /// When it expired (RFC 3339, UTC).
        expired_at: String,
    },
    /// The token does not name a tenant.
    #[error("the Hatchet token has no tenant id (`sub` claim); create a new one with the engine's tools")]
    MissingTenant,
    /// Neither the environment nor the token say where the engine is.
    #[error(
        "no Hatchet engine address: set HATCHET_CLIENT_HOST_PORT=host:port (the token has no grpc_broadcast_address)"
    )]
    MissingHostPort,
    /// The address is not `host:port`.
    #[error("the Hatchet engine address {value:?} is not host:port (e.g. 127.0.0.1:7077)")]
    InvalidHostPort {
        /// The rejected address.
        value: String,
    },
    /// Unknown TLS strategy.
    #[error("HATCHET_CLIENT_TLS_STRATEGY={value:?} is not one of none, tls, mtls")]
    InvalidTlsStrategy {
        /// The rejected value.
        value: String,
    },
    /// Mutual TLS without the client certificate or key.
    #[error("HATCHET_CLIENT_TLS_STRATEGY=mtls needs {variable} (a PEM file)")]
    MissingMtlsFile {
        /// The variable to set.
        variable: &'static str,
    },
    /// The namespace has characters Hatchet does not allow in workflow names.
    #[error("the Hatchet namespace {value:?} may only contain letters, digits, '.', '-' and '_'")]
    InvalidNamespace {
        /// The rejected namespace.
        value: String,
    },
}

#[cfg(test)]
mod tests {
    use tonic::Status;

    use super::*;

    const ADDRESS: &str = "127.0.0.1:7077";

    fn map(status: Status) -> HatchetError {
        HatchetError::from_status(&status, "Dispatcher/Register", ADDRESS)
    }

    #[test]
    fn maps_statuses_to_messages_that_say_what_to_do() {
        let err = map(Status::unauthenticated("invalid token"));
        assert_eq!(
            err.to_string(),
            "the Hatchet token was rejected; create a new one (Dispatcher/Register: invalid token)"
        );
        let err = map(Status::unavailable("tcp connect error"));
        assert_eq!(
            err.to_string(),
            "cannot reach the Hatchet engine at 127.0.0.1:7077 (Dispatcher/Register: tcp connect error)"
        );
        let err = map(Status::unimplemented(""));
        assert_eq!(
            err.to_string(),
            "the Hatchet engine at 127.0.0.1:7077 does not implement Dispatcher/Register; upgrade the engine"
        );
        assert!(matches!(map(Status::internal("boom")), HatchetError::Status { code: Code::Internal, .. }));
    }

    #[test]
    fn classifies_retryable_like_the_sdks() {
        let retryable = [
            Code::Unavailable,
            Code::ResourceExhausted,
            Code::Internal,
            Code::Unknown,
            Code::DeadlineExceeded,
            Code::Aborted,
            Code::FailedPrecondition,
            Code::Cancelled,
        ];
        let permanent = [
            Code::Unimplemented,
            Code::InvalidArgument,
            Code::AlreadyExists,
            Code::Unauthenticated,
            Code::PermissionDenied,
            Code::NotFound,
        ];
        for code in retryable {
            let err = map(Status::new(code, "x"));
            assert!(err.is_retryable(), "{code:?}");
            assert_eq!(err.code(), Some(code));
        }
        for code in permanent {
            let err = map(Status::new(code, "x"));
            assert!(!err.is_retryable(), "{code:?}");
            assert_eq!(err.code(), Some(code));
        }
        let partial = HatchetError::PartiallyTriggered {
            triggered: vec![RunId::from("a")],
            total: 3,
            source: Box::new(map(Status::unavailable("down"))),
        };
        assert!(partial.is_retryable());
        assert!(partial.to_string().starts_with("triggered only 1 of 3 runs: cannot reach"));
        assert!(!HatchetError::from(RequestError::ContainsNul { what: "workflow input" }).is_retryable());
    }
}
