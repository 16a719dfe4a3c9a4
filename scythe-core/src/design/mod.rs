//! Designs of experiments: which specs a study runs, built from the input's JSON Schema.
//!
//! The unit-cube methods ([`random`], [`lhs`], [`sobol`], [`halton`], [`saltelli`], [`morris`])
//! and the [`grid`] are pure functions of their size and seed; [`design_fields`] reads the
//! fields a design can draw from a JSON Schema; [`plan`] turns a [`DesignRequest`] into a
//! [`DesignRecord`], and [`DesignRecord::rows`] into the rows of field values, generated a
//! chunk at a time ([`DesignRows::chunk`]) so a design of any size streams in bounded memory.
//!
//! [`DesignRecord`] is what a run remembers of its design (in `manifest.yml`), so the analysis
//! of the run (`report`: Sobol' indices for a Saltelli design, Morris μ* for a Morris design)
//! knows how its rows were laid out.

mod distribution;
mod error;
mod fields;
mod grid;
mod halton;
mod lhs;
mod morris;
mod permute;
mod plan;
mod random;
mod record;
mod rng;
mod rows;
mod saltelli;
mod sobol;
mod unit;

pub use distribution::inverse_normal_cdf;
pub use error::DesignError;
pub use fields::{Bound, DesignField, FieldKind, design_fields};
pub use grid::{grid, grid_size};
pub use halton::halton;
pub use lhs::lhs;
pub use morris::{morris, morris_delta};
pub use plan::{DesignRequest, DesignTable, plan};
pub use random::random;
pub use record::{DesignMethod, DesignRecord, Dimension, Distribution};
pub use rng::Rng;
pub use rows::{ColumnChunk, DesignChunk, DesignRows};
pub use saltelli::{saltelli, saltelli_block};
pub use sobol::{SOBOL_MAX_DIMS, SOBOL_MAX_POINTS, is_power_of_two, sobol};
pub use unit::UnitDesign;
