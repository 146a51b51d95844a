//! Hostile input (API.md "Hostile input"): NUL and invalid UTF-8 in strings, trailing
//! JSON, numeric ranges. Every answer is a 4xx naming the field, never a 5xx.

use crate::helpers::*;
use diesel::prelude::*;
use diesel::RunQueryDsl;
use serde_json::{json, Value};

/// Status and JSON body of a response.
async fn answer(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Asserts a 400 `bad_request` whose detail names `field`.
fn assert_names(got: &(u16, Value), field: &str, what: &str) {
    assert_eq!(got.0, 400, "{what}: {}", got.1);
    assert_eq!(got.1["error"], "bad_request", "{what}: {}", got.1);
    let detail = got.1["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains(field),
        "{what}: {detail:?} names no {field}"
    );
}

/// POSTs `body` verbatim as JSON.
async fn post_raw(
    app: &TestApp,
    path: &str,
    key: Option<&str>,
    body: &'static [u8],
    idempotency_key: Option<&str>,
) -> (u16, Value) {
    let mut req = app
        .client
        .post(app.url(path))
        .header("content-type", "application/json")
        .body(body);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    if let Some(k) = idempotency_key {
        req = req.header("Idempotency-Key", k);
    }
    answer(req.send().await.expect("request failed")).await
}

#[actix_web::test]
async fn nul_and_invalid_utf8_in_a_query_are_400_naming_the_parameter() {
    let app = spawn_app().await;
    for (path, field) in [
        ("/api/search?q=%00", "q"),
        ("/api/search?q=ab%00cd", "q"),
        ("/api/search?q=%FF", "q"),
        ("/api/search?q=%C3%28", "q"),
        ("/api/search?q=ok&limit=%00", "limit"),
        ("/api/orders?status=%00", "status"),
        ("/api/orders?cursor=%00", "cursor"),
        ("/api/orders?fields=id%00", "fields"),
        ("/api/products?page=1%00", "page"),
        // A route that reads no parameter still refuses them.
        ("/api/catalog?x=%00", "x"),
        ("/api/dashboard?x=%E2%82", "x"),
    ] {
        let got = answer(app.get(path, Some(&key(2))).await).await;
        assert_names(&got, field, path);
    }
    // Valid UTF-8 still works, percent-encoded or not.
    let (status, body) = app.get_json("/api/search?q=%C3%A9t%C3%A9", 2).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["q"], "été");
}

#[actix_web::test]
async fn nul_in_a_json_string_is_a_400_naming_the_field() {
    let app = spawn_app().await;
    let login = post_raw(
        &app,
        "/api/login",
        None,
        br#"{"email":"admin@tenant2.example\u0000","password":"password"}"#,
        None,
    )
    .await;
    assert_names(&login, "email", "login email");
    let login = post_raw(
        &app,
        "/api/login",
        None,
        br#"{"email":"admin@tenant2.example","password":"pass\u0000word"}"#,
        None,
    )
    .await;
    assert_names(&login, "password", "login password");
    let mut conn = app.db();
    let product = product_ids(&mut conn, 2)[0];
    let put = app
        .put_product(2, product, &json!({"name": "Nul\u{0}Name"}))
        .await;
    assert_names(&put, "name", "PUT name");
    // An escaped backslash followed by "u0000" is no NUL: accepted.
    let put = app
        .put_product(2, product, &json!({"name": "back\\u0000slash"}))
        .await;
    assert_eq!(put.0, 200, "{}", put.1);
    assert_eq!(put.1["name"], "back\\u0000slash");
}

#[actix_web::test]
async fn trailing_bytes_after_a_json_body_are_a_400() {
    let app = spawn_app().await;
    let mut conn = app.db();
    let customer = customer_ids(&mut conn, 2)[0];
    let product = product_ids(&mut conn, 2)[0];
    let before = order_count(&mut conn, 2);
    let body = format!(
        r#"{{"customer_id":{customer},"items":[{{"product_id":{product},"quantity":1}}]}}"#
    );
    for trailer in ["x", "{}", " {}", "\n1", "]"] {
        let raw: &'static [u8] = Box::leak(format!("{body}{trailer}").into_bytes().into());
        for idem in [None, Some(format!("trailing-{}", trailer.trim()))] {
            let got = post_raw(&app, "/api/orders", Some(&key(2)), raw, idem.as_deref()).await;
            assert_names(&got, "body", &format!("{trailer:?} key {idem:?}"));
        }
    }
    let login = post_raw(
        &app,
        "/api/login",
        None,
        br#"{"email":"admin@tenant2.example","password":"password"} x"#,
        None,
    )
    .await;
    assert_names(&login, "body", "login");
    // Trailing whitespace is fine.
    let raw: &'static [u8] = Box::leak(format!("{body} \r\n\t").into_bytes().into());
    let got = post_raw(&app, "/api/orders", Some(&key(2)), raw, Some("ws")).await;
    assert_eq!(got.0, 201, "{}", got.1);
    // Nothing was written by the refused requests.
    assert_eq!(order_count(&mut conn, 2), before + 1);
}

#[actix_web::test]
async fn a_body_that_is_not_a_json_object_is_a_400_that_names_no_server_type() {
    let app = spawn_app().await;
    let mut conn = app.db();
    let (customer, product) = (customer_ids(&mut conn, 2)[0], product_ids(&mut conn, 2)[0]);
    let before = order_count(&mut conn, 2);
    // serde reads a struct from an array too: `[customer, [[product, 1]]]` would be an order.
    let as_array: &'static [u8] =
        Box::leak(format!("[{customer},[[{product},1]]]").into_bytes().into());
    let nested: &'static [u8] = Box::leak(
        format!(r#"{{"customer_id":{customer},"items":[{product}]}}"#)
            .into_bytes()
            .into(),
    );
    for (path, key, body) in [
        ("/api/orders", Some(key(2)), as_array),
        ("/api/orders", Some(key(2)), &b"[]"[..]),
        ("/api/orders", Some(key(2)), &b"\"order\""[..]),
        ("/api/orders", Some(key(2)), nested),
        (
            "/api/login",
            None,
            &br#"["admin@tenant2.example","password"]"#[..],
        ),
    ] {
        let what = String::from_utf8_lossy(body).to_string();
        let got = post_raw(&app, path, key.as_deref(), body, None).await;
        assert_eq!(got.0, 400, "{what}: {}", got.1);
        let detail = got.1["detail"].as_str().unwrap_or_default();
        assert!(detail.contains("JSON object"), "{what}: {detail}");
        for internal in ["struct", "NewOrder", "Line", "Credentials", "Body"] {
            assert!(!detail.contains(internal), "{what}: {detail}");
        }
    }
    assert_eq!(
        order_count(&mut conn, 2),
        before,
        "no order from a refused body"
    );
}

fn order_count(conn: &mut diesel::PgConnection, tenant: i64) -> i64 {
    use brisk::db::schema::orders::dsl::*;
    orders
        .filter(tenant_id.eq(tenant))
        .count()
        .get_result(conn)
        .unwrap()
}

#[actix_web::test]
async fn page_and_per_page_are_bounded_naming_the_parameter() {
    let app = spawn_app().await;
    for (path, field) in [
        ("/api/products?page=1000001", "page"),
        ("/api/products?page=9223372036854775807", "page"),
        ("/api/products?per_page=1000001", "per_page"),
        ("/api/products?page=99999999999999999999", "page"),
        ("/api/orders?page=9223372036854775807", "page"),
        ("/api/orders?per_page=1000001", "per_page"),
        ("/api/orders?page=0", "page"),
        ("/api/search?q=a&limit=1000001", "limit"),
    ] {
        let got = answer(app.get(path, Some(&key(2))).await).await;
        assert_names(&got, field, path);
    }
    // The largest accepted values: per_page clamped, a page past the end is empty.
    let (status, body) = app
        .get_json("/api/products?page=1000000&per_page=1000000", 2)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["per_page"], 100);
    assert_eq!(body["items"], json!([]));
    let (status, body) = app.get_json("/api/orders?page=1000000", 2).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["items"], json!([]));
}

#[actix_web::test]
async fn prices_and_stock_are_bounded_and_the_largest_order_totals_exactly() {
    let app = spawn_app().await;
    let mut conn = app.db();
    let product = product_ids(&mut conn, 2)[0];
    let customer = customer_ids(&mut conn, 2)[0];
    for (body, field) in [
        (json!({"price_cents": 1_000_000_001_i64}), "price_cents"),
        (json!({"price_cents": i64::MAX}), "price_cents"),
        (json!({"price_cents": -1}), "price_cents"),
        (json!({"stock": 1_000_000_001_i64}), "stock"),
        (json!({"stock": i64::MAX}), "stock"),
        (json!({"stock": -1}), "stock"),
        (json!({"price_cents": 1e30}), "price_cents"),
    ] {
        let got = app.put_product(2, product, &body).await;
        assert_names(&got, field, &body.to_string());
    }
    // The largest price and quantity: a total of 10^12 cents, exact.
    let (status, body) = app
        .put_product(
            2,
            product,
            &json!({"price_cents": 1_000_000_000_i64, "stock": 1_000_000_000_i64}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, order) = app
        .post_order(
            2,
            &json!({"customer_id": customer, "items": [{"product_id": product, "quantity": 1000}]}),
            None,
        )
        .await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(order["total_cents"], 1_000_000_000_000_i64);
    let (status, summary) = app
        .get_json(&format!("/api/products/{product}/summary"), 2)
        .await;
    assert_eq!(status, 200, "{summary}");
    let (status, _) = app.get_json("/api/dashboard", 2).await;
    assert_eq!(status, 200);
    // A quantity past the line limit is refused by name.
    let (status, body) = app
        .post_order(
            2,
            &json!({"customer_id": customer, "items": [{"product_id": product, "quantity": 1001}]}),
            None,
        )
        .await;
    assert_names(&(status, body), "items[0].quantity", "quantity 1001");
}

#[actix_web::test]
async fn header_values_used_as_data_refuse_nul_and_non_ascii_without_a_5xx() {
    use brisk_testkit::raw::RawConn;
    let app = spawn_app().await;
    let body = br#"{"customer_id":1,"items":[{"product_id":1,"quantity":1}]}"#;
    let request = |value: &[u8]| {
        let mut r = format!(
            "POST /api/orders HTTP/1.1\r\nHost: brisk\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nIdempotency-Key: ",
            key(2),
            body.len()
        )
        .into_bytes();
        r.extend_from_slice(value);
        r.extend_from_slice(b"\r\n\r\n");
        r.extend_from_slice(body);
        r
    };
    // A NUL or another control byte in a header value: the HTTP parser refuses the
    // request before routing.
    for value in [&b"abc\0def"[..], b"a\x01b"] {
        let mut conn = RawConn::connect(app.port).await;
        conn.send(&request(value)).await;
        let resp = conn.response(std::time::Duration::from_secs(10)).await;
        assert_eq!(resp.map(|r| r.status), Some(400), "{value:?}");
    }
    // Bytes a header may carry but a key may not: a 400 naming the header.
    for value in [&b"caf\xc3\xa9"[..], b"tab\there"] {
        let mut conn = RawConn::connect(app.port).await;
        conn.send(&request(value)).await;
        let resp = conn
            .response(std::time::Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(resp.status, 400, "{value:?}");
        let detail = resp.json()["detail"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(detail.contains("Idempotency-Key"), "{value:?}: {detail}");
    }
}

/// Within the accepted ranges no order total can overflow (10^9 cents × 1,000 × 50
/// lines < 2^63), so the 422 of an impossible total is proved on its mapping; the
/// checked arithmetic itself is `domain::ordering`'s unit test.
#[test]
fn an_impossible_total_is_a_422_total_out_of_range() {
    use brisk::domain::ordering::OrderRejection;
    use brisk_kit::http::error::ApiError;
    let answer = ApiError::from(OrderRejection::TotalOverflow);
    assert_eq!(answer.status().as_u16(), 422);
    let body: Value = serde_json::from_str(&answer.body()).unwrap();
    assert_eq!(body["error"], "total_out_of_range");
    assert!(1_000_000_000_i64
        .checked_mul(1_000)
        .and_then(|line| line.checked_mul(50))
        .is_some());
}
