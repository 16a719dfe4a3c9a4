//! `halton`: the Halton sequence (Halton 1960) scrambled by random digit permutations
//! (Braaten and Weller 1979; Owen 2017, "A randomized Halton algorithm in R"): digit `k` of
//! dimension `j` passes through its own random permutation of `0..base_j`.

use super::rng::Rng;
use super::unit::UnitDesign;

/// The largest value below 1.
const BELOW_ONE: f64 = 1.0 - f64::EPSILON / 2.0;

/// The first `n` points of a `dims`-dimensional scrambled Halton sequence in `[0, 1)`;
/// dimension `j` uses the `j`-th prime as its base. Point 0 is scrambled too, so it is not the
/// origin.
pub fn halton(n: usize, dims: usize, seed: u64) -> UnitDesign {
    let mut design = UnitDesign::with_capacity(dims, n);
    HaltonPoints::new(dims, seed).fill(0, n, &mut design);
    design
}

/// The scrambled Halton points of `dims` dimensions for a seed; row `i` from the digits of `i`.
#[derive(Debug, Clone)]
pub(crate) struct HaltonPoints {
    bases: Vec<u32>,
    /// Per dimension, one permutation of `0..base` per digit.
    permutations: Vec<Vec<Vec<u32>>>,
}

impl HaltonPoints {
    /// The points of `dims` dimensions for `seed`.
    pub(crate) fn new(dims: usize, seed: u64) -> Self {
        let bases = primes(dims);
        let permutations = bases
            .iter()
            .enumerate()
            .map(|(j, &base)| {
                let mut rng = Rng::stream(seed, 0x6861_6c74_0000 + j as u64);
                (0..digits(base)).map(|_| rng.permutation(base as usize)).collect()
            })
            .collect();
        Self { bases, permutations }
    }

    /// Rows `start..start + count` appended to `out`.
    pub(crate) fn fill(&self, start: u64, count: usize, out: &mut UnitDesign) {
        let mut row = vec![0.0; self.bases.len()];
        for i in start..start + count as u64 {
            for ((u, &base), permutation) in row.iter_mut().zip(&self.bases).zip(&self.permutations) {
                let (mut rest, mut scale, mut value) = (i, 1.0 / f64::from(base), 0.0);
                for digit_permutation in permutation {
                    let digit = (rest % u64::from(base)) as usize;
                    rest /= u64::from(base);
                    value += f64::from(digit_permutation[digit]) * scale;
                    scale /= f64::from(base);
                }
                *u = value.min(BELOW_ONE);
            }
            out.push(&row);
        }
    }
}

/// Digits of a base-`base` fraction that an `f64` resolves (53 bits).
fn digits(base: u32) -> usize {
    (53.0 / f64::from(base).log2()).ceil() as usize
}

/// The first `count` primes.
fn primes(count: usize) -> Vec<u32> {
    let mut primes: Vec<u32> = Vec::with_capacity(count);
    let mut candidate = 2u32;
    while primes.len() < count {
        if primes.iter().take_while(|&&p| p * p <= candidate).all(|&p| !candidate.is_multiple_of(p)) {
            primes.push(candidate);
        }
        candidate += 1;
    }
    primes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bases_are_primes() {
        assert_eq!(primes(8), [2, 3, 5, 7, 11, 13, 17, 19]);
    }

    #[test]
    fn base_b_dimension_is_balanced_over_b_to_the_k_points() {
        // The first b^k points of dimension j hold one point in each interval of width b^-k
        // (digit permutations keep the van der Corput net property).
        let design = halton(125, 3, 11);
        for (j, base) in [(0usize, 2usize), (1, 3), (2, 5)] {
            let mut parts = base;
            while parts <= 125 {
                let mut counts = vec![0usize; parts];
                for u in design.column(j).iter().take(parts) {
                    assert!((0.0..1.0).contains(u));
                    counts[(u * parts as f64) as usize] += 1;
                }
                assert!(counts.iter().all(|&c| c == 1), "dimension {j}, {parts} points: {counts:?}");
                parts *= base;
            }
        }
    }

    #[test]
    fn seeded() {
        assert_eq!(halton(50, 4, 3), halton(50, 4, 3));
        assert_ne!(halton(50, 4, 3), halton(50, 4, 4));
    }
}
