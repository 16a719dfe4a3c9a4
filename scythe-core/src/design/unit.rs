//! [`UnitDesign`]: design points in the unit hypercube, before they become field values.

/// `rows × dims` coordinates in `[0, 1]`, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitDesign {
    dims: usize,
    values: Vec<f64>,
}

impl UnitDesign {
    /// An empty design of `dims` dimensions with room for `rows` rows.
    pub fn with_capacity(dims: usize, rows: usize) -> Self {
        Self { dims, values: Vec::with_capacity(dims * rows) }
    }

    /// Appends one row (`row.len()` must be the design's dimension).
    pub fn push(&mut self, row: &[f64]) {
        debug_assert_eq!(row.len(), self.dims);
        self.values.extend_from_slice(row);
    }

    /// The number of dimensions.
    pub fn dims(&self) -> usize {
        self.dims
    }

    /// The number of rows.
    pub fn rows(&self) -> usize {
        self.values.len().checked_div(self.dims).unwrap_or(0)
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f64] {
        &self.values[i * self.dims..(i + 1) * self.dims]
    }

    /// Every row, in order.
    pub fn iter(&self) -> impl Iterator<Item = &[f64]> {
        self.values.chunks_exact(self.dims.max(1))
    }

    /// Column `j`, copied.
    pub fn column(&self, j: usize) -> Vec<f64> {
        self.iter().map(|row| row[j]).collect()
    }
}
