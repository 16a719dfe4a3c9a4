//! The report's tables: `sensitivity.pq`, and the figures' data `summary.pq`,
//! `histograms.pq`, `failure_rates.pq`, `time.pq` and `slowest.pq`, encoded as Parquet in memory.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray, UInt32Array, UInt64Array};
use arrow::datatypes::{Field, Schema};

use super::analyze::{CategoryRate, FailureRate, OutputStats, Sensitivity};
use super::scan::Times;
use crate::error::Error;

/// A table of named columns, encoded as Parquet.
fn encode(name: &str, columns: Vec<(&str, ArrayRef)>) -> Result<Vec<u8>, Error> {
    let schema = Arc::new(Schema::new(
        columns.iter().map(|(n, a)| Field::new(*n, a.data_type().clone(), false)).collect::<Vec<_>>(),
    ));
    let batch = RecordBatch::try_new(Arc::clone(&schema), columns.into_iter().map(|(_, a)| a).collect())
        .map_err(Error::arrow(format!("building {name}")))?;
    scythe_storage::encode_parquet(schema, &[batch], &[])
        .map(|bytes| bytes.to_vec())
        .map_err(|error| Error::Document { document: name.to_owned(), reason: error.to_string() })
}

fn strings(values: Vec<String>) -> ArrayRef {
    Arc::new(StringArray::from(values))
}

fn floats(values: Vec<f64>) -> ArrayRef {
    Arc::new(Float64Array::from(values))
}

/// `sensitivity.pq`: one row per (output, input) of the outputs whose indices were computed;
/// `None` when the design supports no analysis.
pub(crate) fn sensitivity(sensitivity: &Sensitivity, inputs: &[String]) -> Result<Option<Vec<u8>>, Error> {
    let mut output = Vec::new();
    let mut input = Vec::new();
    let mut a: [Vec<f64>; 4] = Default::default();
    let names = match sensitivity {
        Sensitivity::Unsupported(_) => return Ok(None),
        Sensitivity::Sobol(results) => {
            for (name, s) in results.iter().filter_map(|(n, r)| Some((n, r.as_ref().ok()?))) {
                for (k, field) in inputs.iter().enumerate() {
                    output.push(name.clone());
                    input.push(field.clone());
                    for (column, value) in a.iter_mut().zip([s.s1[k], s.s1_conf[k], s.st[k], s.st_conf[k]]) {
                        column.push(value);
                    }
                }
            }
            ["S1", "S1_conf", "ST", "ST_conf"]
        }
        Sensitivity::Morris(results) => {
            for (name, m) in results.iter().filter_map(|(n, r)| Some((n, r.as_ref().ok()?))) {
                for (k, field) in inputs.iter().enumerate() {
                    output.push(name.clone());
                    input.push(field.clone());
                    for (column, value) in a.iter_mut().zip([m.mu_star[k], m.mu_star_conf[k], m.mu[k], m.sigma[k]]) {
                        column.push(value);
                    }
                }
            }
            ["mu_star", "mu_star_conf", "mu", "sigma"]
        }
    };
    let [c0, c1, c2, c3] = a;
    let columns = vec![
        ("output", strings(output)),
        ("input", strings(input)),
        (names[0], floats(c0)),
        (names[1], floats(c1)),
        (names[2], floats(c2)),
        (names[3], floats(c3)),
    ];
    encode("sensitivity.pq", columns).map(Some)
}

/// `summary.pq`: the statistics table of the report, one row per numeric output.
pub(crate) fn summary(outputs: &[OutputStats]) -> Result<Vec<u8>, Error> {
    let count = |f: fn(&OutputStats) -> usize| -> ArrayRef {
        Arc::new(UInt64Array::from_iter_values(outputs.iter().map(|o| f(o) as u64)))
    };
    let stat = |f: fn(&OutputStats) -> f64| floats(outputs.iter().map(f).collect());
    encode(
        "summary.pq",
        vec![
            ("output", strings(outputs.iter().map(|o| o.name.clone()).collect())),
            ("count", count(|o| o.summary.count)),
            ("nan", count(|o| o.summary.nan)),
            ("inf", count(|o| o.summary.inf)),
            ("min", stat(|o| o.summary.min)),
            ("q25", stat(|o| o.summary.q25)),
            ("q50", stat(|o| o.summary.q50)),
            ("q75", stat(|o| o.summary.q75)),
            ("max", stat(|o| o.summary.max)),
            ("mean", stat(|o| o.summary.mean)),
            ("std", stat(|o| o.summary.std)),
        ],
    )
}

/// `time.pq`: one row, the statistics of the durations (seconds) of the specs that ran in
/// this run, with the columns of `summary.pq`, `cached` (results reused, left out) and `total`.
pub(crate) fn time(times: &Times) -> Result<Vec<u8>, Error> {
    let s = times.durations.summary();
    let count = |v: usize| -> ArrayRef { Arc::new(UInt64Array::from(vec![v as u64])) };
    let stat = |v: f64| floats(vec![v]);
    encode(
        "time.pq",
        vec![
            ("column", strings(vec!["duration_s".to_owned()])),
            ("count", count(s.count)),
            ("cached", Arc::new(UInt64Array::from(vec![times.cached]))),
            ("min", stat(s.min)),
            ("q25", stat(s.q25)),
            ("q50", stat(s.q50)),
            ("q75", stat(s.q75)),
            ("max", stat(s.max)),
            ("mean", stat(s.mean)),
            ("std", stat(s.std)),
            ("total", stat(times.busy_s)),
        ],
    )
}

/// `slowest.pq`: the slowest specs, slowest first: `sort_index`, `duration_s`, `attempts`,
/// `failed`.
pub(crate) fn slowest(times: &Times) -> Result<Vec<u8>, Error> {
    let slow = &times.slowest;
    encode(
        "slowest.pq",
        vec![
            ("sort_index", Arc::new(UInt64Array::from_iter_values(slow.iter().map(|s| s.sort_index)))),
            ("duration_s", floats(slow.iter().map(|s| s.duration_s).collect())),
            ("attempts", Arc::new(UInt32Array::from_iter_values(slow.iter().map(|s| s.attempts)))),
            ("failed", Arc::new(BooleanArray::from(slow.iter().map(|s| s.failed).collect::<Vec<bool>>()))),
        ],
    )
}

/// `failure_rates.pq`: the failure charts' data, one row per bin of a numeric input (`low`,
/// `high`; `value` empty) or value of a categorical one (`value`; `low`, `high` NaN), with
/// `failed` and `specs` counts.
pub(crate) fn failure_rates(numeric: &[FailureRate], categorical: &[CategoryRate]) -> Result<Vec<u8>, Error> {
    let (mut input, mut value, mut low, mut high, mut failed, mut specs) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for rate in numeric {
        for b in 0..rate.failed.len() {
            input.push(rate.input.clone());
            value.push(String::new());
            low.push(rate.edges[b]);
            high.push(rate.edges[b + 1]);
            failed.push(rate.failed[b]);
            specs.push(rate.specs[b]);
        }
    }
    for rate in categorical {
        for (c, category) in rate.categories.iter().enumerate() {
            input.push(rate.input.clone());
            value.push(category.clone());
            low.push(f64::NAN);
            high.push(f64::NAN);
            failed.push(rate.failed[c]);
            specs.push(rate.specs[c]);
        }
    }
    encode(
        "failure_rates.pq",
        vec![
            ("input", strings(input)),
            ("value", strings(value)),
            ("low", floats(low)),
            ("high", floats(high)),
            ("failed", Arc::new(UInt64Array::from(failed))),
            ("specs", Arc::new(UInt64Array::from(specs))),
        ],
    )
}

/// `histograms.pq`: the bins of every output's histogram.
pub(crate) fn histograms(outputs: &[OutputStats]) -> Result<Vec<u8>, Error> {
    let (mut output, mut bin, mut low, mut high, mut count) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for o in outputs {
        for (i, &c) in o.histogram.counts.iter().enumerate() {
            output.push(o.name.clone());
            bin.push(i as u32);
            low.push(o.histogram.edges[i]);
            high.push(o.histogram.edges[i + 1]);
            count.push(c);
        }
    }
    encode(
        "histograms.pq",
        vec![
            ("output", strings(output)),
            ("bin", Arc::new(UInt32Array::from(bin))),
            ("low", floats(low)),
            ("high", floats(high)),
            ("count", Arc::new(UInt64Array::from(count))),
        ],
    )
}
