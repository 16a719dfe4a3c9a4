//! Turning an `object_store` error into a [`StoreError`]: a missing bucket or container is told
//! from a missing object, since the fix differs (create the bucket, or check the key).

use crate::error::StoreError;
use crate::location::StoreLocation;

/// What a failed request did: a 404 on a write can only mean a missing bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// A read or a listing.
    Read,
    /// A write.
    Write,
}

/// Error codes in response bodies that mean the bucket or container is missing: Azure, S3 and
/// GCS's XML API.
const MISSING_BUCKET_CODES: [&str; 3] = ["ContainerNotFound", "NoSuchBucket", "The specified bucket does not exist"];

/// Classifies a backend error on `uri` in `location`.
pub(crate) fn classify(
    location: &StoreLocation,
    uri: String,
    access: Access,
    source: object_store::Error,
) -> StoreError {
    let cloud = !matches!(location, StoreLocation::Local(_) | StoreLocation::Memory);
    let missing_bucket = cloud
        && match &source {
            object_store::Error::NotFound { .. } if access == Access::Write => true,
            object_store::Error::NotFound { .. } | object_store::Error::Generic { .. } => {
                let text = source.to_string();
                MISSING_BUCKET_CODES.iter().any(|code| text.contains(code))
            }
            _ => false,
        };
    if missing_bucket {
        return StoreError::MissingBucket { location: location.to_string(), uri };
    }
    match source {
        object_store::Error::NotFound { .. } => StoreError::NotFound { uri },
        object_store::Error::AlreadyExists { .. } => StoreError::AlreadyExists { uri },
        source => StoreError::Backend { uri, source },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn not_found(body: &str) -> object_store::Error {
        object_store::Error::NotFound { path: "k".into(), source: body.to_owned().into() }
    }

    #[test]
    fn tells_a_missing_bucket_from_a_missing_object() {
        let location = StoreLocation::Azure { container: "runs".into() };
        let uri = || location.uri("a/b");
        let classify = |access, error| classify(&location, uri(), access, error);
        assert!(matches!(classify(Access::Read, not_found("404")), StoreError::NotFound { .. }));
        let missing = classify(Access::Write, not_found("404"));
        assert!(matches!(&missing, StoreError::MissingBucket { location, .. } if location == "az://runs"));
        assert!(missing.to_string().contains("az://runs"), "{missing}");
        assert!(matches!(
            classify(Access::Read, not_found("<Code>ContainerNotFound</Code>")),
            StoreError::MissingBucket { .. }
        ));
        let listing = object_store::Error::Generic { store: "S3", source: "<Code>NoSuchBucket</Code>".into() };
        assert!(matches!(classify(Access::Read, listing), StoreError::MissingBucket { .. }));
        let other = object_store::Error::Generic { store: "S3", source: "500 Internal Server Error".into() };
        assert!(matches!(classify(Access::Read, other), StoreError::Backend { .. }));
    }
}
