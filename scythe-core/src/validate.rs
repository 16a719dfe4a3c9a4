//! Spec validation: conform a specs table to the input schema, check the JSON Schema
//! constraints column by column, and decode rows into the input type.
//!
//! Every problem names the spec's row (0-based, which is also its `sort_index`) and field.

use std::fmt;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, new_null_array};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, Float64Type};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::schema::{ColumnKind, DataSchema, EXPERIMENT_ID, SORT_INDEX, to_schema};

/// Most problems listed in one error; the rest are counted.
const MAX_LISTED: usize = 10;

/// One problem with one spec.
#[derive(Debug, Clone, PartialEq)]
pub struct SpecIssue {
    /// The spec's row (its sort index), when the problem is in one row.
    pub row: Option<u64>,
    /// The field, when the problem is in one field.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for SpecIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.row, &self.field) {
            (Some(row), Some(field)) => write!(f, "row {row}, field `{field}`: {}", self.message),
            (Some(row), None) => write!(f, "row {row}: {}", self.message),
            (None, Some(field)) => write!(f, "field `{field}`: {}", self.message),
            (None, None) => f.write_str(&self.message),
        }
    }
}

/// Specs that do not match the experiment's input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct SpecError {
    /// The first problems found.
    pub issues: Vec<SpecIssue>,
    /// How many problems there are in all.
    pub total: usize,
}

impl SpecError {
    fn single(row: Option<u64>, field: Option<&str>, message: impl Into<String>) -> Self {
        Self { issues: vec![SpecIssue { row, field: field.map(str::to_owned), message: message.into() }], total: 1 }
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.issues.as_slice() {
            [only] if self.total == 1 => write!(f, "invalid spec: {only}"),
            issues => {
                write!(f, "{} invalid specs:", self.total)?;
                for issue in issues {
                    write!(f, "\n  - {issue}")?;
                }
                if self.total > issues.len() {
                    write!(f, "\n  - … and {} more", self.total - issues.len())?;
                }
                Ok(())
            }
        }
    }
}

struct Issues {
    listed: Vec<SpecIssue>,
    total: usize,
}

impl Issues {
    fn new() -> Self {
        Self { listed: Vec::new(), total: 0 }
    }

    fn push(&mut self, row: u64, field: &str, message: String) {
        self.total += 1;
        if self.listed.len() < MAX_LISTED {
            self.listed.push(SpecIssue { row: Some(row), field: Some(field.to_owned()), message });
        }
    }

    fn finish(self) -> Result<(), SpecError> {
        match self.total {
            0 => Ok(()),
            total => Err(SpecError { issues: self.listed, total }),
        }
    }
}

/// Refuses a specs table with two columns of one name (`id,x,x`): which one is meant is unknown.
pub fn check_unique_columns(batch: &RecordBatch) -> Result<(), SpecError> {
    let mut seen = std::collections::HashSet::new();
    match batch.schema_ref().fields().iter().map(|field| field.name().as_str()).find(|name| !seen.insert(*name)) {
        None => Ok(()),
        Some(name) => Err(SpecError::single(
            None,
            Some(name),
            "appears as two columns of the specs; keep one (which one was meant is unknown)",
        )),
    }
}

/// Reorders, fills and casts a specs table to exactly the input's Arrow schema.
///
/// `first_row` is the row number of the batch's first row. Columns `experiment_id` and
/// `sort_index` (from a previous run's `specs.pq`) are ignored; other unknown columns are errors.
pub fn conform(batch: &RecordBatch, input: &DataSchema, first_row: u64) -> Result<RecordBatch, SpecError> {
    check_unique_columns(batch)?;
    let known = |name: &str| input.fields().iter().any(|field| field.name() == name);
    let unknown: Vec<&str> = batch
        .schema_ref()
        .fields()
        .iter()
        .map(|field| field.name().as_str())
        .filter(|name| {
            !known(name) && *name != EXPERIMENT_ID && *name != SORT_INDEX && !name.starts_with("__index_level_")
        })
        .collect();
    if let Some(name) = unknown.first() {
        let expected = input.fields().iter().map(|f| format!("`{}`", f.name())).collect::<Vec<_>>().join(", ");
        return Err(SpecError::single(
            None,
            Some(name),
            format!("is not a field of `{}`; its fields are {expected}", input.type_name()),
        ));
    }
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(input.fields().len());
    let mut issues = Issues::new();
    for field in input.fields() {
        let Some(source) = batch.column_by_name(field.name()) else {
            if field.is_nullable() {
                columns.push(new_null_array(field.data_type(), batch.num_rows()));
                continue;
            }
            return Err(SpecError::single(
                None,
                Some(field.name()),
                format!("is required by `{}` but the specs have no such column", input.type_name()),
            ));
        };
        let column = cast_column(source, field.data_type(), field.name(), first_row)?;
        if !field.is_nullable() && column.null_count() > 0 {
            for row in (0..column.len()).filter(|&row| column.is_null(row)) {
                issues.push(first_row + row as u64, field.name(), "is empty, but the field is not optional".to_owned());
            }
        }
        columns.push(column);
    }
    issues.finish()?;
    RecordBatch::try_new(to_schema(input.fields()), columns)
        .map_err(|error| SpecError::single(None, None, error.to_string()))
}

fn cast_column(source: &ArrayRef, target: &DataType, field: &str, first_row: u64) -> Result<ArrayRef, SpecError> {
    if source.data_type() == target {
        return Ok(source.clone());
    }
    let strict = CastOptions { safe: false, ..Default::default() };
    match cast_with_options(source, target, &strict) {
        Ok(column) => Ok(column),
        Err(error) => {
            // Find the offending rows: a lenient cast turns them into nulls.
            let lenient = cast_with_options(source, target, &CastOptions { safe: true, ..Default::default() });
            let mut issues = Issues::new();
            if let Ok(lenient) = lenient {
                let formatter =
                    arrow::util::display::ArrayFormatter::try_new(source.as_ref(), &Default::default()).ok();
                for row in (0..source.len()).filter(|&row| source.is_valid(row) && lenient.is_null(row)) {
                    let value = formatter.as_ref().map(|f| f.value(row).to_string()).unwrap_or_default();
                    issues.push(
                        first_row + row as u64,
                        field,
                        format!("`{value}` cannot be read as {}", describe(target)),
                    );
                }
            }
            match issues.finish() {
                Err(located) => Err(located),
                Ok(()) => Err(SpecError::single(
                    None,
                    Some(field),
                    format!("column of type {} cannot be read as {}: {error}", source.data_type(), describe(target)),
                )),
            }
        }
    }
}

fn describe(data_type: &DataType) -> String {
    match data_type {
        DataType::Dictionary(_, values) => format!("one of the enum's variants ({values})"),
        other => other.to_string(),
    }
}

/// Checks the JSON Schema constraints of the input on a conformed batch: those of scalar fields
/// (`minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum`, `enum`, `minLength`,
/// `maxLength`) column by column, and every other one (`pattern`, `multipleOf`, string formats,
/// array lengths, constraints of nested fields) row by row, only on the columns that have one.
pub fn check_constraints(batch: &RecordBatch, input: &DataSchema, first_row: u64) -> Result<(), SpecError> {
    let mut issues = Issues::new();
    for column in input.columns().iter().filter(|c| matches!(c.kind, ColumnKind::Scalar | ColumnKind::FileRef)) {
        let (Some(schema), Some(values)) = (input.property_schema(&column.name), batch.column_by_name(&column.name))
        else {
            continue;
        };
        check_numbers(values, schema, &column.name, first_row, &mut issues);
        check_strings(values, schema, &column.name, first_row, &mut issues);
    }
    input.row_constraints().check(batch, first_row, |row, field, message| issues.push(row, &field, message));
    issues.finish()
}

fn check_numbers(values: &ArrayRef, schema: &Value, field: &str, first_row: u64, issues: &mut Issues) {
    let bound = |key: &str| schema.get(key).and_then(Value::as_f64);
    let (min, max, xmin, xmax) =
        (bound("minimum"), bound("maximum"), bound("exclusiveMinimum"), bound("exclusiveMaximum"));
    if (min, max, xmin, xmax) == (None, None, None, None) || !values.data_type().is_numeric() {
        return;
    }
    let Ok(numbers) = arrow::compute::cast(values, &DataType::Float64) else { return };
    let numbers = numbers.as_primitive::<Float64Type>();
    for (row, value) in numbers.iter().enumerate() {
        let Some(value) = value else { continue };
        let problem = match () {
            _ if value.is_nan() => Some("is NaN".to_owned()),
            _ if min.is_some_and(|m| value < m) => {
                Some(format!("{value} is below the minimum {}", min.unwrap_or_default()))
            }
            _ if max.is_some_and(|m| value > m) => {
                Some(format!("{value} is above the maximum {}", max.unwrap_or_default()))
            }
            _ if xmin.is_some_and(|m| value <= m) => {
                Some(format!("{value} must be greater than {}", xmin.unwrap_or_default()))
            }
            _ if xmax.is_some_and(|m| value >= m) => {
                Some(format!("{value} must be less than {}", xmax.unwrap_or_default()))
            }
            _ => None,
        };
        if let Some(message) = problem {
            issues.push(first_row + row as u64, field, message);
        }
    }
}

fn check_strings(values: &ArrayRef, schema: &Value, field: &str, first_row: u64, issues: &mut Issues) {
    let allowed: Option<Vec<&str>> =
        schema.get("enum").and_then(Value::as_array).map(|v| v.iter().filter_map(Value::as_str).collect());
    let min_len = schema.get("minLength").and_then(Value::as_u64);
    let max_len = schema.get("maxLength").and_then(Value::as_u64);
    if allowed.is_none() && min_len.is_none() && max_len.is_none() {
        return;
    }
    let Ok(strings) = arrow::compute::cast(values, &DataType::Utf8) else { return };
    for (row, value) in strings.as_string::<i32>().iter().enumerate() {
        let Some(value) = value else { continue };
        let length = value.chars().count() as u64;
        let problem = if let Some(allowed) = allowed.as_ref().filter(|allowed| !allowed.contains(&value)) {
            Some(format!(
                "`{value}` is not one of {}",
                allowed.iter().map(|a| format!("`{a}`")).collect::<Vec<_>>().join(", ")
            ))
        } else if min_len.is_some_and(|m| length < m) {
            Some(format!("`{value}` is shorter than {} characters", min_len.unwrap_or_default()))
        } else if max_len.is_some_and(|m| length > m) {
            Some(format!("`{value}` is longer than {} characters", max_len.unwrap_or_default()))
        } else {
            None
        };
        if let Some(message) = problem {
            issues.push(first_row + row as u64, field, message);
        }
    }
}

/// Decodes a conformed batch into input values, naming the first row that does not decode.
pub fn decode<T: DeserializeOwned>(batch: &RecordBatch, first_row: u64) -> Result<Vec<T>, SpecError> {
    match serde_arrow::from_record_batch::<Vec<T>>(batch) {
        Ok(values) => Ok(values),
        Err(error) => Err(locate_decode_error::<T>(batch, first_row)
            .unwrap_or_else(|| SpecError::single(None, None, error.to_string()))),
    }
}

fn locate_decode_error<T: DeserializeOwned>(batch: &RecordBatch, first_row: u64) -> Option<SpecError> {
    let deserializer = serde_arrow::Deserializer::from_record_batch(batch).ok()?;
    deserializer.iter().enumerate().find_map(|(row, item)| {
        T::deserialize(item).err().map(|error| {
            let message = error.to_string();
            let field = field_from_serde_arrow_path(&message);
            SpecError::single(Some(first_row + row as u64), field.as_deref(), message)
        })
    })
}

fn field_from_serde_arrow_path(message: &str) -> Option<String> {
    let path = message.split("field: \"$.").nth(1).or_else(|| message.split("$.").nth(1))?;
    let name: String = path.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
    (!name.is_empty()).then_some(name)
}

/// A conformed empty batch of the input's schema.
pub fn empty(input: &DataSchema) -> RecordBatch {
    RecordBatch::new_empty(to_schema(input.fields()))
}

/// Replaces column `name` of `batch` (used to rewrite file references).
pub fn replace_column(
    batch: &RecordBatch,
    name: &str,
    column: ArrayRef,
) -> Result<RecordBatch, arrow::error::ArrowError> {
    let schema = batch.schema();
    let index = schema.index_of(name)?;
    let mut columns = batch.columns().to_vec();
    columns[index] = column;
    RecordBatch::try_new(Arc::clone(&schema), columns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Float64Array, Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};
    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
    #[serde(rename_all = "snake_case")]
    enum Mode {
        Fast,
        Slow,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
    struct Input {
        #[schemars(range(min = 0.0, max = 15.0))]
        r_value: f64,
        mode: Mode,
        note: Option<String>,
    }

    fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
        let fields: Vec<Field> =
            columns.iter().map(|(name, array)| Field::new(*name, array.data_type().clone(), true)).collect();
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns.into_iter().map(|(_, a)| a).collect()).unwrap()
    }

    fn input() -> DataSchema {
        DataSchema::of::<Input>().unwrap()
    }

    #[test]
    fn conforms_casts_fills_and_decodes() {
        let raw = batch(vec![
            ("mode", Arc::new(StringArray::from(vec!["fast", "slow"]))),
            ("r_value", Arc::new(Int64Array::from(vec![3, 12]))),
            ("sort_index", Arc::new(Int64Array::from(vec![0, 1]))),
        ]);
        let conformed = conform(&raw, &input(), 0).unwrap();
        check_constraints(&conformed, &input(), 0).unwrap();
        let decoded: Vec<Input> = decode(&conformed, 0).unwrap();
        assert_eq!(decoded[1], Input { r_value: 12.0, mode: Mode::Slow, note: None });
    }

    #[test]
    fn names_row_and_field_of_unreadable_values() {
        let raw = batch(vec![
            ("r_value", Arc::new(StringArray::from(vec!["1.5", "warm", "2"]))),
            ("mode", Arc::new(StringArray::from(vec!["fast", "fast", "fast"]))),
        ]);
        let error = conform(&raw, &input(), 100).unwrap_err();
        assert_eq!(error.issues[0].row, Some(101));
        assert_eq!(error.issues[0].field.as_deref(), Some("r_value"));
        assert!(error.to_string().contains("`warm` cannot be read as Float64"), "{error}");
    }

    #[test]
    fn reports_constraint_violations_with_rows() {
        let raw = batch(vec![
            ("r_value", Arc::new(Float64Array::from(vec![1.0, 16.0, -1.0]))),
            ("mode", Arc::new(StringArray::from(vec!["fast", "medium", "slow"]))),
        ]);
        let conformed = conform(&raw, &input(), 0).unwrap();
        let error = check_constraints(&conformed, &input(), 0).unwrap_err();
        assert_eq!(error.total, 3, "{error}");
        let text = error.to_string();
        assert!(text.contains("row 1, field `r_value`: 16 is above the maximum 15"), "{text}");
        assert!(text.contains("row 2, field `r_value`: -1 is below the minimum 0"), "{text}");
        assert!(text.contains("row 1, field `mode`: `medium` is not one of `fast`, `slow`"), "{text}");
    }

    #[test]
    fn rejects_missing_required_and_unknown_columns() {
        let missing = batch(vec![("mode", Arc::new(StringArray::from(vec!["fast"])))]);
        let error = conform(&missing, &input(), 0).unwrap_err();
        assert!(error.to_string().contains("field `r_value`: is required"), "{error}");
        let unknown = batch(vec![
            ("r_value", Arc::new(Float64Array::from(vec![1.0]))),
            ("mode", Arc::new(StringArray::from(vec!["fast"]))),
            ("r_valeu", Arc::new(Float64Array::from(vec![1.0]))),
        ]);
        let error = conform(&unknown, &input(), 0).unwrap_err();
        assert!(error.to_string().contains("field `r_valeu`: is not a field of `Input`"), "{error}");
    }

    #[test]
    fn rejects_duplicate_columns_naming_them() {
        let raw = batch(vec![
            ("r_value", Arc::new(Float64Array::from(vec![1.0]))),
            ("mode", Arc::new(StringArray::from(vec!["fast"]))),
            ("r_value", Arc::new(Float64Array::from(vec![2.0]))),
        ]);
        let error = conform(&raw, &input(), 0).unwrap_err();
        assert_eq!(error.issues[0].field.as_deref(), Some("r_value"), "{error}");
        assert!(error.to_string().contains("field `r_value`: appears as two columns"), "{error}");
    }

    #[test]
    fn reports_empty_required_values() {
        let raw = batch(vec![
            ("r_value", Arc::new(Float64Array::from(vec![Some(1.0), None]))),
            ("mode", Arc::new(StringArray::from(vec!["fast", "slow"]))),
        ]);
        let error = conform(&raw, &input(), 0).unwrap_err();
        assert_eq!(error.issues[0].row, Some(1));
        assert!(error.to_string().contains("is empty"), "{error}");
    }
}
