//! `lhs`: Latin hypercube sampling (McKay, Beckman and Conover 1979), optionally maximin by
//! best of k candidates (the criterion of Johnson, Moore and Ylvisaker 1990).

use super::permute::Permutation;
use super::rng::Rng;
use super::unit::UnitDesign;

/// `n` points such that each dimension's `n` strata `[k/n, (k+1)/n)` hold exactly one point,
/// at a uniform position within the stratum. With `candidates > 1`, that many hypercubes are
/// drawn and the one whose closest pair of points is farthest apart is kept (cost
/// `O(candidates · n² · dims)`).
pub fn lhs(n: usize, dims: usize, seed: u64, candidates: usize) -> UnitDesign {
    LhsPoints::maximin(n as u64, dims, seed, candidates).fill_all()
}

/// The points of one Latin hypercube, any row computed on its own: row `i` is in stratum
/// `π_j(i)` of dimension `j` for a random permutation `π_j` ([`Permutation`]), at a uniform
/// offset within it drawn from dimension `j`'s stream at position `i`.
#[derive(Debug, Clone)]
pub(crate) struct LhsPoints {
    n: u64,
    strata: Vec<Permutation>,
    offsets: Vec<Rng>,
}

impl LhsPoints {
    /// Candidate `candidate` of the hypercubes of `n` points for `seed`.
    fn candidate(n: u64, dims: usize, seed: u64, candidate: u64) -> Self {
        let tag = |dim: usize, what: u64| 0x6c68_7300 ^ (candidate << 32) ^ ((dim as u64) << 8) ^ what;
        let strata = (0..dims).map(|dim| Permutation::new(n, Rng::stream(seed, tag(dim, 1)).next_u64())).collect();
        let offsets = (0..dims).map(|dim| Rng::stream(seed, tag(dim, 2))).collect();
        Self { n, strata, offsets }
    }

    /// The most spread of the first `candidates` hypercubes (the first when `candidates ≤ 1`).
    pub(crate) fn maximin(n: u64, dims: usize, seed: u64, candidates: usize) -> Self {
        let mut best = Self::candidate(n, dims, seed, 0);
        if candidates > 1 && n > 1 {
            let mut best_distance = min_squared_distance(&best.fill_all());
            for candidate in 1..candidates {
                let points = Self::candidate(n, dims, seed, candidate as u64);
                let distance = min_squared_distance(&points.fill_all());
                if distance > best_distance {
                    (best, best_distance) = (points, distance);
                }
            }
        }
        best
    }

    /// Rows `start..start + count` appended to `out`.
    pub(crate) fn fill(&self, start: u64, count: usize, out: &mut UnitDesign) {
        let n = self.n as f64;
        let mut row = vec![0.0; self.strata.len()];
        for i in start..start + count as u64 {
            for ((u, stratum), offset) in row.iter_mut().zip(&self.strata).zip(&self.offsets) {
                *u = (stratum.at(i) as f64 + offset.clone().skip(i).next_f64()) / n;
            }
            out.push(&row);
        }
    }

    fn fill_all(&self) -> UnitDesign {
        let mut design = UnitDesign::with_capacity(self.strata.len(), self.n as usize);
        self.fill(0, self.n as usize, &mut design);
        design
    }
}

/// The smallest squared Euclidean distance between two rows.
pub(crate) fn min_squared_distance(design: &UnitDesign) -> f64 {
    let mut smallest = f64::INFINITY;
    for i in 0..design.rows() {
        for j in i + 1..design.rows() {
            let distance: f64 = design.row(i).iter().zip(design.row(j)).map(|(a, b)| (a - b) * (a - b)).sum();
            smallest = smallest.min(distance);
        }
    }
    smallest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_latin(design: &UnitDesign) {
        let n = design.rows();
        for j in 0..design.dims() {
            let mut strata: Vec<usize> = design.column(j).iter().map(|u| (u * n as f64) as usize).collect();
            strata.sort_unstable();
            assert!(strata.iter().enumerate().all(|(k, &s)| k == s), "dimension {j}: {strata:?}");
        }
    }

    #[test]
    fn one_point_per_stratum_per_dimension() {
        for n in [1, 2, 7, 100, 1000] {
            assert_latin(&lhs(n, 5, 42, 1));
        }
    }

    #[test]
    fn any_range_of_rows_is_the_same_rows() {
        let points = LhsPoints::maximin(500, 3, 8, 1);
        let all = points.fill_all();
        let mut part = UnitDesign::with_capacity(3, 50);
        points.fill(321, 50, &mut part);
        assert!((0..50).all(|i| part.row(i) == all.row(321 + i)));
    }

    #[test]
    fn dimensions_are_not_paired_alike() {
        // Independent permutations: the strata of two dimensions are uncorrelated (Spearman's
        // ρ is about N(0, 1/(n−1)); |ρ| > 0.1 at n = 4000 is over 6σ).
        let design = lhs(4000, 2, 3, 1);
        let (a, b) = (design.column(0), design.column(1));
        let rho: f64 = a.iter().zip(&b).map(|(x, y)| (x - 0.5) * (y - 0.5)).sum::<f64>() * 12.0 / 4000.0;
        assert!(rho.abs() < 0.1, "{rho}");
    }

    #[test]
    fn maximin_keeps_the_strata_and_spreads_points() {
        let plain = lhs(30, 2, 5, 1);
        let spread = lhs(30, 2, 5, 20);
        assert_latin(&spread);
        // The first candidate is the plain hypercube, so the best of 20 is at least as spread.
        assert!(min_squared_distance(&spread) >= min_squared_distance(&plain));
    }
}
