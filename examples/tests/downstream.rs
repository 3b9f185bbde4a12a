//! How a downstream team tests its own service with the testkit: an axum app behind the layer,
//! a dependency wrapped in a fault injector, probes and metrics read without a socket. Uses
//! only public APIs.

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use http::Request;
use http_body_util::BodyExt;
use readiness_core::{CheckSpec, Engine, check_fn};
use readiness_testkit::{Fault, FaultInjector, FaultPlan, MetricsCapture, ProbeClient};
use readiness_tower::ReadinessLayer;
use tower::{ServiceBuilder, ServiceExt};

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn my_service_sheds_readiness_when_its_database_fails() {
    // The team's real check, wrapped so the test can break it on demand.
    let real_db = check_fn(|| async { Ok::<(), std::io::Error>(()) });
    let db = FaultInjector::wrap(real_db, FaultPlan::always(Fault::Pass));
    let db_fault = db.handle();

    let metrics = MetricsCapture::new();
    let engine = metrics.install(|| {
        Engine::builder()
            .check(
                CheckSpec::readiness("db", db)
                    .period(Duration::from_secs(5))
                    .failure_threshold(2)
                    .jitter(Duration::ZERO),
            )
            .build()
            .expect("valid configuration")
    });

    let router: Router = Router::new().route("/orders", get(|| async { "[]" }));
    let app = ServiceBuilder::new()
        .layer(ReadinessLayer::new(engine.clone()))
        .service(router);
    let probes = ProbeClient::new(&engine);

    tokio::time::sleep(Duration::from_millis(1)).await;
    probes.assert_ready().await;

    db_fault.set(Fault::fail("too many connections"));
    tokio::time::sleep(Duration::from_secs(11)).await;
    probes.assert_not_ready().await;
    probes.assert_live().await;
    assert_eq!(
        probes.get("/readyz").await.body,
        "[-]db failed: too many connections\nreadyz check failed\n"
    );

    // The business route still answers: readiness is for the load balancer, not a kill switch.
    let res = app
        .clone()
        .oneshot(
            Request::get("/orders")
                .body(axum::body::Body::empty())
                .expect("request"),
        )
        .await
        .expect("infallible");
    assert_eq!(res.status(), 200);
    let body = res.into_body().collect().await.expect("body").to_bytes();
    assert_eq!(&body[..], b"[]");
    let res = app
        .oneshot(
            Request::get("/readyz")
                .body(axum::body::Body::empty())
                .expect("request"),
        )
        .await
        .expect("infallible");
    assert_eq!(res.status(), 503);

    db_fault.set(Fault::Pass);
    tokio::time::sleep(Duration::from_secs(5)).await;
    probes.assert_ready().await;

    let e = metrics.exposition().expect("valid exposition");
    assert_eq!(
        e.value("readiness_transitions_total", &[("to", "not_ready")]),
        Some(1.0)
    );
    assert_eq!(e.value("readiness_state", &[]), Some(1.0));
}
