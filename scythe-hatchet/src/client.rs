//! The connection: [`HatchetClient::connect`] opens one HTTP/2 channel (TLS per config, keepalive,
//! 4 MiB messages) and adds `authorization: bearer <token>` to every call.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::config::{HatchetConfig, Namespace, TlsConfig};
use crate::error::{HatchetError, chain};
use crate::proto;
use crate::proto::dispatcher_client::DispatcherClient;
use crate::proto::events_service_client::EventsServiceClient;
use crate::proto::v1::admin_service_client::AdminServiceClient;
use crate::proto::workflow_service_client::WorkflowServiceClient;
use crate::token::Secret;

/// The engine's default (and Hatchet SDKs') maximum gRPC message size, both directions.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// HTTP/2 keepalive: ping every 10 s (the engine rejects pings closer than 5 s), give up after 60 s.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

type AuthChannel = InterceptedService<Channel, Auth>;

/// A connection to a Hatchet engine. Cheap to clone; clones share the connection.
///
/// Its methods are grouped by purpose: registering workflows and workers and serving tasks
/// ([`register_workflow`](Self::register_workflow), [`register_worker`](Self::register_worker),
/// [`listen`](Self::listen), …), triggering runs ([`bulk_trigger`](Self::bulk_trigger)) and collecting
/// their results ([`RunWatcher`](crate::RunWatcher), [`run_outcome`](Self::run_outcome)).
#[derive(Clone)]
pub struct HatchetClient {
    pub(crate) dispatcher: DispatcherClient<AuthChannel>,
    pub(crate) workflows: WorkflowServiceClient<AuthChannel>,
    pub(crate) admin: AdminServiceClient<AuthChannel>,
    pub(crate) events: EventsServiceClient<AuthChannel>,
    address: Arc<str>,
    namespace: Namespace,
}

impl HatchetClient {
    /// Connects to the engine `config` names. Fails if it cannot be reached; the token is only
    /// checked by the first call (e.g. [`version`](Self::version)).
    pub async fn connect(config: &HatchetConfig) -> Result<Self, HatchetError> {
        let address = config.host_port();
        let connect_error = |source: tonic::transport::Error| HatchetError::Connect {
            address: address.to_owned(),
            detail: chain(&source),
            source: Arc::new(source),
        };
        let scheme = if matches!(config.tls(), TlsConfig::None) { "http" } else { "https" };
        let mut endpoint = Endpoint::from_shared(format!("{scheme}://{address}"))
            .map_err(connect_error)?
            .connect_timeout(CONNECT_TIMEOUT)
            .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
            .keep_alive_timeout(KEEPALIVE_TIMEOUT)
            .keep_alive_while_idle(true)
            .tcp_nodelay(true);
        if let Some(tls) = tls_config(config.tls())? {
            endpoint = endpoint.tls_config(tls).map_err(connect_error)?;
        }
        let channel = endpoint.connect().await.map_err(connect_error)?;
        tracing::debug!(address, "connected to the Hatchet engine");
        let auth = Auth(config.secret().clone());
        Ok(Self {
            dispatcher: DispatcherClient::with_interceptor(channel.clone(), auth.clone())
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
            workflows: WorkflowServiceClient::with_interceptor(channel.clone(), auth.clone())
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
            admin: AdminServiceClient::with_interceptor(channel.clone(), auth.clone())
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
            events: EventsServiceClient::with_interceptor(channel, auth)
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
            address: address.into(),
            namespace: config.namespace_prefix().clone(),
        })
    }

    /// The engine's version (`Dispatcher/GetVersion`), e.g. `"v0.104.7"`. A cheap way to check the
    /// address and the token.
    pub async fn version(&self) -> Result<String, HatchetError> {
        let response = self
            .dispatcher
            .clone()
            .get_version(proto::GetVersionRequest {})
            .await
            .map_err(|status| self.error("Dispatcher/GetVersion", &status))?;
        Ok(response.into_inner().version)
    }

    /// The engine's version, refusing an engine older than [`MIN_ENGINE_VERSION`]. Development builds
    /// that report no `vX.Y.Z` version are accepted.
    pub async fn check_version(&self) -> Result<String, HatchetError> {
        let version = self.version().await?;
        match (parse_version(&version), parse_version(MIN_ENGINE_VERSION)) {
            (Some(found), Some(required)) if found < required => Err(HatchetError::EngineTooOld {
                address: self.address.to_string(),
                found: version,
                required: MIN_ENGINE_VERSION,
            }),
            _ => Ok(version),
        }
    }

    /// The engine's `host:port`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// `name` with the configured namespace prefix.
    pub fn namespaced(&self, name: &str) -> String {
        self.namespace.apply(name)
    }

    pub(crate) fn error(&self, method: &'static str, status: &tonic::Status) -> HatchetError {
        HatchetError::from_status(status, method, &self.address)
    }
}

impl fmt::Debug for HatchetClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HatchetClient")
            .field("address", &self.address)
            .field("namespace", &self.namespace.as_str())
            .finish_non_exhaustive()
    }
}

fn tls_config(tls: &TlsConfig) -> Result<Option<ClientTlsConfig>, HatchetError> {
    let (root_ca_file, server_name, identity) = match tls {
        TlsConfig::None => return Ok(None),
        TlsConfig::Tls { root_ca_file, server_name } => (root_ca_file, server_name, None),
        TlsConfig::Mtls { root_ca_file, server_name, cert_file, key_file } => {
            let identity = Identity::from_pem(read("client certificate", cert_file)?, read("client key", key_file)?);
            (root_ca_file, server_name, Some(identity))
        }
    };
    let mut config = ClientTlsConfig::new();
    config = match root_ca_file {
        Some(path) => config.ca_certificate(Certificate::from_pem(read("root CA", path)?)),
        None => config.with_native_roots(),
    };
    if let Some(name) = server_name {
        config = config.domain_name(name.clone());
    }
    if let Some(identity) = identity {
        config = config.identity(identity);
    }
    Ok(Some(config))
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, HatchetError> {
    std::fs::read(path).map_err(|source| HatchetError::TlsFile {
        what,
        path: path.to_owned(),
        source: Arc::new(source),
    })
}

/// Adds the (sensitive) authorization header to every request.
#[derive(Clone)]
pub(crate) struct Auth(Secret);

impl Interceptor for Auth {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        request.metadata_mut().insert("authorization", self.0.authorization());
        Ok(request)
    }
}

/// The oldest engine this client works with: the first with per-worker slot configuration
/// (`Register.slot_config`), which workers send.
pub const MIN_ENGINE_VERSION: &str = "v0.78.23";

/// `(major, minor, patch)` of `v1.2.3` or `1.2.3`, ignoring a `-pre`/`+build` suffix.
fn parse_version(text: &str) -> Option<(u64, u64, u64)> {
    let core = text.trim().trim_start_matches('v');
    let core = core.split(['-', '+']).next()?;
    let mut parts = core.split('.').map(|part| part.parse::<u64>().ok());
    let version = (parts.next()??, parts.next()??, parts.next().unwrap_or(Some(0))?);
    parts.next().is_none().then_some(version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::fake_token;

    fn config() -> HatchetConfig {
        let token = fake_token(&serde_json::json!({"sub": "t", "grpc_broadcast_address": "127.0.0.1:1"}));
        HatchetConfig::from_token(&token).unwrap().with_tls(TlsConfig::None)
    }

    #[test]
    fn adds_the_bearer_header() {
        let config = config();
        let mut auth = Auth(config.secret().clone());
        let request = auth.call(tonic::Request::new(())).unwrap();
        let header = request.metadata().get("authorization").unwrap();
        assert!(header.to_str().unwrap().starts_with("bearer ey"));
        assert!(header.is_sensitive());
        assert!(!format!("{request:?}").contains("bearer ey"));
    }

    #[tokio::test]
    async fn unreachable_engine_is_a_clear_retryable_error() {
        let err = HatchetClient::connect(&config()).await.unwrap_err();
        assert!(err.is_retryable());
        let text = err.to_string();
        assert!(text.starts_with("cannot reach the Hatchet engine at 127.0.0.1:1 ("), "{text}");
    }

    #[tokio::test]
    async fn missing_tls_files_are_named() {
        let config =
            config().with_tls(TlsConfig::Tls { root_ca_file: Some("/nonexistent/ca.pem".into()), server_name: None });
        let err = HatchetClient::connect(&config).await.unwrap_err();
        assert!(err.to_string().starts_with("cannot read the TLS root CA file /nonexistent/ca.pem: "), "{err}");
    }

    #[test]
    fn versions_parse_and_order() {
        assert_eq!(parse_version("v0.104.7"), Some((0, 104, 7)));
        assert_eq!(parse_version("1.2"), Some((1, 2, 0)));
        assert_eq!(parse_version("v0.80.0-alpha.1"), Some((0, 80, 0)));
        assert!(parse_version("v0.78.23") < parse_version("v0.104.7"));
        assert_eq!(parse_version("dev"), None);
        assert_eq!(parse_version("v1.2.3.4"), None);
    }
}
