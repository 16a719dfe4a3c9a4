//! [`CacheKey`]: where a remote input file lives in the cache.
//!
//! The key is the SHA-256 of the whole canonical address — scheme, user, host, port, path and
//! query for `http(s)://`, scheme, bucket and key for objects — so two addresses share an entry
//! only when they are the same address. The folder keeps the scheme and the host and port (or
//! bucket) readable, and the file keeps its own name (tasks may look at its extension). The
//! query is never shown: it may hold a signed URL's token.

use std::fmt::Write as _;
use std::path::PathBuf;

use scythe_core::FileRefKind;
use sha2::{Digest, Sha256};

use super::error::CacheError;

/// Longest file name kept in the cache (the end is kept, so the extension survives).
const MAX_NAME_CHARS: usize = 100;

/// Where one remote address is cached, relative to the cache root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CacheKey {
    /// `<scheme>/<host>_<port>/<hash>` or `<scheme>/<bucket>/<hash>`.
    pub(crate) dir: PathBuf,
    /// The file name cached copies get.
    pub(crate) name: String,
    /// The address as errors and logs may show it: the query replaced by `?…`, no user info.
    pub(crate) shown: String,
}

impl CacheKey {
    /// The key of a remote file reference; `None` for a local file (used in place).
    pub(crate) fn of(kind: &FileRefKind<'_>) -> Result<Option<CacheKey>, CacheError> {
        match *kind {
            FileRefKind::Local(_) => Ok(None),
            FileRefKind::Object { scheme, bucket, key } => {
                let canonical = format!("{scheme}://{bucket}/{key}");
                Ok(Some(CacheKey::build(scheme, bucket, key, &canonical, canonical.clone())))
            }
            FileRefKind::Http(text) => {
                let url = url::Url::parse(text)
                    .map_err(|source| CacheError::InvalidUrl { url: redact(text), reason: source.to_string() })?;
                let host = url
                    .host_str()
                    .ok_or_else(|| CacheError::InvalidUrl { url: redact(text), reason: "it has no host".to_owned() })?;
                let port = url.port_or_known_default().map_or_else(String::new, |port| format!(":{port}"));
                let user = match (url.username(), url.password()) {
                    ("", None) => String::new(),
                    (user, password) => format!("{user}:{}@", password.unwrap_or_default()),
                };
                let query = url.query().map_or_else(String::new, |query| format!("?{query}"));
                let scheme = url.scheme();
                let path = url.path();
                let canonical = format!("{scheme}://{user}{host}{port}{path}{query}");
                let shown = format!("{scheme}://{host}{port}{path}{}", if url.query().is_some() { "?…" } else { "" });
                let authority = format!("{host}{}", port.replace(':', "_"));
                Ok(Some(CacheKey::build(scheme, &authority, path, &canonical, shown)))
            }
        }
    }

    fn build(scheme: &str, authority: &str, path: &str, canonical: &str, shown: String) -> CacheKey {
        let digest = Sha256::digest(canonical.as_bytes());
        let mut hash = String::with_capacity(32);
        for byte in digest.iter().take(16) {
            let _ = write!(hash, "{byte:02x}");
        }
        let dir = PathBuf::from(sanitize(scheme)).join(sanitize(authority)).join(hash);
        CacheKey { dir, name: file_name(path), shown }
    }
}

/// `text` for messages: a URL without its query (which may hold a token) or user info.
pub(crate) fn redact(text: &str) -> String {
    let without_query = match text.split_once('?') {
        Some((before, _)) => format!("{before}?…"),
        None => text.to_owned(),
    };
    match url::Url::parse(&without_query) {
        Ok(mut url) if !url.username().is_empty() || url.password().is_some() => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.to_string()
        }
        _ => without_query,
    }
}

/// The last segment of `path`, made safe as a file name.
fn file_name(path: &str) -> String {
    let last = path.rsplit('/').next().unwrap_or_default();
    if last.chars().all(|c| c == '.') {
        return "file".to_owned();
    }
    let name = sanitize(last);
    let skip = name.chars().count().saturating_sub(MAX_NAME_CHARS);
    name.chars().skip(skip).collect()
}

/// `segment` as one safe path component: ASCII letters, digits, `-`, `_` and `.`, never empty,
/// `.` or `..`.
fn sanitize(segment: &str) -> String {
    let safe: String =
        segment.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect();
    if safe.chars().all(|c| c == '.') { "_".to_owned() } else { safe }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn http(url: &str) -> CacheKey {
        CacheKey::of(&FileRefKind::Http(url)).unwrap().unwrap()
    }

    fn object(scheme: &str, bucket: &str, key: &str) -> CacheKey {
        CacheKey::of(&FileRefKind::Object { scheme, bucket, key }).unwrap().unwrap()
    }

    #[test]
    fn the_port_is_part_of_the_key() {
        let first = http("http://127.0.0.1:18080/artifacts/boston.epw");
        let second = http("http://127.0.0.1:18081/artifacts/boston.epw");
        assert_ne!(first, second);
        assert!(first.dir.starts_with("http/127.0.0.1_18080"), "{}", first.dir.display());
        assert_eq!(first.name, "boston.epw");
        assert_eq!(http("http://h/x"), http("http://H:80/x"), "the default port is the same server");
        assert_ne!(http("http://h/x"), http("https://h/x"));
    }

    #[test]
    fn the_query_is_hashed_into_the_key_and_never_shown() {
        let signed = http("https://h/w.csv?X-Amz-Signature=secret-token");
        let other = http("https://h/w.csv?X-Amz-Signature=other-token");
        assert_ne!(signed, other);
        assert_ne!(signed, http("https://h/w.csv"));
        for key in [&signed, &other] {
            let text = format!("{} {} {}", key.dir.display(), key.name, key.shown);
            assert!(!text.contains("token") && !text.contains("Signature"), "{text}");
        }
        assert_eq!(signed.shown, "https://h:443/w.csv?…");
        assert_eq!(http("https://h/w.csv#part").dir, http("https://h/w.csv").dir, "fragments are not sent");
    }

    #[test]
    fn user_info_is_keyed_but_never_shown() {
        let alice = http("https://alice:pw@h/w.csv");
        assert_ne!(alice, http("https://bob:pw@h/w.csv"));
        assert!(!alice.shown.contains("pw") && !alice.shown.contains("alice"), "{}", alice.shown);
        assert!(!redact("https://alice:pw@h/w.csv?t=1").contains("pw"));
        assert!(!redact("not a url ?token=1").contains("token"));
    }

    #[test]
    fn objects_are_keyed_by_scheme_bucket_and_key() {
        let a = object("s3", "a", "w/x.epw");
        assert!(a.dir.starts_with("s3/a"), "{}", a.dir.display());
        assert_eq!(a.name, "x.epw");
        assert_ne!(a, object("s3", "b", "w/x.epw"));
        assert_ne!(a, object("gs", "a", "w/x.epw"));
        assert_ne!(a, object("s3", "a", "w/y/x.epw"), "same file name, other folder");
        assert_ne!(object("s3", "a", "x y"), object("s3", "a", "x_y"), "sanitized names do not collide");
    }

    #[test]
    fn names_cannot_escape_or_grow_without_bound() {
        assert_eq!(http("http://h/a/..%2F..%2Fetc%2Fpasswd").name, ".._2F.._2Fetc_2Fpasswd");
        assert_eq!(object("s3", "a", "x/..").name, "file");
        assert_eq!(http("http://h/dir/").name, "file");
        let long = format!("{}.csv", "n".repeat(300));
        let name = object("s3", "a", &long).name;
        assert_eq!(name.chars().count(), MAX_NAME_CHARS);
        assert!(name.ends_with(".csv"));
        let dir = object("..", "..", "k").dir;
        assert!(dir.components().all(|c| matches!(c, std::path::Component::Normal(_))), "{}", dir.display());
    }

    #[test]
    fn local_files_have_no_key() {
        assert_eq!(CacheKey::of(&FileRefKind::Local(std::path::Path::new("/x"))).unwrap(), None);
    }
}
