//! Reading what a run left on the local disk: Parquet tables, their columns as text, and the
//! files under a folder.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, RecordBatch};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// Every batch of the Parquet file at `path`.
pub(crate) fn read_table(path: &Path) -> Vec<RecordBatch> {
    let file = File::open(path).unwrap_or_else(|error| panic!("open {}: {error}", path.display()));
    let reader = ParquetRecordBatchReaderBuilder::try_new(file).expect("parquet").build().expect("reader");
    reader.collect::<Result<_, _>>().expect("read batches")
}

/// The values of `column` in `batches`, each as text.
pub(crate) fn strings(batches: &[RecordBatch], column: &str) -> Vec<String> {
    batches
        .iter()
        .flat_map(|b| {
            let array = b.column_by_name(column).unwrap_or_else(|| panic!("column {column}"));
            let array = arrow::compute::cast(array, &arrow::datatypes::DataType::Utf8).expect("as text");
            let text = array.as_string::<i32>().clone();
            (0..text.len()).map(move |i| text.value(i).to_owned())
        })
        .collect()
}

/// Every file under `root` (none if it does not exist).
pub(crate) fn files_below(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() { pending.push(path) } else { files.push(path) }
        }
    }
    files
}
