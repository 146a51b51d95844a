//! The PgBouncer canary: diesel-async's named prepared statements must work
//! through the configured PgBouncer (deploy/pgbouncer.ini, session mode) under
//! concurrency. In transaction mode, PgBouncer 1.18 fails this with
//! `prepared statement "sN" does not exist / already exists`.
//!
//! 32 tasks × 1,000 queries share a bb8 pool smaller than the task count (so
//! connections pass between tasks), with statement shapes that differ in SQL
//! text, bind count and transaction use, plus fresh client connections that
//! land on server connections other clients prepared statements on. Every
//! query must succeed and return the right value.

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Integer, Text};
use diesel_async::pooled_connection::bb8::Pool;
use diesel_async::pooled_connection::AsyncDieselConnectionManager;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const TASKS: usize = 32;
const QUERIES_PER_TASK: usize = 1_000;
const POOL_SIZE: u32 = 12;

/// The database reached through PgBouncer; `BRISK_CANARY_DATABASE_URL` overrides it.
fn canary_url() -> String {
    std::env::var("BRISK_CANARY_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:6432/test".to_string())
}

/// The same database over the direct connection, to create it when missing.
fn direct_url(pgbouncer_url: &str) -> String {
    let mut url = url::Url::parse(pgbouncer_url).expect("canary URL parses");
    url.set_port(Some(5432)).expect("URL takes a port");
    url.to_string()
}

#[derive(QueryableByName)]
struct Number {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Word {
    #[diesel(sql_type = Text)]
    w: String,
}

/// One query of shape `i % 6`; returns an error text on any failure or a wrong result.
async fn one_query(conn: &mut AsyncPgConnection, task: usize, i: usize) -> Result<(), String> {
    let seed = (task * QUERIES_PER_TASK + i) as i64;
    match i % 6 {
        0 => query_builder(conn, seed).await,
        1 => raw_sql_with_two_binds(conn, seed).await,
        2 => sql_text_that_varies(conn, seed, i).await,
        3 => two_statements_in_a_transaction(conn, seed, task).await,
        4 => array_bind(conn).await,
        _ => several_rows(conn, i).await,
    }
}

/// The query builder: a statement diesel-async caches and reuses by type.
async fn query_builder(conn: &mut AsyncPgConnection, seed: i64) -> Result<(), String> {
    let got: i32 = diesel::select((seed as i32 % 1000).into_sql::<Integer>())
        .get_result(conn)
        .await
        .map_err(|e| e.to_string())?;
    check(got as i64, seed % 1000)
}

/// Raw SQL with two binds.
async fn raw_sql_with_two_binds(conn: &mut AsyncPgConnection, seed: i64) -> Result<(), String> {
    let got: Number = diesel::sql_query("SELECT $1::int8 + $2::int8 AS n")
        .bind::<BigInt, _>(seed)
        .bind::<BigInt, _>(7)
        .get_result(conn)
        .await
        .map_err(|e| e.to_string())?;
    check(got.n, seed + 7)
}

/// Different SQL text per call (a bind count that varies): new prepared statements
/// keep appearing on every connection.
async fn sql_text_that_varies(
    conn: &mut AsyncPgConnection,
    seed: i64,
    i: usize,
) -> Result<(), String> {
    let width = 1 + (i / 6) % 8;
    let placeholders: Vec<String> = (1..=width).map(|p| format!("${p}::int8")).collect();
    let mut query = diesel::sql_query(format!("SELECT ({})::int8 AS n", placeholders.join(" + ")))
        .into_boxed::<diesel::pg::Pg>();
    for _ in 0..width {
        query = query.bind::<BigInt, _>(seed);
    }
    let got: Number = query.get_result(conn).await.map_err(|e| e.to_string())?;
    check(got.n, seed * width as i64)
}

/// Two statements in a transaction.
async fn two_statements_in_a_transaction(
    conn: &mut AsyncPgConnection,
    seed: i64,
    task: usize,
) -> Result<(), String> {
    let (a, b) = conn
        .transaction::<_, diesel::result::Error, _>(async |conn| {
            let a: Number = diesel::sql_query("SELECT $1::int8 AS n")
                .bind::<BigInt, _>(seed)
                .get_result(conn)
                .await?;
            let b: Word = diesel::sql_query("SELECT upper($1) AS w")
                .bind::<Text, _>(format!("t{task}"))
                .get_result(conn)
                .await?;
            Ok((a.n, b.w))
        })
        .await
        .map_err(|e| e.to_string())?;
    check(a, seed)?;
    if b == format!("T{task}") {
        Ok(())
    } else {
        Err(format!("expected T{task}, got {b}"))
    }
}

/// An array bind against a catalog table.
async fn array_bind(conn: &mut AsyncPgConnection) -> Result<(), String> {
    let got: Number =
        diesel::sql_query("SELECT count(*) AS n FROM generate_series(1, 10) g WHERE g = ANY($1)")
            .bind::<Array<BigInt>, _>(vec![1_i64, 3, 5, 99])
            .get_result(conn)
            .await
            .map_err(|e| e.to_string())?;
    check(got.n, 3)
}

/// Several rows.
async fn several_rows(conn: &mut AsyncPgConnection, i: usize) -> Result<(), String> {
    let rows: Vec<Number> = diesel::sql_query("SELECT g::int8 AS n FROM generate_series(1, $1) g")
        .bind::<Integer, _>(1 + (i % 5) as i32)
        .load(conn)
        .await
        .map_err(|e| e.to_string())?;
    check(rows.len() as i64, 1 + (i % 5) as i64)
}

fn check(got: i64, expected: i64) -> Result<(), String> {
    if got == expected {
        Ok(())
    } else {
        Err(format!("expected {expected}, got {got}"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_clients_run_a_thousand_queries_each_through_pgbouncer_without_errors() {
    let url = canary_url();
    brisk_kit::db::direct::create_database_if_missing(&direct_url(&url))
        .expect("canary database exists or was created");

    let pool = Pool::builder()
        .max_size(POOL_SIZE)
        .connection_timeout(Duration::from_secs(30))
        .build(AsyncDieselConnectionManager::<AsyncPgConnection>::new(
            url.clone(),
        ))
        .await
        .expect("pool through PgBouncer");

    let ok = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut tasks = Vec::with_capacity(TASKS);
    for task in 0..TASKS {
        let pool = pool.clone();
        let url = url.clone();
        let ok = ok.clone();
        let errors = errors.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..QUERIES_PER_TASK {
                let outcome = if i % 250 == 249 {
                    // A fresh client session: PgBouncer hands it a server
                    // connection that other clients prepared statements on.
                    match AsyncPgConnection::establish(&url).await {
                        Ok(mut conn) => one_query(&mut conn, task, i).await,
                        Err(e) => Err(format!("connect: {e}")),
                    }
                } else {
                    match pool.get().await {
                        Ok(mut conn) => one_query(&mut conn, task, i).await,
                        Err(e) => Err(format!("pool: {e}")),
                    }
                };
                match outcome {
                    Ok(()) => {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => errors
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(format!("task {task} query {i}: {e}")),
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("canary task panicked");
    }

    let errors = errors.lock().unwrap_or_else(|p| p.into_inner());
    assert!(
        errors.is_empty(),
        "{} of {} queries failed through PgBouncer; first: {:?}",
        errors.len(),
        TASKS * QUERIES_PER_TASK,
        errors.iter().take(5).collect::<Vec<_>>()
    );
    assert_eq!(
        AtomicU64::load(&ok, Ordering::Relaxed),
        (TASKS * QUERIES_PER_TASK) as u64
    );
}
