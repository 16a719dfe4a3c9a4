//! What a report says about a run: summaries, histograms, scatter samples, failure rates and
//! sensitivity indices, computed from a [`RunScan`] with `scythe_core::analysis`.

use scythe_core::analysis::{
    AnalysisError, DEFAULT_RESAMPLES, Histogram, MorrisIndices, SobolIndices, Summary, morris_indices, sobol_indices,
};
use scythe_core::design::{DesignMethod, DesignRecord};

use super::scan::{Dense, RunScan};

/// One numeric output's description.
#[derive(Debug, Clone)]
pub(crate) struct OutputStats {
    /// Its name.
    pub(crate) name: String,
    /// Its statistics.
    pub(crate) summary: Summary,
    /// Its histogram.
    pub(crate) histogram: Histogram,
}

/// The rate of failed specs across one numeric input's range.
#[derive(Debug, Clone)]
pub(crate) struct FailureRate {
    /// The input.
    pub(crate) input: String,
    /// Bin edges over the input's range.
    pub(crate) edges: Vec<f64>,
    /// Failed / (failed + succeeded) per bin (0 for an empty bin).
    pub(crate) rates: Vec<f64>,
    /// Failed specs per bin.
    pub(crate) failed: Vec<u64>,
    /// Specs per bin.
    pub(crate) specs: Vec<u64>,
}

/// The rate of failed specs for each value of a categorical input.
#[derive(Debug, Clone)]
pub(crate) struct CategoryRate {
    /// The input.
    pub(crate) input: String,
    /// Its values.
    pub(crate) categories: Vec<String>,
    /// Failed / (failed + succeeded) per value.
    pub(crate) rates: Vec<f64>,
    /// Failed specs per value.
    pub(crate) failed: Vec<u64>,
    /// Specs per value.
    pub(crate) specs: Vec<u64>,
}

/// The sensitivity analysis a run's design allows.
#[derive(Debug, Clone)]
pub(crate) enum Sensitivity {
    /// Sobol' indices of each output (a `saltelli` design).
    Sobol(Vec<(String, Result<SobolIndices, AnalysisError>)>),
    /// Morris statistics of each output (a `morris` design).
    Morris(Vec<(String, Result<MorrisIndices, AnalysisError>)>),
    /// No analysis: why, in a sentence for the reader.
    Unsupported(String),
}

/// The columns the analysis of `design` needs whole (none for designs without one).
pub(crate) fn dense_columns(design: Option<&DesignRecord>) -> Dense {
    match design.map(|d| d.method) {
        Some(DesignMethod::Saltelli) => Dense { outputs: true, inputs: Vec::new() },
        Some(DesignMethod::Morris) => Dense { outputs: true, inputs: design_inputs(design) },
        _ => Dense::default(),
    }
}

/// The inputs of the analysis: the design's sampled fields, in its order.
pub(crate) fn design_inputs(design: Option<&DesignRecord>) -> Vec<String> {
    design.map(|d| d.dimensions.iter().map(|dim| dim.field.clone()).collect()).unwrap_or_default()
}

/// Summary and histogram of every numeric output.
pub(crate) fn outputs(run: &RunScan) -> Vec<OutputStats> {
    run.outputs
        .iter()
        .map(|o| OutputStats { name: o.name.clone(), summary: o.scan.summary(), histogram: o.scan.histogram() })
        .collect()
}

/// The sampled `(input, output)` pairs where both are finite, of numeric input `input` and
/// output `output` (positions in the scan's lists).
pub(crate) fn scatter_points(run: &RunScan, input: usize, output: usize) -> Vec<(f64, f64)> {
    run.sample
        .iter()
        .map(|row| (row.numeric[input], row.outputs[output]))
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect()
}

/// The sampled `(category, output)` pairs of categorical input `input` where the output is finite.
pub(crate) fn strip_points(run: &RunScan, input: usize, output: usize) -> Vec<(usize, f64)> {
    run.sample.iter().map(|row| (row.categories[input], row.outputs[output])).filter(|(_, y)| y.is_finite()).collect()
}

/// The failure rate across each numeric input's range (only when some spec failed).
pub(crate) fn failure_rates(run: &RunScan) -> Vec<FailureRate> {
    if run.failed == 0 {
        return Vec::new();
    }
    let rate = |failed: u64, all: u64| if all == 0 { 0.0 } else { failed as f64 / all as f64 };
    run.numeric
        .iter()
        .filter(|input| input.range.0 <= input.range.1)
        .map(|input| FailureRate {
            input: input.name.clone(),
            edges: input.edges.clone(),
            rates: input.failed.iter().zip(&input.all).map(|(&f, &a)| rate(f, a)).collect(),
            failed: input.failed.clone(),
            specs: input.all.clone(),
        })
        .collect()
}

/// The failure rate for each value of each categorical input (only when some spec failed).
pub(crate) fn category_rates(run: &RunScan) -> Vec<CategoryRate> {
    if run.failed == 0 {
        return Vec::new();
    }
    run.categorical
        .iter()
        .map(|input| CategoryRate {
            input: input.name.clone(),
            categories: input.categories.iter().map(|c| c.value.clone()).collect(),
            rates: input.categories.iter().map(|c| c.failed as f64 / (c.failed + c.succeeded).max(1) as f64).collect(),
            failed: input.categories.iter().map(|c| c.failed).collect(),
            specs: input.categories.iter().map(|c| c.failed + c.succeeded).collect(),
        })
        .collect()
}

/// The sensitivity analysis of every output, when the design supports one.
pub(crate) fn sensitivity(run: &RunScan, design: Option<&DesignRecord>) -> Sensitivity {
    let Some(design) = design else {
        return Sensitivity::Unsupported(
            "The specs of this run came from a file or a sampler, not a recorded design: sensitivity indices \
             need a run made with `scatter --design saltelli` (Sobol' indices) or `--design morris` (Morris μ*, σ)."
                .to_owned(),
        );
    };
    let dims = design.dimensions.len();
    match design.method {
        DesignMethod::Saltelli => Sensitivity::Sobol(
            run.outputs
                .iter()
                .map(|o| {
                    let y = o.dense.as_deref().unwrap_or_default();
                    (o.name.clone(), sobol_indices(y, dims, design.second_order, DEFAULT_RESAMPLES, design.seed))
                })
                .collect(),
        ),
        DesignMethod::Morris => {
            let levels = design.levels.unwrap_or(4);
            let mut columns = Vec::with_capacity(dims);
            for field in design_inputs(Some(design)) {
                match run.numeric.iter().find(|c| c.name == field).and_then(|c| c.dense.as_deref()) {
                    Some(column) => columns.push(column),
                    None => {
                        return Sensitivity::Unsupported(format!(
                            "Morris statistics need every sampled input as a number, and `{field}` is not a numeric \
                             column of the final tables."
                        ));
                    }
                }
            }
            let rows = columns.first().map_or(0, |c| c.len());
            let x: Vec<f64> = (0..rows).flat_map(|i| columns.iter().map(move |c| c[i])).collect();
            Sensitivity::Morris(
                run.outputs
                    .iter()
                    .map(|o| {
                        let y = o.dense.as_deref().unwrap_or_default();
                        (o.name.clone(), morris_indices(&x, y, dims, levels, DEFAULT_RESAMPLES, design.seed))
                    })
                    .collect(),
            )
        }
        other => Sensitivity::Unsupported(format!(
            "This run's design is `{other}`, which does not support sensitivity indices: run \
             `scatter --design saltelli` for Sobol' indices or `--design morris` for Morris μ* and σ."
        )),
    }
}
