//! Walking a schemars JSON Schema: the type of an optional property, and `$ref`s.

use serde_json::Value;

/// For `Option<T>` schemas (`anyOf: [T, null]` or `type: [.., "null"]`), the `T` variant.
pub(crate) fn non_null_variant(property: &Value) -> &Value {
    if let Some(variants) = property.get("anyOf").and_then(Value::as_array) {
        let mut rest = variants.iter().filter(|v| v.get("type").and_then(Value::as_str) != Some("null"));
        if let (Some(only), None) = (rest.next(), rest.next()) {
            return only;
        }
    }
    property
}

/// The schema a `$ref` points to (within `root`), or `schema` itself.
pub(crate) fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix('#')) {
        Some(pointer) => root.pointer(pointer).unwrap_or(schema),
        None => schema,
    }
}
