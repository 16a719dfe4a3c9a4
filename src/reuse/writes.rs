//! Small Parquet objects written a few at once, encoding on the runtime's threads: the index
//! shards and keys files of the result cache.

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use scythe_storage::{Store, StoreError};
use tokio::task::JoinSet;

use crate::error::Error;

/// Writes in flight, at most `at_once`; [`Writes::finish`] waits for the rest.
pub(super) struct Writes {
    running: JoinSet<Result<(), StoreError>>,
    at_once: usize,
}

impl Writes {
    /// Up to `at_once` writes at a time.
    pub(super) fn new(at_once: usize) -> Self {
        Self { running: JoinSet::new(), at_once: at_once.max(1) }
    }

    /// Starts writing `batch` as the object `key`, first waiting for a write to end if
    /// `at_once` are running.
    pub(super) async fn put(
        &mut self,
        store: &Store,
        key: String,
        schema: SchemaRef,
        batch: RecordBatch,
    ) -> Result<(), Error> {
        if self.running.len() >= self.at_once {
            self.finish_one().await?;
        }
        let store = store.clone();
        self.running.spawn(async move { store.put_parquet(&key, schema, &[batch], &[]).await });
        Ok(())
    }

    /// Waits for every write (the first error is returned; the others are dropped, which is
    /// safe: each object is written whole or not at all, with the same content on a retry).
    pub(super) async fn finish(mut self) -> Result<(), Error> {
        while !self.running.is_empty() {
            self.finish_one().await?;
        }
        Ok(())
    }

    async fn finish_one(&mut self) -> Result<(), Error> {
        match self.running.join_next().await {
            Some(Ok(written)) => Ok(written?),
            Some(Err(error)) => Err(Error::Internal(format!("a write of the result cache: {error}"))),
            None => Ok(()),
        }
    }
}
