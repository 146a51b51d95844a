//! What can go wrong talking to the database, named by what it means to a caller
//! rather than by the driver's error type: the one place diesel and bb8 errors are
//! classified. The web layer decides what each case becomes on the wire.

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use std::fmt;
use std::time::Duration;

/// Result of a database call.
pub type DbResult<T> = Result<T, DbError>;

/// A failed database call.
#[derive(Debug)]
pub enum DbError {
    /// A statement that must return a row returned none (diesel's `NotFound`).
    NotFound,
    /// No pooled connection became free within the acquire timeout: the pool is
    /// saturated; retrying shortly may succeed.
    PoolTimeout {
        /// The acquire timeout that passed.
        waited: Duration,
    },
    /// No connection could be opened (database or PgBouncer down, refused login).
    /// Holds the cause, for logs only.
    Unreachable(String),
    /// The connection died under the statement (PgBouncer or PostgreSQL restarted).
    ConnectionLost(DieselError),
    /// PostgreSQL cancelled the statement after `statement_timeout`.
    StatementTimeout(DieselError),
    /// Any other failure of a statement: a bug, or a constraint the caller did not
    /// expect. Holds the cause, for logs only.
    Query(DieselError),
}

impl DbError {
    /// True when the database is saturated or briefly away, so the same call may
    /// succeed if retried shortly (as opposed to a missing row or a failed query).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            DbError::PoolTimeout { .. }
                | DbError::Unreachable(_)
                | DbError::ConnectionLost(_)
                | DbError::StatementTimeout(_)
        )
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbError::NotFound => f.write_str("no such row"),
            DbError::PoolTimeout { waited } => write!(
                f,
                "no database connection became free within {} ms",
                waited.as_millis()
            ),
            DbError::Unreachable(cause) => write!(f, "the database is unavailable: {cause}"),
            DbError::ConnectionLost(e) => write!(f, "the database connection was lost: {e}"),
            DbError::StatementTimeout(e) => write!(f, "the database did not answer in time: {e}"),
            // The driver's text alone, as before the classification existed.
            DbError::Query(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for DbError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DbError::ConnectionLost(e) | DbError::StatementTimeout(e) | DbError::Query(e) => {
                Some(e)
            }
            _ => None,
        }
    }
}

impl From<DieselError> for DbError {
    fn from(e: DieselError) -> Self {
        match e {
            DieselError::NotFound => DbError::NotFound,
            e if is_connection_lost(&e) => DbError::ConnectionLost(e),
            DieselError::DatabaseError(_, ref info)
                if info.message().contains("statement timeout") =>
            {
                DbError::StatementTimeout(e)
            }
            other => DbError::Query(other),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::result::DatabaseErrorInformation;

    struct Info(&'static str);

    impl DatabaseErrorInformation for Info {
        fn message(&self) -> &str {
            self.0
        }
        fn details(&self) -> Option<&str> {
            None
        }
        fn hint(&self) -> Option<&str> {
            None
        }
        fn table_name(&self) -> Option<&str> {
            None
        }
        fn column_name(&self) -> Option<&str> {
            None
        }
        fn constraint_name(&self) -> Option<&str> {
            None
        }
        fn statement_position(&self) -> Option<i32> {
            None
        }
    }

    fn db_error(kind: DatabaseErrorKind, message: &'static str) -> DieselError {
        DieselError::DatabaseError(kind, Box::new(Info(message)))
    }

    #[test]
    fn diesel_errors_are_classified_by_meaning() {
        assert!(matches!(
            DbError::from(DieselError::NotFound),
            DbError::NotFound
        ));
        assert!(matches!(
            DbError::from(db_error(DatabaseErrorKind::ClosedConnection, "closed")),
            DbError::ConnectionLost(_)
        ));
        assert!(matches!(
            DbError::from(db_error(
                DatabaseErrorKind::Unknown,
                "FATAL: terminating connection due to administrator command"
            )),
            DbError::ConnectionLost(_)
        ));
        assert!(matches!(
            DbError::from(db_error(
                DatabaseErrorKind::Unknown,
                "canceling statement due to statement timeout"
            )),
            DbError::StatementTimeout(_)
        ));
        assert!(matches!(
            DbError::from(db_error(
                DatabaseErrorKind::UniqueViolation,
                "duplicate key"
            )),
            DbError::Query(_)
        ));
    }
}
