//! `lhs`: Latin hypercube sampling (McKay, Beckman and Conover 1979), optionally maximin by
//! best of k candidates (the criterion of Johnson, Moore and Ylvisaker 1990).

use super::rng::Rng;
use super::unit::UnitDesign;

/// `n` points such that each dimension's `n` strata `[k/n, (k+1)/n)` hold exactly one point,
/// at a uniform position within the stratum. With `candidates > 1`, that many hypercubes are
/// drawn and the one whose closest pair of points is farthest apart is kept (cost
/// `O(candidates · n² · dims)`).
pub fn lhs(n: usize, dims: usize, seed: u64, candidates: usize) -> UnitDesign {
    let mut best = latin_hypercube(n, dims, seed, 0);
    if candidates > 1 && n > 1 {
        let mut best_distance = min_squared_distance(&best);
        for candidate in 1..candidates {
            let design = latin_hypercube(n, dims, seed, candidate as u64);
            let distance = min_squared_distance(&design);
            if distance > best_distance {
                (best, best_distance) = (design, distance);
            }
        }
    }
    best
}

fn latin_hypercube(n: usize, dims: usize, seed: u64, candidate: u64) -> UnitDesign {
    let mut rng = Rng::stream(seed, 0x6c68_7300 ^ (candidate << 32));
    let strata: Vec<Vec<u32>> = (0..dims).map(|_| rng.permutation(n)).collect();
    let mut design = UnitDesign::with_capacity(dims, n);
    let mut row = vec![0.0; dims];
    for i in 0..n {
        for (u, stratum) in row.iter_mut().zip(&strata) {
            *u = (f64::from(stratum[i]) + rng.next_f64()) / n as f64;
        }
        design.push(&row);
    }
    design
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
    fn maximin_keeps_the_strata_and_spreads_points() {
        let plain = lhs(30, 2, 5, 1);
        let spread = lhs(30, 2, 5, 20);
        assert_latin(&spread);
        // The first candidate is the plain hypercube, so the best of 20 is at least as spread.
        assert!(min_squared_distance(&spread) >= min_squared_distance(&plain));
    }
}
