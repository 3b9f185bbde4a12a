//! The README's setup, as a program: `examples/tests/examples.rs` checks that the README's
//! block is this file, byte for byte, so the README compiles as written.
// README-BEGIN
use std::time::Duration;

use axum::{Router, routing::get};
use metrics_exporter_prometheus::PrometheusBuilder;
use readiness_checks::TcpCheck;
use readiness_tower::engine::metrics::{CHECK_DURATION_SECONDS, DURATION_BUCKETS};
use readiness_tower::{CheckSpec, Engine, ReadinessLayer, check_fn, sigterm_or_ctrl_c};
use tower::ServiceBuilder;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Withheld reasons go to the log only: without a subscriber they are seen nowhere.
    tracing_subscriber::fmt().init();
    // The library never installs a recorder; the application does, before the engine.
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Full(CHECK_DURATION_SECONDS.into()),
            DURATION_BUCKETS,
        )?
        .build_recorder();
    let metrics = recorder.handle();
    metrics::set_global_recorder(recorder)?;

    let engine = Engine::builder()
        .check(
            CheckSpec::readiness("db", TcpCheck::new("127.0.0.1:5432"))
                .period(Duration::from_secs(5)),
        )
        .readiness("cache", check_fn(|| async { Ok::<(), std::io::Error>(()) }))
        .build()?; // a typed error listing every bad name or option

    let router = Router::new().route("/", get(|| async { "hello" }));
    let layer = ReadinessLayer::builder(engine.clone())
        .metrics(metrics) // GET /metrics
        .build()?; // a typed error for a bad or duplicate path
    let app = ServiceBuilder::new().layer(layer).service(router); // outermost: one line

    // SIGTERM (what Kubernetes sends) or Ctrl-C: 503 at once, serve 35 s more, stop.
    let shutdown = engine.drain_on(sigterm_or_ctrl_c(), Duration::from_secs(35));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    axum::serve(listener, tower::make::Shared::new(app))
        .with_graceful_shutdown(shutdown)
        .await?;
    engine.shutdown().await; // stop the checks
    Ok(())
}
// README-END
