//! The database pool: one bb8 pool of diesel-async connections per process, shared
//! by every worker. Check-out uses diesel-async's `Fast` recycling (no query per
//! check-out: measured 17.4k req/s against 10.6k with the `Verified` pre-ping), so a
//! connection that died under us is noticed on first use: reads go through
//! [`DbPool::read`], which retries once on a fresh connection.

use crate::config::DatabaseArgs;
use crate::db::instrument::CountingInstrumentation;
use crate::error::ApiError;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::ConnectionError;
use diesel_async::pooled_connection::bb8::{Pool, PooledConnection, RunError};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, PoolError, RecyclingMethod,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub type Conn<'a> = PooledConnection<'a, AsyncPgConnection>;

/// Cheap to clone: every worker holds the same pool.
#[derive(Clone)]
pub struct DbPool {
    pool: Pool<AsyncPgConnection>,
    acquire_timeout: Duration,
    max_size: u32,
    stats: Arc<PoolStats>,
}

/// Counters the pool keeps beyond bb8's state.
#[derive(Default, Debug)]
pub struct PoolStats {
    pub acquire_timeouts: AtomicU64,
    pub broken_retries: AtomicU64,
}

impl DbPool {
    /// Builds the pool without connecting (the database may come up later).
    pub fn build(args: &DatabaseArgs) -> Self {
        let mut config = ManagerConfig::default();
        config.recycling_method = RecyclingMethod::Fast;
        let statement_timeout_ms = args.db_statement_timeout_ms;
        config.custom_setup = Box::new(move |url| establish_counted(url, statement_timeout_ms));
        let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(
            &args.database_url,
            config,
        );
        let pool = Pool::builder()
            .max_size(args.pool_size)
            .min_idle(Some(0))
            .connection_timeout(args.acquire_timeout())
            .max_lifetime(Some(args.max_lifetime()))
            .idle_timeout(Some(args.idle_timeout()))
            // With `Fast` recycling this only checks for a left-open transaction: no round trip.
            .test_on_check_out(true)
            .retry_connection(false)
            .build_unchecked(manager);
        Self {
            pool,
            acquire_timeout: args.acquire_timeout(),
            max_size: args.pool_size,
            stats: Arc::new(PoolStats::default()),
        }
    }

    /// A connection, or 503 with `Retry-After` once the acquire timeout passes.
    pub async fn get(&self) -> Result<Conn<'_>, ApiError> {
        self.pool.get().await.map_err(|e| self.run_error(e))
    }

    /// An owned connection (for work that outlives the borrow, like streamed bodies).
    pub async fn get_owned(
        &self,
    ) -> Result<
        bb8::PooledConnection<'static, AsyncDieselConnectionManager<AsyncPgConnection>>,
        ApiError,
    > {
        self.pool.get_owned().await.map_err(|e| self.run_error(e))
    }

    /// Runs an idempotent read; when the connection turns out to be dead (PgBouncer or
    /// PostgreSQL restarted), retries on a fresh one. Every idle connection may be
    /// dead after a restart (the warming scheduler keeps more than one open); each
    /// failed one is discarded as broken, so `max_size` retries reach a fresh one.
    pub async fn read<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: for<'c> Fn(&'c mut AsyncPgConnection) -> BoxFuture<'c, Result<T, DieselError>>,
    {
        let mut retries = 0;
        loop {
            let result = {
                let mut conn = self.get().await?;
                f(&mut conn).await
            };
            match result {
                Err(e) if is_connection_lost(&e) && retries < self.max_size => {
                    retries += 1;
                    self.stats.broken_retries.fetch_add(1, Ordering::Relaxed);
                    log::warn!("database connection lost ({e}); retrying the read");
                }
                other => return other.map_err(ApiError::from),
            }
        }
    }

    /// bb8's view: (connections, idle connections).
    pub fn state(&self) -> (u32, u32) {
        let s = self.pool.state();
        (s.connections, s.idle_connections)
    }

    pub fn max_size(&self) -> u32 {
        self.max_size
    }

    pub fn stats(&self) -> &PoolStats {
        &self.stats
    }

    /// The bb8 pool itself, for gauges.
    pub fn inner(&self) -> &Pool<AsyncPgConnection> {
        &self.pool
    }

    fn run_error(&self, e: RunError) -> ApiError {
        match e {
            RunError::TimedOut => {
                self.stats.acquire_timeouts.fetch_add(1, Ordering::Relaxed);
                ApiError::Unavailable {
                    detail: format!(
                        "no database connection became free within {} ms",
                        self.acquire_timeout.as_millis()
                    ),
                    retry_after_secs: 1,
                }
            }
            RunError::User(err) => {
                log::error!("database connection failed: {err}");
                ApiError::Unavailable {
                    detail: "the database is unavailable".into(),
                    retry_after_secs: 1,
                }
            }
        }
    }
}

/// Opens a connection with a statement timeout (no request hangs on a stuck
/// query; PgBouncer's `DISCARD ALL` resets it for the next client) and, after that
/// setup, the statement counter.
fn establish_counted(
    url: &str,
    statement_timeout_ms: u64,
) -> BoxFuture<'_, diesel::ConnectionResult<AsyncPgConnection>> {
    async move {
        let mut conn = AsyncPgConnection::establish(url).await?;
        conn.batch_execute(&format!("SET statement_timeout = {statement_timeout_ms}"))
            .await
            .map_err(|e| ConnectionError::BadConnection(e.to_string()))?;
        conn.set_instrumentation(CountingInstrumentation::default());
        Ok(conn)
    }
    .boxed()
}

/// True when the error means the connection itself is gone, not the query.
pub fn is_connection_lost(e: &DieselError) -> bool {
    match e {
        DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, _)
        | DieselError::DatabaseError(DatabaseErrorKind::UnableToSendCommand, _) => true,
        DieselError::DatabaseError(_, info) => {
            // tokio-postgres and PgBouncer report a lost server only in prose.
            const LOST: [&str; 8] = [
                "connection closed",
                "server closed the connection",
                "terminating connection",
                "server conn crashed",
                "server_login_retry",
                "connection reset",
                "broken pipe",
                "unexpected eof",
            ];
            let m = info.message().to_ascii_lowercase();
            LOST.iter().any(|needle| m.contains(needle))
        }
        _ => false,
    }
}

impl From<DieselError> for ApiError {
    fn from(e: DieselError) -> Self {
        match e {
            DieselError::NotFound => ApiError::not_found("no such resource"),
            e if is_connection_lost(&e) => ApiError::Unavailable {
                detail: "the database connection was lost".into(),
                retry_after_secs: 1,
            },
            DieselError::DatabaseError(_, ref info)
                if info.message().contains("statement timeout") =>
            {
                ApiError::Unavailable {
                    detail: "the database did not answer in time".into(),
                    retry_after_secs: 1,
                }
            }
            other => ApiError::internal(other),
        }
    }
}

impl From<PoolError> for ApiError {
    fn from(e: PoolError) -> Self {
        log::error!("database pool error: {e}");
        ApiError::Unavailable {
            detail: "the database is unavailable".into(),
            retry_after_secs: 1,
        }
    }
}

impl From<ConnectionError> for ApiError {
    fn from(e: ConnectionError) -> Self {
        log::error!("database connection error: {e}");
        ApiError::Unavailable {
            detail: "the database is unavailable".into(),
            retry_after_secs: 1,
        }
    }
}
