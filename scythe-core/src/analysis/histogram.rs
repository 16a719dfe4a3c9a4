//! [`Histogram`]: counts of a column's finite values in equal-width bins, with numpy's edges and
//! bin rules (`numpy.histogram(values, bins)`, which `pandas.Series.hist` calls).

/// Equal-width bins over `[min, max]` of the finite values: `edges` has one more entry than
/// `counts`; bin `i` holds `edges[i] ≤ x < edges[i + 1]`, and the last bin also holds `max`.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// Bin edges, ascending (`bins + 1` of them).
    pub edges: Vec<f64>,
    /// Values per bin.
    pub counts: Vec<u64>,
}

impl Histogram {
    /// `bins` (at least 1) equal-width bins over the finite values of `values`; as numpy does,
    /// a range of one value becomes `[v − 0.5, v + 0.5]` and no values give `[0, 1]`.
    pub fn of(values: &[f64], bins: usize) -> Histogram {
        let (low, high) = values
            .iter()
            .filter(|v| v.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        let mut histogram = Histogram::over(low, high, bins);
        for &v in values {
            histogram.add(v);
        }
        histogram
    }

    /// Empty bins over `[low, high]`, the smallest and largest finite values of a column read
    /// before (`low > high` when it has none), with the rules of [`Histogram::of`]; fill them
    /// with [`Histogram::add`] while streaming the column.
    pub fn over(low: f64, high: f64, bins: usize) -> Histogram {
        let bins = bins.max(1);
        let (low, high) = if low > high {
            (0.0, 1.0)
        } else if low == high {
            (low - 0.5, high + 0.5)
        } else {
            (low, high)
        };
        // numpy.linspace: start + k·step, the last edge exactly `high`.
        let step = (high - low) / bins as f64;
        let mut edges: Vec<f64> = (0..bins).map(|k| k as f64 * step + low).collect();
        edges.push(high);
        Histogram { edges, counts: vec![0; bins] }
    }

    /// Counts `v` in its bin; non-finite values and values outside the edges are not counted.
    pub fn add(&mut self, v: f64) {
        let bins = self.counts.len();
        let (low, high) = (self.edges[0], self.edges[bins]);
        if !(low..=high).contains(&v) {
            return;
        }
        // numpy's index, then its correction against the edges for rounding near a boundary.
        let mut i = (((v - low) * (bins as f64 / (high - low))) as usize).min(bins - 1);
        if v < self.edges[i] {
            i -= 1;
        } else if i + 1 < bins && v >= self.edges[i + 1] {
            i += 1;
        }
        self.counts[i] += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_fall_in_half_open_bins_and_the_maximum_in_the_last() {
        let h = Histogram::of(&[0.0, 1.0, 2.0, 3.0, 4.0, f64::NAN, f64::INFINITY], 4);
        assert_eq!(h.edges, [0.0, 1.0, 2.0, 3.0, 4.0]);
        assert_eq!(h.counts, [1, 1, 1, 2]);
    }

    #[test]
    fn uniform_values_fill_bins_evenly_and_every_value_is_counted() {
        let values: Vec<f64> = (0..10_000).map(|k| f64::from(k) * 0.1).collect();
        let h = Histogram::of(&values, 10);
        assert_eq!(h.counts.iter().sum::<u64>(), 10_000);
        // Edges at multiples of 99.99; each bin holds 999 or 1000 of the 0.1-spaced values.
        assert!(h.counts.iter().all(|&c| c.abs_diff(1000) <= 1), "{:?}", h.counts);
    }

    #[test]
    fn a_single_value_and_no_values_get_numpys_default_ranges() {
        let h = Histogram::of(&[2.0, 2.0], 2);
        assert_eq!((h.edges.clone(), h.counts), (vec![1.5, 2.0, 2.5], vec![0, 2]));
        assert_eq!(Histogram::of(&[], 1).edges, [0.0, 1.0]);
    }
}
