//! Policies follow the route the router matched (API.md, "Hostile input"): every route
//! of API.md under many spellings of its path (percent-encoded letters and digits, `//`,
//! `/./`, `/../`, a trailing `/`, another case, `%2F`). Each spelling is either 404 with
//! and without a key (no handler, no limit), or authenticated and limited exactly like
//! the canonical path: the same status without a key, the same limits (`RateLimit-Policy`)
//! and the same bucket with one. Requests go over raw sockets: an HTTP client library
//! would normalize `/./` away before sending.

use crate::helpers::{key, product_ids, spawn_app, TestApp};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A response as read off the socket: status and headers (lowercase names).
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends one request with `target` exactly as given and reads the response head.
async fn raw(app: &TestApp, method: &str, target: &str, key: Option<&str>, body: &str) -> Raw {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .expect("connect");
    let mut head =
        format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    if let Some(k) = key {
        head.push_str(&format!("Authorization: Bearer {k}\r\n"));
    }
    if method == "POST" || method == "PUT" {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    head.push_str(body);
    stream.write_all(head.as_bytes()).await.expect("send");
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).await.expect("read");
    let text = String::from_utf8_lossy(&bytes);
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{method} {target}: no status line in {text:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Raw { status, headers }
}

/// `%XX` of a byte (upper- or lowercase hex).
fn pct(b: u8, upper: bool) -> String {
    if upper {
        format!("%{b:02X}")
    } else {
        format!("%{b:02x}")
    }
}

/// Other spellings of `path` (query kept as is).
fn spellings(target: &str) -> Vec<String> {
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, format!("?{q}")),
        None => (target, String::new()),
    };
    let segs: Vec<&str> = path.split('/').skip(1).collect();
    let join = |segs: &[String]| format!("/{}{query}", segs.join("/"));
    let owned: Vec<String> = segs.iter().map(|s| s.to_string()).collect();
    let mut out = Vec::new();
    for (i, seg) in segs.iter().enumerate() {
        // Each segment with its first letter or digit percent-encoded, both hex cases.
        if let Some(pos) = seg.bytes().position(|b| b.is_ascii_alphanumeric()) {
            for upper in [true, false] {
                let mut s = owned.clone();
                s[i] = format!(
                    "{}{}{}",
                    &seg[..pos],
                    pct(seg.as_bytes()[pos], upper),
                    &seg[pos + 1..]
                );
                out.push(join(&s));
            }
        }
        // Another case.
        if seg.bytes().any(|b| b.is_ascii_lowercase()) {
            let mut s = owned.clone();
            s[i] = seg.to_ascii_uppercase();
            out.push(join(&s));
        }
    }
    // Every letter of the path encoded.
    let all: Vec<String> = segs
        .iter()
        .map(|s| s.bytes().map(|b| pct(b, true)).collect())
        .collect();
    out.push(join(&all));
    let first = &owned[..1];
    let rest = &owned[1..];
    let with = |middle: &str| {
        if rest.is_empty() {
            format!("/{}{middle}{query}", first[0])
        } else {
            format!("/{}{middle}{}{query}", first[0], rest.join("/"))
        }
    };
    out.push(with("//"));
    out.push(with("/./"));
    out.push(with("/x/../"));
    out.push(with("%2F"));
    out.push(with("%2f"));
    out.push(format!("/{path}{query}"));
    out.push(format!("{path}/{query}"));
    out.push(format!("{path}%20{query}"));
    out.push(format!("{path}.{query}"));
    out
}

/// Whether a route needs a key.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Access {
    Open,
    Key,
    Login,
}

/// Every route of API.md (the kit's operations endpoints included).
fn routes(product: i64, order: i64) -> Vec<(&'static str, String, &'static str, Access)> {
    use Access::*;
    vec![
        ("GET", "/health".into(), "", Open),
        ("GET", "/ready".into(), "", Open),
        ("GET", "/metrics".into(), "", Open),
        ("GET", "/dashboard".into(), "", Open),
        (
            "POST",
            "/api/login".into(),
            r#"{"email":"admin@tenant4.example","password":"wrong"}"#,
            Login,
        ),
        ("GET", "/api/catalog".into(), "", Key),
        ("GET", "/api/products?page=1&per_page=2".into(), "", Key),
        ("GET", format!("/api/products/{product}"), "", Key),
        ("PUT", format!("/api/products/{product}"), "{}", Key),
        ("GET", format!("/api/products/{product}/summary"), "", Key),
        ("GET", "/api/orders?per_page=2".into(), "", Key),
        ("GET", format!("/api/orders/{order}"), "", Key),
        ("POST", "/api/orders".into(), "{}", Key),
        ("GET", "/api/search?q=a".into(), "", Key),
        ("GET", "/api/export.csv".into(), "", Key),
        ("GET", "/api/dashboard".into(), "", Key),
    ]
}

#[actix_web::test]
async fn every_spelling_of_every_route_is_404_or_authenticated_and_limited_like_the_canonical_path()
{
    let app = spawn_app().await;
    let mut db = app.db();
    let product = product_ids(&mut db, 4)[0];
    let order: Value = app.get_json("/api/orders?per_page=1", 4).await.1;
    let order = order["items"][0]["id"].as_i64().unwrap();
    let demo = key(4);
    let mut failures = Vec::new();
    for (method, canonical, body, access) in routes(product, order) {
        let plain = raw(&app, method, &canonical, None, body).await;
        let keyed = raw(&app, method, &canonical, Some(&demo), body).await;
        let policy = keyed.header("ratelimit-policy").map(str::to_string);
        match access {
            Access::Key => {
                assert_eq!(plain.status, 401, "{method} {canonical}");
                assert!(policy.is_some(), "{method} {canonical} is limited");
            }
            Access::Login => assert_eq!(plain.status, 401, "{method} {canonical}"),
            Access::Open => assert!(policy.is_none(), "{method} {canonical} is exempt"),
        }
        for spelled in spellings(&canonical) {
            let plain_s = raw(&app, method, &spelled, None, body).await;
            let keyed_s = raw(&app, method, &spelled, Some(&demo), body).await;
            let policy_s = keyed_s.header("ratelimit-policy").map(str::to_string);
            let what = format!("{method} {spelled} (for {canonical})");
            if plain_s.status == 404 || plain_s.status == 400 && access != Access::Login {
                // No handler (or a request line refused before routing): the same with a
                // key, and no limit charged.
                if keyed_s.status != plain_s.status || policy_s.is_some() {
                    failures.push(format!(
                        "{what}: {} without a key but {} {policy_s:?} with one",
                        plain_s.status, keyed_s.status
                    ));
                }
                continue;
            }
            // A wrong login is 401 until the login limit answers 429, whatever the spelling.
            let login_limited = access == Access::Login && plain_s.status == 429;
            if plain_s.status != plain.status && !login_limited {
                failures.push(format!(
                    "{what}: {} without a key, the canonical path answers {}",
                    plain_s.status, plain.status
                ));
            }
            if access == Access::Key {
                let (before, after) = (remaining(&keyed), remaining(&keyed_s));
                if policy_s != policy || keyed_s.status == 401 {
                    failures.push(format!(
                        "{what}: with a key {} and limits {policy_s:?}, the canonical path {} and {policy:?}",
                        keyed_s.status, keyed.status
                    ));
                } else if after >= before && keyed_s.status != 429 {
                    failures.push(format!(
                        "{what}: not charged to the tenant's bucket ({before} then {after})"
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `X-RateLimit-Remaining` of the plan bucket (the tenant's, shared by every route).
fn remaining(r: &Raw) -> u64 {
    r.header("ratelimit-policy")
        .and_then(|_| r.header("x-ratelimit-remaining"))
        .and_then(|v| v.parse().ok())
        .unwrap_or(u64::MAX)
}

#[actix_web::test]
async fn wrong_logins_under_other_spellings_share_the_login_limit_and_its_metrics_label() {
    let app = spawn_app().await;
    let body = r#"{"email":"admin@tenant1.example","password":"wrong"}"#;
    let mut statuses = Vec::new();
    for i in 0..8 {
        let target = ["/api/log%69n", "/api/%6Cogin", "/%61pi/login"][i % 3];
        statuses.push(raw(&app, "POST", target, None, body).await.status);
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429, 429]);
    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    let line = |route: &str| {
        metrics
            .lines()
            .find(|l| {
                l.starts_with("brisk_http_requests_total{")
                    && l.contains(&format!("route=\"{route}\""))
                    && l.contains("method=\"POST\"")
            })
            .map(str::to_string)
    };
    assert_eq!(
        line("/api/login").as_deref(),
        Some(r#"brisk_http_requests_total{method="POST",route="/api/login",status="4xx"} 8"#),
        "{metrics}"
    );
    assert_eq!(line("unmatched"), None, "{metrics}");
}
