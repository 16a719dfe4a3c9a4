//! Shared helpers of the integration tests.

pub(crate) mod s3_server;
