//! Reads what a report shows from a run's final tables: numeric columns laid out by sort index.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, UInt64Type};
use futures::TryStreamExt;
use scythe_core::layout::RunLayout;
use scythe_core::pandas::PANDAS_METADATA_KEY;
use scythe_core::schema::{EXPERIMENT_ID, SORT_INDEX, SORT_SUBINDEX};
use scythe_storage::{Store, StoreError};

use crate::error::Error;
use crate::parts::{FAILURES, SCALARS};

/// The columns of `failures.pq` that are not index columns.
const FAILURE_COLUMNS: [&str; 3] = ["error_kind", "error", "attempts"];

/// Rows per batch when streaming a final table.
const BATCH: usize = 64 * 1024;

/// One numeric column, with one value per spec (indexed by sort index; NaN where the spec has
/// no value: a failed or missing spec for an output, a missing spec for an input).
#[derive(Debug, Clone)]
pub(crate) struct Column {
    /// The column's name in the final tables.
    pub(crate) name: String,
    /// Values by sort index.
    pub(crate) values: Vec<f64>,
}

/// The numeric contents of a run's `scalars.pq` and `failures.pq`.
#[derive(Debug, Clone)]
pub(crate) struct RunTables {
    /// Numeric input columns (index columns of the final tables), in table order.
    pub(crate) inputs: Vec<Column>,
    /// Numeric output columns of `scalars.pq`, in table order.
    pub(crate) outputs: Vec<Column>,
    /// Whether each spec has a row in `failures.pq`.
    pub(crate) failed: Vec<bool>,
    /// Whether each spec has a row in `scalars.pq`.
    pub(crate) succeeded: Vec<bool>,
    /// Output columns that are not numeric (not summarized).
    pub(crate) skipped: Vec<String>,
}

/// Reads the final tables of the run at `layout` with `n_specs` specs.
pub(crate) async fn load(store: &Store, layout: &RunLayout, n_specs: u64) -> Result<RunTables, Error> {
    let n = usize::try_from(n_specs).map_err(|_| Error::Settings(format!("{n_specs} specs do not fit in memory")))?;
    let mut tables = RunTables {
        inputs: Vec::new(),
        outputs: Vec::new(),
        failed: vec![false; n],
        succeeded: vec![false; n],
        skipped: Vec::new(),
    };
    // The index columns (inputs) are failures.pq's columns but its own three; read it first.
    let mut index: Vec<String> = Vec::new();
    for table in [FAILURES, SCALARS] {
        let key = layout.final_table(table);
        let mut stream = match store.read_parquet(&key, BATCH).await {
            Ok(stream) => stream,
            Err(StoreError::NotFound { .. }) => {
                return Err(Error::Settings(format!(
                    "run `{}` has no final/{table}.pq yet; run `resume {0}` or `gather {0}` first",
                    layout.run()
                )));
            }
            Err(error) => return Err(error.into()),
        };
        let schema = stream.schema().clone();
        let from_metadata = index_columns(schema.metadata().get(PANDAS_METADATA_KEY).map(String::as_str));
        if !from_metadata.is_empty() {
            index = from_metadata;
        } else if table == FAILURES {
            index = schema
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .filter(|name| !FAILURE_COLUMNS.contains(&name.as_str()))
                .collect();
        }
        let parquet = |source| Error::Store(StoreError::Parquet { uri: store.uri(&key), source });
        while let Some(batch) = stream.try_next().await.map_err(parquet)? {
            add_batch(&mut tables, &batch, &index, table == SCALARS, &store.uri(&key))?;
        }
    }
    Ok(tables)
}

/// The `index_columns` of a table's pandas metadata (empty when absent).
fn index_columns(pandas: Option<&str>) -> Vec<String> {
    pandas
        .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
        .and_then(|meta| {
            meta.get("index_columns")?
                .as_array()
                .map(|names| names.iter().filter_map(|name| name.as_str().map(str::to_owned)).collect::<Vec<String>>())
        })
        .unwrap_or_default()
}

fn is_numeric(data_type: &DataType) -> bool {
    data_type.is_integer() || data_type.is_floating()
}

fn add_batch(
    tables: &mut RunTables,
    batch: &RecordBatch,
    index: &[String],
    scalars: bool,
    uri: &str,
) -> Result<(), Error> {
    let n = tables.failed.len();
    let corrupt = |reason: String| Error::Document { document: uri.to_owned(), reason };
    let sort_index = batch
        .column_by_name(SORT_INDEX)
        .and_then(|c| c.as_primitive_opt::<UInt64Type>())
        .ok_or_else(|| corrupt("no UInt64 `sort_index` column".to_owned()))?;
    let rows: Vec<usize> = sort_index
        .values()
        .iter()
        .map(|&i| usize::try_from(i).ok().filter(|&i| i < n))
        .collect::<Option<_>>()
        .ok_or_else(|| corrupt(format!("a sort_index is not below the run's {n} specs")))?;
    let seen = if scalars { &mut tables.succeeded } else { &mut tables.failed };
    for &row in &rows {
        seen[row] = true;
    }
    for (field, array) in batch.schema().fields().iter().zip(batch.columns()) {
        let name = field.name();
        if name == EXPERIMENT_ID || name == SORT_INDEX || name == SORT_SUBINDEX {
            continue;
        }
        let is_input = index.iter().any(|i| i == name);
        if !is_input && !scalars {
            continue; // error_kind, error, attempts
        }
        if !is_numeric(field.data_type()) {
            if !is_input && scalars && !tables.skipped.contains(name) {
                tables.skipped.push(name.clone());
            }
            continue;
        }
        let columns = if is_input { &mut tables.inputs } else { &mut tables.outputs };
        let position = match columns.iter().position(|c| &c.name == name) {
            Some(position) => position,
            None => {
                columns.push(Column { name: name.clone(), values: vec![f64::NAN; n] });
                columns.len() - 1
            }
        };
        let values = arrow::compute::cast(array, &DataType::Float64)
            .map_err(|source| Error::Arrow { context: format!("reading column `{name}` as numbers"), source })?;
        let values = values.as_primitive::<Float64Type>();
        let column = &mut columns[position].values;
        for (i, &row) in rows.iter().enumerate() {
            column[row] = if values.is_null(i) { f64::NAN } else { values.value(i) };
        }
    }
    Ok(())
}
