//! [`UnitDesign`]: design points in the unit hypercube, before they become field values.

use super::halton::HaltonPoints;
use super::lhs::LhsPoints;
use super::morris::MorrisPoints;
use super::random::RandomPoints;
use super::saltelli::SaltelliPoints;
use super::sobol::SobolPoints;

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

    /// Removes every row, keeping the room.
    pub fn clear(&mut self) {
        self.values.clear();
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

/// A method's points, computed a range of rows at a time so a design of any size streams.
#[derive(Debug, Clone)]
pub(crate) enum UnitPoints {
    Random(RandomPoints),
    Lhs(LhsPoints),
    Sobol(SobolPoints),
    Halton(HaltonPoints),
    Saltelli(SaltelliPoints),
    Morris(MorrisPoints),
}

impl UnitPoints {
    /// Rows `start..start + count` appended to `out` (the same rows whichever range asks).
    pub(crate) fn fill(&self, start: u64, count: usize, out: &mut UnitDesign) {
        match self {
            UnitPoints::Random(points) => points.fill(start, count, out),
            UnitPoints::Lhs(points) => points.fill(start, count, out),
            UnitPoints::Sobol(points) => points.fill(start, count, out),
            UnitPoints::Halton(points) => points.fill(start, count, out),
            UnitPoints::Saltelli(points) => points.fill(start, count, out),
            UnitPoints::Morris(points) => points.fill(start, count, out),
        }
    }
}
