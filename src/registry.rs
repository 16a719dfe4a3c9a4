//! Registered experiments, type-erased so the CLI and engines can hold many of them.

use std::marker::PhantomData;
use std::sync::Arc;

use arrow::array::RecordBatch;
use scythe_core::schema::ExperimentSchema;
use scythe_core::validate::{SpecError, decode};
use scythe_core::{Experiment, ExperimentConfig};

use crate::error::Error;
use crate::runner::{ChunkJob, run_chunk};

/// An experiment the app knows, with its derived schemas.
pub(crate) trait Registered: Send + Sync {
    /// The experiment's schemas.
    fn schema(&self) -> &ExperimentSchema;
    /// The experiment's settings.
    fn config(&self) -> ExperimentConfig;
    /// Checks that every row of a conformed specs batch decodes into the input type.
    fn check_decode(&self, batch: &RecordBatch, first_row: u64) -> Result<(), SpecError>;
    /// Runs a chunk of specs on the current thread, persisting results as they finish.
    fn run_chunk(&self, job: ChunkJob<'_>) -> Result<(), Error>;
}

struct Registration<E> {
    schema: ExperimentSchema,
    _experiment: PhantomData<fn() -> E>,
}

impl<E: Experiment> Registered for Registration<E> {
    fn schema(&self) -> &ExperimentSchema {
        &self.schema
    }

    fn config(&self) -> ExperimentConfig {
        E::CONFIG
    }

    fn check_decode(&self, batch: &RecordBatch, first_row: u64) -> Result<(), SpecError> {
        decode::<E::Input>(batch, first_row).map(drop)
    }

    fn run_chunk(&self, job: ChunkJob<'_>) -> Result<(), Error> {
        run_chunk::<E>(&self.schema, job)
    }
}

/// Registers `E`, deriving and checking its schemas.
pub(crate) fn register<E: Experiment>() -> Result<Arc<dyn Registered>, Error> {
    let schema = ExperimentSchema::of::<E>()?;
    Ok(Arc::new(Registration::<E> { schema, _experiment: PhantomData }))
}
