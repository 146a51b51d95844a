//! Query-string parameters with errors that name the parameter.
//!
//! Decoding is strict (API.md "Hostile input"): a name or value that is not UTF-8
//! once percent-decoded, or that holds a NUL, is a 400 naming the parameter; nothing
//! is replaced with U+FFFD and passed on. Integers are bounded to
//! 1..=[`MAX_QUERY_INTEGER`] so no page arithmetic can overflow further in.

use crate::http::error::ApiError;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use percent_encoding::percent_decode;
use std::borrow::Cow;
use std::future::{ready, Ready};

/// Largest value of a positive-integer parameter (`page`, `per_page`, `limit`).
pub const MAX_QUERY_INTEGER: i64 = 1_000_000;

/// The decoded pairs of a query string (first occurrence wins). Also an extractor:
/// a handler taking `QueryParams` gets the 400 of a bad query string for free.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryParams(Vec<(String, String)>);

/// Why one name or value does not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Undecodable {
    Nul,
    NotUtf8,
}

impl Undecodable {
    fn sentence(self) -> &'static str {
        match self {
            Undecodable::Nul => "must not contain NUL (U+0000)",
            Undecodable::NotUtf8 => "is not valid UTF-8 once percent-decoded",
        }
    }
}

/// One `application/x-www-form-urlencoded` component: `+` is a space, `%XX` a byte.
fn decode(raw: &str) -> Result<Cow<'_, str>, Undecodable> {
    let decoded: Cow<'_, str> = if !raw.contains(['%', '+']) {
        Cow::Borrowed(raw)
    } else {
        let plus_free = raw.replace('+', " ");
        let bytes = percent_decode(plus_free.as_bytes()).collect::<Vec<u8>>();
        Cow::Owned(String::from_utf8(bytes).map_err(|_| Undecodable::NotUtf8)?)
    };
    if decoded.contains('\0') {
        return Err(Undecodable::Nul);
    }
    Ok(decoded)
}

impl QueryParams {
    /// Decodes `query`; a name or value that is not UTF-8 or holds a NUL is a 400
    /// naming the parameter.
    pub fn parse(query: &str) -> Result<Self, ApiError> {
        let mut pairs = Vec::new();
        for piece in query.split('&').filter(|p| !p.is_empty()) {
            let (raw_name, raw_value) = piece.split_once('=').unwrap_or((piece, ""));
            let name = decode(raw_name).map_err(|why| {
                ApiError::bad_request(
                    "query",
                    format!("query: the parameter name {raw_name:?} {}", why.sentence()),
                )
            })?;
            let value = decode(raw_value).map_err(|why| {
                ApiError::bad_request(name.to_string(), format!("{name} {}", why.sentence()))
            })?;
            pairs.push((name.into_owned(), value.into_owned()));
        }
        Ok(Self(pairs))
    }

    /// Refuses a query string [`QueryParams::parse`] would refuse, without building
    /// the pairs when nothing in it is percent-encoded (the common case).
    pub fn check(query: &str) -> Result<(), ApiError> {
        if query.contains('%') || query.contains('\0') {
            Self::parse(query)?;
        }
        Ok(())
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// An integer in 1..=[`MAX_QUERY_INTEGER`], or `default` when absent.
    pub fn positive(&self, name: &str, default: i64) -> Result<i64, ApiError> {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => match raw.trim().parse::<i64>() {
                Ok(n) if (1..=MAX_QUERY_INTEGER).contains(&n) => Ok(n),
                _ => Err(ApiError::bad_request(
                    name,
                    format!("{name} must be an integer from 1 to {MAX_QUERY_INTEGER}, got {raw:?}"),
                )),
            },
        }
    }

    /// A [`QueryParams::positive`] integer clamped to `max`.
    pub fn clamped(&self, name: &str, default: i64, max: i64) -> Result<i64, ApiError> {
        Ok(self.positive(name, default)?.min(max))
    }
}

impl FromRequest for QueryParams {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Self::parse(req.query_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> QueryParams {
        QueryParams::parse(query).unwrap()
    }

    fn refused_naming(query: &str) -> String {
        match QueryParams::parse(query).unwrap_err() {
            ApiError::BadRequest { field, .. } => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn positive_integers_are_parsed_clamped_and_rejected_by_name() {
        let q = parse("page=2&per_page=500&bad=0&neg=-1&txt=x&big=1000001&max=1000000");
        assert_eq!(q.positive("page", 1).unwrap(), 2);
        assert_eq!(q.clamped("per_page", 50, 100).unwrap(), 100);
        assert_eq!(q.positive("missing", 7).unwrap(), 7);
        assert_eq!(q.positive("max", 1).unwrap(), MAX_QUERY_INTEGER);
        for name in ["bad", "neg", "txt", "big"] {
            let err = q.positive(name, 1).unwrap_err().to_string();
            assert!(err.contains(name), "{err}");
        }
    }

    #[test]
    fn pairs_are_form_decoded_first_occurrence_first() {
        let q = parse("q=a+b%20c&q=second&empty=&flag&%C3%A9t%C3%A9=%E2%82%AC");
        assert_eq!(q.get("q"), Some("a b c"));
        assert_eq!(q.get("empty"), Some(""));
        assert_eq!(q.get("flag"), Some(""));
        assert_eq!(q.get("été"), Some("€"));
        assert_eq!(q.get("none"), None);
        assert_eq!(parse(""), QueryParams::default());
        assert_eq!(parse("&&"), QueryParams::default());
        // A stray `%` is kept as is, as browsers do.
        assert_eq!(parse("q=100%").get("q"), Some("100%"));
    }

    #[test]
    fn nul_and_invalid_utf8_are_refused_naming_the_parameter() {
        assert_eq!(refused_naming("q=%00"), "q");
        assert_eq!(refused_naming("a=1&q=x%00y"), "q");
        assert_eq!(refused_naming("q=%FF"), "q");
        assert_eq!(refused_naming("q=%C3%28"), "q");
        assert_eq!(refused_naming("q=%E2%82"), "q");
        assert_eq!(refused_naming("%FF=1"), "query");
        assert_eq!(refused_naming("%00=1"), "query");
        assert!(QueryParams::check("q=%00").is_err());
        assert!(QueryParams::check("q=%41").is_ok());
        assert!(QueryParams::check("q=plain+text").is_ok());
    }
}
