//! [`Rng`]: the seeded random numbers every design draws from (SplitMix64, Steele, Lea and
//! Flood 2014, "Fast splittable pseudorandom number generators").
//!
//! A design draws from independent streams derived from its seed and a purpose tag, so adding
//! a random choice to one method never changes the values of another.

/// SplitMix64: a 64-bit state advanced by a Weyl increment and finalized by a bit mixer.
/// Not cryptographic; fast, small, and fixed forever so a seed gives the same design in every
/// Scythe version.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// The SplitMix64 finalizer (Stafford's "Mix13" variant).
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// An independent generator for `seed` and a purpose `tag` (e.g. one per dimension).
    pub fn stream(seed: u64, tag: u64) -> Self {
        Self { state: mix64(seed ^ mix64(tag.wrapping_add(GOLDEN_GAMMA))) }
    }

    /// The generator `draws` draws further on, in constant time (the state is a Weyl
    /// sequence), so a design can start at any row.
    pub fn skip(mut self, draws: u64) -> Self {
        self.state = self.state.wrapping_add(draws.wrapping_mul(GOLDEN_GAMMA));
        self
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        mix64(self.state)
    }

    /// A uniform draw from `[0, 1)` with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform integer in `0..bound` (`bound > 0`), without modulo bias (Lemire 2019,
    /// "Fast random integer generation in an interval").
    pub fn below(&mut self, bound: u64) -> u64 {
        debug_assert!(bound > 0);
        let threshold = bound.wrapping_neg() % bound;
        loop {
            let product = u128::from(self.next_u64()) * u128::from(bound);
            if (product as u64) >= threshold {
                return (product >> 64) as u64;
            }
        }
    }

    /// Shuffles `items` uniformly (Fisher–Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }

    /// A uniformly random permutation of `0..n`.
    pub fn permutation(&mut self, n: usize) -> Vec<u32> {
        let mut items: Vec<u32> = (0..n as u32).collect();
        self.shuffle(&mut items);
        items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_streams_differ() {
        let a: Vec<u64> = (0..8)
            .map({
                let mut rng = Rng::new(7);
                move |_| rng.next_u64()
            })
            .collect();
        let mut again = Rng::new(7);
        assert!(a.iter().all(|&x| x == again.next_u64()));
        assert_ne!(Rng::stream(7, 0).next_u64(), Rng::stream(7, 1).next_u64());
    }

    #[test]
    fn skipping_lands_where_drawing_does() {
        let mut drawn = Rng::stream(5, 9);
        for _ in 0..1000 {
            drawn.next_u64();
        }
        assert_eq!(drawn.next_u64(), Rng::stream(5, 9).skip(1000).next_u64());
    }

    #[test]
    fn uniform_draws_stay_in_range_and_fill_it() {
        let mut rng = Rng::new(1);
        let mut counts = [0u32; 10];
        for _ in 0..100_000 {
            let u = rng.next_f64();
            assert!((0.0..1.0).contains(&u));
            counts[(u * 10.0) as usize] += 1;
            assert!(rng.below(3) < 3);
        }
        // Each decile expects 10,000 draws; the standard deviation is about 95, so ±600 is > 6σ.
        assert!(counts.iter().all(|&c| c.abs_diff(10_000) < 600), "{counts:?}");
    }

    #[test]
    fn permutations_are_permutations() {
        let mut rng = Rng::new(3);
        let mut p = rng.permutation(1000);
        p.sort_unstable();
        assert!(p.iter().enumerate().all(|(i, &v)| i as u32 == v));
    }
}
