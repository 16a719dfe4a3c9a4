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
    let points = MorrisPoints::new(dims, levels, seed)?;
    let mut design = UnitDesign::with_capacity(dims, r * (dims + 1));
    points.fill(0, r * (dims + 1), &mut design);
    Ok(design)
}

/// Morris trajectories, trajectory `t` drawn from a stream of its own so any can start a fill.
#[derive(Debug, Clone)]
pub(crate) struct MorrisPoints {
    dims: usize,
    levels: u32,
    seed: u64,
}

impl MorrisPoints {
    /// Trajectories over `dims` dimensions on `levels` levels for `seed`.
    pub(crate) fn new(dims: usize, levels: u32, seed: u64) -> Result<Self, DesignError> {
        if levels < 2 || !levels.is_multiple_of(2) {
            return Err(DesignError::MorrisLevels(levels));
        }
        Ok(Self { dims, levels, seed })
    }

    /// Rows `start..start + count` (row `t (d + 1) + s`: step `s` of trajectory `t`) appended
    /// to `out`.
    pub(crate) fn fill(&self, start: u64, count: usize, out: &mut UnitDesign) {
        let (dims, block) = (self.dims, self.dims as u64 + 1);
        let end = start + count as u64;
        let mut trajectory = UnitDesign::with_capacity(dims, dims + 1);
        let mut t = start / block;
        while t * block < end {
            trajectory.clear();
            self.trajectory(t, &mut trajectory);
            for (r, row) in (t * block..).zip(trajectory.iter()) {
                if (start..end).contains(&r) {
                    out.push(row);
                }
            }
            t += 1;
        }
    }

    fn trajectory(&self, t: u64, out: &mut UnitDesign) {
        let half = self.levels / 2;
        let top = f64::from(self.levels - 1);
        let mut rng = Rng::stream(self.seed, 0x6d6f_7272_0000_0000 ^ t);
        let mut level = vec![0u32; self.dims];
        let mut up = vec![true; self.dims];
        for (level, up) in level.iter_mut().zip(up.iter_mut()) {
            *up = rng.below(2) == 0;
            // Up from the lower half of the levels, down from the upper half: Δ is `half` levels.
            let start = rng.below(u64::from(half)) as u32;
            *level = if *up { start } else { start + half };
        }
        let order = rng.permutation(self.dims);
        let mut row = vec![0.0; self.dims];
        let to_unit = |level: &[u32], row: &mut [f64]| {
            for (u, &l) in row.iter_mut().zip(level) {
                *u = f64::from(l) / top;
            }
        };
        to_unit(&level, &mut row);
        out.push(&row);
        for &k in &order {
            let k = k as usize;
            level[k] = if up[k] { level[k] + half } else { level[k] - half };
            to_unit(&level, &mut row);
            out.push(&row);
        }
    }
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
        let mut part = UnitDesign::with_capacity(d, 7);
        MorrisPoints::new(d, p, 13).expect("valid levels").fill(10, 7, &mut part);
        assert!((0..7).all(|i| part.row(i) == design.row(10 + i)));
    }
}
