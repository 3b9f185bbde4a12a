//! Ready-made readiness checks of dependencies for the `readiness` engine: the checks users
//! otherwise write by hand, one feature per kind of dependency.
//!
//! | feature | check | one line of setup | passes when |
//! |---|---|---|---|
//! | `tcp` | [`TcpCheck`] | `TcpCheck::new("10.0.0.5:5432")` | the connect succeeds |
//! | `service` | [`ServiceCheck`] | `ServiceCheck::new(client.clone(), \|\| request)` | the service answers (or your verdict says so) |
//! | `http` | [`HttpCheck`] | `HttpCheck::new("http://10.0.0.5:8080/healthz")?` | kubelet's rule: `200 <= status < 400` |
//! | `grpc` | [`GrpcCheck`] | `GrpcCheck::new("http://10.0.0.5:50051")?.service("name")` | the dependency's `grpc.health.v1` `Check` answers `SERVING` |
//!
//! Every check here ends within the engine's timeout (connect included), and reports a short
//! reason a person can act on, never a response body.
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

#[cfg(feature = "grpc")]
mod grpc;
#[cfg(feature = "http")]
mod http;
#[cfg(any(feature = "http", feature = "grpc"))]
mod probe;
#[cfg(feature = "service")]
mod service;
#[cfg(feature = "tcp")]
mod tcp;

#[cfg(feature = "grpc")]
#[cfg_attr(docsrs, doc(cfg(feature = "grpc")))]
pub use grpc::GrpcCheck;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub use http::HttpCheck;
#[cfg(any(feature = "http", feature = "grpc"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "http", feature = "grpc"))))]
pub use probe::CheckUrlError;
#[cfg(feature = "service")]
#[cfg_attr(docsrs, doc(cfg(feature = "service")))]
pub use service::{OkPasses, ServiceCheck, Verdict};
#[cfg(feature = "tcp")]
#[cfg_attr(docsrs, doc(cfg(feature = "tcp")))]
pub use tcp::TcpCheck;
