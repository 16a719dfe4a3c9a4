//! `grid`: the full factorial design, the cross product of each dimension's levels.

/// Every combination of level indexes for dimensions with `levels[j]` levels each, the last
/// dimension fastest (row-major, like nested loops). `∏ levels[j]` rows; none if a dimension
/// has no level.
pub fn grid(levels: &[usize]) -> impl Iterator<Item = Vec<usize>> + '_ {
    let total: usize = if levels.is_empty() { 0 } else { levels.iter().product() };
    (0..total).map(move |mut row| {
        let mut index = vec![0; levels.len()];
        for (slot, &count) in index.iter_mut().zip(levels).rev() {
            *slot = row % count;
            row /= count;
        }
        index
    })
}

/// The number of rows of [`grid`], or `None` if it overflows.
pub fn grid_size(levels: &[usize]) -> Option<usize> {
    levels.iter().try_fold(1usize, |total, &count| total.checked_mul(count))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_cross_product_last_dimension_fastest() {
        let rows: Vec<Vec<usize>> = grid(&[2, 3]).collect();
        assert_eq!(rows, [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2]]);
        let mut all: Vec<Vec<usize>> = grid(&[3, 2, 4]).collect();
        assert_eq!(all.len(), 24);
        all.dedup();
        assert_eq!(all.len(), 24);
        assert_eq!(grid_size(&[3, 2, 4]), Some(24));
        assert_eq!(grid(&[3, 0]).count(), 0);
    }
}
