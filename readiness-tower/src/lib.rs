//! Kubernetes-style health probes for any tower stack (axum, hyper, tonic), in the exact
//! formats kube-apiserver writes.
//!
//! Add one [`ReadinessLayer`] outermost and the service answers `/livez`, `/healthz`,
//! `/readyz`, `/readyz/{check}`, `/startupz` and `/readyz/tenants/{tenant}` from an
//! [`Engine`]'s latest snapshot. A probe never runs a check, never waits on a dependency and
//! never waits on the inner service; every other request reaches the inner service untouched,
//! with no allocation and no extra await.
//!
//! # Formats
//!
//! Text, as kube-apiserver writes it. The plain success is `ok` with no newline; verbose and
//! failure bodies end with a newline; a failure is always verbose; reasons are withheld unless
//! configured ([`ReadinessLayerBuilder::show_details`]). We answer 503 where kube-apiserver answers
//! 500.
//!
//! ```text
//! GET /readyz                          200  ok
//! GET /readyz?verbose                  200  [+]database ok
//!                                           [+]cache ok
//!                                           readyz check passed
//! GET /readyz                          503  [+]database ok
//!                                           [-]cache failed: reason withheld
//!                                           readyz check failed
//! GET /readyz?exclude=cache&verbose    200  [+]database ok
//!                                           [+]cache excluded: ok
//!                                           readyz check passed
//! ```
//!
//! A check may belong to a group ([`CheckSpec::group`]): `exclude` matches a check's name
//! first, then its group, and a check excluded through its group reads
//! `[+]NAME excluded with GROUP: ok`, as kube-apiserver writes it.
//!
//! JSON for `Accept: application/json` or `?format=json` (always lists the checks):
//!
//! ```json
//! {"probe":"readyz","status":"failed",
//!  "checks":[{"name":"database","status":"ok","state":"passing","critical":true},
//!            {"name":"cache","status":"failed","state":"failing","critical":true,"reason":"shown only with details"}],
//!  "warnings":[]}
//! ```
//!
//! `status` is `ok` or `failed` (the HTTP status says the same); a check's `status` is `ok`,
//! `failed` or `excluded`, its `state` is the engine's `pending`, `passing` or `failing`;
//! `group` appears for a check in a group; `blocked_by` names the failing dependency that blocks
//! a check ([`CheckSpec::depends_on`]); `reason` appears only when details are shown. `warnings`
//! carries the `warn:` line's text.
//!
//! A check blocked by a failing dependency reads `[-]NAME failed: blocked by DEP` in text,
//! whether or not reasons are shown: it names only a registered check.
//!
//! # Kubernetes' health SLIs
//!
//! [`ReadinessLayerBuilder::health_slis`] serves `/metrics/slis` as kube-apiserver does:
//! `kubernetes_healthcheck{name,type}` and `kubernetes_healthchecks_total{name,type,status}`,
//! observed by each request to `/livez`, `/readyz` and `/healthz`, from the layer's own counters
//! (no recorder needed).
//!
//! Every answer has `Content-Type` (`text/plain; charset=utf-8` or `application/json`),
//! `X-Content-Type-Options: nosniff` and `Cache-Control: no-store`. `HEAD` answers the status
//! with no body; any other method gets 405 with `Allow: GET, HEAD`. `Accept` is negotiated
//! with its qualities (`application/json;q=0` is not JSON; `*/*` stays text). Only the first
//! 32 pairs and 4 KiB of a query are read, so any query costs bounded work.
//!
//! # Example
//!
//! One `.layer(..)`, outermost, and `axum::serve` takes the service as it is (feature `axum`:
//! probes answer in axum's own body type):
//!
//! ```
//! use axum::{Router, routing::get};
//! use readiness_tower::{Engine, ReadinessLayer, check_fn};
//! use tower::ServiceBuilder;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let engine = Engine::builder()
//!     .readiness("db", check_fn(|| async { Ok::<(), std::io::Error>(()) }))
//!     .build()?;
//! let router = Router::new().route("/", get(|| async { "hello" }));
//! // Outermost: probes never reach the router's tracing or metrics layers.
//! let app = ServiceBuilder::new()
//!     .layer(ReadinessLayer::new(engine))
//!     .service(router);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let server = axum::serve(listener, tower::make::Shared::new(app));
//! # drop(server);
//! # Ok(()) }
//! ```
//!
//! hyper-util's `TowerToHyperService` and tonic's `Server::builder().layer(..)` take the
//! layered service the same way (`examples/hyper.rs`, `examples/tonic.rs`).
//!
//! # Backpressure
//!
//! A probe never waits on the inner service: [`ReadinessService`] is always ready, and a
//! request for the inner service waits for the inner service's own readiness in its response
//! future. A saturated `ConcurrencyLimit`, a full `Buffer` or an exhausted rate limit inside
//! still holds business traffic back, while `/livez` and `/readyz` answer at once.
//!
//! # Reasons and the log
//!
//! Failure reasons are withheld from probe bodies unless configured
//! ([`ReadinessLayerBuilder::show_details`]); the engine logs each one with `tracing` when a
//! check changes state. Without a `tracing` subscriber installed, a withheld reason is seen
//! nowhere.
//!
//! # Features
//!
//! | feature | enables |
//! |---|---|
//! | `axum` | probe answers in `axum::body::Body` (axum 0.8), so `axum::serve` needs no mapping |
//! | `tonic` | probe answers in `tonic::body::Body` (tonic 0.14), for `Server::builder().layer(..)` |
//! | `grpc` | [`grpc`]: our own `grpc.health.v1` service (Check, Watch, List) following the engine, with Kubernetes' service names and a reporter for the application's services (implies `tonic`) |
//! | `prometheus` | [`ReadinessLayerBuilder::metrics`] answers `GET /metrics`: the recorder's text, then the per-tenant families rendered from the engine's state, streamed ([`MetricsBody`]), gzip when accepted (take `metrics-exporter-prometheus = { version = "0.18", default-features = false }`) |
//!
//! With none of them, the layer answers in `Full<Bytes>`, `String`, `BoxBody`,
//! `UnsyncBoxBody` or any [`ProbeBody`]; [`ReadinessLayer::any_body`] serves every other body.
//!
//! This crate re-exports what a user of `readiness-core` needs most ([`Engine`],
//! [`CheckSpec`], [`check_fn`], …), and the whole crate as [`engine`], so one dependency
//! serves the common case. Ready-made checks of dependencies (TCP, HTTP(S), gRPC, TLS, DNS,
//! disk) are in [`readiness-checks`](https://docs.rs/readiness-checks), which stands on
//! `readiness-core` as this crate does.
//!
//! # The other crates
//!
//! - [`readiness-core`](https://docs.rs/readiness-core): the engine (checks, scheduling,
//!   thresholds, snapshot, drain, tenants, metrics). It knows nothing about HTTP.
//! - [`readiness-testkit`](https://docs.rs/readiness-testkit): a deterministic fault injector,
//!   in-process probe client and wait helpers for your own tests (feature `chaos`).
#![cfg_attr(docsrs, feature(doc_cfg))]
// The docs link the gRPC service and the metrics endpoint; a build without their features has
// no item to link to (CI documents with all features, where every link must resolve).
#![cfg_attr(
    not(all(feature = "grpc", feature = "prometheus")),
    allow(rustdoc::broken_intra_doc_links)
)]

#[macro_use]
mod macros;

mod accept;
mod body;
mod config;
mod future;
mod layer;
mod query;
mod render;
#[cfg(feature = "prometheus")]
mod scrape;
mod service;
mod slis;
mod source;

#[cfg(feature = "grpc")]
#[cfg_attr(docsrs, doc(cfg(feature = "grpc")))]
pub mod grpc;

/// Not part of the API (no semver promise): the request parsers, for the fuzz targets in
/// `fuzz/`, which reach everything else through the public service.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    /// What `?...` asks for: `verbose`, `format=json`, the `exclude` names (at most
    /// [`MAX_EXCLUDES`]).
    pub fn probe_query(query: Option<&str>) -> (bool, bool, Vec<String>) {
        let q = crate::query::ProbeQuery::parse(query);
        (q.verbose, q.json, q.exclude)
    }

    /// How many `exclude` values are read at most.
    pub const MAX_EXCLUDES: usize = crate::query::MAX_EXCLUDES;

    /// Whether the `Accept` headers prefer JSON to text.
    pub fn prefers_json(headers: &http::HeaderMap) -> bool {
        crate::accept::prefers_json(headers)
    }
}

pub use body::{ProbeBody, ResponseBody, WrapBody, WrapBodyFuture};
pub use config::{Endpoint, LayerError, ProbeRequest};
pub use future::ResponseFuture;
pub use layer::{AnyBodyLayer, ReadinessLayer, ReadinessLayerBuilder};
#[cfg(feature = "prometheus")]
#[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
pub use scrape::MetricsBody;
pub use service::ReadinessService;
pub use source::EngineSource;

// What a user needs from `readiness-core`, so that one dependency serves the common case.
/// The engine crate, for everything not re-exported at the root (metric names, auditors, …).
pub use readiness_core as engine;
pub use readiness_core::{
    BuildError, Check, CheckFailure, CheckFuture, CheckResult, CheckSpec, Defaults, Engine,
    EngineBuilder, Kind, ReloadableEngine, Snapshot, Status, TenantMetricsMode, check_fn,
    sigterm_or_ctrl_c,
};
