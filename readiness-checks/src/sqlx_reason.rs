//! What an sqlx error means, for the PostgreSQL and MySQL checks on sqlx pools.

use readiness_core::CheckFailure;

use crate::reason;

/// `kind` is `postgres` or `mysql`.
pub(crate) fn failure(kind: &str, e: &sqlx::Error) -> CheckFailure {
    match e {
        sqlx::Error::Database(db) => {
            #[cfg(feature = "mysql-sqlx")]
            if let Some(my) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
                return CheckFailure::new(crate::mysql::code_reason(my.number()));
            }
            match db.code() {
                #[cfg(feature = "postgres-sqlx")]
                Some(code) if kind == "postgres" => {
                    CheckFailure::new(crate::postgres::sqlstate_reason(&code))
                }
                Some(code) => CheckFailure::new(format!("{kind}: server error ({code})")),
                None => CheckFailure::new(format!("{kind}: server error")),
            }
        }
        sqlx::Error::Io(io) => CheckFailure::new(reason::io(io)),
        sqlx::Error::Tls(_) => CheckFailure::new(format!("{kind}: tls error")),
        sqlx::Error::Protocol(_) => CheckFailure::new(format!("{kind}: protocol error")),
        sqlx::Error::PoolTimedOut => CheckFailure::new("timeout"),
        sqlx::Error::Configuration(_) => CheckFailure::new(format!("{kind}: bad configuration")),
        _ => CheckFailure::new(format!("{kind}: error")),
    }
}
