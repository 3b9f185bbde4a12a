//! `GET /metrics` from a `PrometheusHandle`, with the engine's series in it.

mod common;

use common::{Flag, get};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use readiness_core::Engine;
use readiness_core::metrics::{CHECK_DURATION_SECONDS, DURATION_BUCKETS};
use readiness_tower::{Endpoint, ReadinessLayer};

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn metrics_endpoint_renders_the_engine_series() {
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(CHECK_DURATION_SECONDS.into()),
            DURATION_BUCKETS,
        )
        .expect("buckets")
        .build_recorder();
    let handle = recorder.handle();
    let db = Flag::new(true);
    let engine = metrics::with_local_recorder(&recorder, || {
        Engine::builder()
            .without_heartbeat()
            .check(db.spec("db"))
            .build()
            .expect("valid")
    });
    engine.refresh().await.expect("the engine runs");
    let layer = ReadinessLayer::builder(engine.clone())
        .metrics(handle.clone())
        .build()
        .expect("a valid layer");
    let r = get(&layer, "/metrics").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert!(
        r.body.contains("# TYPE readiness_state gauge"),
        "{}",
        r.body
    );
    assert!(r.body.contains("\nreadiness_state 1\n"), "{}", r.body);
    assert!(
        r.body.contains(
            "readiness_check_duration_seconds_bucket{check=\"db\",outcome=\"ok\",le=\"0.001\"} 1"
        ),
        "{}",
        r.body
    );
    let moved = ReadinessLayer::builder(engine)
        .metrics(handle)
        .path(Endpoint::Metrics, "/-/metrics")
        .build()
        .expect("a valid layer");
    assert_eq!(get(&moved, "/-/metrics").await.status, 200);
    assert_eq!(get(&moved, "/metrics").await.body, "inner GET /metrics");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn without_a_handle_metrics_reach_the_inner_service() {
    let engine = common::engine_with(vec![]).await;
    let layer = ReadinessLayer::new(engine);
    assert_eq!(get(&layer, "/metrics").await.body, "inner GET /metrics");
}
