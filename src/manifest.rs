//! The YAML documents of a run: `manifest.yml`, `input_artifacts.yml` and `summary.yml`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// `manifest.yml`: written last by allocation; its presence means the run exists.
///
/// The first six keys are Python Scythe's, in its order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Manifest {
    /// The engine's id for the run's root task (`null` on the embedded engine).
    pub(crate) workflow_run_id: Option<String>,
    /// `<experiment>/<vX.Y.Z>/<timestamp>`.
    pub(crate) experiment_id: String,
    /// The experiment's name.
    pub(crate) experiment_name: String,
    /// URI of `specs.pq`.
    pub(crate) specs_uri: String,
    /// URI of `experiment_io_spec.yml`.
    pub(crate) io_spec: String,
    /// URI of `input_artifacts.yml`, when input files were uploaded.
    pub(crate) input_artifacts: Option<String>,
    /// How many specs the run has.
    pub(crate) n_specs: u64,
    /// When the run was allocated (RFC 3339, UTC).
    pub(crate) created_at: String,
    /// The engine that runs it: `embedded` or `hatchet`.
    pub(crate) engine: String,
    /// The Scythe version that allocated it.
    pub(crate) scythe_version: String,
    /// How the specs were designed (`scatter --design`); absent for specs from a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) design: Option<scythe_core::design::DesignRecord>,
}

/// `input_artifacts.yml`: the uploaded input files of each field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub(crate) struct InputArtifacts {
    pub(crate) files: BTreeMap<String, Vec<String>>,
}

/// `summary.yml`: written last by gather; its presence means the run is complete.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Summary {
    pub(crate) experiment_id: String,
    pub(crate) n_specs: u64,
    pub(crate) succeeded: u64,
    pub(crate) failed: u64,
    pub(crate) tables: BTreeMap<String, String>,
    pub(crate) gathered_at: String,
}

pub(crate) fn to_yaml<T: Serialize>(document: &str, value: &T) -> Result<String, Error> {
    let mut options = serde_saphyr::SerializerOptions::default();
    options.prefer_block_scalars = false;
    serde_saphyr::to_string_with_options(value, options)
        .map_err(|error| Error::Document { document: document.to_owned(), reason: error.to_string() })
}

pub(crate) fn from_yaml<T: for<'de> Deserialize<'de>>(document: &str, text: &[u8]) -> Result<T, Error> {
    let text = std::str::from_utf8(text)
        .map_err(|error| Error::Document { document: document.to_owned(), reason: error.to_string() })?;
    serde_saphyr::from_str(text)
        .map_err(|error| Error::Document { document: document.to_owned(), reason: error.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_keeps_python_key_order_and_round_trips() {
        let manifest = Manifest {
            workflow_run_id: None,
            experiment_id: "bem/v1.0.0/2026-11-25_16-58-38".into(),
            experiment_name: "bem".into(),
            specs_uri: "file:///r/specs.pq".into(),
            io_spec: "file:///r/experiment_io_spec.yml".into(),
            input_artifacts: None,
            n_specs: 3,
            created_at: "2026-11-25T16:58:38Z".into(),
            engine: "embedded".into(),
            scythe_version: "0.1.0".into(),
            design: None,
        };
        let text = to_yaml("manifest", &manifest).unwrap();
        let keys: Vec<&str> = text.lines().filter_map(|line| line.split(':').next()).take(6).collect();
        assert_eq!(
            keys,
            ["workflow_run_id", "experiment_id", "experiment_name", "specs_uri", "io_spec", "input_artifacts"]
        );
        assert_eq!(from_yaml::<Manifest>("manifest", text.as_bytes()).unwrap(), manifest);
    }
}
