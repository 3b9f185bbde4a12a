//! Redis: `PING` or `CLUSTER INFO` through the application's connection, or from a URL ([`RedisCheck`]).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use readiness_core::{Check, CheckFailure, CheckFuture, CheckResult};

use crate::data_url::{DataUrl, Secret};
use crate::own::{BoxFuture, Driver, Open, OwnConn, OwnConnection};
use crate::reason;
use crate::resolve::Resolver;
use crate::target::{CheckUrlError, Target};

const EXPECTED: &str = "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] (rediss:// with TLS)";

/// Redis: `PING` through the application's connection manager or multiplexed connection, or from
/// a URL; a cluster also needs `CLUSTER INFO` to say `cluster_state:ok`.
///
/// ```text
/// RedisCheck::from_connection(manager.clone())     // redis::aio::ConnectionManager
/// RedisCheck::from_connection(multiplexed.clone()) // redis::aio::MultiplexedConnection
/// RedisCheck::from_url("redis://:secret@cache:6379/0")?  // rediss:// with the `tls` feature
/// RedisCheck::from_connection(node.clone()).cluster()     // a cluster node: cluster_state:ok
/// ```
///
/// Passes when the server answers `PONG` (with [`RedisCheck::cluster`], when `CLUSTER INFO`
/// says `cluster_state:ok`). Fails with the server's error code (`redis: WRONGPASS`,
/// `redis: NOAUTH`, `redis: LOADING`, `redis: cluster_state:fail`) or with what the connection
/// met (`connect: connection refused`, a TLS reason of the `tls` feature); a server that does not
/// answer is cut off by the engine's timeout (or by the connection's own response timeout, which
/// redis-rs sets to 500 ms by default on the application's connections).
///
/// ```
/// use readiness_checks::RedisCheck;
/// use readiness_core::{CheckSpec, Engine};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let cache = RedisCheck::from_url("redis://:s3cret@127.0.0.1:6379/0")?;
/// assert!(!format!("{cache:?}").contains("s3cret"));
/// let engine = Engine::builder().check(CheckSpec::readiness("cache", cache)).build()?;
/// # let _ = engine;
/// # Ok(()) }
/// ```
///
/// # A busy Redis is not a down Redis
///
/// The application's connection manager and multiplexed connection are one pipelined
/// connection shared by every caller: `PING` goes in the same pipe as business commands, waits
/// only for the commands ahead of it, and adds no connection. From a URL the check keeps one
/// multiplexed connection of its own, reused across runs and reopened when it breaks: at most
/// one connection per instance. Limits: a blocking command (`BLPOP` with a long timeout) on the
/// application's multiplexed connection holds the pipe, and the check with it (redis-rs advises
/// against blocking commands on a multiplexed connection for the same reason).
pub struct RedisCheck {
    source: Source,
    cluster: bool,
    /// Shared with the URL's own connection, which probes in the same mode.
    own_cluster: Arc<AtomicBool>,
    shown: Arc<str>,
}

enum Source {
    Manager(redis::aio::ConnectionManager),
    Multiplexed(redis::aio::MultiplexedConnection),
    Own(OwnConnection),
}

impl fmt::Debug for RedisCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisCheck")
            .field("target", &self.shown)
            .field("cluster", &self.cluster)
            .finish_non_exhaustive()
    }
}

/// A connection [`RedisCheck::from_connection`] takes: `redis::aio::ConnectionManager` or
/// `redis::aio::MultiplexedConnection` (both cheap clones of one pipelined connection).
pub trait RedisConnection: sealed::Sealed {
    #[doc(hidden)]
    fn into_source(self) -> RedisSource;
}

/// Hidden: what a [`RedisConnection`] becomes.
#[doc(hidden)]
pub struct RedisSource(Source);

mod sealed {
    pub trait Sealed {}
    impl Sealed for redis::aio::ConnectionManager {}
    impl Sealed for redis::aio::MultiplexedConnection {}
}

impl RedisConnection for redis::aio::ConnectionManager {
    fn into_source(self) -> RedisSource {
        RedisSource(Source::Manager(self))
    }
}

impl RedisConnection for redis::aio::MultiplexedConnection {
    fn into_source(self) -> RedisSource {
        RedisSource(Source::Multiplexed(self))
    }
}

impl RedisCheck {
    /// A check through the application's connection (a clone of its `ConnectionManager` or
    /// `MultiplexedConnection`): no connection of its own.
    pub fn from_connection(conn: impl RedisConnection) -> Self {
        Self {
            source: conn.into_source().0,
            cluster: false,
            own_cluster: Arc::default(),
            shown: "redis connection".into(),
        }
    }

    /// A check with one multiplexed connection of its own, opened from `url`
    /// (`redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]`; `rediss://` is TLS, feature `tls`,
    /// against the system's roots: the server's chain and name are always verified; use
    /// [`from_url_with_tls`](Self::from_url_with_tls) for a private CA).
    ///
    /// ```
    /// use readiness_checks::RedisCheck;
    ///
    /// let cache = RedisCheck::from_url("redis://:s3cret@127.0.0.1:6379/0")?;
    /// assert!(!format!("{cache:?}").contains("s3cret"));
    /// assert!(RedisCheck::from_url("redis://127.0.0.1:6379/zero").is_err());
    /// # Ok::<(), readiness_checks::CheckUrlError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// A URL without a host, with any `?option`, a database that is not a number, or a user
    /// or password that needs percent-encoding; `rediss://` without feature `tls` or without
    /// system roots.
    pub fn from_url(url: &str) -> Result<Self, CheckUrlError> {
        let (parsed, db) = parse_url(url)?;
        if parsed.target.scheme != "rediss" {
            return Ok(Self::from_parsed(parsed, db, None));
        }
        #[cfg(feature = "tls")]
        {
            let tls = crate::TlsConfig::system().map_err(CheckUrlError::Tls)?;
            Ok(Self::from_parsed(parsed, db, Some(&tls)))
        }
        #[cfg(not(feature = "tls"))]
        Err(CheckUrlError::invalid(url, "rediss:// needs feature `tls`"))
    }

    /// [`from_url`](Self::from_url) with these TLS settings (a private CA, a client
    /// certificate) for `rediss://`.
    ///
    /// # Errors
    ///
    /// As [`from_url`](Self::from_url).
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn from_url_with_tls(url: &str, tls: &crate::TlsConfig) -> Result<Self, CheckUrlError> {
        let (parsed, db) = parse_url(url)?;
        let wants_tls = parsed.target.scheme == "rediss";
        Ok(Self::from_parsed(parsed, db, wants_tls.then_some(tls)))
    }

    fn from_parsed(parsed: DataUrl, db: i64, tls: Option<&UrlTls>) -> Self {
        #[cfg(feature = "tls")]
        let tls = tls.map(|t| t.client(b""));
        #[cfg(not(feature = "tls"))]
        let tls = tls.map(|never| match *never {});
        let own_cluster = Arc::new(AtomicBool::new(false));
        Self {
            shown: parsed.target.shown.clone(),
            source: Source::Own(OwnConnection::new(UrlOpen {
                target: parsed.target,
                tls,
                resolver: Resolver::new(),
                user: parsed.user,
                password: parsed.password,
                db,
                cluster: own_cluster.clone(),
            })),
            cluster: false,
            own_cluster,
        }
    }

    /// Also require the cluster to be healthy: the check sends `CLUSTER INFO` (instead of
    /// `PING`) to the node it is connected to and passes only on `cluster_state:ok`, as a
    /// cluster-aware client would need. A node that is not in cluster mode fails.
    pub fn cluster(mut self) -> Self {
        self.cluster = true;
        self.own_cluster.store(true, Ordering::Relaxed);
        self
    }
}

#[cfg(feature = "tls")]
type UrlTls = crate::TlsConfig;
#[cfg(not(feature = "tls"))]
type UrlTls = std::convert::Infallible;

/// The URL's parts and its database number.
fn parse_url(url: &str) -> Result<(DataUrl, i64), CheckUrlError> {
    let parsed = DataUrl::parse(url, &[("redis", 6379), ("rediss", 6379)], EXPECTED)?;
    parsed.only_options(url, &[])?;
    let db = if parsed.database.is_empty() {
        0
    } else {
        parsed
            .database
            .parse::<i64>()
            .ok()
            .filter(|db| *db >= 0)
            .ok_or_else(|| CheckUrlError::invalid(url, "the database is not a number"))?
    };
    Ok((parsed, db))
}

impl Check for RedisCheck {
    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move {
            match &self.source {
                Source::Manager(m) => probe(&mut m.clone(), self.cluster).await,
                Source::Multiplexed(m) => probe(&mut m.clone(), self.cluster).await,
                Source::Own(own) => own.run().await,
            }
        })
    }
}

async fn probe(conn: &mut impl redis::aio::ConnectionLike, cluster: bool) -> CheckResult {
    if cluster {
        let info: String = redis::cmd("CLUSTER")
            .arg("INFO")
            .query_async(conn)
            .await
            .map_err(|e| {
                if e.code() == Some("ERR")
                    && e.detail()
                        .is_some_and(|d| d.contains("cluster support disabled"))
                {
                    CheckFailure::new("redis: cluster support disabled")
                } else {
                    failure(&e)
                }
            })?;
        let state = info
            .lines()
            .find_map(|l| l.trim().strip_prefix("cluster_state:"))
            .unwrap_or("");
        if state == "ok" {
            Ok(())
        } else if state.chars().all(|c| c.is_ascii_alphanumeric()) && !state.is_empty() {
            Err(CheckFailure::new(format!("redis: cluster_state:{state}")))
        } else {
            Err(CheckFailure::new(
                "redis: CLUSTER INFO has no cluster_state",
            ))
        }
    } else {
        let pong: String = redis::cmd("PING")
            .query_async(conn)
            .await
            .map_err(|e| failure(&e))?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(CheckFailure::new("redis: PING did not answer PONG"))
        }
    }
}

/// `redis: CODE` for a server error (`WRONGPASS`, `NOAUTH`, `LOADING`, ...), the connection's
/// reason otherwise; never the server's message.
fn failure(e: &redis::RedisError) -> CheckFailure {
    if let Some(io) = reason::io_source(e) {
        return CheckFailure::new(reason::io(io));
    }
    // redis-rs keeps its I/O errors to itself (`source()` does not give them out).
    if e.is_timeout() {
        return CheckFailure::new("timeout");
    }
    if e.is_connection_refusal() {
        return CheckFailure::new("connect: connection refused");
    }
    if let Some(code) = e.code() {
        // Server codes are one upper-case word; anything else is not repeated.
        if !code.is_empty()
            && code.len() <= 32
            && code.chars().all(|c| c.is_ascii_uppercase() || c == '_')
        {
            return CheckFailure::new(format!("redis: {code}"));
        }
        return CheckFailure::new("redis: server error");
    }
    match e.kind() {
        redis::ErrorKind::AuthenticationFailed => CheckFailure::new("redis: authentication failed"),
        redis::ErrorKind::Io => CheckFailure::new("redis: connection closed"),
        redis::ErrorKind::Parse | redis::ErrorKind::UnexpectedReturnType => {
            CheckFailure::new("redis: unexpected reply")
        }
        _ => CheckFailure::new("redis: error"),
    }
}

struct UrlOpen {
    target: Target,
    tls: Option<crate::io::Tls>,
    resolver: Resolver,
    user: Option<String>,
    password: Option<Secret>,
    db: i64,
    cluster: Arc<AtomicBool>,
}

impl Open for UrlOpen {
    fn open(&self) -> BoxFuture<'_, Result<Box<dyn OwnConn>, CheckFailure>> {
        Box::pin(async move {
            // Resolved, connected and (rediss://) shaken hands here, each step bounded.
            let stream = crate::io::connect(
                &self.resolver,
                &self.target,
                self.tls.as_ref(),
                tokio::time::Instant::now(),
            )
            .await
            .map_err(CheckFailure::new)?;
            // AUTH and SELECT are sent here rather than by redis-rs, which reports a refused
            // AUTH without the server's code (`WRONGPASS`, `NOAUTH`).
            let (mut conn, driver) = redis::aio::MultiplexedConnection::new_with_config(
                &redis::RedisConnectionInfo::default(),
                stream,
                // The engine's timeout bounds the run; redis-rs' own (500 ms by default) would
                // fail a server that is slow but answering within it.
                redis::AsyncConnectionConfig::new().set_response_timeout(None),
            )
            .await
            .map_err(|e| failure(&e))?;
            let own = OwnRedis {
                driver: Driver::spawn(driver),
                conn: conn.clone(),
                cluster: self.cluster.clone(),
            };
            if let Some(password) = &self.password {
                let mut auth = redis::cmd("AUTH");
                if let Some(user) = &self.user {
                    auth.arg(user);
                }
                auth.arg(password.expose());
                auth.query_async::<()>(&mut conn)
                    .await
                    .map_err(|e| failure(&e))?;
            }
            if self.db != 0 {
                redis::cmd("SELECT")
                    .arg(self.db)
                    .query_async::<()>(&mut conn)
                    .await
                    .map_err(|e| match e.code() {
                        Some("ERR") => CheckFailure::new("redis: no such database (ERR)"),
                        _ => failure(&e),
                    })?;
            }
            Ok(Box::new(own) as Box<dyn OwnConn>)
        })
    }
}

/// The check's own multiplexed connection; its task ends with it.
struct OwnRedis {
    driver: Driver,
    conn: redis::aio::MultiplexedConnection,
    cluster: Arc<AtomicBool>,
}

impl OwnConn for OwnRedis {
    fn is_broken(&self) -> bool {
        self.driver.is_finished()
    }
    fn probe(&mut self) -> BoxFuture<'_, CheckResult> {
        let cluster = self.cluster.load(Ordering::Relaxed);
        Box::pin(probe(&mut self.conn, cluster))
    }
}
