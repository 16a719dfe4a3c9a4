//! Where the engine is and how to talk to it: [`HatchetConfig`], read from `HATCHET_CLIENT_*` variables.
//!
//! | variable | meaning |
//! | --- | --- |
//! | `HATCHET_CLIENT_TOKEN` | API token (required); its payload names the engine address and the tenant |
//! | `HATCHET_CLIENT_HOST_PORT` | gRPC `host:port`; overrides the token's `grpc_broadcast_address` |
//! | `HATCHET_CLIENT_TLS_STRATEGY` | `tls` (default), `mtls` or `none` (plaintext, for a local engine) |
//! | `HATCHET_CLIENT_TLS_ROOT_CA_FILE` | PEM roots to trust instead of the system's |
//! | `HATCHET_CLIENT_TLS_CERT_FILE`, `HATCHET_CLIENT_TLS_KEY_FILE` | client certificate and key (`mtls`) |
//! | `HATCHET_CLIENT_TLS_SERVER_NAME` | name to verify the engine's certificate against (default: the host) |
//! | `HATCHET_CLIENT_NAMESPACE` | prefix for workflow names, to share a tenant; lower-cased, `_` appended |
//!
//! Empty variables count as unset.

use std::fmt;
use std::path::PathBuf;
use std::time::SystemTime;

use crate::error::ConfigError;
use crate::token::{self, Secret};

/// Settings for connecting to a Hatchet engine. Build it with [`HatchetConfig::from_env`] (or
/// [`HatchetConfig::from_token`]) and adjust it with the `with_*` methods.
///
/// `Debug` prints every setting except the token.
#[derive(Clone)]
pub struct HatchetConfig {
    secret: Secret,
    host_port: String,
    server_url: Option<String>,
    tenant_id: String,
    expires_at: Option<SystemTime>,
    tls: TlsConfig,
    namespace: Namespace,
}

/// How the gRPC connection is secured (`HATCHET_CLIENT_TLS_STRATEGY` and its files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsConfig {
    /// Plaintext HTTP/2, for an engine started with `SERVER_GRPC_INSECURE=t` (a local test engine).
    None,
    /// TLS, verifying the engine's certificate.
    Tls {
        /// PEM file of the roots to trust; the system's roots when `None`.
        root_ca_file: Option<PathBuf>,
        /// Name to verify the certificate against; the host of the address when `None`.
        server_name: Option<String>,
    },
    /// TLS with a client certificate (mutual TLS).
    Mtls {
        /// PEM file of the roots to trust; the system's roots when `None`.
        root_ca_file: Option<PathBuf>,
        /// Name to verify the certificate against; the host of the address when `None`.
        server_name: Option<String>,
        /// PEM file of the client certificate.
        cert_file: PathBuf,
        /// PEM file of the client's private key.
        key_file: PathBuf,
    },
}

impl HatchetConfig {
    /// Reads the `HATCHET_CLIENT_*` variables of this process (see the module docs).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the `HATCHET_CLIENT_*` variables through `lookup` (e.g. a map in tests, or CLI flags
    /// merged over the environment).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let token = var("HATCHET_CLIENT_TOKEN").ok_or(ConfigError::MissingToken)?;
        let mut config = Self::build(&token, var("HATCHET_CLIENT_HOST_PORT"))?;
        config.tls = tls_from_lookup(&var)?;
        if let Some(namespace) = var("HATCHET_CLIENT_NAMESPACE") {
            config = config.with_namespace(&namespace)?;
        }
        Ok(config)
    }

    /// A configuration from a token alone: the engine address comes from its claims, TLS is on, no
    /// namespace.
    pub fn from_token(token: &str) -> Result<Self, ConfigError> {
        Self::build(token, None)
    }

    fn build(token: &str, host_port: Option<String>) -> Result<Self, ConfigError> {
        let (secret, claims) = token::parse(token)?;
        let expires_at = claims.expires_at();
        if let Some(expiry) = expires_at.filter(|expiry| *expiry <= SystemTime::now()) {
            return Err(ConfigError::TokenExpired {
                expired_at: humantime::format_rfc3339_seconds(expiry).to_string(),
            });
        }
        let tenant_id = claims.sub.filter(|sub| !sub.is_empty()).ok_or(ConfigError::MissingTenant)?;
        let host_port = host_port
            .or(claims.grpc_broadcast_address.filter(|address| !address.is_empty()))
            .ok_or(ConfigError::MissingHostPort)?;
        Ok(Self {
            secret,
            host_port: validate_host_port(host_port.trim())?,
            server_url: claims.server_url,
            tenant_id,
            expires_at,
            tls: TlsConfig::Tls { root_ca_file: None, server_name: None },
            namespace: Namespace::default(),
        })
    }

    /// Connects to `host_port` instead (`HATCHET_CLIENT_HOST_PORT`).
    pub fn with_host_port(mut self, host_port: &str) -> Result<Self, ConfigError> {
        self.host_port = validate_host_port(host_port.trim())?;
        Ok(self)
    }

    /// Secures the connection this way (`HATCHET_CLIENT_TLS_*`).
    pub fn with_tls(mut self, tls: TlsConfig) -> Self {
        self.tls = tls;
        self
    }

    /// Prefixes workflow names with `namespace` (lower-cased, `_` appended); empty removes the prefix.
    pub fn with_namespace(mut self, namespace: &str) -> Result<Self, ConfigError> {
        self.namespace = Namespace::new(namespace)?;
        Ok(self)
    }

    /// The engine's gRPC `host:port`.
    pub fn host_port(&self) -> &str {
        &self.host_port
    }

    /// The engine's REST base URL, from the token.
    pub fn server_url(&self) -> Option<&str> {
        self.server_url.as_deref()
    }

    /// The tenant the token belongs to.
    pub fn tenant_id(&self) -> &str {
        &self.tenant_id
    }

    /// When the token expires, if it says.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at
    }

    /// How the connection is secured.
    pub fn tls(&self) -> &TlsConfig {
        &self.tls
    }

    /// The workflow-name prefix, e.g. `"ci_42_"`; empty when there is none.
    pub fn namespace(&self) -> &str {
        self.namespace.as_str()
    }

    /// `name` with the namespace prefix (unchanged if it already has it).
    pub fn namespaced(&self, name: &str) -> String {
        self.namespace.apply(name)
    }

    pub(crate) fn secret(&self) -> &Secret {
        &self.secret
    }

    pub(crate) fn namespace_prefix(&self) -> &Namespace {
        &self.namespace
    }
}

impl fmt::Debug for HatchetConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HatchetConfig")
            .field("token", &self.secret)
            .field("host_port", &self.host_port)
            .field("server_url", &self.server_url)
            .field("tenant_id", &self.tenant_id)
            .field("expires_at", &self.expires_at.map(humantime::format_rfc3339_seconds))
            .field("tls", &self.tls)
            .field("namespace", &self.namespace.as_str())
            .finish()
    }
}

fn tls_from_lookup(var: &impl Fn(&str) -> Option<String>) -> Result<TlsConfig, ConfigError> {
    let root_ca_file = var("HATCHET_CLIENT_TLS_ROOT_CA_FILE").map(PathBuf::from);
    let server_name = var("HATCHET_CLIENT_TLS_SERVER_NAME");
    let strategy = var("HATCHET_CLIENT_TLS_STRATEGY").map(|s| s.trim().to_ascii_lowercase());
    match strategy.as_deref() {
        None | Some("tls") => Ok(TlsConfig::Tls { root_ca_file, server_name }),
        Some("none") => Ok(TlsConfig::None),
        Some("mtls") => Ok(TlsConfig::Mtls {
            root_ca_file,
            server_name,
            cert_file: var("HATCHET_CLIENT_TLS_CERT_FILE")
                .map(PathBuf::from)
                .ok_or(ConfigError::MissingMtlsFile { variable: "HATCHET_CLIENT_TLS_CERT_FILE" })?,
            key_file: var("HATCHET_CLIENT_TLS_KEY_FILE")
                .map(PathBuf::from)
                .ok_or(ConfigError::MissingMtlsFile { variable: "HATCHET_CLIENT_TLS_KEY_FILE" })?,
        }),
        Some(other) => Err(ConfigError::InvalidTlsStrategy { value: other.to_owned() }),
    }
}

fn validate_host_port(value: &str) -> Result<String, ConfigError> {
    let invalid = || ConfigError::InvalidHostPort { value: value.to_owned() };
    let (host, port) = value.rsplit_once(':').ok_or_else(invalid)?;
    let host_ok = !host.is_empty() && !host.contains(['/', ' ', '@']);
    if !host_ok || port.parse::<u16>().is_err() {
        return Err(invalid());
    }
    Ok(value.to_owned())
}

/// A workflow-name prefix: lower-case and ending in `_`, or empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Namespace(String);

impl Namespace {
    pub(crate) fn new(namespace: &str) -> Result<Self, ConfigError> {
        let mut prefix = namespace.trim().to_lowercase();
        if prefix.is_empty() {
            return Ok(Self::default());
        }
        if !prefix.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')) {
            return Err(ConfigError::InvalidNamespace { value: namespace.to_owned() });
        }
        if !prefix.ends_with('_') {
            prefix.push('_');
        }
        Ok(Self(prefix))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// Prefixes `name`, unless it is empty or already prefixed (as Hatchet's SDKs do).
    pub(crate) fn apply(&self, name: &str) -> String {
        if self.0.is_empty() || name.is_empty() || name.starts_with(&self.0) {
            name.to_owned()
        } else {
            format!("{}{name}", self.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::test_support::fake_token;

    fn token() -> String {
        fake_token(&serde_json::json!({
            "sub": "707d0855-80ab-4e1f-a156-f1c4546cbf52",
            "server_url": "http://127.0.0.1:8080",
            "grpc_broadcast_address": "127.0.0.1:7077",
            "exp": 4102444800_u64,
        }))
    }

    fn from_vars(vars: &[(&str, &str)]) -> Result<HatchetConfig, ConfigError> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        HatchetConfig::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn reads_the_address_and_tenant_from_the_token() {
        let config = from_vars(&[("HATCHET_CLIENT_TOKEN", &token())]).unwrap();
        assert_eq!(config.host_port(), "127.0.0.1:7077");
        assert_eq!(config.server_url(), Some("http://127.0.0.1:8080"));
        assert_eq!(config.tenant_id(), "707d0855-80ab-4e1f-a156-f1c4546cbf52");
        assert_eq!(config.tls(), &TlsConfig::Tls { root_ca_file: None, server_name: None });
        assert_eq!(config.namespace(), "");
    }

    #[test]
    fn environment_overrides_the_claims() {
        let config = from_vars(&[
            ("HATCHET_CLIENT_TOKEN", &token()),
            ("HATCHET_CLIENT_HOST_PORT", "engine.example:443"),
            ("HATCHET_CLIENT_TLS_STRATEGY", "mtls"),
            ("HATCHET_CLIENT_TLS_ROOT_CA_FILE", "/ca.pem"),
            ("HATCHET_CLIENT_TLS_CERT_FILE", "/cert.pem"),
            ("HATCHET_CLIENT_TLS_KEY_FILE", "/key.pem"),
            ("HATCHET_CLIENT_TLS_SERVER_NAME", "hatchet.internal"),
            ("HATCHET_CLIENT_NAMESPACE", "CI_Run-7"),
        ])
        .unwrap();
        assert_eq!(config.host_port(), "engine.example:443");
        assert_eq!(
            config.tls(),
            &TlsConfig::Mtls {
                root_ca_file: Some("/ca.pem".into()),
                server_name: Some("hatchet.internal".into()),
                cert_file: "/cert.pem".into(),
                key_file: "/key.pem".into(),
            }
        );
        assert_eq!(config.namespace(), "ci_run-7_");
        let plain = from_vars(&[("HATCHET_CLIENT_TOKEN", &token()), ("HATCHET_CLIENT_TLS_STRATEGY", "NONE")]).unwrap();
        assert_eq!(plain.tls(), &TlsConfig::None);
    }

    #[test]
    fn says_what_to_fix() {
        assert_eq!(from_vars(&[]).unwrap_err(), ConfigError::MissingToken);
        assert_eq!(from_vars(&[("HATCHET_CLIENT_TOKEN", " ")]).unwrap_err(), ConfigError::MissingToken);
        let err = from_vars(&[("HATCHET_CLIENT_TOKEN", &token()), ("HATCHET_CLIENT_TLS_STRATEGY", "ssl")]).unwrap_err();
        assert_eq!(err.to_string(), r#"HATCHET_CLIENT_TLS_STRATEGY="ssl" is not one of none, tls, mtls"#);
        let err =
            from_vars(&[("HATCHET_CLIENT_TOKEN", &token()), ("HATCHET_CLIENT_TLS_STRATEGY", "mtls")]).unwrap_err();
        assert_eq!(err, ConfigError::MissingMtlsFile { variable: "HATCHET_CLIENT_TLS_CERT_FILE" });
        for bad in ["localhost", "localhost:http", ":7077", "http://localhost:7077"] {
            let err = from_vars(&[("HATCHET_CLIENT_TOKEN", &token()), ("HATCHET_CLIENT_HOST_PORT", bad)]).unwrap_err();
            assert!(matches!(err, ConfigError::InvalidHostPort { .. }), "{bad}: {err}");
        }
        assert!(HatchetConfig::from_token(&token()).unwrap().with_host_port("[::1]:7077").is_ok());
        let no_address = fake_token(&serde_json::json!({"sub": "t"}));
        assert_eq!(HatchetConfig::from_token(&no_address).unwrap_err(), ConfigError::MissingHostPort);
        let no_tenant = fake_token(&serde_json::json!({"grpc_broadcast_address": "h:1"}));
        assert_eq!(HatchetConfig::from_token(&no_tenant).unwrap_err(), ConfigError::MissingTenant);
    }

    #[test]
    fn rejects_expired_tokens() {
        let expired = fake_token(&serde_json::json!({"sub": "t", "grpc_broadcast_address": "h:1", "exp": 1_000_000}));
        let err = HatchetConfig::from_token(&expired).unwrap_err();
        assert_eq!(err.to_string(), "the Hatchet token expired at 1970-01-12T13:46:40Z; create a new one");
    }

    #[test]
    fn debug_never_shows_the_token() {
        let token = token();
        let config = from_vars(&[("HATCHET_CLIENT_TOKEN", &token), ("HATCHET_CLIENT_NAMESPACE", "x")]).unwrap();
        let shown = format!("{config:?} {config:#?}");
        assert!(shown.contains("<redacted>"), "{shown}");
        assert!(shown.contains("127.0.0.1:7077"), "{shown}");
        for part in token.split('.') {
            assert!(!shown.contains(part), "Debug output quotes the token: {shown}");
        }
    }

    #[test]
    fn namespaces_are_lower_case_prefixes() {
        let namespace = Namespace::new("Team_A").unwrap();
        assert_eq!(namespace.as_str(), "team_a_");
        assert_eq!(namespace.apply("simulate"), "team_a_simulate");
        assert_eq!(namespace.apply("team_a_simulate"), "team_a_simulate");
        assert_eq!(namespace.apply(""), "");
        assert_eq!(Namespace::new("ci_").unwrap().as_str(), "ci_");
        assert_eq!(Namespace::new("").unwrap().apply("simulate"), "simulate");
        assert!(matches!(Namespace::new("a b"), Err(ConfigError::InvalidNamespace { .. })));
    }
}
