//! Order-writing scenarios: the oversell race (13), Idempotency-Key retries (12)
//! and clients that vanish while their order's transaction waits (8).

use super::{client, flags, high_limits, metric, Env};
use crate::harness::db::{self, RowLock};
use crate::harness::load::{self, Kind, Sample, Stats};
use crate::harness::procs::Brisk;
use crate::harness::report::Row;
use crate::harness::{blocking, key, raw, wait_until, TENANT};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// 13: 100 parallel orders of one unit on a product with stock 10.
pub async fn s13() -> Row {
    let env = Env::new(13).await;
    let mut row = Row::new(
        13,
        "oversell race",
        "100 parallel POST /api/orders of 1 unit",
        "one product with stock 10",
    );
    let product = env.products[0];
    env.sql(&format!(
        "UPDATE products SET stock = 10 WHERE id = {product}"
    ))
    .await;
    let after = env.int("SELECT coalesce(max(id), 0) FROM orders").await;
    let mut extra = high_limits();
    extra.extend(flags(&["--pool-size", "16"]));
    let brisk = Brisk::start(&env.dir, "brisk", &env.shared(), &extra);
    let http = client();
    let clock = Instant::now();
    let sends = (0..100).map(|i| {
        let body = json!({
            "customer_id": env.customers[i % env.customers.len()],
            "items": [{"product_id": product, "quantity": 1}]
        });
        let req = http
            .post(brisk.url("/api/orders"))
            .bearer_auth(key(TENANT))
            .json(&body);
        load::send(req, Kind::Write, "POST /api/orders", clock)
    });
    let samples = futures_util::future::join_all(sends).await;
    row.stats = Stats::of(&samples);
    let created = samples.iter().filter(|s| s.status == 201).count();
    let conflicts = samples.iter().filter(|s| s.status == 409).count();
    let stock = env
        .int(&format!("SELECT stock FROM products WHERE id = {product}"))
        .await;
    let orders = env
        .int(&format!(
            "SELECT count(DISTINCT order_id) FROM order_items WHERE product_id = {product}
               AND order_id > {after}"
        ))
        .await;
    let db_name = env.db.clone();
    let half = blocking(move || db::half_written_orders(&db_name, after)).await;
    row.data = format!(
        "{created}×201, {conflicts}×409; stock {stock}; {orders} orders in the database, {half} half-written"
    );
    row.check(created == 10, format!("{created} × 201, not 10"));
    row.check(orders == 10, format!("{orders} orders written, not 10"));
    row.check(stock == 0, format!("stock {stock}, not 0"));
    row.check(
        created + conflicts == 100,
        format!("{} answers neither 201 nor 409", 100 - created - conflicts),
    );
    row.check(half == 0, format!("{half} half-written orders"));
    drop(brisk);
    row
}

/// A POST /api/orders with an idempotency key; (status, JSON body).
async fn post_keyed(http: &reqwest::Client, brisk: &Brisk, body: &Value, k: &str) -> (u16, Value) {
    match http
        .post(brisk.url("/api/orders"))
        .bearer_auth(key(TENANT))
        .header("Idempotency-Key", k)
        .json(body)
        .send()
        .await
    {
        Ok(resp) => {
            let status = resp.status().as_u16();
            (status, resp.json().await.unwrap_or(Value::Null))
        }
        Err(_) => (0, Value::Null),
    }
}

fn in_flight(answer: &(u16, Value)) -> bool {
    answer.0 == 409 && answer.1["error"] == "idempotency_in_flight"
}

/// 12: one key retried after the client dropped its first request (×5, at
/// different moments), and one key sent 50 times at once.
pub async fn s12() -> Row {
    let env = Env::new(12).await;
    let mut row = Row::new(
        12,
        "Idempotency-Key retries",
        "5 keys: first request dropped by the client, then retried; 1 key × 50 in parallel",
        "client drops the first response (after 0–200 ms)",
    );
    let product = env.products[1];
    env.sql(&format!(
        "UPDATE products SET stock = 100000 WHERE id = {product}"
    ))
    .await;
    let after = env.int("SELECT coalesce(max(id), 0) FROM orders").await;
    let brisk = Brisk::start(&env.dir, "brisk", &env.shared(), &high_limits());
    let http = client();
    let mut answers: Vec<u16> = Vec::new();
    let drops = [0u64, 5, 20, 50, 200];
    for (i, delay) in drops.iter().enumerate() {
        let k = format!("drop-{i}");
        let body = json!({"customer_id": env.customers[i],
                          "items": [{"product_id": product, "quantity": 1}]});
        let bytes = raw::request(
            "POST",
            brisk.port,
            "/api/orders",
            &key(TENANT),
            &[("Idempotency-Key", &k)],
            Some(&body.to_string()),
        );
        let sent = raw::send_and_drop(brisk.port, &bytes, Duration::from_millis(*delay)).await;
        row.check(sent.is_ok(), format!("key {k}: could not send"));
        let start = Instant::now();
        let mut first = (0, Value::Null);
        while start.elapsed() < Duration::from_secs(15) {
            first = post_keyed(&http, &brisk, &body, &k).await;
            answers.push(first.0);
            if !in_flight(&first) && first.0 != 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        row.check(
            !in_flight(&first),
            format!(
                "key dropped after {delay} ms: still 409 in flight {:.0} s later",
                start.elapsed().as_secs_f64()
            ),
        );
        row.check(
            first.0 == 201,
            format!("key dropped after {delay} ms: retry answered {}", first.0),
        );
        for _ in 0..3 {
            let again = post_keyed(&http, &brisk, &body, &k).await;
            answers.push(again.0);
            row.check(
                again == first,
                format!("key dropped after {delay} ms: a replay differs from the first answer"),
            );
        }
    }
    parallel_key(&env, &brisk, &http, product, &mut row, &mut answers).await;
    let per_customer = env
        .sql(&format!(
            "SELECT customer_id, count(*) FROM orders WHERE id > {after} GROUP BY customer_id ORDER BY 1"
        ))
        .await;
    let counts: Vec<i64> = per_customer
        .lines()
        .filter_map(|l| l.split('|').nth(1)?.parse().ok())
        .collect();
    row.check(
        counts.len() == drops.len() + 1 && counts.iter().all(|&c| c == 1),
        format!("orders per key (customer): {per_customer:?}, want 6 × 1"),
    );
    row.data = format!("orders per key: {:?}", counts);
    row.stats.requests = answers.len();
    row.stats.non_2xx = answers
        .iter()
        .filter(|&&s| !(200..300).contains(&s))
        .count();
    row.stats.five_xx = answers.iter().filter(|&&s| s >= 500 || s == 0).count();
    drop(brisk);
    row
}

/// The 50-at-once half of 12: every answer is the first 201 or 409 in flight;
/// every answer after completion is identical to the first.
async fn parallel_key(
    env: &Env,
    brisk: &Brisk,
    http: &reqwest::Client,
    product: i64,
    row: &mut Row,
    answers: &mut Vec<u16>,
) {
    let k = "parallel";
    let body = json!({"customer_id": env.customers[10],
                      "items": [{"product_id": product, "quantity": 1}]});
    let all =
        futures_util::future::join_all((0..50).map(|_| post_keyed(http, brisk, &body, k))).await;
    answers.extend(all.iter().map(|a| a.0));
    let created: Vec<&(u16, Value)> = all.iter().filter(|a| a.0 == 201).collect();
    let others = all.iter().filter(|a| a.0 != 201 && !in_flight(a)).count();
    row.check(
        others == 0,
        format!("parallel: {others} answers neither 201 nor 409 in flight"),
    );
    row.check(
        created.windows(2).all(|w| w[0] == w[1]),
        "parallel: two 201 answers differ",
    );
    let mut first = created.first().map(|a| (*a).clone());
    let deadline = Instant::now() + Duration::from_secs(10);
    while first.is_none() && Instant::now() < deadline {
        let a = post_keyed(http, brisk, &body, k).await;
        if in_flight(&a) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        } else {
            first = Some(a);
        }
    }
    let Some(first) = first else {
        row.check(false, "parallel: no final answer within 10 s");
        return;
    };
    for _ in 0..3 {
        let again = post_keyed(http, brisk, &body, k).await;
        answers.push(again.0);
        row.check(
            again == first,
            "parallel: a replay differs from the first answer",
        );
    }
}

/// 8: 200 clients close their socket while their order waits on a row lock the
/// test holds inside the order's transaction; then the lock is released.
pub async fn s08() -> Row {
    let env = Env::new(8).await;
    let mut row = Row::new(
        8,
        "clients vanish mid-order",
        "200 raw POST /api/orders (pool 16)",
        "every client closes its socket while its order waits on a row lock",
    );
    let product = env.products[2];
    env.sql(&format!(
        "UPDATE products SET stock = 100000 WHERE id = {product}"
    ))
    .await;
    let db_name = env.db.clone();
    let (after, before) = blocking(move || {
        (
            db::max_order_id(&db_name),
            db::stock_snapshot(&db_name, TENANT),
        )
    })
    .await;
    let mut extra = high_limits();
    extra.extend(flags(&[
        "--pool-size",
        "16",
        "--pool-acquire-timeout-ms",
        "10000",
    ]));
    let brisk = Brisk::start(&env.dir, "brisk", &env.shared(), &extra);
    let db_name = env.db.clone();
    let lock = blocking(move || RowLock::product(&db_name, product)).await;
    let mut streams = Vec::new();
    for i in 0..200 {
        let body = json!({"customer_id": env.customers[i % env.customers.len()],
                          "items": [{"product_id": product, "quantity": 1}]});
        let bytes = raw::request(
            "POST",
            brisk.port,
            "/api/orders",
            &key(TENANT),
            &[],
            Some(&body.to_string()),
        );
        if let Ok(s) = raw::send(brisk.port, &bytes).await {
            streams.push(s);
        }
    }
    row.check(
        streams.len() == 200,
        format!("only {} of 200 clients connected", streams.len()),
    );
    let db_name = env.db.clone();
    let waiting = wait_until(Duration::from_secs(15), || {
        let d = db_name.clone();
        async move { blocking(move || db::lock_waiters(&d).len()).await >= 16 }
    })
    .await;
    row.check(waiting.is_some(), "16 orders never waited on the lock");
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(streams);
    tokio::time::sleep(Duration::from_millis(300)).await;
    blocking(move || lock.release()).await;
    let http = client();
    let db_name = env.db.clone();
    let settled = wait_until(Duration::from_secs(10), || {
        let d = db_name.clone();
        let http = http.clone();
        let base = brisk.base.clone();
        async move {
            let busy = blocking(move || {
                db::sessions_in_state(&d, "idle in transaction%")
                    + db::sessions_in_state(&d, "active")
            })
            .await;
            let in_use = metric(&http, &base, "brisk_pool_in_use_connections{pool=\"db\"}").await;
            busy == 0 && in_use == Some(0.0)
        }
    })
    .await;
    row.check(
        settled.is_some(),
        "pool or database not idle 10 s after the lock was released",
    );
    let db_name = env.db.clone();
    let (half, stock, idle_tx, committed) = blocking(move || {
        (
            db::half_written_orders(&db_name, after),
            db::stock_mismatches(&db_name, &before, after),
            db::sessions_in_state(&db_name, "idle in transaction%"),
            db::max_order_id(&db_name) - after,
        )
    })
    .await;
    let probe_body = json!({"customer_id": env.customers[0],
                            "items": [{"product_id": product, "quantity": 1}]});
    let probe = load::send(
        http.post(brisk.url("/api/orders"))
            .bearer_auth(key(TENANT))
            .json(&probe_body),
        Kind::Write,
        "POST /api/orders",
        Instant::now(),
    )
    .await;
    row.stats = Stats::of(std::slice::from_ref::<Sample>(&probe));
    row.data = format!(
        "{committed} of 200 orders committed, {half} half-written; stock mismatches {}; idle in transaction {idle_tx}; settled in {}",
        stock.len(),
        settled.map(|d| format!("{} ms", d.as_millis())).unwrap_or_else(|| "> 10 s".into())
    );
    row.check(half == 0, format!("{half} half-written orders"));
    row.check(
        stock.is_empty(),
        format!("stock disagrees: {}", stock.join(", ")),
    );
    row.check(
        idle_tx == 0,
        format!("{idle_tx} sessions idle in transaction"),
    );
    row.check(
        probe.status == 201,
        format!("an order afterwards answered {}", probe.status),
    );
    drop(brisk);
    row
}
