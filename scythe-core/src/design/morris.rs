//! `morris`: trajectories for Morris's elementary effects (Morris 1991, "Factorial sampling
//! plans for preliminary computational experiments"), on a grid of `p` levels with step
//! `Δ = p / (2 (p − 1))`.

use super::DesignError;
use super::rng::Rng;
use super::unit::UnitDesign;

/// The step between consecutive rows of a trajectory, in unit space.
pub fn morris_delta(levels: u32) -> f64 {
    f64::from(levels) / (2.0 * (f64::from(levels) - 1.0))
}

/// `r` trajectories of `d + 1` rows on the levels `0, 1/(p−1), …, 1`. Each trajectory starts at
/// a random grid point and moves one dimension at a time, in a random order, by `+Δ` or `−Δ`
/// (a random direction, with a start from which the step stays in `[0, 1]`), so consecutive
/// rows differ in exactly one coordinate, by exactly `Δ`. `p` must be even and at least 2.
pub fn morris(r: usize, dims: usize, levels: u32, seed: u64) -> Result<UnitDesign, DesignError> {
    if levels < 2 || !levels.is_multiple_of(2) {
        return Err(DesignError::MorrisLevels(levels));
    }
    let half = levels / 2;
    let top = f64::from(levels - 1);
    let mut rng = Rng::stream(seed, 0x6d6f_7272);
    let mut design = UnitDesign::with_capacity(dims, r * (dims + 1));
    let mut row = vec![0.0; dims];
    for _ in 0..r {
        let mut level = vec![0u32; dims];
        let mut up = vec![true; dims];
        for (level, up) in level.iter_mut().zip(up.iter_mut()) {
            *up = rng.below(2) == 0;
            // Up from the lower half of the levels, down from the upper half: Δ is `half` levels.
            let start = rng.below(u64::from(half)) as u32;
            *level = if *up { start } else { start + half };
        }
        let order = rng.permutation(dims);
        let to_unit = |level: &[u32], row: &mut [f64]| {
            for (u, &l) in row.iter_mut().zip(level) {
                *u = f64::from(l) / top;
            }
        };
        to_unit(&level, &mut row);
        design.push(&row);
        for &k in &order {
            let k = k as usize;
            level[k] = if up[k] { level[k] + half } else { level[k] - half };
            to_unit(&level, &mut row);
            design.push(&row);
        }
    }
    Ok(design)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_rows_differ_in_one_dimension_by_delta() {
        let (r, d, p) = (20, 5, 4);
        let design = morris(r, d, p, 13).expect("valid levels");
        let delta = morris_delta(p);
        assert!((delta - 2.0 / 3.0).abs() < 1e-15);
        assert_eq!(design.rows(), r * (d + 1));
        let grid: Vec<f64> = (0..p).map(|l| f64::from(l) / f64::from(p - 1)).collect();
        for t in 0..r {
            let mut moved = vec![false; d];
            for s in 0..d {
                let (a, b) = (design.row(t * (d + 1) + s), design.row(t * (d + 1) + s + 1));
                let changed: Vec<usize> = (0..d).filter(|&j| a[j] != b[j]).collect();
                assert_eq!(changed.len(), 1, "trajectory {t} step {s}");
                let k = changed[0];
                // Both values are k/(p−1) for small k: the error is a few ulps.
                assert!(((a[k] - b[k]).abs() - delta).abs() < 1e-12);
                assert!(!moved[k], "each dimension moves once per trajectory");
                moved[k] = true;
            }
            for u in (0..=d).flat_map(|s| design.row(t * (d + 1) + s).to_vec()) {
                assert!(grid.iter().any(|g| (g - u).abs() < 1e-12), "{u} is on the grid");
            }
        }
        assert!(morris(2, 2, 3, 0).is_err() && morris(2, 2, 0, 0).is_err());
    }
}
