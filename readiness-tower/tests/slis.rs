//! Kubernetes' health SLIs at `/metrics/slis`, scraped from a real server over loopback: the
//! series, HELP and TYPE of component-base's `slis`, moved as kube-apiserver's handler moves
//! them (each check a root probe evaluates, once per request; nothing else).

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use common::{Flag, engine_with_tenants, http1, loopback};
use readiness_core::{CheckSpec, Engine, Kind};
use readiness_tower::{Endpoint, ReadinessLayer, ReadinessLayerBuilder};
use tower::ServiceBuilder;
use tower::make::Shared;

/// Every sample of an exposition, keyed by its series as written (our label order is fixed).
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("a sample line");
            (series.to_owned(), value.parse().expect("a number"))
        })
        .collect()
}

fn gauge(name: &str, ty: &str) -> String {
    format!("kubernetes_healthcheck{{name=\"{name}\",type=\"{ty}\"}}")
}

fn total(name: &str, status: &str, ty: &str) -> String {
    format!("kubernetes_healthchecks_total{{name=\"{name}\",status=\"{status}\",type=\"{ty}\"}}")
}

/// Serve `engine` behind a layer configured by `f`, in front of a Router, on loopback.
async fn serve(
    engine: Engine,
    f: impl FnOnce(ReadinessLayerBuilder) -> ReadinessLayerBuilder,
) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let layer = f(ReadinessLayer::builder(engine))
        .build()
        .expect("valid layer");
    let router: Router = Router::new().route("/", get(|| async { "hello" }));
    let app = ServiceBuilder::new().layer(layer).service(router);
    let (l, addr) = loopback().await;
    let server = tokio::spawn(async move {
        let _ = axum::serve(l, Shared::new(app)).await;
    });
    (addr, server)
}

/// One request, bounded: a hang fails the test.
async fn req(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    tokio::time::timeout(Duration::from_secs(10), http1(addr, method, path))
        .await
        .expect("answered within 10 s")
}

async fn scrape(addr: SocketAddr) -> (String, BTreeMap<String, f64>) {
    let (status, body) = req(addr, "GET", "/metrics/slis").await;
    assert_eq!(status, 200, "{body}");
    let s = samples(&body);
    (body, s)
}

#[tokio::test]
async fn root_probes_observe_each_check_they_evaluate_once() {
    let db = Flag::new(true);
    let cache = Flag::new(false);
    let engine = engine_with_tenants(
        vec![
            Flag::new(true).spec_of("loop", Kind::Liveness),
            db.spec("db").group("storage"),
            cache.spec("cache").critical(false),
        ],
        vec![("acme", vec![Flag::new(false).spec("tenant-db")])],
    )
    .await;
    let (addr, server) = serve(engine.clone(), |b| b.health_slis(true)).await;

    // Before any probe: no healthcheck series, as component-base has none before it observes.
    let (body, s) = scrape(addr).await;
    assert!(!body.contains("kubernetes_"), "{body}");
    assert_eq!(s.len(), 1, "only process_start_time_seconds: {body}");
    assert!(s["process_start_time_seconds"] > 1.6e9, "{body}");

    for (method, path, status) in [
        ("GET", "/readyz", 200),
        ("GET", "/readyz", 200),
        ("HEAD", "/readyz", 200),
        ("GET", "/readyz?format=json", 200),
        // Excluded by name, then through its group: not observed.
        ("GET", "/readyz?exclude=cache&verbose", 200),
        ("GET", "/readyz?exclude=storage", 200),
        ("GET", "/livez", 200),
        ("GET", "/healthz?verbose", 200),
        // Neither a check's own path, nor /startupz, nor a tenant's probe, nor a refused
        // method, nor a request-made name moves anything.
        ("GET", "/readyz/db", 200),
        ("GET", "/readyz/nosuch", 404),
        ("GET", "/startupz", 200),
        ("GET", "/readyz/tenants/acme", 503),
        ("POST", "/readyz", 405),
        ("GET", "/readyz?exclude=injected%22name", 200),
    ] {
        assert_eq!(req(addr, method, path).await.0, status, "{method} {path}");
    }

    let (body, s) = scrape(addr).await;
    assert!(
        body.contains(
            "# HELP kubernetes_healthcheck [STABLE] This metric records the result of a single healthcheck.\n# TYPE kubernetes_healthcheck gauge\n"
        ),
        "{body}"
    );
    assert!(
        body.contains(
            "# HELP kubernetes_healthchecks_total [STABLE] This metric records the results of all healthcheck.\n# TYPE kubernetes_healthchecks_total counter\n"
        ),
        "{body}"
    );
    assert!(
        body.contains(
            "# HELP process_start_time_seconds [ALPHA] Start time of the process since unix epoch in seconds.\n# TYPE process_start_time_seconds gauge\n"
        ),
        "{body}"
    );
    let want = [
        (gauge("db", "readyz"), 1.0),
        (gauge("cache", "readyz"), 0.0),
        (gauge("loop", "livez"), 1.0),
        (gauge("loop", "healthz"), 1.0),
        // GET, GET, HEAD, JSON, exclude=cache, exclude=injected: 6; excluded through its group once.
        (total("db", "success", "readyz"), 6.0),
        // Every root /readyz but the one excluding it by name: 6.
        (total("cache", "error", "readyz"), 6.0),
        (total("loop", "success", "livez"), 1.0),
        (total("loop", "success", "healthz"), 1.0),
    ];
    for (series, value) in &want {
        assert_eq!(s.get(series), Some(value), "{series} in\n{body}");
    }
    assert_eq!(
        s.len(),
        want.len() + 1,
        "nothing else (no startupz, no tenant, no request-made name): {body}"
    );

    // The check recovers: the gauge follows at the next probe, the error count stays.
    cache.set(true);
    engine.refresh().await.expect("runs");
    let (_, before) = scrape(addr).await;
    assert_eq!(
        before.get(&gauge("cache", "readyz")),
        Some(&0.0),
        "scrapes move nothing"
    );
    req(addr, "GET", "/readyz").await;
    let (_, s) = scrape(addr).await;
    assert_eq!(s.get(&gauge("cache", "readyz")), Some(&1.0));
    assert_eq!(s.get(&total("cache", "success", "readyz")), Some(&1.0));
    assert_eq!(s.get(&total("cache", "error", "readyz")), Some(&6.0));

    // Draining: the `shutdown` entry is evaluated, and failing.
    engine.drain();
    assert_eq!(req(addr, "GET", "/readyz").await.0, 503);
    let (body, s) = scrape(addr).await;
    assert_eq!(s.get(&gauge("shutdown", "readyz")), Some(&0.0), "{body}");
    assert_eq!(s.get(&total("shutdown", "error", "readyz")), Some(&1.0));
    assert_eq!(s.get(&total("db", "success", "readyz")), Some(&8.0));
    server.abort();
}

#[tokio::test]
async fn off_by_default_and_follows_configured_paths() {
    let engine = Engine::builder()
        .without_heartbeat()
        .check(Flag::new(true).spec("db"))
        .build()
        .expect("valid");
    engine.refresh().await.expect("runs");

    // Off: the path is the application's (the Router's own 404).
    let (addr, server) = serve(engine.clone(), |b| b).await;
    assert_eq!(req(addr, "GET", "/readyz").await.0, 200);
    assert_eq!(req(addr, "GET", "/metrics/slis").await.0, 404);
    server.abort();

    // Moved, with the probes moved too: `type` still names the probe, not its path.
    let (addr, server) = serve(engine, |b| {
        b.health_slis(true)
            .path(Endpoint::Slis, "/-/slis")
            .path(Endpoint::Readyz, "/-/ready")
    })
    .await;
    assert_eq!(req(addr, "GET", "/-/ready").await.0, 200);
    assert_eq!(req(addr, "GET", "/metrics/slis").await.0, 404);
    let (status, body) = req(addr, "GET", "/-/slis").await;
    assert_eq!(status, 200);
    let s = samples(&body);
    assert_eq!(s.get(&gauge("db", "readyz")), Some(&1.0), "{body}");
    assert_eq!(
        s.get(&total("db", "success", "readyz")),
        Some(&1.0),
        "{body}"
    );
    server.abort();
}

#[tokio::test]
async fn the_exposition_is_served_as_prometheus_text() {
    let engine = Engine::builder()
        .without_heartbeat()
        .check(CheckSpec::readiness(
            "db",
            readiness_core::check_fn(|| async { Ok::<(), std::io::Error>(()) }),
        ))
        .build()
        .expect("valid");
    let layer = ReadinessLayer::builder(engine)
        .health_slis(true)
        .build()
        .expect("valid");
    let res = common::get(&layer, "/metrics/slis").await;
    assert_eq!(res.status, 200);
    assert_eq!(
        res.headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert_eq!(res.headers["cache-control"], "no-store");
    // The pending check fails the probe: observed as an error.
    common::get(&layer, "/readyz").await;
    let s = samples(&common::get(&layer, "/metrics/slis").await.body);
    assert_eq!(s.get(&gauge("db", "readyz")), Some(&0.0));
    assert_eq!(s.get(&total("db", "error", "readyz")), Some(&1.0));
    // `/metrics/slis` and `/metrics` at one path is refused, like any two endpoints.
    let engine = Engine::builder().build().expect("valid");
    let err = ReadinessLayer::builder(engine)
        .health_slis(true)
        .path(Endpoint::Slis, "/readyz")
        .build()
        .expect_err("a duplicate path");
    assert!(err.to_string().contains("readyz and slis"), "{err}");
}
