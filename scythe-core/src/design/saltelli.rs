//! `saltelli`: the sample of Saltelli (2002) and Saltelli et al. (2010, "Variance based
//! sensitivity analysis of model output"), for first-, second- and total-order Sobol' indices,
//! laid out as SALib's `saltelli`/`sobol` sampler does.

use super::DesignError;
use super::sobol::SobolPoints;
use super::unit::UnitDesign;

/// Rows per base sample: `d + 2`, or `2d + 2` with second order.
pub fn saltelli_block(dims: usize, second_order: bool) -> usize {
    if second_order { 2 * dims + 2 } else { dims + 2 }
}

/// `n` blocks built from a `2d`-dimensional scrambled Sobol' sequence whose first `d`
/// coordinates are matrix `A` and last `d` are `B`. Block `i`: `A_i`, then `AB_i^(k)` (`A_i`
/// with coordinate `k` from `B_i`) for every `k`, then with `second_order` `BA_i^(k)` (`B_i`
/// with coordinate `k` from `A_i`), then `B_i`.
pub fn saltelli(n: usize, dims: usize, seed: u64, second_order: bool) -> Result<UnitDesign, DesignError> {
    let points = SaltelliPoints::new(n as u64, dims, seed, second_order)?;
    let rows = n * saltelli_block(dims, second_order);
    let mut design = UnitDesign::with_capacity(dims, rows);
    points.fill(0, rows, &mut design);
    Ok(design)
}

/// The rows of a Saltelli design, built block by block from its base Sobol' points.
#[derive(Debug, Clone)]
pub(crate) struct SaltelliPoints {
    dims: usize,
    second_order: bool,
    base: SobolPoints,
}

impl SaltelliPoints {
    /// The design of `n` base samples over `dims` dimensions for `seed`.
    pub(crate) fn new(n: u64, dims: usize, seed: u64, second_order: bool) -> Result<Self, DesignError> {
        let base = SobolPoints::new(n, 2 * dims, seed).map_err(|error| match error {
            DesignError::TooManyDimensions { max, .. } => {
                DesignError::TooManyDimensions { method: "saltelli", dims, max: max / 2 }
            }
            DesignError::TooManyPoints { n, max, .. } => DesignError::TooManyPoints { method: "saltelli", n, max },
            other => other,
        })?;
        Ok(Self { dims, second_order, base })
    }

    /// Rows `start..start + count` appended to `out`.
    pub(crate) fn fill(&self, start: u64, count: usize, out: &mut UnitDesign) {
        if count == 0 {
            return;
        }
        let (dims, block) = (self.dims, saltelli_block(self.dims, self.second_order) as u64);
        let end = start + count as u64;
        let (first, last) = (start / block, (end - 1) / block);
        let mut base = UnitDesign::with_capacity(2 * dims, (last - first + 1) as usize);
        self.base.fill(first, (last - first + 1) as usize, &mut base);
        let mut row = vec![0.0; dims];
        for (i, point) in (first..).zip(base.iter()) {
            let (a, b) = point.split_at(dims);
            for position in 0..block {
                let r = i * block + position;
                if r < start || r >= end {
                    continue;
                }
                let k = position as usize;
                if k == 0 {
                    row.copy_from_slice(a);
                } else if k <= dims {
                    row.copy_from_slice(a);
                    row[k - 1] = b[k - 1];
                } else if position + 1 < block {
                    row.copy_from_slice(b);
                    row[k - 1 - dims] = a[k - 1 - dims];
                } else {
                    row.copy_from_slice(b);
                }
                out.push(&row);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::design::sobol;

    #[test]
    fn blocks_have_the_a_b_ab_ba_structure() {
        let (n, d) = (16, 3);
        for second_order in [false, true] {
            let design = saltelli(n, d, 4, second_order).expect("within limits");
            let block = saltelli_block(d, second_order);
            assert_eq!(design.rows(), n * block);
            for i in 0..n {
                let a = design.row(i * block);
                let b = design.row(i * block + block - 1);
                for k in 0..d {
                    let ab = design.row(i * block + 1 + k);
                    for j in 0..d {
                        assert_eq!(ab[j].to_bits(), if j == k { b[j] } else { a[j] }.to_bits());
                    }
                    if second_order {
                        let ba = design.row(i * block + 1 + d + k);
                        for j in 0..d {
                            assert_eq!(ba[j].to_bits(), if j == k { a[j] } else { b[j] }.to_bits());
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn any_range_of_rows_is_the_same_rows() {
        let all = saltelli(8, 3, 2, true).expect("within limits");
        let points = SaltelliPoints::new(8, 3, 2, true).expect("within limits");
        let mut part = UnitDesign::with_capacity(3, 13);
        points.fill(11, 13, &mut part);
        assert!((0..13).all(|i| part.row(i) == all.row(11 + i)));
    }

    #[test]
    fn a_and_b_are_the_two_halves_of_a_balanced_sobol_sequence() {
        let (n, d) = (64, 2);
        let design = saltelli(n, d, 8, false).expect("within limits");
        let base = sobol(n, 2 * d, 8).expect("within limits");
        for i in 0..n {
            assert_eq!(design.row(i * (d + 2)), &base.row(i)[..d]);
            assert_eq!(design.row(i * (d + 2) + d + 1), &base.row(i)[d..]);
        }
    }
}
