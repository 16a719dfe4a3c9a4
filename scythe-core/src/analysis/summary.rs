//! [`Summary`]: the descriptive statistics of one numeric column, as `pandas.Series.describe`
//! computes them, plus counts of NaN and infinite values.

use super::ColumnScan;

/// Descriptive statistics of the finite values of a column; NaN and ±∞ are counted apart and
/// left out of every statistic (a failed spec is a NaN output).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Finite values.
    pub count: usize,
    /// NaN values.
    pub nan: usize,
    /// Infinite values (either sign).
    pub inf: usize,
    /// Smallest finite value (NaN when there is none).
    pub min: f64,
    /// 25th percentile.
    pub q25: f64,
    /// Median.
    pub q50: f64,
    /// 75th percentile.
    pub q75: f64,
    /// Largest finite value.
    pub max: f64,
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation (`ddof = 1`, as pandas); NaN for fewer than two values.
    pub std: f64,
}

impl Summary {
    /// The statistics of `values` (any order), computed as a [`ColumnScan`] computes them
    /// from a streamed column.
    pub fn of(values: &[f64]) -> Summary {
        ColumnScan::of(values, 1).summary()
    }
}

/// The `q` quantile (`0 ≤ q ≤ 1`) of ascending `sorted` values with linear interpolation
/// between the closest ranks, pandas' and numpy's default (Hyndman and Fan 1996, definition 7):
/// position `h = (n − 1) q`, value `x[⌊h⌋] + (h − ⌊h⌋)(x[⌊h⌋ + 1] − x[⌊h⌋])`. NaN when empty.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let Some(&last) = sorted.last() else { return f64::NAN };
    let h = (sorted.len() - 1) as f64 * q.clamp(0.0, 1.0);
    let below = h.floor() as usize;
    match sorted.get(below + 1) {
        Some(&next) => sorted[below] + (h - below as f64) * (next - sorted[below]),
        None => last,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_linearly_between_ranks() {
        // pandas.Series([1, 2, 3, 4]).quantile([.25, .5, .75]) == [1.75, 2.5, 3.25]: exact in binary.
        let s = Summary::of(&[4.0, 1.0, 3.0, 2.0]);
        assert_eq!((s.q25, s.q50, s.q75), (1.75, 2.5, 3.25));
        assert_eq!((s.min, s.max, s.mean, s.count), (1.0, 4.0, 2.5, 4));
        // std of 1..4 with ddof = 1 is sqrt(5/3).
        assert!((s.std - (5.0f64 / 3.0).sqrt()).abs() < 1e-15);
    }

    #[test]
    fn nan_and_infinite_values_are_counted_and_left_out() {
        let s = Summary::of(&[f64::NAN, 1.0, f64::INFINITY, 3.0, f64::NEG_INFINITY, f64::NAN]);
        assert_eq!((s.count, s.nan, s.inf), (2, 2, 2));
        assert_eq!((s.min, s.q50, s.max, s.mean), (1.0, 2.0, 3.0, 2.0));
        let empty = Summary::of(&[f64::NAN]);
        assert!(empty.count == 0 && empty.min.is_nan() && empty.q50.is_nan() && empty.std.is_nan());
        let one = Summary::of(&[5.0]);
        assert!(one.q25 == 5.0 && one.q75 == 5.0 && one.std.is_nan());
    }

    #[test]
    fn uniform_quantiles_approach_the_analytic_ones() {
        // 0, 1/1000, …, 1: the q quantile is exactly q·1000/1000 up to rounding of k/1000.
        let values: Vec<f64> = (0..=1000).map(|k| f64::from(k) / 1000.0).collect();
        let s = Summary::of(&values);
        assert!((s.q25 - 0.25).abs() < 1e-12 && (s.q50 - 0.5).abs() < 1e-12 && (s.q75 - 0.75).abs() < 1e-12);
    }
}
