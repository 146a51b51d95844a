//! Order-writing scenarios: the oversell race (13), Idempotency-Key retries (12)
//! and clients that vanish while their order's transaction waits (8).

use super::{client, flags, high_limits, metric, Env};
use crate::harness::db::{self, RowLock};
use crate::harness::load::{self, Kind, Sample, Stats};
use crate::harness::report::Row;
use crate::harness::{blocking, brisk_bin, key, sockets, TENANT};
use brisk_testkit::brisk::Brisk;
use brisk_testkit::raw;
use brisk_testkit::wait::wait_until;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

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
    let brisk = Brisk::start(brisk_bin(), &env.dir, "brisk", &env.shared(), &extra);
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

/// The first request of key `k` sent raw and its socket closed after `delay`; then
/// retried (409 in flight retried for up to 15 s) and replayed 3 times. Checks the
/// retry answers 201, never stays in flight, and every replay is identical.
async fn drop_first_then_retry(
    brisk: &Brisk,
    http: &reqwest::Client,
    k: &str,
    body: &Value,
    delay: u64,
    row: &mut Row,
    answers: &mut Vec<u16>,
) {
    let bytes = raw::request(
        "POST",
        brisk.port,
        "/api/orders",
        &key(TENANT),
        &[("Idempotency-Key", k)],
        Some(&body.to_string()),
    );
    let sent = raw::send_and_drop(brisk.port, &bytes, Duration::from_millis(delay)).await;
    row.check(sent.is_ok(), format!("key {k}: could not send"));
    let start = Instant::now();
    let mut first = (0, Value::Null);
    while start.elapsed() < Duration::from_secs(15) {
        first = post_keyed(http, brisk, body, k).await;
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
        let again = post_keyed(http, brisk, body, k).await;
        answers.push(again.0);
        row.check(
            again == first,
            format!("key dropped after {delay} ms: a replay differs from the first answer"),
        );
    }
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
    let brisk = Brisk::start(
        brisk_bin(),
        &env.dir,
        "brisk",
        &env.shared(),
        &high_limits(),
    );
    let http = client();
    let mut answers: Vec<u16> = Vec::new();
    let drops = [0u64, 5, 20, 50, 200];
    for (i, delay) in drops.iter().enumerate() {
        let k = format!("drop-{i}");
        let body = json!({"customer_id": env.customers[i],
                          "items": [{"product_id": product, "quantity": 1}]});
        drop_first_then_retry(&brisk, &http, &k, &body, *delay, &mut row, &mut answers).await;
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

/// Orders scenario 8 sends, one per client.
const VANISHING: usize = 200;

/// Requests brisk is handling right now, the `/metrics` scrape that asks excluded.
async fn requests_in_flight(http: &reqwest::Client, brisk: &Brisk) -> Option<f64> {
    let n = metric(http, &brisk.base, "brisk_http_requests_in_flight").await?;
    Some(n - 1.0)
}

/// Raises the product's stock out of the way; the highest order id and the stock
/// snapshot before the orders.
async fn prepare_vanishing_orders(env: &Env, product: i64) -> (i64, Vec<(i64, i64)>) {
    env.sql(&format!(
        "UPDATE products SET stock = 100000 WHERE id = {product}"
    ))
    .await;
    let db_name = env.db.clone();
    blocking(move || {
        (
            db::max_order_id(&db_name),
            db::stock_snapshot(&db_name, TENANT),
        )
    })
    .await
}

/// Writes [`VANISHING`] raw orders of one unit of `product`, each on its own
/// connection, and reads nothing back; the open sockets.
async fn send_orders_without_reading(env: &Env, brisk: &Brisk, product: i64) -> Vec<TcpStream> {
    let mut streams = Vec::new();
    for i in 0..VANISHING {
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
    streams
}

/// Waits until 16 orders wait on the test's lock (the pool's connections are all in
/// transactions) and every order is being handled by the server, so the clients
/// vanish mid-order, not before the server read their requests.
async fn wait_for_orders_in_the_server(env: &Env, brisk: &Brisk, row: &mut Row) {
    let db_name = env.db.clone();
    let waiting = wait_until(Duration::from_secs(15), || {
        let d = db_name.clone();
        async move { blocking(move || db::lock_waiters(&d).len()).await >= 16 }
    })
    .await;
    row.check(waiting.is_some(), "16 orders never waited on the lock");
    let http = client();
    let all_in = wait_until(Duration::from_secs(10), || async {
        requests_in_flight(&http, brisk)
            .await
            .is_some_and(|n| n >= VANISHING as f64)
    })
    .await;
    row.check(
        all_in.is_some(),
        format!(
            "the server was not handling all {VANISHING} orders 10 s after they were sent (in flight: {:?})",
            requests_in_flight(&http, brisk).await
        ),
    );
}

/// Closes every client socket while the lock still holds every order, and proves
/// the server saw each close before any order committed: each of brisk's sockets
/// for these clients reaches CLOSE_WAIT (its kernel took the client's FIN; brisk
/// has yet to answer) while no new order is in the database and every order is
/// still in flight. The seconds it took, for the report.
async fn vanish_and_check_the_server_saw_it(
    env: &Env,
    brisk: &Brisk,
    streams: Vec<TcpStream>,
    after: i64,
    row: &mut Row,
) -> String {
    let clients: BTreeSet<u16> = streams
        .iter()
        .filter_map(|s| s.local_addr().ok().map(|a| a.port()))
        .collect();
    let (pid, port) = (brisk.pid(), brisk.port);
    let server_states = move || -> Vec<u8> {
        sockets::sockets_of(pid)
            .into_iter()
            .filter(|s| s.local == port && clients.contains(&s.remote))
            .map(|s| s.state)
            .collect()
    };
    let open = server_states()
        .iter()
        .filter(|&&s| s == sockets::ESTABLISHED)
        .count();
    row.check(
        open == VANISHING,
        format!("brisk held {open} of {VANISHING} client connections open before they closed"),
    );
    drop(streams);
    let seen = wait_until(Duration::from_secs(5), || {
        let states = server_states.clone();
        async move {
            let closed = blocking(states).await;
            closed.len() == VANISHING && closed.iter().all(|&s| s == sockets::CLOSE_WAIT)
        }
    })
    .await;
    let in_close_wait = server_states()
        .iter()
        .filter(|&&s| s == sockets::CLOSE_WAIT)
        .count();
    let d = env.db.clone();
    let committed = blocking(move || db::max_order_id(&d) - after).await;
    let in_flight = requests_in_flight(&client(), brisk).await;
    row.check(
        seen.is_some(),
        format!("only {in_close_wait} of brisk's {VANISHING} client sockets in CLOSE_WAIT 5 s after the clients closed: the server did not see them go"),
    );
    row.check(
        committed == 0 && in_flight.is_some_and(|n| n >= VANISHING as f64),
        format!("the disconnects were not all seen mid-order: {committed} orders committed, {in_flight:?} requests in flight"),
    );
    format!(
        "{in_close_wait} of {VANISHING} disconnects seen by brisk (CLOSE_WAIT) with {committed} orders committed and {} in flight",
        in_flight.unwrap_or(0.0)
    )
}

/// Waits until no session of brisk's is idle in transaction or active and its pool
/// has nothing checked out; how long it took.
async fn settle(env: &Env, brisk: &Brisk) -> Option<Duration> {
    let http = client();
    let db_name = env.db.clone();
    wait_until(Duration::from_secs(10), || {
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
    .await
}

/// Every order whole, stock agreeing with the units ordered, nothing idle in
/// transaction; the data column.
async fn check_vanished_orders(
    env: &Env,
    row: &mut Row,
    before: Vec<(i64, i64)>,
    after: i64,
) -> String {
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
    row.check(half == 0, format!("{half} half-written orders"));
    row.check(
        stock.is_empty(),
        format!("stock disagrees: {}", stock.join(", ")),
    );
    row.check(
        idle_tx == 0,
        format!("{idle_tx} sessions idle in transaction"),
    );
    format!(
        "{committed} of {VANISHING} orders committed, {half} half-written; stock mismatches {}; idle in transaction {idle_tx}",
        stock.len()
    )
}

/// One order afterwards is placed (201).
async fn check_a_new_order_is_placed(env: &Env, brisk: &Brisk, product: i64, row: &mut Row) {
    let probe_body = json!({"customer_id": env.customers[0],
                            "items": [{"product_id": product, "quantity": 1}]});
    let probe = load::send(
        client()
            .post(brisk.url("/api/orders"))
            .bearer_auth(key(TENANT))
            .json(&probe_body),
        Kind::Write,
        "POST /api/orders",
        Instant::now(),
    )
    .await;
    row.stats = Stats::of(std::slice::from_ref::<Sample>(&probe));
    row.check(
        probe.status == 201,
        format!("an order afterwards answered {}", probe.status),
    );
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
    let (after, before) = prepare_vanishing_orders(&env, product).await;
    let mut extra = high_limits();
    extra.extend(flags(&[
        "--pool-size",
        "16",
        "--pool-acquire-timeout-ms",
        "10000",
    ]));
    let brisk = Brisk::start(brisk_bin(), &env.dir, "brisk", &env.shared(), &extra);
    let db_name = env.db.clone();
    let lock = blocking(move || RowLock::product(&db_name, product)).await;
    let streams = send_orders_without_reading(&env, &brisk, product).await;
    row.check(
        streams.len() == VANISHING,
        format!("only {} of {VANISHING} clients connected", streams.len()),
    );
    wait_for_orders_in_the_server(&env, &brisk, &mut row).await;
    let seen = vanish_and_check_the_server_saw_it(&env, &brisk, streams, after, &mut row).await;
    blocking(move || lock.release()).await;
    let settled = settle(&env, &brisk).await;
    row.check(
        settled.is_some(),
        "pool or database not idle 10 s after the lock was released",
    );
    let data = check_vanished_orders(&env, &mut row, before, after).await;
    check_a_new_order_is_placed(&env, &brisk, product, &mut row).await;
    row.data = format!(
        "{data}; settled in {}; {seen}",
        settled
            .map(|d| format!("{} ms", d.as_millis()))
            .unwrap_or_else(|| "> 10 s".into())
    );
    drop(brisk);
    row
}
