//! `sobol`: the Sobol' sequence (Sobol' 1967; Joe and Kuo 2008 direction numbers), Owen-scrambled
//! with Burley's hash-based nested uniform scramble (Burley 2020, "Practical Hash-based Owen
//! Scrambling"), from the `sobol_burley` crate.
//!
//! `sobol_burley` keeps 16 direction numbers per dimension (2^16 points). The numbers past the
//! 16th follow from the dimension's primitive polynomial by the recurrence of Bratley and Fox
//! (1988, Algorithm 659), so the first 2^16 points are the crate's own and the sequence goes on
//! to 2^32 points. The polynomials are those of Joe and Kuo's `new-joe-kuo-6.21201`
//! (Copyright (c) 2008, Frances Y. Kuo and Stephen Joe; BSD licence, as in `sobol_burley`).

use sobol_burley::parts::{hash, owen_scramble_rev, sobol_rev};

use super::DesignError;
use super::rng::mix64;
use super::unit::UnitDesign;

/// The most dimensions the direction numbers cover.
pub const SOBOL_MAX_DIMS: usize = sobol_burley::NUM_DIMENSIONS as usize;
/// The most points: 32 direction numbers per dimension.
pub const SOBOL_MAX_POINTS: u64 = 1 << 32;

/// Direction numbers `sobol_burley` has per dimension.
const CRATE_BITS: usize = 16;

/// Degree `s` and inner coefficients `a` of the primitive polynomial of dimensions 1, 2, …
/// (dimension 0 is van der Corput's), from Joe and Kuo's table.
#[rustfmt::skip]
const POLYNOMIALS: [(u32, u32); SOBOL_MAX_DIMS - 1] = [
    (1, 0), (2, 1), (3, 1), (3, 2), (4, 1), (4, 4), (5, 2), (5, 4), (5, 7), (5, 11),
    (5, 13), (5, 14), (6, 1), (6, 13), (6, 16), (6, 19), (6, 22), (6, 25), (7, 1), (7, 4),
    (7, 7), (7, 8), (7, 14), (7, 19), (7, 21), (7, 28), (7, 31), (7, 32), (7, 37), (7, 41),
    (7, 42), (7, 50), (7, 55), (7, 56), (7, 59), (7, 62), (8, 14), (8, 21), (8, 22), (8, 38),
    (8, 47), (8, 49), (8, 50), (8, 52), (8, 56), (8, 67), (8, 70), (8, 84), (8, 97), (8, 103),
    (8, 115), (8, 122), (9, 8), (9, 13), (9, 16), (9, 22), (9, 25), (9, 44), (9, 47), (9, 52),
    (9, 55), (9, 59), (9, 62), (9, 67), (9, 74), (9, 81), (9, 82), (9, 87), (9, 91), (9, 94),
    (9, 103), (9, 104), (9, 109), (9, 122), (9, 124), (9, 137), (9, 138), (9, 143), (9, 145), (9, 152),
    (9, 157), (9, 167), (9, 173), (9, 176), (9, 181), (9, 182), (9, 185), (9, 191), (9, 194), (9, 199),
    (9, 218), (9, 220), (9, 227), (9, 229), (9, 230), (9, 234), (9, 236), (9, 241), (9, 244), (9, 253),
    (10, 4), (10, 13), (10, 19), (10, 22), (10, 50), (10, 55), (10, 64), (10, 69), (10, 98), (10, 107),
    (10, 115), (10, 121), (10, 127), (10, 134), (10, 140), (10, 145), (10, 152), (10, 158), (10, 161), (10, 171),
    (10, 181), (10, 194), (10, 199), (10, 203), (10, 208), (10, 227), (10, 242), (10, 251), (10, 253), (10, 265),
    (10, 266), (10, 274), (10, 283), (10, 289), (10, 295), (10, 301), (10, 316), (10, 319), (10, 324), (10, 346),
    (10, 352), (10, 361), (10, 367), (10, 382), (10, 395), (10, 398), (10, 400), (10, 412), (10, 419), (10, 422),
    (10, 426), (10, 428), (10, 433), (10, 446), (10, 454), (10, 457), (10, 472), (10, 493), (10, 505), (10, 508),
    (11, 2), (11, 11), (11, 21), (11, 22), (11, 35), (11, 49), (11, 50), (11, 56), (11, 61), (11, 70),
    (11, 74), (11, 79), (11, 84), (11, 88), (11, 103), (11, 104), (11, 112), (11, 115), (11, 117), (11, 122),
    (11, 134), (11, 137), (11, 146), (11, 148), (11, 157), (11, 158), (11, 162), (11, 164), (11, 168), (11, 173),
    (11, 185), (11, 186), (11, 191), (11, 193), (11, 199), (11, 213), (11, 214), (11, 220), (11, 227), (11, 236),
    (11, 242), (11, 251), (11, 256), (11, 259), (11, 265), (11, 266), (11, 276), (11, 292), (11, 304), (11, 310),
    (11, 316), (11, 319), (11, 322), (11, 328), (11, 334), (11, 339), (11, 341), (11, 345), (11, 346), (11, 362),
    (11, 367), (11, 372), (11, 375), (11, 376), (11, 381), (11, 385), (11, 388), (11, 392), (11, 409), (11, 415),
    (11, 416), (11, 421), (11, 428), (11, 431), (11, 434), (11, 439), (11, 446), (11, 451), (11, 453), (11, 457),
    (11, 458), (11, 471), (11, 475), (11, 478), (11, 484), (11, 493), (11, 494), (11, 499), (11, 502), (11, 517),
    (11, 518), (11, 524), (11, 527), (11, 555), (11, 560),
];

/// The 32 direction numbers `v_k` (bit `31 − k` leading) of `dim`: the first 16 from
/// `sobol_burley`, the rest from the recurrence
/// `v_k = v_{k−s} ⊕ (v_{k−s} >> s) ⊕ ⊕_{i=1}^{s−1} a_i v_{k−i}`.
fn direction_numbers(dim: usize) -> [u32; 32] {
    let mut v = [0u32; 32];
    for (k, slot) in v.iter_mut().enumerate().take(CRATE_BITS) {
        *slot = sobol_rev((1u32 << k).reverse_bits(), dim as u32).reverse_bits();
    }
    if dim == 0 {
        for (k, slot) in v.iter_mut().enumerate() {
            *slot = 1 << (31 - k);
        }
        return v;
    }
    let (s, a) = POLYNOMIALS[dim - 1];
    let s = s as usize;
    for k in CRATE_BITS..32 {
        v[k] = recur(&v, k, s, a);
    }
    v
}

/// `v_k` from the `s` numbers before it.
fn recur(v: &[u32; 32], k: usize, s: usize, a: u32) -> u32 {
    let mut next = v[k - s] ^ (v[k - s] >> s);
    for i in 1..s {
        if (a >> (s - 1 - i)) & 1 == 1 {
            next ^= v[k - i];
        }
    }
    next
}

/// The scrambled Sobol' points of `dims` dimensions for a seed, from any row on.
#[derive(Debug, Clone)]
pub(crate) struct SobolPoints {
    /// Per dimension, `v_0 ⊕ … ⊕ v_t`: what point `i` differs from point `i − 1` by, for `t` the
    /// number of trailing zeros of `i`.
    steps: Vec<[u32; 32]>,
    /// Per dimension, the direction numbers.
    vectors: Vec<[u32; 32]>,
    scrambles: Vec<u32>,
}

impl SobolPoints {
    /// The sequence of `n` points of `dims` dimensions for `seed`, refusing what the direction
    /// numbers do not cover.
    pub(crate) fn new(n: u64, dims: usize, seed: u64) -> Result<Self, DesignError> {
        if dims > SOBOL_MAX_DIMS {
            return Err(DesignError::TooManyDimensions { method: "sobol", dims, max: SOBOL_MAX_DIMS });
        }
        if n > SOBOL_MAX_POINTS {
            return Err(DesignError::TooManyPoints { method: "sobol", n, max: SOBOL_MAX_POINTS });
        }
        let vectors: Vec<[u32; 32]> = (0..dims).map(direction_numbers).collect();
        let steps = vectors
            .iter()
            .map(|v| {
                let mut prefix = [0u32; 32];
                let mut acc = 0;
                for (slot, &vk) in prefix.iter_mut().zip(v) {
                    acc ^= vk;
                    *slot = acc;
                }
                prefix
            })
            .collect();
        let scrambles =
            (0..dims as u64).map(|dim| hash((mix64(seed ^ mix64(dim ^ 0x736f_626f_6c00)) >> 32) as u32)).collect();
        Ok(Self { steps, vectors, scrambles })
    }

    /// Points `start..start + count` appended to `out`.
    pub(crate) fn fill(&self, start: u64, count: usize, out: &mut UnitDesign) {
        // The unscrambled point `start`, then each next one by one XOR.
        let mut bits: Vec<u32> =
            self.vectors.iter().map(|v| (0..32).filter(|&k| (start >> k) & 1 == 1).fold(0, |x, k| x ^ v[k])).collect();
        let mut row = vec![0.0; self.vectors.len()];
        for i in start..start + count as u64 {
            if i > start {
                let t = (i.trailing_zeros() as usize).min(31);
                for (x, step) in bits.iter_mut().zip(&self.steps) {
                    *x ^= step[t];
                }
            }
            for ((u, &x), &scramble) in row.iter_mut().zip(&bits).zip(&self.scrambles) {
                let scrambled = owen_scramble_rev(x.reverse_bits(), scramble).reverse_bits();
                *u = f64::from(scrambled) / 4_294_967_296.0;
            }
            out.push(&row);
        }
    }
}

/// The first `n` points of a `dims`-dimensional Owen-scrambled Sobol' sequence, in `[0, 1)`
/// with 32-bit resolution. Each dimension has its own scramble derived from `seed`. The first
/// `2^m` points of every dimension hold exactly `2^(m-k)` points in each of its `2^k` equal
/// intervals (k ≤ m): balance holds only for powers of two, so callers warn otherwise
/// ([`is_power_of_two`]).
pub fn sobol(n: usize, dims: usize, seed: u64) -> Result<UnitDesign, DesignError> {
    let points = SobolPoints::new(n as u64, dims, seed)?;
    let mut design = UnitDesign::with_capacity(dims, n);
    points.fill(0, n, &mut design);
    Ok(design)
}

/// Whether `n` is a power of two, the sizes at which a Sobol' sequence is balanced.
pub fn is_power_of_two(n: usize) -> bool {
    n.is_power_of_two()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recurrence_gives_the_crates_own_direction_numbers() {
        // For k ≥ s, v_k follows from the polynomial: recomputing the crate's 16 numbers from
        // the first s checks the table of polynomials and the recurrence in every dimension.
        for dim in 1..SOBOL_MAX_DIMS {
            let v = direction_numbers(dim);
            let (s, a) = POLYNOMIALS[dim - 1];
            for k in s as usize..CRATE_BITS {
                assert_eq!(recur(&v, k, s as usize, a), v[k], "dimension {dim}, direction number {k}");
            }
            // v_k = m_k 2^(31−k) with m_k odd and below 2^(k+1): a valid direction number.
            assert!(
                v.iter()
                    .enumerate()
                    .all(|(k, x)| x.trailing_zeros() as usize == 31 - k && x.leading_zeros() as usize <= k),
                "dimension {dim}"
            );
        }
    }

    #[test]
    fn the_first_points_are_the_crates_and_any_row_can_start_a_fill() {
        let points = SobolPoints::new(1 << 17, 8, 3).expect("within limits");
        let mut all = UnitDesign::with_capacity(8, 4096);
        points.fill(0, 4096, &mut all);
        for (i, row) in all.iter().enumerate() {
            for (dim, u) in row.iter().enumerate() {
                let expected =
                    owen_scramble_rev(sobol_rev((i as u32).reverse_bits(), dim as u32), points.scrambles[dim]);
                assert_eq!(*u, f64::from(expected.reverse_bits()) / 4_294_967_296.0);
            }
        }
        let mut part = UnitDesign::with_capacity(8, 100);
        points.fill(1000, 100, &mut part);
        assert!((0..100).all(|i| part.row(i) == all.row(1000 + i)));
    }

    #[test]
    fn first_powers_of_two_are_balanced_in_halves_quarters_and_eighths() {
        for m in [3, 6, 10] {
            let n = 1usize << m;
            let design = sobol(n, 12, 77).expect("within limits");
            for j in 0..design.dims() {
                for parts in [2usize, 4, 8] {
                    let mut counts = vec![0usize; parts];
                    for u in design.column(j) {
                        assert!((0.0..1.0).contains(&u));
                        counts[(u * parts as f64) as usize] += 1;
                    }
                    assert!(counts.iter().all(|&c| c == n / parts), "n {n} dim {j} parts {parts}: {counts:?}");
                }
            }
        }
    }

    #[test]
    fn past_two_to_the_sixteen_points_stay_a_net() {
        // 2^18 points: one per interval of width 2^-18 in each dimension, and in two
        // dimensions of a (0, m, 2)-net (the first two) one per 2^-9 × 2^-9 box.
        let n = 1usize << 18;
        let design = sobol(n, 10, 5).expect("within limits");
        for j in 0..design.dims() {
            let mut seen = vec![false; n];
            for u in design.column(j) {
                let cell = (u * n as f64) as usize;
                assert!(!seen[cell], "dimension {j}: two points in interval {cell}");
                seen[cell] = true;
            }
        }
        let mut boxes = vec![0u8; n];
        for row in design.iter() {
            boxes[(row[0] * 512.0) as usize * 512 + (row[1] * 512.0) as usize] += 1;
        }
        assert!(boxes.iter().all(|&c| c == 1));
    }

    #[test]
    fn seeds_scramble_differently_and_limits_are_refused() {
        assert_eq!(sobol(64, 3, 1).ok(), sobol(64, 3, 1).ok());
        assert_ne!(sobol(64, 3, 1).ok(), sobol(64, 3, 2).ok());
        assert!(sobol(8, SOBOL_MAX_DIMS + 1, 0).is_err());
        assert!(SobolPoints::new(SOBOL_MAX_POINTS + 1, 2, 0).is_err());
    }
}
