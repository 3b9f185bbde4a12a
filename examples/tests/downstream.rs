//! How a downstream team tests its own service with the testkit: an axum app behind the layer,
//! a dependency wrapped in a fault injector, probes and metrics read without a socket. Uses
//! only public APIs.

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use readiness_core::{CheckSpec, Engine, Status, check_fn};
use readiness_testkit::{
    Fault, FaultInjector, FaultPlan, MetricsCapture, ProbeClient, wait_for_check, wait_until_ready,
};
use readiness_tower::ReadinessLayer;
use tower::ServiceBuilder;

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
    // The whole application, probes and business routes, as a client sees it: bodies are
    // production's (reasons withheld).
    let client = ProbeClient::for_service(app);

    // Let the background schedule run on the paused clock: no `advance`, no `refresh`.
    wait_until_ready(&engine, Duration::from_secs(1))
        .await
        .expect("ready after the first run");
    client.assert_ready().await;

    db_fault.set(Fault::fail("too many connections"));
    // Two failures five seconds apart cross the threshold.
    wait_for_check(&engine, "db", Status::Failing, Duration::from_secs(15))
        .await
        .expect("the outage is seen");
    client.assert_not_ready().await;
    client.assert_live().await;
    assert_eq!(
        client.get("/readyz").await.body,
        "[-]db failed: reason withheld\nreadyz check failed\n",
        "what the kubelet reads"
    );
    // The reason is the test's to see, not the probe's.
    assert_eq!(
        ProbeClient::with_details(&engine)
            .get("/readyz/db")
            .await
            .body,
        "[-]db failed: too many connections\nreadyz check failed\n"
    );

    // The business route still answers: readiness is for the load balancer, not a kill switch.
    let orders = client.get("/orders").await;
    assert_eq!((orders.status.as_u16(), orders.body.as_str()), (200, "[]"));

    db_fault.set(Fault::Pass);
    wait_until_ready(&engine, Duration::from_secs(10))
        .await
        .expect("recovers");
    client.assert_ready().await;

    let e = metrics.exposition().expect("valid exposition");
    assert_eq!(
        e.value("readiness_transitions_total", &[("to", "not_ready")]),
        Some(1.0)
    );
    assert_eq!(e.value("readiness_state", &[]), Some(1.0));

    // A wait that cannot succeed says what the checks were doing.
    db_fault.set(Fault::fail("too many connections"));
    let err = wait_for_check(&engine, "db", Status::Pending, Duration::from_secs(3))
        .await
        .expect_err("a check never returns to pending");
    assert!(
        err.to_string().contains("db passing") || err.to_string().contains("db failing"),
        "{err}"
    );
}
