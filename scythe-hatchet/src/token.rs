//! The Hatchet API token: a JWT whose payload names the engine and the tenant. The payload is decoded
//! WITHOUT verifying the signature (the engine verifies it on every call). The token itself is kept in a
//! [`Secret`] that never prints, and no error built here quotes any part of it.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use tonic::metadata::{Ascii, MetadataValue};

use crate::error::ConfigError;

/// The `authorization: bearer <token>` header value, marked sensitive so `http` never prints it.
#[derive(Clone)]
pub(crate) struct Secret(MetadataValue<Ascii>);

impl Secret {
    pub(crate) fn authorization(&self) -> MetadataValue<Ascii> {
        self.0.clone()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The claims of the payload Scythe reads (`iss`, `aud`, `iat`, `token_id` are ignored).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct Claims {
    /// The tenant id.
    pub(crate) sub: Option<String>,
    /// The engine's REST base URL.
    pub(crate) server_url: Option<String>,
    /// The engine's gRPC `host:port`.
    pub(crate) grpc_broadcast_address: Option<String>,
    /// Expiry, seconds since the Unix epoch.
    pub(crate) exp: Option<u64>,
}

impl Claims {
    pub(crate) fn expires_at(&self) -> Option<SystemTime> {
        self.exp.map(|secs| UNIX_EPOCH + Duration::from_secs(secs))
    }
}

/// Checks the token's shape, decodes its claims and builds the authorization header.
pub(crate) fn parse(token: &str) -> Result<(Secret, Claims), ConfigError> {
    let token = token.trim();
    if token.is_empty() {
        return Err(ConfigError::MissingToken);
    }
    if !token.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'=')) {
        return Err(ConfigError::MalformedToken { reason: "it contains characters a JWT cannot contain" });
    }
    let parts: Vec<&str> = token.split('.').collect();
    let [_header, payload, _signature] = parts.as_slice() else {
        return Err(ConfigError::MalformedToken { reason: "a JWT has three dot-separated parts" });
    };
    // The decode errors are dropped on purpose: they quote offending bytes of the token.
    let bytes = URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| ConfigError::MalformedToken { reason: "its payload is not base64url" })?;
    let claims: Claims = serde_json::from_slice(&bytes)
        .map_err(|_| ConfigError::MalformedToken { reason: "its payload is not a JSON object of claims" })?;
    let mut header = MetadataValue::try_from(format!("bearer {token}"))
        .map_err(|_| ConfigError::MalformedToken { reason: "it is not a valid header value" })?;
    header.set_sensitive(true);
    Ok((Secret(header), claims))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::fake_token;

    #[test]
    fn decodes_the_claims_without_verifying() {
        let token = fake_token(&serde_json::json!({
            "aud": "http://localhost:8888",
            "exp": 4102444800_u64,
            "grpc_broadcast_address": "localhost:7077",
            "iat": 1704067200,
            "iss": "http://localhost:8888",
            "server_url": "http://localhost:8888",
            "sub": "707d0855-80ab-4e1f-a156-f1c4546cbf52",
            "token_id": "0a0a0a0a-0000-4000-8000-000000000001",
        }));
        let (secret, claims) = parse(&format!("  {token}\n")).unwrap();
        assert_eq!(claims.sub.as_deref(), Some("707d0855-80ab-4e1f-a156-f1c4546cbf52"));
        assert_eq!(claims.grpc_broadcast_address.as_deref(), Some("localhost:7077"));
        assert_eq!(claims.server_url.as_deref(), Some("http://localhost:8888"));
        assert_eq!(claims.expires_at(), Some(UNIX_EPOCH + Duration::from_secs(4102444800)));
        assert_eq!(secret.authorization().to_str().unwrap(), format!("bearer {token}"));
        assert!(secret.authorization().is_sensitive());
        assert_eq!(format!("{secret:?}"), "<redacted>");
    }

    #[test]
    fn accepts_padded_payloads() {
        let token = fake_token(&serde_json::json!({"sub": "t"}));
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        while !parts[1].len().is_multiple_of(4) {
            parts[1].push('=');
        }
        let (_, claims) = parse(&parts.join(".")).unwrap();
        assert_eq!(claims.sub.as_deref(), Some("t"));
    }

    #[test]
    fn rejects_malformed_tokens_without_quoting_them() {
        let valid = fake_token(&serde_json::json!({"sub": "t"}));
        let not_json = format!("eyJhbGciOiJFUzI1NiJ9.{}.c2ln", URL_SAFE_NO_PAD.encode("secret-ish payload"));
        let cases = [
            "eyJhbGciOiJFUzI1NiJ9.only-two-parts".to_owned(),
            "eyJhbGciOiJFUzI1NiJ9.%%%.c2ln".to_owned(),
            "eyJhbGciOiJFUzI1NiJ9.!!!!.c2ln".to_owned(),
            "eyJhbGciOiJFUzI1NiJ9.A.c2ln".to_owned(),
            not_json,
            format!("{valid}.extra"),
            format!("bearer {valid}"),
        ];
        for token in cases {
            let err = parse(&token).unwrap_err();
            assert!(matches!(err, ConfigError::MalformedToken { .. }), "{token}: {err:?}");
            let shown = format!("{err} {err:?}");
            for part in token.split(['.', ' ']).filter(|p| p.len() > 3) {
                assert!(!shown.contains(part), "error {shown:?} quotes the token");
            }
        }
        assert!(matches!(parse("  "), Err(ConfigError::MissingToken)));
    }
}
