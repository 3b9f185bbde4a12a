//! Criterion benches of `ReadinessLayer` and the engine (issue 8).
//!
//! The benchmark ids are a contract: keep them stable so that results compare run to run.
//!
//! | id | what one iteration is |
//! |---|---|
//! | `passthrough/bare` | `oneshot` of a fresh `GET /` on an axum `Router` (one static route) |
//! | `passthrough/layered` | the same, the Router wrapped outermost by `ReadinessLayer` |
//! | `passthrough/route_layer` | the same, the layer applied with `Router::layer` |
//! | `probe/readyz/{1,100,1000}` | `oneshot` of `GET /readyz` with N passing checks |
//! | `probe/readyz_verbose/{1,100,1000}` | `oneshot` of `GET /readyz?verbose` with N passing checks |
//! | `tenants/probe/{1000,100000}` | `oneshot` of `GET /readyz/tenants/{id}` with N tenants registered |
//! | `tenants/add_tenant/{1000,100000}` | one `Engine::add_tenant` (one check) with about N tenants registered |
//! | `engine/result/unchanged` | one `Engine::refresh` of one check whose result keeps its state |
//! | `engine/result/transition` | one `Engine::refresh` of one check whose every result flips its state |
//!
//! Every call runs in process on a tokio current-thread runtime; responses are dropped
//! without reading their bodies (a probe's body is already rendered when the call returns).
//!
//! Run with `cargo bench -p readiness-benches`, one group with `-- passthrough`; `-- --test`
//! runs each bench once.

use std::fmt::Debug;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, HttpBody};
use axum::routing::get;
use bytes::Bytes;
use criterion::{Bencher, BenchmarkId, Criterion, criterion_group, criterion_main};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use metrics_exporter_prometheus::PrometheusBuilder;
use readiness_core::{CheckSpec, Engine, check_fn};
use readiness_tower::ReadinessLayer;
use tokio::runtime::Runtime;
use tower::{Service, ServiceBuilder, ServiceExt};

/// Checks in the benches never run on their own during a measurement.
const PERIOD: Duration = Duration::from_secs(3600);

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio current-thread runtime")
}

/// The application: one route returning a static string.
fn router() -> Router {
    Router::new().route("/", get(|| async { "hello" }))
}

/// `oneshot` of a fresh `GET uri` on a clone of `app`: the response.
async fn oneshot_get<S, B>(app: &S, uri: &str) -> Response<B>
where
    S: Service<Request<Body>, Response = Response<B>> + Clone,
    S::Error: Debug,
{
    let req = Request::get(uri)
        .body(Body::empty())
        .expect("a valid request");
    app.clone()
        .oneshot(req)
        .await
        .unwrap_or_else(|e| panic!("GET {uri}: {e:?}"))
}

/// `GET uri` on `app`, which answers 200: the body.
async fn ok_body<S, B>(app: &S, uri: &str) -> Bytes
where
    S: Service<Request<Body>, Response = Response<B>> + Clone,
    S::Error: Debug,
    B: HttpBody,
    B::Error: Debug,
{
    let res = oneshot_get(app, uri).await;
    assert_eq!(res.status(), StatusCode::OK, "GET {uri}");
    res.into_body().collect().await.expect("body").to_bytes()
}

/// A bench whose every iteration is [`oneshot_get`] of `uri` on `app`, the response dropped
/// unread.
fn bench_get<'a, S, B>(
    rt: &'a Runtime,
    app: &'a S,
    uri: &'a str,
) -> impl FnMut(&mut Bencher<'_>) + 'a
where
    S: Service<Request<Body>, Response = Response<B>> + Clone,
    S::Error: Debug,
{
    move |b| {
        b.to_async(rt)
            .iter(|| async { black_box(oneshot_get(app, uri).await) });
    }
}

/// A readiness check named `name` that passes at once and runs on its own once an hour.
fn passing(name: impl Into<String>) -> CheckSpec {
    CheckSpec::readiness(name, check_fn(|| async { Ok::<(), std::io::Error>(()) })).period(PERIOD)
}

/// An engine with `n` passing readiness checks and nothing else, every check run once.
fn ready_engine(rt: &Runtime, n: usize) -> Engine {
    rt.block_on(async {
        let mut builder = Engine::builder().without_heartbeat().max_in_flight(1024);
        for i in 0..n {
            builder = builder.check(passing(format!("check-{i:04}")));
        }
        let engine = builder.build().expect("a valid engine configuration");
        engine.refresh().await.expect("the engine runs");
        assert!(engine.is_ready(), "every check passes after one refresh");
        engine
    })
}

fn passthrough(c: &mut Criterion) {
    let rt = runtime();
    let engine = ready_engine(&rt, 1);
    let bare = router();
    let layered = ServiceBuilder::new()
        .layer(ReadinessLayer::new(engine.clone()))
        .service(router());
    let route_layer = router().layer(ReadinessLayer::new(engine.clone()));

    // The three reach the route and answer the same.
    rt.block_on(async {
        assert_eq!(&ok_body(&bare, "/").await[..], b"hello");
        assert_eq!(&ok_body(&layered, "/").await[..], b"hello");
        assert_eq!(&ok_body(&route_layer, "/").await[..], b"hello");
    });

    let mut group = c.benchmark_group("passthrough");
    group.bench_function("bare", bench_get(&rt, &bare, "/"));
    group.bench_function("layered", bench_get(&rt, &layered, "/"));
    group.bench_function("route_layer", bench_get(&rt, &route_layer, "/"));
    group.finish();
    drop(engine);
}

fn probe(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("probe");
    for n in [1usize, 100, 1000] {
        let engine = ready_engine(&rt, n);
        let app = ServiceBuilder::new()
            .layer(ReadinessLayer::new(engine.clone()))
            .service(router());

        rt.block_on(async {
            assert_eq!(&ok_body(&app, "/readyz").await[..], b"ok");
            let body = ok_body(&app, "/readyz?verbose").await;
            let text = std::str::from_utf8(&body).expect("utf-8 body");
            assert_eq!(
                text.lines().count(),
                n + 1,
                "one line per check and a verdict"
            );
            assert!(text.ends_with("readyz check passed\n"), "{text}");
        });

        group.bench_function(
            BenchmarkId::new("readyz", n),
            bench_get(&rt, &app, "/readyz"),
        );
        group.bench_function(
            BenchmarkId::new("readyz_verbose", n),
            bench_get(&rt, &app, "/readyz?verbose"),
        );
    }
    group.finish();
}

/// `GET /readyz/tenants/{id}` with N tenants registered, one passing check each: the lookup is
/// one hash probe, so the time should not grow with N.
fn tenants(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("tenants");
    for n in [1000usize, 100_000] {
        let engine = rt.block_on(async {
            let engine = Engine::builder()
                .without_heartbeat()
                .max_tenants(usize::MAX)
                .max_in_flight(1024)
                .build()
                .expect("a valid engine configuration");
            for i in 0..n {
                engine
                    .add_tenant(&format!("t{i}"), vec![passing("store")])
                    .expect("a valid tenant");
            }
            // Let every tenant's first run happen.
            while engine.tenant_ready(&format!("t{}", n - 1)) != Some(true)
                || engine.tenant_ready("t0") != Some(true)
            {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            engine
        });
        let app = ServiceBuilder::new()
            .layer(ReadinessLayer::new(engine.clone()))
            .service(router());
        let uri = format!("/readyz/tenants/t{}", n / 2);
        rt.block_on(async {
            assert_eq!(&ok_body(&app, &uri).await[..], b"ok");
        });
        group.bench_function(BenchmarkId::new("probe", n), bench_get(&rt, &app, &uri));
        // Adding a tenant stays O(1) however many there are: ids and specs are made before
        // the clock starts, and the tenants a sample added are removed after it stops.
        group.bench_with_input(BenchmarkId::new("add_tenant", n), &n, |b, _| {
            b.to_async(&rt).iter_custom(|iters| {
                let engine = engine.clone();
                async move {
                    let added: Vec<(String, Vec<CheckSpec>)> = (0..iters)
                        .map(|i| (format!("added-{i}"), vec![passing("store")]))
                        .collect();
                    let ids: Vec<String> = added.iter().map(|(id, _)| id.clone()).collect();
                    let start = Instant::now();
                    for (id, checks) in added {
                        engine.add_tenant(&id, checks).expect("a valid tenant");
                    }
                    let elapsed = start.elapsed();
                    for id in &ids {
                        engine.remove_tenant(id);
                    }
                    // Let the scheduler drop the removed tenants' entries.
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    elapsed
                }
            });
        });
        drop(app);
        drop(engine);
    }
    group.finish();
}

/// The cost of one check result, with a Prometheus recorder in place.
///
/// There is no public API to inject a result, so each iteration is one `Engine::refresh` on an
/// engine with exactly one check: one coalesced run, *including* the call of the (trivial,
/// immediately ready) check, its timeout wrapper and the semaphore permit, then the result path
/// (duration histogram, hysteresis, state gauge). `unchanged`: the check always passes, so the
/// state stays `passing` and no snapshot is published. `transition`: the check alternates
/// Ok / Err with `failure_threshold(1)`, so every run flips the check and the instance between
/// ready and not ready (snapshot rebuilt and published, transition counter, tracing event with
/// no subscriber, watch update).
///
/// The recorder is a local one around the engine's build (the engine binds its handles then);
/// its upkeep runs outside the timed loop, after each sample, so histogram samples do not pile
/// up for the whole run.
fn engine_result(c: &mut Criterion) {
    let rt = runtime();
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();

    let build = |spec: CheckSpec| {
        let _guard = rt.enter();
        metrics::with_local_recorder(&recorder, || {
            Engine::builder()
                .without_heartbeat()
                .check(spec.period(PERIOD).failure_threshold(1))
                .build()
                .expect("a valid engine configuration")
        })
    };
    let unchanged = build(passing("steady"));
    let up = Arc::new(AtomicBool::new(true));
    let transition = build(CheckSpec::readiness(
        "flapping",
        check_fn(move || {
            // Each run flips the result; `fetch_xor` returns the value before the flip.
            let ok = up.fetch_xor(true, Ordering::Relaxed);
            async move { if ok { Ok(()) } else { Err("down") } }
        }),
    ));

    rt.block_on(async {
        unchanged.refresh().await.expect("the engine runs");
        assert!(unchanged.is_ready());
        let before = transition.is_ready();
        transition.refresh().await.expect("the engine runs");
        assert_ne!(transition.is_ready(), before, "every run is a transition");
        transition.refresh().await.expect("the engine runs");
        assert_eq!(transition.is_ready(), before, "every run is a transition");
    });
    let rendered = handle.render();
    assert!(
        rendered.contains("readiness_check_state{check=\"steady\"} 1"),
        "the recorder sees the engine:\n{rendered}"
    );

    let mut group = c.benchmark_group("engine");
    for (name, engine) in [("unchanged", &unchanged), ("transition", &transition)] {
        group.bench_function(BenchmarkId::new("result", name), |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let handle = handle.clone();
                async move {
                    let start = Instant::now();
                    for _ in 0..iters {
                        engine.refresh().await.expect("the engine runs");
                    }
                    let elapsed = start.elapsed();
                    handle.run_upkeep();
                    elapsed
                }
            });
        });
    }
    group.finish();
}

criterion_group!(benches, passthrough, probe, tenants, engine_result);
criterion_main!(benches);
