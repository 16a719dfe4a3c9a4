//! `random`: independent uniform draws (plain Monte Carlo).

use super::rng::Rng;
use super::unit::UnitDesign;

/// `n` points of `dims` independent uniform coordinates in `[0, 1)`.
pub fn random(n: usize, dims: usize, seed: u64) -> UnitDesign {
    let mut design = UnitDesign::with_capacity(dims, n);
    RandomPoints::new(dims, seed).fill(0, n, &mut design);
    design
}

/// Uniform points from one stream, row `i` the draws `i·dims … i·dims + dims − 1`.
#[derive(Debug, Clone)]
pub(crate) struct RandomPoints {
    dims: usize,
    rng: Rng,
}

impl RandomPoints {
    /// The points of `dims` dimensions for `seed`.
    pub(crate) fn new(dims: usize, seed: u64) -> Self {
        Self { dims, rng: Rng::stream(seed, 0x7261_6e64) }
    }

    /// Rows `start..start + count` appended to `out`.
    pub(crate) fn fill(&self, start: u64, count: usize, out: &mut UnitDesign) {
        let mut rng = self.rng.clone().skip(start.wrapping_mul(self.dims as u64));
        let mut row = vec![0.0; self.dims];
        for _ in 0..count {
            row.iter_mut().for_each(|u| *u = rng.next_f64());
            out.push(&row);
        }
    }
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
        let mut part = UnitDesign::with_capacity(3, 20);
        RandomPoints::new(3, 9).fill(100, 20, &mut part);
        assert!((0..20).all(|i| part.row(i) == design.row(100 + i)));
    }
}
