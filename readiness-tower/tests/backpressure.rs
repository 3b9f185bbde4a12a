//! A probe never waits behind the application: with the inner service saturated (tower's real
//! `ConcurrencyLimit` with its one permit held, a full `Buffer`), every probe answers at once,
//! while business requests still wait for the inner service and each is served exactly once.

mod common;

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use common::{Flag, engine_with};
use http::{Request, Response};
use http_body_util::Full;
use readiness_tower::{CheckSpec, ReadinessLayer, ReadinessService};
use tokio::sync::Semaphore;
use tower::buffer::BufferLayer;
use tower::limit::ConcurrencyLimitLayer;
use tower::{Layer, Service, ServiceBuilder, ServiceExt, service_fn};

/// Poll a future once, with no waker: `Some` if it is ready at once.
fn now<F: Future>(fut: F) -> Option<F::Output> {
    let mut fut = pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

/// The application: `GET /hold` waits for a permit of `gate`; every call is counted by path.
#[derive(Clone)]
struct App {
    gate: Arc<Semaphore>,
    calls: Arc<AtomicUsize>,
}

impl App {
    fn new() -> Self {
        Self {
            gate: Arc::new(Semaphore::new(0)),
            calls: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn service(
        self,
    ) -> impl Service<
        Request<Full<Bytes>>,
        Response = Response<Full<Bytes>>,
        Error = Infallible,
        Future = impl Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send,
    > + Clone
    + Send {
        let app = self;
        service_fn(move |req: Request<Full<Bytes>>| {
            let app = app.clone();
            async move {
                app.calls.fetch_add(1, Ordering::SeqCst);
                if req.uri().path() == "/hold" {
                    let permit = app.gate.acquire().await.expect("gate open");
                    permit.forget();
                }
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(format!(
                    "app {}",
                    req.uri().path()
                )))))
            }
        })
    }
}

fn get(uri: &str) -> Request<Full<Bytes>> {
    Request::get(uri).body(Full::default()).expect("request")
}

async fn body(res: Response<Full<Bytes>>) -> String {
    let bytes = common::body_bytes(res).await;
    String::from_utf8(bytes.to_vec()).expect("utf-8")
}

/// `app` behind `middle` (the saturated part of the stack), with the layer under test
/// outermost: over an engine with `db` and tenant `acme` (all passing), `/metrics` on a
/// recorder of its own.
async fn behind_probes<S, L: Layer<S>>(middle: L, app: S) -> ReadinessService<L::Service> {
    let engine = engine_with(vec![Flag::new(true).spec("db")]).await;
    engine
        .add_tenant("acme", vec![Flag::new(true).spec("store")])
        .expect("a valid tenant");
    engine.refresh_tenant("acme").await.expect("a known tenant");
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let probes = ReadinessLayer::builder(engine)
        .metrics(recorder.handle())
        .build()
        .expect("a valid layer");
    ServiceBuilder::new()
        .layer(probes)
        .layer(middle)
        .service(app)
}

const PROBES: &[(&str, u16)] = &[
    ("/livez", 200),
    ("/healthz", 200),
    ("/readyz", 200),
    ("/readyz?verbose", 200),
    ("/readyz/db", 200),
    ("/readyz/tenants/acme", 200),
    ("/startupz", 200),
    ("/metrics", 200),
];

/// Every probe of [`PROBES`] answers through `svc` at once (the application is `saturated`),
/// with its status.
fn assert_probes_answer_at_once<S>(svc: &S, saturated: &str)
where
    S: Service<Request<Full<Bytes>>, Response = Response<Full<Bytes>>> + Clone,
    S::Error: std::fmt::Debug,
{
    for &(uri, status) in PROBES {
        let res = now(svc.clone().oneshot(get(uri)))
            .unwrap_or_else(|| panic!("GET {uri} waited behind {saturated}"))
            .expect("a probe never fails");
        assert_eq!(res.status(), status, "GET {uri}");
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn probes_answer_while_a_concurrency_limit_is_saturated() {
    let app = App::new();
    let svc = behind_probes(ConcurrencyLimitLayer::new(1), app.clone().service()).await;

    // A business request takes the one permit and holds it.
    let held = tokio::spawn(svc.clone().oneshot(get("/hold")));
    tokio::task::yield_now().await;
    assert_eq!(
        app.calls.load(Ordering::SeqCst),
        1,
        "the held request is in"
    );

    assert_probes_answer_at_once(&svc, "the saturated application");
    // The same through one service value, called repeatedly (how a connection drives it).
    let mut conn = svc.clone();
    for _ in 0..3 {
        assert!(now(conn.ready()).is_some(), "the layer is always ready");
        let res = now(conn.call(get("/livez")))
            .expect("answers at once")
            .expect("infallible");
        assert_eq!(res.status(), 200);
    }

    // The next business request still waits for the permit...
    let next = tokio::spawn(svc.clone().oneshot(get("/")));
    common::settle().await;
    assert!(
        !next.is_finished(),
        "backpressure still holds business traffic"
    );
    assert_eq!(app.calls.load(Ordering::SeqCst), 1, "not called yet");

    // ...and is served, once, when the permit is free.
    app.gate.add_permits(1);
    let first = held.await.expect("task").expect("infallible");
    assert_eq!(body(first).await, "app /hold");
    let second = next.await.expect("task").expect("infallible");
    assert_eq!(body(second).await, "app /");
    assert_eq!(
        app.calls.load(Ordering::SeqCst),
        2,
        "no request lost or served twice"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn probes_answer_while_a_buffer_is_full() {
    let app = App::new();
    let full = ServiceBuilder::new()
        .layer(BufferLayer::new(1))
        .layer(ConcurrencyLimitLayer::new(1));
    let svc = behind_probes(full, app.clone().service()).await;

    // One request holds the limit, one more fills the buffer's one slot.
    let held = tokio::spawn(svc.clone().oneshot(get("/hold")));
    let queued = tokio::spawn(svc.clone().oneshot(get("/queued")));
    common::settle().await;
    let blocked = tokio::spawn(svc.clone().oneshot(get("/blocked")));
    common::settle().await;
    assert!(!blocked.is_finished() && !queued.is_finished());

    assert_probes_answer_at_once(&svc, "the full buffer");

    app.gate.add_permits(1);
    let mut bodies = Vec::new();
    for task in [held, queued, blocked] {
        let res = task.await.expect("task").expect("served");
        bodies.push(body(res).await);
    }
    assert_eq!(bodies, ["app /hold", "app /queued", "app /blocked"]);
    assert_eq!(
        app.calls.load(Ordering::SeqCst),
        3,
        "each request served once"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_inner_readiness_error_reaches_the_business_request_only() {
    // A service whose readiness fails: the business request gets the error, probes do not.
    #[derive(Clone)]
    struct Broken;
    impl Service<Request<Full<Bytes>>> for Broken {
        type Response = Response<Full<Bytes>>;
        type Error = &'static str;
        type Future = std::future::Ready<Result<Self::Response, Self::Error>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Err("overloaded"))
        }
        fn call(&mut self, _: Request<Full<Bytes>>) -> Self::Future {
            panic!("called although not ready")
        }
    }
    let engine = engine_with(vec![CheckSpec::readiness(
        "db",
        readiness_tower::check_fn(|| async { Ok::<(), Infallible>(()) }),
    )])
    .await;
    let svc = ServiceBuilder::new()
        .layer(ReadinessLayer::new(engine))
        .service(Broken);
    let res = svc.clone().oneshot(get("/readyz")).await.expect("a probe");
    assert_eq!(res.status(), 200);
    assert_eq!(svc.oneshot(get("/")).await.err(), Some("overloaded"));
}
