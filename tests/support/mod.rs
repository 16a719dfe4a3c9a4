//! Shared helpers of the integration tests.

#![allow(dead_code)]

pub(crate) mod bin;
pub(crate) mod counted;
pub(crate) mod http_server;
pub(crate) mod require;
pub(crate) mod s3_server;
pub(crate) mod tables;
pub(crate) mod workdir;
