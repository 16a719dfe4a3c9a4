//! [`SpecRows`]: a run's validated specs in memory, addressable by sort index.

use std::ops::Range;

use arrow::array::RecordBatch;

use crate::error::Error;

/// The specs of a run, in memory, addressable by sort index.
pub(crate) struct SpecRows {
    batches: Vec<RecordBatch>,
    offsets: Vec<u64>,
}

impl SpecRows {
    pub(crate) fn new(batches: Vec<RecordBatch>) -> Self {
        Self::starting_at(0, batches)
    }

    /// Specs whose first row has sort index `first`.
    pub(crate) fn starting_at(first: u64, batches: Vec<RecordBatch>) -> Self {
        let mut offsets = Vec::with_capacity(batches.len());
        let mut next = first;
        for batch in &batches {
            offsets.push(next);
            next += batch.num_rows() as u64;
        }
        Self { batches, offsets }
    }

    /// How many specs it holds.
    #[cfg(feature = "hatchet")]
    pub(crate) fn len(&self) -> u64 {
        self.batches.iter().map(|batch| batch.num_rows() as u64).sum()
    }

    /// Rows `range` as one batch.
    pub(crate) fn slice(&self, range: Range<u64>) -> Result<RecordBatch, Error> {
        let mut pieces = Vec::new();
        for (batch, &offset) in self.batches.iter().zip(&self.offsets) {
            let end = offset + batch.num_rows() as u64;
            if end <= range.start || offset >= range.end {
                continue;
            }
            let from = range.start.max(offset) - offset;
            let to = range.end.min(end) - offset;
            pieces.push(batch.slice(from as usize, (to - from) as usize));
        }
        match pieces.as_slice() {
            [one] => Ok(one.clone()),
            _ => {
                let schema = self
                    .batches
                    .first()
                    .map(RecordBatch::schema)
                    .ok_or_else(|| Error::Internal("slicing specs out of no batches".to_owned()))?;
                arrow::compute::concat_batches(&schema, &pieces).map_err(Error::arrow("slicing specs"))
            }
        }
    }
}
