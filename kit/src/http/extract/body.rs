//! JSON bodies whose errors name the offending field (`items[2].quantity`).
//!
//! A body is exactly one JSON value (trailing bytes other than whitespace are a
//! 400), and no string in it, key or value, may hold a NUL (U+0000): PostgreSQL
//! refuses NUL in text, so it is refused here, naming the field, before any handler
//! sees it.

use crate::http::error::ApiError;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The only way a JSON text can carry a NUL: the escape `\u0000` (raw control
/// characters are invalid JSON).
const NUL_ESCAPE: &[u8] = b"\\u0000";

/// Parses `bytes` as exactly one JSON object into `T`; a type or shape error names the
/// field path.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::bad_request(
            "body",
            "the request body must be a JSON object",
        ));
    }
    if bytes.windows(NUL_ESCAPE.len()).any(|w| w == NUL_ESCAPE) {
        if let Some(field) = nul_field(bytes) {
            return Err(ApiError::bad_request(
                field.clone(),
                format!("{field} must not contain NUL (U+0000)"),
            ));
        }
    }
    // Every body of the API is an object; serde would also read a struct from an
    // array (`[1, []]`), an encoding nobody documented.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::bad_request(
            "body",
            "the request body must be a JSON object",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let field = if path == "." || path.is_empty() {
            missing_field(&inner.to_string()).unwrap_or_else(|| "body".to_string())
        } else {
            path
        };
        ApiError::bad_request(field.clone(), format!("{field}: {}", clean(&inner)))
    })?;
    de.end().map_err(|e| {
        ApiError::bad_request(
            "body",
            format!(
                "body: {} (the body must be exactly one JSON value)",
                clean(&e)
            ),
        )
    })?;
    Ok(value)
}

/// The path of the first string (or object key) holding a NUL, in
/// serde_path_to_error's notation (`items[0].name`); `None` when there is none or
/// the body is not JSON (its own error then says so).
fn nul_field(bytes: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(bytes).ok()?;
    let mut path = String::new();
    find_nul(&value, &mut path).then(|| if path.is_empty() { "body".into() } else { path })
}

/// True when `value` holds a NUL; `path` is then where.
fn find_nul(value: &Value, path: &mut String) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().enumerate().any(|(i, item)| {
            let len = path.len();
            path.push_str(&format!("[{i}]"));
            let found = find_nul(item, path);
            if !found {
                path.truncate(len);
            }
            found
        }),
        Value::Object(fields) => fields.iter().any(|(key, item)| {
            let len = path.len();
            if !path.is_empty() {
                path.push('.');
            }
            if key.contains('\0') {
                path.push_str(&key.escape_debug().to_string());
                return true;
            }
            path.push_str(key);
            let found = find_nul(item, path);
            if !found {
                path.truncate(len);
            }
            found
        }),
        _ => false,
    }
}

/// serde reports a missing field at the parent: pull its name out of the message.
fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    Some(rest.split('`').next()?.to_string())
}

/// serde_json's message without the " at line 1 column 9" suffix, and without the
/// server's type names ("expected struct UpdateBody with 3 elements" says how the code
/// is written, not what the client should send).
fn clean(e: &serde_json::Error) -> String {
    let mut text = e.to_string();
    if let Some(i) = text.find(" at line ") {
        text.truncate(i);
    }
    if let Some(i) = text.find("expected struct ") {
        if text.starts_with("invalid length") {
            return "expected a JSON object, not an array".into();
        }
        text.truncate(i);
        text.push_str("expected a JSON object");
    } else if let Some(i) = text.find("expected enum ") {
        text.truncate(i);
        text.push_str("expected one of the documented values");
    }
    for (rust, json) in [
        ("expected i64", "expected an integer"),
        ("expected i32", "expected an integer"),
        ("expected u64", "expected a non-negative integer"),
        ("expected u32", "expected a non-negative integer"),
        ("expected f64", "expected a number"),
    ] {
        if text.ends_with(rust) {
            text.truncate(text.len() - rust.len());
            text.push_str(json);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    struct Line {
        quantity: i32,
    }
    #[derive(serde::Deserialize, Debug)]
    struct Body {
        customer_id: i64,
        items: Vec<Line>,
    }

    #[test]
    fn a_valid_body_parses_into_its_fields() {
        let b = parse_json::<Body>(br#"{"customer_id":7,"items":[{"quantity":2}]}"#).unwrap();
        assert_eq!((b.customer_id, b.items[0].quantity), (7, 2));
    }

    #[test]
    fn errors_name_the_field_path() {
        let e = parse_json::<Body>(br#"{"customer_id":1,"items":[{"quantity":"x"}]}"#).unwrap_err();
        assert!(e.to_string().contains("items[0].quantity"), "{e}");
        let e = parse_json::<Body>(br#"{"items":[]}"#).unwrap_err();
        assert!(e.to_string().contains("customer_id"), "{e}");
        let e = parse_json::<Body>(b"not json").unwrap_err();
        assert!(e.to_string().contains("body"), "{e}");
    }

    fn field_of(e: ApiError) -> String {
        match e {
            ApiError::BadRequest { field, .. } => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn exactly_one_value_trailing_whitespace_allowed() {
        let ok = br#"{"customer_id":1,"items":[]}"#;
        assert!(parse_json::<Body>(ok).is_ok());
        assert!(parse_json::<Body>(b"{\"customer_id\":1,\"items\":[]} \r\n\t").is_ok());
        for trailer in ["x", "{}", " 1", "]", "\"s\"", "\u{0}"] {
            let mut body = ok.to_vec();
            body.extend_from_slice(trailer.as_bytes());
            let e = parse_json::<Body>(&body).unwrap_err();
            assert_eq!(field_of(e), "body", "{trailer:?}");
            let e = parse_json::<Value>(&body).unwrap_err();
            assert_eq!(field_of(e), "body", "{trailer:?}");
        }
    }

    #[test]
    fn errors_do_not_name_the_servers_types() {
        for body in [
            &b"[]"[..],
            b"[1, []]",
            b"1",
            b"\"x\"",
            br#"{"customer_id":1,"items":[7]}"#,
        ] {
            let e = parse_json::<Body>(body).unwrap_err();
            let text = e.to_string();
            assert!(
                !text.contains("struct") && !text.contains("Body") && !text.contains("Line"),
                "{text}"
            );
            assert!(text.contains("JSON object"), "{text}");
        }
        let e = parse_json::<Body>(br#"{"customer_id":"7","items":[{"quantity":1.5}]}"#);
        let text = e.unwrap_err().to_string();
        assert!(text.ends_with("expected an integer"), "{text}");
        assert!(!text.contains("i64"), "{text}");
    }

    #[test]
    fn nul_in_any_string_is_refused_naming_its_path() {
        #[derive(serde::Deserialize, Debug)]
        struct Login {
            email: String,
        }
        let e = parse_json::<Login>(br#"{"email":"a\u0000b"}"#).unwrap_err();
        assert_eq!(field_of(e), "email");
        let e = parse_json::<Value>(br#"{"items":[{"q":1},{"name":"\u0000"}]}"#).unwrap_err();
        assert_eq!(field_of(e), "items[1].name");
        let e = parse_json::<Value>(br#"{"a":["ok","\u0000"]}"#).unwrap_err();
        assert_eq!(field_of(e), "a[1]");
        let e = parse_json::<Value>(br#"{"a":{"k\u0000":1}}"#).unwrap_err();
        assert_eq!(field_of(e), "a.k\\0");
        // An escaped backslash before "u0000" is not a NUL.
        let v = parse_json::<Login>(br#"{"email":"a\\u0000b"}"#).unwrap();
        assert_eq!(v.email, "a\\u0000b");
        // Raw control characters are invalid JSON in the first place.
        let e = parse_json::<Login>(b"{\"email\":\"a\x00b\"}").unwrap_err();
        assert_eq!(field_of(e), "email");
    }
}
