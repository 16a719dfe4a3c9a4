//! Scythe's object storage: one [`Store`] over `object_store` for the local folder (default),
//! memory (tests) and cloud buckets (S3, Google Cloud Storage, Azure Blob Storage), plus streaming
//! Parquet I/O.
//!
//! Keys are `/`-separated and relative to the store's root; a run's keys come from
//! `scythe_core::layout::RunLayout`. Nothing in the layout depends on the backend.

mod backends;
mod classify;
mod error;
mod location;
mod parquet_io;
mod parquet_sink;
mod parquet_splice;
mod store;

pub use backends::DEFAULT_RETRY_WINDOW;
pub use error::StoreError;
pub use location::StoreLocation;
pub use parquet_io::{ObjectReader, ParquetFooter, ParquetStream, encode_parquet, final_writer_properties};
pub use parquet_sink::ParquetSink;
pub use parquet_splice::ParquetSplice;
pub use store::{Store, check_key};
