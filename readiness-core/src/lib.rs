//! The check engine behind `readiness`: Kubernetes-style health checks as a contract.
//!
//! Register named checks (liveness, readiness, startup); the [`Engine`] runs each in the
//! background on its own period, with jitter, a timeout and Kubernetes' failure and success
//! thresholds, and keeps an immutable [`Snapshot`] that probes read without locks. A probe never
//! runs a check inline and never waits on a dependency.
//!
//! - **Fail closed**: a readiness check with no result yet is `pending`, and not ready. Results
//!   expire: one older than its period + timeout + a margin fails as `stale: no result for Ns`,
//!   and reads compare deadlines with the clock themselves, so a dead task or a wedged runtime
//!   never leaves a dependency passing.
//! - **Isolation of failures**: a check that errors, times out or panics is a failure with a
//!   reason; a run that dies (even while its future is dropped) is restarted with back-off; the
//!   engine keeps running.
//! - **Fair under saturation**: one scheduler over every check, in-flight bounds, and a capped
//!   slow lane for checks that hang, so healthy checks keep their periods (see
//!   [`EngineBuilder::max_in_flight`]); jitter is seeded per instance.
//! - **Liveness stays local**: a built-in `heartbeat` liveness check watches the runtime, so
//!   liveness means something without touching a dependency.
//! - **Drain**: [`Engine::drain`] turns readiness off for good through a `shutdown` entry
//!   while liveness stays as it is; [`Engine::drain_on`] is the whole graceful shutdown
//!   (signal, drain, serve for the delay, close) as one future for the server.
//! - **One path for every result**: metrics ([`metrics`]), one `tracing` event per
//!   transition, and [`Engine::subscribe`] all hang on it, so a transition is counted once
//!   whatever the probe rate.
//! - **Reload while serving**: a [`ReloadableEngine`] is one handle that the layer, the gRPC
//!   health service and the drain future follow; [`ReloadableEngine::reload`] swaps in a new
//!   configuration with no probe gap, no phantom transition and no lost drain (the series pass
//!   over through [`EngineBuilder::reload_from`]).
//! - **A span per run**: every run of a check is a `tracing` span `readiness.check` (target
//!   `readiness`, level INFO) with the fields `check`, `tenant` (a tenant's checks only) and
//!   `kind`, and `outcome` (`ok`, `error`, `timeout`, `panic`) and `duration` (seconds, `f64`)
//!   recorded at its end. The check's own code runs inside it (making its future, polling it,
//!   dropping it), and so does recording its result: a transition's event belongs to the run
//!   that caused it. With no subscriber interested it costs a level check and a branch.
//!
//! - **Tenants**: per-tenant checks and state, added and removed at run time, capped, and
//!   isolated: a tenant's failure never changes the instance or another tenant (see
//!   [`Engine::add_tenant`]). An [`Auditor`] reads everything and changes nothing.
//!
//! This crate knows nothing about HTTP; `readiness-tower` serves the probes.
//!
//! # Features
//!
//! None: the engine needs only tokio, `metrics` (the facade; the application installs a
//! recorder) and `tracing`. Integrations live in the other crates.
//!
//! # The other crates
//!
//! - [`readiness-tower`](https://docs.rs/readiness-tower): `ReadinessLayer`, the probes of this
//!   engine for any tower stack (axum, hyper, tonic) in kube-apiserver's formats, gRPC health,
//!   `/metrics`. It re-exports this crate's common types.
//! - [`readiness-checks`](https://docs.rs/readiness-checks): ready-made checks of
//!   dependencies (TCP, HTTP(S), gRPC, TLS certificates, DNS, disk), one feature a kind.
//! - [`readiness-testkit`](https://docs.rs/readiness-testkit): a deterministic fault injector,
//!   in-process probe client and wait helpers for your own tests (feature `chaos`).
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use readiness_core::{check_fn, Engine, CheckSpec};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let engine = Engine::builder()
//!     .readiness("cache", check_fn(|| async { Ok::<(), std::io::Error>(()) }))
//!     .check(CheckSpec::readiness("db", check_fn(|| async { Err::<(), _>("connection refused") })).critical(false))
//!     .build()?;
//!
//! assert!(!engine.is_ready()); // fail closed: no result yet
//! engine.refresh().await?;     // or wait for the background runs
//! assert!(engine.is_ready());  // `db` is not critical
//! println!("{:?}", engine.snapshot().check("db").and_then(|c| c.reason()));
//! # Ok(()) }
//! ```

#[macro_use]
mod macros;

mod check;
mod config;
mod drain;
mod engine;
pub mod metrics;
mod names;
mod problem;
mod reload;
mod signal;
mod snapshot;
mod tenant;

pub use check::{
    Check, CheckFailure, CheckFuture, CheckResult, FnCheck, Kind, check_fn, run_deadline,
};
pub use config::{CheckSpec, Defaults};
pub use engine::{
    Auditor, Engine, EngineBuilder, HEARTBEAT_CHECK, RefreshError, SHUTDOWN_ENTRY, SHUTDOWN_REASON,
    TenantCollector, WeakEngine,
};
pub use names::{MAX_NAME_LEN, NameError, RESERVED_NAMES, validate_name};
pub use problem::{BuildError, ConfigProblem, Scope};
pub use reload::{CurrentEngine, ReloadableEngine, WeakReloadableEngine};
pub use signal::sigterm_or_ctrl_c;
pub use snapshot::{Aggregate, CheckStatus, Snapshot, Status};
pub use tenant::{AuditEntry, TenantEvent, TenantMetricsExport, TenantMetricsMode, TenantStatus};

/// Re-exported so that users name the same `watch` channel type the engine returns.
pub use tokio::sync::watch;
