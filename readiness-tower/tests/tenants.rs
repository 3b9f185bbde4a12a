//! `/readyz/tenants/{tenant}`, shedding, the audit endpoint and tenant metrics.

mod common;

use std::rc::Rc;

use bytes::Bytes;
use common::{
    Flag, answer, assert_contains, assert_each, assert_values, call, detailed, get, head,
};
use http::{HeaderName, Request};
use http_body_util::Full;
use readiness_core::{Engine, TenantMetricsExport, TenantMetricsMode};
use readiness_testkit::MetricsCapture;
use readiness_tower::{Endpoint, ReadinessLayer};

struct World {
    engine: Engine,
    db: Flag,
    acme: Flag,
    globex: Flag,
}

async fn world() -> World {
    world_with(TenantMetricsExport::default()).await
}

async fn world_with(export: TenantMetricsExport) -> World {
    let (db, acme, globex) = (Flag::new(true), Flag::new(true), Flag::new(true));
    let engine = Engine::builder()
        .without_heartbeat()
        .tenant_metrics_export(export)
        .check(db.spec("db"))
        .tenant(
            "acme",
            vec![
                acme.spec("store"),
                Flag::new(false).spec("search").critical(false),
            ],
        )
        .tenant("globex", vec![globex.spec("store")])
        .build()
        .expect("valid");
    let w = World {
        engine,
        db,
        acme,
        globex,
    };
    w.refresh().await;
    w
}

impl World {
    async fn refresh(&self) {
        self.engine.refresh().await.expect("the engine runs");
        for id in ["acme", "globex"] {
            self.engine
                .refresh_tenant(id)
                .await
                .expect("a known tenant");
        }
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn tenant_probe_formats() {
    let w = world().await;
    let layer = ReadinessLayer::new(w.engine.clone());
    assert_eq!(
        answer(&layer, "/readyz/tenants/acme").await,
        (200, "ok".into())
    );
    let r = get(&layer, "/readyz/tenants/acme?verbose").await;
    assert_eq!(
        r.body,
        "[+]store ok\n[-]search failed (non-critical): reason withheld\nreadyz check passed\n"
    );
    w.acme.set(false);
    w.refresh().await;
    assert_eq!(answer(&layer, "/readyz/tenants/acme").await, (503, "[-]store failed: reason withheld\n[-]search failed (non-critical): reason withheld\nreadyz check failed\n".into()));
    assert_eq!(
        get(&layer, "/readyz").await.body,
        "ok",
        "the instance is untouched"
    );
    assert_eq!(get(&layer, "/readyz/tenants/globex").await.status, 200);
    let r = get(&layer, "/readyz/tenants/acme?exclude=store&verbose").await;
    assert_eq!(r.status, 200);
    assert_contains(&r.body, "[+]store excluded: ok");
    let r = get(&layer, "/readyz/tenants/acme?format=json").await;
    let v: serde_json::Value = serde_json::from_str(&r.body).expect("JSON");
    assert_eq!(v["status"], "failed");
    assert_eq!(v["checks"][0]["name"], "store");
    let r = head(&layer, "/readyz/tenants/acme").await;
    assert_eq!((r.status, r.body.as_str()), (503, ""));

    // The instance going down shows in every tenant's probe.
    w.db.set(false);
    w.refresh().await;
    assert_eq!(
        answer(&layer, "/readyz/tenants/globex").await,
        (
            503,
            "[+]store ok\n[-]instance failed: reason withheld\nreadyz check failed\n".into()
        )
    );
    let r = get(&detailed(w.engine.clone()), "/readyz/tenants/globex").await;
    assert_contains(&r.body, "[-]instance failed: instance not ready");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn unknown_and_malformed_tenants() {
    let w = world().await;
    let layer = ReadinessLayer::new(w.engine.clone());
    let r = get(&layer, "/readyz/tenants/initech").await;
    assert_eq!(r.status, 404);
    assert!(
        !r.body.contains("initech"),
        "input is not reflected: {}",
        r.body
    );
    let malformed = [
        "/readyz/tenants/",
        "/readyz/tenants/ACME",
        "/readyz/tenants/a%20b",
        "/readyz/tenants/acme/store",
        "/readyz/tenants/-x",
        "/readyz/tenants/%3Cscript%3E",
    ];
    assert_each(&layer, &malformed, 400, |uri, r| {
        assert_eq!(r.body, "bad request: malformed tenant id\n", "{uri}");
    })
    .await;
    let long = format!("/readyz/tenants/{}", "a".repeat(10_000));
    assert_eq!(get(&layer, &long).await.status, 400);
    assert_eq!(
        get(&layer, "/readyz/tenants").await.status,
        404,
        "not a check either"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn shedding_spares_every_other_tenant() {
    let w = world().await;
    let layer = ReadinessLayer::builder(w.engine.clone())
        .shed_tenants_by_header(HeaderName::from_static("x-tenant"))
        .retry_after(7)
        .build()
        .expect("a valid layer");
    let req = |tenant: Option<&str>| {
        let mut b = Request::get("/orders");
        if let Some(t) = tenant {
            b = b.header("x-tenant", t);
        }
        b.body(Full::<Bytes>::default()).expect("request")
    };
    assert_eq!(
        call(&layer, req(Some("acme"))).await.body,
        "inner GET /orders"
    );
    w.globex.set(false);
    w.refresh().await;
    let r = call(&layer, req(Some("globex"))).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.headers["retry-after"], "7");
    assert!(r.headers.get("x-inner").is_none(), "never reached the app");
    for other in [Some("acme"), Some("initech"), Some("BAD id"), None] {
        let r = call(&layer, req(other)).await;
        assert_eq!(r.body, "inner GET /orders", "{other:?} is served");
    }
    assert_eq!(
        get(&layer, "/readyz").await.status,
        200,
        "probes are never shed"
    );

    // `retry_after` before the shedding method counts just the same.
    let first = ReadinessLayer::builder(w.engine.clone())
        .retry_after(9)
        .shed_tenants_by_header(HeaderName::from_static("x-tenant"))
        .build()
        .expect("a valid layer");
    let r = call(&first, req(Some("globex"))).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.headers["retry-after"], "9");

    let by_host = ReadinessLayer::builder(w.engine.clone())
        .shed_tenants_with(|req| req.uri().host()?.split('.').next())
        .build()
        .expect("a valid layer");
    let r = get(&by_host, "http://globex.example.com/orders").await;
    assert_eq!(r.status, 503);
    let r = get(&by_host, "http://acme.example.com/orders").await;
    assert_eq!(r.status, 200);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_audit_endpoint_is_opt_in_and_read_only() {
    let w = world().await;
    w.acme.set(false);
    w.refresh().await;
    let off = ReadinessLayer::new(w.engine.clone());
    assert_eq!(
        get(&off, "/debug/readiness").await.body,
        "inner GET /debug/readiness"
    );
    let on = ReadinessLayer::builder(w.engine.clone())
        .audit_endpoint("/debug/readiness")
        .build()
        .expect("a valid layer");
    let r = get(&on, "/debug/readiness").await;
    assert_eq!(r.headers["content-type"], "application/json");
    let v: serde_json::Value = serde_json::from_str(&r.body).expect("JSON");
    assert_eq!(v["instance"]["ready"], true);
    assert_eq!(v["tenants"][0]["id"], "acme");
    assert_eq!(v["tenants"][0]["ready"], false);
    assert_eq!(v["tenants"][0]["checks"][0]["reason"], "connection refused");
    let log = v["log"].as_array().expect("log");
    assert!(
        log.iter()
            .any(|e| e["scope"] == "tenants/acme" && e["check"] == "store" && e["to"] == "failing")
    );
    let post = Request::post("/debug/readiness")
        .body(Full::default())
        .expect("request");
    assert_eq!(
        call(&on, post).await.status,
        405,
        "nothing can be changed through it"
    );
    let moved = ReadinessLayer::builder(w.engine.clone())
        .path(Endpoint::Audit, "/-/audit")
        .build()
        .expect("a valid layer");
    assert_eq!(get(&moved, "/-/audit").await.status, 200);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn tenant_metrics_are_isolated_and_counted() {
    common::each_export(isolated_and_counted).await;
}

async fn isolated_and_counted(export: TenantMetricsExport, capture: Rc<MetricsCapture>) {
    let w = world_with(export).await;
    let e = capture.scrape(&w.engine).expect("valid");
    assert_values(
        &e,
        &[
            ("tenant_readiness_state", &[("tenant", "acme")], 1.0),
            ("tenant_readiness_tenants", &[("state", "ready")], 2.0),
            ("tenant_readiness_tenants", &[("state", "not_ready")], 0.0),
        ],
    );

    w.acme.set(false);
    for _ in 0..5 {
        w.refresh().await;
    }
    let e = capture.scrape(&w.engine).expect("valid");
    assert_values(
        &e,
        &[
            ("tenant_readiness_state", &[("tenant", "acme")], 0.0),
            ("tenant_readiness_state", &[("tenant", "globex")], 1.0),
            (
                "tenant_readiness_transitions_total",
                &[("tenant", "acme"), ("to", "not_ready")],
                1.0,
            ),
            (
                "tenant_readiness_transitions_total",
                &[("tenant", "globex"), ("to", "not_ready")],
                0.0,
            ),
            ("readiness_state", &[], 1.0),
            ("readiness_transitions_total", &[("to", "not_ready")], 0.0),
            ("tenant_readiness_tenants", &[("state", "not_ready")], 1.0),
        ],
    );
    assert!(
        e.value(
            "tenant_readiness_check_seconds_total",
            &[("tenant", "acme")]
        )
        .is_some()
    );
    for s in e.samples() {
        if s.name.starts_with("readiness_") {
            assert!(
                !s.labels.contains_key("tenant"),
                "global series carry no tenant: {s:?}"
            );
        }
    }

    // A removed tenant leaves the counts; no alert stays firing: the collector drops its
    // series, the facade (which cannot delete a series) sets its state to 1.
    assert!(w.engine.remove_tenant("acme"));
    let e = capture.scrape(&w.engine).expect("valid");
    assert_values(
        &e,
        &[
            ("tenant_readiness_tenants", &[("state", "not_ready")], 0.0),
            ("tenant_readiness_tenants", &[("state", "ready")], 1.0),
        ],
    );
    let removed = match export {
        TenantMetricsExport::Facade => Some(1.0),
        _ => None,
    };
    assert_eq!(
        e.value("tenant_readiness_state", &[("tenant", "acme")]),
        removed,
        "{export:?}"
    );
    assert_eq!(
        e.series("tenant_readiness_check_seconds_total")
            .filter(|s| s.labels["tenant"] == "acme")
            .count(),
        usize::from(removed.is_some()),
        "{export:?}"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn not_ready_only_mode_exports_only_the_not_ready() {
    common::each_export(only_the_not_ready).await;
}

async fn only_the_not_ready(export: TenantMetricsExport, capture: Rc<MetricsCapture>) {
    let (a, b) = (Flag::new(true), Flag::new(true));
    let engine = Engine::builder()
        .without_heartbeat()
        .tenant_metrics(TenantMetricsMode::NotReadyOnly)
        .tenant_metrics_export(export)
        .tenant("acme", vec![a.spec("store")])
        .tenant("globex", vec![b.spec("store")])
        .build()
        .expect("valid");
    engine.refresh_tenant("acme").await.expect("a known tenant");
    engine
        .refresh_tenant("globex")
        .await
        .expect("a known tenant");
    b.set(false);
    engine
        .refresh_tenant("globex")
        .await
        .expect("a known tenant");
    let e = capture.scrape(&engine).expect("valid");
    assert_eq!(
        e.value("tenant_readiness_state", &[("tenant", "globex")]),
        Some(0.0)
    );
    assert_eq!(
        e.value("tenant_readiness_tenants", &[("state", "not_ready")]),
        Some(1.0),
        "fleet counts cover every tenant"
    );
    let acme_state = e.value("tenant_readiness_state", &[("tenant", "acme")]);
    assert_ne!(acme_state, Some(0.0), "a ready tenant never reads 0");
}
