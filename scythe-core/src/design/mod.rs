//! Designs of experiments: which specs a study runs, built from the input's JSON Schema.
//!
//! [`DesignRecord`] is what a run remembers of its design (in `manifest.yml`), so the analysis
//! of the run (`report`: Sobol' indices for a Saltelli design, Morris μ* for a Morris design)
//! knows how its rows were laid out.

mod record;

pub use record::{DesignMethod, DesignRecord, Dimension, Distribution};
