//! Specs: where they come from (a Parquet, CSV or JSON Lines file, or Rust values) and how
//! they are checked against the input schema before anything is written.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use scythe_core::ExperimentData;
use scythe_core::schema::{ColumnKind, DataSchema};
use scythe_core::validate::{SpecError, SpecIssue, check_constraints, conform};
use scythe_core::{FileRef, FileRefKind};

use crate::error::Error;

/// Rows read per batch from spec files.
const READ_BATCH_ROWS: usize = 64 * 1024;

/// The specs of a run.
#[derive(Debug, Clone)]
pub enum Specs {
    /// A file: `.pq`/`.parquet`, `.csv`, or `.jsonl`/`.ndjson` (one JSON object per line).
    File(PathBuf),
    /// Arrow batches whose columns are named after the input's fields.
    Batches(Vec<RecordBatch>),
}

impl Specs {
    /// Specs from a file; the format follows the extension.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Specs::File(path.into())
    }

    /// Specs from Rust values of the experiment's input type.
    pub fn from_values<T: ExperimentData>(values: &[T]) -> Result<Self, Error> {
        let input = DataSchema::of::<T>()?;
        let batch = serde_arrow::to_record_batch(input.fields(), &values)
            .map_err(|error| Error::Document { document: "specs".to_owned(), reason: error.to_string() })?;
        Ok(Specs::Batches(vec![batch]))
    }

    fn origin(&self) -> String {
        match self {
            Specs::File(path) => format!("`{}`", path.display()),
            Specs::Batches(_) => "specs given in code".to_owned(),
        }
    }
}

/// Specs checked against the input: conformed batches, in `sort_index` order.
#[derive(Debug, Clone)]
pub(crate) struct ValidSpecs {
    pub(crate) batches: Vec<RecordBatch>,
    pub(crate) rows: u64,
}

/// Decodes a conformed batch into the input type, reporting the first row that does not.
pub(crate) type DecodeCheck<'a> = &'a dyn Fn(&RecordBatch, u64) -> Result<(), SpecError>;

/// Reads and validates every spec; nothing is written. Problems name the row and field.
pub(crate) fn load(specs: &Specs, input: &DataSchema, decode_check: DecodeCheck<'_>) -> Result<ValidSpecs, Error> {
    let raw = match specs {
        Specs::File(path) => read_file(path, input)?,
        Specs::Batches(batches) => batches.clone(),
    };
    let origin = specs.origin();
    let located = |source: SpecError| Error::Specs { origin: origin.clone(), source };
    let mut batches = Vec::with_capacity(raw.len());
    let mut rows = 0u64;
    for batch in raw.iter().filter(|batch| batch.num_rows() > 0) {
        let conformed = conform(batch, input, rows).map_err(located)?;
        check_constraints(&conformed, input, rows).map_err(located)?;
        check_file_refs(&conformed, input, rows).map_err(located)?;
        decode_check(&conformed, rows).map_err(located)?;
        rows += conformed.num_rows() as u64;
        batches.push(conformed);
    }
    if rows == 0 {
        return Err(located(SpecError {
            issues: vec![SpecIssue { row: None, field: None, message: "there are no specs".to_owned() }],
            total: 1,
        }));
    }
    Ok(ValidSpecs { batches, rows })
}

fn check_file_refs(batch: &RecordBatch, input: &DataSchema, first_row: u64) -> Result<(), SpecError> {
    let mut issues = Vec::new();
    let mut total = 0;
    for column in input.columns_of(ColumnKind::FileRef) {
        let Some(values) = batch.column_by_name(&column.name) else { continue };
        for (row, value) in values.as_string::<i32>().iter().enumerate() {
            let Some(value) = value else { continue };
            if let Err(error) = FileRef::new(value).kind() {
                total += 1;
                if issues.len() < 10 {
                    issues.push(SpecIssue {
                        row: Some(first_row + row as u64),
                        field: Some(column.name.clone()),
                        message: error.to_string(),
                    });
                }
            }
        }
    }
    if total == 0 { Ok(()) } else { Err(SpecError { issues, total }) }
}

fn read_file(path: &Path, input: &DataSchema) -> Result<Vec<RecordBatch>, Error> {
    let fail = |reason: String| Error::SpecsFile { path: path.display().to_string(), reason };
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
    let file = File::open(path).map_err(|error| fail(error.to_string()))?;
    match extension.as_str() {
        "pq" | "parquet" => {
            let reader = ParquetRecordBatchReaderBuilder::try_new(file)
                .and_then(|builder| builder.with_batch_size(READ_BATCH_ROWS).build())
                .map_err(|error| fail(error.to_string()))?;
            reader.collect::<Result<Vec<_>, _>>().map_err(|error| fail(error.to_string()))
        }
        "csv" => {
            let header = BufReader::new(&file)
                .lines()
                .next()
                .transpose()
                .map_err(|error| fail(error.to_string()))?
                .unwrap_or_default();
            let fields: Vec<Field> =
                header.split(',').map(|name| Field::new(name.trim().trim_matches('"'), DataType::Utf8, true)).collect();
            let file = File::open(path).map_err(|error| fail(error.to_string()))?;
            let reader = arrow::csv::ReaderBuilder::new(Arc::new(Schema::new(fields)))
                .with_header(true)
                .with_null_regex(regex_empty())
                .with_batch_size(READ_BATCH_ROWS)
                .build(file)
                .map_err(|error| fail(error.to_string()))?;
            reader.collect::<Result<Vec<_>, _>>().map_err(|error| fail(error.to_string()))
        }
        "jsonl" | "ndjson" | "json" => read_json_lines(path, input),
        other => Err(fail(format!("unknown specs format `.{other}`; use .pq/.parquet, .csv or .jsonl"))),
    }
}

fn regex_empty() -> regex::Regex {
    regex::Regex::new("^$").unwrap_or_else(|_| unreachable!("a constant, valid regex"))
}

/// JSON Lines, read line by line so a bad line is reported with its number.
fn read_json_lines(path: &Path, input: &DataSchema) -> Result<Vec<RecordBatch>, Error> {
    let fail = |reason: String| Error::SpecsFile { path: path.display().to_string(), reason };
    let schema = json_reading_schema(input);
    let text = std::fs::read_to_string(path).map_err(|error| fail(error.to_string()))?;
    let mut decoder = arrow::json::ReaderBuilder::new(Arc::clone(&schema))
        .with_batch_size(READ_BATCH_ROWS)
        .with_strict_mode(true)
        .build_decoder()
        .map_err(|error| fail(error.to_string()))?;
    let mut batches = Vec::new();
    let mut row = 0u64;
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        decoder
            .decode(format!("{line}\n").as_bytes())
            .map_err(|error| fail(format!("line {} (row {row}): {error}", number + 1)))?;
        // Flush eagerly so a type error is attributed to the line that caused it.
        if let Some(batch) =
            decoder.flush().map_err(|error| fail(format!("line {} (row {row}): {error}", number + 1)))?
        {
            batches.push(batch);
        }
        row += 1;
    }
    coalesce(&schema, batches, path)
}

fn coalesce(schema: &SchemaRef, batches: Vec<RecordBatch>, path: &Path) -> Result<Vec<RecordBatch>, Error> {
    batches
        .chunks(READ_BATCH_ROWS)
        .map(|chunk| arrow::compute::concat_batches(schema, chunk))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| Error::SpecsFile { path: path.display().to_string(), reason: error.to_string() })
}

/// The input schema with enum (dictionary) columns read as plain strings.
fn json_reading_schema(input: &DataSchema) -> SchemaRef {
    let fields: Vec<Field> = input
        .fields()
        .iter()
        .map(|field| match field.data_type() {
            DataType::Dictionary(_, values) => Field::new(field.name(), values.as_ref().clone(), field.is_nullable()),
            _ => field.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// The local file a spec's `FileRef` value names, resolved against the working directory.
pub(crate) fn local_file(value: &str) -> Option<PathBuf> {
    match FileRef::new(value).kind() {
        Ok(FileRefKind::Local(path)) => Some(path.to_path_buf()),
        _ => None,
    }
}
