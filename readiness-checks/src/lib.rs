//! Ready-made readiness checks of dependencies for the `readiness` engine: the checks users
//! otherwise write by hand, one feature per kind of dependency.
//!
//! | feature | check | one line of setup | passes when |
//! |---|---|---|---|
//! | `tcp` | [`TcpCheck`] | `TcpCheck::new("10.0.0.5:5432")` | the connect succeeds |
//! | `service` | [`ServiceCheck`] | `ServiceCheck::new(client.clone(), \|\| request)` | the service answers (or your verdict says so) |
//! | `http` | [`HttpCheck`] | `HttpCheck::new("https://10.0.0.5:8443/healthz")?` | kubelet's rule: `200 <= status < 400`, same-host redirects followed |
//! | `grpc` | [`GrpcCheck`] | `GrpcCheck::new("https://10.0.0.5:50051")?.service("name")` | the dependency's `grpc.health.v1` `Check` answers `SERVING` |
//! | `tls` | [`TlsConfig`], [`CertificateCheck`] | `CertificateCheck::new("/etc/tls/tls.crt")?` | every certificate in the file is valid now (and for `min_validity`) |
//! | `dns` | [`DnsCheck`] | `DnsCheck::new("db.internal")` | the name resolves (to the expected addresses) |
//! | `disk` | [`DiskSpaceCheck`] | `DiskSpaceCheck::new("/var/lib/app")` | at least 10 MiB (or your threshold) free |
//! | `postgres` | [`PostgresCheck`] | `PostgresCheck::from_pool(&pool)` | `SELECT 1` returns its row |
//! | `mysql` | [`MysqlCheck`] | `MysqlCheck::from_pool(&pool)` | the server answers `COM_PING` |
//! | `redis` | [`RedisCheck`] | `RedisCheck::from_connection(manager.clone())` | `PONG` (a cluster: `cluster_state:ok` too) |
//!
//! The data checks take what the application already has: `from_pool` takes a
//! `deadpool_postgres::Pool`, a `bb8::Pool` of `bb8_postgres` or an `sqlx::PgPool` (features
//! `postgres-deadpool`, `postgres-bb8`, `postgres-sqlx`) and an `sqlx::MySqlPool` (`mysql-sqlx`);
//! `PostgresCheck::from_client` a `tokio_postgres::Client`, `MysqlCheck::from_opts` the
//! `mysql_async::Opts` of a pool, `RedisCheck::from_connection` a `ConnectionManager` or a
//! `MultiplexedConnection`; each also takes a URL (`from_url`, the demo's `postgres://`,
//! `mysql://`, `redis://`, `rediss://`).
//!
//! **A busy database is not a down database.** A pool-based check never waits for the pool:
//! it keeps one connection of its own, opened through the pool's own connector and kept across
//! runs, so business traffic that holds every pooled connection leaves the instance ready,
//! while a server that refuses, errors or stops answering fails the check within its timeout;
//! at most one extra connection per instance (Redis, whose connections are pipelined, goes
//! through the application's connection and adds none). Each check's docs give the limits.
//!
//! `https://` URLs (for [`HttpCheck`] and [`GrpcCheck`] alike; `grpcs://` is only the demo's
//! spelling) need `tls` besides `http` or `grpc`: rustls with the `ring`
//! provider (no OpenSSL, no aws-lc, no C toolchain), verification always on, the system's
//! roots plus CA files, optional mutual TLS ([`TlsConfig`]).
//!
//! Every check here:
//! - ends within the engine's timeout, name resolution, connect and handshake included, and a
//!   step that runs out of time says which (`tls: handshake timed out`);
//! - resolves names inside the run with the system resolver, at most one lookup in flight per
//!   check, so a hung resolver never piles up threads;
//! - reports a short reason a person can act on (`connect: connection refused`, `tls:
//!   certificate expired at 2026-11-30T00:00:00Z`, `status 503 Service Unavailable`), never
//!   a response body, and shows a URL as scheme, host, port and path only (never a user, a
//!   password or a query) in every reason and `Debug`;
//! - records `readiness_certificate_expiry_timestamp_seconds` (the earliest `notAfter` it saw)
//!   after every TLS handshake and every read of a certificate file, labelled by the engine
//!   with the check's registered name (and tenant).
//!
//! # Example
//!
//! ```
//! use readiness_checks::TcpCheck;
//! use readiness_core::{CheckSpec, Engine};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! # let addr = listener.local_addr()?.to_string();
//! let engine = Engine::builder()
//!     .check(CheckSpec::readiness("db", TcpCheck::new(addr)))
//!     .build()?;
//! engine.refresh().await?;
//! assert!(engine.is_ready());
//! # Ok(()) }
//! ```
//!
//! # The other crates
//!
//! - [`readiness-core`](https://docs.rs/readiness-core): the engine these checks run in.
//! - [`readiness-tower`](https://docs.rs/readiness-tower): serves the probes (`/readyz`, gRPC
//!   health, `/metrics`). This crate knows nothing about serving; the layer knows nothing
//!   about these checks: both stand on `readiness-core`.
#![cfg_attr(docsrs, feature(doc_cfg))]
// The crate's docs link every kind; a build without some kind's feature has no item to link to
// (CI documents with all features, where every link must resolve). `every_kind`: build.rs.
#![cfg_attr(not(every_kind), allow(rustdoc::broken_intra_doc_links))]

// What the checks share, once.
#[cfg(any_check)]
mod bounded;
#[cfg(any(feature = "postgres", feature = "mysql", feature = "redis"))]
mod data_url;
#[cfg(any(feature = "http", feature = "grpc", feature = "redis"))]
mod io;
#[cfg(any(feature = "postgres", feature = "mysql", feature = "redis"))]
mod own;
#[cfg(any(feature = "http", feature = "grpc"))]
mod probe;
#[cfg(any_check)]
mod reason;
#[cfg(resolving)]
mod resolve;
#[cfg(any(feature = "postgres-sqlx", feature = "mysql-sqlx"))]
mod sqlx_reason;
#[cfg(url_check)]
mod target;

// One module a kind.
#[cfg(feature = "disk")]
mod disk;
#[cfg(feature = "dns")]
mod dns;
#[cfg(feature = "grpc")]
mod grpc;
#[cfg(feature = "http")]
mod http;
#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "service")]
mod service;
#[cfg(feature = "tcp")]
mod tcp;
#[cfg(feature = "tls")]
mod tls;

#[cfg(feature = "disk")]
#[cfg_attr(docsrs, doc(cfg(feature = "disk")))]
pub use disk::{DEFAULT_MIN_FREE, DiskSpaceCheck};
#[cfg(feature = "dns")]
#[cfg_attr(docsrs, doc(cfg(feature = "dns")))]
pub use dns::DnsCheck;
#[cfg(feature = "grpc")]
#[cfg_attr(docsrs, doc(cfg(feature = "grpc")))]
pub use grpc::GrpcCheck;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub use http::HttpCheck;
#[cfg(feature = "mysql")]
#[cfg_attr(docsrs, doc(cfg(feature = "mysql")))]
pub use mysql::MysqlCheck;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::{PostgresCheck, PostgresPool};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis::{RedisCheck, RedisConnection};
#[cfg(feature = "service")]
#[cfg_attr(docsrs, doc(cfg(feature = "service")))]
pub use service::{OkPasses, ServiceCheck, Verdict};
#[cfg(url_check)]
#[cfg_attr(
    docsrs,
    doc(cfg(any(
        feature = "http",
        feature = "grpc",
        feature = "postgres",
        feature = "mysql",
        feature = "redis"
    )))
)]
pub use target::{CheckUrlError, redact_url};
#[cfg(feature = "tcp")]
#[cfg_attr(docsrs, doc(cfg(feature = "tcp")))]
pub use tcp::TcpCheck;
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub use tls::{CertificateCheck, TlsConfig, TlsConfigBuilder, TlsError};
