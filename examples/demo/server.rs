//! What the demo serves: the business routes behind the readiness layer on `--listen`, and
//! grpc.health.v1 on `--grpc-listen`.

use std::time::Duration;

use axum::{Router, http::StatusCode, routing::get};
use metrics_exporter_prometheus::PrometheusHandle;
use readiness_core::ReloadableEngine;
use readiness_tower::{ReadinessLayer, ReadinessService};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tower::ServiceBuilder;
use tower::limit::{ConcurrencyLimit, ConcurrencyLimitLayer};

use crate::flags::{Flags, MAX_SLOW_MS};

/// The HTTP service: probes and `/metrics` answered by the layer, business routes behind the
/// concurrency limit.
pub(crate) type App = ReadinessService<ConcurrencyLimit<Router>>;

/// `GET /slow?ms=N`: answers after N milliseconds, so a saturated concurrency limit can be
/// tried from outside. A missing or bad `ms` is a 400.
async fn slow(uri: http::Uri) -> (StatusCode, String) {
    let ms = uri
        .query()
        .unwrap_or("")
        .split('&')
        .find_map(|pair| pair.strip_prefix("ms="))
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|&ms| ms <= MAX_SLOW_MS);
    let Some(ms) = ms else {
        return (
            StatusCode::BAD_REQUEST,
            format!(
                "bad request: /slow wants ?ms=N, a whole number of milliseconds up to {MAX_SLOW_MS}\n"
            ),
        );
    };
    tokio::time::sleep(Duration::from_millis(ms)).await;
    (StatusCode::OK, format!("slept {ms} ms\n"))
}

/// The layered app, or one line naming the flag the layer refused (the demo exits 2).
pub(crate) fn app(
    engine: &ReloadableEngine,
    flags: &Flags,
    metrics: PrometheusHandle,
) -> Result<App, String> {
    let mut layer = ReadinessLayer::builder(engine.clone())
        .show_details(flags.show_details)
        .metrics(metrics)
        .health_slis(true);
    if let Some(name) = &flags.tenant_header {
        match http::HeaderName::try_from(name.as_str()) {
            Ok(h) => layer = layer.shed_tenants_by_header(h),
            Err(_) => return Err(format!("--tenant-header: invalid header name {name:?}")),
        }
    }
    let layer = layer.build().map_err(|e| e.to_string())?;
    let router: Router = Router::new()
        .route("/", get(|| async { "hello from the readiness demo\n" }))
        .route("/slow", get(slow));
    // Without --concurrency-limit the limit is as wide as a semaphore goes: one code path.
    let limit = flags
        .concurrency_limit
        .map_or(tokio::sync::Semaphore::MAX_PERMITS, |n| n as usize);
    Ok(ServiceBuilder::new()
        .layer(layer)
        .layer(ConcurrencyLimitLayer::new(limit))
        .service(router))
}

/// The `--listen` socket, its address logged.
pub(crate) async fn bind_http(flags: &Flags) -> Result<TcpListener, String> {
    let listener = TcpListener::bind(flags.listen)
        .await
        .map_err(|e| format!("--listen {}: {e}", flags.listen))?;
    let local = listener.local_addr().unwrap_or(flags.listen);
    tracing::info!(
        "listening on http://{local}  (try /readyz?verbose, /livez, /startupz, /metrics, /readyz/tenants/ID?verbose)"
    );
    Ok(listener)
}

/// With `--grpc-listen`, grpc.health.v1 served until the engine closes.
pub(crate) async fn spawn_grpc(
    engine: &ReloadableEngine,
    flags: &Flags,
) -> Result<Option<JoinHandle<Result<(), tonic::transport::Error>>>, String> {
    let Some(addr) = flags.grpc_listen else {
        return Ok(None);
    };
    let (health, _reporter) = readiness_tower::grpc::health_service(engine);
    let grpc_listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("--grpc-listen {addr}: {e}"))?;
    let bound = grpc_listener.local_addr().unwrap_or(addr);
    tracing::info!(
        "grpc.health.v1 on {bound}  (Check, Watch, List: \"\", readiness, liveness, startup, tenants/ID)"
    );
    Ok(Some(tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(health)
            .serve_with_incoming_shutdown(
                // tonic's own `serve` sets TCP_NODELAY; a listener handed to it does not,
                // and Nagle can then hold a small Watch message back until a delayed ACK.
                tonic::transport::server::TcpIncoming::from(grpc_listener).with_nodelay(Some(true)),
                // drain_on closes the engine at the end of the drain delay, which ends
                // every open Watch stream, so this server returns at once.
                engine.closed(),
            ),
    )))
}
