//! [`AnalysisError`]: why an analysis cannot be computed from a run's outputs.

/// An analysis that cannot be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AnalysisError {
    /// The outputs do not fill whole blocks or trajectories of the design.
    #[error(
        "{rows} outputs do not fill whole {unit}s of {size} rows; the run's specs are not the design its \
         manifest records (re-run `scatter --design …` without editing the specs)"
    )]
    Layout {
        /// `block` (Saltelli) or `trajectory` (Morris).
        unit: &'static str,
        /// Rows per unit.
        size: usize,
        /// Outputs given.
        rows: usize,
    },
    /// Every block or trajectory has a failed spec (or there are none).
    #[error(
        "no complete {unit} is left: all {dropped} have a failed or missing spec; fix the failures \
         (`resume --retry-failed`) or run a larger design"
    )]
    NothingLeft {
        /// `block` or `trajectory`.
        unit: &'static str,
        /// How many were dropped.
        dropped: usize,
    },
    /// The output does not vary, so variance-based indices are undefined.
    #[error("the output is constant over the complete blocks: Sobol' indices are undefined")]
    ConstantOutput,
    /// Two consecutive rows of a trajectory do not differ in exactly one input.
    #[error(
        "rows {row} and {next} of the Morris design differ in {changed} inputs, not one; the specs are not \
         the design its manifest records",
        next = row + 1
    )]
    NotATrajectory {
        /// The first of the two rows.
        row: usize,
        /// How many inputs differ.
        changed: usize,
    },
}
