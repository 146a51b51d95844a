//! The order API's OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]`
//! annotations and the `ToSchema` derives of the types they read and answer with,
//! completed with the kit's conventions (keys, limits, errors) and its operations
//! endpoints. Served by the kit at `/openapi.json`, browsable at `/docs`.

use crate::routes::{catalog, dashboard, export, login, orders, products, search};
use brisk_kit::http::docs::{self, ApiDocument, KitConventions};
use utoipa::openapi::OpenApi as Document;
use utoipa::OpenApi;

/// The order API's routes and their types.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "brisk order API",
        description = "An order-management API for business customers (tenants). Every `/api` \
            route but `/api/login` needs a key, as `Authorization: Bearer <key>` or \
            `X-API-Key: <key>`, and every query is scoped to the key's tenant (another \
            tenant's row is 404). Errors are `{\"error\": \"<code>\", \"detail\": \"<sentence>\"}`. \
            Every `/api` route is rate limited (by the tenant's plan; login per client \
            address; export per tenant): its answers carry `X-RateLimit-*`, a refusal is \
            429 with `Retry-After`. Timestamps are RFC 3339 UTC with microseconds; money \
            is integer cents."
    ),
    paths(
        login::login,
        catalog::catalog,
        products::list,
        products::show,
        products::summary,
        products::update,
        orders::list,
        orders::show,
        orders::create,
        search::search,
        export::export_csv,
        dashboard::dashboard,
    ),
    tags(
        (name = "session", description = "Login tokens"),
        (name = "products", description = "Catalog, product pages, summaries, search, updates"),
        (name = "orders", description = "Order lists, orders, ordering, export, dashboard"),
        (name = "operations", description = "Health, readiness, metrics, this document"),
    )
)]
struct OrderApiDoc;

/// The document: the order API's routes and the kit's operations endpoints, with
/// the kit's conventions (routes under `prefix` limited, and protected unless
/// `public`).
pub fn openapi(prefix: &str, public: &[&str]) -> Document {
    let mut document = OrderApiDoc::openapi();
    document.paths.paths.extend(docs::operations::paths().paths);
    utoipa::Modify::modify(&KitConventions { prefix, public }, &mut document);
    document
}

/// The document as the kit serves it.
pub fn document(prefix: &str, public: &[&str]) -> ApiDocument {
    ApiDocument::new(&openapi(prefix, public))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// Every route of API.md's endpoint table.
    const ROUTES: [(&str, &str); 17] = [
        ("get", "/health"),
        ("get", "/ready"),
        ("get", "/metrics"),
        ("get", "/openapi.json"),
        ("get", "/docs"),
        ("post", "/api/login"),
        ("get", "/api/catalog"),
        ("get", "/api/products"),
        ("get", "/api/products/{id}"),
        ("put", "/api/products/{id}"),
        ("get", "/api/products/{id}/summary"),
        ("get", "/api/orders"),
        ("get", "/api/orders/{id}"),
        ("post", "/api/orders"),
        ("get", "/api/search"),
        ("get", "/api/export.csv"),
        ("get", "/api/dashboard"),
    ];

    fn document() -> Value {
        serde_json::to_value(openapi("/api/", &["/api/login"])).unwrap()
    }

    fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
        let mut out = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                out.push((method.clone(), path.clone(), op));
            }
        }
        out
    }

    #[test]
    fn the_document_is_openapi_3_1_with_every_route_of_the_contract_and_no_other() {
        let doc = document();
        assert_eq!(doc["openapi"], "3.1.0");
        let mut documented: Vec<(String, String)> = operations(&doc)
            .into_iter()
            .map(|(m, p, _)| (m, p))
            .collect();
        let mut expected: Vec<(String, String)> = ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        documented.sort();
        expected.sort();
        assert_eq!(documented, expected);
        let schemes = &doc["components"]["securitySchemes"];
        assert_eq!(schemes["bearer"]["scheme"], "bearer");
        assert_eq!(schemes["api_key"]["in"], "header");
        assert_eq!(schemes["api_key"]["name"], "X-API-Key");
    }

    #[test]
    fn every_api_route_documents_its_key_its_limits_and_its_errors() {
        let doc = document();
        for (method, path, op) in operations(&doc) {
            let route = format!("{method} {path}");
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses.contains_key("400"),
                "{route}: a malformed query string is refused on every route"
            );
            if !path.starts_with("/api/") {
                assert!(op.get("security").is_none(), "{route} needs no key");
                assert!(!responses.contains_key("429"), "{route} is not limited");
                continue;
            }
            if path != "/api/login" {
                assert_eq!(
                    op["security"],
                    serde_json::json!([{"bearer": []}, {"api_key": []}]),
                    "{route}"
                );
            }
            let unauthorized = &responses["401"]["content"]["application/json"]["schema"];
            assert_eq!(
                unauthorized["$ref"], "#/components/schemas/Error",
                "{route}"
            );
            let limited = &responses["429"];
            assert_eq!(
                limited["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/RateLimitedError",
                "{route}"
            );
            assert!(limited["headers"]["Retry-After"].is_object(), "{route}");
            assert!(responses.contains_key("503"), "{route}");
            assert_eq!(
                responses.contains_key("413"),
                op.get("requestBody").is_some(),
                "{route}: 413 exactly when it takes a body"
            );
            for (status, response) in responses {
                for header in [
                    "X-RateLimit-Limit",
                    "X-RateLimit-Remaining",
                    "X-RateLimit-Reset",
                ] {
                    assert_eq!(
                        response["headers"][header]["$ref"],
                        format!("#/components/headers/{header}"),
                        "{route} {status} documents {header}"
                    );
                }
                if status.starts_with('4') || status.starts_with('5') {
                    let schema = &response["content"]["application/json"]["schema"]["$ref"];
                    assert!(
                        schema.as_str().is_some_and(|s| s.ends_with("Error")),
                        "{route} {status} answers an error body"
                    );
                }
            }
        }
        let error = &doc["components"]["schemas"]["RateLimitedError"];
        assert_eq!(
            error["required"],
            serde_json::json!(["error", "detail", "retry_after"])
        );
    }

    #[test]
    fn parameters_and_headers_of_the_contract_are_documented() {
        let doc = document();
        let params = |method: &str, path: &str| -> Vec<(String, String)> {
            doc["paths"][path][method]["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .map(|p| {
                            (
                                p["name"].as_str().unwrap().to_string(),
                                p["in"].as_str().unwrap().to_string(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let has = |method: &str, path: &str, name: &str, place: &str| {
            assert!(
                params(method, path).contains(&(name.to_string(), place.to_string())),
                "{method} {path}: {place} parameter {name}"
            );
        };
        for name in ["page", "per_page", "cursor", "limit", "status", "fields"] {
            has("get", "/api/orders", name, "query");
        }
        has("get", "/api/products", "page", "query");
        has("get", "/api/products", "per_page", "query");
        has("get", "/api/search", "q", "query");
        has("get", "/api/search", "limit", "query");
        has("get", "/api/catalog", "If-None-Match", "header");
        has("post", "/api/orders", "Idempotency-Key", "header");
        for path in [
            "/api/products/{id}",
            "/api/orders/{id}",
            "/api/products/{id}/summary",
        ] {
            has("get", path, "id", "path");
        }
        // An absent parameter is absent: never documented as `null`.
        for (_, _, op) in operations(&doc) {
            for p in op["parameters"].as_array().into_iter().flatten() {
                assert!(!p["schema"]["type"].is_array(), "{p}");
            }
        }
        let catalog = &doc["paths"]["/api/catalog"]["get"]["responses"];
        assert!(catalog["200"]["headers"]["ETag"].is_object());
        assert!(catalog["200"]["headers"]["Cache-Control"].is_object());
        assert!(catalog["304"]["headers"]["ETag"].is_object());
        let created = &doc["paths"]["/api/orders"]["post"]["responses"]["201"];
        assert!(created["headers"]["Idempotent-Replayed"].is_object());
        let export = &doc["paths"]["/api/export.csv"]["get"]["responses"]["200"];
        assert!(export["content"]["text/csv"].is_object());
    }
}
