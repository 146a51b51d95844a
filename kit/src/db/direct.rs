//! Direct, synchronous connections to PostgreSQL (never through PgBouncer), for the
//! work that runs once outside the request path: creating a database, migrating,
//! seeding, the start-up budget check. Messages never carry a password.

use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// Creates the database named in `direct_url` when it does not exist, through
/// the `postgres` maintenance database of the same server. Returns whether it
/// created it.
pub fn create_database_if_missing(direct_url: &str) -> Result<bool, String> {
    let (maintenance_url, name) = split_database(direct_url)?;
    let mut conn = connect(&maintenance_url)?;
    if database_exists(&mut conn, &name)? {
        return Ok(false);
    }
    match diesel::sql_query(format!("CREATE DATABASE {}", quote_ident(&name))).execute(&mut conn) {
        Ok(_) => Ok(true),
        // Another process created it between the check and here.
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(false),
        Err(DieselError::DatabaseError(_, info)) if info.message().contains("already exists") => {
            Ok(false)
        }
        Err(e) => Err(format!("cannot create database {name}: {e}")),
    }
}

/// Drops the database named in `direct_url` if it exists (tests and scratch
/// databases), closing other sessions on it first.
pub fn drop_database(direct_url: &str) -> Result<(), String> {
    let (maintenance_url, name) = split_database(direct_url)?;
    let mut conn = connect(&maintenance_url)?;
    diesel::sql_query(format!(
        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
        quote_ident(&name)
    ))
    .execute(&mut conn)
    .map_err(|e| format!("cannot drop database {name}: {e}"))?;
    Ok(())
}

fn database_exists(conn: &mut PgConnection, name: &str) -> Result<bool, String> {
    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let found: Found =
        diesel::sql_query("SELECT count(*) AS n FROM pg_database WHERE datname = $1")
            .bind::<diesel::sql_types::Text, _>(name)
            .get_result(conn)
            .map_err(|e| format!("cannot list databases: {e}"))?;
    Ok(found.n > 0)
}

/// Splits a postgres URL into (URL of the `postgres` database on the same
/// server, the database name). A URL without a path names the user's
/// database, as libpq does.
pub fn split_database(direct_url: &str) -> Result<(String, String), String> {
    let mut url =
        url::Url::parse(direct_url).map_err(|e| format!("bad database URL {direct_url:?}: {e}"))?;
    let path = url.path().trim_start_matches('/').to_string();
    let name = if path.is_empty() {
        url.username().to_string()
    } else {
        percent_decode(&path)
    };
    if name.is_empty() {
        return Err(format!(
            "database URL {} names no database",
            redact(direct_url)
        ));
    }
    url.set_path("/postgres");
    Ok((url.to_string(), name))
}

fn percent_decode(raw: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", raw.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| raw.to_string())
}

/// Opens a direct synchronous connection; the error names the URL (without
/// its password) on one line.
pub fn connect(url: &str) -> Result<PgConnection, String> {
    PgConnection::establish(url).map_err(|e| {
        let reason = e
            .to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        format!("cannot connect to {}: {reason}", redact(url))
    })
}

/// Quotes a PostgreSQL identifier (`"` doubled).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The URL without its password, for messages.
pub fn redact(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        _ => raw.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_database_points_at_the_maintenance_database_of_the_same_server() {
        let (maint, name) = split_database("postgres://root@127.0.0.1:5432/brisk").unwrap();
        assert_eq!(maint, "postgres://root@127.0.0.1:5432/postgres");
        assert_eq!(name, "brisk");
        let (maint, name) =
            split_database("postgresql://u:p@db:5433/my%20db?sslmode=disable").unwrap();
        assert_eq!(maint, "postgresql://u:p@db:5433/postgres?sslmode=disable");
        assert_eq!(name, "my db");
    }

    #[test]
    fn a_url_without_a_database_names_the_users_database() {
        let (_, name) = split_database("postgres://root@127.0.0.1:5432").unwrap();
        assert_eq!(name, "root");
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("brisk"), "\"brisk\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn passwords_are_redacted_from_messages() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
    }
}
