//! Query-string parameters with errors that name the parameter.

use crate::http::error::ApiError;

/// The decoded pairs of a query string (first occurrence wins).
pub struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    pub fn parse(query: &str) -> Self {
        Self(
            url::form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A positive integer, or `default` when absent.
    pub fn positive(&self, name: &str, default: i64) -> Result<i64, ApiError> {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => match raw.trim().parse::<i64>() {
                Ok(n) if n >= 1 => Ok(n),
                _ => Err(ApiError::bad_request(
                    name,
                    format!("{name} must be a positive integer, got {raw:?}"),
                )),
            },
        }
    }

    /// A positive integer clamped to `max`.
    pub fn clamped(&self, name: &str, default: i64, max: i64) -> Result<i64, ApiError> {
        Ok(self.positive(name, default)?.min(max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positive_integers_are_parsed_clamped_and_rejected_by_name() {
        let q = QueryParams::parse("page=2&per_page=500&bad=0&neg=-1&txt=x");
        assert_eq!(q.positive("page", 1).unwrap(), 2);
        assert_eq!(q.clamped("per_page", 50, 100).unwrap(), 100);
        assert_eq!(q.positive("missing", 7).unwrap(), 7);
        for name in ["bad", "neg", "txt"] {
            let err = q.positive(name, 1).unwrap_err().to_string();
            assert!(err.contains(name), "{err}");
        }
    }
}
