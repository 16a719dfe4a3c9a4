//! Schemas of an experiment's input and output, derived from their types at run time.
//!
//! The JSON Schema comes from `schemars`; the Arrow schema from tracing the type's `Deserialize`
//! impl with `serde_arrow`. Each top-level field is then classified into a [`ColumnKind`], which
//! decides where it lands in the run folder.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, FieldRef, Fields};
use schemars::generate::SchemaSettings;
use serde_arrow::schema::{SchemaLike, TracingOptions};
use serde_json::{Map, Value, json};

use crate::constraints::RowConstraints;
use crate::experiment::{Experiment, ExperimentData};
use crate::file_ref::FILE_REF_SCHEMA_NAME;
use crate::json_schema::{non_null_variant, resolve};

/// Index columns Scythe adds to every table, before the input's own fields.
pub const EXPERIMENT_ID: &str = "experiment_id";
/// The spec's position in the run; every final table is sorted by it.
pub const SORT_INDEX: &str = "sort_index";
/// A row's position within one spec's rows in a per-field table.
pub const SORT_SUBINDEX: &str = "sort_subindex";
/// Names of the tables Scythe writes itself; output fields cannot use them.
pub const RESERVED_TABLES: [&str; 4] = ["scalars", "result_file_refs", "failures", "summary"];

/// Where a top-level field of an input or output lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// A number, string, bool, date or unit enum: an index level (input) or a `scalars.pq`
    /// column (output).
    Scalar,
    /// A [`FileRef`](crate::FileRef): uploaded, and listed in `result_file_refs.pq` (output).
    FileRef,
    /// A list of row structs (output): its own table `final/<field>.pq`.
    Table,
    /// Anything else (lists of numbers, nested structs): kept in `specs.pq` (input) or as a
    /// nested column of `scalars.pq` (output), never an index level.
    Nested,
}

/// One top-level field of an input or output type.
#[derive(Debug, Clone)]
pub struct Column {
    /// The field's name.
    pub name: String,
    /// Where it lands.
    pub kind: ColumnKind,
    /// Its Arrow field.
    pub field: FieldRef,
}

/// The schemas of an input or output type.
#[derive(Debug, Clone)]
pub struct DataSchema {
    type_name: String,
    json: Value,
    fields: Vec<FieldRef>,
    columns: Vec<Column>,
    rows: RowConstraints,
}

/// A type that cannot be an experiment's input or output.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// `serde_arrow` could not trace an Arrow schema from the type.
    #[error("cannot derive an Arrow schema for `{type_name}`: {source}")]
    Arrow {
        /// The type.
        type_name: String,
        /// Why.
        #[source]
        source: serde_arrow::Error,
    },
    /// The type is not a struct with named fields.
    #[error("`{0}` must be a struct with named fields")]
    NotAStruct(String),
    /// A field cannot be stored in Parquet.
    #[error("field `{field}` of `{type_name}` cannot be stored in Parquet: {reason}")]
    Unsupported {
        /// The type.
        type_name: String,
        /// The field.
        field: String,
        /// Why.
        reason: String,
    },
    /// A field uses a name Scythe reserves.
    #[error("field `{field}` of `{type_name}` uses a name Scythe reserves ({reserved}); rename it")]
    Reserved {
        /// The type.
        type_name: String,
        /// The field.
        field: String,
        /// The reserved names.
        reserved: String,
    },
    /// A field's JSON Schema does not compile for the row checks (a bug: please report it).
    #[error("the JSON Schema of field `{field}` of `{type_name}` cannot be compiled: {reason}")]
    Constraints {
        /// The type.
        type_name: String,
        /// The field.
        field: String,
        /// Why.
        reason: String,
    },
}

fn tracing_options() -> TracingOptions {
    TracingOptions::default()
        .allow_null_fields(true)
        .enums_without_data_as_strings(true)
        .strings_as_large_utf8(false)
        .sequence_as_large_list(false)
        .bytes_as_large_binary(false)
}

impl DataSchema {
    /// Derives the schemas of `T`.
    pub fn of<T: ExperimentData>() -> Result<Self, SchemaError> {
        let type_name = short_type_name(std::any::type_name::<T>());
        let json = SchemaSettings::draft2020_12().into_generator().into_root_schema_for::<T>().to_value();
        let fields = Vec::<FieldRef>::from_type::<T>(tracing_options())
            .map_err(|source| SchemaError::Arrow { type_name: type_name.clone(), source })?;
        let properties = json
            .get("properties")
            .and_then(Value::as_object)
            .ok_or_else(|| SchemaError::NotAStruct(type_name.clone()))?;
        let columns = fields
            .iter()
            .map(|field| {
                let property = properties.get(field.name()).unwrap_or(&Value::Null);
                let kind = classify(field, property, &type_name)?;
                Ok(Column { name: field.name().clone(), kind, field: field.clone() })
            })
            .collect::<Result<Vec<_>, SchemaError>>()?;
        let checked: Vec<(&str, bool)> = columns
            .iter()
            .filter(|column| column.kind != ColumnKind::FileRef)
            .map(|column| (column.name.as_str(), column.kind == ColumnKind::Scalar))
            .collect();
        let rows = RowConstraints::new(&json, &checked).map_err(|(field, reason)| SchemaError::Constraints {
            type_name: type_name.clone(),
            field,
            reason,
        })?;
        Ok(Self { type_name, json, fields, columns, rows })
    }

    /// The type's name, without its module path.
    pub fn type_name(&self) -> &str {
        &self.type_name
    }

    /// The type's JSON Schema (draft 2020-12, with `$defs`).
    pub fn json_schema(&self) -> &Value {
        &self.json
    }

    /// The type's Arrow fields, one per top-level field.
    pub fn fields(&self) -> &[FieldRef] {
        &self.fields
    }

    /// The classified top-level fields.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The fields of one kind.
    pub fn columns_of(&self, kind: ColumnKind) -> impl Iterator<Item = &Column> {
        self.columns.iter().filter(move |column| column.kind == kind)
    }

    /// The resolved JSON Schema of one top-level property (`$ref`s and `Option` unwrapped).
    pub fn property_schema(&self, name: &str) -> Option<&Value> {
        let property = self.json.get("properties")?.get(name)?;
        Some(resolve(&self.json, non_null_variant(property)))
    }

    /// The per-row checks of the constraints the columnar checks do not cover.
    pub(crate) fn row_constraints(&self) -> &RowConstraints {
        &self.rows
    }

    /// Whether the JSON Schema forbids properties it does not list.
    pub fn denies_unknown_fields(&self) -> bool {
        self.json.get("additionalProperties") == Some(&Value::Bool(false))
    }
}

/// The schemas of an experiment's input and output.
#[derive(Debug, Clone)]
pub struct ExperimentSchema {
    name: String,
    description: String,
    input: DataSchema,
    output: DataSchema,
}

impl ExperimentSchema {
    /// Derives and checks the schemas of experiment `E`.
    pub fn of<E: Experiment>() -> Result<Self, SchemaError> {
        let input = DataSchema::of::<E::Input>()?;
        let output = DataSchema::of::<E::Output>()?;
        check_reserved(&input, &[EXPERIMENT_ID, SORT_INDEX])?;
        check_reserved(&output, &RESERVED_TABLES)?;
        for table in output.columns_of(ColumnKind::Table) {
            if let DataType::List(item) = table.field.data_type()
                && let DataType::Struct(row) = item.data_type()
                && let Some(clash) =
                    row.iter().find(|f| [EXPERIMENT_ID, SORT_INDEX, SORT_SUBINDEX].contains(&f.name().as_str()))
            {
                return Err(SchemaError::Reserved {
                    type_name: output.type_name.clone(),
                    field: format!("{}.{}", table.name, clash.name()),
                    reserved: format!("`{EXPERIMENT_ID}`, `{SORT_INDEX}`, `{SORT_SUBINDEX}`"),
                });
            }
        }
        Ok(Self { name: E::CONFIG.name.to_owned(), description: E::CONFIG.description.to_owned(), input, output })
    }

    /// The experiment's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The input's schemas.
    pub fn input(&self) -> &DataSchema {
        &self.input
    }

    /// The output's schemas.
    pub fn output(&self) -> &DataSchema {
        &self.output
    }

    /// The document written to `experiment_io_spec.yml`: one JSON Schema with the input and
    /// output as properties (Python Scythe's `ExperimentIO`).
    pub fn io_spec(&self) -> Value {
        let mut defs = Map::new();
        let mut refs = Vec::new();
        for (role, data) in [("input", &self.input), ("output", &self.output)] {
            let mut root = data.json.clone();
            if let Some(Value::Object(inner)) = root.as_object_mut().and_then(|o| o.remove("$defs")) {
                defs.extend(inner);
            }
            if let Some(object) = root.as_object_mut() {
                object.remove("$schema");
            }
            let def_name = if defs.contains_key(&data.type_name) {
                format!("{}_{role}", data.type_name)
            } else {
                data.type_name.clone()
            };
            defs.insert(def_name.clone(), root);
            refs.push((role, def_name));
        }
        let [(_, input_ref), (_, output_ref)] = [refs[0].clone(), refs[1].clone()];
        json!({
            "$defs": defs,
            "description": if self.description.is_empty() { "The input and output schema for the experiment.".to_owned() } else { self.description.clone() },
            "properties": {
                "input": { "$ref": format!("#/$defs/{input_ref}"), "description": "The input for the experiment." },
                "output": { "$ref": format!("#/$defs/{output_ref}"), "description": "The output for the experiment." },
            },
            "required": ["input", "output"],
            "title": "ExperimentIO",
            "type": "object",
        })
    }
}

fn check_reserved(data: &DataSchema, reserved: &[&str]) -> Result<(), SchemaError> {
    match data.columns.iter().find(|column| reserved.contains(&column.name.as_str())) {
        Some(clash) => Err(SchemaError::Reserved {
            type_name: data.type_name.clone(),
            field: clash.name.clone(),
            reserved: reserved.iter().map(|name| format!("`{name}`")).collect::<Vec<_>>().join(", "),
        }),
        None => Ok(()),
    }
}

fn classify(field: &Field, property: &Value, type_name: &str) -> Result<ColumnKind, SchemaError> {
    let unsupported = |reason: &str| SchemaError::Unsupported {
        type_name: type_name.to_owned(),
        field: field.name().clone(),
        reason: reason.to_owned(),
    };
    if contains_union(field.data_type()) {
        return Err(unsupported("enums with data are not supported; use a unit-only enum or a struct"));
    }
    if is_file_ref(property) {
        return Ok(ColumnKind::FileRef);
    }
    Ok(match field.data_type() {
        DataType::List(item) | DataType::LargeList(item) if matches!(item.data_type(), DataType::Struct(_)) => {
            ColumnKind::Table
        }
        data_type if is_scalar(data_type) => ColumnKind::Scalar,
        _ => ColumnKind::Nested,
    })
}

/// Whether values of this Arrow type can be a pandas index level.
pub fn is_scalar(data_type: &DataType) -> bool {
    match data_type {
        DataType::Dictionary(_, values) => is_scalar(values),
        data_type => {
            data_type.is_primitive()
                || matches!(
                    data_type,
                    DataType::Null | DataType::Boolean | DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                )
        }
    }
}

fn contains_union(data_type: &DataType) -> bool {
    match data_type {
        DataType::Union(..) => true,
        DataType::List(item) | DataType::LargeList(item) | DataType::FixedSizeList(item, _) => {
            contains_union(item.data_type())
        }
        DataType::Struct(fields) => fields_contain_union(fields),
        DataType::Map(entry, _) => contains_union(entry.data_type()),
        DataType::Dictionary(_, values) => contains_union(values),
        _ => false,
    }
}

fn fields_contain_union(fields: &Fields) -> bool {
    fields.iter().any(|field| contains_union(field.data_type()))
}

fn is_file_ref(property: &Value) -> bool {
    let target = format!("#/$defs/{FILE_REF_SCHEMA_NAME}");
    non_null_variant(property).get("$ref").and_then(Value::as_str) == Some(target.as_str())
}

fn short_type_name(full: &str) -> String {
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base).to_owned()
}

/// A field list as an Arrow schema reference.
pub fn to_schema(fields: &[FieldRef]) -> arrow::datatypes::SchemaRef {
    Arc::new(arrow::datatypes::Schema::new(fields.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FileRef;
    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, JsonSchema)]
    #[serde(rename_all = "snake_case")]
    enum Economizer {
        NoEconomizer,
        DryBulb,
    }

    #[derive(Serialize, Deserialize, JsonSchema)]
    struct Row {
        hour: u32,
        load: f64,
    }

    #[derive(Serialize, Deserialize, JsonSchema)]
    struct Input {
        #[schemars(range(min = 0.0, max = 15.0))]
        r_value: f64,
        economizer: Economizer,
        weather: FileRef,
        design_day: Option<FileRef>,
        shading: Vec<f64>,
        label: Option<String>,
    }

    #[derive(Serialize, Deserialize, JsonSchema)]
    struct Output {
        heating: f64,
        hourly: Vec<Row>,
        timeseries: FileRef,
    }

    fn kinds(schema: &DataSchema) -> Vec<(&str, ColumnKind)> {
        schema.columns().iter().map(|c| (c.name.as_str(), c.kind)).collect()
    }

    #[test]
    fn classifies_input_fields() {
        let input = DataSchema::of::<Input>().unwrap();
        assert_eq!(
            kinds(&input),
            [
                ("r_value", ColumnKind::Scalar),
                ("economizer", ColumnKind::Scalar),
                ("weather", ColumnKind::FileRef),
                ("design_day", ColumnKind::FileRef),
                ("shading", ColumnKind::Nested),
                ("label", ColumnKind::Scalar),
            ]
        );
        assert_eq!(input.property_schema("r_value").unwrap()["maximum"], json!(15.0));
    }

    #[test]
    fn classifies_output_fields() {
        let output = DataSchema::of::<Output>().unwrap();
        assert_eq!(
            kinds(&output),
            [("heating", ColumnKind::Scalar), ("hourly", ColumnKind::Table), ("timeseries", ColumnKind::FileRef)]
        );
    }

    #[test]
    fn rejects_non_structs_and_data_enums() {
        assert!(matches!(DataSchema::of::<f64>(), Err(SchemaError::Arrow { .. } | SchemaError::NotAStruct(_))));
        #[derive(Serialize, Deserialize, JsonSchema)]
        enum Shape {
            Circle(f64),
        }
        #[derive(Serialize, Deserialize, JsonSchema)]
        struct WithShape {
            shape: Shape,
        }
        let error = DataSchema::of::<WithShape>().unwrap_err();
        assert!(error.to_string().contains("field `shape`"), "{error}");
    }
}
