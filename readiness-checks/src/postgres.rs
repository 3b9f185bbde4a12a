//! PostgreSQL: `SELECT 1` through the application's pool or client, or from a URL.
//!
//! ```text
//! PostgresCheck::from_pool(&pool)  // deadpool_postgres::Pool (feature postgres-deadpool),
//!                                  // bb8::Pool<PostgresConnectionManager<_>> (postgres-bb8),
//!                                  // sqlx::PgPool (postgres-sqlx)
//! PostgresCheck::from_client(client.clone()) // Arc<tokio_postgres::Client> (feature postgres)
//! PostgresCheck::from_url("postgres://app@db:5432/orders")?            (feature postgres)
//! ```
//!
//! Passes when `SELECT 1` returns its row. Fails with the server's SQLSTATE and what it means
//! (`postgres: password authentication failed (28P01)`, `postgres: database does not exist
//! (3D000)`), or with what the connection met (`connection refused`); a server that does not
//! answer is cut off by the engine's timeout.
//!
//! # A busy database is not a down database
//!
//! With a pool, the check never takes one of the pool's connections: it keeps **one connection
//! of its own**, opened through the pool's own connector (the pool's configuration, credentials
//! and TLS), reused across runs and reopened when it breaks. Business traffic that holds every
//! pooled connection for minutes does not touch it, so a busy instance stays ready; a server that
//! refuses, errors, or stops answering (stopped, or hung) fails `SELECT 1` or the reconnect within
//! the run's timeout. The cost is at most one connection per instance (shown as
//! `application_name = readiness` where the check sets it).
//!
//! Limits: the check proves that the server answers this instance, not that the pool is
//! healthy: a pool wedged by a bug of its own (a leak, every connection checked out and never
//! returned) is not seen, and a server at `max_connections` refuses the check's reconnect even
//! though the pool's connections still work (the check keeps its connection while it answers,
//! so this bites only after the connection broke). With [`PostgresCheck::from_client`], the probe
//! shares the application's one connection: `SELECT 1` queues behind the application's own
//! queries on it, so a query longer than the timeout fails the check; give the check a pool or
//! a URL instead when that matters.

use std::fmt;
use std::sync::Arc;

use readiness_core::{Check, CheckFailure, CheckFuture, CheckResult};

use crate::data_reason as reason;
use crate::data_url::{DataUrl, DataUrlError};
use crate::own::{BoxFuture, Open, OwnConn, OwnConnection};

const SCHEMES: &[&str] = &["postgres", "postgresql"];
const EXPECTED: &str = "postgres://USER[:PASSWORD]@HOST[:PORT]/DB (or postgresql://)";

/// `SELECT 1` through the application's PostgreSQL pool or client, or from a URL; see the
/// [module docs](self) for each source's one line and the busy-versus-down rule.
pub struct PostgresCheck {
    source: Source,
    shown: Arc<str>,
}

enum Source {
    Client(Arc<tokio_postgres::Client>),
    Own(OwnConnection),
}

impl fmt::Debug for PostgresCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresCheck")
            .field("target", &self.shown)
            .finish_non_exhaustive()
    }
}

/// A pool [`PostgresCheck::from_pool`] takes: `deadpool_postgres::Pool` (feature
/// `postgres-deadpool`), `bb8::Pool<bb8_postgres::PostgresConnectionManager<_>>`
/// (`postgres-bb8`) or `sqlx::PgPool` (`postgres-sqlx`).
pub trait PostgresPool: sealed::Sealed {
    #[doc(hidden)]
    fn postgres_check(&self) -> PostgresCheck;
}

mod sealed {
    pub trait Sealed {}
}

#[cfg(feature = "postgres-deadpool")]
impl sealed::Sealed for deadpool_postgres::Pool {}
#[cfg(feature = "postgres-deadpool")]
impl PostgresPool for deadpool_postgres::Pool {
    fn postgres_check(&self) -> PostgresCheck {
        PostgresCheck::deadpool(self)
    }
}

#[cfg(feature = "postgres-bb8")]
impl<T> sealed::Sealed for bb8::Pool<bb8_postgres::PostgresConnectionManager<T>>
where
    T: tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket> + Clone + Send + Sync + 'static,
    T::Stream: Send + Sync,
    T::TlsConnect: Send,
    <T::TlsConnect as tokio_postgres::tls::TlsConnect<tokio_postgres::Socket>>::Future: Send,
{
}
#[cfg(feature = "postgres-bb8")]
impl<T> PostgresPool for bb8::Pool<bb8_postgres::PostgresConnectionManager<T>>
where
    T: tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket> + Clone + Send + Sync + 'static,
    T::Stream: Send + Sync,
    T::TlsConnect: Send,
    <T::TlsConnect as tokio_postgres::tls::TlsConnect<tokio_postgres::Socket>>::Future: Send,
{
    fn postgres_check(&self) -> PostgresCheck {
        PostgresCheck::bb8(self)
    }
}

#[cfg(feature = "postgres-sqlx")]
impl sealed::Sealed for sqlx::PgPool {}
#[cfg(feature = "postgres-sqlx")]
impl PostgresPool for sqlx::PgPool {
    fn postgres_check(&self) -> PostgresCheck {
        PostgresCheck::sqlx(self)
    }
}

impl PostgresCheck {
    /// A check with one connection of its own, opened through the application's pool's own
    /// connector (its configuration, credentials and TLS) and kept outside the pool: it never
    /// waits for the pool, so a busy pool does not fail it.
    pub fn from_pool(pool: &impl PostgresPool) -> Self {
        pool.postgres_check()
    }

    /// A check on the application's client: `SELECT 1` on that connection (no connection of the
    /// check's own; it queues behind the application's queries on the same connection).
    pub fn from_client(client: Arc<tokio_postgres::Client>) -> Self {
        Self {
            source: Source::Client(client),
            shown: "postgres client".into(),
        }
    }

    /// A check with one connection of its own, opened from `url`
    /// (`postgres://USER[:PASSWORD]@HOST[:PORT]/DB`, also `postgresql://`; option `sslmode`:
    /// `disable` (the default) and, with the `tls` feature, `require` and `verify-full`, both of
    /// which verify the server's certificate and name).
    ///
    /// # Errors
    ///
    /// A URL without a host, with an unknown option, a user or password that needs
    /// percent-encoding, or an `sslmode` this check does not take (`prefer`, `allow` and
    /// `verify-ca` would let an unverified server pass).
    pub fn from_url(url: &str) -> Result<Self, DataUrlError> {
        let url = DataUrl::parse(url, SCHEMES, EXPECTED)?;
        url.only_options(&["sslmode", "application_name"])?;
        let mut config = tokio_postgres::Config::new();
        config.host(&url.host).port(url.port.unwrap_or(5432));
        config.user(url.user.as_deref().unwrap_or("postgres"));
        if let Some(p) = &url.password {
            config.password(p.expose());
        }
        if !url.path.is_empty() {
            config.dbname(&url.path);
        }
        config.application_name(url.option("application_name").unwrap_or("readiness"));
        let tls = match url.option("sslmode").unwrap_or("disable") {
            "disable" => false,
            "require" | "verify-full" => true,
            _ => {
                return Err(DataUrlError::BadOptionValue {
                    option: "sslmode",
                    expected: "disable, require or verify-full",
                });
            }
        };
        if tls {
            return Err(DataUrlError::BadOptionValue {
                option: "sslmode",
                expected: "disable (TLS needs the `tls` feature)",
            });
        }
        let shown = url.shown(5432);
        Ok(Self {
            source: Source::Own(OwnConnection::new(UrlOpen { config })),
            shown: shown.into(),
        })
    }
}

#[cfg(feature = "postgres-deadpool")]
impl PostgresCheck {
    /// A check with one connection of its own, opened through this pool's manager (its
    /// configuration and TLS), outside the pool: it never waits for the pool.
    fn deadpool(pool: &deadpool_postgres::Pool) -> Self {
        Self {
            source: Source::Own(OwnConnection::new(DeadpoolOpen(pool.clone()))),
            shown: "postgres deadpool".into(),
        }
    }
}

#[cfg(feature = "postgres-bb8")]
impl PostgresCheck {
    /// A check with one connection of its own, opened with this pool's manager
    /// (`Pool::dedicated_connection`): it never waits for the pool.
    fn bb8<T>(pool: &bb8::Pool<bb8_postgres::PostgresConnectionManager<T>>) -> Self
    where
        T: tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket>
            + Clone
            + Send
            + Sync
            + 'static,
        T::Stream: Send + Sync,
        T::TlsConnect: Send,
        <T::TlsConnect as tokio_postgres::tls::TlsConnect<tokio_postgres::Socket>>::Future: Send,
    {
        Self {
            source: Source::Own(OwnConnection::new(Bb8Open(pool.clone()))),
            shown: "postgres bb8".into(),
        }
    }
}

#[cfg(feature = "postgres-sqlx")]
impl PostgresCheck {
    /// A check with one connection of its own, opened with this pool's connect options (its
    /// URL, credentials and TLS), outside the pool: it never waits for the pool.
    fn sqlx(pool: &sqlx::PgPool) -> Self {
        Self {
            source: Source::Own(OwnConnection::new(SqlxOpen(pool.clone()))),
            shown: "postgres sqlx".into(),
        }
    }
}

impl Check for PostgresCheck {
    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move {
            match &self.source {
                Source::Client(client) => select_one(client).await,
                Source::Own(own) => own.run().await,
            }
        })
    }
}

async fn select_one(client: &tokio_postgres::Client) -> CheckResult {
    let rows = client
        .simple_query("SELECT 1")
        .await
        .map_err(|e| failure(&e))?;
    let one = rows.iter().any(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0) == Some("1"),
        _ => false,
    });
    if one {
        Ok(())
    } else {
        Err(CheckFailure::new("postgres: SELECT 1 returned no row"))
    }
}

/// What a `tokio_postgres` error means, without the server's message (it may name the user or
/// the database).
pub(crate) fn failure(e: &tokio_postgres::Error) -> CheckFailure {
    if let Some(db) = e.as_db_error() {
        return CheckFailure::new(sqlstate_reason(db.code().code()));
    }
    if let Some(io) = reason::io_source(e as &(dyn std::error::Error + 'static)) {
        return CheckFailure::new(reason::io(io));
    }
    if e.is_closed() {
        return CheckFailure::new("postgres: connection closed");
    }
    CheckFailure::new("postgres: protocol error")
}

/// `postgres: KIND (SQLSTATE)` for the codes a check meets, the class otherwise.
pub(crate) fn sqlstate_reason(code: &str) -> String {
    let kind = match code {
        "28P01" => "password authentication failed",
        "28000" => "authorization rejected",
        "3D000" => "database does not exist",
        "53300" => "too many connections",
        "57P01" => "terminating connection (admin shutdown)",
        "57P02" => "terminating connection (crash shutdown)",
        "57P03" => "cannot connect now",
        "42501" => "insufficient privilege",
        c if c.starts_with("08") => "connection exception",
        c if c.starts_with("53") => "insufficient resources",
        c if c.starts_with("57") => "operator intervention",
        c if c.starts_with("58") => "system error",
        c if c.starts_with("XX") => "internal error",
        _ => "server error",
    };
    format!("postgres: {kind} ({code})")
}

struct UrlOpen {
    config: tokio_postgres::Config,
}

impl Open for UrlOpen {
    fn open(&self) -> BoxFuture<'_, Result<Box<dyn OwnConn>, CheckFailure>> {
        Box::pin(async move {
            let (client, connection) = self
                .config
                .connect(tokio_postgres::NoTls)
                .await
                .map_err(|e| failure(&e))?;
            let task = tokio::spawn(async move {
                let _ = connection.await;
            });
            Ok(Box::new(TokioPgConn { client, task }) as Box<dyn OwnConn>)
        })
    }
}

/// A `tokio_postgres` connection of the check's own; its task ends with it.
struct TokioPgConn {
    client: tokio_postgres::Client,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TokioPgConn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl OwnConn for TokioPgConn {
    fn is_broken(&self) -> bool {
        self.client.is_closed()
    }
    fn probe(&mut self) -> BoxFuture<'_, CheckResult> {
        Box::pin(select_one(&self.client))
    }
}

#[cfg(feature = "postgres-deadpool")]
struct DeadpoolOpen(deadpool_postgres::Pool);

#[cfg(feature = "postgres-deadpool")]
impl Open for DeadpoolOpen {
    fn open(&self) -> BoxFuture<'_, Result<Box<dyn OwnConn>, CheckFailure>> {
        Box::pin(async move {
            let manager = self.0.manager();
            let client = deadpool::managed::Manager::create(manager)
                .await
                .map_err(|e| failure(&e))?;
            Ok(Box::new(DeadpoolConn {
                client: Some(client),
                pool: self.0.clone(),
            }) as Box<dyn OwnConn>)
        })
    }
}

/// A connection deadpool's manager made for the check, never handed to the pool.
#[cfg(feature = "postgres-deadpool")]
struct DeadpoolConn {
    client: Option<deadpool_postgres::ClientWrapper>,
    pool: deadpool_postgres::Pool,
}

#[cfg(feature = "postgres-deadpool")]
impl Drop for DeadpoolConn {
    fn drop(&mut self) {
        // The manager keeps every client's statement cache it made; this one goes with us.
        if let Some(mut client) = self.client.take() {
            deadpool::managed::Manager::detach(self.pool.manager(), &mut client);
        }
    }
}

#[cfg(feature = "postgres-deadpool")]
impl OwnConn for DeadpoolConn {
    fn is_broken(&self) -> bool {
        self.client.as_ref().is_none_or(|c| c.is_closed())
    }
    fn probe(&mut self) -> BoxFuture<'_, CheckResult> {
        Box::pin(async move {
            match &self.client {
                Some(c) => select_one(c).await,
                None => Err(CheckFailure::new("postgres: connection closed")),
            }
        })
    }
}

#[cfg(feature = "postgres-bb8")]
struct Bb8Open<
    T: tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket> + Clone + Send + Sync + 'static,
>(bb8::Pool<bb8_postgres::PostgresConnectionManager<T>>)
where
    T::Stream: Send + Sync,
    T::TlsConnect: Send,
    <T::TlsConnect as tokio_postgres::tls::TlsConnect<tokio_postgres::Socket>>::Future: Send;

#[cfg(feature = "postgres-bb8")]
impl<T> Open for Bb8Open<T>
where
    T: tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket> + Clone + Send + Sync + 'static,
    T::Stream: Send + Sync,
    T::TlsConnect: Send,
    <T::TlsConnect as tokio_postgres::tls::TlsConnect<tokio_postgres::Socket>>::Future: Send,
{
    fn open(&self) -> BoxFuture<'_, Result<Box<dyn OwnConn>, CheckFailure>> {
        Box::pin(async move {
            let client = self
                .0
                .dedicated_connection()
                .await
                .map_err(|e| failure(&e))?;
            Ok(Box::new(Bb8Conn(client)) as Box<dyn OwnConn>)
        })
    }
}

#[cfg(feature = "postgres-bb8")]
struct Bb8Conn(tokio_postgres::Client);

#[cfg(feature = "postgres-bb8")]
impl OwnConn for Bb8Conn {
    fn is_broken(&self) -> bool {
        self.0.is_closed()
    }
    fn probe(&mut self) -> BoxFuture<'_, CheckResult> {
        Box::pin(select_one(&self.0))
    }
}

#[cfg(feature = "postgres-sqlx")]
struct SqlxOpen(sqlx::PgPool);

#[cfg(feature = "postgres-sqlx")]
impl Open for SqlxOpen {
    fn open(&self) -> BoxFuture<'_, Result<Box<dyn OwnConn>, CheckFailure>> {
        use sqlx::ConnectOptions as _;
        Box::pin(async move {
            let options = self.0.connect_options();
            let conn = options
                .connect()
                .await
                .map_err(|e| crate::sqlx_reason::failure("postgres", &e))?;
            Ok(Box::new(SqlxConn(conn)) as Box<dyn OwnConn>)
        })
    }
}

#[cfg(feature = "postgres-sqlx")]
struct SqlxConn(sqlx::PgConnection);

#[cfg(feature = "postgres-sqlx")]
impl OwnConn for SqlxConn {
    fn probe(&mut self) -> BoxFuture<'_, CheckResult> {
        Box::pin(async move {
            let one: i32 = sqlx::query_scalar("SELECT 1")
                .fetch_one(&mut self.0)
                .await
                .map_err(|e| crate::sqlx_reason::failure("postgres", &e))?;
            if one == 1 {
                Ok(())
            } else {
                Err(CheckFailure::new("postgres: SELECT 1 returned no row"))
            }
        })
    }
}
