//! Schema changes between two `experiment_io_spec.yml` documents: fields added, removed,
//! retyped, and constraints changed, with which of them break a version (see
//! [`SchemaChange::breaking`]).
//!
//! Fields are compared by dotted path (`wall.r_value`; `hourly[].load` inside a list of rows),
//! so a change deep in a nested struct names the field it touches.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

/// How [`SchemaChange`]'s `Display` marks a breaking change.
pub(crate) const BREAKING_MARK: &str = "  [breaking]";

/// JSON Schema keywords compared as constraints of a field.
const CONSTRAINTS: [&str; 12] = [
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "pattern",
    "enum",
    "const",
    "minItems",
    "maxItems",
];

/// Whether a field belongs to the input or the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A field of the experiment's input (a column of the specs).
    Input,
    /// A field of the experiment's output.
    Output,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Input => "input",
            Role::Output => "output",
        })
    }
}

/// What changed about one field.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// The field is only in the second run.
    Added {
        /// Its type (see [`SchemaChange`]).
        ty: String,
        /// Whether specs may leave it out (an `Option` or a field with a default).
        optional: bool,
    },
    /// The field is only in the first run.
    Removed {
        /// Its type.
        ty: String,
    },
    /// The field's type changed (`number (double)` → `integer (int64)`, `FileRef` → `string`).
    Retyped {
        /// The first run's type.
        from: String,
        /// The second run's type.
        to: String,
    },
    /// A constraint (`minimum`, `enum`, …, or `optional`) changed.
    Constraint {
        /// The JSON Schema keyword, or `optional` for whether specs may leave the field out.
        keyword: String,
        /// The first run's value (`null`: absent).
        from: Value,
        /// The second run's value (`null`: absent).
        to: Value,
        /// Whether fewer values are allowed than before (a bound raised or lowered inward,
        /// a keyword added, an enum value dropped, an optional field made required).
        tightened: bool,
    },
}

/// One change of one field between two runs' schemas.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SchemaChange {
    /// Input or output.
    pub role: Role,
    /// The field's dotted path.
    pub field: String,
    /// What changed.
    #[serde(flatten)]
    pub change: Change,
    /// Whether runs with both schemas should not share a version: in the input a field
    /// removed, retyped, added as required (earlier specs lack it) or a constraint tightened
    /// (earlier specs may break it); in the output a field removed or retyped (readers of the
    /// version's tables lose or mistype a column).
    pub breaking: bool,
}

impl std::fmt::Display for SchemaChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let field = &self.field;
        match &self.change {
            Change::Added { ty, optional } => {
                let required = match (self.role, optional) {
                    (Role::Output, _) => "",
                    (Role::Input, true) => " (optional)",
                    (Role::Input, false) => " (required)",
                };
                write!(f, "+ {field}: {ty}{required}")
            }
            Change::Removed { ty } => write!(f, "- {field}: {ty}"),
            Change::Retyped { from, to } => write!(f, "~ {field}: {from} → {to}"),
            Change::Constraint { keyword, from, to, tightened } => write!(
                f,
                "~ {field}: {keyword} {} → {} ({})",
                show(from),
                show(to),
                if *tightened { "tightened" } else { "loosened" }
            ),
        }?;
        if self.breaking {
            f.write_str(BREAKING_MARK)?;
        }
        Ok(())
    }
}

fn show(value: &Value) -> String {
    match value {
        Value::Null => "none".to_owned(),
        other => other.to_string(),
    }
}

/// One field as the comparison sees it.
#[derive(Debug, Clone, PartialEq)]
struct FieldShape {
    ty: String,
    optional: bool,
    constraints: BTreeMap<&'static str, Value>,
}

/// The changes from `before` to `after` (two `experiment_io_spec.yml` documents as JSON), in
/// role and field order.
pub fn compare(before: &Value, after: &Value) -> Vec<SchemaChange> {
    let mut changes = Vec::new();
    for role in [Role::Input, Role::Output] {
        let (old, new) = (fields(before, role), fields(after, role));
        for (field, old_shape) in &old {
            let Some(new_shape) = new.get(field) else {
                changes.push(SchemaChange {
                    role,
                    field: field.clone(),
                    change: Change::Removed { ty: old_shape.ty.clone() },
                    breaking: true,
                });
                continue;
            };
            if old_shape.ty != new_shape.ty {
                changes.push(SchemaChange {
                    role,
                    field: field.clone(),
                    change: Change::Retyped { from: old_shape.ty.clone(), to: new_shape.ty.clone() },
                    breaking: true,
                });
                continue;
            }
            if old_shape.optional != new_shape.optional {
                let tightened = old_shape.optional;
                changes.push(SchemaChange {
                    role,
                    field: field.clone(),
                    change: Change::Constraint {
                        keyword: "optional".to_owned(),
                        from: Value::Bool(old_shape.optional),
                        to: Value::Bool(new_shape.optional),
                        tightened,
                    },
                    breaking: role == Role::Input && tightened,
                });
            }
            for keyword in CONSTRAINTS {
                let (from, to) = (
                    old_shape.constraints.get(keyword).cloned().unwrap_or(Value::Null),
                    new_shape.constraints.get(keyword).cloned().unwrap_or(Value::Null),
                );
                if from != to {
                    let tightened = tightened(keyword, &from, &to);
                    changes.push(SchemaChange {
                        role,
                        field: field.clone(),
                        change: Change::Constraint { keyword: keyword.to_owned(), from, to, tightened },
                        breaking: role == Role::Input && tightened,
                    });
                }
            }
        }
        for (field, shape) in new.iter().filter(|(field, _)| !old.contains_key(*field)) {
            changes.push(SchemaChange {
                role,
                field: field.clone(),
                change: Change::Added { ty: shape.ty.clone(), optional: shape.optional },
                breaking: role == Role::Input && !shape.optional,
            });
        }
    }
    changes.sort_by(|a, b| (a.role, &a.field).cmp(&(b.role, &b.field)));
    changes
}

/// The top-level input fields of an io spec that are input files.
pub(crate) fn file_fields(io_spec: &Value) -> Vec<String> {
    fields(io_spec, Role::Input)
        .into_iter()
        .filter(|(name, shape)| !name.contains('.') && shape.ty == "FileRef")
        .map(|(name, _)| name)
        .collect()
}

/// The top-level output fields of an io spec.
pub(crate) fn output_fields(io_spec: &Value) -> Vec<String> {
    fields(io_spec, Role::Output).into_keys().filter(|name| !name.contains(['.', '['])).collect()
}

/// Whether a constraint going from `from` to `to` allows fewer values.
fn tightened(keyword: &str, from: &Value, to: &Value) -> bool {
    match (from, to) {
        (Value::Null, _) => true,
        (_, Value::Null) => false,
        (Value::Number(a), Value::Number(b)) => {
            let (Some(a), Some(b)) = (a.as_f64(), b.as_f64()) else { return true };
            match keyword {
                "minimum" | "exclusiveMinimum" | "minLength" | "minItems" => b > a,
                "maximum" | "exclusiveMaximum" | "maxLength" | "maxItems" => b < a,
                // A new multiple, a new constant: some earlier values may break it.
                _ => true,
            }
        }
        (Value::Array(a), Value::Array(b)) if keyword == "enum" => a.iter().any(|value| !b.contains(value)),
        _ => true,
    }
}

/// The fields of the input or output of an io spec, flattened by dotted path.
fn fields(io_spec: &Value, role: Role) -> BTreeMap<String, FieldShape> {
    let mut out = BTreeMap::new();
    let key = role.to_string();
    if let Some(root) = io_spec.get("properties").and_then(|p| p.get(&key)) {
        collect(io_spec, resolve(io_spec, root), "", &mut out);
    }
    out
}

/// Adds the properties of object schema `object` under `prefix`.
fn collect(root: &Value, object: &Value, prefix: &str, out: &mut BTreeMap<String, FieldShape>) {
    let Some(properties) = object.get("properties").and_then(Value::as_object) else { return };
    let required: Vec<&str> =
        object.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    for (name, property) in properties {
        let path = if prefix.is_empty() { name.clone() } else { format!("{prefix}.{name}") };
        let (schema, nullable) = non_null(root, property);
        let ty = type_name(root, schema);
        let mut constraints = BTreeMap::new();
        for keyword in CONSTRAINTS {
            if let Some(value) = schema.get(keyword) {
                constraints.insert(keyword, value.clone());
            }
        }
        out.insert(
            path.clone(),
            FieldShape { ty, optional: nullable || !required.contains(&name.as_str()), constraints },
        );
        if is_file_ref(schema) {
            continue;
        }
        collect(root, schema, &path, out);
        if let Some(items) = schema.get("items") {
            let (items, _) = non_null(root, items);
            collect(root, items, &format!("{path}[]"), out);
        }
    }
}

/// The schema of `property` without its `null` alternative (`Option<T>`), `$ref`s resolved,
/// and whether `null` was allowed.
fn non_null<'a>(root: &'a Value, property: &'a Value) -> (&'a Value, bool) {
    let property = resolve(root, property);
    if let Some(variants) = property.get("anyOf").and_then(Value::as_array) {
        let mut rest = variants.iter().filter(|v| v.get("type").and_then(Value::as_str) != Some("null"));
        if let (Some(only), None) = (rest.next(), rest.next()) {
            let nullable = variants.len() > 1;
            // Keep the reference itself for FileRefs, so they are named as such.
            return (if is_file_ref(only) { only } else { resolve(root, only) }, nullable);
        }
    }
    let nullable = property
        .get("type")
        .and_then(Value::as_array)
        .is_some_and(|types| types.iter().any(|t| t.as_str() == Some("null")));
    (property, nullable)
}

fn is_file_ref(schema: &Value) -> bool {
    schema.get("$ref").and_then(Value::as_str).is_some_and(|r| r.ends_with("/FileRef"))
}

/// Follows a local `$ref` (`#/$defs/…`), keeping a FileRef reference as it is.
fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    if is_file_ref(schema) {
        return schema;
    }
    match schema.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix('#')) {
        Some(pointer) => root.pointer(pointer).unwrap_or(schema),
        None => schema,
    }
}

/// A field's type as shown: `number (double)`, `integer (uint64)`, `string`, `FileRef`,
/// `enum`, `object`, `array of number (double)`.
fn type_name(root: &Value, schema: &Value) -> String {
    if is_file_ref(schema) {
        return "FileRef".to_owned();
    }
    let base = match schema.get("type") {
        Some(Value::String(ty)) => ty.clone(),
        Some(Value::Array(types)) => {
            types.iter().filter_map(Value::as_str).filter(|t| *t != "null").collect::<Vec<_>>().join(" | ")
        }
        _ if schema.get("enum").is_some() || schema.get("oneOf").is_some() => "enum".to_owned(),
        _ => "any".to_owned(),
    };
    let base = if schema.get("enum").is_some() && base == "string" { "enum".to_owned() } else { base };
    if base == "array"
        && let Some(items) = schema.get("items")
    {
        let (items, _) = non_null(root, items);
        return format!("array of {}", type_name(root, items));
    }
    match schema.get("format").and_then(Value::as_str) {
        Some(format) => format!("{base} ({format})"),
        None => base,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn io(input: Value, output: Value) -> Value {
        json!({
            "$defs": {
                "FileRef": { "type": "string", "minLength": 1 },
                "In": input,
                "Out": output,
                "Material": { "type": "string", "enum": ["wood", "brick"] },
            },
            "properties": { "input": { "$ref": "#/$defs/In" }, "output": { "$ref": "#/$defs/Out" } },
        })
    }

    fn before() -> Value {
        io(
            json!({
                "type": "object",
                "properties": {
                    "x": { "type": "number", "format": "double", "minimum": 0.0, "maximum": 10.0 },
                    "n": { "type": "integer", "format": "int32" },
                    "weather": { "$ref": "#/$defs/FileRef" },
                    "material": { "$ref": "#/$defs/Material" },
                    "label": { "type": ["string", "null"] },
                    "wall": { "type": "object", "properties": { "r": { "type": "number" } }, "required": ["r"] },
                },
                "required": ["x", "n", "weather", "material", "wall"],
            }),
            json!({ "type": "object", "properties": { "y": { "type": "number" }, "z": { "type": "number" } } }),
        )
    }

    #[test]
    fn identical_schemas_have_no_changes() {
        assert_eq!(compare(&before(), &before()), Vec::new());
    }

    #[test]
    fn names_every_kind_of_change_and_which_break() {
        let after = io(
            json!({
                "type": "object",
                "properties": {
                    "x": { "type": "number", "format": "double", "minimum": 1.0, "maximum": 20.0 },
                    "n": { "type": "integer", "format": "int64" },
                    "weather": { "$ref": "#/$defs/FileRef" },
                    "material": { "type": "string", "enum": ["wood"] },
                    "label": { "type": ["string", "null"] },
                    "wall": { "type": "object", "properties": { "r": { "type": "string" } }, "required": ["r"] },
                    "seed": { "type": ["integer", "null"] },
                },
                "required": ["x", "n", "weather", "material", "wall"],
            }),
            json!({ "type": "object", "properties": { "y": { "type": "integer" }, "w": { "type": "number" } } }),
        );
        let changes = compare(&before(), &after);
        let shown: Vec<String> = changes.iter().map(|c| format!("{} {c}", c.role)).collect();
        assert_eq!(
            shown,
            [
                "input ~ material: enum [\"wood\",\"brick\"] → [\"wood\"] (tightened)  [breaking]",
                "input ~ n: integer (int32) → integer (int64)  [breaking]",
                "input + seed: integer (optional)",
                "input ~ wall.r: number → string  [breaking]",
                "input ~ x: minimum 0.0 → 1.0 (tightened)  [breaking]",
                "input ~ x: maximum 10.0 → 20.0 (loosened)",
                "output + w: number",
                "output ~ y: number → integer  [breaking]",
                "output - z: number  [breaking]",
            ]
        );
    }

    #[test]
    fn loosening_and_output_additions_do_not_break() {
        let after = io(
            json!({
                "type": "object",
                "properties": {
                    "x": { "type": "number", "format": "double", "minimum": 0.0 },
                    "n": { "type": "integer", "format": "int32" },
                    "weather": { "$ref": "#/$defs/FileRef" },
                    "material": { "type": "string", "enum": ["wood", "brick", "concrete"] },
                    "label": { "type": ["string", "null"] },
                    "wall": { "type": "object", "properties": { "r": { "type": "number" } } },
                },
                "required": ["x", "n", "weather", "material", "wall"],
            }),
            json!({ "type": "object", "properties": {
                "y": { "type": "number" }, "z": { "type": "number" }, "extra": { "type": "number" } } }),
        );
        let changes = compare(&before(), &after);
        assert_eq!(changes.len(), 4, "{changes:#?}");
        assert!(changes.iter().all(|c| !c.breaking), "{changes:#?}");
        // A required input field that earlier specs lack breaks them.
        let mut required = after.clone();
        required["$defs"]["In"]["properties"]["seed"] = json!({ "type": "integer" });
        required["$defs"]["In"]["required"].as_array_mut().unwrap().push(json!("seed"));
        assert!(compare(&before(), &required).iter().any(|c| c.field == "seed" && c.breaking));
    }
}
