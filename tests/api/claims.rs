//! Idempotency claims cannot be stolen (API.md, `POST /api/orders`): a claim whose
//! owner's transaction is running cannot be taken over however old it looks, so a
//! retry never makes a duplicate order; only the owner completes or releases a claim;
//! an abandoned claim (its release lost) is taken over after a short grace, not a minute;
//! a claim whose request was dropped (its client reset) is released at once.

use crate::helpers::*;
use brisk::db::queries::idempotency::{self, Claim, OwnedClaim};
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use serde_json::{json, Value};
use std::time::Duration;

fn count_orders(app: &TestApp, customer: i64) -> i64 {
    use brisk::db::schema::orders::dsl::*;
    orders
        .filter(customer_id.eq(customer))
        .count()
        .get_result(&mut app.db())
        .unwrap()
}

fn set_stock(app: &TestApp, product: i64, value: i32) {
    use brisk::db::schema::products::dsl::*;
    diesel::update(products.filter(id.eq(product)))
        .set(stock.eq(value))
        .execute(&mut app.db())
        .unwrap();
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Backends of the test database waiting on a lock.
fn lock_waiters(app: &TestApp) -> i64 {
    diesel::sql_query(
        "SELECT count(*)::int8 AS n FROM pg_stat_activity
          WHERE datname = current_database() AND wait_event_type = 'Lock'",
    )
    .get_result::<Count>(&mut app.db())
    .unwrap()
    .n
}

/// Makes every claim of `key` an hour old as it is inserted, so the first request's
/// own claim looks abandoned from the start. Ageing it with an UPDATE afterwards
/// cannot work: the order's transaction locks the claim row at once and holds it
/// while it waits, so the UPDATE would wait for the very order it should outlive.
fn age_claims_as_inserted(app: &TestApp, key: &str) {
    let mut db = app.db();
    diesel::sql_query(
        "CREATE FUNCTION test_age_claim() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN NEW.created_at := now() - interval '1 hour'; RETURN NEW; END $$",
    )
    .execute(&mut db)
    .unwrap();
    diesel::sql_query(format!(
        "CREATE TRIGGER test_age_claim BEFORE INSERT ON idempotency_keys FOR EACH ROW
         WHEN (NEW.key = '{key}') EXECUTE FUNCTION test_age_claim()"
    ))
    .execute(&mut db)
    .unwrap();
}

/// An idempotency claim as committed (a plain read: it never waits on the row lock).
#[derive(QueryableByName, Debug)]
struct ClaimRow {
    #[diesel(sql_type = diesel::sql_types::Double)]
    age_secs: f64,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Integer>)]
    status: Option<i32>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    owner: Option<String>,
}

/// Tenant 2's claim of `key`; panics when there is none.
fn claim_row(app: &TestApp, key: &str) -> ClaimRow {
    diesel::sql_query(
        "SELECT extract(epoch FROM now() - created_at)::float8 AS age_secs, status, owner
           FROM idempotency_keys WHERE tenant_id = 2 AND key = $1",
    )
    .bind::<diesel::sql_types::Text, _>(key)
    .get_result(&mut app.db())
    .unwrap_or_else(|e| panic!("the claim of {key}: {e}"))
}

/// True when another transaction holds tenant 2's claim of `key` (`FOR UPDATE
/// NOWAIT` fails at once with `lock_not_available` instead of waiting).
fn claim_is_locked(app: &TestApp, key: &str) -> bool {
    let tried = diesel::sql_query(
        "SELECT 1::int8 AS n FROM idempotency_keys WHERE tenant_id = 2 AND key = $1
            FOR UPDATE NOWAIT",
    )
    .bind::<diesel::sql_types::Text, _>(key)
    .get_result::<Count>(&mut app.db());
    match tried {
        Ok(_) => false,
        Err(diesel::result::Error::DatabaseError(_, info)) => {
            info.message().contains("could not obtain lock")
        }
        Err(e) => panic!("try the claim's lock: {e}"),
    }
}

async fn post(client: reqwest::Client, url: String, body: Value, idem: &str) -> (u16, Value) {
    let resp = client
        .post(url)
        .bearer_auth(key(2))
        .header("Idempotency-Key", idem)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[actix_web::test]
async fn a_retry_cannot_take_over_a_claim_whose_order_is_still_running() {
    let app = spawn_app().await;
    let mut db = app.db();
    let product = product_ids(&mut db, 2)[3];
    let customer = customer_ids(&mut db, 2)[3];
    set_stock(&app, product, 100);
    let before = count_orders(&app, customer);
    let body = json!({"customer_id": customer, "items": [{"product_id": product, "quantity": 1}]});
    age_claims_as_inserted(&app, "steal-me");
    // Hold the product's row: the first request's transaction waits inside, after its claim.
    let mut holder = app.db();
    diesel::sql_query("BEGIN").execute(&mut holder).unwrap();
    diesel::sql_query("SELECT id FROM products WHERE id = $1 FOR UPDATE")
        .bind::<BigInt, _>(product)
        .execute(&mut holder)
        .unwrap();
    let first = actix_web::rt::spawn(post(
        app.client.clone(),
        app.url("/api/orders"),
        body.clone(),
        "steal-me",
    ));
    assert!(
        wait_until(Duration::from_secs(10), || async {
            lock_waiters(&app) >= 1
        })
        .await,
        "the first order waits on the product"
    );
    // The claim looks abandoned (an hour old), as a slow owner's would, and its
    // order's transaction holds it: what the retry must meet.
    let claim = claim_row(&app, "steal-me");
    assert!(
        claim.age_secs >= 3600.0 && claim.status.is_none(),
        "the claim the retry meets is unfinished and an hour old: {claim:?}"
    );
    assert!(
        claim_is_locked(&app, "steal-me"),
        "the first order's transaction holds its claim"
    );
    let retry = actix_web::rt::spawn(post(
        app.client.clone(),
        app.url("/api/orders"),
        body.clone(),
        "steal-me",
    ));
    // The retry answers at once, or (if it took the claim over) waits on the product too.
    wait_until(Duration::from_secs(3), || async {
        retry.is_finished() || lock_waiters(&app) >= 2
    })
    .await;
    diesel::sql_query("COMMIT").execute(&mut holder).unwrap();
    let (s1, b1) = first.await.unwrap();
    let (s2, b2) = retry.await.unwrap();
    assert_eq!(s1, 201, "{b1}");
    assert_eq!(
        count_orders(&app, customer),
        before + 1,
        "one order for one key (the retry answered {s2} {b2})"
    );
    assert!(s2 == 409 || (s2 == 201 && b2 == b1), "the retry: {s2} {b2}");
    // Still an hour old and the first request's: the retry met the aged claim and
    // did not take it over (a takeover resets its age and names a new owner).
    let completed = claim_row(&app, "steal-me");
    assert!(
        completed.owner == claim.owner
            && completed.age_secs >= 3600.0
            && completed.status == Some(201),
        "the claim after the retry: {completed:?}, before it: {claim:?}"
    );
    // A later retry replays the first answer.
    let (s3, b3) = post(app.client.clone(), app.url("/api/orders"), body, "steal-me").await;
    assert_eq!((s3, b3), (201, b1));
}

#[actix_web::test]
async fn an_abandoned_claim_is_taken_over_after_a_short_grace_not_a_minute() {
    let app = spawn_app().await;
    let mut db = app.db();
    let product = product_ids(&mut db, 2)[4];
    let customer = customer_ids(&mut db, 2)[4];
    set_stock(&app, product, 100);
    let body = json!({"customer_id": customer, "items": [{"product_id": product, "quantity": 1}]});
    // A request that failed and whose release never reached the database, 15 s ago.
    diesel::sql_query(
        "INSERT INTO idempotency_keys (tenant_id, key, request_hash, status, body, created_at)
         VALUES (2, 'abandoned', 'whatever', NULL, NULL, now() - interval '15 seconds')",
    )
    .execute(&mut db)
    .unwrap();
    let (status, resp) = post(
        app.client.clone(),
        app.url("/api/orders"),
        body,
        "abandoned",
    )
    .await;
    assert_eq!(status, 201, "{resp}");
    // A claim younger than the grace is still in flight.
    let body = json!({"customer_id": customer, "items": [{"product_id": product, "quantity": 2}]});
    diesel::sql_query(
        "INSERT INTO idempotency_keys (tenant_id, key, request_hash, status, body, created_at)
         VALUES (2, 'young', $1, NULL, NULL, now() - interval '2 seconds')",
    )
    .bind::<diesel::sql_types::Text, _>(brisk::app::ordering::request_hash(&body))
    .execute(&mut db)
    .unwrap();
    let (status, resp) = post(app.client.clone(), app.url("/api/orders"), body, "young").await;
    assert_eq!(status, 409, "{resp}");
}

#[actix_web::test]
async fn only_the_owner_completes_or_releases_a_claim() {
    let app = spawn_app().await;
    let mut conn = app.state.db.get().await.unwrap();
    let mine = OwnedClaim {
        key: "owned",
        owner: "owner-a",
    };
    let thief = OwnedClaim {
        key: "owned",
        owner: "owner-b",
    };
    assert_eq!(
        idempotency::claim(&mut conn, 2, mine, "hash")
            .await
            .unwrap(),
        Claim::Fresh
    );
    assert_eq!(
        idempotency::claim(&mut conn, 2, thief, "hash")
            .await
            .unwrap(),
        Claim::InFlight
    );
    assert!(!idempotency::complete(&mut conn, 2, thief, 201, "{}")
        .await
        .unwrap());
    idempotency::release(&mut conn, 2, thief).await.unwrap();
    assert_eq!(
        idempotency::claim(&mut conn, 2, thief, "hash")
            .await
            .unwrap(),
        Claim::InFlight,
        "a release by another request leaves the claim"
    );
    assert!(idempotency::complete(&mut conn, 2, mine, 201, "{\"id\":1}")
        .await
        .unwrap());
    assert_eq!(
        idempotency::claim(&mut conn, 2, thief, "hash")
            .await
            .unwrap(),
        Claim::Replay {
            status: 201,
            body: "{\"id\":1}".into()
        }
    );
    let row: Vec<String> = brisk::db::schema::idempotency_keys::table
        .select(brisk::db::schema::idempotency_keys::key)
        .filter(brisk::db::schema::idempotency_keys::key.eq("owned"))
        .load(&mut app.db())
        .unwrap();
    assert_eq!(row.len(), 1);
}

/// The owner of `key`'s claim of tenant 2 (`None`: no claim).
fn claim_owner(app: &TestApp, idem: &str) -> Option<String> {
    use brisk::db::schema::idempotency_keys::dsl::*;
    idempotency_keys
        .filter(tenant_id.eq(2))
        .filter(key.eq(idem))
        .select(owner)
        .first::<Option<String>>(&mut app.db())
        .optional()
        .unwrap()
        .flatten()
}

/// `POST /api/orders` of tenant 2 with `Idempotency-Key: idem`, as raw bytes.
fn keyed_order(body: &Value, idem: &str) -> Vec<u8> {
    let body = body.to_string();
    format!(
        "POST /api/orders HTTP/1.1\r\nHost: brisk\r\nAuthorization: Bearer {}\r\n\
         Idempotency-Key: {idem}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        key(2),
        body.len()
    )
    .into_bytes()
}

#[actix_web::test]
async fn a_keyed_order_dropped_by_a_client_reset_frees_its_key_for_an_immediate_retry() {
    let app = spawn_app().await;
    let mut db = app.db();
    let product = product_ids(&mut db, 2)[5];
    let customer = customer_ids(&mut db, 2)[5];
    set_stock(&app, product, 100);
    let before = count_orders(&app, customer);
    let body = json!({"customer_id": customer, "items": [{"product_id": product, "quantity": 1}]});
    let mut holder = app.db();
    diesel::sql_query("BEGIN").execute(&mut holder).unwrap();
    diesel::sql_query("SELECT id FROM products WHERE id = $1 FOR UPDATE")
        .bind::<BigInt, _>(product)
        .execute(&mut holder)
        .unwrap();
    // The first request claims the key and waits on the product; then its client resets.
    let mut conn = brisk_testkit::raw::RawConn::connect(app.port).await;
    conn.send(&keyed_order(&body, "reset-me")).await;
    assert!(
        wait_until(Duration::from_secs(10), || async {
            claim_owner(&app, "reset-me").is_some() && lock_waiters(&app) >= 1
        })
        .await,
        "the first order claims its key and waits on the product"
    );
    let first_owner = claim_owner(&app, "reset-me");
    conn.reset();
    // Retries until one holds the claim (it then waits on the product too); each
    // earlier one may only be the 409 of a claim not yet released.
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    let retry = loop {
        let retry = actix_web::rt::spawn(post(
            app.client.clone(),
            app.url("/api/orders"),
            body.clone(),
            "reset-me",
        ));
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        wait_until(left, || async {
            let owner = claim_owner(&app, "reset-me");
            retry.is_finished() || (owner.is_some() && owner != first_owner)
        })
        .await;
        if !retry.is_finished() {
            break retry;
        }
        let (status, answer) = retry.await.unwrap();
        assert_eq!(
            (status, answer["error"].as_str()),
            (409, Some("idempotency_in_flight")),
            "{answer}"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "the key still answers 409 in flight 3 s after its client reset"
        );
    };
    assert_ne!(
        claim_owner(&app, "reset-me"),
        first_owner,
        "3 s after its client reset, no retry holds the key (each answered 409 in flight)"
    );
    diesel::sql_query("COMMIT").execute(&mut holder).unwrap();
    let (status, answer) = retry.await.unwrap();
    assert_eq!(status, 201, "{answer}");
    assert_eq!(
        count_orders(&app, customer),
        before + 1,
        "one order for one key"
    );
}
