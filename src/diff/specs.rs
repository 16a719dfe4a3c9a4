//! Matching the specs of two runs by their canonical input values, not by row number.
//!
//! A spec's canonical value is its row of the input fields both runs have (a field in one run
//! only is left out; numbers of two numeric types compare as `f64`), with each input file named
//! by its file name when it was uploaded into the run (`artifacts/<field>/<name>`: the same
//! local file has another URI in every run) and by its URI otherwise. Rows are hashed
//! (SHA-256, first 128 bits) so the first run costs 33 bytes per spec in memory (digest, sort
//! index, taken flag) and the second 16 (its pairing) while its specs are streamed; identical
//! rows pair up in sort-index order.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, UInt64Type};
use arrow::row::{RowConverter, SortField};
use futures::TryStreamExt;
use scythe_core::layout::RunLayout;
use scythe_core::schema::SORT_INDEX;
use scythe_storage::{Store, StoreError};
use sha2::{Digest, Sha256};

use super::DiffError;

/// Rows read per batch.
const BATCH: usize = 64 * 1024;

/// How the specs of two runs pair up.
#[derive(Debug, Default)]
pub(crate) struct Pairing {
    /// For each sort index of the second run, the sort index of the same spec in the first.
    pub(crate) b_to_a: Vec<Option<u64>>,
    /// Sort indexes of the first run's specs that the second lacks.
    pub(crate) only_a: Vec<u64>,
    /// Sort indexes of the second run's specs that the first lacks.
    pub(crate) only_b: Vec<u64>,
}

/// One input column used for matching.
#[derive(Debug, Clone)]
pub(crate) struct MatchColumn {
    pub(crate) name: String,
    /// The type both runs' values are cast to.
    pub(crate) data_type: DataType,
    /// Whether it holds input file references.
    pub(crate) is_file: bool,
}

/// The input columns two runs share, from their `specs.pq` schemas and file fields.
pub(crate) fn match_columns(
    a: &arrow::datatypes::Schema,
    b: &arrow::datatypes::Schema,
    files: &[String],
) -> Vec<MatchColumn> {
    let mut columns = Vec::new();
    for field in a.fields().iter().filter(|f| !["experiment_id", SORT_INDEX].contains(&f.name().as_str())) {
        let Ok(other) = b.field_with_name(field.name()) else { continue };
        let data_type = if field.data_type() == other.data_type() {
            field.data_type().clone()
        } else if field.data_type().is_numeric() && other.data_type().is_numeric() {
            DataType::Float64
        } else {
            continue;
        };
        columns.push(MatchColumn { name: field.name().clone(), data_type, is_file: files.contains(field.name()) });
    }
    columns
}

/// Computes the 128-bit digests of the canonical rows of one run's specs.
struct Canon {
    converter: RowConverter,
    columns: Vec<MatchColumn>,
    /// Per file column, the URI prefix of files uploaded into this run.
    artifact_prefixes: Vec<String>,
}

impl Canon {
    fn new(store: &Store, layout: &RunLayout, columns: &[MatchColumn]) -> Result<Self, DiffError> {
        let converter = RowConverter::new(columns.iter().map(|c| SortField::new(c.data_type.clone())).collect())
            .map_err(|source| DiffError::Arrow { context: "encoding spec rows".to_owned(), source })?;
        let artifact_prefixes = columns
            .iter()
            .map(|c| {
                let uri = store.uri(&layout.artifact(&c.name, "x"));
                uri[..uri.len() - 1].to_owned()
            })
            .collect();
        Ok(Self { converter, columns: columns.to_vec(), artifact_prefixes })
    }

    /// The sort index and digest of every row of `batch`.
    fn digests(&self, batch: &RecordBatch, uri: &str) -> Result<Vec<(u64, u128)>, DiffError> {
        let corrupt = |reason: String| DiffError::Corrupt { uri: uri.to_owned(), reason };
        let indexes = batch
            .column_by_name(SORT_INDEX)
            .and_then(|c| c.as_primitive_opt::<UInt64Type>())
            .ok_or_else(|| corrupt("no `sort_index` column of unsigned integers".to_owned()))?;
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.columns.len());
        for (column, prefix) in self.columns.iter().zip(&self.artifact_prefixes) {
            let array = batch
                .column_by_name(&column.name)
                .ok_or_else(|| corrupt(format!("input column `{}` is missing", column.name)))?;
            let array = arrow::compute::cast(array, &column.data_type)
                .map_err(|source| DiffError::Arrow { context: format!("reading input `{}`", column.name), source })?;
            arrays.push(if column.is_file { strip_artifacts(&array, prefix) } else { array });
        }
        let rows = self
            .converter
            .convert_columns(&arrays)
            .map_err(|source| DiffError::Arrow { context: "encoding spec rows".to_owned(), source })?;
        Ok((0..batch.num_rows()).map(|row| (indexes.value(row), digest(rows.row(row).as_ref()))).collect())
    }
}

/// File references uploaded into the run (`<prefix><name>`) as their file name.
fn strip_artifacts(array: &ArrayRef, prefix: &str) -> ArrayRef {
    let Some(strings) = array.as_string_opt::<i32>() else { return Arc::clone(array) };
    let stripped: StringArray = strings.iter().map(|v| v.map(|v| v.strip_prefix(prefix).unwrap_or(v))).collect();
    Arc::new(stripped)
}

fn digest(bytes: &[u8]) -> u128 {
    let hash = Sha256::digest(bytes);
    let mut first = [0u8; 16];
    first.copy_from_slice(&hash[..16]);
    u128::from_le_bytes(first)
}

/// Streams `specs.pq` of `layout`, calling `each` with the sort index and digest of every row.
async fn each_digest(
    store: &Store,
    layout: &RunLayout,
    columns: &[MatchColumn],
    mut each: impl FnMut(u64, u128),
) -> Result<(), DiffError> {
    let canon = Canon::new(store, layout, columns)?;
    let key = layout.specs();
    let uri = store.uri(&key);
    let mut stream = store.read_parquet(&key, BATCH).await?;
    while let Some(batch) =
        stream.try_next().await.map_err(|source| DiffError::Store(StoreError::Parquet { uri: uri.clone(), source }))?
    {
        for (index, digest) in canon.digests(&batch, &uri)? {
            each(index, digest);
        }
    }
    Ok(())
}

/// Pairs the specs of runs `a` (with `n_a` specs) and `b` (`n_b`) on `columns`.
pub(crate) async fn pair(
    store: &Store,
    a: &RunLayout,
    n_a: u64,
    b: &RunLayout,
    n_b: u64,
    columns: &[MatchColumn],
) -> Result<Pairing, DiffError> {
    let mut first: Vec<(u128, u64)> = Vec::with_capacity(usize::try_from(n_a).unwrap_or(0));
    each_digest(store, a, columns, |index, digest| first.push((digest, index))).await?;
    first.sort_unstable();
    let mut taken = vec![false; first.len()];
    let mut b_to_a = vec![None; usize::try_from(n_b).unwrap_or(0)];
    let mut only_b = Vec::new();
    each_digest(store, b, columns, |index, digest| {
        let start = first.partition_point(|&(d, _)| d < digest);
        let free = (start..first.len()).take_while(|&i| first[i].0 == digest).find(|&i| !taken[i]);
        match free {
            Some(i) => {
                taken[i] = true;
                if let Some(slot) = usize::try_from(index).ok().and_then(|i| b_to_a.get_mut(i)) {
                    *slot = Some(first[i].1);
                }
            }
            None => only_b.push(index),
        }
    })
    .await?;
    let mut only_a: Vec<u64> = first.iter().zip(&taken).filter(|(_, taken)| !**taken).map(|(e, _)| e.1).collect();
    only_a.sort_unstable();
    only_b.sort_unstable();
    Ok(Pairing { b_to_a, only_a, only_b })
}

/// The input values of the specs at `indexes` of a run, as `field=value, …` (file references
/// by file name when uploaded into the run).
pub(crate) async fn describe(
    store: &Store,
    layout: &RunLayout,
    columns: &[MatchColumn],
    indexes: &[u64],
) -> Result<Vec<(u64, String)>, DiffError> {
    let key = layout.specs();
    let uri = store.uri(&key);
    let footer = store.parquet_footer(&key).await?;
    let mut out = Vec::with_capacity(indexes.len());
    for &index in indexes {
        let (mut stream, mut row) = store.read_parquet_rows_of(&footer, index..index + 1, BATCH)?;
        while let Some(batch) = stream
            .try_next()
            .await
            .map_err(|source| DiffError::Store(StoreError::Parquet { uri: uri.clone(), source }))?
        {
            let rows = batch.num_rows() as u64;
            if index >= row && index < row + rows {
                let offset = (index - row) as usize;
                let mut parts = Vec::with_capacity(columns.len());
                for column in columns {
                    let Some(array) = batch.column_by_name(&column.name) else { continue };
                    let value = arrow::util::display::array_value_to_string(array, offset).unwrap_or_default();
                    let value = if column.is_file {
                        value.rsplit('/').next().map(str::to_owned).unwrap_or(value)
                    } else {
                        value
                    };
                    parts.push(format!("{}={value}", column.name));
                }
                out.push((index, parts.join(", ")));
                break;
            }
            row += rows;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Array;

    #[test]
    fn digests_tell_rows_apart() {
        assert_eq!(digest(b"abc"), digest(b"abc"));
        assert_ne!(digest(b"abc"), digest(b"abd"));
    }

    #[test]
    fn uploaded_files_compare_by_name() {
        let array: ArrayRef = Arc::new(StringArray::from(vec![
            Some("file:///r/a/artifacts/weather/oslo.csv"),
            Some("s3://b/oslo.csv"),
            None,
        ]));
        let stripped = strip_artifacts(&array, "file:///r/a/artifacts/weather/");
        let stripped = stripped.as_string::<i32>();
        assert_eq!(stripped.value(0), "oslo.csv");
        assert_eq!(stripped.value(1), "s3://b/oslo.csv");
        assert!(stripped.is_null(2));
    }
}
