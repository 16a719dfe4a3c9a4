//! Building the `object_store` behind a [`Store`](crate::Store) for each [`StoreLocation`].
//!
//! Every cloud backend starts from its standard environment variables (`AWS_*`, `GOOGLE_*`,
//! `AZURE_*`), takes the caller's `object_store` config keys on top, and gets the same retry
//! policy. Create-only puts (`PutMode::Create`, what `Store::put_new` relies on) are native on
//! GCS (`x-goog-if-generation-match: 0`) and Azure (`If-None-Match: *`); S3 is told to use
//! `If-None-Match` / `If-Match` conditional requests.

use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey, S3ConditionalPut};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::{ObjectStore, RetryConfig};

use crate::error::StoreError;
use crate::location::StoreLocation;

/// Retries of transient failures: exponential backoff from 250 ms to 15 s, for up to five
/// minutes, so a storage outage of a few minutes delays a run instead of failing it.
pub(crate) fn retry_config() -> RetryConfig {
    RetryConfig {
        backoff: object_store::BackoffConfig {
            init_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(15),
            base: 2.0,
        },
        max_retries: 40,
        retry_timeout: Duration::from_secs(5 * 60),
    }
}

/// Builds the backend for `location` with `options` (`object_store` config keys) on top of the
/// environment; returns it with the location as the store will report it (local roots made
/// absolute).
///
/// Errors name the location and, for options, only the key: option values may be secrets.
pub(crate) fn open_backend(
    location: StoreLocation,
    options: Vec<(String, String)>,
) -> Result<(Arc<dyn ObjectStore>, StoreLocation), StoreError> {
    let config = |reason: String| StoreError::Config { location: location.to_string(), reason };
    let unknown = |backend: &str, key: &str| config(format!("unknown {backend} option `{key}`"));
    let store: Arc<dyn ObjectStore> = match &location {
        StoreLocation::Local(root) => {
            std::fs::create_dir_all(root).map_err(|error| config(error.to_string()))?;
            let root = std::path::absolute(root).map_err(|error| config(error.to_string()))?;
            let store = LocalFileSystem::new_with_prefix(&root).map_err(|error| config(error.to_string()))?;
            return Ok((Arc::new(store), StoreLocation::Local(root)));
        }
        StoreLocation::Memory => Arc::new(InMemory::new()),
        StoreLocation::S3 { bucket } => {
            let mut builder = AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .with_conditional_put(S3ConditionalPut::ETagMatch)
                .with_retry(retry_config());
            for (key, value) in options {
                let parsed: AmazonS3ConfigKey = key.parse().map_err(|_| unknown("S3", &key))?;
                builder = builder.with_config(parsed, value);
            }
            Arc::new(builder.build().map_err(|error| config(error.to_string()))?)
        }
        StoreLocation::Gcs { bucket } => {
            let mut builder = GoogleCloudStorageBuilder::from_env().with_bucket_name(bucket).with_retry(retry_config());
            for (key, value) in options {
                let parsed: GoogleConfigKey = key.parse().map_err(|_| unknown("GCS", &key))?;
                builder = builder.with_config(parsed, value);
            }
            Arc::new(builder.build().map_err(|error| config(error.to_string()))?)
        }
        StoreLocation::Azure { container } => {
            let mut builder =
                MicrosoftAzureBuilder::from_env().with_container_name(container).with_retry(retry_config());
            for (key, value) in options {
                let parsed: AzureConfigKey = key.parse().map_err(|_| unknown("Azure", &key))?;
                builder = builder.with_config(parsed, value);
            }
            Arc::new(builder.build().map_err(|error| config(error.to_string()))?)
        }
    };
    Ok((store, location))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "c2VjcmV0LXZhbHVlLXRoYXQtbXVzdC1ub3QtbGVhaw==";

    fn options(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(key, value)| ((*key).to_owned(), (*value).to_owned())).collect()
    }

    #[test]
    fn builds_cloud_backends_from_options() {
        let gcs = StoreLocation::Gcs { bucket: "b".into() };
        let gcs_options = options(&[("google_base_url", "http://127.0.0.1:1"), ("google_skip_signature", "true")]);
        assert!(open_backend(gcs, gcs_options).is_ok());
        let azure = StoreLocation::Azure { container: "c".into() };
        let azure_options = options(&[
            ("azure_storage_account_name", "account"),
            ("azure_storage_account_key", SECRET),
            ("azure_storage_endpoint", "http://127.0.0.1:1/account"),
            ("azure_allow_http", "true"),
        ]);
        assert!(open_backend(azure, azure_options).is_ok());
    }

    #[test]
    fn unknown_options_name_the_key_not_the_value() {
        for location in [
            StoreLocation::S3 { bucket: "b".into() },
            StoreLocation::Gcs { bucket: "b".into() },
            StoreLocation::Azure { container: "c".into() },
        ] {
            let error = open_backend(location.clone(), options(&[("no_such_option", SECRET)])).err().unwrap();
            let text = error.to_string();
            assert!(text.contains("no_such_option") && text.contains(&location.to_string()), "{text}");
            assert!(!text.contains(SECRET), "{text}");
        }
    }
}
