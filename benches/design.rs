//! Time and peak memory of writing a design's specs to Parquet, at two sizes.
//!
//! `design ten --method M -n N --seed 1 --out specs.pq` (the real command, through
//! `App::run_with_args`) for the 10-field experiment of `support/ten_fields.rs`, with `lhs` and
//! `sobol`, at 1,000,000 and 10,000,000 specs, each run in a child process of its own so its
//! peak resident memory (`VmHWM`) is its own. The baseline, `arrow`, is a hand-written loop
//! that draws the same ten columns (uniform numbers, an integer, a string of four, a bool) and
//! writes them with arrow and parquet in batches, validating nothing.
//!
//! Printed: per size, each variant's wall time, specs/s, peak memory and file size, and its
//! time over the baseline's; last, the ratio of each variant's peak memory at the largest size
//! over the smallest: a design that streams stays at ≈ 1 however many specs it writes. Nothing
//! is asserted; the benchmark fails only if it could not run.
//!
//! ```text
//! cargo bench --bench design
//! SCYTHE_BENCH_SIZES=100000,1000000 cargo bench --bench design
//! ```
//!
//! Files go to `TMPDIR` (about 800 MiB for ten million specs, one at a time) and are removed.

#[path = "support/measure.rs"]
mod measure;
#[path = "support/ten_fields.rs"]
mod ten_fields;

use std::ffi::OsString;
use std::fs::File;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, ensure};
use arrow::array::{ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray, UInt32Array};
use arrow::datatypes::{DataType, Field, Schema};
use measure::{Measurement, mib};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use ten_fields::ten;

/// The sizes to write, comma-separated.
const SIZES_ENV: &str = "SCYTHE_BENCH_SIZES";
/// The size one child writes.
const SIZE_ENV: &str = "SCYTHE_BENCH_DESIGN_N";
/// The hand-written baseline, then the design methods.
const VARIANTS: [&str; 3] = ["arrow", "lhs", "sobol"];

/// This benchmark: its own parent (sizes × variants) and children.
#[derive(Default)]
struct DesignBench;

impl measure::Bench for DesignBench {
    type Experiment = ten;
    const NAME: &'static str = "design";
    const COUNT: (&'static str, usize) = (SIZES_ENV, 10_000_000);

    fn run(self) -> anyhow::Result<()> {
        let sizes = sizes()?;
        println!(
            "design → Parquet: 10 fields (7 bounded numbers, an integer, an enum, a bool), sizes {sizes:?}, each \
             run a process of its own"
        );
        println!("load average {}", measure::load_average());
        let mut peaks: Vec<Vec<u64>> = vec![Vec::new(); VARIANTS.len()];
        for &n in &sizes {
            println!();
            println!(
                "{:<18} {:>9}   {:>11}   {:>10}   {:>10}   {:>9}",
                format!("{n} specs"),
                "wall",
                "specs/s",
                "peak RSS",
                "file",
                "vs arrow"
            );
            let mut baseline = None;
            for (i, variant) in VARIANTS.iter().enumerate() {
                let env: [(&str, OsString); 2] = [(SIZE_ENV, n.to_string().into()), ("SCYTHE_LOG", "error".into())];
                let m = measure::run_child(variant, &env)?;
                ensure!(m.rows == n as u64, "the {variant} child wrote {} rows instead of {n}", m.rows);
                let wall = m.wall.as_secs_f64();
                let file_bytes: u64 = m.get("file_bytes")?;
                let versus = baseline.map_or_else(|| "–".to_owned(), |base: f64| format!("{:.2}x", wall / base));
                baseline.get_or_insert(wall);
                println!(
                    "{:<18} {wall:>7.3} s   {:>11.0}   {:>6.1} MiB   {:>6.1} MiB   {versus:>9}",
                    if i == 0 { "arrow (baseline)" } else { variant },
                    n as f64 / wall,
                    mib(m.peak_kib),
                    file_bytes as f64 / (1024.0 * 1024.0),
                );
                peaks[i].push(m.peak_kib);
            }
        }
        println!("load average at the end: {}", measure::load_average());
        let (first, last) = (sizes[0], sizes[sizes.len() - 1]);
        let ratios: Vec<String> = VARIANTS
            .iter()
            .zip(&peaks)
            .map(|(variant, peaks)| format!("{variant} {:.2}x", peaks[peaks.len() - 1] as f64 / peaks[0].max(1) as f64))
            .collect();
        println!("peak memory {last}/{first} specs: {} (bounded ⇒ ≈ 1)", ratios.join(", "));
        Ok(())
    }

    fn own_child(role: &str) -> Option<anyhow::Result<Measurement>> {
        VARIANTS.contains(&role).then(|| design_child(role))
    }
}

fn main() -> ExitCode {
    measure::main::<DesignBench>()
}

/// The sizes in [`SIZES_ENV`], by default 1,000,000 and 10,000,000.
fn sizes() -> anyhow::Result<Vec<usize>> {
    let Ok(text) = std::env::var(SIZES_ENV) else { return Ok(vec![1_000_000, 10_000_000]) };
    let sizes: Vec<usize> = text
        .split(',')
        .map(|size| size.trim().replace('_', "").parse().ok().filter(|&n| n > 0))
        .collect::<Option<_>>()
        .with_context(|| format!("{SIZES_ENV}=`{text}` is not a list of positive whole numbers"))?;
    ensure!(!sizes.is_empty(), "{SIZES_ENV} is empty");
    Ok(sizes)
}

/// One child: writes [`SIZE_ENV`] specs with `role` into a fresh folder; its wall time is the
/// writing, its rows those of the file's footer.
fn design_child(role: &str) -> anyhow::Result<Measurement> {
    let text = std::env::var(SIZE_ENV).with_context(|| format!("{SIZE_ENV} is not set"))?;
    let n: usize = text.parse().with_context(|| format!("{SIZE_ENV}=`{text}`"))?;
    let dir = tempfile::Builder::new().prefix("scythe-bench-design-").tempdir()?;
    let path = dir.path().join("specs.pq");
    let started = Instant::now();
    if role == "arrow" {
        baseline(&path, n)?;
    } else {
        let out = path.to_str().context("the temporary folder's path is not UTF-8")?;
        let args = ["bench", "design", "ten", "--method", role, "-n", &n.to_string(), "--seed", "1", "--out", out];
        // The exit code is not comparable; a failed design leaves no file, which is caught below.
        let _ = scythe::App::new().experiment::<ten>().run_with_args(args);
    }
    let wall = started.elapsed();
    let file = File::open(&path).with_context(|| format!("the {role} child wrote no {}", path.display()))?;
    let rows = ParquetRecordBatchReaderBuilder::try_new(file)?.metadata().file_metadata().num_rows();
    let file_bytes = std::fs::metadata(&path)?.len();
    let mut measurement = Measurement { wall, rows: rows as u64, ..Measurement::default() };
    measurement.fields.push(("file_bytes".to_owned(), file_bytes.to_string()));
    Ok(measurement)
}

/// The hand-written limit: the ten columns drawn with SplitMix64 and written in batches of
/// [`measure::BATCH_ROWS`] (snappy, like the design's file).
fn baseline(path: &Path, n: usize) -> anyhow::Result<()> {
    const FACING: [&str; 4] = ["north", "east", "south", "west"];
    let mut fields: Vec<Field> = (0..7).map(|i| Field::new(format!("x{i}"), DataType::Float64, false)).collect();
    fields.push(Field::new("floor_area", DataType::UInt32, false));
    fields.push(Field::new("facing", DataType::Utf8, false));
    fields.push(Field::new("heat_recovery", DataType::Boolean, false));
    let schema = Arc::new(Schema::new(fields));
    let mut state = 1u64;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let batches = (0..n).step_by(measure::BATCH_ROWS).map(|start| {
        let rows = measure::BATCH_ROWS.min(n - start);
        let mut columns: Vec<ArrayRef> = (0..7)
            .map(|_| {
                let values: Float64Array = (0..rows).map(|_| (next() >> 11) as f64 / (1u64 << 53) as f64).collect();
                Arc::new(values) as ArrayRef
            })
            .collect();
        columns.push(Arc::new((0..rows).map(|_| 40 + (next() % 1961) as u32).collect::<UInt32Array>()));
        columns.push(Arc::new((0..rows).map(|_| Some(FACING[(next() % 4) as usize])).collect::<StringArray>()));
        columns.push(Arc::new((0..rows).map(|_| Some(next() & 1 == 1)).collect::<BooleanArray>()));
        Ok(RecordBatch::try_new(Arc::clone(&schema), columns)?)
    });
    measure::write_specs(path, Arc::clone(&schema), batches)
}
