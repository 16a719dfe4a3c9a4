//! Embedded scatter→gather versus a hand-written baseline, on one million no-op specs.
//!
//! The experiment does (almost) nothing, so what is measured is Scythe's own overhead: reading
//! and validating the specs, allocating the run, decoding, running and persisting every spec,
//! and gathering the final table. The baseline is what one would write by hand for the same job,
//! the physical limit Scythe is compared against:
//!
//! - **baseline**: read the same specs Parquet with parquet's Arrow reader, decode each batch
//!   with `serde_arrow`, call the same `noop` function in a rayon `par_iter` loop, encode the
//!   outputs with `serde_arrow` and write one output Parquet with arrow's `ArrowWriter`, with the
//!   columns (`y`, then `experiment_id`, `sort_index`, `a`, `b`) and writer settings
//!   (`scythe_storage::final_writer_properties`, 128 Ki-row row groups) of Scythe's
//!   `final/scalars.pq`.
//! - **scythe**: `Scythe::scatter::<noop>` on the same specs file into a fresh local store, with
//!   as many workers as rayon has threads (the number of CPUs).
//!
//! The specs file is generated once. Each variant then runs in a child process of this binary
//! (re-executed with `SCYTHE_BENCH_CHILD=baseline|scythe`), so its peak resident memory
//! (`VmHWM`) is its own; wall time is measured inside the child, from opening the specs to the
//! output being closed. Variants alternate order across repetitions. The table shows min and
//! median wall time, the peak memory of each, Scythe's time split and, last,
//! `ratio scythe/baseline = X.XX (target <= 1.25)`, the ratio of the median wall times. Missing
//! the target never fails the benchmark; it exits non-zero only if it could not run. The load
//! average is printed before and after: other work on the machine skews the figures.
//!
//! ```text
//! cargo bench --bench embedded
//! SCYTHE_BENCH_SPECS=100000 SCYTHE_BENCH_REPS=5 cargo bench --bench embedded
//! ```
//!
//! `SCYTHE_BENCH_SPECS` sets the number of specs (default 1,000,000), `SCYTHE_BENCH_REPS` the
//! repetitions of each variant (default 3), `RAYON_NUM_THREADS` the threads of both variants
//! (default: the number of CPUs). Temporary files go to `TMPDIR`.

#[path = "support/measure.rs"]
mod measure;
#[path = "support/noop_experiment.rs"]
mod noop_experiment;

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use arrow::array::{RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, FieldRef, Schema};
use measure::Measurement;
use noop_experiment::{NoopInput, NoopOutput, noop};
use parquet::arrow::ArrowWriter;
use rayon::prelude::*;
use serde_arrow::schema::{SchemaLike, TracingOptions};

/// Rows per row group of the output (as Scythe's final tables).
const OUTPUT_ROW_GROUP: usize = 128 * 1024;

/// The no-op benchmark: one million specs by default, the rest as [`measure::Bench`]'s defaults.
#[derive(Default)]
struct Embedded;

impl measure::Bench for Embedded {
    type Experiment = noop;
    const NAME: &'static str = "embedded";
    const SPECS: &'static str = "no-op specs";
    const COUNT: (&'static str, usize) = ("SCYTHE_BENCH_SPECS", 1_000_000);

    fn write_specs(path: &Path, n: usize) -> anyhow::Result<()> {
        noop_experiment::write_specs(path, n)
    }

    /// The hand-written job: read, decode, run in parallel, encode, write.
    fn baseline(batches: &[RecordBatch], started: Instant, out_dir: &Path) -> anyhow::Result<Measurement> {
        // Stands in for Scythe's run id, which every output row carries (same length).
        let experiment_id = "noop/v1.0.0/2025-01-01_00-00-00";
        let output_fields = Vec::<FieldRef>::from_type::<NoopOutput>(TracingOptions::default())?;
        let mut offsets = Vec::with_capacity(batches.len());
        let mut rows = 0u64;
        for batch in batches {
            offsets.push(rows);
            rows += batch.num_rows() as u64;
        }
        let read = started.elapsed();

        let outputs: Vec<RecordBatch> = batches
            .par_iter()
            .zip(offsets.par_iter())
            .map(|(batch, &offset)| -> anyhow::Result<RecordBatch> {
                let inputs: Vec<NoopInput> = serde_arrow::from_record_batch(batch)?;
                let outputs: Vec<NoopOutput> = inputs.into_iter().map(noop).collect();
                let encoded = serde_arrow::to_record_batch(&output_fields, &outputs)?;
                let n = batch.num_rows();
                let mut columns = encoded.columns().to_vec();
                columns.push(Arc::new(StringArray::from_iter_values(std::iter::repeat_n(experiment_id, n))));
                columns.push(Arc::new(UInt64Array::from_iter_values(offset..offset + n as u64)));
                columns.extend(batch.columns().iter().cloned());
                let mut fields = output_fields.clone();
                fields.push(Arc::new(Field::new("experiment_id", DataType::Utf8, false)));
                fields.push(Arc::new(Field::new("sort_index", DataType::UInt64, false)));
                fields.extend(batch.schema().fields().iter().cloned());
                Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?)
            })
            .collect::<anyhow::Result<_>>()?;
        let run = started.elapsed().saturating_sub(read);

        let Some(first) = outputs.first() else { bail!("the specs file has no rows") };
        let path = out_dir.join("scalars.pq");
        let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        // Exactly the settings Scythe's final tables use.
        let properties = scythe_storage::final_writer_properties(&[], OUTPUT_ROW_GROUP);
        let mut writer = ArrowWriter::try_new(BufWriter::new(file), first.schema(), Some(properties))?;
        for batch in &outputs {
            writer.write(batch)?;
        }
        let written = writer.close().context("writing the output")?.file_metadata().num_rows();
        let wall = started.elapsed();
        let stages =
            [("read specs", read), ("decode+run+encode", run), ("write output", wall.saturating_sub(read + run))];
        Ok(Measurement::new(wall, u64::try_from(written)?, stages))
    }
}

fn main() -> ExitCode {
    measure::main::<Embedded>()
}
