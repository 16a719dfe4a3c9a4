//! The JSON Schema constraints the columnar checks of `validate::check_constraints` do not cover —
//! `pattern`, `multipleOf`, string `format`s, array lengths and uniqueness, and every constraint
//! inside nested objects and arrays — checked per row with the `jsonschema` crate.
//!
//! Only the columns whose schema has such a constraint are checked, each against its own
//! property schema, so an input with plain bounds (the common case) costs nothing here.
//!

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema};
use serde_json::{Map, Value};

use crate::json_schema::{non_null_variant, resolve};

/// Validation keywords of JSON Schema 2020-12 that constrain a value.
const CONSTRAINTS: [&str; 19] = [
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "enum",
    "const",
    "minItems",
    "maxItems",
    "uniqueItems",
    "contains",
    "minProperties",
    "maxProperties",
    "patternProperties",
    "dependentRequired",
];

/// What the columnar checks enforce on a top-level scalar column.
const COLUMNAR: [&str; 7] =
    ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "enum", "minLength", "maxLength"];

/// `format`s that only annotate a type (schemars writes them for numbers and dates); the Arrow
/// conversion already guarantees them.
const ANNOTATIONS: [&str; 16] = [
    "double",
    "float",
    "int",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "date-time",
    "date",
    "time",
    "partial-date-time",
];

/// The compiled checks of an input's columns that need one.
#[derive(Clone, Default)]
pub(crate) struct RowConstraints {
    columns: Vec<ColumnCheck>,
    /// The input type's JSON Schema, for the `$ref`s of the columns' schemas.
    root: Arc<Value>,
}

#[derive(Clone)]
struct ColumnCheck {
    name: String,
    /// The column's own schema: it says where the Arrow columns hold a tuple as a struct.
    schema: Value,
    validator: Arc<jsonschema::Validator>,
}

impl std::fmt::Debug for RowConstraints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.columns.iter().map(|c| &c.name)).finish()
    }
}

impl RowConstraints {
    /// The checks of the `columns` (name, and whether the columnar checks see it as a scalar) of
    /// the type whose JSON Schema is `root`; `Err` names the field whose schema `jsonschema`
    /// cannot compile.
    pub(crate) fn new(root: &Value, columns: &[(&str, bool)]) -> Result<Self, (String, String)> {
        let properties = root.get("properties").and_then(Value::as_object);
        let mut checks = Vec::new();
        for &(name, scalar) in columns {
            let Some(property) = properties.and_then(|p| p.get(name)) else { continue };
            let top = resolve(root, non_null_variant(property));
            let mut seen = Vec::new();
            if !needs_rows(root, top, scalar, &mut seen) {
                continue;
            }
            let mut schema = strip_annotations(property.clone());
            if let (Value::Object(schema), Some(defs)) = (&mut schema, root.get("$defs")) {
                schema.insert("$defs".to_owned(), strip_annotations(defs.clone()));
            }
            let validator = jsonschema::options()
                .with_draft(jsonschema::Draft::Draft202012)
                .should_validate_formats(true)
                .build(&schema)
                .map_err(|error| (name.to_owned(), error.to_string()))?;
            checks.push(ColumnCheck {
                name: name.to_owned(),
                schema: property.clone(),
                validator: Arc::new(validator),
            });
        }
        Ok(Self { columns: checks, root: Arc::new(root.clone()) })
    }

    /// Calls `issue(row, field, message)` for each value of `batch` (whose first row is
    /// `first_row`) that breaks its column's schema; `field` is the column, or the path inside it.
    pub(crate) fn check(&self, batch: &RecordBatch, first_row: u64, mut issue: impl FnMut(u64, String, String)) {
        for check in &self.columns {
            let Some(values) = batch.column_by_name(&check.name) else { continue };
            let rows = match column_rows(&check.name, values) {
                Ok(rows) => rows,
                Err(message) => {
                    issue(first_row, check.name.clone(), message);
                    continue;
                }
            };
            for (row, mut value) in rows.into_iter().enumerate() {
                tuples_as_arrays(&mut value, &check.schema, &self.root);
                if let Some(error) = check.validator.iter_errors(&value).next() {
                    let path = error.instance_path().to_string();
                    let field = if path.is_empty() {
                        check.name.clone()
                    } else {
                        format!("{}{}", check.name, path.replace('/', "."))
                    };
                    issue(first_row + row as u64, field, error.to_string());
                }
            }
        }
    }
}

/// Whether `schema` has a constraint the columnar checks miss: any constraint below the top
/// level, and at the top level one they do not cover (or any, for a column that is not a scalar).
fn needs_rows<'a>(root: &'a Value, schema: &'a Value, scalar: bool, seen: &mut Vec<&'a str>) -> bool {
    let Value::Object(object) = schema else { return false };
    for (key, value) in object {
        if CONSTRAINTS.contains(&key.as_str()) {
            let covered = scalar && COLUMNAR.contains(&key.as_str());
            let annotation = key == "format" && value.as_str().is_some_and(|f| ANNOTATIONS.contains(&f));
            if !covered && !annotation {
                return true;
            }
        }
    }
    let nested = |value: &'a Value, seen: &mut Vec<&'a str>| -> bool {
        if let Some(reference) = value.get("$ref").and_then(Value::as_str) {
            if seen.contains(&reference) {
                return false;
            }
            seen.push(reference);
        }
        needs_rows(root, resolve(root, value), false, seen)
    };
    for key in ["properties", "$defs", "patternProperties"] {
        if let Some(Value::Object(children)) = object.get(key)
            && children.values().any(|child| nested(child, seen))
        {
            return true;
        }
    }
    for key in ["items", "additionalProperties", "contains", "not"] {
        if object.get(key).is_some_and(|child| child.is_object() && nested(child, seen)) {
            return true;
        }
    }
    for key in ["anyOf", "oneOf", "allOf", "prefixItems"] {
        if let Some(Value::Array(children)) = object.get(key)
            && children.iter().any(|child| nested(child, seen))
        {
            return true;
        }
    }
    if let Some(reference) = object.get("$ref").and_then(Value::as_str)
        && !seen.contains(&reference)
    {
        seen.push(reference);
        return needs_rows(root, resolve(root, schema), scalar, seen);
    }
    false
}

/// `schema` without the annotation-only `format`s (so the validator does not reject, say, an
/// Arrow timestamp written without an offset).
fn strip_annotations(schema: Value) -> Value {
    match schema {
        Value::Object(object) => Value::Object(
            object
                .into_iter()
                .filter(|(key, value)| {
                    !(key == "format" && value.as_str().is_some_and(|format| ANNOTATIONS.contains(&format)))
                })
                .map(|(key, value)| (key, strip_annotations(value)))
                .collect::<Map<String, Value>>(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(strip_annotations).collect()),
        other => other,
    }
}

/// Rewrites, in `value` (a row of a column whose schema is `schema`), each tuple that Arrow holds
/// as a struct of fields `"0"`, `"1"`, … into the JSON array its schema describes.
fn tuples_as_arrays(value: &mut Value, schema: &Value, root: &Value) {
    let schema = resolve(root, non_null_variant(schema));
    let is_array = schema.get("prefixItems").is_some() || schema.get("type").and_then(Value::as_str) == Some("array");
    if is_array && let Value::Object(fields) = value {
        let mut items: Vec<(usize, Value)> = Vec::with_capacity(fields.len());
        for (key, item) in std::mem::take(fields) {
            match key.parse::<usize>() {
                Ok(position) => items.push((position, item)),
                // Not a tuple after all: leave the object for the validator to report.
                Err(_) => {
                    fields.insert(key, item);
                }
            }
        }
        if fields.is_empty() {
            items.sort_by_key(|(position, _)| *position);
            *value = Value::Array(items.into_iter().map(|(_, item)| item).collect());
        } else {
            fields.extend(items.into_iter().map(|(position, item)| (position.to_string(), item)));
        }
    }
    match value {
        Value::Array(items) => {
            let prefix = schema.get("prefixItems").and_then(Value::as_array);
            for (position, item) in items.iter_mut().enumerate() {
                let item_schema = prefix.and_then(|p| p.get(position)).or_else(|| schema.get("items"));
                if let Some(item_schema) = item_schema {
                    tuples_as_arrays(item, item_schema, root);
                }
            }
        }
        Value::Object(fields) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            for (key, field) in fields.iter_mut() {
                let field_schema = properties.and_then(|p| p.get(key)).or_else(|| schema.get("additionalProperties"));
                if let Some(field_schema) = field_schema {
                    tuples_as_arrays(field, field_schema, root);
                }
            }
        }
        _ => {}
    }
}

/// The column's values as JSON, one per row (`null` for a missing value).
fn column_rows(name: &str, values: &arrow::array::ArrayRef) -> Result<Vec<Value>, String> {
    let data_type = match values.data_type() {
        // Enums are dictionaries; JSON wants their strings.
        DataType::Dictionary(_, value_type) => value_type.as_ref().clone(),
        other => other.clone(),
    };
    let values = arrow::compute::cast(values, &data_type).map_err(|error| error.to_string())?;
    let schema = Arc::new(Schema::new(vec![Field::new(name, data_type, true)]));
    let batch = RecordBatch::try_new(schema, vec![values]).map_err(|error| error.to_string())?;
    // Explicit nulls: a tuple `(None, 5)` must stay `{"0": null, "1": 5}`, two items, not one.
    let mut writer = arrow::json::WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, arrow::json::writer::JsonArray>(Vec::new());
    writer.write(&batch).map_err(|error| error.to_string())?;
    writer.finish().map_err(|error| error.to_string())?;
    let rows: Vec<Map<String, Value>> =
        serde_json::from_slice(&writer.into_inner()).map_err(|error| error.to_string())?;
    Ok(rows.into_iter().map(|mut row| row.remove(name).unwrap_or(Value::Null)).collect())
}

#[cfg(test)]
mod tests {
    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};

    use crate::schema::DataSchema;
    use crate::validate::{SpecError, check_constraints};

    #[derive(Serialize, Deserialize, JsonSchema)]
    struct Wall {
        #[schemars(range(min = 0.5, max = 10.0))]
        r_value: f64,
        #[schemars(regex(pattern = r"^[a-z]+$"))]
        material: String,
    }

    #[derive(Serialize, Deserialize, JsonSchema)]
    #[serde(rename_all = "snake_case")]
    enum Roof {
        Flat,
        Pitched,
    }

    #[derive(Serialize, Deserialize, JsonSchema)]
    struct Building {
        #[schemars(range(min = 0.0))]
        area: f64,
        #[schemars(regex(pattern = r"^[A-Z]{2}-[0-9]+$"))]
        code: String,
        #[schemars(extend("multipleOf" = 0.5))]
        step: f64,
        #[schemars(email)]
        owner: String,
        wall: Wall,
        #[schemars(length(min = 1, max = 3))]
        floors: Vec<u32>,
        roof: Roof,
        renovated: Option<u32>,
    }

    fn building(code: &str, step: f64, owner: &str, r_value: f64, material: &str, floors: Vec<u32>) -> Building {
        Building {
            area: 10.0,
            code: code.to_owned(),
            step,
            owner: owner.to_owned(),
            wall: Wall { r_value, material: material.to_owned() },
            floors,
            roof: Roof::Flat,
            renovated: Some(1990),
        }
    }

    fn check(rows: &[Building]) -> Result<(), SpecError> {
        let schema = DataSchema::of::<Building>().expect("schema");
        let batch = serde_arrow::to_record_batch(schema.fields(), &rows).expect("batch");
        check_constraints(&batch, &schema, 100)
    }

    #[test]
    fn valid_rows_pass() {
        check(&[
            building("AB-1", 1.5, "a@b.org", 2.0, "brick", vec![1, 2]),
            building("CD-22", 0.0, "c@d.io", 9.5, "wood", vec![3]),
        ])
        .expect("valid specs");
    }

    #[test]
    fn each_constraint_names_its_row_and_field() {
        let rows = [
            building("AB-1", 1.5, "a@b.org", 2.0, "brick", vec![1]),
            building("ab-1", 1.5, "a@b.org", 2.0, "brick", vec![1]),
            building("AB-1", 1.25, "a@b.org", 2.0, "brick", vec![1]),
            building("AB-1", 1.5, "not an email", 2.0, "brick", vec![1]),
            building("AB-1", 1.5, "a@b.org", 20.0, "brick", vec![1]),
            building("AB-1", 1.5, "a@b.org", 2.0, "Brick!", vec![1]),
            building("AB-1", 1.5, "a@b.org", 2.0, "brick", vec![]),
            building("AB-1", 1.5, "a@b.org", 2.0, "brick", vec![1, 2, 3, 4]),
        ];
        let error = check(&rows).expect_err("invalid specs");
        let found: Vec<(Option<u64>, Option<&str>)> =
            error.issues.iter().map(|issue| (issue.row, issue.field.as_deref())).collect();
        assert_eq!(
            found,
            vec![
                (Some(101), Some("code")),
                (Some(102), Some("step")),
                (Some(103), Some("owner")),
                (Some(104), Some("wall.r_value")),
                (Some(105), Some("wall.material")),
                (Some(106), Some("floors")),
                (Some(107), Some("floors")),
            ],
            "{error}"
        );
        assert!(error.issues[0].message.contains("does not match"), "{}", error.issues[0].message);
    }

    #[test]
    fn tuples_held_as_structs_are_checked_as_arrays() {
        #[derive(Serialize, Deserialize, JsonSchema)]
        struct Span {
            ends: (f64, f64),
        }
        #[derive(Serialize, Deserialize, JsonSchema)]
        struct Points {
            pair: (f64, f64),
            maybe: (Option<u32>, u32),
            span: Span,
            #[schemars(length(min = 1))]
            steps: Vec<(u32, String)>,
        }
        let schema = DataSchema::of::<Points>().expect("schema");
        assert!(!schema.row_constraints().columns.is_empty(), "tuples have lengths to check");
        let rows = [
            Points {
                pair: (1.0, 2.0),
                maybe: (None, 5),
                span: Span { ends: (0.0, 1.0) },
                steps: vec![(1, "a".to_owned())],
            },
            Points { pair: (3.0, 4.0), maybe: (Some(1), 2), span: Span { ends: (2.0, 3.0) }, steps: vec![] },
        ];
        let batch = serde_arrow::to_record_batch(schema.fields(), &rows).expect("batch");
        let error = check_constraints(&batch, &schema, 0).expect_err("an empty list of steps");
        let found: Vec<(Option<u64>, Option<&str>)> =
            error.issues.iter().map(|issue| (issue.row, issue.field.as_deref())).collect();
        assert_eq!(found, vec![(Some(1), Some("steps"))], "{error}");
    }

    #[test]
    fn plain_bounds_need_no_row_checks() {
        #[derive(Serialize, Deserialize, JsonSchema)]
        struct Plain {
            #[schemars(range(min = 0.0, max = 1.0))]
            x: f64,
            #[schemars(length(max = 8))]
            label: String,
            count: u32,
            roof: Roof,
            maybe: Option<i64>,
        }
        let schema = DataSchema::of::<Plain>().expect("schema");
        assert!(schema.row_constraints().columns.is_empty(), "{:?}", schema.row_constraints());
    }
}
