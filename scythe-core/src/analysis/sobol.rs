//! [`sobol_indices`]: first-order and total Sobol' indices from the outputs of a `saltelli`
//! design, with the estimators of Saltelli et al. (2010, "Variance based sensitivity analysis of
//! model output", table 2): first order `S1_k = mean(f(B)·(f(AB_k) − f(A))) / V` and total
//! order after Jansen (1999) `ST_k = mean((f(A) − f(AB_k))²) / (2V)`, `V` the variance of the
//! `A` and `B` outputs together. Outputs are centred on their mean first, as SALib does (the
//! first-order estimator is not shift-invariant; centring lowers its variance).

use super::{AnalysisError, Z_95, sample_std};
use crate::design::{Rng, saltelli_block};

/// Sobol' indices of one output, one entry per design dimension.
#[derive(Debug, Clone, PartialEq)]
pub struct SobolIndices {
    /// First-order indices.
    pub s1: Vec<f64>,
    /// Half-widths of the 95% bootstrap intervals of `s1`.
    pub s1_conf: Vec<f64>,
    /// Total-order indices.
    pub st: Vec<f64>,
    /// Half-widths of the 95% bootstrap intervals of `st`.
    pub st_conf: Vec<f64>,
    /// Blocks the indices rest on.
    pub blocks_used: usize,
    /// Blocks dropped for a failed or missing (non-finite) output.
    pub blocks_dropped: usize,
}

/// The indices of `y`, the outputs of a Saltelli design of `dims` dimensions in design-row
/// order (NaN for a failed or missing spec). A block with any non-finite output is dropped.
/// Confidence intervals: `resamples` bootstrap resamples of the complete blocks with
/// replacement, drawn from `seed`; the half-width is `1.96 ×` their standard deviation.
pub fn sobol_indices(
    y: &[f64],
    dims: usize,
    second_order: bool,
    resamples: usize,
    seed: u64,
) -> Result<SobolIndices, AnalysisError> {
    let size = saltelli_block(dims, second_order);
    if dims == 0 || !y.len().is_multiple_of(size) {
        return Err(AnalysisError::Layout { unit: "block", size, rows: y.len() });
    }
    let total = y.len() / size;
    let blocks: Vec<&[f64]> = y.chunks(size).filter(|block| block.iter().all(|v| v.is_finite())).collect();
    let dropped = total - blocks.len();
    if blocks.is_empty() {
        return Err(AnalysisError::NothingLeft { unit: "block", dropped });
    }
    let n_values = (blocks.len() * size) as f64;
    let centre = blocks.iter().flat_map(|block| block.iter()).sum::<f64>() / n_values;
    // Per block: A, AB_1 … AB_d, B (the BA rows of a second-order design are not used).
    let rows: Vec<Block> = blocks
        .iter()
        .map(|block| Block {
            a: block[0] - centre,
            ab: block[1..=dims].iter().map(|v| v - centre).collect(),
            b: block[size - 1] - centre,
        })
        .collect();
    let all: Vec<usize> = (0..rows.len()).collect();
    let (s1, st) = estimate(&rows, &all, dims).ok_or(AnalysisError::ConstantOutput)?;
    let mut rng = Rng::stream(seed, 0x736f_626f);
    let mut s1_samples = vec![Vec::with_capacity(resamples); dims];
    let mut st_samples = vec![Vec::with_capacity(resamples); dims];
    let mut picks = vec![0usize; rows.len()];
    for _ in 0..resamples {
        for pick in &mut picks {
            *pick = rng.below(rows.len() as u64) as usize;
        }
        // A resample of identical blocks has no variance: it says nothing, leave it out.
        if let Some((s1, st)) = estimate(&rows, &picks, dims) {
            for k in 0..dims {
                s1_samples[k].push(s1[k]);
                st_samples[k].push(st[k]);
            }
        }
    }
    Ok(SobolIndices {
        s1,
        s1_conf: s1_samples.iter().map(|s| Z_95 * sample_std(s)).collect(),
        st,
        st_conf: st_samples.iter().map(|s| Z_95 * sample_std(s)).collect(),
        blocks_used: rows.len(),
        blocks_dropped: dropped,
    })
}

/// The centred outputs of one complete block.
struct Block {
    a: f64,
    ab: Vec<f64>,
    b: f64,
}

/// Both estimators over the blocks `picks` (with repeats); `None` when `V = 0`.
fn estimate(rows: &[Block], picks: &[usize], dims: usize) -> Option<(Vec<f64>, Vec<f64>)> {
    let n = picks.len() as f64;
    let mean = picks.iter().map(|&i| rows[i].a + rows[i].b).sum::<f64>() / (2.0 * n);
    let variance =
        picks.iter().map(|&i| (rows[i].a - mean).powi(2) + (rows[i].b - mean).powi(2)).sum::<f64>() / (2.0 * n);
    if variance <= 0.0 || !variance.is_finite() {
        return None;
    }
    let mut s1 = vec![0.0; dims];
    let mut st = vec![0.0; dims];
    for &i in picks {
        let row = &rows[i];
        for k in 0..dims {
            s1[k] += row.b * (row.ab[k] - row.a);
            st[k] += (row.a - row.ab[k]).powi(2);
        }
    }
    for k in 0..dims {
        s1[k] /= n * variance;
        st[k] /= 2.0 * n * variance;
    }
    Some((s1, st))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::design::saltelli;

    /// Outputs of `f` on a Saltelli design over `[0, 1)^dims`, in design-row order.
    fn outputs(n: usize, dims: usize, f: impl Fn(&[f64]) -> f64) -> Vec<f64> {
        let design = saltelli(n, dims, 1, false).expect("within limits");
        (0..design.rows()).map(|i| f(design.row(i))).collect()
    }

    #[test]
    fn additive_function_has_indices_proportional_to_variances() {
        // y = u1 + 2 u2 on uniforms: V = (1 + 4)/12, S1 = ST = (1/5, 4/5), no interaction.
        let y = outputs(4096, 2, |u| u[0] + 2.0 * u[1]);
        let s = sobol_indices(&y, 2, false, 100, 7).expect("estimable");
        for (k, expected) in [0.2, 0.8].into_iter().enumerate() {
            // With N = 4096 Sobol' points the estimators' errors are well below 0.01.
            assert!((s.s1[k] - expected).abs() < 0.01, "S1 {:?}", s.s1);
            assert!((s.st[k] - expected).abs() < 0.01, "ST {:?}", s.st);
            assert!(s.s1_conf[k] > 0.0 && s.s1_conf[k] < 0.05, "{:?}", s.s1_conf);
        }
        assert_eq!((s.blocks_used, s.blocks_dropped), (4096, 0));
    }

    #[test]
    fn ishigami_indices_match_the_analytic_values() {
        use std::f64::consts::PI;
        let f = |u: &[f64]| {
            let x: Vec<f64> = u.iter().map(|u| -PI + 2.0 * PI * u).collect();
            x[0].sin() + 7.0 * x[1].sin().powi(2) + 0.1 * x[2].powi(4) * x[0].sin()
        };
        let s = sobol_indices(&outputs(4096, 3, f), 3, false, 100, 1).expect("estimable");
        // Analytic values (Ishigami and Homma 1990); ±0.03 is the tolerance at N = 4096.
        for k in 0..3 {
            assert!((s.s1[k] - [0.3139, 0.4424, 0.0][k]).abs() < 0.03, "S1 {:?}", s.s1);
            assert!((s.st[k] - [0.5576, 0.4424, 0.2437][k]).abs() < 0.03, "ST {:?}", s.st);
        }
    }

    #[test]
    fn blocks_with_a_failed_spec_are_dropped_and_counted() {
        let mut y = outputs(256, 2, |u| u[0] + 2.0 * u[1]);
        let size = saltelli_block(2, false);
        y[3] = f64::NAN; // block 0
        y[size * 10] = f64::INFINITY; // block 10
        y[size * 10 + 1] = f64::NAN; // block 10 again
        let s = sobol_indices(&y, 2, false, 10, 0).expect("estimable");
        assert_eq!((s.blocks_used, s.blocks_dropped), (254, 2));
        assert!(s.s1.iter().chain(&s.st).all(|v| v.is_finite()));
    }

    #[test]
    fn same_seed_same_intervals_and_bad_inputs_are_refused() {
        let y = outputs(64, 2, |u| u[0] * u[1]);
        assert_eq!(sobol_indices(&y, 2, false, 20, 3), sobol_indices(&y, 2, false, 20, 3));
        assert!(matches!(sobol_indices(&y[1..], 2, false, 20, 3), Err(AnalysisError::Layout { size: 4, .. })));
        assert_eq!(sobol_indices(&[1.0; 8], 2, false, 5, 0), Err(AnalysisError::ConstantOutput));
        assert!(matches!(
            sobol_indices(&[f64::NAN; 8], 2, false, 5, 0),
            Err(AnalysisError::NothingLeft { dropped: 2, .. })
        ));
    }
}
