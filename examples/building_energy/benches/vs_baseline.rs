//! Embedded scatter→gather versus a hand-written baseline, on 10,000 building-energy specs.
//!
//! Unlike the no-op benchmark (`cargo bench --bench embedded` at the workspace root), each spec
//! here does real work: a building-year of the hourly RC model (`experiment::simulate`), so
//! what is measured is how close Scythe gets to the physical limit on a realistic experiment.
//!
//! - **baseline**: read the specs Parquet with parquet's Arrow reader, decode the rows into
//!   `BuildingInput`s with `serde_arrow`, call the same `simulate` function in a rayon
//!   `par_iter` (each call gets a `TaskContext` of its own, as Scythe gives it), encode the
//!   outputs with `serde_arrow` and write, with arrow's `ArrowWriter` and Scythe's writer
//!   settings (`scythe_storage::final_writer_properties`, 128 Ki-row row groups), the three
//!   tables Scythe's gather fills: `scalars.pq` (the scalar outputs), `result_file_refs.pq`
//!   (the `hourly` file column) and `monthly.pq` (the `monthly` rows flattened, with a
//!   `sort_subindex`), each followed by the `experiment_id`, `sort_index` and spec columns.
//! - **scythe**: `Scythe::scatter::<simulate>` on the same specs file into a fresh local store,
//!   with as many workers as rayon has threads (the number of CPUs).
//!
//! The specs are `experiment::sample(n, 0)` (what `scatter simulate --sample n` runs), with
//! the bundled weather files as local paths, written once as a snappy Parquet file. Every spec
//! has `hourly_trace = false` (the sampler asks for a trace on every tenth), so neither variant
//! writes trace files and both do the same work: the comparison is about running and
//! collecting specs, not about copying CSV files.
//!
//! Each variant runs in a child process of this binary (re-executed with
//! `SCYTHE_BENCH_CHILD=baseline|scythe`), so its peak resident memory (`VmHWM`) is its own;
//! wall time is measured inside the child, from opening the specs to the output being closed.
//! Variants alternate order across repetitions. The table shows min and median wall time, the
//! peak memory of each, the time split and, last, `ratio scythe/baseline = X.XX (target <=
//! 1.25)`, the ratio of the median wall times. Missing the target never fails the benchmark; it
//! exits non-zero only if it could not run. The load average is printed before and after:
//! other work on the machine skews the figures.
//!
//! ```text
//! cargo bench -p building-energy --bench vs_baseline
//! SCYTHE_BENCH_SPECS=2000 SCYTHE_BENCH_REPS=5 cargo bench -p building-energy --bench vs_baseline
//! ```
//!
//! `SCYTHE_BENCH_SPECS` sets the number of specs (default 10,000), `SCYTHE_BENCH_REPS` the
//! repetitions of each variant (default 3), `RAYON_NUM_THREADS` the threads of both variants
//! (default: the number of CPUs). Temporary files go to `TMPDIR`.

#[path = "../../../benches/support/measure.rs"]
mod measure;

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray, UInt32Array, UInt64Array};
use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use building_energy::experiment::{BuildingInput, BuildingOutput, sample, simulate};
use measure::Measurement;
use parquet::arrow::ArrowWriter;
use rayon::prelude::*;
use scythe::TaskContext;
use serde_arrow::schema::{SchemaLike, TracingOptions};

/// The sampler's seed (the CLI's default `--seed`).
const SEED: u64 = 0;
/// Rows per row group of the output (as Scythe's final tables).
const OUTPUT_ROW_GROUP: usize = 128 * 1024;
/// The output field holding the monthly rows (its own table).
const MONTHLY: &str = "monthly";
/// The output field naming the hourly trace file (the file-refs table).
const HOURLY: &str = "hourly";

/// This benchmark: 10,000 specs by default, their file's size in KiB, the rest as
/// [`measure::Bench`]'s defaults.
#[derive(Default)]
struct VsBaseline;

impl measure::Bench for VsBaseline {
    type Experiment = simulate;
    const NAME: &'static str = "building-energy";
    const COUNT: (&'static str, usize) = ("SCYTHE_BENCH_SPECS", 10_000);
    const SPECS_SIZE_UNIT: &'static str = "KiB";

    /// Writes `sample(n, SEED)`, without hourly traces, with the input schema Scythe derives,
    /// as `scatter --sample` would see them.
    fn write_specs(path: &Path, n: usize) -> anyhow::Result<()> {
        let specs: Vec<BuildingInput> =
            sample(n, SEED).into_iter().map(|spec| BuildingInput { hourly_trace: false, ..spec }).collect();
        let input = scythe::DataSchema::of::<BuildingInput>()?;
        let schema = Arc::new(Schema::new(input.fields().to_vec()));
        let batches =
            specs.chunks(measure::BATCH_ROWS).map(|chunk| Ok(serde_arrow::to_record_batch(input.fields(), &chunk)?));
        measure::write_specs(path, schema, batches)
    }

    /// The hand-written job: read, decode, simulate in parallel, encode, write three tables.
    fn baseline(batches: &[RecordBatch], started: Instant, out_dir: &Path) -> anyhow::Result<Measurement> {
        // Stands in for Scythe's run id, which every output row carries (same length).
        let experiment_id: Arc<str> = Arc::from("simulate/v1.0.0/2025-01-01_00-00-00");
        let scratch_root: Arc<Path> = Arc::from(out_dir.join("scratch"));
        let options = TracingOptions::default().allow_null_fields(true).strings_as_large_utf8(false);
        let output_fields = Vec::<FieldRef>::from_type::<BuildingOutput>(options.sequence_as_large_list(false))?;
        let mut inputs: Vec<BuildingInput> = Vec::new();
        for batch in batches {
            inputs.extend(serde_arrow::from_record_batch::<Vec<BuildingInput>>(batch)?);
        }
        let read = started.elapsed();

        let outputs: Vec<BuildingOutput> = inputs
            .into_par_iter()
            .enumerate()
            .map(|(sort_index, input)| {
                let ctx = TaskContext::new(Arc::clone(&experiment_id), sort_index as u64, 0, Arc::clone(&scratch_root));
                simulate(input, &ctx).with_context(|| format!("simulating spec {sort_index}"))
            })
            .collect::<anyhow::Result<_>>()?;
        let run = started.elapsed().saturating_sub(read);

        let mut tables = OutputTables::default();
        let mut offset = 0usize;
        for batch in batches {
            let n = batch.num_rows();
            let chunk = outputs.get(offset..offset + n).context("fewer outputs than specs")?;
            let encoded = serde_arrow::to_record_batch(&output_fields, &chunk)?;
            let sort_indexes: ArrayRef = Arc::new(UInt64Array::from_iter_values(offset as u64..(offset + n) as u64));
            let index = IndexColumns { experiment_id: &experiment_id, sort_indexes: &sort_indexes, specs: batch };
            tables.write(out_dir, &encoded, &index)?;
            offset += n;
        }
        let rows = tables.close()?;
        let wall = started.elapsed();
        let stages =
            [("read+decode specs", read), ("simulate", run), ("encode+write output", wall.saturating_sub(read + run))];
        Ok(Measurement::new(wall, rows, stages))
    }
}

fn main() -> ExitCode {
    measure::main::<VsBaseline>()
}

/// The columns every output table ends with, for one batch of specs.
struct IndexColumns<'a> {
    experiment_id: &'a str,
    sort_indexes: &'a ArrayRef,
    specs: &'a RecordBatch,
}

impl IndexColumns<'_> {
    /// `experiment_id`, `sort_index` and the spec columns of the specs at `rows` (every spec
    /// in order when `None`), appended to `fields` and `columns`.
    fn append(
        &self,
        rows: Option<&UInt32Array>,
        fields: &mut Vec<FieldRef>,
        columns: &mut Vec<ArrayRef>,
    ) -> anyhow::Result<()> {
        let pick = |column: &ArrayRef| -> anyhow::Result<ArrayRef> {
            Ok(match rows {
                Some(rows) => arrow::compute::take(column.as_ref(), rows, None)?,
                None => Arc::clone(column),
            })
        };
        let n = rows.map_or(self.specs.num_rows(), Array::len);
        fields.push(Arc::new(Field::new("experiment_id", DataType::Utf8, false)));
        columns.push(Arc::new(StringArray::from_iter_values(std::iter::repeat_n(self.experiment_id, n))));
        fields.push(Arc::new(Field::new("sort_index", DataType::UInt64, false)));
        columns.push(pick(self.sort_indexes)?);
        fields.extend(self.specs.schema().fields().iter().cloned());
        for column in self.specs.columns() {
            columns.push(pick(column)?);
        }
        Ok(())
    }
}

/// The writers of `scalars.pq`, `result_file_refs.pq` and `monthly.pq`, opened on first use.
#[derive(Default)]
struct OutputTables {
    scalars: Option<ArrowWriter<BufWriter<File>>>,
    file_refs: Option<ArrowWriter<BufWriter<File>>>,
    monthly: Option<ArrowWriter<BufWriter<File>>>,
}

impl OutputTables {
    /// Splits one batch of encoded outputs into the three tables and writes them.
    fn write(&mut self, out_dir: &Path, outputs: &RecordBatch, index: &IndexColumns<'_>) -> anyhow::Result<()> {
        let output_schema = outputs.schema();

        // Scalars: every output column but the table and the file.
        let (mut fields, mut columns) = (Vec::new(), Vec::new());
        for (field, column) in output_schema.fields().iter().zip(outputs.columns()) {
            if field.name() != MONTHLY && field.name() != HOURLY {
                fields.push(Arc::clone(field));
                columns.push(Arc::clone(column));
            }
        }
        index.append(None, &mut fields, &mut columns)?;
        write_batch(&mut self.scalars, out_dir, "scalars.pq", fields, columns)?;

        // File refs: the `hourly` column.
        let (hourly_index, hourly_field) = output_schema.column_with_name(HOURLY).context("no `hourly` output")?;
        let (mut fields, mut columns) =
            (vec![Arc::new(hourly_field.clone())], vec![outputs.column(hourly_index).clone()]);
        index.append(None, &mut fields, &mut columns)?;
        write_batch(&mut self.file_refs, out_dir, "result_file_refs.pq", fields, columns)?;

        // Monthly: one row per list item, then its position in the list.
        let list = outputs.column_by_name(MONTHLY).context("no `monthly` output")?.as_list::<i32>();
        let (mut parents, mut subindexes) = (Vec::new(), Vec::new());
        for (row, window) in list.value_offsets().windows(2).enumerate() {
            for sub in 0..(window[1] - window[0]) {
                parents.push(row as u32);
                subindexes.push(sub as u32);
            }
        }
        let items = list.values().as_struct();
        let first = *list.value_offsets().first().context("the monthly column has no offsets")? as usize;
        let items = items.slice(first, parents.len());
        let mut fields: Vec<FieldRef> = items.fields().iter().cloned().collect();
        let mut columns: Vec<ArrayRef> = items.columns().to_vec();
        index.append(Some(&UInt32Array::from(parents)), &mut fields, &mut columns)?;
        fields.push(Arc::new(Field::new("sort_subindex", DataType::UInt32, false)));
        columns.push(Arc::new(UInt32Array::from(subindexes)));
        write_batch(&mut self.monthly, out_dir, "monthly.pq", fields, columns)
    }

    /// Closes the three files; returns the rows of `scalars.pq`.
    fn close(self) -> anyhow::Result<u64> {
        let mut scalar_rows = 0;
        for (name, writer) in [("scalars", self.scalars), ("file refs", self.file_refs), ("monthly", self.monthly)] {
            let Some(writer) = writer else { bail!("the specs file has no rows") };
            let rows = writer.close().with_context(|| format!("writing the {name} table"))?.file_metadata().num_rows();
            if name == "scalars" {
                scalar_rows = u64::try_from(rows)?;
            }
        }
        Ok(scalar_rows)
    }
}

/// Writes one batch to `writer`, creating `out_dir/name` with Scythe's final-table settings
/// on the first call.
fn write_batch(
    writer: &mut Option<ArrowWriter<BufWriter<File>>>,
    out_dir: &Path,
    name: &str,
    fields: Vec<FieldRef>,
    columns: Vec<ArrayRef>,
) -> anyhow::Result<()> {
    let schema: SchemaRef = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(Arc::clone(&schema), columns)?;
    let writer = match writer {
        Some(writer) => writer,
        None => {
            let path = out_dir.join(name);
            let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
            // Exactly the settings Scythe's final tables use.
            let properties = scythe_storage::final_writer_properties(&[], OUTPUT_ROW_GROUP);
            writer.insert(ArrowWriter::try_new(BufWriter::new(file), schema, Some(properties))?)
        }
    };
    writer.write(&batch)?;
    Ok(())
}
