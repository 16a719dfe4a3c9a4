//! `sobol`: the Sobol' sequence (Sobol' 1967; Joe and Kuo 2008 direction numbers), Owen-scrambled
//! with Burley's hash-based nested uniform scramble (Burley 2020, "Practical Hash-based Owen
//! Scrambling"), from the `sobol_burley` crate.

use sobol_burley::parts::{hash, owen_scramble_rev, sobol_rev};

use super::DesignError;
use super::rng::mix64;
use super::unit::UnitDesign;

/// The most dimensions the direction numbers cover.
pub const SOBOL_MAX_DIMS: usize = sobol_burley::NUM_DIMENSIONS as usize;
/// The most points: the direction numbers have 16 bits.
pub const SOBOL_MAX_POINTS: usize = 1 << 16;

/// The first `n` points of a `dims`-dimensional Owen-scrambled Sobol' sequence, in `[0, 1)`
/// with 32-bit resolution. Each dimension has its own scramble derived from `seed`. The first
/// `2^m` points of every dimension hold exactly `2^(m-k)` points in each of its `2^k` equal
/// intervals (k ≤ m): balance holds only for powers of two, so callers warn otherwise
/// ([`is_power_of_two`]).
pub fn sobol(n: usize, dims: usize, seed: u64) -> Result<UnitDesign, DesignError> {
    if dims > SOBOL_MAX_DIMS {
        return Err(DesignError::TooManyDimensions { method: "sobol", dims, max: SOBOL_MAX_DIMS });
    }
    if n > SOBOL_MAX_POINTS {
        return Err(DesignError::TooManyPoints { method: "sobol", n, max: SOBOL_MAX_POINTS });
    }
    let scrambles: Vec<u32> =
        (0..dims as u64).map(|dim| hash((mix64(seed ^ mix64(dim ^ 0x736f_626f_6c00)) >> 32) as u32)).collect();
    let mut design = UnitDesign::with_capacity(dims, n);
    let mut row = vec![0.0; dims];
    for i in 0..n as u32 {
        for (dim, (u, &scramble)) in row.iter_mut().zip(&scrambles).enumerate() {
            let bits = owen_scramble_rev(sobol_rev(i.reverse_bits(), dim as u32), scramble).reverse_bits();
            *u = f64::from(bits) / 4_294_967_296.0;
        }
        design.push(&row);
    }
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
    fn seeds_scramble_differently_and_limits_are_refused() {
        assert_eq!(sobol(64, 3, 1).ok(), sobol(64, 3, 1).ok());
        assert_ne!(sobol(64, 3, 1).ok(), sobol(64, 3, 2).ok());
        assert!(sobol(8, SOBOL_MAX_DIMS + 1, 0).is_err());
        assert!(sobol(SOBOL_MAX_POINTS + 1, 2, 0).is_err());
    }
}
