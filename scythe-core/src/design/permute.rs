//! [`Permutation`]: a seeded random permutation of `0..n` evaluated one index at a time, so a
//! Latin hypercube of any size needs no table of `n` entries per dimension.
//!
//! A four-round Feistel network (Luby and Rackoff 1988) on the smallest power of two `≥ n`,
//! with SplitMix64 rounds, restricted to `0..n` by cycle walking (Black and Rogaway 2002,
//! "Ciphers with arbitrary finite domains"): every index maps to one index of `0..n` and no two
//! to the same one, and fewer than two rounds of walking are needed on average.

use super::rng::mix64;

const ROUNDS: u64 = 4;

/// A bijection of `0..n` chosen by a key.
#[derive(Debug, Clone)]
pub(crate) struct Permutation {
    n: u64,
    /// Bits of the left half; the right half has `right_bits`.
    left_bits: u32,
    right_bits: u32,
    key: u64,
}

impl Permutation {
    /// The permutation of `0..n` for `key`.
    pub(crate) fn new(n: u64, key: u64) -> Self {
        let bits = (64 - n.saturating_sub(1).leading_zeros()).max(2);
        Self { n, left_bits: bits / 2, right_bits: bits - bits / 2, key: mix64(key) }
    }

    /// The image of `index` (`index < n`).
    pub(crate) fn at(&self, index: u64) -> u64 {
        if self.n <= 1 {
            return 0;
        }
        let mut x = index;
        loop {
            x = self.feistel(x);
            if x < self.n {
                return x;
            }
        }
    }

    /// One pass of the network over `0..2^(left_bits + right_bits)`: each round maps
    /// `(l, r)` to `(r, l ⊕ F(r))`, the halves swapping widths, so after an even number of
    /// rounds they are back to their own.
    fn feistel(&self, x: u64) -> u64 {
        let (mut left, mut right) = (x >> self.right_bits, x & mask(self.right_bits));
        let (mut left_bits, mut right_bits) = (self.left_bits, self.right_bits);
        for round in 0..ROUNDS {
            let f = mix64(right ^ self.key.wrapping_add(round.wrapping_mul(0x9e37_79b9_7f4a_7c15))) & mask(left_bits);
            (left, right) = (right, left ^ f);
            (left_bits, right_bits) = (right_bits, left_bits);
        }
        (left << right_bits) | right
    }
}

fn mask(bits: u32) -> u64 {
    if bits >= 64 { u64::MAX } else { (1 << bits) - 1 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_size_gets_a_bijection() {
        for n in [1u64, 2, 3, 5, 16, 17, 100, 1000, 4097] {
            let permutation = Permutation::new(n, n * 31);
            let mut seen = vec![false; n as usize];
            for i in 0..n {
                let j = permutation.at(i) as usize;
                assert!(!seen[j], "n {n}: {j} twice");
                seen[j] = true;
            }
        }
    }

    #[test]
    fn keys_give_different_shuffles_that_look_random() {
        let (a, b) = (Permutation::new(1000, 1), Permutation::new(1000, 2));
        let differ = (0..1000).filter(|&i| a.at(i) != b.at(i)).count();
        assert!(differ > 950, "{differ}");
        // Fixed points of a random permutation: Poisson(1); more than 10 has odds below 1e-7.
        assert!((0..1000).filter(|&i| a.at(i) == i).count() <= 10);
        // Rank correlation of index and image: about N(0, 1/999); |ρ| > 0.2 is over 6σ.
        let mean = 499.5;
        let rho: f64 = (0..1000).map(|i| (i as f64 - mean) * (a.at(i) as f64 - mean)).sum::<f64>()
            / (0..1000).map(|i| (i as f64 - mean).powi(2)).sum::<f64>();
        assert!(rho.abs() < 0.2, "{rho}");
    }
}
