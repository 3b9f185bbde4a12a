//! A bridge from the engine to tonic-health, so `grpc.health.v1` `Check` and `Watch` follow
//! readiness.
//!
//! Service `""` is the instance: `NOT_SERVING` until the engine is first ready (tonic-health
//! registers `""` as `SERVING`; the bridge overrides that before it returns), `SERVING` while
//! ready, and `NOT_SERVING` again on failure or drain. Service `tenants/{id}` is a tenant's
//! readiness; a removed tenant's service is cleared (`NOT_FOUND` for `Check`).
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
use tokio::sync::broadcast::error::RecvError;
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
/// (it ends, leaving `NOT_SERVING`, when the engine is dropped; after `Engine::shutdown` the
/// instance reads `NOT_SERVING` through the drain).
pub async fn health_service(engine: &Engine) -> (HealthServer<impl Health>, JoinHandle<()>) {
    let (reporter, server) = tonic_health::server::health_reporter();
    let task = bridge(engine, reporter).await;
    (server, task)
}

/// The gRPC service name of a tenant.
pub fn tenant_service(id: &str) -> String {
    format!("tenants/{id}")
}

/// Keep an existing `reporter` in step with `engine`. Sets service `""` and every tenant's
/// before it returns, so the server never answers `SERVING` before the engine is ready.
pub async fn bridge(engine: &Engine, mut reporter: HealthReporter) -> JoinHandle<()> {
    let mut rx = engine.subscribe();
    let mut tenants = engine.subscribe_tenants();
    let ready = rx.borrow_and_update().ready;
    reporter.set_service_status("", status(ready)).await;
    // The tenant services this bridge has set, so a resync can clear those removed meanwhile.
    let mut known = std::collections::HashSet::new();
    resync(engine, &mut reporter, &mut known).await;
    // A weak handle: the bridge must not keep the engine (and its tasks) alive.
    let weak = engine.downgrade();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                changed = rx.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    let ready = rx.borrow_and_update().ready;
                    reporter.set_service_status("", status(ready)).await;
                }
                event = tenants.recv() => match event {
                    Ok(e) if e.removed => {
                        known.remove(&e.tenant);
                        reporter.clear_service_status(&tenant_service(&e.tenant)).await;
                    }
                    Ok(e) => {
                        known.insert(e.tenant.clone());
                        reporter
                            .set_service_status(tenant_service(&e.tenant), status(e.ready))
                            .await;
                    }
                    Err(RecvError::Lagged(_)) => match weak.upgrade() {
                        Some(engine) => resync(&engine, &mut reporter, &mut known).await,
                        None => break,
                    },
                    Err(RecvError::Closed) => break,
                },
            }
        }
        reporter
            .set_service_status("", ServingStatus::NotServing)
            .await;
    })
}

async fn resync(
    engine: &Engine,
    reporter: &mut HealthReporter,
    known: &mut std::collections::HashSet<std::sync::Arc<str>>,
) {
    let ids: std::collections::HashSet<_> = engine.tenant_ids().into_iter().collect();
    for gone in known.difference(&ids).cloned().collect::<Vec<_>>() {
        reporter.clear_service_status(&tenant_service(&gone)).await;
        known.remove(&gone);
    }
    for id in ids {
        if let Some(ready) = engine.tenant_ready(&id) {
            reporter
                .set_service_status(tenant_service(&id), status(ready))
                .await;
            known.insert(id);
        }
    }
}
