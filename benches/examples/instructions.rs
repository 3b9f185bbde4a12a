//! Instruction counts per call, for ratios that wall-clock noise cannot blur (issue 8).
//!
//! Criterion's medians on a shared 2-core VM move by ±10% run to run; instruction counts under
//! `valgrind --tool=callgrind` repeat exactly. This runs one bench scenario `N` times; running
//! it with `N` and with 0 and subtracting gives the instructions of one call:
//!
//! ```text
//! cargo build --release -p readiness-benches --example instructions
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/instructions passthrough/layered 10000
//! ```
//!
//! `scripts/instructions.sh` does that for every scenario and prints the table in the README.
//! `engine/result/{unchanged,transition}` count one check result through `Engine::refresh`
//! with a Prometheus recorder installed, as the criterion benches of the same ids time it.
//! `tenants/render/100000` counts one `GET /metrics` through the layer with 100,000 tenants
//! (one check each, `All` mode), the body read to its end, the per-tenant series through the
//! facade (the recorder renders them); `tenants/scrape/100000` the same through the collector,
//! `tenants/scrape_gzip/100000` with `Accept-Encoding: gzip`.
//! A probe scenario with `/slis` appended serves Kubernetes' health SLIs
//! (`ReadinessLayerBuilder::health_slis`), so each probe observes every check it evaluates.

use std::hint::black_box;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::Request;
use http_body_util::BodyExt;
use readiness_core::{CheckSpec, Engine, TenantMetricsExport, check_fn};
use readiness_tower::ReadinessLayer;
use tower::{ServiceBuilder, ServiceExt};

fn router() -> Router {
    Router::new().route("/", get(|| async { "hello" }))
}

/// The floor a probe layer can reach: a hand-written service that only compares the path with
/// `/readyz` and otherwise calls the Router (no engine, no body type, no backpressure bypass).
#[derive(Clone)]
struct PathOnly(Router);

impl tower::Service<Request<Body>> for PathOnly {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = <Router as tower::Service<Request<Body>>>::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        tower::Service::<Request<Body>>::poll_ready(&mut self.0, cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        if req.uri().path() == "/readyz" {
            unreachable!("never asked for a probe here");
        }
        self.0.call(req)
    }
}

fn engine(checks: usize, tenants: usize) -> Engine {
    let mut b = Engine::builder()
        .without_heartbeat()
        .max_tenants(tenants.max(1))
        .max_in_flight(1024);
    for i in 0..checks {
        b = b.check(
            CheckSpec::readiness(
                format!("check-{i:04}"),
                check_fn(|| async { Ok::<(), std::io::Error>(()) }),
            )
            .period(Duration::from_secs(3600)),
        );
    }
    b.build().expect("a valid engine configuration")
}

/// One check result through `Engine::refresh`, with a Prometheus recorder installed (the
/// `engine/result/*` benches, counted).
async fn results(flapping: bool, n: usize) {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    metrics::set_global_recorder(recorder).expect("the only recorder");
    let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let engine = Engine::builder()
        .without_heartbeat()
        .check(
            CheckSpec::readiness(
                "db",
                check_fn(move || {
                    let ok = !flapping || up.fetch_xor(true, std::sync::atomic::Ordering::Relaxed);
                    async move { if ok { Ok(()) } else { Err("down") } }
                }),
            )
            .period(Duration::from_secs(3600))
            .failure_threshold(1),
        )
        .build()
        .expect("a valid engine configuration");
    // `let _`: the same loop compiles against engines whose refresh returns nothing.
    #[allow(clippy::let_underscore_future, clippy::let_unit_value)]
    let _ = engine.refresh().await;
    for _ in 0..n {
        #[allow(clippy::let_unit_value)]
        let _ = black_box(engine.refresh().await);
    }
}

/// `GET /metrics` through the layer with 100,000 tenants (one check each, `All` mode) and a
/// Prometheus recorder installed, the body read frame by frame and dropped: the per-tenant
/// series through the facade (the recorder renders them) or the collector, gzip or not.
async fn scrapes(n: usize, export: TenantMetricsExport, gzip: bool) {
    const TENANTS: usize = 100_000;
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).expect("the only recorder");
    let engine = Engine::builder()
        .without_heartbeat()
        .max_tenants(TENANTS)
        .tenant_metrics_export(export)
        .build()
        .expect("a valid engine configuration");
    readiness_benches::add_store_tenants(&engine, TENANTS);
    readiness_benches::until_tenants_ready(&engine, TENANTS).await;
    let svc = ServiceBuilder::new()
        .layer(
            ReadinessLayer::builder(engine.clone())
                .metrics(handle)
                .build()
                .expect("a valid layer"),
        )
        .service(router());
    for _ in 0..n {
        let mut req = Request::get("/metrics");
        if gzip {
            req = req.header("accept-encoding", "gzip");
        }
        let res = svc
            .clone()
            .oneshot(req.body(Body::empty()).expect("request"))
            .await
            .expect("call");
        assert!(res.status().is_success());
        let mut body = res.into_body();
        while let Some(frame) = body.frame().await {
            black_box(frame.expect("the body"));
        }
    }
}

async fn run(scenario: &str, n: usize) {
    match scenario {
        "engine/result/unchanged" => return results(false, n).await,
        "engine/result/transition" => return results(true, n).await,
        "tenants/render/100000" => return scrapes(n, TenantMetricsExport::Facade, false).await,
        "tenants/scrape/100000" => {
            return scrapes(n, TenantMetricsExport::Collector, false).await;
        }
        "tenants/scrape_gzip/100000" => {
            return scrapes(n, TenantMetricsExport::Collector, true).await;
        }
        _ => {}
    }
    // `…/slis`: the same probe with Kubernetes' health SLIs served (each check observed).
    let (scenario, slis) = match scenario.strip_suffix("/slis") {
        Some(s) => (s, true),
        None => (scenario, false),
    };
    let (checks, tenants) = match scenario {
        "probe/readyz/1000" => (1000, 0),
        "tenants/probe/1000" => (0, 1000),
        "tenants/probe/100000" => (0, 100_000),
        _ => (1, 0),
    };
    let engine = engine(checks, tenants);
    for i in 0..tenants {
        engine
            .add_tenant(&format!("t{i}"), vec![])
            .expect("a valid tenant");
    }
    #[allow(clippy::let_unit_value)]
    let _ = engine.refresh().await;
    let uri = match scenario {
        "passthrough/bare" | "passthrough/layered" | "passthrough/route_layer" => "/".to_owned(),
        "probe/readyz/1" | "probe/readyz/1000" | "probe/readyz/1/reloadable" => {
            "/readyz".to_owned()
        }
        "probe/readyz/long_query" => format!("/readyz?{}", "a=b&".repeat(16_000)),
        "passthrough/path_only" => "/".to_owned(),
        _ => format!("/readyz/tenants/t{}", tenants / 2),
    };
    // A 64 KB URI is parsed once and cloned (a reference count), so that the count is the
    // probe's, not `http`'s URI validation; the short URIs are parsed per request as before.
    let long: Option<http::Uri> = (uri.len() > 1024).then(|| uri.parse().expect("a valid URI"));
    let req = || match &long {
        Some(u) => Request::get(u.clone())
            .body(Body::empty())
            .expect("request"),
        None => Request::get(uri.as_str())
            .body(Body::empty())
            .expect("request"),
    };
    match scenario {
        "passthrough/bare" => {
            let svc = router();
            for _ in 0..n {
                black_box(svc.clone().oneshot(req()).await.expect("call"));
            }
        }
        "passthrough/layered" => {
            // The same loop as `passthrough/bare`, so the harness adds nothing to one side.
            let svc = ServiceBuilder::new()
                .layer(ReadinessLayer::new(engine.clone()))
                .service(router());
            for _ in 0..n {
                black_box(svc.clone().oneshot(req()).await.expect("call"));
            }
        }
        "passthrough/path_only" => {
            let svc = PathOnly(router());
            for _ in 0..n {
                black_box(svc.clone().oneshot(req()).await.expect("call"));
            }
        }
        "passthrough/route_layer" => {
            let svc = router().layer(ReadinessLayer::new(engine.clone()));
            for _ in 0..n {
                black_box(svc.clone().oneshot(req()).await.expect("call"));
            }
        }
        "probe/readyz/1/reloadable" => {
            // The layer following a `ReloadableEngine`: one load of its pointer per request.
            let reloadable = readiness_core::ReloadableEngine::new(engine.clone());
            let svc = ServiceBuilder::new()
                .layer(ReadinessLayer::new(reloadable))
                .service(router());
            for _ in 0..n {
                let res = svc.clone().oneshot(req()).await.expect("call");
                assert!(res.status().is_success());
                black_box(res);
            }
        }
        _ => {
            let layer = ReadinessLayer::builder(engine.clone())
                .health_slis(slis)
                .build()
                .expect("a valid layer");
            let svc = ServiceBuilder::new().layer(layer).service(router());
            for _ in 0..n {
                let res = svc.clone().oneshot(req()).await.expect("call");
                assert!(res.status().is_success());
                black_box(res);
            }
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(scenario), Some(n)) = (args.next(), args.next().and_then(|n| n.parse().ok())) else {
        eprintln!("usage: instructions SCENARIO N");
        std::process::exit(2);
    };
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run(&scenario, n));
}
