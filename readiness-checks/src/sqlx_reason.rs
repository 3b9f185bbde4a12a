//! What an sqlx error means, and the check's own connection opened from a pool, for the
//! PostgreSQL and MySQL checks on sqlx pools.

use readiness_core::CheckFailure;

use crate::own::{BoxFuture, Open, OwnConn, connecting};
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

/// Opens the check's own connection with an sqlx pool's connect options (its URL, credentials
/// and TLS), outside the pool: it never waits for the pool. `kind` words its failures.
pub(crate) struct SqlxOpen<DB: sqlx::Database> {
    pub(crate) pool: sqlx::Pool<DB>,
    pub(crate) kind: &'static str,
}

/// The check's own sqlx connection; each kind says how it is probed.
pub(crate) struct SqlxConn<C>(pub(crate) C);

impl<DB> Open for SqlxOpen<DB>
where
    DB: sqlx::Database,
    SqlxConn<DB::Connection>: OwnConn,
{
    fn open(&self) -> BoxFuture<'_, Result<Box<dyn OwnConn>, CheckFailure>> {
        use sqlx::ConnectOptions as _;
        Box::pin(async move {
            let conn =
                self.pool.connect_options().connect().await.map_err(|e| {
                    connecting(failure(self.kind, &e), matches!(e, sqlx::Error::Io(_)))
                })?;
            Ok(Box::new(SqlxConn(conn)) as Box<dyn OwnConn>)
        })
    }
}
