//! Comparing the outputs of the specs two runs share, column by column of `final/scalars.pq`.
//!
//! The first run's output columns are held in memory (16 bytes per spec and column: numbers as
//! `Option<f64>`, other values as an optional 64-bit hash of their encoded row); the second
//! run's table is streamed. Numbers change when they differ by more than the tolerance (NaN equals NaN, a
//! null differs from any value); other values change when their encodings differ.

use std::hash::{Hash, Hasher};

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, UInt64Type};
use arrow::row::{RowConverter, SortField};
use futures::TryStreamExt;
use scythe_core::layout::RunLayout;
use scythe_core::schema::SORT_INDEX;
use scythe_storage::{Store, StoreError};
use serde::Serialize;

use super::DiffError;
use super::specs::Pairing;

/// Rows read per batch.
const BATCH: usize = 64 * 1024;

/// How one output column changed across the specs both runs share.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColumnChange {
    /// The output field.
    pub column: String,
    /// Whether it was compared as a number (`max_abs_change` is meaningful).
    pub numeric: bool,
    /// Specs whose value changed.
    pub changed: u64,
    /// The largest absolute change between finite numbers (0 when none changed).
    pub max_abs_change: f64,
    /// Sort index in the first run of the spec with the largest change (the first changed
    /// spec for non-numeric columns).
    pub largest_a: Option<u64>,
    /// Its sort index in the second run.
    pub largest_b: Option<u64>,
    /// Its value in the first run.
    pub value_a: Option<String>,
    /// Its value in the second run.
    pub value_b: Option<String>,
    /// Its input values (`field=value, …`).
    pub spec: Option<String>,
}

/// What the outputs of the common specs did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OutputChanges {
    /// Common specs that succeeded in both runs (their outputs were compared).
    pub compared: u64,
    /// Of those, specs with at least one changed output.
    pub changed_specs: u64,
    /// Common specs that succeeded in the first run only (failed or missing in the second).
    pub succeeded_only_in_a: u64,
    /// Common specs that succeeded in the second run only.
    pub succeeded_only_in_b: u64,
    /// Per compared column, in the output's order.
    pub columns: Vec<ColumnChange>,
    /// Output fields of both runs that are not columns of `scalars.pq` (per-field tables,
    /// output files) or changed type: not compared.
    pub not_compared: Vec<String>,
}

/// One compared column of the first run, by sort index.
enum Stored {
    Number(Vec<Option<f64>>),
    Hashed(Vec<Option<u64>>),
}

/// Reads `final/scalars.pq` of both runs and compares `outputs` (output fields both runs
/// have) for the specs `pairing` pairs up.
pub(crate) async fn compare(
    store: &Store,
    a: &RunLayout,
    n_a: u64,
    b: &RunLayout,
    pairing: &Pairing,
    outputs: &[String],
    tolerance: f64,
) -> Result<OutputChanges, DiffError> {
    let (key_a, key_b) = (a.final_table("scalars"), b.final_table("scalars"));
    let schema_a = store.parquet_footer(&key_a).await?.schema().clone();
    let schema_b = store.parquet_footer(&key_b).await?.schema().clone();
    // The output columns of the first run's table, in its order, that both runs can compare.
    let mut names = Vec::new();
    for field in schema_a.fields().iter().filter(|f| outputs.contains(f.name())) {
        if let Ok(other) = schema_b.field_with_name(field.name()) {
            let both_numeric = numeric(field.data_type()) && numeric(other.data_type());
            if both_numeric || field.data_type() == other.data_type() {
                names.push((field.name().clone(), both_numeric));
            }
        }
    }
    let not_compared: Vec<String> =
        outputs.iter().filter(|name| !names.iter().any(|(n, _)| n == *name)).cloned().collect();
    let n = usize::try_from(n_a).unwrap_or(0);
    let mut stored: Vec<Stored> = names
        .iter()
        .map(|(_, is_number)| if *is_number { Stored::Number(vec![None; n]) } else { Stored::Hashed(vec![None; n]) })
        .collect();
    let mut ok_a = vec![false; n];
    let uri_a = store.uri(&key_a);
    let mut stream = store.read_parquet(&key_a, BATCH).await?;
    while let Some(batch) = stream
        .try_next()
        .await
        .map_err(|source| DiffError::Store(StoreError::Parquet { uri: uri_a.clone(), source }))?
    {
        let indexes = sort_indexes(&batch, &uri_a)?;
        for ((name, _), column) in names.iter().zip(stored.iter_mut()) {
            let values = Values::of(&batch, name, &uri_a)?;
            for (row, &index) in indexes.iter().enumerate() {
                let Some(slot) = usize::try_from(index).ok().filter(|&i| i < n) else { continue };
                match (&mut *column, &values) {
                    (Stored::Number(out), Values::Number(array)) => {
                        out[slot] = array.is_valid(row).then(|| array.value(row));
                    }
                    (Stored::Hashed(out), Values::Hashed(hashes)) => out[slot] = hashes[row],
                    _ => {}
                }
            }
        }
        for &index in &indexes {
            if let Some(ok) = usize::try_from(index).ok().and_then(|i| ok_a.get_mut(i)) {
                *ok = true;
            }
        }
    }

    let mut changes = OutputChanges { not_compared, ..OutputChanges::default() };
    changes.columns = names
        .iter()
        .map(|(name, is_number)| ColumnChange {
            column: name.clone(),
            numeric: *is_number,
            changed: 0,
            max_abs_change: 0.0,
            largest_a: None,
            largest_b: None,
            value_a: None,
            value_b: None,
            spec: None,
        })
        .collect();
    // Pairs whose second spec succeeded, to count the first run's successes left over.
    let mut seen_in_b = vec![false; n];
    let uri_b = store.uri(&key_b);
    let mut stream = store.read_parquet(&key_b, BATCH).await?;
    while let Some(batch) = stream
        .try_next()
        .await
        .map_err(|source| DiffError::Store(StoreError::Parquet { uri: uri_b.clone(), source }))?
    {
        let indexes = sort_indexes(&batch, &uri_b)?;
        let values: Vec<Values> =
            names.iter().map(|(name, _)| Values::of(&batch, name, &uri_b)).collect::<Result<_, _>>()?;
        for (row, &index_b) in indexes.iter().enumerate() {
            let Some(index_a) = usize::try_from(index_b).ok().and_then(|i| pairing.b_to_a.get(i)).copied().flatten()
            else {
                continue;
            };
            let slot = usize::try_from(index_a).unwrap_or(usize::MAX);
            if let Some(seen) = seen_in_b.get_mut(slot) {
                *seen = true;
            }
            if !ok_a.get(slot).copied().unwrap_or(false) {
                changes.succeeded_only_in_b += 1;
                continue;
            }
            changes.compared += 1;
            let mut any = false;
            for ((column, stored), values) in changes.columns.iter_mut().zip(&stored).zip(&values) {
                match (stored, values) {
                    (Stored::Number(old), Values::Number(new)) => {
                        let (before, after) = (old[slot], new.is_valid(row).then(|| new.value(row)));
                        let delta = match (before, after) {
                            (Some(x), Some(y)) if x == y || (x.is_nan() && y.is_nan()) => continue,
                            (Some(x), Some(y)) => (y - x).abs(),
                            (None, None) => continue,
                            _ => f64::INFINITY,
                        };
                        // NaN on one side only, or a null: changed, with no finite size.
                        let changed = delta.is_nan() || delta > tolerance;
                        if !changed {
                            continue;
                        }
                        any = true;
                        column.changed += 1;
                        let finite = delta.is_finite();
                        if column.largest_a.is_none() || (finite && delta > column.max_abs_change) {
                            if finite {
                                column.max_abs_change = delta;
                            }
                            column.largest_a = Some(index_a);
                            column.largest_b = Some(index_b);
                            column.value_a = Some(before.map_or("null".to_owned(), |v| v.to_string()));
                            column.value_b = Some(after.map_or("null".to_owned(), |v| v.to_string()));
                        }
                    }
                    (Stored::Hashed(old), Values::Hashed(new)) if old[slot] != new[row] => {
                        any = true;
                        column.changed += 1;
                        if column.largest_a.is_none() {
                            column.largest_a = Some(index_a);
                            column.largest_b = Some(index_b);
                        }
                    }
                    _ => {}
                }
            }
            changes.changed_specs += u64::from(any);
        }
    }
    changes.succeeded_only_in_a = pairing
        .b_to_a
        .iter()
        .flatten()
        .filter(|&&index_a| {
            usize::try_from(index_a).ok().and_then(|i| ok_a.get(i)).copied().unwrap_or(false)
                && !seen_in_b.get(usize::try_from(index_a).unwrap_or(usize::MAX)).copied().unwrap_or(false)
        })
        .count() as u64;
    Ok(changes)
}

fn numeric(data_type: &DataType) -> bool {
    data_type.is_numeric()
}

fn sort_indexes(batch: &RecordBatch, uri: &str) -> Result<Vec<u64>, DiffError> {
    let column =
        batch.column_by_name(SORT_INDEX).and_then(|c| c.as_primitive_opt::<UInt64Type>()).ok_or_else(|| {
            DiffError::Corrupt { uri: uri.to_owned(), reason: "no `sort_index` column of unsigned integers".to_owned() }
        })?;
    Ok(column.values().to_vec())
}

/// One output column of a batch, ready to compare.
enum Values {
    Number(arrow::array::PrimitiveArray<Float64Type>),
    Hashed(Vec<Option<u64>>),
}

impl Values {
    fn of(batch: &RecordBatch, name: &str, uri: &str) -> Result<Values, DiffError> {
        let array: &ArrayRef = batch.column_by_name(name).ok_or_else(|| DiffError::Corrupt {
            uri: uri.to_owned(),
            reason: format!("output column `{name}` is missing"),
        })?;
        let arrow_error = |source| DiffError::Arrow { context: format!("reading output `{name}`"), source };
        if numeric(array.data_type()) {
            let cast = arrow::compute::cast(array, &DataType::Float64).map_err(arrow_error)?;
            return Ok(Values::Number(cast.as_primitive::<Float64Type>().clone()));
        }
        let converter = RowConverter::new(vec![SortField::new(array.data_type().clone())]).map_err(arrow_error)?;
        let rows = converter.convert_columns(std::slice::from_ref(array)).map_err(arrow_error)?;
        Ok(Values::Hashed(
            (0..array.len())
                .map(|row| {
                    array.is_valid(row).then(|| {
                        let mut hasher = std::collections::hash_map::DefaultHasher::new();
                        rows.row(row).as_ref().hash(&mut hasher);
                        hasher.finish()
                    })
                })
                .collect(),
        ))
    }
}
