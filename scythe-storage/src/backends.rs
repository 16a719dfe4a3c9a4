//! Building the `object_store` behind a [`Store`](crate::Store) for each [`StoreLocation`].
//!
//! Every cloud backend starts from its standard environment variables (`AWS_*`, `GOOGLE_*`,
//! `AZURE_*`), takes the caller's `object_store` config keys on top, and gets the same retry
//! policy. Create-only puts (`PutMode::Create`, what `Store::put_new` relies on) are native on
//! GCS (`x-goog-if-generation-match: 0`) and Azure (`If-None-Match: *`); S3 is told to use
//! `If-None-Match` / `If-Match` conditional requests.

use std::sync::Arc;
use std::time::Duration;

use object_store::ObjectStore;
#[cfg(feature = "aws")]
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey, S3ConditionalPut};
#[cfg(feature = "azure")]
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
#[cfg(feature = "gcp")]
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
#[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
use object_store::{BackoffConfig, RetryConfig};

use crate::error::StoreError;
use crate::location::StoreLocation;

/// How long a failing request is retried by default: storage outages of a few minutes delay a
/// run instead of failing it.
pub const DEFAULT_RETRY_WINDOW: Duration = Duration::from_secs(5 * 60);

/// Backoff between retries: exponential from 250 ms to 15 s.
#[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
const BACKOFF: BackoffConfig =
    BackoffConfig { init_backoff: Duration::from_millis(250), max_backoff: Duration::from_secs(15), base: 2.0 };

/// Retries of transient failures for `window` with Scythe's backoff.
#[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
fn retry_config(window: Duration) -> RetryConfig {
    retry_config_with(window, BACKOFF)
}

/// Retries for `window`, however many attempts that takes: object_store stops at whichever of
/// its attempt count and its timeout comes first, so the count is set out of reach.
#[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
fn retry_config_with(window: Duration, backoff: BackoffConfig) -> RetryConfig {
    RetryConfig { backoff, max_retries: usize::MAX, retry_timeout: window }
}

/// Builds the backend for `location` with `options` (`object_store` config keys) on top of the
/// environment, retrying transient cloud failures for `retry_window`; returns it with the
/// location as the store will report it (local roots made absolute).
///
/// Errors name the location and, for options, only the key: option values may be secrets.
pub(crate) fn open_backend(
    location: StoreLocation,
    options: Vec<(String, String)>,
    retry_window: Duration,
) -> Result<(Arc<dyn ObjectStore>, StoreLocation), StoreError> {
    let config = |reason: String| StoreError::Config { location: location.to_string(), reason };
    match &location {
        StoreLocation::Local(root) => {
            std::fs::create_dir_all(root).map_err(|error| config(error.to_string()))?;
            let root = std::path::absolute(root).map_err(|error| config(error.to_string()))?;
            let store = LocalFileSystem::new_with_prefix(&root).map_err(|error| config(error.to_string()))?;
            Ok((Arc::new(store), StoreLocation::Local(root)))
        }
        StoreLocation::Memory => Ok((Arc::new(InMemory::new()), location)),
        #[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
        _ => Ok((open_cloud(&location, options, retry_config(retry_window))?, location)),
        #[cfg(not(any(feature = "aws", feature = "gcp", feature = "azure")))]
        cloud => {
            let _ = (options, retry_window);
            Err(config(not_built_in(cloud)))
        }
    }
}

/// The cloud backend for `location`, or the error that its feature is not built in.
#[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
fn open_cloud(
    location: &StoreLocation,
    options: Vec<(String, String)>,
    retry: RetryConfig,
) -> Result<Arc<dyn ObjectStore>, StoreError> {
    let config = |reason: String| StoreError::Config { location: location.to_string(), reason };
    let unknown = |backend: &str, key: &str| config(format!("unknown {backend} option `{key}`"));
    match location {
        #[cfg(feature = "aws")]
        StoreLocation::S3 { bucket } => {
            let mut builder = AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .with_conditional_put(S3ConditionalPut::ETagMatch)
                .with_retry(retry);
            for (key, value) in options {
                let parsed: AmazonS3ConfigKey = key.parse().map_err(|_| unknown("S3", &key))?;
                builder = builder.with_config(parsed, value);
            }
            Ok(Arc::new(builder.build().map_err(|error| config(error.to_string()))?))
        }
        #[cfg(feature = "gcp")]
        StoreLocation::Gcs { bucket } => {
            let mut builder = GoogleCloudStorageBuilder::from_env().with_bucket_name(bucket).with_retry(retry);
            for (key, value) in options {
                let parsed: GoogleConfigKey = key.parse().map_err(|_| unknown("GCS", &key))?;
                builder = builder.with_config(parsed, value);
            }
            Ok(Arc::new(builder.build().map_err(|error| config(error.to_string()))?))
        }
        #[cfg(feature = "azure")]
        StoreLocation::Azure { container } => {
            let mut builder = MicrosoftAzureBuilder::from_env().with_container_name(container).with_retry(retry);
            for (key, value) in options {
                let parsed: AzureConfigKey = key.parse().map_err(|_| unknown("Azure", &key))?;
                builder = builder.with_config(parsed, value);
            }
            Ok(Arc::new(builder.build().map_err(|error| config(error.to_string()))?))
        }
        other => Err(config(not_built_in(other))),
    }
}

/// Why a cloud location cannot be opened by this build, and how to fix it.
fn not_built_in(location: &StoreLocation) -> String {
    let feature = match location {
        StoreLocation::S3 { .. } => "aws",
        StoreLocation::Gcs { .. } => "gcp",
        StoreLocation::Azure { .. } => "azure",
        StoreLocation::Local(_) | StoreLocation::Memory => "",
    };
    format!(
        "this program was built without the `{feature}` feature of scythe; add it to your \
         Cargo.toml: scythe = {{ version = \"0.1\", features = [\"{feature}\"] }}"
    )
}

#[cfg(test)]
mod feature_tests {
    use super::*;

    #[test]
    fn a_backend_left_out_of_the_build_names_the_feature_to_add() {
        let text = not_built_in(&StoreLocation::Gcs { bucket: "b".into() });
        assert!(text.contains("`gcp` feature") && text.contains(r#"features = ["gcp"]"#), "{text}");
    }
}

#[cfg(test)]
#[cfg(all(feature = "aws", feature = "gcp", feature = "azure"))]
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
        assert!(open_backend(gcs, gcs_options, DEFAULT_RETRY_WINDOW).is_ok());
        let azure = StoreLocation::Azure { container: "c".into() };
        let azure_options = options(&[
            ("azure_storage_account_name", "account"),
            ("azure_storage_account_key", SECRET),
            ("azure_storage_endpoint", "http://127.0.0.1:1/account"),
            ("azure_allow_http", "true"),
        ]);
        assert!(open_backend(azure, azure_options, DEFAULT_RETRY_WINDOW).is_ok());
    }

    /// A port on 127.0.0.1 that refuses connections (bound once, then released).
    fn refused_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }

    #[tokio::test]
    async fn a_server_down_for_good_is_retried_for_the_window_not_a_count() {
        // With a 1–4 ms backoff, the old limit of 40 retries ran out in a fraction of a second;
        // the window must hold however many attempts fit in it.
        let fast = object_store::BackoffConfig {
            init_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(4),
            base: 2.0,
        };
        let window = Duration::from_millis(1500);
        let s3 = StoreLocation::S3 { bucket: "b".into() };
        let endpoint = format!("http://127.0.0.1:{}", refused_port());
        let s3_options = options(&[
            ("aws_endpoint", &endpoint),
            ("aws_access_key_id", "key"),
            ("aws_secret_access_key", SECRET),
            ("aws_region", "us-east-1"),
            ("aws_allow_http", "true"),
        ]);
        let store = open_cloud(&s3, s3_options, retry_config_with(window, fast)).unwrap();
        let started = std::time::Instant::now();
        let error = object_store::ObjectStoreExt::get(&store, &object_store::path::Path::from("k")).await.unwrap_err();
        let elapsed = started.elapsed();
        assert!(elapsed >= window, "gave up after {elapsed:?}, before the {window:?} window: {error}");
        let text = error.to_string();
        let retries: usize = text
            .split("after ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no retry count in {text}"));
        assert!(retries > 40, "only {retries} retries in the window: {text}");
        assert!(!text.contains(SECRET), "{text}");
    }

    #[test]
    fn unknown_options_name_the_key_not_the_value() {
        for location in [
            StoreLocation::S3 { bucket: "b".into() },
            StoreLocation::Gcs { bucket: "b".into() },
            StoreLocation::Azure { container: "c".into() },
        ] {
            let error = open_backend(location.clone(), options(&[("no_such_option", SECRET)]), DEFAULT_RETRY_WINDOW)
                .err()
                .unwrap();
            let text = error.to_string();
            assert!(text.contains("no_such_option") && text.contains(&location.to_string()), "{text}");
            assert!(!text.contains(SECRET), "{text}");
        }
    }
}
