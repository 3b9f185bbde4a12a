//! PostgreSQL: `SELECT 1` through the application's pool or client, or from a URL ([`PostgresCheck`]).

use std::fmt;
use std::sync::Arc;

use readiness_core::{Check, CheckFailure, CheckFuture, CheckResult};

use crate::data_url::DataUrl;
use crate::own::{BoxFuture, Driver, Open, OwnConn, OwnConnection, connecting};
use crate::reason;
use crate::resolve::Resolver;
#[cfg(feature = "postgres-sqlx")]
use crate::sqlx_reason::{SqlxConn, SqlxOpen};
use crate::target::{CheckUrlError, Target};

const SCHEMES: &[(&str, u16)] = &[("postgres", 5432), ("postgresql", 5432)];
const EXPECTED: &str = "postgres://USER[:PASSWORD]@HOST[:PORT]/DB (or postgresql://)";

/// PostgreSQL: `SELECT 1` through the application's pool or client, or from a URL.
///
/// ```text
/// PostgresCheck::from_pool(&pool)  // deadpool_postgres::Pool (feature postgres-deadpool),
///                                  // bb8::Pool<PostgresConnectionManager<_>> (postgres-bb8),
///                                  // sqlx::PgPool (postgres-sqlx)
/// PostgresCheck::from_client(client.clone()) // Arc<tokio_postgres::Client> (feature postgres)
/// PostgresCheck::from_url("postgres://app@db:5432/orders")?            (feature postgres)
/// ```
///
/// Passes when `SELECT 1` returns its row. Fails with the server's SQLSTATE and what it means
/// (`postgres: password authentication failed (28P01)`, `postgres: database does not exist
/// (3D000)`), never the server's message (it names users and databases), or with what the
/// connection met (`connect: connection refused`, a TLS reason of the `tls` feature); a server
/// that does not answer is cut off by the engine's timeout. `Debug` and reasons show the URL as
/// scheme, host, port and database: never the user or the password.
///
/// ```
/// use readiness_checks::PostgresCheck;
/// use readiness_core::{CheckSpec, Engine};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let db = PostgresCheck::from_url("postgres://app:s3cret@127.0.0.1:5432/orders")?;
/// assert_eq!(
///     format!("{db:?}"),
///     "PostgresCheck { target: \"postgres://127.0.0.1:5432/orders\", .. }"
/// );
/// let engine = Engine::builder().check(CheckSpec::readiness("db", db)).build()?;
/// # let _ = engine;
/// # Ok(()) }
/// ```
///
/// # A busy database is not a down database
///
/// With a pool, the check never takes one of the pool's connections: it keeps **one connection
/// of its own**, opened through the pool's own connector (the pool's configuration, credentials
/// and TLS), reused across runs and reopened when it breaks. Business traffic that holds every
/// pooled connection for minutes does not touch it, so a busy instance stays ready; a server that
/// refuses, errors, or stops answering (stopped, or hung) fails `SELECT 1` or the reconnect within
/// the run's timeout. The cost is at most one connection per instance (shown as
/// `application_name = readiness` where the check sets it).
///
/// Limits: the check proves that the server answers this instance, not that the pool is
/// healthy: a pool wedged by a bug of its own (a leak, every connection checked out and never
/// returned) is not seen, and a server at `max_connections` refuses the check's reconnect even
/// though the pool's connections still work (the check keeps its connection while it answers,
/// so this bites only after the connection broke). A pool's connector resolves host names
/// itself (tokio's `lookup_host`), outside the check's bounded resolver; the URL's connection
/// resolves within the run. With [`PostgresCheck::from_client`], the probe
/// shares the application's one connection: `SELECT 1` queues behind the application's own
/// queries on it, so a query longer than the timeout fails the check; give the check a pool or
/// a URL instead when that matters.
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

/// [`PostgresPool`] for a pool type behind `feature`, its check made by `PostgresCheck::$make`.
macro_rules! postgres_pool {
    ($feature:literal, impl<$($t:ident),*> $pool:ty, $make:ident $(, where $($bound:tt)*)?) => {
        #[cfg(feature = $feature)]
        impl<$($t),*> sealed::Sealed for $pool $(where $($bound)*)? {}
        #[cfg(feature = $feature)]
        impl<$($t),*> PostgresPool for $pool $(where $($bound)*)? {
            fn postgres_check(&self) -> PostgresCheck {
                PostgresCheck::$make(self)
            }
        }
    };
}

postgres_pool!("postgres-deadpool", impl<> deadpool_postgres::Pool, deadpool);
postgres_pool!(
    "postgres-bb8",
    impl<T> bb8::Pool<bb8_postgres::PostgresConnectionManager<T>>,
    bb8,
    where
        T: tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket>,
        bb8_postgres::PostgresConnectionManager<T>:
            bb8::ManageConnection<Connection = tokio_postgres::Client, Error = tokio_postgres::Error>
);
postgres_pool!("postgres-sqlx", impl<> sqlx::PgPool, sqlx);

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
    /// (`postgres://USER[:PASSWORD]@HOST[:PORT]/DB`, also `postgresql://`; options `sslmode`
    /// and `application_name`, `readiness` by default). `sslmode=disable` (the default) is
    /// plain TCP; `require` and `verify-full` (feature `tls`) are TLS against the system's
    /// roots, both verifying the server's chain and host name (use
    /// [`from_url_with_tls`](Self::from_url_with_tls) for a private CA).
    ///
    /// ```
    /// use readiness_checks::PostgresCheck;
    ///
    /// let db = PostgresCheck::from_url("postgres://app:s3cret@127.0.0.1:5432/orders")?;
    /// assert!(!format!("{db:?}").contains("s3cret"));
    /// let err = PostgresCheck::from_url("postgres://app:s3/cret@127.0.0.1/orders").unwrap_err();
    /// assert!(!err.to_string().contains("cret"), "{err}");
    /// # Ok::<(), readiness_checks::CheckUrlError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// A URL without a host, with an unknown option, a user or password that needs
    /// percent-encoding, or an `sslmode` this check does not take (`prefer`, `allow` and
    /// `verify-ca` would let an unverified server pass); TLS asked for without feature `tls`
    /// or without system roots.
    pub fn from_url(url: &str) -> Result<Self, CheckUrlError> {
        let (parsed, wants_tls) = parse_url(url)?;
        if !wants_tls {
            return Ok(Self::from_parsed(parsed, None));
        }
        #[cfg(feature = "tls")]
        {
            let tls = crate::TlsConfig::system().map_err(CheckUrlError::Tls)?;
            Ok(Self::from_parsed(parsed, Some(&tls)))
        }
        #[cfg(not(feature = "tls"))]
        Err(CheckUrlError::invalid(
            url,
            "sslmode=require and verify-full need feature `tls`",
        ))
    }

    /// [`from_url`](Self::from_url) with these TLS settings (a private CA, a client
    /// certificate) for `sslmode=require` and `verify-full`.
    ///
    /// # Errors
    ///
    /// As [`from_url`](Self::from_url).
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn from_url_with_tls(url: &str, tls: &crate::TlsConfig) -> Result<Self, CheckUrlError> {
        let (parsed, wants_tls) = parse_url(url)?;
        Ok(Self::from_parsed(parsed, wants_tls.then_some(tls)))
    }

    fn from_parsed(url: ParsedUrl, tls: Option<&UrlTls>) -> Self {
        let shown = url.target.shown.clone();
        #[cfg(feature = "tls")]
        let tls = tls.map(|t| t.client(b""));
        #[cfg(not(feature = "tls"))]
        let tls = tls.map(|never| match *never {});
        Self {
            source: Source::Own(OwnConnection::new(UrlOpen {
                config: url.config,
                target: url.target,
                tls,
                resolver: Resolver::new(),
            })),
            shown,
        }
    }
}

#[cfg(feature = "tls")]
type UrlTls = crate::TlsConfig;
#[cfg(not(feature = "tls"))]
type UrlTls = std::convert::Infallible;

struct ParsedUrl {
    config: tokio_postgres::Config,
    target: Target,
}

/// The URL's connection settings, and whether it asks for TLS.
fn parse_url(url: &str) -> Result<(ParsedUrl, bool), CheckUrlError> {
    let parsed = DataUrl::parse(url, SCHEMES, EXPECTED)?;
    parsed.only_options(url, &["sslmode", "application_name"])?;
    let tls = match parsed.option("sslmode").unwrap_or("disable") {
        "disable" => false,
        "require" | "verify-full" => true,
        _ => {
            return Err(CheckUrlError::invalid(
                url,
                "sslmode takes disable, require or verify-full (both verify the server)",
            ));
        }
    };
    let mut config = tokio_postgres::Config::new();
    config
        .host(parsed.target.hostname())
        .port(parsed.target.port)
        .user(parsed.user.as_deref().unwrap_or("postgres"))
        .application_name(parsed.option("application_name").unwrap_or("readiness"))
        .ssl_mode(if tls {
            tokio_postgres::config::SslMode::Require
        } else {
            tokio_postgres::config::SslMode::Disable
        });
    if let Some(p) = &parsed.password {
        config.password(p.expose());
    }
    if !parsed.database.is_empty() {
        config.dbname(&parsed.database);
    }
    Ok((
        ParsedUrl {
            config,
            target: parsed.target,
        },
        tls,
    ))
}

#[cfg(any(
    feature = "postgres-deadpool",
    feature = "postgres-bb8",
    feature = "postgres-sqlx"
))]
impl PostgresCheck {
    /// A check with one connection of its own, opened by `open`, shown as `shown`.
    fn own(open: impl Open, shown: &str) -> Self {
        Self {
            source: Source::Own(OwnConnection::new(open)),
            shown: shown.into(),
        }
    }
}

#[cfg(feature = "postgres-deadpool")]
impl PostgresCheck {
    /// A check with one connection of its own, opened through this pool's manager (its
    /// configuration and TLS), outside the pool: it never waits for the pool.
    fn deadpool(pool: &deadpool_postgres::Pool) -> Self {
        Self::own(DeadpoolOpen(pool.clone()), "postgres deadpool")
    }
}

#[cfg(feature = "postgres-bb8")]
impl PostgresCheck {
    /// A check with one connection of its own, opened with this pool's manager
    /// (`Pool::dedicated_connection`): it never waits for the pool.
    fn bb8<T>(pool: &bb8::Pool<bb8_postgres::PostgresConnectionManager<T>>) -> Self
    where
        T: tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket>,
        bb8_postgres::PostgresConnectionManager<T>: bb8::ManageConnection<
                Connection = tokio_postgres::Client,
                Error = tokio_postgres::Error,
            >,
    {
        Self::own(Bb8Open(pool.clone()), "postgres bb8")
    }
}

#[cfg(feature = "postgres-sqlx")]
impl PostgresCheck {
    /// A check with one connection of its own, opened with this pool's connect options (its
    /// URL, credentials and TLS), outside the pool: it never waits for the pool.
    fn sqlx(pool: &sqlx::PgPool) -> Self {
        Self::own(
            SqlxOpen {
                pool: pool.clone(),
                kind: "postgres",
            },
            "postgres sqlx",
        )
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
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        if let Some(TlsFailed(reason)) = err.downcast_ref::<TlsFailed>() {
            return CheckFailure::new(reason.clone());
        }
        next = err.source();
    }
    if let Some(io) = reason::io_source(e) {
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
    target: Target,
    #[cfg(feature = "tls")]
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    #[cfg(not(feature = "tls"))]
    tls: Option<std::convert::Infallible>,
    resolver: Resolver,
}

impl Open for UrlOpen {
    fn open(&self) -> BoxFuture<'_, Result<Box<dyn OwnConn>, CheckFailure>> {
        Box::pin(async move {
            let started = tokio::time::Instant::now();
            // Resolved and connected here (bounded, within the run), not by tokio-postgres.
            let tcp = reason::step(
                "connect",
                started,
                self.resolver
                    .connect(self.target.hostname(), self.target.port),
            )
            .await
            .map_err(CheckFailure::new)?;
            let task = match &self.tls {
                None => {
                    let (client, connection) = self
                        .config
                        .connect_raw(tcp, tokio_postgres::NoTls)
                        .await
                        .map_err(|e| connecting(failure(&e), reason::io_source(&e).is_some()))?;
                    (client, Driver::spawn(async move { drop(connection.await) }))
                }
                #[cfg(feature = "tls")]
                Some(config) => {
                    let tls = tls::PgTls {
                        config: config.clone(),
                        host: self.target.hostname().to_owned(),
                        started,
                    };
                    let (client, connection) =
                        self.config.connect_raw(tcp, tls).await.map_err(|e| {
                            connecting(failure(&e), reason::io_source(&e).is_some())
                        })?;
                    (client, Driver::spawn(async move { drop(connection.await) }))
                }
                #[cfg(not(feature = "tls"))]
                Some(never) => match *never {},
            };
            let (client, driver) = task;
            Ok(Box::new(TokioPgConn {
                _driver: driver,
                client,
            }) as Box<dyn OwnConn>)
        })
    }
}

/// A TLS handshake that failed, in the shared TLS vocabulary (`tls: certificate expired at
/// ...`), carried through tokio-postgres' error.
#[derive(Debug)]
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
struct TlsFailed(String);

impl fmt::Display for TlsFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsFailed {}

#[cfg(feature = "tls")]
mod tls {
    //! `sslmode=require`/`verify-full` for the URL's own connection: tokio-postgres asks the
    //! server for TLS, then hands the socket to the shared handshake (verification always on,
    //! the certificate's expiry recorded).

    use std::io;
    use std::pin::Pin;
    use std::sync::Arc;
    use std::task::{Context, Poll};

    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
    use tokio::net::TcpStream;
    use tokio_postgres::tls::{ChannelBinding, TlsConnect};

    use super::TlsFailed;
    use crate::own::BoxFuture;

    pub(super) struct PgTls {
        pub(super) config: Arc<rustls::ClientConfig>,
        pub(super) host: String,
        pub(super) started: tokio::time::Instant,
    }

    impl TlsConnect<TcpStream> for PgTls {
        type Stream = PgTlsStream;
        type Error = TlsFailed;
        type Future = BoxFuture<'static, Result<PgTlsStream, TlsFailed>>;

        fn connect(self, stream: TcpStream) -> Self::Future {
            Box::pin(async move {
                crate::tls::handshake(self.config, &self.host, stream, self.started)
                    .await
                    .map(|s| PgTlsStream(Box::new(s)))
                    .map_err(TlsFailed)
            })
        }
    }

    pub(super) struct PgTlsStream(Box<tokio_rustls::client::TlsStream<TcpStream>>);

    impl tokio_postgres::tls::TlsStream for PgTlsStream {
        fn channel_binding(&self) -> ChannelBinding {
            // SCRAM without channel binding, as libpq's `channel_binding=prefer` falls back to.
            ChannelBinding::none()
        }
    }

    impl AsyncRead for PgTlsStream {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Pin::new(&mut *self.0).poll_read(cx, buf)
        }
    }

    impl AsyncWrite for PgTlsStream {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            Pin::new(&mut *self.0).poll_write(cx, buf)
        }
        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut *self.0).poll_flush(cx)
        }
        fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut *self.0).poll_shutdown(cx)
        }
    }
}

/// A `tokio_postgres` connection of the check's own; its task ends with it.
struct TokioPgConn {
    /// Held for its drop, which ends the task.
    _driver: Driver,
    client: tokio_postgres::Client,
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
                .map_err(|e| connecting(failure(&e), reason::io_source(&e).is_some()))?;
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
struct Bb8Open<T>(bb8::Pool<bb8_postgres::PostgresConnectionManager<T>>)
where
    T: tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket>,
    bb8_postgres::PostgresConnectionManager<T>:
        bb8::ManageConnection<Connection = tokio_postgres::Client, Error = tokio_postgres::Error>;

#[cfg(feature = "postgres-bb8")]
impl<T> Open for Bb8Open<T>
where
    T: tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket>,
    bb8_postgres::PostgresConnectionManager<T>:
        bb8::ManageConnection<Connection = tokio_postgres::Client, Error = tokio_postgres::Error>,
{
    fn open(&self) -> BoxFuture<'_, Result<Box<dyn OwnConn>, CheckFailure>> {
        Box::pin(async move {
            let client = self
                .0
                .dedicated_connection()
                .await
                .map_err(|e| connecting(failure(&e), reason::io_source(&e).is_some()))?;
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
impl OwnConn for SqlxConn<sqlx::PgConnection> {
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
