//! `diff <run-a> <run-b>`: what changed from one run to another — the schemas of their inputs
//! and outputs ([`schema`]), which specs only one of them has (matched by their canonical input
//! values, not by row number), and for the specs both have, how many outputs changed and by
//! how much, column by column.
//!
//! Memory: about 50 bytes per spec (the first run's spec digests, the pairing) plus 16 bytes
//! per spec of the first run and compared output column; the second run's tables are streamed.

pub mod schema;

pub(crate) mod keep;
mod outputs;
mod specs;
mod text;

use scythe_core::layout::{RunId, RunLayout};
use scythe_storage::{Store, StoreError};
use serde::Serialize;
use serde_json::Value;

pub use outputs::{ColumnChange, OutputChanges};
pub use schema::{Change, Role, SchemaChange};

/// Specs listed by example among those only one run has.
const EXAMPLES: usize = 5;

/// Why two runs could not be compared.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A run's `experiment_io_spec.yml` is not the document Scythe writes.
    #[error("cannot read the schemas in {uri}: {reason}; is this a Scythe run folder?")]
    IoSpec {
        /// The document.
        uri: String,
        /// Why.
        reason: String,
    },
    /// A run's table lacks a column Scythe writes.
    #[error("{uri} is damaged: {reason}; `gather` the run again or diff another one")]
    Corrupt {
        /// The table.
        uri: String,
        /// What is wrong.
        reason: String,
    },
    /// Arrow could not read or convert a column.
    #[error("table error while {context}: {source}")]
    Arrow {
        /// What was being done.
        context: String,
        /// The Arrow error.
        #[source]
        source: arrow::error::ArrowError,
    },
}

/// How [`diff`] compares outputs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DiffOptions {
    /// Numbers that differ by at most this much count as unchanged (default 0: any change).
    pub tolerance: f64,
}

impl Default for DiffOptions {
    fn default() -> Self {
        Self { tolerance: 0.0 }
    }
}

/// One of the two runs compared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSide {
    /// The run's id.
    pub run: String,
    /// Its specs.
    pub n_specs: u64,
    /// Whether it is gathered (`summary.yml`), so its outputs can be compared.
    pub complete: bool,
}

/// A spec only one run has.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpecExample {
    /// Its sort index in that run.
    pub sort_index: u64,
    /// Its input values (`field=value, …`, the fields specs were matched on).
    pub inputs: String,
}

/// What changed from run `a` to run `b`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunDiff {
    /// The first run.
    pub a: RunSide,
    /// The second run.
    pub b: RunSide,
    /// Schema changes from `a` to `b`, input fields first.
    pub schema: Vec<SchemaChange>,
    /// The input fields specs were matched on (those both runs have, with comparable types).
    pub matched_on: Vec<String>,
    /// Specs both runs have.
    pub common: u64,
    /// Specs only `a` has.
    pub only_a: u64,
    /// Specs only `b` has.
    pub only_b: u64,
    /// The first few specs only `a` has.
    pub only_a_examples: Vec<SpecExample>,
    /// The first few specs only `b` has.
    pub only_b_examples: Vec<SpecExample>,
    /// How the outputs of the common specs changed (`None` unless both runs are complete).
    pub outputs: Option<OutputChanges>,
}

impl RunDiff {
    /// Whether the runs differ in schema, specs or outputs.
    pub fn differs(&self) -> bool {
        !self.schema.is_empty()
            || self.only_a > 0
            || self.only_b > 0
            || self
                .outputs
                .as_ref()
                .is_some_and(|o| o.changed_specs > 0 || o.succeeded_only_in_a > 0 || o.succeeded_only_in_b > 0)
    }
}

/// Whether a run is gathered (`summary.yml`, or where earlier versions wrote it).
async fn gathered(store: &Store, layout: &RunLayout) -> Result<bool, DiffError> {
    Ok(store.exists(&layout.summary()).await? || store.exists(&layout.legacy_summary()).await?)
}

/// Reads a run's `experiment_io_spec.yml` as JSON.
pub(crate) async fn read_io_spec(store: &Store, layout: &RunLayout) -> Result<Value, DiffError> {
    let key = layout.io_spec();
    let bytes = store.get(&key).await?;
    let error = |reason: String| DiffError::IoSpec { uri: store.uri(&key), reason };
    let text = std::str::from_utf8(&bytes).map_err(|e| error(e.to_string()))?;
    serde_saphyr::from_str(text).map_err(|e| error(e.to_string()))
}

/// Compares run `a` with run `b` of `store` (any two runs, usually two versions of one
/// experiment).
pub async fn diff(store: &Store, a: &RunId, b: &RunId, options: DiffOptions) -> Result<RunDiff, DiffError> {
    let (layout_a, layout_b) = (RunLayout::new(store.prefix(), a.clone()), RunLayout::new(store.prefix(), b.clone()));
    let (io_a, io_b) = (read_io_spec(store, &layout_a).await?, read_io_spec(store, &layout_b).await?);
    let schema = schema::compare(&io_a, &io_b);
    let footer_a = store.parquet_footer(&layout_a.specs()).await?;
    let footer_b = store.parquet_footer(&layout_b.specs()).await?;
    let side = |id: &RunId, n_specs: u64, complete: bool| RunSide { run: id.to_string(), n_specs, complete };
    let complete_a = gathered(store, &layout_a).await?;
    let complete_b = gathered(store, &layout_b).await?;
    let (n_a, n_b) = (footer_a.num_rows(), footer_b.num_rows());

    let mut files = schema::file_fields(&io_a);
    files.extend(schema::file_fields(&io_b));
    let columns = specs::match_columns(footer_a.schema(), footer_b.schema(), &files);
    let pairing = specs::pair(store, &layout_a, n_a, &layout_b, n_b, &columns).await?;
    let examples = |indexes: &[u64]| indexes.iter().take(EXAMPLES).copied().collect::<Vec<_>>();
    let only_a_examples = specs::describe(store, &layout_a, &columns, &examples(&pairing.only_a)).await?;
    let only_b_examples = specs::describe(store, &layout_b, &columns, &examples(&pairing.only_b)).await?;
    let to_examples = |found: Vec<(u64, String)>| {
        found.into_iter().map(|(sort_index, inputs)| SpecExample { sort_index, inputs }).collect()
    };

    let outputs = if complete_a && complete_b {
        let names_b = schema::output_fields(&io_b);
        let shared: Vec<String> = schema::output_fields(&io_a).into_iter().filter(|n| names_b.contains(n)).collect();
        let mut changes =
            outputs::compare(store, &layout_a, n_a, &layout_b, &pairing, &shared, options.tolerance).await?;
        for column in &mut changes.columns {
            if let Some(index) = column.largest_b {
                column.spec = specs::describe(store, &layout_b, &columns, &[index]).await?.pop().map(|(_, s)| s);
            }
        }
        Some(changes)
    } else {
        None
    };
    let common = pairing.b_to_a.iter().flatten().count() as u64;
    Ok(RunDiff {
        a: side(a, n_a, complete_a),
        b: side(b, n_b, complete_b),
        schema,
        matched_on: columns.iter().map(|c| c.name.clone()).collect(),
        common,
        only_a: pairing.only_a.len() as u64,
        only_b: pairing.only_b.len() as u64,
        only_a_examples: to_examples(only_a_examples),
        only_b_examples: to_examples(only_b_examples),
        outputs,
    })
}
