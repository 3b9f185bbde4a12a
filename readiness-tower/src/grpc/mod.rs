//! Our own `grpc.health.v1` service (Check, Watch and List) following the engine, for tonic.
//!
//! Generated at build time from the upstream `grpc/health/v1/health.proto` (vendored in
//! `proto/`, with `List` from gRFC A90). Service names:
//!
//! | service | follows |
//! |---|---|
//! | `""`, `readiness` | the instance's readiness (`/readyz`), `NOT_SERVING` until first ready |
//! | `liveness` | liveness (`/livez`): the names Kubernetes' gRPC probes are told to use |
//! | `startup` | `/startupz`: `SERVING` for good once started |
//! | `tenants/{id}` | that tenant's readiness |
//! | anything else | the application's own services, set through a [`HealthReporter`] |
//!
//! - `Check` of an unknown service answers status `NOT_FOUND`. `Watch` of an unknown service
//!   stays open: it sends `SERVICE_UNKNOWN`, then the real status when the service appears (a
//!   tenant added later, a service the application sets later), and `SERVICE_UNKNOWN` again if
//!   it goes away (a tenant removed). `Watch` sends a message only when the status changes. A
//!   name longer than any service can have ([`MAX_SERVICE_NAME_LEN`]) is no service that could
//!   appear: `Watch` answers `INVALID_ARGUMENT` and keeps nothing.
//! - `List` answers every service above with its status (never a reason); more services than
//!   the limit ([`HealthService::list_limit`], 100 by default as in the spec and grpc-go)
//!   answers `RESOURCE_EXHAUSTED`.
//! - On [`Engine::drain`], `""`, `readiness`, every tenant and every application service turn
//!   `NOT_SERVING` at once, while `liveness` stays `SERVING` and `startup` keeps its latch, as
//!   `/livez` and `/startupz` do. A drain is for good: a service set `SERVING` afterwards still
//!   answers `NOT_SERVING`.
//! - Once the engine is closed ([`Engine::close`], the end of the drain delay), every open
//!   `Watch` stream ends (status OK; clients retry elsewhere), so `serve_with_shutdown` returns
//!   in time instead of waiting on watchers.
//! - Statuses are read from the engine as the HTTP probes read them, and `Watch` wakes on the
//!   engine's own transitions ([`Engine::subscribe`], [`Engine::subscribe_tenants`]): nothing
//!   is polled and nothing is spawned. The service holds a weak handle and never keeps the
//!   engine alive; once the engine is gone, every service answers `NOT_SERVING` (tenants are
//!   unknown).
//! - Given a [`ReloadableEngine`](readiness_core::ReloadableEngine), the service follows its
//!   reloads: every name keeps its status across a reload (`liveness` never turns
//!   `NOT_SERVING` because the old engine went away), open `Watch` streams take the new
//!   engine's transitions from the swap on, and only the close ends them.
//! - An application that hands tonic its own listener (`TcpIncoming::from(listener)`) sets
//!   `.with_nodelay(Some(true))` on it, as tonic's `serve(addr)` does: without `TCP_NODELAY`,
//!   Nagle's algorithm can hold a small `Watch` message back until the client's delayed ACK.
//!
//! # Example
//!
//! ```no_run
//! use readiness_core::Engine;
//!
//! # async fn f(engine: Engine) -> Result<(), Box<dyn std::error::Error>> {
//! let (health, reporter) = readiness_tower::grpc::health_service(&engine);
//! // The application's own services; they turn NOT_SERVING on drain too.
//! reporter.set_serving("helloworld.Greeter")?;
//! tonic::transport::Server::builder()
//!     .add_service(health)
//!     // Ends when the engine is closed (after the drain delay): no Watch holds it open.
//!     .serve_with_shutdown("127.0.0.1:50051".parse()?, engine.closed())
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! [`Engine::drain`]: readiness_core::Engine::drain
//! [`Engine::close`]: readiness_core::Engine::close
//! [`Engine::subscribe`]: readiness_core::Engine::subscribe
//! [`Engine::subscribe_tenants`]: readiness_core::Engine::subscribe_tenants

mod codec;
mod reporter;
mod service;
mod status;
mod stream;

pub use reporter::{HealthReporter, ServiceNameError};
pub use service::{HealthService, health_service};

/// The generated `grpc.health.v1` messages, server (`health_server`) and client
/// (`health_client`), from the upstream `health.proto`.
///
/// ```
/// use readiness_tower::grpc::pb::{HealthCheckRequest, health_check_response::ServingStatus};
/// let req = HealthCheckRequest { service: "readiness".into() };
/// assert_eq!(ServingStatus::Serving as i32, 1);
/// # let _ = req;
/// ```
#[allow(
    missing_docs,
    unreachable_pub,
    rustdoc::bare_urls,
    rustdoc::invalid_html_tags,
    clippy::all,
    clippy::pedantic
)]
pub mod pb {
    tonic::include_proto!("grpc.health.v1");
}

pub use pb::health_check_response::ServingStatus;

/// Service `""`: the instance's readiness, like [`READINESS`].
pub const INSTANCE: &str = "";
/// Service `readiness`: the instance's readiness (`/readyz`).
pub const READINESS: &str = "readiness";
/// Service `liveness`: the instance's liveness (`/livez`).
pub const LIVENESS: &str = "liveness";
/// Service `startup`: whether the instance has started (`/startupz`).
pub const STARTUP: &str = "startup";
/// The prefix of a tenant's service, `tenants/{id}`.
pub const TENANT_PREFIX: &str = "tenants/";

/// The longest service name the health service answers, in bytes: an application service set
/// through the [`HealthReporter`] is at most this long (a longer one is refused), and a tenant's
/// `tenants/{id}` is at most 71 (ids are at most [`MAX_NAME_LEN`] bytes).
///
/// A `Watch` of a longer name answers `INVALID_ARGUMENT` at once (no stream is kept, so no
/// client can make the server hold its name for the stream's life), and a `Check` answers
/// `NOT_FOUND`, as for any unknown service.
///
/// [`MAX_NAME_LEN`]: readiness_core::MAX_NAME_LEN
///
/// ```
/// # fn f(reporter: readiness_tower::grpc::HealthReporter) {
/// use readiness_tower::grpc::MAX_SERVICE_NAME_LEN;
/// assert!(reporter.set_serving(&"a".repeat(MAX_SERVICE_NAME_LEN + 1)).is_err());
/// # }
/// ```
pub const MAX_SERVICE_NAME_LEN: usize = 256;

const _: () = assert!(TENANT_PREFIX.len() + readiness_core::MAX_NAME_LEN <= MAX_SERVICE_NAME_LEN);

/// The gRPC service name of a tenant: `tenants/{id}`.
///
/// ```
/// assert_eq!(readiness_tower::grpc::tenant_service("acme"), "tenants/acme");
/// ```
pub fn tenant_service(id: &str) -> String {
    format!("{TENANT_PREFIX}{id}")
}
