//! Result parts: what a worker writes as its tasks finish, one Parquet file per table for a
//! contiguous range of sort indexes (`results/parts/<table>/<part>.pq`).
//!
//! Parts hold `sort_index` plus the output columns; gather joins the index columns from
//! `specs.pq`. Writing a part twice (a retried batch) writes the same keys.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch, StringArray, UInt32Array, UInt64Array};
use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use futures::StreamExt;
use scythe_core::layout::PartId;
use scythe_core::schema::{Column, ColumnKind, ExperimentSchema, SORT_INDEX, SORT_SUBINDEX};
use scythe_core::{FileRef, FileRefKind, TaskError, TaskErrorKind};
use serde::Serialize;

use crate::error::Error;
use crate::provenance::Timing;
use crate::run_context::RunContext;

/// The table of failed specs.
pub(crate) const FAILURES: &str = "failures";
/// The table of scalar outputs.
pub(crate) const SCALARS: &str = "scalars";
/// The table of each spec's provenance (code, worker, timing, cached or not).
pub(crate) const PROVENANCE: &str = "provenance";
/// The table of output file URIs.
pub(crate) const FILE_REFS: &str = "result_file_refs";

/// Uploads of output files in flight at once per worker.
const UPLOAD_CONCURRENCY: usize = 8;

/// A spec that failed for good.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub(crate) sort_index: u64,
    pub(crate) attempts: u32,
    pub(crate) error: TaskError,
    /// When it ran, for the provenance table.
    pub(crate) timing: Timing,
}

impl Failure {
    pub(crate) fn new(sort_index: u64, attempts: u32, error: TaskError) -> Self {
        Self { sort_index, attempts, error, timing: Timing::not_run(attempts) }
    }
}

/// The tables one run produces, with their part/final schemas (without index columns).
#[derive(Debug, Clone)]
pub(crate) struct TableSpec {
    pub(crate) name: String,
    /// `sort_index` (and `sort_subindex` for per-field tables) first, then data columns.
    pub(crate) schema: SchemaRef,
    /// Whether rows carry a `sort_subindex`.
    pub(crate) has_subindex: bool,
}

fn sort_index_field() -> FieldRef {
    Arc::new(Field::new(SORT_INDEX, DataType::UInt64, false))
}

/// Every table of an experiment's run, in the order gather writes them.
pub(crate) fn table_specs(schema: &ExperimentSchema) -> Vec<TableSpec> {
    let output = schema.output();
    let with_index = |fields: Vec<FieldRef>| Arc::new(Schema::new([vec![sort_index_field()], fields].concat()));
    let mut tables = vec![TableSpec {
        name: SCALARS.to_owned(),
        schema: with_index(
            output
                .columns()
                .iter()
                .filter(|c| matches!(c.kind, ColumnKind::Scalar | ColumnKind::Nested))
                .map(|c| c.field.clone())
                .collect(),
        ),
        has_subindex: false,
    }];
    let file_fields: Vec<FieldRef> =
        output.columns_of(ColumnKind::FileRef).map(|c| Arc::new(Field::new(&c.name, DataType::Utf8, true))).collect();
    if !file_fields.is_empty() {
        tables.push(TableSpec { name: FILE_REFS.to_owned(), schema: with_index(file_fields), has_subindex: false });
    }
    for column in output.columns_of(ColumnKind::Table) {
        let mut fields = vec![sort_index_field(), Arc::new(Field::new(SORT_SUBINDEX, DataType::UInt32, false))];
        fields.extend(row_fields(column).iter().cloned());
        tables.push(TableSpec { name: column.name.clone(), schema: Arc::new(Schema::new(fields)), has_subindex: true });
    }
    tables.push(TableSpec {
        name: PROVENANCE.to_owned(),
        schema: with_index(crate::provenance::fields()),
        has_subindex: false,
    });
    // Last: `record_lost` takes it with `pop`.
    tables.push(TableSpec {
        name: FAILURES.to_owned(),
        schema: with_index(vec![
            Arc::new(Field::new("error_kind", DataType::Utf8, false)),
            Arc::new(Field::new("error", DataType::Utf8, false)),
            Arc::new(Field::new("attempts", DataType::UInt32, false)),
        ]),
        has_subindex: false,
    });
    tables
}

fn row_fields(column: &Column) -> Vec<FieldRef> {
    match column.field.data_type() {
        DataType::List(item) | DataType::LargeList(item) => match item.data_type() {
            DataType::Struct(fields) => fields.iter().cloned().collect(),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// Results of consecutive specs, buffered until they are written as one part.
pub(crate) struct PartBuffer<'a, O> {
    schema: &'a ExperimentSchema,
    run: &'a RunContext,
    start: u64,
    next: u64,
    successes: Vec<u64>,
    outputs: Vec<O>,
    /// Each success's scratch folder (where its output files must be), aligned with `successes`.
    scratch: Vec<Option<PathBuf>>,
    /// When each success ran, aligned with `successes`.
    timings: Vec<Timing>,
    failures: Vec<Failure>,
}

impl<'a, O: Serialize> PartBuffer<'a, O> {
    pub(crate) fn new(schema: &'a ExperimentSchema, run: &'a RunContext, start: u64) -> Self {
        Self {
            schema,
            run,
            start,
            next: start,
            successes: Vec::new(),
            outputs: Vec::new(),
            scratch: Vec::new(),
            timings: Vec::new(),
            failures: Vec::new(),
        }
    }

    pub(crate) fn push_success(&mut self, sort_index: u64, output: O, scratch: Option<PathBuf>, timing: Timing) {
        self.timings.push(timing);
        self.successes.push(sort_index);
        self.outputs.push(output);
        self.scratch.push(scratch);
        self.next = sort_index + 1;
    }

    pub(crate) fn push_failure(&mut self, failure: Failure) {
        self.next = failure.sort_index + 1;
        self.failures.push(failure);
    }

    /// Writes the buffer when it is big enough or `due` (the flush interval passed); says
    /// whether it wrote.
    pub(crate) fn flush_if_due(&mut self, due: bool) -> Result<bool, Error> {
        let rows = self.successes.len() + self.failures.len();
        if rows >= self.run.flush_rows || (due && rows > 0) {
            self.flush()?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Writes every buffered result as one part.
    pub(crate) fn flush(&mut self) -> Result<(), Error> {
        if self.next == self.start {
            return Ok(());
        }
        let part = PartId { generation: self.run.generation, start: self.start, end: self.next };
        let outputs = std::mem::take(&mut self.outputs);
        let successes = std::mem::take(&mut self.successes);
        let mut failures = std::mem::take(&mut self.failures);
        let failed_before = failures.len();
        let scratch = std::mem::take(&mut self.scratch);
        let timings = std::mem::take(&mut self.timings);
        let done = Done { successes: &successes, outputs: &outputs, scratch: &scratch, timings: &timings };
        self.run.runtime.block_on(write_part(self.schema, self.run, part, done, &mut failures))?;
        // Counted once written: a thread the watchdog abandons never gets here, and its specs
        // are counted when they run again. Specs whose output files failed moved to failures.
        let moved = failures.len() - failed_before;
        for failure in &failures {
            let error = crate::summary::first_line(failure.error.message());
            tracing::warn!(sort_index = failure.sort_index, attempts = failure.attempts, "spec failed: {error}");
        }
        self.run.succeeded.fetch_add((successes.len() - moved) as u64, Ordering::Relaxed);
        self.run.failed.fetch_add(failures.len() as u64, Ordering::Relaxed);
        for dir in scratch.into_iter().flatten() {
            let _ = std::fs::remove_dir_all(dir);
        }
        self.start = self.next;
        Ok(())
    }
}

/// The successes of one part: sort indexes, outputs and scratch folders, aligned.
struct Done<'a, O> {
    successes: &'a [u64],
    outputs: &'a [O],
    scratch: &'a [Option<PathBuf>],
    timings: &'a [Timing],
}

async fn write_part<O: Serialize>(
    schema: &ExperimentSchema,
    run: &RunContext,
    part: PartId,
    done: Done<'_, O>,
    failures: &mut Vec<Failure>,
) -> Result<(), Error> {
    let Done { successes, outputs, scratch, timings } = done;
    // Every spec of the part, as it ran (before output files can turn successes into failures).
    let mut ran: Vec<(u64, Timing)> = successes.iter().copied().zip(timings.iter().copied()).collect();
    ran.extend(failures.iter().map(|f| (f.sort_index, f.timing)));
    ran.sort_by_key(|&(index, _)| index);
    let output = schema.output();
    let batch = serde_arrow::to_record_batch(output.fields(), &outputs).map_err(|error| Error::Document {
        document: format!("outputs of specs {}..{}", part.start, part.end),
        reason: error.to_string(),
    })?;
    let mut keep = vec![true; successes.len()];
    let mut file_columns = Vec::new();
    for column in output.columns_of(ColumnKind::FileRef) {
        let values = batch.column_by_name(&column.name).cloned().ok_or_else(|| missing_column(&column.name))?;
        let rows = OutputRows { sort_indexes: successes, scratch };
        let uris = upload_output_files(run, &column.name, rows, &values, &mut keep, failures).await;
        file_columns.push(Arc::new(uris) as ArrayRef);
    }
    let mask = BooleanArray::from(keep);
    let kept_indexes: ArrayRef = Arc::new(UInt64Array::from(successes.to_vec()));
    let filter = |array: &ArrayRef| {
        arrow::compute::filter(array, &mask).map_err(Error::arrow("dropping specs whose files failed"))
    };
    for table in table_specs(schema) {
        let columns: Vec<ArrayRef> = match table.name.as_str() {
            SCALARS => {
                let mut columns = vec![filter(&kept_indexes)?];
                for field in &table.schema.fields()[1..] {
                    columns
                        .push(filter(batch.column_by_name(field.name()).ok_or_else(|| missing_column(field.name()))?)?);
                }
                columns
            }
            FILE_REFS => {
                let mut columns = vec![filter(&kept_indexes)?];
                for uris in &file_columns {
                    columns.push(filter(uris)?);
                }
                columns
            }
            PROVENANCE => {
                let timings: Vec<Timing> = ran.iter().map(|&(_, timing)| timing).collect();
                let mut columns: Vec<ArrayRef> =
                    vec![Arc::new(UInt64Array::from_iter_values(ran.iter().map(|&(index, _)| index)))];
                columns.extend(crate::provenance::columns(run.code_fingerprint.as_deref(), &timings));
                columns
            }
            FAILURES => {
                if failures.is_empty() {
                    continue;
                }
                failures.sort_by_key(|f| f.sort_index);
                failure_columns(failures.iter().map(|f| (f.sort_index, f.error.kind(), f.error.message(), f.attempts)))
            }
            name => {
                let list = filter(batch.column_by_name(name).ok_or_else(|| missing_column(name))?)?;
                let indexes = filter(&kept_indexes)?;
                match flatten_rows(&table, &indexes, &list)? {
                    Some(columns) => columns,
                    None => continue,
                }
            }
        };
        let table_batch = RecordBatch::try_new(table.schema.clone(), columns)
            .map_err(Error::arrow(format!("building part of table `{}`", table.name)))?;
        run.store.put_parquet(&run.layout.part(&table.name, part), table.schema.clone(), &[table_batch], &[]).await?;
    }
    Ok(())
}

/// The columns of a `failures` part (`sort_index`, `error_kind`, `error`, `attempts`), one row
/// per `(sort_index, kind, message, attempts)`, in the order given.
pub(crate) fn failure_columns<'a>(rows: impl Iterator<Item = (u64, TaskErrorKind, &'a str, u32)>) -> Vec<ArrayRef> {
    let mut sort_indexes = arrow::array::UInt64Builder::new();
    let mut kinds = arrow::array::StringBuilder::new();
    let mut messages = arrow::array::StringBuilder::new();
    let mut attempts = arrow::array::UInt32Builder::new();
    for (sort_index, kind, message, tries) in rows {
        sort_indexes.append_value(sort_index);
        kinds.append_value(kind.as_str());
        messages.append_value(message);
        attempts.append_value(tries);
    }
    vec![
        Arc::new(sort_indexes.finish()),
        Arc::new(kinds.finish()),
        Arc::new(messages.finish()),
        Arc::new(attempts.finish()),
    ]
}

fn missing_column(name: &str) -> Error {
    Error::Document { document: "experiment output".to_owned(), reason: format!("column `{name}` is missing") }
}

/// Rows of a list-of-structs column as table columns; `None` when there are no rows.
fn flatten_rows(table: &TableSpec, sort_indexes: &ArrayRef, list: &ArrayRef) -> Result<Option<Vec<ArrayRef>>, Error> {
    let list = list.as_list::<i32>();
    let mut parents = Vec::new();
    let mut subindexes = Vec::new();
    let mut value_rows = Vec::new();
    for row in 0..list.len() {
        if list.is_null(row) {
            continue;
        }
        let (begin, end) = (list.value_offsets()[row] as u32, list.value_offsets()[row + 1] as u32);
        for (sub, value_row) in (begin..end).enumerate() {
            parents.push(row as u32);
            subindexes.push(sub as u32);
            value_rows.push(value_row);
        }
    }
    if parents.is_empty() {
        return Ok(None);
    }
    let take = |array: &ArrayRef, rows: &[u32]| {
        arrow::compute::take(array.as_ref(), &UInt32Array::from(rows.to_vec()), None)
            .map_err(Error::arrow(format!("flattening table `{}`", table.name)))
    };
    let mut columns = vec![take(sort_indexes, &parents)?, Arc::new(UInt32Array::from(subindexes)) as ArrayRef];
    let values = list.values().as_struct();
    for column in values.columns() {
        columns.push(take(column, &value_rows)?);
    }
    Ok(Some(columns))
}

/// The rows of an output column: their sort indexes and scratch folders.
#[derive(Clone, Copy)]
struct OutputRows<'a> {
    sort_indexes: &'a [u64],
    scratch: &'a [Option<PathBuf>],
}

/// Uploads the local files an output column names to `results/<field>/<sort_index>.<ext>`;
/// remote URIs (`s3://`, `gs://`, `az://`, `http(s)://`) are recorded as they are. A local file
/// must be inside its task's scratch folder once symlinks and `..` are resolved; a spec whose
/// file is outside it, missing or not a file fails for good, one whose upload fails is retried.
async fn upload_output_files(
    run: &RunContext,
    field: &str,
    rows: OutputRows<'_>,
    values: &ArrayRef,
    keep: &mut [bool],
    failures: &mut Vec<Failure>,
) -> StringArray {
    let strings = values.as_string::<i32>();
    let uploads = futures::stream::iter((0..strings.len()).map(|row| async move {
        if strings.is_null(row) {
            return (row, Ok(None));
        }
        let reference = FileRef::new(strings.value(row));
        let result = match reference.kind() {
            Ok(FileRefKind::Local(path)) => match confined(path, rows.scratch[row].as_deref()) {
                Ok(path) => {
                    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or_default();
                    let key = run.layout.result_file(field, rows.sort_indexes[row], extension);
                    match run.store.upload_file(&path, &key).await {
                        Ok(()) => Ok(Some(run.store.uri(&key))),
                        Err(error) => Err(TaskError::new(
                            TaskErrorKind::Infrastructure,
                            format!("output field `{field}`: {error}"),
                        )),
                    }
                }
                Err(reason) => Err(TaskError::new(
                    TaskErrorKind::InvalidOutput,
                    format!("output field `{field}`: `{}` {reason}", path.display()),
                )),
            },
            Ok(_) => Ok(Some(reference.as_str().to_owned())),
            Err(error) => Err(TaskError::new(TaskErrorKind::InvalidOutput, format!("output field `{field}`: {error}"))),
        };
        (row, result)
    }))
    .buffer_unordered(UPLOAD_CONCURRENCY)
    .collect::<Vec<_>>()
    .await;
    let mut uris = vec![None; strings.len()];
    for (row, result) in uploads {
        match result {
            Ok(uri) => uris[row] = uri,
            Err(error) if keep[row] => {
                keep[row] = false;
                failures.push(Failure::new(rows.sort_indexes[row], 1, error));
            }
            Err(_) => {}
        }
    }
    StringArray::from(uris)
}

/// The rule for output files, as failures state it.
const CONFINEMENT_RULE: &str = "output files must be written inside the task's scratch folder \
     (`TaskContext::scratch_dir()`), or be remote URIs (s3://, gs://, az://, https://) that are \
     recorded, not uploaded";

/// `path` with symlinks and `..` resolved, if it is a file inside `scratch`; else why not.
fn confined(path: &Path, scratch: Option<&Path>) -> Result<PathBuf, String> {
    let resolved =
        std::fs::canonicalize(path).map_err(|error| format!("cannot be read ({error}); {CONFINEMENT_RULE}"))?;
    let inside = scratch
        .and_then(|scratch| std::fs::canonicalize(scratch).ok())
        .is_some_and(|scratch| resolved.starts_with(scratch));
    if !inside {
        let target = if resolved != path { format!(" (resolves to `{}`)", resolved.display()) } else { String::new() };
        return Err(format!("is outside the task's scratch folder{target}; {CONFINEMENT_RULE}"));
    }
    if !resolved.is_file() {
        return Err("is not a file".to_owned());
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use arrow::array::{Float64Array, Int64Array, ListArray, StructArray};
    use arrow::buffer::{NullBuffer, OffsetBuffer};
    use arrow::datatypes::{Fields, UInt64Type};

    use super::*;

    #[test]
    fn a_list_column_flattens_to_one_row_per_element_with_parent_and_subindex() {
        let fields =
            Fields::from(vec![Field::new("t", DataType::Float64, false), Field::new("q", DataType::Int64, false)]);
        let values = StructArray::new(
            fields.clone(),
            vec![
                Arc::new(Float64Array::from(vec![0.0, 0.5, 1.0, 9.0])) as ArrayRef,
                Arc::new(Int64Array::from(vec![10, 11, 12, 90])) as ArrayRef,
            ],
            None,
        );
        // Spec rows: [2 elements], [], null, [1 element], [1 element]
        let list = ListArray::new(
            Arc::new(Field::new("item", DataType::Struct(fields.clone()), false)),
            OffsetBuffer::new(vec![0, 2, 2, 2, 3, 4].into()),
            Arc::new(values),
            Some(NullBuffer::from(vec![true, true, false, true, true])),
        );
        let sort_indexes: ArrayRef = Arc::new(UInt64Array::from(vec![40, 41, 42, 43, 44]));
        let schema = Arc::new(Schema::new(vec![
            sort_index_field(),
            Arc::new(Field::new(SORT_SUBINDEX, DataType::UInt32, false)),
            Arc::new(Field::new("t", DataType::Float64, false)),
            Arc::new(Field::new("q", DataType::Int64, false)),
        ]));
        let table = TableSpec { name: "trace".into(), schema, has_subindex: true };
        let columns = flatten_rows(&table, &sort_indexes, &(Arc::new(list) as ArrayRef)).unwrap().unwrap();
        assert_eq!(columns[0].as_primitive::<UInt64Type>().values().to_vec(), vec![40, 40, 43, 44]);
        assert_eq!(columns[1].as_primitive::<arrow::datatypes::UInt32Type>().values().to_vec(), vec![0, 1, 0, 0]);
        assert_eq!(
            columns[2].as_primitive::<arrow::datatypes::Float64Type>().values().to_vec(),
            vec![0.0, 0.5, 1.0, 9.0]
        );
        assert_eq!(columns[3].as_primitive::<arrow::datatypes::Int64Type>().values().to_vec(), vec![10, 11, 12, 90]);
    }

    #[test]
    fn a_list_column_with_no_elements_flattens_to_nothing() {
        let fields = Fields::from(vec![Field::new("t", DataType::Float64, false)]);
        let values =
            StructArray::new(fields.clone(), vec![Arc::new(Float64Array::from(Vec::<f64>::new())) as ArrayRef], None);
        let list = ListArray::new(
            Arc::new(Field::new("item", DataType::Struct(fields), false)),
            OffsetBuffer::new(vec![0, 0, 0].into()),
            Arc::new(values),
            None,
        );
        let sort_indexes: ArrayRef = Arc::new(UInt64Array::from(vec![0, 1]));
        let table = TableSpec { name: "trace".into(), schema: Arc::new(Schema::empty()), has_subindex: true };
        assert!(flatten_rows(&table, &sort_indexes, &(Arc::new(list) as ArrayRef)).unwrap().is_none());
    }
}
