//! A bridge from the engine to tonic-health, so `grpc.health.v1` `Check` and `Watch` follow
//! readiness.
//!
//! Service `""` is the instance: `NOT_SERVING` until the engine is first ready (tonic-health
//! registers `""` as `SERVING`; the bridge overrides that before it returns), `SERVING` while
//! ready, and `NOT_SERVING` again on failure or drain.
//!
//! ```no_run
//! # async fn f(engine: readiness_core::Engine) -> Result<(), Box<dyn std::error::Error>> {
//! let (health, _bridge) = readiness_tower::grpc::health_service(&engine).await;
//! tonic::transport::Server::builder()
//!     .add_service(health)
//!     .serve("127.0.0.1:50051".parse()?)
//!     .await?;
//! # Ok(()) }
//! ```

use readiness_core::Engine;
use tokio::task::JoinHandle;
use tonic_health::ServingStatus;
use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_health::server::HealthReporter;

fn status(ready: bool) -> ServingStatus {
    if ready {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    }
}

/// Make a `grpc.health.v1` service that follows `engine`, and the task that keeps it in step
/// (it ends when the engine is dropped or shut down, leaving `NOT_SERVING`).
pub async fn health_service(engine: &Engine) -> (HealthServer<impl Health>, JoinHandle<()>) {
    let (reporter, server) = tonic_health::server::health_reporter();
    let task = bridge(engine, reporter).await;
    (server, task)
}

/// Keep an existing `reporter` in step with `engine`. Sets service `""` before it returns, so
/// the server never answers `SERVING` before the engine is ready.
pub async fn bridge(engine: &Engine, reporter: HealthReporter) -> JoinHandle<()> {
    let mut rx = engine.subscribe();
    let ready = rx.borrow_and_update().ready;
    reporter.set_service_status("", status(ready)).await;
    tokio::spawn(async move {
        while rx.changed().await.is_ok() {
            let ready = rx.borrow_and_update().ready;
            reporter.set_service_status("", status(ready)).await;
        }
        reporter
            .set_service_status("", ServingStatus::NotServing)
            .await;
    })
}
