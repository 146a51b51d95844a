//! The database, PgBouncer and Redis as the doctor reads them: PostgreSQL's
//! connection limits (`statements` reads `pg_stat_statements`); PgBouncer's pool
//! settings and clients from its admin console (which speaks the simple query
//! protocol only, hence tokio-postgres' `simple_query`); whether Redis answers a
//! client without a password.

use tokio_postgres::{NoTls, SimpleQueryMessage};

/// PostgreSQL's settings that bound connections.
#[derive(Debug, Clone, PartialEq)]
pub struct Postgres {
    /// `max_connections`.
    pub max_connections: u32,
    /// `superuser_reserved_connections`.
    pub superuser_reserved: u32,
}

/// PgBouncer's pool settings and the clients of the application's database.
#[derive(Debug, Clone, PartialEq)]
pub struct PgBouncerState {
    /// `default_pool_size`: server connections per database and user.
    pub default_pool_size: u32,
    /// `max_db_connections` (0: no cap).
    pub max_db_connections: u32,
    /// `reserve_pool_size`.
    pub reserve_pool_size: u32,
    /// `auth_type` (`trust`: no password asked).
    pub auth_type: String,
    /// Clients connected to the application's database.
    pub clients: usize,
    /// The application's database name.
    pub database: String,
}

/// Rows of a simple query as (column, value) lists.
async fn rows(url: &str, sql: &str) -> Result<Vec<Vec<(String, String)>>, String> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .map_err(|e| format!("{}: {e}", redact(url)))?;
    let driver = tokio::spawn(connection);
    let messages = client.simple_query(sql).await.map_err(|e| e.to_string());
    drop(client);
    let _ = driver.await;
    Ok(messages?
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(
                row.columns()
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (c.name().to_string(), row.get(i).unwrap_or("").to_string()))
                    .collect(),
            ),
            _ => None,
        })
        .collect())
}

/// The one value of a one-row, one-column query.
async fn value(url: &str, sql: &str) -> Result<String, String> {
    let rows = rows(url, sql).await?;
    rows.first()
        .and_then(|r| r.first())
        .map(|(_, v)| v.clone())
        .ok_or_else(|| format!("no answer to {sql}"))
}

/// PostgreSQL at `url` (a direct connection).
pub async fn postgres(url: &str) -> Result<Postgres, String> {
    let number = |v: String| v.parse::<u32>().map_err(|e| e.to_string());
    Ok(Postgres {
        max_connections: number(value(url, "SHOW max_connections").await?)?,
        superuser_reserved: number(value(url, "SHOW superuser_reserved_connections").await?)?,
    })
}

/// PgBouncer's admin console at `admin_url`; `database_url` names the application's
/// database (its last path segment).
pub async fn pgbouncer(admin_url: &str, database_url: &str) -> Result<PgBouncerState, String> {
    let config = rows(admin_url, "SHOW CONFIG").await?;
    let setting = |key: &str| {
        config
            .iter()
            .find(|r| r.iter().any(|(c, v)| c == "key" && v == key))
            .and_then(|r| r.iter().find(|(c, _)| c == "value"))
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let database = database_name(database_url);
    let clients = rows(admin_url, "SHOW CLIENTS")
        .await?
        .iter()
        .filter(|r| r.iter().any(|(c, v)| c == "database" && *v == database))
        .count();
    Ok(PgBouncerState {
        default_pool_size: setting("default_pool_size").parse().unwrap_or(0),
        max_db_connections: setting("max_db_connections").parse().unwrap_or(0),
        reserve_pool_size: setting("reserve_pool_size").parse().unwrap_or(0),
        auth_type: setting("auth_type"),
        clients,
        database,
    })
}

/// Whether Redis at `url`, asked without the URL's password, answers PING.
pub async fn redis_without_password(url: &str) -> Result<bool, String> {
    let mut open = url::Url::parse(url).map_err(|e| format!("--redis-url: {e}"))?;
    let _ = open.set_password(None);
    let _ = open.set_username("");
    let client = redis::Client::open(open.as_str()).map_err(|e| e.to_string())?;
    let connect = client.get_multiplexed_async_connection();
    let mut conn = tokio::time::timeout(std::time::Duration::from_secs(2), connect)
        .await
        .map_err(|_| format!("{}: no answer in 2 s", redact(url)))?
        .map_err(|e| e.to_string())?;
    match redis::cmd("PING").query_async::<String>(&mut conn).await {
        Ok(_) => Ok(true),
        Err(e) if e.code() == Some("NOAUTH") => Ok(false),
        Err(e) => Err(e.to_string()),
    }
}

/// The database name of a PostgreSQL URL.
pub fn database_name(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .map(|u| u.path().trim_start_matches('/').to_string())
        .unwrap_or_default()
}

/// `url` without its password, for messages.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_password(None);
            u.to_string()
        }
        Err(_) => "the URL".to_string(),
    }
}
