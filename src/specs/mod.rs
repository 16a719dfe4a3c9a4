//! Specs: where they come from (a Parquet, CSV or JSON Lines file, or Rust values) and how
//! they are checked against the input schema before anything is written.

mod rows;

pub(crate) use rows::SpecRows;

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use scythe_core::ExperimentData;
use scythe_core::design::DesignRecord;
use scythe_core::schema::{ColumnKind, DataSchema, EXPERIMENT_ID, SORT_INDEX};
use scythe_core::validate::{SpecError, SpecIssue, check_constraints, conform};
use scythe_core::{FileRef, FileRefKind};

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use crate::artifacts::ArtifactPlan;
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
    /// Batches built by a design of experiments, with the design recorded in the manifest.
    Designed {
        /// The specs, columns named after the input's fields.
        batches: Vec<RecordBatch>,
        /// How they were drawn.
        record: Box<DesignRecord>,
    },
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
            Specs::Designed { record, .. } => format!("the {} design", record.method),
        }
    }
}

/// Specs checked against the input: conformed batches, in `sort_index` order.
#[derive(Debug, Clone)]
pub(crate) struct ValidSpecs {
    pub(crate) batches: Vec<RecordBatch>,
    pub(crate) rows: u64,
    /// The design the specs were drawn from, if any (for the manifest).
    pub(crate) design: Option<DesignRecord>,
}

/// Decodes a conformed batch into the input type, reporting the first row that does not.
pub(crate) type DecodeCheck<'a> = &'a dyn Fn(&RecordBatch, u64) -> Result<(), SpecError>;

/// Reads and validates every spec; nothing is written. Problems name the row and field.
pub(crate) fn load(specs: &Specs, input: &DataSchema, decode_check: DecodeCheck<'_>) -> Result<ValidSpecs, Error> {
    let raw = match specs {
        Specs::File(path) => read_file(path, input)?,
        Specs::Batches(batches) | Specs::Designed { batches, .. } => batches.clone(),
    };
    let origin = specs.origin();
    let located = |source: SpecError| Error::Specs { origin: origin.clone(), source };
    let mut batches = Vec::with_capacity(raw.len());
    let mut rows = 0u64;
    for batch in raw.iter().filter(|batch| batch.num_rows() > 0) {
        let conformed = check_batch(batch, input, rows, decode_check).map_err(located)?;
        rows += conformed.num_rows() as u64;
        batches.push(conformed);
    }
    if rows == 0 {
        return Err(located(SpecError {
            issues: vec![SpecIssue { row: None, field: None, message: "there are no specs".to_owned() }],
            total: 1,
        }));
    }
    // The same checks allocation makes before it uploads (names, collisions), so a bad input
    // file is refused before a version is claimed.
    ArtifactPlan::check(&batches, input).map_err(located)?;
    let design = match specs {
        Specs::Designed { record, .. } => Some(record.as_ref().clone()),
        _ => None,
    };
    Ok(ValidSpecs { batches, rows, design })
}

/// One batch of specs whose first row is `first_row`, conformed to the input and checked (JSON
/// Schema constraints, file references, decoding into the input type).
pub(crate) fn check_batch(
    batch: &RecordBatch,
    input: &DataSchema,
    first_row: u64,
    decode_check: DecodeCheck<'_>,
) -> Result<RecordBatch, SpecError> {
    let conformed = conform(batch, input, first_row)?;
    check_constraints(&conformed, input, first_row)?;
    check_file_refs(&conformed, input, first_row)?;
    decode_check(&conformed, first_row)?;
    Ok(conformed)
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

/// JSON Lines: one object per line, checked by the same rules as CSV. Metadata keys
/// (`experiment_id`, `sort_index`) are dropped, a key that is not a field is refused with its
/// row, a repeated key is refused, a missing or `null` required field is reported by row and
/// field by [`conform`], and a tuple field may be written as a JSON array `[a, b]`.
fn read_json_lines(path: &Path, input: &DataSchema) -> Result<Vec<RecordBatch>, Error> {
    let fail = |reason: String| Error::SpecsFile { path: path.display().to_string(), reason };
    let refuse = |issue: SpecIssue| Error::Specs {
        origin: format!("`{}`", path.display()),
        source: SpecError { issues: vec![issue], total: 1 },
    };
    let schema = json_reading_schema(input);
    let file = File::open(path).map_err(|error| fail(error.to_string()))?;
    let mut batches = Vec::new();
    let mut pending: Vec<(usize, Value)> = Vec::new();
    let mut row = 0u64;
    for (number, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|error| fail(format!("line {}: {error}", number + 1)))?;
        if line.trim().is_empty() {
            continue;
        }
        let Entries(entries) =
            serde_json::from_str(&line).map_err(|error| fail(format!("line {} (row {row}): {error}", number + 1)))?;
        let mut object = serde_json::Map::with_capacity(entries.len());
        for (key, mut value) in entries {
            if key == EXPERIMENT_ID || key == SORT_INDEX || key.starts_with("__index_level_") {
                continue;
            }
            let Ok(field) = schema.field_with_name(&key) else {
                return Err(refuse(SpecIssue {
                    row: Some(row),
                    field: Some(key),
                    message: format!("is not a field of `{}`; its fields are {}", input.type_name(), field_list(input)),
                }));
            };
            tuples_as_objects(&mut value, field.data_type());
            if object.insert(key.clone(), value).is_some() {
                return Err(refuse(SpecIssue {
                    row: Some(row),
                    field: Some(key),
                    message: "appears twice in the object; keep one".to_owned(),
                }));
            }
        }
        pending.push((number + 1, Value::Object(object)));
        row += 1;
        if pending.len() == READ_BATCH_ROWS {
            batches.push(decode_json(&schema, &pending, row - pending.len() as u64, path)?);
            pending.clear();
        }
    }
    if !pending.is_empty() {
        batches.push(decode_json(&schema, &pending, row - pending.len() as u64, path)?);
    }
    Ok(batches)
}

/// Decodes JSON rows (with their line numbers) into one batch; on failure, finds and names the
/// first line that does not decode.
fn decode_json(schema: &SchemaRef, rows: &[(usize, Value)], first_row: u64, path: &Path) -> Result<RecordBatch, Error> {
    let fail = |reason: String| Error::SpecsFile { path: path.display().to_string(), reason };
    let decode = |rows: &[(usize, Value)]| -> Result<Option<RecordBatch>, arrow::error::ArrowError> {
        let mut decoder = arrow::json::ReaderBuilder::new(Arc::clone(schema))
            .with_batch_size(rows.len().max(1))
            .with_strict_mode(true)
            .build_decoder()?;
        let values: Vec<&Value> = rows.iter().map(|(_, value)| value).collect();
        decoder.serialize(&values)?;
        decoder.flush()
    };
    match decode(rows) {
        Ok(batch) => Ok(batch.unwrap_or_else(|| RecordBatch::new_empty(Arc::clone(schema)))),
        Err(error) => {
            for (offset, row) in rows.iter().enumerate() {
                if let Err(error) = decode(std::slice::from_ref(row)) {
                    return Err(fail(format!("line {} (row {}): {error}", row.0, first_row + offset as u64)));
                }
            }
            Err(fail(error.to_string()))
        }
    }
}

/// Rewrites JSON arrays given for tuple fields (Arrow structs with fields `0`, `1`, …) into the
/// objects `{"0": …, "1": …}` Arrow reads, at any depth.
pub(crate) fn tuples_as_objects(value: &mut Value, data_type: &DataType) {
    match (data_type, value) {
        (DataType::Struct(fields), value @ Value::Array(_)) if is_tuple(fields) => {
            let Value::Array(items) = value else { return };
            if items.len() != fields.len() {
                return;
            }
            let object = std::mem::take(items)
                .into_iter()
                .zip(fields.iter())
                .map(|(mut item, field)| {
                    tuples_as_objects(&mut item, field.data_type());
                    (field.name().clone(), item)
                })
                .collect();
            *value = Value::Object(object);
        }
        (DataType::Struct(fields), Value::Object(object)) => {
            for field in fields {
                if let Some(item) = object.get_mut(field.name()) {
                    tuples_as_objects(item, field.data_type());
                }
            }
        }
        (DataType::List(item) | DataType::LargeList(item) | DataType::FixedSizeList(item, _), Value::Array(items)) => {
            for value in items {
                tuples_as_objects(value, item.data_type());
            }
        }
        _ => {}
    }
}

/// Whether a struct is a tuple's: fields named `0`, `1`, … in order.
fn is_tuple(fields: &Fields) -> bool {
    !fields.is_empty() && fields.iter().enumerate().all(|(index, field)| *field.name() == index.to_string())
}

fn field_list(input: &DataSchema) -> String {
    input.fields().iter().map(|field| format!("`{}`", field.name())).collect::<Vec<_>>().join(", ")
}

/// A JSON object's entries in order, repeated keys kept (serde_json's map keeps only the last).
struct Entries(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor;
        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = Entries;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object (one spec per line)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }
        deserializer.deserialize_map(EntriesVisitor)
    }
}

/// The input schema as read from JSON: enum (dictionary) columns as plain strings at any depth,
/// and every top-level column nullable so a missing required field is reported by [`conform`]
/// with its row.
pub(crate) fn json_reading_schema(input: &DataSchema) -> SchemaRef {
    let fields: Vec<Field> =
        input.fields().iter().map(|field| Field::new(field.name(), plain_strings(field.data_type()), true)).collect();
    Arc::new(Schema::new(fields))
}

/// `data_type` with every dictionary replaced by its value type (Arrow's JSON reader reads no
/// dictionaries; [`conform`] casts them back).
fn plain_strings(data_type: &DataType) -> DataType {
    match data_type {
        DataType::Dictionary(_, values) => values.as_ref().clone(),
        DataType::Struct(fields) => DataType::Struct(
            fields
                .iter()
                .map(|field| Arc::new(field.as_ref().clone().with_data_type(plain_strings(field.data_type()))))
                .collect(),
        ),
        DataType::List(item) => {
            DataType::List(Arc::new(item.as_ref().clone().with_data_type(plain_strings(item.data_type()))))
        }
        other => other.clone(),
    }
}

/// The local file a spec's `FileRef` value names, resolved against the working directory.
pub(crate) fn local_file(value: &str) -> Option<PathBuf> {
    match FileRef::new(value).kind() {
        Ok(FileRefKind::Local(path)) => Some(path.to_path_buf()),
        _ => None,
    }
}
