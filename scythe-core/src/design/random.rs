//! `random`: independent uniform draws (plain Monte Carlo).

use super::rng::Rng;
use super::unit::UnitDesign;

/// `n` points of `dims` independent uniform coordinates in `[0, 1)`.
pub fn random(n: usize, dims: usize, seed: u64) -> UnitDesign {
    let mut rng = Rng::stream(seed, 0x7261_6e64);
    let mut design = UnitDesign::with_capacity(dims, n);
    let mut row = vec![0.0; dims];
    for _ in 0..n {
        row.iter_mut().for_each(|u| *u = rng.next_f64());
        design.push(&row);
    }
    design
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_the_unit_cube_and_reproducible() {
        let design = random(500, 3, 9);
        assert_eq!((design.rows(), design.dims()), (500, 3));
        assert!(design.iter().flatten().all(|u| (0.0..1.0).contains(u)));
        assert_eq!(design, random(500, 3, 9));
        assert_ne!(design, random(500, 3, 10));
    }
}
