//! JSON bodies whose errors name the offending field (`items[2].quantity`).

use crate::http::error::ApiError;
use serde::de::DeserializeOwned;

/// Parses `bytes` as `T`; a type or shape error names the field path.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::bad_request(
            "body",
            "the request body must be a JSON object",
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let field = if path == "." || path.is_empty() {
            missing_field(&inner.to_string()).unwrap_or_else(|| "body".to_string())
        } else {
            path
        };
        ApiError::bad_request(field.clone(), format!("{field}: {}", clean(&inner)))
    })
}

/// serde reports a missing field at the parent: pull its name out of the message.
fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    Some(rest.split('`').next()?.to_string())
}

/// serde_json's message without the " at line 1 column 9" suffix.
fn clean(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.find(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
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
}
