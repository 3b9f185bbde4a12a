//! Kubernetes-style health probes for any tower stack (axum, hyper, tonic), in the exact
//! formats kube-apiserver writes.
//!
//! Add one [`ReadinessLayer`] outermost and the service answers `/livez`, `/healthz`,
//! `/readyz`, `/readyz/{check}` and `/startupz` from a [`readiness_core::Engine`]'s latest
//! snapshot. A probe never runs a check and never waits on a dependency; every other request
//! reaches the inner service untouched, with no allocation and no extra await.
//!
//! # Formats
//!
//! Text, as kube-apiserver writes it. The plain success is `ok` with no newline; verbose and
//! failure bodies end with a newline; a failure is always verbose; reasons are withheld unless
//! configured ([`ReadinessLayer::show_details`]). We answer 503 where kube-apiserver answers
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
//! `reason` appears only when details are shown. `warnings` carries the `warn:` line's text.
//!
//! Every answer has `Content-Type` (`text/plain; charset=utf-8` or `application/json`),
//! `X-Content-Type-Options: nosniff` and `Cache-Control: no-store`. `HEAD` answers the status
//! with no body; any other method gets 405 with `Allow: GET, HEAD`.
//!
//! # Example
//!
//! ```
//! use axum::{Router, routing::get};
//! use readiness_core::{Engine, TcpCheck};
//! use readiness_tower::ReadinessLayer;
//! use tower::ServiceBuilder;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let engine = Engine::builder()
//!     .readiness("db", TcpCheck::new("127.0.0.1:5432"))
//!     .build()?;
//! let router: Router = Router::new().route("/", get(|| async { "hello" }));
//! // Outermost: probes never reach the router's tracing or metrics layers.
//! let app = ServiceBuilder::new()
//!     .layer(ReadinessLayer::new(engine))
//!     .service(router);
//! # let _ = app;
//! // For `axum::serve`, map responses back to axum's type outside the layer
//! // (`.map_response(|r| r.map(ResponseBody::into_body))`, see `ResponseBody::into_body`), then
//! // axum::serve(listener, tower::make::Shared::new(app)).await?;
//! # Ok(()) }
//! ```
//!
//! # Features
//!
//! - `grpc`: [`grpc`] is our own `grpc.health.v1` service (Check, Watch, List) following the
//!   engine, with Kubernetes' service names and a reporter for the application's services.
//! - `service-check`: [`ServiceCheck`], any `tower::Service` as a check.
//! - `http-check`: [`HttpCheck`], kubelet's HTTP probe as a check (`http://` only).
//! - `grpc-check` (implies `grpc`): [`GrpcCheck`], a dependency's `grpc.health.v1` `Check`.
//! - `prometheus`: [`ReadinessLayer::metrics`] answers `GET /metrics`.

mod body;
mod future;
mod layer;
mod query;
mod render;
mod service;

#[cfg(feature = "grpc")]
pub mod grpc;
#[cfg(feature = "http-check")]
mod http_check;
#[cfg(any(feature = "http-check", feature = "grpc-check"))]
mod probe;
#[cfg(feature = "service-check")]
mod service_check;

pub use body::ResponseBody;
pub use future::ResponseFuture;
#[cfg(feature = "grpc-check")]
pub use grpc::GrpcCheck;
#[cfg(feature = "http-check")]
pub use http_check::HttpCheck;
pub use layer::{Endpoint, ProbeRequest, ReadinessLayer};
#[cfg(any(feature = "http-check", feature = "grpc-check"))]
pub use probe::CheckUrlError;
pub use service::ReadinessService;
#[cfg(feature = "service-check")]
pub use service_check::{OkPasses, ServiceCheck, Verdict};
