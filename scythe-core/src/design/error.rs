//! [`DesignError`]: why a design cannot be built.

/// A design that cannot be built; each message says what to pass instead.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DesignError {
    /// More dimensions than the method supports.
    #[error("{method} supports at most {max} sampled fields, not {dims}; fix some with --set FIELD=VALUE")]
    TooManyDimensions {
        /// The method.
        method: &'static str,
        /// The dimensions asked for.
        dims: usize,
        /// The limit.
        max: usize,
    },
    /// More points than the method supports.
    #[error(
        "{method} supports at most {max} points (the direction numbers have 32 bits), not {n}; use a smaller -n, or --method lhs/halton/random"
    )]
    TooManyPoints {
        /// The method.
        method: &'static str,
        /// The points asked for.
        n: u64,
        /// The limit.
        max: u64,
    },
    /// Morris needs an even number of levels.
    #[error("morris needs an even number of levels of at least 2 (--morris-levels), not {0}")]
    MorrisLevels(u32),
    /// Fields that the design can neither draw nor find a value for.
    #[error("these fields need a value: {}", .0.join("; "))]
    Unfilled(Vec<String>),
    /// Options naming fields the input does not have.
    #[error("{option} names no field of the input: {}; its fields are {fields}", .unknown.join(", "))]
    UnknownField {
        /// The option (`--set`, `--levels`, `--dist`).
        option: &'static str,
        /// The unknown names.
        unknown: Vec<String>,
        /// The known fields.
        fields: String,
    },
    /// A value given for a field does not fit it.
    #[error("{option} {field}: {reason}")]
    BadValue {
        /// The option.
        option: &'static str,
        /// The field.
        field: String,
        /// Why.
        reason: String,
    },
    /// The design has no rows or no size.
    #[error("{0}")]
    Size(String),
}
