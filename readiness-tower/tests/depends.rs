//! Dependencies between checks as a user sees them: the `blocked by` line in probe bodies,
//! JSON, the tenant probe and the audit view, gRPC following readiness as before, through a
//! dependency that flaps under thresholds.

mod common;

use std::time::Duration;

use common::{Flag, get};
use readiness_core::{Engine, Kind};
use readiness_tower::ReadinessLayer;
use readiness_tower::grpc::pb::HealthCheckRequest;
use readiness_tower::grpc::pb::health_server::Health;
use readiness_tower::grpc::{HealthService, ServingStatus};

/// Let the engine's tasks run, moving the paused clock by `d` in small steps.
async fn advance(d: Duration) {
    let step = Duration::from_millis(100);
    let mut left = d;
    while !left.is_zero() {
        let s = left.min(step);
        tokio::time::advance(s).await;
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
        left -= s;
    }
}

async fn grpc(health: &HealthService, service: &str) -> ServingStatus {
    let req = tonic::Request::new(HealthCheckRequest {
        service: service.to_owned(),
    });
    health
        .check(req)
        .await
        .expect("a known service")
        .into_inner()
        .status()
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).expect("JSON")
}

fn check<'a>(answer: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    answer["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == name)
        .expect("listed")
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn blocked_checks_read_blocked_by_everywhere() {
    let db = Flag::new(false);
    let engine = Engine::builder()
        .without_heartbeat()
        .check(db.spec("db"))
        .check(Flag::new(true).spec("api").depends_on("db"))
        .tenant(
            "acme",
            vec![
                Flag::new(true).spec("store").depends_on("db"),
                Flag::new(true).spec("orders").depends_on("store"),
            ],
        )
        .build()
        .expect("valid");
    engine.refresh().await.expect("runs");
    engine.refresh_tenant("acme").await.expect("runs");
    let layer = ReadinessLayer::builder(engine.clone())
        .audit_endpoint("/debug/readiness")
        .build()
        .expect("valid");
    let detailed = ReadinessLayer::builder(engine.clone())
        .show_details(true)
        .build()
        .expect("valid");

    let res = get(&layer, "/readyz").await;
    assert_eq!(
        (res.status, res.body.as_str()),
        (
            503,
            "[-]db failed: reason withheld\n[-]api failed: blocked by db\nreadyz check failed\n"
        )
    );
    let res = get(&detailed, "/readyz").await;
    assert_eq!(
        res.body,
        "[-]db failed: connection refused\n[-]api failed: blocked by db\nreadyz check failed\n"
    );
    let res = get(&layer, "/readyz/api").await;
    assert_eq!(
        (res.status, res.body.as_str()),
        (503, "[-]api failed: blocked by db\nreadyz check failed\n")
    );

    // JSON: the blocking name in its own field; the reason only with details.
    let answer = json(&get(&layer, "/readyz?format=json").await.body);
    let api = check(&answer, "api");
    assert_eq!(api["status"], "failed");
    assert_eq!(api["state"], "failing");
    assert_eq!(api["blocked_by"], "db");
    assert!(api.get("reason").is_none(), "{api}");
    assert!(check(&answer, "db").get("blocked_by").is_none());
    let answer = json(&get(&detailed, "/readyz?format=json").await.body);
    assert_eq!(check(&answer, "api")["reason"], "blocked by db");

    // The tenant's probe: its checks blocked by the instance's and by its own.
    let res = get(&layer, "/readyz/tenants/acme?verbose").await;
    assert_eq!(res.status, 503);
    assert_eq!(
        res.body,
        "[-]store failed: blocked by db\n[-]orders failed: blocked by store\n[-]instance failed: reason withheld\nreadyz check failed\n"
    );

    // The audit view: the snapshot and the log both name the dependency.
    let audit = json(&get(&layer, "/debug/readiness").await.body);
    let api = check(&audit["instance"], "api");
    assert_eq!(api["blocked_by"], "db");
    assert_eq!(api["reason"], "blocked by db");
    let log = audit["log"].as_array().expect("log");
    let entry = log
        .iter()
        .find(|e| e["check"] == "orders")
        .expect("orders' transition");
    assert_eq!(entry["scope"], "tenants/acme");
    assert_eq!(entry["to"], "failing");
    assert_eq!(entry["blocked_by"], "store");
    assert!(
        log.iter()
            .filter(|e| e["check"] == "db")
            .all(|e| e.get("blocked_by").is_none())
    );

    // gRPC follows readiness, as before.
    let health = HealthService::new(&engine);
    assert_eq!(grpc(&health, "").await, ServingStatus::NotServing);
    assert_eq!(
        grpc(&health, "tenants/acme").await,
        ServingStatus::NotServing
    );

    db.set(true);
    engine.refresh().await.expect("runs");
    engine.refresh_tenant("acme").await.expect("runs");
    assert_eq!(get(&layer, "/readyz").await.status, 200);
    assert_eq!(get(&layer, "/readyz/tenants/acme").await.status, 200);
    assert_eq!(grpc(&health, "").await, ServingStatus::Serving);
    assert_eq!(grpc(&health, "tenants/acme").await, ServingStatus::Serving);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_flapping_dependency_under_thresholds() {
    // Period 1 s. db turns failing after 3 failures and passing after 2 successes.
    let db = Flag::new(true);
    let api = Flag::new(true);
    let engine = Engine::builder()
        .without_heartbeat()
        .check(db.spec("db").failure_threshold(3).success_threshold(2))
        .check(api.spec("api").depends_on("db"))
        .check(Flag::new(true).spec_of("loop", Kind::Liveness))
        .build()
        .expect("valid");
    let layer = ReadinessLayer::new(engine.clone());
    advance(Duration::from_millis(1500)).await;
    assert_eq!(get(&layer, "/readyz").await.body, "ok");

    // Two failed runs: db still passes, nothing is blocked.
    db.set(false);
    advance(Duration::from_secs(2)).await;
    let res = get(&layer, "/readyz?verbose").await;
    assert_eq!(
        (res.status, res.body.as_str()),
        (200, "[+]db ok\n[+]api ok\nreadyz check passed\n")
    );
    // The third: blocked at once.
    advance(Duration::from_secs(1)).await;
    assert_eq!(
        get(&layer, "/readyz").await.body,
        "[-]db failed: reason withheld\n[-]api failed: blocked by db\nreadyz check failed\n"
    );
    // Liveness never follows a dependency.
    assert_eq!(get(&layer, "/livez").await.status, 200);

    // It flaps: up once, down again (one success is not enough), then up twice.
    db.set(true);
    advance(Duration::from_secs(1)).await;
    db.set(false);
    advance(Duration::from_secs(1)).await;
    assert_eq!(get(&layer, "/readyz").await.status, 503);
    // While blocked, api's own failures are not seen: it is not run.
    api.set(false);
    advance(Duration::from_secs(3)).await;
    assert_eq!(
        get(&layer, "/readyz").await.body,
        "[-]db failed: reason withheld\n[-]api failed: blocked by db\nreadyz check failed\n"
    );
    // db recovers (two successes) while api is down on its own: api runs at once and shows
    // its own failure, in the instant db passes.
    db.set(true);
    advance(Duration::from_secs(2)).await;
    assert_eq!(
        get(&layer, "/readyz").await.body,
        "[+]db ok\n[-]api failed: reason withheld\nreadyz check failed\n"
    );
    api.set(true);
    advance(Duration::from_secs(1)).await;
    assert_eq!(get(&layer, "/readyz").await.body, "ok");
}
