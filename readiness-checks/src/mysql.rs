//! MySQL and MariaDB: `COM_PING` on a connection of the check's own ([`MysqlCheck`]).

use std::fmt;
use std::sync::Arc;

use readiness_core::{Check, CheckFailure, CheckFuture, CheckResult};

use crate::data_url::DataUrl;
use crate::own::{BoxFuture, Open, OwnConn, OwnConnection, connecting};
use crate::reason;
use crate::resolve::Resolver;
use crate::target::{CheckUrlError, Target};

const EXPECTED: &str = "mysql://USER[:PASSWORD]@HOST[:PORT]/DB";

/// MySQL and MariaDB: `COM_PING` on a connection of the check's own, opened with the
/// application's configuration.
///
/// ```text
/// MysqlCheck::from_pool(&pool)           // sqlx::MySqlPool          (feature mysql-sqlx)
/// MysqlCheck::from_opts(opts.clone())    // the mysql_async::Opts your Pool was built from (mysql)
/// MysqlCheck::from_url("mysql://app@db:3306/orders")?                 (feature mysql)
/// ```
///
/// Passes when the server answers `COM_PING` with OK. Fails with the server's error number and
/// what it means (`mysql: access denied (1045)`, `mysql: unknown database (1049)`), or with what
/// the connection met (`connect: connection refused`); a server that does not answer is cut off
/// by the engine's timeout. `Debug` and reasons never show the user or the password.
///
/// ```
/// use readiness_checks::MysqlCheck;
/// use readiness_core::{CheckSpec, Engine};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let db = MysqlCheck::from_url("mysql://app:s3cret@127.0.0.1:3306/orders")?;
/// assert!(!format!("{db:?}").contains("s3cret"));
/// let engine = Engine::builder().check(CheckSpec::readiness("db", db)).build()?;
/// # let _ = engine;
/// # Ok(()) }
/// ```
///
/// # A busy database is not a down database
///
/// The check never takes one of the application's pooled connections: it keeps **one
/// connection of its own**, opened with the pool's own options (URL, credentials), reused across
/// runs and reopened when it breaks. Business traffic that holds every pooled connection does not
/// touch it, so a busy instance stays ready; a server that refuses, errors or stops answering
/// fails the ping or the reconnect within the run's timeout. At most one connection per
/// instance. `mysql_async`'s `Pool` does not expose the options it was built from, so that
/// adapter takes the `Opts` themselves.
///
/// Limits: the check proves that the server answers this instance, not that the pool is
/// healthy (a pool that leaks its connections is not seen), and a server at `max_connections`
/// refuses the check's reconnect once its connection broke. TLS: the check opens its connection
/// with the application's options (with `mysql_async`'s own TLS settings, if any); a URL takes
/// no TLS option.
pub struct MysqlCheck {
    own: OwnConnection,
    shown: Arc<str>,
}

impl fmt::Debug for MysqlCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MysqlCheck")
            .field("target", &self.shown)
            .finish_non_exhaustive()
    }
}

impl MysqlCheck {
    /// A check with one connection of its own, opened with these options (the ones the
    /// application's `mysql_async::Pool` was built from).
    pub fn from_opts(opts: mysql_async::Opts) -> Self {
        let shown = Target::new("mysql", opts.ip_or_hostname(), opts.tcp_port(), "").shown;
        Self {
            own: OwnConnection::new(AsyncOpen::new(opts)),
            shown,
        }
    }

    /// A check with one connection of its own, opened from `url`
    /// (`mysql://USER[:PASSWORD]@HOST[:PORT]/DB`; no options).
    ///
    /// ```
    /// use readiness_checks::MysqlCheck;
    ///
    /// let db = MysqlCheck::from_url("mysql://app:s3cret@127.0.0.1:3306/orders")?;
    /// assert!(!format!("{db:?}").contains("s3cret"));
    /// assert!(MysqlCheck::from_url("mysql://app:s3cret@/orders").is_err()); // no host
    /// # Ok::<(), readiness_checks::CheckUrlError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// A URL without a host, with any `?option`, or a user or password that needs
    /// percent-encoding.
    pub fn from_url(url: &str) -> Result<Self, CheckUrlError> {
        let parsed = DataUrl::parse(url, &[("mysql", 3306)], EXPECTED)?;
        parsed.only_options(url, &[])?;
        let mut opts = mysql_async::OptsBuilder::default()
            .ip_or_hostname(parsed.target.hostname())
            .tcp_port(parsed.target.port)
            .user(parsed.user.clone())
            .pass(parsed.password.as_ref().map(|p| p.expose().to_owned()))
            // The check probes the TCP endpoint it was given, not a local socket it found.
            .prefer_socket(false);
        if !parsed.database.is_empty() {
            opts = opts.db_name(Some(parsed.database.clone()));
        }
        Ok(Self {
            own: OwnConnection::new(AsyncOpen::new(opts.into())),
            shown: parsed.target.shown.clone(),
        })
    }
}

#[cfg(feature = "mysql-sqlx")]
impl MysqlCheck {
    /// A check with one connection of its own, opened with this pool's connect options (its
    /// URL, credentials and TLS), outside the pool: it never waits for the pool.
    pub fn from_pool(pool: &sqlx::MySqlPool) -> Self {
        Self {
            own: OwnConnection::new(SqlxOpen(pool.clone())),
            shown: "mysql sqlx pool".into(),
        }
    }
}

impl Check for MysqlCheck {
    fn check(&self) -> CheckFuture<'_> {
        Box::pin(self.own.run())
    }
}

/// `mysql: KIND (NUMBER)` for the server errors a check meets.
pub(crate) fn code_reason(code: u16) -> String {
    let kind = match code {
        1045 => "access denied",
        1044 => "access denied to database",
        1049 => "unknown database",
        1040 => "too many connections",
        1203 => "too many connections for user",
        1129 => "host blocked",
        1130 => "host not allowed",
        1053 => "server shutdown in progress",
        1927 => "connection killed",
        _ => "server error",
    };
    format!("mysql: {kind} ({code})")
}

fn failure(e: &mysql_async::Error) -> CheckFailure {
    match e {
        mysql_async::Error::Server(s) => CheckFailure::new(code_reason(s.code)),
        mysql_async::Error::Io(io) => match reason::io_source(io) {
            Some(io) => CheckFailure::new(reason::io(io)),
            None => CheckFailure::new("mysql: tls error"),
        },
        mysql_async::Error::Driver(mysql_async::DriverError::ConnectionClosed) => {
            CheckFailure::new("mysql: connection closed")
        }
        mysql_async::Error::Driver(_) => CheckFailure::new("mysql: protocol error"),
        _ => CheckFailure::new("mysql: error"),
    }
}

struct AsyncOpen {
    opts: mysql_async::Opts,
    resolver: Resolver,
}

impl AsyncOpen {
    fn new(opts: mysql_async::Opts) -> Self {
        Self {
            opts,
            resolver: Resolver::new(),
        }
    }
}

impl Open for AsyncOpen {
    fn open(&self) -> BoxFuture<'_, Result<Box<dyn OwnConn>, CheckFailure>> {
        Box::pin(async move {
            let mut opts = self.opts.clone();
            // A host name is resolved here (bounded, within the run) rather than by
            // mysql_async; with TLS the name stays, for the certificate's name check.
            let host = opts.ip_or_hostname().to_owned();
            if opts.ssl_opts().is_none() && host.parse::<std::net::IpAddr>().is_err() {
                let addrs = self
                    .resolver
                    .resolve(&host, opts.tcp_port())
                    .await
                    .map_err(CheckFailure::new)?;
                if let Some(addr) = addrs.first() {
                    opts = mysql_async::OptsBuilder::from_opts(opts)
                        .ip_or_hostname(addr.ip().to_string())
                        .into();
                }
            }
            let conn = mysql_async::Conn::new(opts)
                .await
                .map_err(|e| connecting(failure(&e), reason::io_source(&e).is_some()))?;
            Ok(Box::new(AsyncConn(conn)) as Box<dyn OwnConn>)
        })
    }
}

struct AsyncConn(mysql_async::Conn);

impl OwnConn for AsyncConn {
    fn probe(&mut self) -> BoxFuture<'_, CheckResult> {
        use mysql_async::prelude::Queryable as _;
        Box::pin(async move { self.0.ping().await.map_err(|e| failure(&e)) })
    }
}

#[cfg(feature = "mysql-sqlx")]
struct SqlxOpen(sqlx::MySqlPool);

#[cfg(feature = "mysql-sqlx")]
impl Open for SqlxOpen {
    fn open(&self) -> BoxFuture<'_, Result<Box<dyn OwnConn>, CheckFailure>> {
        use sqlx::ConnectOptions as _;
        Box::pin(async move {
            let conn = self.0.connect_options().connect().await.map_err(|e| {
                connecting(
                    crate::sqlx_reason::failure("mysql", &e),
                    matches!(e, sqlx::Error::Io(_)),
                )
            })?;
            Ok(Box::new(SqlxConn(conn)) as Box<dyn OwnConn>)
        })
    }
}

#[cfg(feature = "mysql-sqlx")]
struct SqlxConn(sqlx::MySqlConnection);

#[cfg(feature = "mysql-sqlx")]
impl OwnConn for SqlxConn {
    fn probe(&mut self) -> BoxFuture<'_, CheckResult> {
        use sqlx::Connection as _;
        Box::pin(async move {
            self.0
                .ping()
                .await
                .map_err(|e| crate::sqlx_reason::failure("mysql", &e))
        })
    }
}
