//! Analysis of a run's outputs: the pure numerics behind `report`.
//!
//! [`Summary`] and [`Histogram`] describe one numeric column, streamed in a few passes by
//! [`ColumnScan`] (exact quantiles in bounded memory); [`sobol_indices`] estimates
//! first-order and total Sobol' indices from the outputs of a `saltelli` design and
//! [`morris_indices`] Morris's elementary-effect statistics from a `morris` design, both with
//! bootstrap confidence intervals drawn from a seeded [`Rng`](crate::design::Rng).
//!
//! Failed specs are NaN outputs. Their policy is explicit: a Saltelli block or a Morris
//! trajectory with any non-finite output is dropped whole, and the count of dropped ones is
//! part of the result, so the report can say how much of the design the indices rest on.

mod error;
mod histogram;
mod morris;
mod sobol;
mod stream;
mod summary;

pub use error::AnalysisError;
pub use histogram::Histogram;
pub use morris::{MorrisIndices, morris_indices};
pub use sobol::{SobolIndices, sobol_indices};
pub use stream::{COLLECT_LIMIT, ColumnScan, QuantileSearch, SEARCH_BINS};
pub use summary::{Summary, quantile};

/// The normal quantile of a two-sided 95% interval, `Φ⁻¹(0.975)`: a bootstrap confidence
/// half-width is this times the standard deviation of the resampled estimates (as SALib does).
pub const Z_95: f64 = 1.959_963_984_540_054;

/// Bootstrap resamples of the confidence intervals (SALib's default for Sobol' indices).
pub const DEFAULT_RESAMPLES: usize = 100;

/// Sample standard deviation (`ddof = 1`); 0 for fewer than two values.
fn sample_std(values: &[f64]) -> f64 {
    if values.len() < 2 {
        return 0.0;
    }
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let squares: f64 = values.iter().map(|v| (v - mean).powi(2)).sum();
    (squares / (values.len() - 1) as f64).sqrt()
}
