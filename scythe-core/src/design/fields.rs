//! The fields a design can fill, read from an input's JSON Schema: bounded numbers, integers,
//! unit enums and bools are sampled; everything else needs `--set` or `--levels`.

use serde_json::Value;

use crate::FILE_REF_SCHEMA_NAME;
use crate::json_schema::{non_null_variant, resolve};

/// One leaf field of the input (nested structs are flattened to dotted paths).
#[derive(Debug, Clone, PartialEq)]
pub struct DesignField {
    /// The dotted path, e.g. `wall.r_value`.
    pub path: String,
    /// What the schema says about its values.
    pub kind: FieldKind,
    /// Whether `null` is allowed (`Option` fields).
    pub optional: bool,
}

/// What values a field takes, as far as a design is concerned.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldKind {
    /// A number with its schema bounds (either may be missing).
    Number {
        /// `minimum` or `exclusiveMinimum`.
        low: Option<Bound>,
        /// `maximum` or `exclusiveMaximum`.
        high: Option<Bound>,
        /// Whether the field is an integer type.
        integer: bool,
    },
    /// A unit enum's variants or a bool's two values.
    Choice(Vec<Value>),
    /// A string, a `FileRef`, a list or anything else a design cannot draw: what it is.
    Other(&'static str),
}

/// A schema bound.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bound {
    /// Its value.
    pub value: f64,
    /// Whether the bound itself is excluded.
    pub exclusive: bool,
}

impl DesignField {
    /// Whether a design can draw this field without `--set`, `--levels` or `--dist`.
    pub fn is_drawable(&self) -> bool {
        match &self.kind {
            FieldKind::Number { low, high, .. } => low.is_some() && high.is_some(),
            FieldKind::Choice(values) => !values.is_empty(),
            FieldKind::Other(_) => false,
        }
    }

    /// What the field is, for messages: `a number in [0, 1)`, `an integer ≥ 0`, `a string`.
    pub fn describe(&self) -> String {
        match &self.kind {
            FieldKind::Number { low, high, integer } => {
                let what = if *integer { "an integer" } else { "a number" };
                match (low, high) {
                    (Some(low), Some(high)) => format!(
                        "{what} in {}{}, {}{}",
                        if low.exclusive { "(" } else { "[" },
                        low.value,
                        high.value,
                        if high.exclusive { ")" } else { "]" }
                    ),
                    (Some(low), None) => {
                        format!("{what} {} {} with no upper bound", if low.exclusive { ">" } else { "≥" }, low.value)
                    }
                    (None, Some(high)) => {
                        format!("{what} {} {} with no lower bound", if high.exclusive { "<" } else { "≤" }, high.value)
                    }
                    (None, None) => format!("{what} with no bounds"),
                }
            }
            FieldKind::Choice(values) => {
                format!("one of {}", values.iter().map(Value::to_string).collect::<Vec<_>>().join(", "))
            }
            FieldKind::Other(what) => (*what).to_owned(),
        }
    }
}

/// Every leaf field of the JSON Schema `root` (an object schema with `properties`), in order.
pub fn design_fields(root: &Value) -> Vec<DesignField> {
    let mut fields = Vec::new();
    collect(root, root, "", false, &mut fields);
    fields
}

fn collect(root: &Value, object: &Value, prefix: &str, optional_parent: bool, out: &mut Vec<DesignField>) {
    let Some(properties) = object.get("properties").and_then(Value::as_object) else { return };
    let required: Vec<&str> = object
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for (name, property) in properties {
        let path = if prefix.is_empty() { name.clone() } else { format!("{prefix}.{name}") };
        let nullable = optional_parent || !required.contains(&name.as_str()) || allows_null(property);
        let variant = non_null_variant(property);
        if refers_to(variant, FILE_REF_SCHEMA_NAME) {
            out.push(DesignField {
                path,
                kind: FieldKind::Other("a FileRef (a file path or URI)"),
                optional: nullable,
            });
            continue;
        }
        let schema = resolve(root, variant);
        if schema.get("properties").is_some() {
            collect(root, schema, &path, nullable, out);
            continue;
        }
        out.push(DesignField { path, kind: kind_of(schema), optional: nullable });
    }
}

fn refers_to(schema: &Value, name: &str) -> bool {
    schema.get("$ref").and_then(Value::as_str).is_some_and(|r| r.rsplit('/').next() == Some(name))
}

fn allows_null(property: &Value) -> bool {
    let null_type = |schema: &Value| match schema.get("type") {
        Some(Value::String(t)) => t == "null",
        Some(Value::Array(types)) => types.iter().any(|t| t == "null"),
        _ => false,
    };
    null_type(property)
        || ["anyOf", "oneOf"].iter().any(|key| {
            property.get(*key).and_then(Value::as_array).is_some_and(|variants| variants.iter().any(null_type))
        })
}

fn types(schema: &Value) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(types)) => types.iter().filter_map(Value::as_str).filter(|t| *t != "null").collect(),
        _ => Vec::new(),
    }
}

fn kind_of(schema: &Value) -> FieldKind {
    if let Some(values) = choices(schema) {
        return FieldKind::Choice(values);
    }
    let types = types(schema);
    match types.as_slice() {
        ["boolean"] => FieldKind::Choice(vec![Value::Bool(false), Value::Bool(true)]),
        ["integer"] | ["number"] => {
            let bound = |inclusive: &str, exclusive: &str| match (
                schema.get(inclusive).and_then(Value::as_f64),
                schema.get(exclusive).and_then(Value::as_f64),
            ) {
                (_, Some(value)) => Some(Bound { value, exclusive: true }),
                (Some(value), None) => Some(Bound { value, exclusive: false }),
                (None, None) => None,
            };
            FieldKind::Number {
                low: bound("minimum", "exclusiveMinimum"),
                high: bound("maximum", "exclusiveMaximum"),
                integer: types == ["integer"],
            }
        }
        ["string"] => FieldKind::Other("a string"),
        ["array"] => FieldKind::Other("a list"),
        _ => FieldKind::Other("a value a design cannot draw"),
    }
}

/// The values of a unit enum: `enum: [..]`, or `oneOf`/`anyOf` of `const`s (variants with doc
/// comments).
fn choices(schema: &Value) -> Option<Vec<Value>> {
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return Some(values.iter().filter(|v| !v.is_null()).cloned().collect());
    }
    if let Some(value) = schema.get("const") {
        return Some(vec![value.clone()]);
    }
    let variants = schema.get("oneOf").or_else(|| schema.get("anyOf"))?.as_array()?;
    let mut values = Vec::new();
    for variant in variants {
        values.extend(choices(variant)?);
    }
    Some(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_bounds_enums_bools_nesting_options_and_file_refs() {
        let schema = json!({
            "type": "object",
            "properties": {
                "x": {"type": "number", "minimum": -1.0, "exclusiveMaximum": 1.0},
                "n": {"type": "integer", "format": "uint8", "minimum": 0, "maximum": 255},
                "k": {"type": "integer", "format": "int32"},
                "mode": {"oneOf": [{"const": "a", "description": "A"}, {"type": "string", "const": "b"}]},
                "flag": {"type": "boolean"},
                "maybe": {"type": ["number", "null"], "minimum": 0.0, "maximum": 2.0},
                "label": {"type": "string"},
                "weather": {"$ref": "#/$defs/FileRef"},
                "wall": {"$ref": "#/$defs/Wall"}
            },
            "required": ["x", "n", "k", "mode", "flag", "label", "weather", "wall"],
            "$defs": {
                "FileRef": {"type": "string"},
                "Wall": {"type": "object", "properties": {"r": {"type": "number", "minimum": 0.5, "maximum": 10.0}}, "required": ["r"]}
            }
        });
        let fields = design_fields(&schema);
        let paths: Vec<&str> = fields.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["x", "n", "k", "mode", "flag", "maybe", "label", "weather", "wall.r"]);
        let drawable: Vec<bool> = fields.iter().map(DesignField::is_drawable).collect();
        assert_eq!(drawable, [true, true, false, true, true, true, false, false, true]);
        assert_eq!(fields[3].kind, FieldKind::Choice(vec![json!("a"), json!("b")]));
        assert!(fields[5].optional && !fields[0].optional);
        assert_eq!(
            fields[0].kind,
            FieldKind::Number {
                low: Some(Bound { value: -1.0, exclusive: false }),
                high: Some(Bound { value: 1.0, exclusive: true }),
                integer: false
            }
        );
        assert_eq!(fields[0].describe(), "a number in [-1, 1)");
        assert_eq!(fields[7].kind, FieldKind::Other("a FileRef (a file path or URI)"));
    }
}
