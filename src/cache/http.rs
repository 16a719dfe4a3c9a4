//! Fetching `http(s)://` inputs: a conditional GET revalidates the cached copy.
//!
//! The request carries the cached copy's `If-None-Match` (its ETag) and `If-Modified-Since` (its
//! `Last-Modified`); `304 Not Modified` reuses the copy, a full answer replaces it. A server that
//! sends neither header cannot be revalidated, so its files are downloaded every time.

use std::path::Path;

use futures::StreamExt;
use reqwest::StatusCode;
use reqwest::header::{IF_MODIFIED_SINCE, IF_NONE_MATCH};
use tokio::io::AsyncWriteExt;

use super::Fetched;
use super::entry::{self, Validator};
use super::error::CacheError;
use super::key::CacheKey;

/// Revalidates (or downloads) `url`, cached in entry folder `dir`.
pub(crate) async fn refresh(
    client: &reqwest::Client,
    url: &str,
    key: &CacheKey,
    dir: &Path,
) -> Result<Fetched, CacheError> {
    let cached = entry::current(dir);
    let mut request = client.get(url);
    if let Some(copy) = &cached {
        if let Some(etag) = &copy.validator.etag {
            request = request.header(IF_NONE_MATCH, etag);
        }
        if let Some(modified) = &copy.validator.last_modified {
            request = request.header(IF_MODIFIED_SINCE, modified);
        }
    }
    let response = request.send().await.map_err(CacheError::http(&key.shown))?;
    let status = response.status();
    if status == StatusCode::NOT_MODIFIED
        && let Some(copy) = cached
    {
        return Ok(Fetched::Reused(copy));
    }
    if !status.is_success() {
        return Err(CacheError::Status { url: key.shown.clone(), status });
    }
    let validator = Validator::of_response(response.headers());
    let version = entry::new_version(dir)?;
    let path = version.join(&key.name);
    let written = async {
        let mut file =
            tokio::fs::File::create(&path).await.map_err(CacheError::io(format!("creating {}", path.display())))?;
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(CacheError::http(&key.shown))?;
            file.write_all(&chunk).await.map_err(CacheError::io(format!("writing {}", path.display())))?;
        }
        file.flush().await.map_err(CacheError::io(format!("writing {}", path.display())))?;
        entry::commit(dir, &path, validator)
    }
    .await;
    match written {
        Ok(copy) => Ok(Fetched::Downloaded(copy)),
        Err(error) => {
            let _ = tokio::fs::remove_dir_all(&version).await;
            Err(error)
        }
    }
}
