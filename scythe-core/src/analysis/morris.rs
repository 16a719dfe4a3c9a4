//! [`morris_indices`]: Morris's elementary-effect statistics (Morris 1991) from the outputs of a
//! `morris` design, with `μ*` after Campolongo, Cariboni and Saltelli (2007, "An effective
//! screening design for sensitivity analysis of large models"), laid out and scaled as SALib's
//! `morris.analyze` does: an effect is `±(y_{j+1} − y_j) / Δ` with `Δ = p / (2 (p − 1))` the
//! step in unit space, its sign that of the step in the input's value.

use super::{AnalysisError, Z_95, sample_std};
use crate::design::{Rng, morris_delta};

/// Morris statistics of one output, one entry per design dimension.
#[derive(Debug, Clone, PartialEq)]
pub struct MorrisIndices {
    /// Mean of the elementary effects.
    pub mu: Vec<f64>,
    /// Mean of their absolute values.
    pub mu_star: Vec<f64>,
    /// Half-widths of the 95% bootstrap intervals of `mu_star`.
    pub mu_star_conf: Vec<f64>,
    /// Sample standard deviation of the effects (`ddof = 1`; 0 with one trajectory).
    pub sigma: Vec<f64>,
    /// Trajectories the statistics rest on.
    pub trajectories_used: usize,
    /// Trajectories dropped for a failed or missing (non-finite) output.
    pub trajectories_dropped: usize,
}

/// The statistics of outputs `y` of a Morris design on `levels` grid levels, whose input values
/// are the rows of `x` (row-major, `dims` per row, in design-row order). A trajectory with any
/// non-finite output is dropped. Confidence of `μ*`: `resamples` bootstrap resamples of each
/// input's effects, drawn from `seed`, `1.96 ×` their standard deviation.
pub fn morris_indices(
    x: &[f64],
    y: &[f64],
    dims: usize,
    levels: u32,
    resamples: usize,
    seed: u64,
) -> Result<MorrisIndices, AnalysisError> {
    let size = dims + 1;
    if dims == 0 || !y.len().is_multiple_of(size) || x.len() != y.len() * dims {
        return Err(AnalysisError::Layout { unit: "trajectory", size, rows: y.len() });
    }
    let delta = morris_delta(levels);
    let total = y.len() / size;
    let mut effects = vec![Vec::with_capacity(total); dims];
    let mut dropped = 0;
    for t in 0..total {
        let rows = t * size..(t + 1) * size;
        if !y[rows.clone()].iter().all(|v| v.is_finite()) {
            dropped += 1;
            continue;
        }
        for j in rows.start..rows.end - 1 {
            let (here, next) = (&x[j * dims..(j + 1) * dims], &x[(j + 1) * dims..(j + 2) * dims]);
            let changed: Vec<usize> = (0..dims).filter(|&k| here[k] != next[k]).collect();
            let &[k] = changed.as_slice() else {
                return Err(AnalysisError::NotATrajectory { row: j, changed: changed.len() });
            };
            let step = if next[k] > here[k] { delta } else { -delta };
            effects[k].push((y[j + 1] - y[j]) / step);
        }
    }
    if dropped == total {
        return Err(AnalysisError::NothingLeft { unit: "trajectory", dropped });
    }
    let mean = |values: &[f64]| values.iter().sum::<f64>() / values.len() as f64;
    let mut rng = Rng::stream(seed, 0x6d75_7374);
    let mut mu_star_conf = Vec::with_capacity(dims);
    for ee in &effects {
        let mut resampled = Vec::with_capacity(resamples);
        for _ in 0..resamples {
            let sum: f64 = (0..ee.len()).map(|_| ee[rng.below(ee.len() as u64) as usize].abs()).sum();
            resampled.push(sum / ee.len() as f64);
        }
        mu_star_conf.push(Z_95 * sample_std(&resampled));
    }
    Ok(MorrisIndices {
        mu: effects.iter().map(|ee| mean(ee)).collect(),
        mu_star: effects.iter().map(|ee| ee.iter().map(|e| e.abs()).sum::<f64>() / ee.len() as f64).collect(),
        mu_star_conf,
        sigma: effects.iter().map(|ee| sample_std(ee)).collect(),
        trajectories_used: total - dropped,
        trajectories_dropped: dropped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::design::morris;

    /// Unit-space rows and the outputs of `f` on a Morris design.
    fn run(r: usize, dims: usize, levels: u32, f: impl Fn(&[f64]) -> f64) -> (Vec<f64>, Vec<f64>) {
        let design = morris(r, dims, levels, 5).expect("valid levels");
        let x: Vec<f64> = (0..design.rows()).flat_map(|i| design.row(i).to_vec()).collect();
        let y = (0..design.rows()).map(|i| f(design.row(i))).collect();
        (x, y)
    }

    #[test]
    fn linear_function_has_its_coefficients_as_effects() {
        // y = 4 u1 − 2 u2 + 0.5 u3: every effect of input k is exactly its coefficient.
        let (x, y) = run(20, 3, 4, |u| 4.0 * u[0] - 2.0 * u[1] + 0.5 * u[2]);
        let m = morris_indices(&x, &y, 3, 4, 100, 0).expect("estimable");
        for (k, c) in [4.0, -2.0, 0.5].into_iter().enumerate() {
            // Effects are differences of sums of k/3 grid values over 2/3: a few ulps off.
            assert!((m.mu[k] - c).abs() < 1e-9 && (m.mu_star[k] - f64::abs(c)).abs() < 1e-9, "{m:?}");
            assert!(m.sigma[k] < 1e-9 && m.mu_star_conf[k] < 1e-9, "{m:?}");
        }
    }

    #[test]
    fn nonlinear_inputs_have_spread_and_the_ranking_is_kept() {
        // u1² has effects that depend on where the step starts: σ > 0; u3 has no effect.
        let (x, y) = run(50, 3, 4, |u| 10.0 * u[0] * u[0] + u[1]);
        let m = morris_indices(&x, &y, 3, 4, 100, 0).expect("estimable");
        assert!(m.mu_star[0] > m.mu_star[1] && m.mu_star[1] > m.mu_star[2], "{m:?}");
        assert!(m.sigma[0] > 1.0 && m.mu_star[2] == 0.0 && m.mu_star_conf[0] > 0.0, "{m:?}");
    }

    #[test]
    fn trajectories_with_a_failure_are_dropped_and_counted() {
        let (x, mut y) = run(10, 2, 4, |u| u[0] + u[1]);
        y[4] = f64::NAN; // trajectory 1 (rows 3..6)
        let m = morris_indices(&x, &y, 2, 4, 10, 0).expect("estimable");
        assert_eq!((m.trajectories_used, m.trajectories_dropped), (9, 1));
        assert!(matches!(morris_indices(&x, &[f64::NAN; 30], 2, 4, 10, 0), Err(AnalysisError::NothingLeft { .. })));
        let mut bad = x.clone();
        bad[2] += 1.0; // row 1 now differs from row 0 in two inputs, or none
        assert!(matches!(morris_indices(&bad, &y, 2, 4, 10, 0), Err(AnalysisError::NotATrajectory { .. })));
    }
}
