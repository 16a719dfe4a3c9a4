//! The no-op experiment of the root benchmarks (`embedded`, `gather_memory`) and its specs.
//!
//! Included by both with `#[path = "support/noop_experiment.rs"] mod noop_experiment;`, next
//! to `mod measure;` (whose [`measure::write_specs`] writes the specs file); both use every
//! item here. It is a file of its own because the building-energy benchmark, which includes
//! `measure.rs` too, has no use for it.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::measure;

/// The input of the no-op experiment.
#[derive(Serialize, Deserialize, JsonSchema)]
pub(crate) struct NoopInput {
    /// A float.
    a: f64,
    /// An integer.
    b: i64,
}

/// The output of the no-op experiment.
#[derive(Serialize, Deserialize, JsonSchema)]
pub(crate) struct NoopOutput {
    /// `a + b`.
    y: f64,
}

/// Adds the two inputs: as close to no work as an experiment gets.
#[scythe::experiment]
pub(crate) fn noop(input: NoopInput) -> NoopOutput {
    NoopOutput { y: input.a + input.b as f64 }
}

/// Writes `n` specs `{a: i / 2, b: i}` as a snappy Parquet file (pyarrow's default).
pub(crate) fn write_specs(path: &Path, n: usize) -> anyhow::Result<()> {
    let schema =
        Arc::new(Schema::new(vec![Field::new("a", DataType::Float64, false), Field::new("b", DataType::Int64, false)]));
    let batches = (0..n).step_by(measure::BATCH_ROWS).map(|start| {
        let rows = start..(start + measure::BATCH_ROWS).min(n);
        let a: ArrayRef = Arc::new(Float64Array::from_iter_values(rows.clone().map(|i| i as f64 / 2.0)));
        let b: ArrayRef = Arc::new(Int64Array::from_iter_values(rows.map(|i| i as i64)));
        Ok(RecordBatch::try_new(Arc::clone(&schema), vec![a, b])?)
    });
    measure::write_specs(path, Arc::clone(&schema), batches)
}
