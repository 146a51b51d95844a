//! The OpenAPI document and its page on a real server: `/openapi.json` is served
//! without a key and outside every limit, each documented operation exists on the
//! router and answers one of its documented statuses, and `/docs` renders the
//! document in headless chromium from assets the binary serves itself (chromium runs
//! with no network beyond the test server). With `--admin-bind` both move to the
//! operations listener.

use crate::helpers::{key, product_ids, spawn_app, spawn_app_with, TestApp};
use crate::metrics::{artifacts_dir, run_chromium};
use reqwest::Method;
use serde_json::{json, Value};

async fn document(app: &TestApp) -> Value {
    let resp = app.get("/openapi.json", None).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert!(
        resp.headers().get("x-ratelimit-limit").is_none(),
        "an operations endpoint is not limited"
    );
    resp.json().await.expect("the document is JSON")
}

/// A first order id of tenant 2.
fn order_id(app: &TestApp) -> i64 {
    use brisk::db::schema::orders::dsl::*;
    use diesel::prelude::*;
    orders
        .filter(tenant_id.eq(2))
        .select(id)
        .order(id)
        .first(&mut app.db())
        .expect("a seeded order")
}

#[actix_web::test]
async fn every_documented_operation_exists_and_answers_a_documented_status() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    assert_eq!(doc["openapi"], "3.1.0");
    let product = product_ids(&mut app.db(), 2)[0];
    let order = order_id(&app);
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = if path.starts_with("/api/orders/") {
                order
            } else {
                product
            };
            let concrete = path.replace("{id}", &id.to_string());
            let url = match path.as_str() {
                "/api/search" => format!("{concrete}?q=a"),
                _ => concrete,
            };
            let body = match (method.as_str(), path.as_str()) {
                ("post", "/api/login") => {
                    Some(json!({"email": "admin@tenant2.example", "password": "password"}))
                }
                ("put", _) => Some(json!({"stock": 500})),
                ("post", "/api/orders") => Some(json!({
                    "customer_id": customer_of_tenant_2(&app),
                    "items": [{"product_id": product, "quantity": 1}]
                })),
                _ => None,
            };
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let resp = app
                .request(method.clone(), &url, Some(&key(2)), body.as_ref())
                .await;
            let status = resp.status().as_u16().to_string();
            let answer: Value = resp.json().await.unwrap_or(Value::Null);
            assert!(
                op["responses"].get(&status).is_some(),
                "{method} {url}: {status} is not documented ({answer})"
            );
            assert!(
                status.starts_with('2'),
                "{method} {url} answers {status}: {answer}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 17, "every route of API.md");
}

fn customer_of_tenant_2(app: &TestApp) -> i64 {
    use brisk::db::schema::customers::dsl::*;
    use diesel::prelude::*;
    customers
        .filter(tenant_id.eq(2))
        .select(id)
        .order(id)
        .first(&mut app.db())
        .expect("a seeded customer")
}

#[actix_web::test]
async fn the_docs_page_and_its_assets_are_served_without_a_key() {
    let app = spawn_app().await;
    let page = app.get("/docs", None).await;
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = page.text().await.unwrap();
    assert!(html.contains("<base href=\"/docs/\">"), "{html}");
    for (asset, kind) in [
        ("swagger-ui.css", "text/css"),
        ("swagger-ui-bundle.js", "javascript"),
        ("swagger-ui-standalone-preset.js", "javascript"),
        ("swagger-initializer.js", "javascript"),
    ] {
        assert!(html.contains(asset), "the page links {asset}");
        let resp = app.get(&format!("/docs/{asset}"), None).await;
        assert_eq!(resp.status(), 200, "{asset}");
        let content_type = resp.headers()["content-type"].to_str().unwrap().to_string();
        assert!(content_type.contains(kind), "{asset}: {content_type}");
        let body = resp.text().await.unwrap();
        if asset == "swagger-initializer.js" {
            assert!(body.contains("\"/openapi.json\""), "{body}");
        }
    }
    let missing = app.get("/docs/nope.js", None).await;
    assert_eq!(missing.status(), 404);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["error"], "not_found");
}

#[actix_web::test]
async fn the_docs_page_renders_every_operation_in_a_headless_browser() {
    let app = spawn_app().await;
    let dom = run_chromium(&["--dump-dom".into(), app.url("/docs")]).await;
    std::fs::write(artifacts_dir().join("docs.html"), &dom).unwrap();
    assert!(dom.contains("brisk order API"), "the title is rendered");
    for path in [
        "/api/login",
        "/api/catalog",
        "/api/products/{id}/summary",
        "/api/orders",
        "/api/export.csv",
        "/health",
    ] {
        assert!(
            dom.contains(&format!("data-path=\"{path}\"")),
            "Swagger UI lists {path}"
        );
    }
}

#[actix_web::test]
async fn with_admin_bind_the_document_and_its_page_move_to_the_operations_listener() {
    let app = spawn_app_with(|a| a.server.admin_bind = Some("127.0.0.1:0".parse().unwrap())).await;
    let admin = format!(
        "http://127.0.0.1:{}",
        app.admin_port.expect("an admin port")
    );
    for path in ["/openapi.json", "/docs", "/docs/swagger-ui.css"] {
        let on_admin = app
            .client
            .get(format!("{admin}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(on_admin.status(), 200, "{path} on the operations listener");
        assert_eq!(
            app.get(path, None).await.status(),
            404,
            "{path} not on the API listener"
        );
    }
}
