//! [`ColumnScan`]: a column's [`Summary`] and [`Histogram`] from values streamed in a few
//! passes, in memory that does not grow with the column, with exact quantiles.
//!
//! Pass 1 counts the values and finds their sum and range; pass 2 fills the histogram, sums
//! the squared deviations from the mean (pandas' two-pass variance) and starts the quantile
//! search. Quantiles are exact, by selection in passes (a histogram refinement in the spirit of
//! Munro and Paterson 1980, "Selection and sorting with limited storage"): each pass either
//! splits the range holding a wanted rank into [`SEARCH_BINS`] bins or, once that range holds
//! at most [`COLLECT_LIMIT`] values, collects and sorts them. On most columns the search ends
//! with pass 3; a column of many near-equal values may take a few more.

use super::{Histogram, Summary};

/// Bins of one refinement step of the quantile search.
pub const SEARCH_BINS: usize = 4096;
/// Most values the search collects for one range; a range holding more is split again.
pub const COLLECT_LIMIT: usize = 1 << 16;
/// Refinement steps after which a range is collected whatever it holds (each step shrinks it
/// to one bin's actual values, so this is never reached but on pathological columns).
const MAX_STEPS: usize = 12;

/// The streamed statistics of one column: call [`ColumnScan::add`] on every value, then
/// [`ColumnScan::end_pass`], and read the column again while [`ColumnScan::needs_pass`].
#[derive(Debug, Clone)]
pub struct ColumnScan {
    pass: u32,
    bins: usize,
    count: usize,
    nan: usize,
    inf: usize,
    min: f64,
    max: f64,
    sum: f64,
    squares: f64,
    histogram: Option<Histogram>,
    quantiles: Option<QuantileSearch>,
}

/// The quantiles a [`Summary`] holds.
const PROBABILITIES: [f64; 3] = [0.25, 0.5, 0.75];

impl ColumnScan {
    /// A scan whose histogram has `bins` bins.
    pub fn new(bins: usize) -> ColumnScan {
        ColumnScan {
            pass: 1,
            bins,
            count: 0,
            nan: 0,
            inf: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            sum: 0.0,
            squares: 0.0,
            histogram: None,
            quantiles: None,
        }
    }

    /// The summary and histogram of `values`, scanned in as many passes as it takes.
    pub fn of(values: &[f64], bins: usize) -> ColumnScan {
        let mut scan = ColumnScan::new(bins);
        while scan.needs_pass() {
            for &v in values {
                scan.add(v);
            }
            scan.end_pass();
        }
        scan
    }

    /// Which pass this is, from 1.
    pub fn pass(&self) -> u32 {
        self.pass
    }

    /// Whether the column must be read (again) before the statistics are complete.
    pub fn needs_pass(&self) -> bool {
        self.pass <= 2 || self.quantiles.as_ref().is_some_and(|q| !q.done())
    }

    /// Takes one value of the current pass (any order; every pass must see the same values).
    pub fn add(&mut self, v: f64) {
        if self.pass == 1 {
            if v.is_nan() {
                self.nan += 1;
            } else if v.is_infinite() {
                self.inf += 1;
            } else {
                self.count += 1;
                self.sum += v;
                self.min = self.min.min(v);
                self.max = self.max.max(v);
            }
            return;
        }
        if !v.is_finite() {
            return;
        }
        if self.pass == 2 {
            self.squares += (v - self.mean()).powi(2);
            if let Some(histogram) = &mut self.histogram {
                histogram.add(v);
            }
        }
        if let Some(quantiles) = &mut self.quantiles {
            quantiles.add(v);
        }
    }

    /// Ends the current pass.
    pub fn end_pass(&mut self) {
        if self.pass == 1 {
            self.histogram = Some(Histogram::over(self.min, self.max, self.bins));
            self.quantiles = Some(QuantileSearch::new(self.count, self.min, self.max, &PROBABILITIES));
        } else if let Some(quantiles) = &mut self.quantiles {
            quantiles.end_pass();
        }
        self.pass += 1;
    }

    /// Smallest and largest finite values, once pass 1 has ended (`min > max` when none).
    pub fn range(&self) -> (f64, f64) {
        (self.min, self.max)
    }

    fn mean(&self) -> f64 {
        if self.count == 0 { f64::NAN } else { self.sum / self.count as f64 }
    }

    /// The statistics, once no pass is needed (NaN quantiles before).
    pub fn summary(&self) -> Summary {
        let quantile = |p: f64| self.quantiles.as_ref().map_or(f64::NAN, |q| q.quantile(p));
        let present = |v: f64| if self.count == 0 { f64::NAN } else { v };
        Summary {
            count: self.count,
            nan: self.nan,
            inf: self.inf,
            min: present(self.min),
            q25: quantile(0.25),
            q50: quantile(0.5),
            q75: quantile(0.75),
            max: present(self.max),
            mean: self.mean(),
            std: if self.count < 2 { f64::NAN } else { (self.squares / (self.count - 1) as f64).sqrt() },
        }
    }

    /// The histogram, once pass 2 has ended (empty bins over `[0, 1]` before).
    pub fn histogram(&self) -> Histogram {
        self.histogram.clone().unwrap_or_else(|| Histogram::over(0.0, 1.0, self.bins))
    }
}

/// Exact quantiles (linear interpolation, as [`quantile`](super::quantile)) of the finite
/// values of a column streamed in passes: [`QuantileSearch::add`] every finite value, then
/// [`QuantileSearch::end_pass`], until [`QuantileSearch::done`].
#[derive(Debug, Clone)]
pub struct QuantileSearch {
    count: usize,
    /// The ranks (0-based, ascending order) the quantiles interpolate between, and their
    /// values once found.
    ranks: Vec<(usize, Option<f64>)>,
    windows: Vec<Window>,
}

/// A range of values that holds wanted ranks: the values in it are those whose bin was `bin`
/// at each step of `path`.
#[derive(Debug, Clone)]
struct Window {
    path: Vec<Step>,
    /// Values below the window.
    below: usize,
    /// Indices into `ranks` it holds.
    wanted: Vec<usize>,
    state: State,
}

/// One refinement: the range `[low, high]` split into [`SEARCH_BINS`] bins, and the bin taken.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Step {
    low: f64,
    high: f64,
    bin: usize,
}

#[derive(Debug, Clone)]
enum State {
    /// Counting the values of `[low, high]` per bin, with each bin's smallest and largest value.
    Split { low: f64, high: f64, counts: Vec<usize>, lows: Vec<f64>, highs: Vec<f64> },
    /// Collecting the values.
    Collect(Vec<f64>),
}

fn bin_of(v: f64, low: f64, high: f64) -> usize {
    if high > low { (((v - low) / (high - low) * SEARCH_BINS as f64) as usize).min(SEARCH_BINS - 1) } else { 0 }
}

impl State {
    fn split(low: f64, high: f64) -> State {
        State::Split {
            low,
            high,
            counts: vec![0; SEARCH_BINS],
            lows: vec![f64::INFINITY; SEARCH_BINS],
            highs: vec![f64::NEG_INFINITY; SEARCH_BINS],
        }
    }
}

impl QuantileSearch {
    /// A search for the `probabilities` quantiles of `count` finite values in `[min, max]`.
    pub fn new(count: usize, min: f64, max: f64, probabilities: &[f64]) -> QuantileSearch {
        let mut ranks: Vec<(usize, Option<f64>)> = Vec::new();
        if count > 0 {
            for &p in probabilities {
                let below = ((count - 1) as f64 * p.clamp(0.0, 1.0)).floor() as usize;
                for rank in [below, (below + 1).min(count - 1)] {
                    if !ranks.iter().any(|&(r, _)| r == rank) {
                        ranks.push((rank, None));
                    }
                }
            }
        }
        let mut search = QuantileSearch { count, ranks, windows: Vec::new() };
        if count > 0 {
            let wanted = (0..search.ranks.len()).collect();
            search.open(Vec::new(), 0, count, wanted, min, max);
        }
        search
    }

    /// Starts a window of `count` values over `[low, high]`, or resolves it at once when
    /// they are all equal.
    fn open(&mut self, path: Vec<Step>, below: usize, count: usize, wanted: Vec<usize>, low: f64, high: f64) {
        if low == high {
            for k in wanted {
                self.ranks[k].1 = Some(low);
            }
            return;
        }
        let state = if count <= COLLECT_LIMIT || path.len() >= MAX_STEPS {
            State::Collect(Vec::with_capacity(count))
        } else {
            State::split(low, high)
        };
        self.windows.push(Window { path, below, wanted, state });
    }

    /// Whether every wanted rank is found.
    pub fn done(&self) -> bool {
        self.windows.is_empty()
    }

    /// Takes one finite value of the current pass.
    pub fn add(&mut self, v: f64) {
        for window in &mut self.windows {
            if !window.path.iter().all(|s| bin_of(v, s.low, s.high) == s.bin) {
                continue;
            }
            match &mut window.state {
                State::Collect(values) => values.push(v),
                State::Split { low, high, counts, lows, highs } => {
                    let bin = bin_of(v, *low, *high);
                    counts[bin] += 1;
                    lows[bin] = lows[bin].min(v);
                    highs[bin] = highs[bin].max(v);
                }
            }
        }
    }

    /// Ends a pass: resolves collected windows and narrows split ones to the bins of their ranks.
    pub fn end_pass(&mut self) {
        for window in std::mem::take(&mut self.windows) {
            match window.state {
                State::Collect(mut values) => {
                    values.sort_by(f64::total_cmp);
                    for k in window.wanted {
                        // The window holds the ranks `below..below + count`; a short pass (values
                        // missing) leaves the rank unresolved rather than panicking.
                        let value = values.get(self.ranks[k].0 - window.below).copied().unwrap_or(f64::NAN);
                        self.ranks[k].1 = Some(value);
                    }
                }
                State::Split { low, high, counts, lows, highs } => {
                    let mut below = window.below;
                    for (bin, &count) in counts.iter().enumerate() {
                        let wanted: Vec<usize> = window
                            .wanted
                            .iter()
                            .copied()
                            .filter(|&k| (below..below + count).contains(&self.ranks[k].0))
                            .collect();
                        if !wanted.is_empty() {
                            let mut path = window.path.clone();
                            path.push(Step { low, high, bin });
                            self.open(path, below, count, wanted, lows[bin], highs[bin]);
                        }
                        below += count;
                    }
                    // Ranks past the values counted (a short pass) stay unresolved: NaN.
                    for &k in &window.wanted {
                        if self.ranks[k].0 >= below {
                            self.ranks[k].1 = Some(f64::NAN);
                        }
                    }
                }
            }
        }
    }

    /// The `p` quantile, once [`QuantileSearch::done`] (NaN before, or with no values).
    pub fn quantile(&self, p: f64) -> f64 {
        if self.count == 0 {
            return f64::NAN;
        }
        let h = (self.count - 1) as f64 * p.clamp(0.0, 1.0);
        let below = h.floor() as usize;
        let value =
            |rank: usize| self.ranks.iter().find(|&&(r, _)| r == rank).and_then(|&(_, v)| v).unwrap_or(f64::NAN);
        let (x0, x1) = (value(below), value((below + 1).min(self.count - 1)));
        if below + 1 >= self.count { x0 } else { x0 + (h - below as f64) * (x1 - x0) }
    }
}

#[cfg(test)]
mod tests {
    use super::super::quantile;
    use super::*;
    use crate::design::Rng;

    fn sorted(values: &[f64]) -> Vec<f64> {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        sorted.sort_by(f64::total_cmp);
        sorted
    }

    #[test]
    fn streamed_quantiles_equal_those_of_the_sorted_column() {
        // 300,000 values: more than COLLECT_LIMIT, so the search splits before it collects.
        let mut rng = Rng::new(3);
        let mut values: Vec<f64> = (0..300_000).map(|_| rng.next_f64().powi(3) * 1e3 - 10.0).collect();
        values[17] = f64::NAN;
        values[99] = f64::INFINITY;
        let scan = ColumnScan::of(&values, 30);
        assert_eq!(scan.pass(), 4, "three passes");
        let (s, exact) = (scan.summary(), sorted(&values));
        // Same doubles picked, same interpolation: equal, not close.
        assert_eq!([s.q25, s.q50, s.q75], [0.25, 0.5, 0.75].map(|p| quantile(&exact, p)));
        assert_eq!((s.count, s.nan, s.inf, s.min, s.max), (299_998, 1, 1, exact[0], exact[299_997]));
        assert_eq!(scan.histogram().counts.iter().sum::<u64>(), 299_998);
        assert_eq!(scan.histogram(), Histogram::of(&values, 30));
    }

    #[test]
    fn columns_of_few_distinct_values_are_resolved_without_collecting_them() {
        // 200,000 copies of three values: every wanted bin holds one value, found by its range.
        let values: Vec<f64> = (0..200_000).map(|i| f64::from(i % 3)).collect();
        let scan = ColumnScan::of(&values, 10);
        let exact = sorted(&values);
        let s = scan.summary();
        assert_eq!([s.q25, s.q50, s.q75], [0.25, 0.5, 0.75].map(|p| quantile(&exact, p)));
        assert_eq!(scan.pass(), 3, "two passes: the bins' ranges resolve the ranks");
        let constant = ColumnScan::of(&[7.0; 100_000], 10).summary();
        assert_eq!((constant.q25, constant.q75, constant.std), (7.0, 7.0, 0.0));
    }

    #[test]
    fn a_heavily_concentrated_column_is_refined_until_exact() {
        // 100,000 values within 1e-9 of 1 and one at 1e12: the first split puts them all in bin 0.
        let mut rng = Rng::new(8);
        let mut values: Vec<f64> = (0..100_000).map(|_| 1.0 + rng.next_f64() * 1e-9).collect();
        values.push(1e12);
        let scan = ColumnScan::of(&values, 10);
        let exact = sorted(&values);
        let s = scan.summary();
        assert_eq!([s.q25, s.q50, s.q75], [0.25, 0.5, 0.75].map(|p| quantile(&exact, p)));
        assert!(scan.pass() > 4, "refined more than once");
    }

    #[test]
    fn an_empty_column_has_nan_statistics() {
        let s = ColumnScan::of(&[f64::NAN, f64::NEG_INFINITY], 5).summary();
        assert!(s.count == 0 && s.min.is_nan() && s.q50.is_nan() && s.mean.is_nan() && s.std.is_nan());
    }
}
