//! What the kit's middleware does on an application's routes, added to its OpenAPI
//! document: the two ways to present a key (security schemes `bearer` and `api_key`),
//! the error bodies, and on every operation under the protected prefix its 401 (key
//! routes), 429 with `Retry-After`, the rate-limit headers on every answer, 413 on a
//! body over 1 MiB, and 503 when a dependency is saturated or down; on every
//! operation its 400 for a query string that is not UTF-8 once decoded or holds a
//! NUL (refused by the kit before routing, on every route). Optional
//! parameters are made non-nullable (utoipa maps `Option<T>` to `T | null`, but a
//! query or header value is never null: it is absent).

use crate::http::middleware::errors::MAX_BODY_BYTES;
use serde::Deserialize;
use utoipa::openapi::path::{Operation, Parameter, PathItem};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, SchemaType, Type};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{Content, Header, OpenApi, Ref, RefOr, Schema};
use utoipa::{Modify, PartialSchema, ToSchema};

/// The security scheme of `Authorization: Bearer <key>`.
pub const BEARER: &str = "bearer";
/// The security scheme of `X-API-Key: <key>`.
pub const API_KEY: &str = "api_key";

/// The JSON body of every error answer (`{"error","detail"}`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// The snake_case code, e.g. `bad_request`, `not_found`, `insufficient_stock`.
    pub error: String,
    /// A human sentence; a 400 names the field.
    pub detail: String,
}

/// The body of a 429: an error with the seconds to wait.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RateLimitedError)]
pub struct RateLimitedBody {
    /// Always `rate_limited`.
    pub error: String,
    /// Which limit was exhausted.
    pub detail: String,
    /// Seconds until a retry can pass (as `Retry-After`).
    pub retry_after: u64,
}

/// Adds the kit's conventions to a document: operations whose path starts with
/// `prefix` are the application's API (limited, and protected unless `public`).
#[derive(Debug, Clone)]
pub struct KitConventions<'a> {
    /// The API's path prefix, e.g. `/v1/`.
    pub prefix: &'a str,
    /// Paths under the prefix that need no key, e.g. `/v1/login`.
    pub public: &'a [&'a str],
}

impl Modify for KitConventions<'_> {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.security_schemes.insert(
            BEARER.into(),
            RefOr::T(SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("`Authorization: Bearer <API key or login token>`"))
                    .build(),
            )),
        );
        components.security_schemes.insert(
            API_KEY.into(),
            RefOr::T(SecurityScheme::ApiKey(ApiKey::Header(
                ApiKeyValue::with_description("X-API-Key", "`X-API-Key: <API key or login token>`"),
            ))),
        );
        for (name, schema) in [
            (ErrorBody::name(), ErrorBody::schema()),
            (RateLimitedBody::name(), RateLimitedBody::schema()),
        ] {
            components.schemas.insert(name.into_owned(), schema);
        }
        for (name, header) in rate_limit_headers() {
            components.headers.insert(name.into(), RefOr::T(header));
        }
        for (path, item) in openapi.paths.paths.iter_mut() {
            let api = path.starts_with(self.prefix);
            let protected = api && !self.public.contains(&path.as_str());
            for op in operations_mut(item) {
                for parameter in op.parameters.iter_mut().flatten() {
                    if let RefOr::T(parameter) = parameter {
                        never_null(parameter);
                    }
                }
                op.responses
                    .responses
                    .entry("400".into())
                    .or_insert_with(|| {
                        RefOr::T(
                            error_response(
                                "The query string is not UTF-8 once decoded or holds a NUL \
                                 (named in `detail`)",
                            )
                            .build(),
                        )
                    });
                if api {
                    apply(op, protected);
                }
            }
        }
    }
}

/// Every operation of a path.
fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// One API operation: its key, its limits, its body limit, its outages.
fn apply(op: &mut Operation, protected: bool) {
    let responses = &mut op.responses.responses;
    if protected {
        op.security = Some(vec![
            SecurityRequirement::new(BEARER, Vec::<String>::new()),
            SecurityRequirement::new(API_KEY, Vec::<String>::new()),
        ]);
        responses.entry("401".into()).or_insert_with(|| {
            RefOr::T(
                error_response(
                    "Missing, unknown, malformed, expired or revoked key: one body for all",
                )
                .header("WWW-Authenticate", string_header("`Bearer`"))
                .build(),
            )
        });
    }
    if op.request_body.is_some() {
        responses.entry("413".into()).or_insert_with(|| {
            RefOr::T(
                error_response(&format!(
                    "The body is over {MAX_BODY_BYTES} bytes (refused before it is read)"
                ))
                .build(),
            )
        });
    }
    responses.entry("429".into()).or_insert_with(|| {
        RefOr::T(
            json_response(
                "A rate limit is exhausted (the plan's, the route's, or failed \
                 authentications from this address)",
                RateLimitedBody::name().as_ref(),
            )
            .header(
                "Retry-After",
                integer_header("Seconds until a retry can pass"),
            )
            .build(),
        )
    });
    responses.entry("503".into()).or_insert_with(|| {
        RefOr::T(
            error_response("A dependency is saturated or down; retry shortly")
                .header("Retry-After", integer_header("Seconds to wait"))
                .build(),
        )
    });
    // Every answer of a limited route describes the limit closest to exhaustion
    // (absent when no limit applied, e.g. a 401 answered before the limiter).
    for response in responses.values_mut() {
        if let RefOr::T(response) = response {
            add_rate_limit_headers(response);
        }
    }
}

/// An absent parameter is absent, never `null`: `T | null` becomes `T`.
fn never_null(parameter: &mut Parameter) {
    if let Some(RefOr::T(Schema::Object(object))) = &mut parameter.schema {
        if let SchemaType::Array(types) = &object.schema_type {
            let kept: Vec<Type> = types
                .iter()
                .filter(|t| **t != Type::Null)
                .cloned()
                .collect();
            if let [only] = kept.as_slice() {
                object.schema_type = SchemaType::Type(only.clone());
            }
        }
    }
}

/// Every answer of a limited route refers to the rate-limit headers.
fn add_rate_limit_headers(response: &mut Response) {
    for (name, _) in rate_limit_headers() {
        response
            .headers
            .entry(name.into())
            .or_insert_with(|| RefOr::Ref(Ref::new(format!("#/components/headers/{name}"))));
    }
}

/// The `X-RateLimit-*` and IETF `RateLimit`/`RateLimit-Policy` headers.
fn rate_limit_headers() -> [(&'static str, Header); 5] {
    [
        (
            "X-RateLimit-Limit",
            integer_header("Requests allowed in the window of the limit closest to exhaustion"),
        ),
        (
            "X-RateLimit-Remaining",
            integer_header("Requests left in that window"),
        ),
        (
            "X-RateLimit-Reset",
            integer_header("When that window has room again (epoch seconds)"),
        ),
        (
            "RateLimit-Policy",
            string_header("Every limit of the request: `\"name\";q=N;w=SECONDS`, comma-separated"),
        ),
        (
            "RateLimit",
            string_header("The limit closest to exhaustion: `\"name\";r=REMAINING;t=SECONDS`"),
        ),
    ]
}

/// A response whose JSON body is the schema `schema` of the components.
pub fn json_response(description: &str, schema: &str) -> ResponseBuilder {
    Response::builder().description(description).content(
        "application/json",
        Content::new(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
            schema,
        )))),
    )
}

/// A response with the [`ErrorBody`].
pub fn error_response(description: &str) -> ResponseBuilder {
    json_response(description, ErrorBody::name().as_ref())
}

/// A header whose value is a non-negative integer.
pub fn integer_header(description: &str) -> Header {
    let schema: Schema = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(0))
        .into();
    Header::builder()
        .schema(Some(schema))
        .description(Some(description))
        .build()
}

/// A header whose value is a string.
pub fn string_header(description: &str) -> Header {
    Header::builder()
        .schema(Some(String::schema()))
        .description(Some(description))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::error::ApiError;

    #[test]
    fn every_error_body_has_the_documented_shape() {
        let plain = [
            ApiError::bad_request("q", "q must be 1 to 100 characters"),
            ApiError::Unauthorized("missing or invalid API key".into()),
            ApiError::not_found("no product with id 9"),
            ApiError::Conflict {
                code: "insufficient_stock",
                detail: "product 1: 3 requested, 0 in stock".into(),
            },
            ApiError::Unprocessable {
                code: "idempotency_key_reused",
                detail: "reused".into(),
            },
            ApiError::Unavailable {
                detail: "database saturated".into(),
                retry_after_secs: 1,
            },
            ApiError::internal("boom"),
        ];
        for e in plain {
            let body: ErrorBody = serde_json::from_str(&e.body()).expect("an ErrorBody");
            assert_eq!(body.error, e.code());
        }
        let limited = ApiError::RateLimited {
            detail: "plan limit".into(),
            retry_after_secs: 7,
        };
        let body: RateLimitedBody = serde_json::from_str(&limited.body()).expect("a 429 body");
        assert_eq!((body.error.as_str(), body.retry_after), ("rate_limited", 7));
    }
}
