//! The kit's operations endpoints as OpenAPI paths, for an application's document:
//! `/health`, `/ready`, `/metrics`, `/openapi.json` and `/docs` (no key, no limit).

use super::{DOCS_PATH, OPENAPI_PATH};
use utoipa::openapi::path::{HttpMethod, Operation, PathItem, Paths, PathsBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{Content, RefOr, Response, Schema};
use utoipa::PartialSchema;

/// The tag of the operations endpoints.
pub const TAG: &str = "operations";

/// A string property whose value is one of `values`.
fn one_of(values: &[&str]) -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values.iter().copied()))
        .into()
}

/// `{"status": ..., "db": ..., "redis": ...}` of `/ready`.
fn readiness(statuses: &[&str]) -> Schema {
    let mut object = ObjectBuilder::new().property("status", one_of(statuses));
    for part in ["db", "redis"] {
        object = object
            .property(part, one_of(&["ok", "error"]))
            .required(part);
    }
    object.required("status").into()
}

fn get(operation_id: &str, summary: &str, responses: Vec<(&str, Response)>) -> PathItem {
    let mut op = Operation::builder()
        .operation_id(Some(operation_id))
        .summary(Some(summary))
        .tag(TAG);
    for (status, response) in responses {
        op = op.response(status, response);
    }
    PathItem::new(HttpMethod::Get, op.build())
}

fn ok(description: &str, content_type: &str, schema: impl Into<RefOr<Schema>>) -> Response {
    Response::builder()
        .description(description)
        .content(content_type, Content::new(Some(schema)))
        .build()
}

/// The operations endpoints' paths.
pub fn paths() -> Paths {
    let health: Schema = ObjectBuilder::new()
        .property("status", one_of(&["ok"]))
        .required("status")
        .into();
    let any_object: Schema = ObjectBuilder::new().schema_type(Type::Object).into();
    PathsBuilder::new()
        .path(
            "/health",
            get(
                "health",
                "Liveness: the process is up (touches nothing)",
                vec![("200", ok("Up", "application/json", health))],
            ),
        )
        .path(
            "/ready",
            get(
                "ready",
                "Readiness, \"send this process traffic\": the database answers through the \
                 pool and the process is not draining (Redis is reported, not required)",
                vec![
                    (
                        "200",
                        ok("Ready", "application/json", readiness(&["ready"])),
                    ),
                    (
                        "503",
                        ok(
                            "Draining after SIGTERM, or the database does not answer",
                            "application/json",
                            readiness(&["draining", "unavailable"]),
                        ),
                    ),
                ],
            ),
        )
        .path(
            "/metrics",
            get(
                "metrics",
                "Prometheus text exposition format",
                vec![(
                    "200",
                    ok(
                        "The process's metrics",
                        "text/plain; version=0.0.4",
                        String::schema(),
                    ),
                )],
            ),
        )
        .path(
            OPENAPI_PATH,
            get(
                "openapi",
                "This document (OpenAPI 3.1)",
                vec![("200", ok("The document", "application/json", any_object))],
            ),
        )
        .path(
            DOCS_PATH,
            get(
                "docs",
                "A browsable page of this document (Swagger UI, served from the binary)",
                vec![("200", ok("The page", "text/html", String::schema()))],
            ),
        )
        .build()
}
