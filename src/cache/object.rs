//! Fetching objects (`s3://`, `gs://`, `az://`): a HEAD revalidates the cached copy.
//!
//! The copy is reused when the object's ETag and size (else its version, else its modification
//! time and size) are those recorded with it; otherwise the object is downloaded again, and the
//! validator recorded is the one of the GET that read those bytes.

use std::path::Path;

use scythe_storage::Store;

use super::Fetched;
use super::entry::{self, Validator};
use super::error::CacheError;
use super::key::CacheKey;

/// Revalidates (or downloads) object `object_key` of `store`, cached in entry folder `dir`.
pub(crate) async fn refresh(
    store: &Store,
    object_key: &str,
    key: &CacheKey,
    dir: &Path,
) -> Result<Fetched, CacheError> {
    let cached = entry::current(dir);
    let meta = store.head(object_key).await?.ok_or_else(|| CacheError::NotFound(key.shown.clone()))?;
    if let Some(copy) = cached
        && copy.validator.matches_object(&Validator::of_object(&meta))
    {
        return Ok(Fetched::Reused(copy));
    }
    let version = entry::new_version(dir)?;
    let path = version.join(&key.name);
    let written = async {
        let meta = store.download_file(object_key, &path).await?;
        entry::commit(dir, &path, Validator::of_object(&meta))
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
