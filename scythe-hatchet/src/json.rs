//! JSON the engine accepts: objects, serialized once, without `\u0000`.

use std::sync::Arc;

use serde::Serialize;

use crate::error::RequestError;

/// Serializes `value` to a JSON object string, or says why Hatchet would not accept it.
pub(crate) fn to_object(what: &'static str, value: &impl Serialize) -> Result<String, RequestError> {
    let json =
        serde_json::to_string(value).map_err(|source| RequestError::Serialize { what, source: Arc::new(source) })?;
    check_object(what, &json)?;
    Ok(json)
}

/// Checks that `json` (compact serde_json output) is an object without an escaped NUL.
pub(crate) fn check_object(what: &'static str, json: &str) -> Result<(), RequestError> {
    let found = match json.trim_start().as_bytes().first() {
        Some(b'{') => None,
        Some(b'[') => Some("an array"),
        Some(b'"') => Some("a string"),
        Some(b'n') => Some("null"),
        Some(b't' | b'f') => Some("a boolean"),
        Some(_) => Some("a number"),
        None => Some("nothing"),
    };
    if let Some(found) = found {
        return Err(RequestError::NotAnObject { what, found });
    }
    if contains_nul(json) {
        return Err(RequestError::ContainsNul { what });
    }
    Ok(())
}

/// Whether JSON text holds a NUL: raw, or as the escape `\u0000` (and not as an escaped backslash
/// followed by `u0000`).
pub(crate) fn contains_nul(json: &str) -> bool {
    let bytes = json.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            0 => return true,
            b'\\' => {
                if bytes.get(i + 1) == Some(&b'u') && bytes.get(i + 2..i + 6) == Some(b"0000".as_slice()) {
                    return true;
                }
                i += 2;
            }
            _ => i += 1,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn accepts_objects_only() {
        assert_eq!(to_object("input", &json!({"a": 1})).unwrap(), r#"{"a":1}"#);
        let cases =
            [(json!([1]), "an array"), (json!("s"), "a string"), (json!(null), "null"), (json!(1.5), "a number")];
        for (value, found) in cases {
            let err = to_object("workflow input", &value).unwrap_err();
            assert_eq!(err.to_string(), format!("workflow input must be a JSON object, not {found}"));
        }
    }

    #[test]
    fn finds_nul_but_not_escaped_backslashes() {
        assert!(matches!(to_object("input", &json!({"a": "x\u{0}y"})), Err(RequestError::ContainsNul { .. })));
        assert!(to_object("input", &json!({"a": r"\u0000"})).is_ok());
        assert!(to_object("input", &json!({"a": "\\"})).is_ok());
        assert!(contains_nul(r#"{"a":"\\\u0000"}"#));
        assert!(!contains_nul(r#"{"a":"\\u0000"}"#));
    }
}
