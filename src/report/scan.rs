//! Reads what a report shows from a run's final tables in a few streamed passes, in memory
//! that does not grow with the run (but for the columns a sensitivity analysis needs).
//!
//! Pass 1 reads `failures.pq`, `scalars.pq` and `provenance.pq`: counts, each column's range,
//! the categories of categorical inputs, a seeded reservoir sample of the rows for the scatter
//! plots, the slowest specs and the run's time span. Pass 2 reads them again for the
//! histograms, the failure rate across each numeric input and the inputs of the slowest specs.
//! Further passes read only the tables whose exact quantiles are not found yet
//! ([`ColumnScan`]).

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, TimestampMicrosecondType, UInt32Type, UInt64Type};
use futures::TryStreamExt;
use scythe_core::analysis::{ColumnScan, Histogram};
use scythe_core::design::Rng;
use scythe_core::layout::RunLayout;
use scythe_core::pandas::PANDAS_METADATA_KEY;
use scythe_core::schema::{EXPERIMENT_ID, SORT_INDEX, SORT_SUBINDEX};
use scythe_storage::{Store, StoreError};

use crate::error::Error;
use crate::parts::{FAILURES, PROVENANCE, SCALARS};
use crate::provenance::CACHED_FROM;

/// The columns of `failures.pq` that are not index columns.
const FAILURE_COLUMNS: [&str; 3] = ["error_kind", "error", "attempts"];
/// Rows per batch when streaming a final table.
const BATCH: usize = 64 * 1024;
/// Bins of each output's histogram and of the duration histogram.
pub(crate) const HISTOGRAM_BINS: usize = 30;
/// Bins of each numeric input's failure-rate chart.
pub(crate) const FAILURE_BINS: usize = 10;
/// Rows of the scatter sample: larger runs show a seeded random sample of this size.
pub(crate) const MAX_POINTS: usize = 2000;
/// Categories kept per categorical input; further values are counted as one, "other".
pub(crate) const MAX_CATEGORIES: usize = 24;
/// Slowest specs listed.
pub(crate) const SLOWEST: usize = 10;
/// The label of the category that gathers the values past [`MAX_CATEGORIES`].
pub(crate) const OTHER: &str = "(other values)";

/// Which columns of the run the sensitivity analysis needs whole, by sort index.
#[derive(Debug, Clone, Default)]
pub(crate) struct Dense {
    /// Keep every output by sort index (a Saltelli or Morris design).
    pub(crate) outputs: bool,
    /// Numeric inputs kept by sort index (a Morris design's sampled inputs).
    pub(crate) inputs: Vec<String>,
}

/// A numeric input: its range over every spec with a row, and the specs per failure bin.
#[derive(Debug, Clone)]
pub(crate) struct NumericInput {
    /// The column's name.
    pub(crate) name: String,
    /// Smallest and largest finite values (`min > max` when none).
    pub(crate) range: (f64, f64),
    /// Failed and all specs with a finite value, per bin of [`NumericInput::edges`].
    pub(crate) failed: Vec<u64>,
    /// All specs (failed or not) per bin.
    pub(crate) all: Vec<u64>,
    /// The failure bins' edges (after pass 1).
    pub(crate) edges: Vec<f64>,
    /// Values by sort index, when the analysis needs them.
    pub(crate) dense: Option<Vec<f64>>,
}

/// One value of a categorical input.
#[derive(Debug, Clone)]
pub(crate) struct Category {
    /// The value as text (`true`, `brick`, `(null)`, or [`OTHER`]).
    pub(crate) value: String,
    /// Specs with this value that failed.
    pub(crate) failed: u64,
    /// Specs with this value that have a result.
    pub(crate) succeeded: u64,
    /// Per output: the sum and count of its finite values.
    pub(crate) sums: Vec<(f64, u64)>,
}

/// A categorical input (strings, booleans, enums): one group per value.
#[derive(Debug, Clone)]
pub(crate) struct CategoricalInput {
    /// The column's name.
    pub(crate) name: String,
    /// Its values in order of appearance, at most [`MAX_CATEGORIES`] and [`OTHER`].
    pub(crate) categories: Vec<Category>,
}

/// A numeric output and its streamed statistics.
#[derive(Debug, Clone)]
pub(crate) struct Output {
    /// The column's name.
    pub(crate) name: String,
    /// Its statistics.
    pub(crate) scan: ColumnScan,
    /// Values by sort index, when the analysis needs them.
    pub(crate) dense: Option<Vec<f64>>,
}

/// One sampled row (a spec with a result): its numeric inputs, categories and outputs, in the
/// order of [`RunScan`]'s lists.
#[derive(Debug, Clone)]
pub(crate) struct SampleRow {
    pub(crate) numeric: Vec<f64>,
    pub(crate) categories: Vec<usize>,
    pub(crate) outputs: Vec<f64>,
}

/// A spec among the slowest.
#[derive(Debug, Clone)]
pub(crate) struct Slow {
    pub(crate) sort_index: u64,
    pub(crate) duration_s: f64,
    pub(crate) attempts: u32,
    /// Whether it failed (known after pass 2).
    pub(crate) failed: bool,
    /// `name = value` of its inputs (after pass 2).
    pub(crate) inputs: Vec<String>,
}

/// What `provenance.pq` says about time.
#[derive(Debug, Clone)]
pub(crate) struct Times {
    /// Durations of the specs that ran in this run (not those reused from the cache).
    pub(crate) durations: ColumnScan,
    /// The slowest of them, slowest first.
    pub(crate) slowest: Vec<Slow>,
    /// Results copied from an earlier run by the result cache (their time is that run's).
    pub(crate) cached: u64,
    /// Earliest start and latest end of the specs that ran, microseconds since the epoch.
    pub(crate) span_us: Option<(i64, i64)>,
    /// Sum of their durations, seconds.
    pub(crate) busy_s: f64,
}

/// The contents of a run's final tables that a report shows.
#[derive(Debug, Clone)]
pub(crate) struct RunScan {
    /// Numeric inputs (index columns), in table order.
    pub(crate) numeric: Vec<NumericInput>,
    /// Categorical inputs, in table order.
    pub(crate) categorical: Vec<CategoricalInput>,
    /// Numeric outputs of `scalars.pq`, in table order.
    pub(crate) outputs: Vec<Output>,
    /// Output columns that are not numeric (not summarized).
    pub(crate) skipped: Vec<String>,
    /// Rows of `scalars.pq`.
    pub(crate) succeeded: u64,
    /// Rows of `failures.pq`.
    pub(crate) failed: u64,
    /// A uniform random sample of up to [`MAX_POINTS`] rows of `scalars.pq`.
    pub(crate) sample: Vec<SampleRow>,
    /// Time, when the run has `provenance.pq`.
    pub(crate) times: Option<Times>,
    /// Passes over the tables the statistics took.
    pub(crate) passes: u32,
    n_specs: usize,
    index: Vec<String>,
    dense: Dense,
    rng: Rng,
}

/// Reads the final tables of the run at `layout` with `n_specs` specs; `seed` draws the
/// scatter sample.
pub(crate) async fn scan(
    store: &Store,
    layout: &RunLayout,
    n_specs: u64,
    seed: u64,
    dense: Dense,
) -> Result<RunScan, Error> {
    let n_specs = usize::try_from(n_specs).map_err(|_| Error::Settings(format!("{n_specs} specs do not fit here")))?;
    let mut run = RunScan {
        numeric: Vec::new(),
        categorical: Vec::new(),
        outputs: Vec::new(),
        skipped: Vec::new(),
        succeeded: 0,
        failed: 0,
        sample: Vec::new(),
        times: None,
        passes: 0,
        n_specs,
        index: Vec::new(),
        dense,
        rng: Rng::stream(seed, 0x7363_6174),
    };
    let mut pass = 1;
    loop {
        let outputs_pending = run.outputs.iter().any(|o| o.scan.needs_pass());
        let times_pending = run.times.as_ref().is_some_and(|t| t.durations.needs_pass());
        if pass > 2 && !outputs_pending && !times_pending {
            break;
        }
        for table in [FAILURES, SCALARS, PROVENANCE] {
            let wanted = match table {
                FAILURES => pass <= 2,
                SCALARS => pass <= 2 || outputs_pending,
                _ => pass == 1 || times_pending,
            };
            if wanted {
                read(store, layout, table, |batch, uri| run.add(table, pass, batch, uri)).await?;
            }
        }
        run.end_pass(pass);
        pass += 1;
    }
    run.passes = pass - 1;
    Ok(run)
}

/// Streams `table` of the run through `visit`; a missing `provenance.pq` is skipped (a run
/// gathered before it existed), a missing other table is an error saying what to run.
async fn read(
    store: &Store,
    layout: &RunLayout,
    table: &str,
    mut visit: impl FnMut(&RecordBatch, &str) -> Result<(), Error>,
) -> Result<(), Error> {
    let key = layout.final_table(table);
    let uri = store.uri(&key);
    let mut stream = match store.read_parquet(&key, BATCH).await {
        Ok(stream) => stream,
        Err(StoreError::NotFound { .. }) if table == PROVENANCE => return Ok(()),
        Err(StoreError::NotFound { .. }) => {
            return Err(Error::Settings(format!(
                "run `{}` has no final/{table}.pq yet; run `resume {0}` or `gather {0}` first",
                layout.run()
            )));
        }
        Err(error) => return Err(error.into()),
    };
    let schema = stream.schema().clone();
    // An empty batch carries the schema: pass 1 learns the columns of a table without rows.
    visit(&RecordBatch::new_empty(schema), &uri)?;
    let parquet = |source| Error::Store(StoreError::Parquet { uri: uri.clone(), source });
    while let Some(batch) = stream.try_next().await.map_err(parquet)? {
        visit(&batch, &uri)?;
    }
    Ok(())
}

/// The `index_columns` of a table's pandas metadata (empty when absent).
fn index_columns(pandas: Option<&str>) -> Vec<String> {
    pandas
        .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
        .and_then(|meta| {
            meta.get("index_columns")?
                .as_array()
                .map(|names| names.iter().filter_map(|name| name.as_str().map(str::to_owned)).collect::<Vec<String>>())
        })
        .unwrap_or_default()
}

fn is_numeric(data_type: &DataType) -> bool {
    data_type.is_integer() || data_type.is_floating()
}

/// Strings, booleans and dictionary-encoded (enum) columns: one group per value.
fn is_categorical(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Boolean | DataType::Dictionary(..)
    )
}

fn floats(array: &ArrayRef, name: &str) -> Result<Vec<f64>, Error> {
    let values = arrow::compute::cast(array, &DataType::Float64)
        .map_err(|source| Error::Arrow { context: format!("reading column `{name}` as numbers"), source })?;
    let values = values.as_primitive::<Float64Type>();
    Ok((0..values.len()).map(|i| if values.is_null(i) { f64::NAN } else { values.value(i) }).collect())
}

fn texts(array: &ArrayRef, name: &str) -> Result<Vec<Option<String>>, Error> {
    let values = arrow::compute::cast(array, &DataType::Utf8)
        .map_err(|source| Error::Arrow { context: format!("reading column `{name}` as text"), source })?;
    Ok(values.as_string::<i32>().iter().map(|v| v.map(str::to_owned)).collect())
}

impl CategoricalInput {
    /// The index of `value`'s category, adding it (or [`OTHER`]) when new.
    fn category(&mut self, value: Option<&str>, outputs: usize) -> usize {
        let value = value.unwrap_or("(null)");
        if let Some(i) = self.categories.iter().position(|c| c.value == value) {
            return i;
        }
        let value = if self.categories.len() < MAX_CATEGORIES { value } else { OTHER };
        if let Some(i) = self.categories.iter().position(|c| c.value == value) {
            return i;
        }
        self.categories.push(Category {
            value: value.to_owned(),
            failed: 0,
            succeeded: 0,
            sums: vec![(0.0, 0); outputs],
        });
        self.categories.len() - 1
    }
}

impl RunScan {
    fn corrupt(uri: &str, reason: String) -> Error {
        Error::Document { document: uri.to_owned(), reason }
    }

    /// The sort indexes of `batch`, each checked against the run's size.
    fn rows(&self, batch: &RecordBatch, uri: &str) -> Result<Vec<usize>, Error> {
        let n = self.n_specs;
        let sort_index = batch
            .column_by_name(SORT_INDEX)
            .and_then(|c| c.as_primitive_opt::<UInt64Type>())
            .ok_or_else(|| Self::corrupt(uri, "no UInt64 `sort_index` column".to_owned()))?;
        sort_index
            .values()
            .iter()
            .map(|&i| usize::try_from(i).ok().filter(|&i| i < n))
            .collect::<Option<_>>()
            .ok_or_else(|| Self::corrupt(uri, format!("a sort_index is not below the run's {n} specs")))
    }

    /// Learns the columns of `failures.pq` or `scalars.pq` from its schema (pass 1, empty batch).
    fn learn(&mut self, table: &str, batch: &RecordBatch) {
        let schema = batch.schema();
        let from_metadata = index_columns(schema.metadata().get(PANDAS_METADATA_KEY).map(String::as_str));
        if !from_metadata.is_empty() {
            self.index = from_metadata;
        } else if table == FAILURES {
            self.index = schema
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .filter(|name| !FAILURE_COLUMNS.contains(&name.as_str()))
                .collect();
        }
        for field in schema.fields() {
            let name = field.name();
            if [EXPERIMENT_ID, SORT_INDEX, SORT_SUBINDEX].contains(&name.as_str()) {
                continue;
            }
            let is_input = self.index.contains(name);
            let data_type = field.data_type();
            if is_input && is_numeric(data_type) && !self.numeric.iter().any(|c| &c.name == name) {
                let dense = self.dense.inputs.contains(name).then(|| vec![f64::NAN; self.n_specs]);
                self.numeric.push(NumericInput {
                    name: name.clone(),
                    range: (f64::INFINITY, f64::NEG_INFINITY),
                    failed: Vec::new(),
                    all: Vec::new(),
                    edges: Vec::new(),
                    dense,
                });
            } else if is_input && is_categorical(data_type) && !self.categorical.iter().any(|c| &c.name == name) {
                self.categorical.push(CategoricalInput { name: name.clone(), categories: Vec::new() });
            } else if !is_input && table == SCALARS && !self.outputs.iter().any(|o| &o.name == name) {
                if is_numeric(data_type) {
                    let dense = self.dense.outputs.then(|| vec![f64::NAN; self.n_specs]);
                    self.outputs.push(Output { name: name.clone(), scan: ColumnScan::new(HISTOGRAM_BINS), dense });
                } else if !self.skipped.contains(name) {
                    self.skipped.push(name.clone());
                }
            }
        }
        for category in self.categorical.iter_mut().flat_map(|c| c.categories.iter_mut()) {
            category.sums.resize(self.outputs.len(), (0.0, 0));
        }
    }

    fn add(&mut self, table: &str, pass: u32, batch: &RecordBatch, uri: &str) -> Result<(), Error> {
        if table == PROVENANCE {
            return self.add_times(pass, batch, uri);
        }
        if pass == 1 && batch.num_rows() == 0 {
            self.learn(table, batch);
            return Ok(());
        }
        let rows = self.rows(batch, uri)?;
        let scalars = table == SCALARS;
        let n_rows = rows.len() as u64;
        let column = |name: &str| {
            batch.column_by_name(name).ok_or_else(|| {
                Self::corrupt(uri, format!("no column `{name}` in this batch, though the table's schema has it"))
            })
        };
        let mut numeric = Vec::with_capacity(self.numeric.len());
        for input in &self.numeric {
            numeric.push(floats(column(&input.name)?, &input.name)?);
        }
        let mut outputs = Vec::new();
        if scalars {
            for output in &self.outputs {
                outputs.push(floats(column(&output.name)?, &output.name)?);
            }
        }
        if pass == 1 {
            let mut categories = Vec::with_capacity(self.categorical.len());
            for input in &mut self.categorical {
                let values = texts(column(&input.name)?, &input.name)?;
                let n_outputs = self.outputs.len();
                let codes: Vec<usize> = values.iter().map(|v| input.category(v.as_deref(), n_outputs)).collect();
                for (i, &code) in codes.iter().enumerate() {
                    let category = &mut input.categories[code];
                    if scalars {
                        category.succeeded += 1;
                        for (sum, values) in category.sums.iter_mut().zip(&outputs) {
                            if values[i].is_finite() {
                                sum.0 += values[i];
                                sum.1 += 1;
                            }
                        }
                    } else {
                        category.failed += 1;
                    }
                }
                categories.push(codes);
            }
            for (input, values) in self.numeric.iter_mut().zip(&numeric) {
                for &v in values.iter().filter(|v| v.is_finite()) {
                    input.range = (input.range.0.min(v), input.range.1.max(v));
                }
                if let Some(dense) = &mut input.dense {
                    for (&row, &v) in rows.iter().zip(values) {
                        dense[row] = v;
                    }
                }
            }
            if scalars {
                for (output, values) in self.outputs.iter_mut().zip(&outputs) {
                    if let Some(dense) = &mut output.dense {
                        for (&row, &v) in rows.iter().zip(values) {
                            dense[row] = v;
                        }
                    }
                }
                self.sample_rows(rows.len(), &numeric, &categories, &outputs);
                self.succeeded += n_rows;
            } else {
                self.failed += n_rows;
            }
        } else if pass == 2 {
            for (input, values) in self.numeric.iter_mut().zip(&numeric) {
                let mut bins = Histogram::over(input.range.0, input.range.1, FAILURE_BINS);
                for &v in values {
                    bins.add(v);
                }
                for (b, &count) in bins.counts.iter().enumerate() {
                    input.all[b] += count;
                    if !scalars {
                        input.failed[b] += count;
                    }
                }
            }
            self.slowest_inputs(batch, &rows, !scalars, uri)?;
        }
        if scalars {
            for (output, values) in self.outputs.iter_mut().zip(&outputs) {
                for &v in values {
                    output.scan.add(v);
                }
            }
        }
        Ok(())
    }

    /// Algorithm R (Vitter 1985): each row of `scalars.pq` ends in the sample with the same
    /// chance, `MAX_POINTS / rows`.
    fn sample_rows(&mut self, rows: usize, numeric: &[Vec<f64>], categories: &[Vec<usize>], outputs: &[Vec<f64>]) {
        for i in 0..rows {
            let seen = self.succeeded + i as u64;
            let slot = if (seen as usize) < MAX_POINTS {
                None
            } else {
                let j = self.rng.below(seen + 1) as usize;
                if j >= MAX_POINTS {
                    continue;
                }
                Some(j)
            };
            let row = SampleRow {
                numeric: numeric.iter().map(|c| c[i]).collect(),
                categories: categories.iter().map(|c| c[i]).collect(),
                outputs: outputs.iter().map(|c| c[i]).collect(),
            };
            match slot {
                None => self.sample.push(row),
                Some(j) => self.sample[j] = row,
            }
        }
    }

    /// Records the inputs of the slowest specs among `rows` (pass 2).
    fn slowest_inputs(&mut self, batch: &RecordBatch, rows: &[usize], failed: bool, uri: &str) -> Result<(), Error> {
        let Some(times) = &mut self.times else { return Ok(()) };
        for slow in &mut times.slowest {
            let Some(i) = rows.iter().position(|&r| r as u64 == slow.sort_index) else { continue };
            slow.failed = failed;
            slow.inputs.clear();
            for name in &self.index {
                let Some(array) = batch.column_by_name(name) else { continue };
                let text = texts(&array.slice(i, 1), name)
                    .map_err(|_| Self::corrupt(uri, format!("column `{name}` cannot be shown as text")))?;
                let value = text.into_iter().next().flatten().unwrap_or_else(|| "null".to_owned());
                slow.inputs.push(format!("{name} = {value}"));
            }
        }
        Ok(())
    }

    fn add_times(&mut self, pass: u32, batch: &RecordBatch, uri: &str) -> Result<(), Error> {
        if pass == 1 && batch.num_rows() == 0 && self.times.is_none() {
            self.times = Some(Times {
                durations: ColumnScan::new(HISTOGRAM_BINS),
                slowest: Vec::new(),
                cached: 0,
                span_us: None,
                busy_s: 0.0,
            });
            return Ok(());
        }
        let Some(times) = &mut self.times else { return Ok(()) };
        let missing = |name: &str| Self::corrupt(uri, format!("provenance.pq lacks the column `{name}` Scythe writes"));
        let sort_index = batch
            .column_by_name(SORT_INDEX)
            .and_then(|c| c.as_primitive_opt::<UInt64Type>())
            .ok_or_else(|| missing(SORT_INDEX))?;
        let duration = batch
            .column_by_name("duration_s")
            .and_then(|c| c.as_primitive_opt::<Float64Type>())
            .ok_or_else(|| missing("duration_s"))?;
        let cached = batch.column_by_name(CACHED_FROM).ok_or_else(|| missing(CACHED_FROM))?;
        let attempts = batch
            .column_by_name("attempts")
            .and_then(|c| c.as_primitive_opt::<UInt32Type>())
            .ok_or_else(|| missing("attempts"))?;
        let started = batch
            .column_by_name("started_at")
            .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
            .ok_or_else(|| missing("started_at"))?;
        for i in 0..batch.num_rows() {
            if cached.is_valid(i) {
                times.cached += u64::from(pass == 1);
                continue;
            }
            let seconds = duration.value(i);
            times.durations.add(seconds);
            if pass != 1 {
                continue;
            }
            times.busy_s += seconds;
            let start = started.value(i);
            let end = start.saturating_add((seconds * 1e6) as i64);
            times.span_us = Some(times.span_us.map_or((start, end), |(a, b)| (a.min(start), b.max(end))));
            let slowest = &mut times.slowest;
            if slowest.len() < SLOWEST || slowest.last().is_some_and(|s| s.duration_s < seconds) {
                let at = slowest.partition_point(|s| s.duration_s >= seconds);
                let slow = Slow {
                    sort_index: sort_index.value(i),
                    duration_s: seconds,
                    attempts: attempts.value(i),
                    failed: false,
                    inputs: Vec::new(),
                };
                slowest.insert(at, slow);
                slowest.truncate(SLOWEST);
            }
        }
        Ok(())
    }

    fn end_pass(&mut self, pass: u32) {
        if pass == 1 {
            for input in &mut self.numeric {
                input.edges = Histogram::over(input.range.0, input.range.1, FAILURE_BINS).edges;
                input.failed = vec![0; FAILURE_BINS];
                input.all = vec![0; FAILURE_BINS];
            }
        }
        for output in &mut self.outputs {
            if output.scan.pass() == pass && output.scan.needs_pass() {
                output.scan.end_pass();
            }
        }
        if let Some(times) = &mut self.times
            && times.durations.pass() == pass
            && times.durations.needs_pass()
        {
            times.durations.end_pass();
        }
    }
}
