//! What a report says about a run: summaries, histograms, scatter samples, failure rates and
//! sensitivity indices, computed from [`RunTables`] with `scythe_core::analysis`.

use scythe_core::analysis::{
    AnalysisError, DEFAULT_RESAMPLES, Histogram, MorrisIndices, SobolIndices, Summary, morris_indices, sobol_indices,
};
use scythe_core::design::{DesignMethod, DesignRecord, Rng};

use super::load::{Column, RunTables};

/// Bins of each output's histogram.
pub(crate) const HISTOGRAM_BINS: usize = 30;
/// Bins of each input's failure-rate chart.
pub(crate) const FAILURE_BINS: usize = 10;
/// Most points drawn in one scatter plot; larger runs show a seeded random sample of this size.
pub(crate) const MAX_POINTS: usize = 2000;

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

/// The rate of failed specs across one input's range.
#[derive(Debug, Clone)]
pub(crate) struct FailureRate {
    /// The input.
    pub(crate) input: String,
    /// Bin edges over the input's range.
    pub(crate) edges: Vec<f64>,
    /// Failed / (failed + succeeded) per bin (0 for an empty bin).
    pub(crate) rates: Vec<f64>,
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

/// The inputs of the analysis: the design's sampled fields, in its order.
pub(crate) fn design_inputs(design: Option<&DesignRecord>) -> Vec<String> {
    design.map(|d| d.dimensions.iter().map(|dim| dim.field.clone()).collect()).unwrap_or_default()
}

/// Summary and histogram of every numeric output.
pub(crate) fn outputs(tables: &RunTables) -> Vec<OutputStats> {
    tables
        .outputs
        .iter()
        .map(|c| OutputStats {
            name: c.name.clone(),
            summary: Summary::of(&c.values),
            histogram: Histogram::of(&c.values, HISTOGRAM_BINS),
        })
        .collect()
}

/// Up to [`MAX_POINTS`] `(input, output)` pairs where both are finite: all of them, or a
/// random sample drawn from `seed`. Also returns how many pairs there were.
pub(crate) fn scatter_sample(input: &Column, output: &Column, seed: u64) -> (Vec<(f64, f64)>, usize) {
    let mut rows: Vec<usize> =
        (0..output.values.len()).filter(|&i| input.values[i].is_finite() && output.values[i].is_finite()).collect();
    let total = rows.len();
    if total > MAX_POINTS {
        let mut rng = Rng::stream(seed, 0x7363_6174);
        // A partial Fisher–Yates shuffle: the first MAX_POINTS rows are a uniform sample.
        for i in 0..MAX_POINTS {
            let j = i + rng.below((total - i) as u64) as usize;
            rows.swap(i, j);
        }
        rows.truncate(MAX_POINTS);
        rows.sort_unstable();
    }
    (rows.iter().map(|&i| (input.values[i], output.values[i])).collect(), total)
}

/// The failure rate across each input's range (only when some spec failed).
pub(crate) fn failure_rates(tables: &RunTables) -> Vec<FailureRate> {
    if !tables.failed.contains(&true) {
        return Vec::new();
    }
    tables
        .inputs
        .iter()
        .map(|input| {
            let edges = Histogram::of(&input.values, FAILURE_BINS).edges;
            let (low, high) = (edges[0], edges[FAILURE_BINS]);
            let mut failed = [0u64; FAILURE_BINS];
            let mut all = [0u64; FAILURE_BINS];
            for (i, &v) in input.values.iter().enumerate() {
                if !v.is_finite() || !(tables.failed[i] || tables.succeeded[i]) {
                    continue;
                }
                let bin = (((v - low) / (high - low) * FAILURE_BINS as f64) as usize).min(FAILURE_BINS - 1);
                all[bin] += 1;
                failed[bin] += u64::from(tables.failed[i]);
            }
            let rates =
                (0..FAILURE_BINS).map(|b| if all[b] == 0 { 0.0 } else { failed[b] as f64 / all[b] as f64 }).collect();
            FailureRate { input: input.name.clone(), edges, rates }
        })
        .collect()
}

/// The sensitivity analysis of every output, when the design supports one.
pub(crate) fn sensitivity(tables: &RunTables, design: Option<&DesignRecord>) -> Sensitivity {
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
            tables
                .outputs
                .iter()
                .map(|c| {
                    (
                        c.name.clone(),
                        sobol_indices(&c.values, dims, design.second_order, DEFAULT_RESAMPLES, design.seed),
                    )
                })
                .collect(),
        ),
        DesignMethod::Morris => {
            let levels = design.levels.unwrap_or(4);
            let mut columns = Vec::with_capacity(dims);
            for field in design_inputs(Some(design)) {
                match tables.inputs.iter().find(|c| c.name == field) {
                    Some(column) => columns.push(column),
                    None => {
                        return Sensitivity::Unsupported(format!(
                            "Morris statistics need every sampled input as a number, and `{field}` is not a numeric \
                             column of the final tables."
                        ));
                    }
                }
            }
            let rows = tables.failed.len();
            let x: Vec<f64> = (0..rows).flat_map(|i| columns.iter().map(move |c| c.values[i])).collect();
            Sensitivity::Morris(
                tables
                    .outputs
                    .iter()
                    .map(|c| {
                        (c.name.clone(), morris_indices(&x, &c.values, dims, levels, DEFAULT_RESAMPLES, design.seed))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_scatter_plots_are_a_seeded_sample_of_the_finite_pairs() {
        let n = 10_000;
        let input = Column { name: "x".into(), values: (0..n).map(f64::from).collect() };
        let mut output = Column { name: "y".into(), values: (0..n).map(|i| f64::from(i) * 2.0).collect() };
        output.values[5] = f64::NAN;
        let (points, total) = scatter_sample(&input, &output, 1);
        assert_eq!((points.len(), total), (MAX_POINTS, n as usize - 1));
        assert!(points.iter().all(|&(x, y)| y == 2.0 * x && x != 5.0));
        assert_eq!(points, scatter_sample(&input, &output, 1).0);
        let mut distinct: Vec<u64> = points.iter().map(|p| p.0 as u64).collect();
        distinct.dedup();
        assert_eq!(distinct.len(), MAX_POINTS, "no row twice");
    }
}
