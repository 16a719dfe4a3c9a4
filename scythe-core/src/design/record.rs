//! [`DesignRecord`]: the design of a run, as recorded in its manifest.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How a run's specs were designed. Written under `design:` in `manifest.yml` by
/// `scatter --design`; absent for specs from a file or a custom sampler.
///
/// Row layout (sort index = design row):
/// - `saltelli`: `n` blocks of `d + 2` rows (first order only) or `2d + 2` rows (with second
///   order), in SALib's order: `A`, `AB_1 … AB_d`, (`BA_1 … BA_d`), `B`.
/// - `morris`: `n` trajectories of `d + 1` consecutive rows; consecutive rows of a trajectory
///   differ in exactly one dimension, by `Δ = levels / (2 (levels − 1))` in unit space.
/// - `grid`: the cross product of the dimensions' values (each a `categorical` of its levels),
///   last dimension fastest; `n` is the number of rows.
/// - every other method: `n` rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DesignRecord {
    /// The method.
    pub method: DesignMethod,
    /// The requested size: rows for most methods, base samples for `saltelli`, trajectories
    /// for `morris`.
    pub n: u64,
    /// The seed every random choice derives from.
    pub seed: u64,
    /// The sampled input fields (dotted paths), in the order of the design's columns.
    pub dimensions: Vec<Dimension>,
    /// Fields held at one value (`--set FIELD=VALUE`), as JSON.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fixed: BTreeMap<String, serde_json::Value>,
    /// `saltelli`: whether the `BA_i` rows for second-order indices are included.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub second_order: bool,
    /// `morris`: the number of grid levels `p`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub levels: Option<u32>,
    /// `lhs`: the number of candidate hypercubes of the maximin choice (absent: one, plain LHS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximin: Option<u32>,
}

/// The design methods Scythe builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DesignMethod {
    /// Full cross product of levels.
    Grid,
    /// Independent uniform draws.
    Random,
    /// Latin hypercube.
    Lhs,
    /// Scrambled Sobol' sequence.
    Sobol,
    /// Scrambled Halton sequence.
    Halton,
    /// Saltelli's extension of a Sobol' sequence, for Sobol' sensitivity indices.
    Saltelli,
    /// Morris trajectories, for elementary effects.
    Morris,
}

impl DesignMethod {
    /// The method's name on the command line and in the manifest.
    pub fn as_str(self) -> &'static str {
        match self {
            DesignMethod::Grid => "grid",
            DesignMethod::Random => "random",
            DesignMethod::Lhs => "lhs",
            DesignMethod::Sobol => "sobol",
            DesignMethod::Halton => "halton",
            DesignMethod::Saltelli => "saltelli",
            DesignMethod::Morris => "morris",
        }
    }
}

impl std::fmt::Display for DesignMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One sampled input field and how a unit coordinate `u ∈ [0, 1)` maps onto it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dimension {
    /// The field's dotted path in the input.
    pub field: String,
    /// How values are drawn.
    pub distribution: Distribution,
}

/// How a unit coordinate becomes a field value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Distribution {
    /// Uniform on `[low, high]`, both inclusive (bounds from the schema, an exclusive bound
    /// replaced by the nearest value inside it, or from `--dist`); integers are stratified so
    /// every integer in range is reachable.
    Uniform {
        /// Lower bound.
        low: f64,
        /// Upper bound.
        high: f64,
        /// Whether the field is an integer.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        integer: bool,
    },
    /// Log-uniform on `[low, high]`, `0 < low < high`.
    LogUniform {
        /// Lower bound.
        low: f64,
        /// Upper bound.
        high: f64,
    },
    /// Normal with mean `mean` and standard deviation `sd`.
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        sd: f64,
    },
    /// One of a list of values (enum variants, bools, or `--levels`), as JSON.
    Categorical {
        /// The values, in order.
        values: Vec<serde_json::Value>,
    },
}
