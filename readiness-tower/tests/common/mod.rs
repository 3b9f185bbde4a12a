//! Helpers shared by the integration tests: a switchable check and engines built on it, the
//! inner service the layer wraps and calls through it, loopback servers and clients (gRPC in
//! [`grpc`]).
#![allow(dead_code, unreachable_pub)]

pub mod grpc;

use std::convert::Infallible;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use readiness_core::{CheckFailure, CheckSpec, Engine, check_fn};
use readiness_tower::ReadinessLayer;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

/// A switchable check.
#[derive(Clone)]
pub struct Flag(pub Arc<AtomicBool>);

impl Flag {
    pub fn new(ok: bool) -> Self {
        Self(Arc::new(AtomicBool::new(ok)))
    }
    pub fn set(&self, ok: bool) {
        self.0.store(ok, Ordering::SeqCst);
    }
    pub fn spec(&self, name: &str) -> CheckSpec {
        self.spec_of(name, readiness_core::Kind::Readiness)
    }
    pub fn spec_of(&self, name: &str, kind: readiness_core::Kind) -> CheckSpec {
        let flag = self.0.clone();
        CheckSpec::new(
            name,
            kind,
            check_fn(move || {
                let ok = flag.load(Ordering::SeqCst);
                async move {
                    if ok {
                        Ok(())
                    } else {
                        Err(CheckFailure::new("connection refused"))
                    }
                }
            }),
        )
        .period(Duration::from_secs(1))
        .jitter(Duration::ZERO)
        .failure_threshold(1)
    }
}

/// The inner service: echoes method, path and query so tests can see it was reached.
pub fn app() -> impl Service<
    Request<Full<Bytes>>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl std::future::Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send,
> + Clone {
    service_fn(|req: Request<Full<Bytes>>| async move {
        let text = format!("inner {} {}", req.method(), req.uri());
        let mut res = Response::new(Full::new(Bytes::from(text)));
        res.headers_mut()
            .insert("x-inner", "1".parse().expect("header"));
        Ok::<_, Infallible>(res)
    })
}

pub struct Answer {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: String,
}

pub async fn call(layer: &ReadinessLayer, req: Request<Full<Bytes>>) -> Answer {
    let svc = ServiceBuilder::new().layer(layer.clone()).service(app());
    let res: Response<Full<Bytes>> = svc.oneshot(req).await.expect("infallible");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = body_bytes(res).await;
    Answer {
        status,
        headers,
        body: String::from_utf8(body.to_vec()).expect("utf-8"),
    }
}

/// The whole body of `res`.
pub async fn body_bytes<B>(res: Response<B>) -> Bytes
where
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    res.into_body()
        .collect()
        .await
        .expect("the body")
        .to_bytes()
}

pub async fn get(layer: &ReadinessLayer, uri: &str) -> Answer {
    call(
        layer,
        Request::get(uri).body(Full::default()).expect("request"),
    )
    .await
}

/// HEAD `uri` through the layer.
pub async fn head(layer: &ReadinessLayer, uri: &str) -> Answer {
    call(
        layer,
        Request::head(uri).body(Full::default()).expect("request"),
    )
    .await
}

/// Asserts that `body` holds `part`, and shows the body when it does not.
#[track_caller]
pub fn assert_contains(body: &str, part: &str) {
    assert!(body.contains(part), "{part:?} not in: {body}");
}

/// GET `uri` through the layer: the status and body a prober reads.
pub async fn answer(layer: &ReadinessLayer, uri: &str) -> (u16, String) {
    let a = get(layer, uri).await;
    (a.status, a.body)
}

/// A series and the value it should read: name, labels, value.
pub type Want<'a> = (&'a str, &'a [(&'a str, &'a str)], f64);

/// Asserts the value of each series in the exposition `e`.
pub fn assert_values(e: &readiness_testkit::Exposition, want: &[Want<'_>]) {
    for (name, labels, value) in want {
        assert_eq!(e.value(name, labels), Some(*value), "{name}{labels:?}");
    }
}

/// Asserts what GET answers at each `(uri, status, body)`.
pub async fn assert_answers(layer: &ReadinessLayer, cases: &[(&str, u16, &str)]) {
    for &(uri, status, body) in cases {
        assert_eq!(
            answer(layer, uri).await,
            (status, body.to_owned()),
            "GET {uri}"
        );
    }
}

/// GETs each of `uris` through the layer: each answers `status`, and `rest` checks the rest of
/// its answer (handed the URI with it).
pub async fn assert_each(
    layer: &ReadinessLayer,
    uris: &[&str],
    status: u16,
    rest: impl Fn(&str, &Answer),
) {
    for &uri in uris {
        let r = get(layer, uri).await;
        assert_eq!(r.status, status, "GET {uri}");
        rest(uri, &r);
    }
}

/// GETs each of `uris` through the layer: each reaches the inner service, whose answer comes
/// back untouched (200, its echo and its header, and no probe's `cache-control`).
pub async fn assert_reach_the_app(layer: &ReadinessLayer, uris: &[&str]) {
    assert_each(layer, uris, 200, |uri, r| {
        assert_eq!(r.body, format!("inner GET {uri}"));
        assert_eq!(r.headers["x-inner"], "1", "{uri}");
        assert!(r.headers.get("cache-control").is_none(), "{uri}");
    })
    .await;
}

/// A layer over `engine` that shows every failing check's reason.
pub fn detailed(engine: impl Into<readiness_tower::EngineSource>) -> ReadinessLayer {
    ReadinessLayer::builder(engine)
        .show_details(true)
        .build()
        .expect("a valid layer")
}

/// `req` through `svc` once it is ready.
pub async fn call_ready<S, B>(svc: &mut S, req: Request<B>) -> S::Response
where
    S: Service<Request<B>>,
    S::Error: std::fmt::Debug,
{
    svc.ready()
        .await
        .expect("ready")
        .call(req)
        .await
        .expect("infallible")
}

/// Adds each tenant with its checks, and runs them once.
pub async fn add_tenants(engine: &Engine, tenants: Vec<(&str, Vec<CheckSpec>)>) {
    for (id, checks) in tenants {
        engine.add_tenant(id, checks).expect("a valid tenant");
        engine.refresh_tenant(id).await.expect("a known tenant");
    }
}

/// An engine with no heartbeat built on `capture`'s recorder, with `n` tenants that have no
/// check of their own (ready with the instance: `tenant-0`, `tenant-1`, ...), run once.
pub async fn tenant_fleet(n: usize, capture: &readiness_testkit::MetricsCapture) -> Engine {
    let engine = capture.install(|| {
        Engine::builder()
            .without_heartbeat()
            .max_tenants(n + 100)
            .build()
            .expect("valid")
    });
    for i in 0..n {
        engine
            .add_tenant(&format!("tenant-{i}"), vec![])
            .expect("added");
    }
    engine.refresh().await.expect("runs");
    engine
}

/// An engine with no heartbeat running `specs` (not run yet), its series on `capture`'s
/// recorder.
pub fn engine_on(
    capture: &readiness_testkit::MetricsCapture,
    specs: impl IntoIterator<Item = CheckSpec>,
) -> Engine {
    capture.install(|| {
        specs
            .into_iter()
            .fold(Engine::builder().without_heartbeat(), |b, s| b.check(s))
            .build()
            .expect("valid")
    })
}

/// Runs `scenario` once for each way the tenants' series reach Prometheus, each time with a
/// fresh capture that is the thread's default recorder while the scenario runs.
pub async fn each_export<F: std::future::Future<Output = ()>>(
    scenario: impl Fn(readiness_core::TenantMetricsExport, Rc<readiness_testkit::MetricsCapture>) -> F,
) {
    use readiness_core::TenantMetricsExport::{Collector, Facade};
    for export in [Collector, Facade] {
        let capture = Rc::new(readiness_testkit::MetricsCapture::new());
        let _guard = capture.set_default();
        scenario(export, Rc::clone(&capture)).await;
    }
}

/// An engine with these checks, each run once.
pub async fn engine_with(specs: Vec<CheckSpec>) -> Engine {
    engine_with_tenants(specs, vec![]).await
}

/// An engine with these checks and these tenants with theirs, each check run once.
pub async fn engine_with_tenants(
    specs: Vec<CheckSpec>,
    tenants: Vec<(&str, Vec<CheckSpec>)>,
) -> Engine {
    let mut b = Engine::builder().without_heartbeat();
    for s in specs {
        b = b.check(s);
    }
    let ids: Vec<String> = tenants.iter().map(|(id, _)| (*id).to_owned()).collect();
    for (id, checks) in tenants {
        b = b.tenant(id, checks);
    }
    let engine = b.build().expect("valid");
    engine.refresh().await.expect("the engine runs");
    for id in &ids {
        engine.refresh_tenant(id).await.expect("a known tenant");
    }
    engine
}

/// A listener on a free loopback port, and its address.
pub async fn loopback() -> (tokio::net::TcpListener, std::net::SocketAddr) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    (l, addr)
}

/// `svc` served on a free loopback port over HTTP/1.1 and HTTP/2 (hyper-util's
/// `TowerToHyperService`, one task per connection, as `axum::serve` does it); its address.
pub async fn serve_http<S, B>(svc: S) -> std::net::SocketAddr
where
    S: Service<Request<hyper::body::Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (l, addr) = loopback().await;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = l.accept().await else {
                return;
            };
            let svc = hyper_util::service::TowerToHyperService::new(svc.clone());
            tokio::spawn(async move {
                let builder = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                );
                let _ = builder
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

/// One HTTP/1.1 request over a real loopback connection; returns status and body.
pub async fn http1(addr: std::net::SocketAddr, method: &str, path: &str) -> (u16, String) {
    use hyper_util::rt::TokioIo;
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost")
        .body(Full::<Bytes>::default())
        .expect("request");
    let res = sender.send_request(req).await.expect("response");
    let status = res.status().as_u16();
    let body = body_bytes(res).await;
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Let every task that can run, run, without moving the clock.
pub async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

/// Move the paused clock by `d` in one step, the tasks settled before and after.
pub async fn jump(d: Duration) {
    settle().await;
    tokio::time::advance(d).await;
    settle().await;
}

/// Move the paused clock by `d` in steps of at most 100 ms, the tasks settled after each.
pub async fn advance(d: Duration) {
    let step = Duration::from_millis(100);
    let mut left = d;
    while !left.is_zero() {
        let s = left.min(step);
        tokio::time::advance(s).await;
        settle().await;
        left -= s;
    }
}
