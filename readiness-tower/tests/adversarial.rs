//! The always-ready layer attacked with the contract in hand ("A probe never waits on the
//! inner service"): inner services that reserve in `poll_ready`, that need the request's own
//! waker, that fail, die or panic; response futures dropped half way or polled too often; and
//! real hyper connections against a saturated limit. Each test names the guarantee it tries to
//! break.

mod common;

use std::convert::Infallible;
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use common::grpc::connect;
use common::{Flag, engine_with, loopback, serve_http, settle};
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use readiness_tower::ReadinessLayer;
use tokio::sync::Semaphore;
use tower::buffer::BufferLayer;
use tower::limit::{ConcurrencyLimitLayer, GlobalConcurrencyLimitLayer, RateLimitLayer};
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

type Req = Request<Full<Bytes>>;
type Res = Response<Full<Bytes>>;

fn get(uri: &str) -> Req {
    Request::get(uri).body(Full::default()).expect("request")
}

fn ok(text: &'static str) -> Res {
    Response::new(Full::new(Bytes::from_static(text.as_bytes())))
}

/// Poll once with no waker: `Some` if ready at once.
fn now<F: Future>(fut: Pin<&mut F>) -> Option<F::Output> {
    match fut.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

async fn engine() -> readiness_tower::Engine {
    engine_with(vec![Flag::new(true).spec("db")]).await
}

/// Counts live values of a type: a moved service that is never dropped shows here.
#[derive(Default)]
struct Live(AtomicUsize);

struct Tracked(Arc<Live>);

impl Tracked {
    fn new(live: &Arc<Live>) -> Self {
        live.0.fetch_add(1, Ordering::SeqCst);
        Tracked(live.clone())
    }
}

impl Clone for Tracked {
    fn clone(&self) -> Self {
        Tracked::new(&self.0)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A pool of tokens reserved in `poll_ready` and spent by `call`, with a record of every
/// misuse: a call without a reservation, a reservation dropped unspent (returned, not leaked),
/// and the wakers registered, so a lost wake-up shows.
#[derive(Default)]
struct Pool {
    free: usize,
    waiters: Vec<Waker>,
    calls_without_token: usize,
    spent: usize,
}

struct Reserving {
    pool: Arc<Mutex<Pool>>,
    /// The token this value holds, if any (cloning never copies it).
    token: bool,
    _live: Tracked,
}

impl Reserving {
    fn new(pool: &Arc<Mutex<Pool>>, live: &Arc<Live>) -> Self {
        Reserving {
            pool: pool.clone(),
            token: false,
            _live: Tracked::new(live),
        }
    }
}

impl Clone for Reserving {
    /// A clone holds no token, as a `ConcurrencyLimit` clone holds no permit.
    fn clone(&self) -> Self {
        Reserving {
            pool: self.pool.clone(),
            token: false,
            _live: self._live.clone(),
        }
    }
}

impl Drop for Reserving {
    fn drop(&mut self) {
        if self.token {
            let mut p = self.pool.lock().expect("pool");
            p.free += 1;
            for w in p.waiters.drain(..) {
                w.wake();
            }
        }
    }
}

/// A token, returned to the pool when the response is dropped.
struct Spent(Arc<Mutex<Pool>>);

impl Drop for Spent {
    fn drop(&mut self) {
        let mut p = self.0.lock().expect("pool");
        p.free += 1;
        for w in p.waiters.drain(..) {
            w.wake();
        }
    }
}

impl Service<Req> for Reserving {
    type Response = (Res, Spent);
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        if self.token {
            return Poll::Ready(Ok(()));
        }
        let mut p = self.pool.lock().expect("pool");
        if p.free > 0 {
            p.free -= 1;
            self.token = true;
            Poll::Ready(Ok(()))
        } else {
            p.waiters.push(cx.waker().clone());
            Poll::Pending
        }
    }

    fn call(&mut self, _req: Req) -> Self::Future {
        let mut p = self.pool.lock().expect("pool");
        if !std::mem::take(&mut self.token) {
            p.calls_without_token += 1;
        }
        p.spent += 1;
        drop(p);
        std::future::ready(Ok((ok("app"), Spent(self.pool.clone()))))
    }
}

/// `Reserving` as an HTTP service: the token is spent when the response is made, and held
/// until the test drops the `Spent` it gets through the response's extensions.
#[derive(Clone)]
struct Http(Reserving);

impl Service<Req> for Http {
    type Response = Res;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Res, Infallible>>;
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.0.poll_ready(cx)
    }
    fn call(&mut self, req: Req) -> Self::Future {
        let Poll::Ready(Ok((mut res, spent))) =
            pin!(self.0.call(req)).poll(&mut Context::from_waker(Waker::noop()))
        else {
            unreachable!("ready future")
        };
        res.extensions_mut()
            .insert(Arc::new(Mutex::new(Some(spent))));
        std::future::ready(Ok(res))
    }
}

fn release(res: &Res) {
    res.extensions()
        .get::<Arc<Mutex<Option<Spent>>>>()
        .expect("a business response")
        .lock()
        .expect("token")
        .take();
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_reservation_made_with_the_noop_waker_is_spent_once_or_returned() {
    // Guarantee: the token reserved by the layer's no-op-waker `poll_ready` is spent by
    // exactly this request's call (never a call without one, never two calls on one), and
    // a request dropped before it is served gives it back; no moved service is leaked.
    let pool = Arc::new(Mutex::new(Pool {
        free: 1,
        ..Pool::default()
    }));
    let live = Arc::new(Live::default());
    let mut svc = ServiceBuilder::new()
        .layer(ReadinessLayer::new(engine().await))
        .service(Http(Reserving::new(&pool, &live)));

    // Ready at once: reserved with the no-op waker, spent by this call.
    let first = pin!(svc.call(get("/a")));
    let first = now(first).expect("served at once").expect("infallible");

    // The pool is empty: these wait (each moved into its own future), probes do not.
    let mut waiting: Vec<_> = (0..4).map(|_| Box::pin(svc.call(get("/b")))).collect();
    for w in &mut waiting {
        assert!(now(w.as_mut()).is_none(), "no token left: it waits");
    }
    let probe = pin!(svc.call(get("/livez")));
    assert_eq!(
        now(probe).expect("a probe answers").expect("ok").status(),
        200
    );

    // Cancellation: drop two waiters (one polled, one never polled after `call`).
    let never_polled = Box::pin(svc.call(get("/c")));
    drop(never_polled);
    drop(waiting.remove(0));

    // Free the token, again and again: each time exactly one waiter takes it.
    let mut current = first;
    while !waiting.is_empty() {
        release(&current);
        drop(current);
        let mut got = None;
        let mut still = Vec::new();
        for mut w in waiting.drain(..) {
            match now(w.as_mut()) {
                Some(res) => {
                    assert!(got.is_none(), "one token served two requests");
                    got = Some(res.expect("infallible"));
                }
                None => still.push(w),
            }
        }
        waiting = still;
        current = got.expect("a freed token reaches a waiting request");
    }
    release(&current);
    drop(current);
    drop(svc);

    let p = pool.lock().expect("pool");
    assert_eq!(p.calls_without_token, 0, "no call without a reservation");
    assert_eq!(
        p.free, 1,
        "every token came back: none leaked, none doubled"
    );
    assert_eq!(
        p.spent, 4,
        "the first request and the three waiters left, once each"
    );
    drop(p);
    assert_eq!(
        live.0.load(Ordering::SeqCst),
        0,
        "every moved service was dropped"
    );
}

/// A service whose readiness is a gate: `poll_ready` keeps only the latest waker, as the
/// `Service` contract allows, so a wake-up depends on being polled with the request's own
/// waker after the layer's no-op one.
#[derive(Clone)]
struct Gate {
    open: Arc<Mutex<(bool, Option<Waker>)>>,
    calls: Arc<AtomicUsize>,
}

impl Gate {
    fn open(&self) {
        let mut g = self.open.lock().expect("gate");
        g.0 = true;
        if let Some(w) = g.1.take() {
            w.wake();
        }
    }
}

impl Service<Req> for Gate {
    type Response = Res;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Res, Infallible>>;
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        let mut g = self.open.lock().expect("gate");
        if g.0 {
            Poll::Ready(Ok(()))
        } else {
            g.1 = Some(cx.waker().clone());
            Poll::Pending
        }
    }
    fn call(&mut self, _req: Req) -> Self::Future {
        self.calls.fetch_add(1, Ordering::SeqCst);
        std::future::ready(Ok(ok("through the gate")))
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_service_that_keeps_only_the_latest_waker_still_wakes_its_request() {
    // Guarantee: a request that waits is woken by the inner service, although the layer's
    // first `poll_ready` carried a no-op waker (a lost wake-up would hang it forever).
    let gate = Gate {
        open: Arc::new(Mutex::new((false, None))),
        calls: Arc::new(AtomicUsize::new(0)),
    };
    let svc = ServiceBuilder::new()
        .layer(ReadinessLayer::new(engine().await))
        .service(gate.clone());
    let task = tokio::spawn(svc.clone().oneshot(get("/")));
    settle().await;
    assert!(!task.is_finished(), "the gate is shut");
    let probe = pin!(svc.clone().oneshot(get("/readyz")));
    let probe = now(probe).expect("a probe answers at once");
    assert_eq!(probe.expect("probe").status(), 200);
    gate.open();
    settle().await;
    assert!(task.is_finished(), "woken with the request's own waker");
    assert_eq!(task.await.expect("task").expect("ok").status(), 200);
    assert_eq!(gate.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_exhausted_rate_limit_holds_business_traffic_and_never_probes() {
    // tower's `RateLimit` is not `Clone` (its sleep is its own): behind a `Buffer`, as tower
    // documents. Its `poll_ready` is pending on a timer that needs a real waker; with the
    // buffer's one slot taken too, the layer's own future waits for the buffer.
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let svc = ServiceBuilder::new()
        .layer(ReadinessLayer::new(engine().await))
        .layer(BufferLayer::new(1))
        .layer(RateLimitLayer::new(1, Duration::from_secs(10)))
        .service(service_fn(move |_req: Req| {
            counted.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, Infallible>(ok("app")) }
        }));
    let start = tokio::time::Instant::now();
    assert_eq!(
        svc.clone().oneshot(get("/")).await.expect("first").status(),
        200
    );
    // One held by the buffer's worker, one in its slot, one waiting for the slot.
    let mut waiting = Vec::new();
    for _ in 0..3 {
        waiting.push(tokio::spawn(svc.clone().oneshot(get("/"))));
        settle().await;
    }
    assert!(
        waiting.iter().all(|t| !t.is_finished()),
        "the rate is spent"
    );
    for uri in ["/livez", "/readyz", "/readyz/db", "/startupz"] {
        let res = pin!(svc.clone().oneshot(get(uri)));
        let res = now(res).unwrap_or_else(|| panic!("{uri} waited behind the rate limit"));
        assert_eq!(res.expect("probe").status(), 200, "{uri}");
    }
    // The paused clock jumps from window to window; each request is served in its own.
    for task in waiting {
        assert_eq!(task.await.expect("task").expect("served").status(), 200);
    }
    assert!(
        start.elapsed() >= Duration::from_secs(30),
        "one request per 10 s window"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 4, "each request served once");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_buffer_whose_worker_failed_errs_business_requests_only() {
    // The inner service's readiness fails: tower's `Buffer` worker stops, and every business
    // request (the one the worker holds, the one in the channel, the one waiting in the
    // layer's future for a slot, every later one) gets an error, never a hang; probes keep
    // answering.
    #[derive(Clone)]
    struct FailsWhenOpened(Gate);
    impl Service<Req> for FailsWhenOpened {
        type Response = Res;
        type Error = &'static str;
        type Future = std::future::Ready<Result<Res, &'static str>>;
        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), &'static str>> {
            match self.0.poll_ready(cx) {
                Poll::Ready(_) => Poll::Ready(Err("backend gone")),
                Poll::Pending => Poll::Pending,
            }
        }
        fn call(&mut self, _req: Req) -> Self::Future {
            unreachable!("never ready")
        }
    }
    let gate = Gate {
        open: Arc::new(Mutex::new((false, None))),
        calls: Arc::new(AtomicUsize::new(0)),
    };
    let svc = ServiceBuilder::new()
        .layer(ReadinessLayer::new(engine().await))
        .layer(BufferLayer::new(1))
        .service(FailsWhenOpened(gate.clone()));
    let mut tasks = Vec::new();
    for uri in ["/held-by-worker", "/in-channel", "/waiting-for-a-slot"] {
        tasks.push(tokio::spawn(svc.clone().oneshot(get(uri))));
        settle().await;
    }
    assert!(tasks.iter().all(|t| !t.is_finished()));
    for uri in ["/livez", "/readyz"] {
        let res = pin!(svc.clone().oneshot(get(uri)));
        let res = now(res).unwrap_or_else(|| panic!("{uri} waited behind the full buffer"));
        assert_eq!(res.expect("probe").status(), 200);
    }

    gate.open();
    settle().await;
    for (task, uri) in tasks.into_iter().zip(["held", "in channel", "waiting"]) {
        assert!(task.is_finished(), "{uri}: answered, not hung");
        assert!(task.await.expect("task").is_err(), "{uri}: gets the error");
    }
    assert!(
        svc.clone().oneshot(get("/later")).await.is_err(),
        "and every later one"
    );
    for uri in ["/livez", "/readyz"] {
        let res = svc
            .clone()
            .oneshot(get(uri))
            .await
            .expect("a probe never fails");
        assert_eq!(res.status(), 200, "{uri}");
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn cancelled_requests_give_their_permit_back() {
    // Guarantee: a request dropped while it waits for a `ConcurrencyLimit` permit (polled or
    // not, before or after the permit was assigned to it) leaks nothing.
    let sem = Arc::new(Semaphore::new(1));
    let live = Arc::new(Live::default());
    let hold = Arc::new(Semaphore::new(0));
    let inner = {
        let hold = hold.clone();
        let tracked = Tracked::new(&live);
        service_fn(move |req: Req| {
            let hold = hold.clone();
            let _t = tracked.clone();
            async move {
                if req.uri().path() == "/hold" {
                    hold.acquire().await.expect("open").forget();
                }
                drop(_t);
                Ok::<_, Infallible>(ok("app"))
            }
        })
    };
    let mut svc = ServiceBuilder::new()
        .layer(ReadinessLayer::new(engine().await))
        .layer(GlobalConcurrencyLimitLayer::with_semaphore(sem.clone()))
        .service(inner);
    let held = tokio::spawn(svc.clone().oneshot(get("/hold")));
    settle().await;
    assert_eq!(sem.available_permits(), 0);

    let never_polled = svc.call(get("/a"));
    let mut polled = Box::pin(svc.call(get("/b")));
    assert!(now(polled.as_mut()).is_none());
    let granted = Box::pin(svc.call(get("/c")));
    drop(never_polled);
    drop(polled);
    // Free the permit: the waiting `/c` is granted it, then dropped before it is polled again.
    hold.add_permits(1);
    held.await.expect("task").expect("ok");
    drop(granted);
    settle().await;
    assert_eq!(
        sem.available_permits(),
        1,
        "no permit leaked by a cancelled request"
    );

    // And the limit still works: one request in, the next waits, then is served.
    let res = svc.clone().oneshot(get("/d")).await.expect("served");
    assert_eq!(res.status(), 200);
    drop(svc);
    assert_eq!(
        live.0.load(Ordering::SeqCst),
        0,
        "every moved service was dropped"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_panic_in_poll_ready_leaves_probes_answering() {
    // The panic is the inner service's; it must not take the layer with it.
    #[derive(Clone)]
    struct Panics;
    impl Service<Req> for Panics {
        type Response = Res;
        type Error = Infallible;
        type Future = std::future::Ready<Result<Res, Infallible>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            panic!("poll_ready blew up")
        }
        fn call(&mut self, _req: Req) -> Self::Future {
            unreachable!("never ready")
        }
    }
    let svc = ServiceBuilder::new()
        .layer(ReadinessLayer::new(engine().await))
        .service(Panics);
    let business = tokio::spawn(svc.clone().oneshot(get("/")));
    assert!(business.await.expect_err("the panic").is_panic());
    // The same service value, after a caught panic, still answers probes.
    let mut same = svc.clone();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        drop(same.call(get("/")));
    }));
    assert!(caught.is_err());
    let res = same.oneshot(get("/livez")).await.expect("probe");
    assert_eq!(res.status(), 200);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_response_future_polled_after_completion_never_calls_inward_again() {
    // Polling a finished future may panic (the `Future` contract), but it must never call the
    // inner service a second time for one request.
    #[derive(Clone)]
    struct ReadyOnSecondPoll {
        polls: Arc<AtomicUsize>,
        calls: Arc<AtomicUsize>,
    }
    impl Service<Req> for ReadyOnSecondPoll {
        type Response = Res;
        type Error = Infallible;
        type Future = std::future::Ready<Result<Res, Infallible>>;
        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            if self.polls.fetch_add(1, Ordering::SeqCst) == 0 {
                cx.waker().wake_by_ref();
                Poll::Pending
            } else {
                Poll::Ready(Ok(()))
            }
        }
        fn call(&mut self, _req: Req) -> Self::Future {
            self.calls.fetch_add(1, Ordering::SeqCst);
            std::future::ready(Ok(ok("app")))
        }
    }
    let inner = ReadyOnSecondPoll {
        polls: Arc::new(AtomicUsize::new(0)),
        calls: Arc::new(AtomicUsize::new(0)),
    };
    let mut svc = ServiceBuilder::new()
        .layer(ReadinessLayer::new(engine().await))
        .service(inner.clone());
    for uri in ["/waits", "/livez"] {
        let mut fut = Box::pin(svc.call(get(uri)));
        now(fut.as_mut()).expect("ready").expect("ok");
        let again = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| now(fut.as_mut())));
        assert!(
            !matches!(again, Ok(Some(Ok(_)))),
            "{uri}: a second answer from one future"
        );
    }
    assert_eq!(
        inner.calls.load(Ordering::SeqCst),
        1,
        "called once for its one request"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn many_connections_against_a_saturated_limit_are_each_answered_once() {
    // Real hyper (HTTP/1.1 and HTTP/2), many clients at once, a limit of 2 held shut: every
    // probe answers while the business requests wait; once the gate opens each business
    // request is answered exactly once, with its own answer. (Timeouts only guard a hang.)
    let gate = Arc::new(Semaphore::new(0));
    let calls = Arc::new(Mutex::new(Vec::<String>::new()));
    let (entered_tx, mut entered) = tokio::sync::mpsc::unbounded_channel::<()>();
    let (g, c) = (gate.clone(), calls.clone());
    let app = service_fn(move |req: Request<hyper::body::Incoming>| {
        let (g, c, tx) = (g.clone(), c.clone(), entered_tx.clone());
        async move {
            let path = req.uri().path().to_owned();
            c.lock().expect("calls").push(path.clone());
            let _ = tx.send(());
            g.acquire().await.expect("open").forget();
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(path))))
        }
    });
    let svc = ServiceBuilder::new()
        .layer(ReadinessLayer::new(engine().await))
        .layer(ConcurrencyLimitLayer::new(2))
        .service(app);
    let addr = serve_http(svc).await;
    let guard = Duration::from_secs(10);

    let business: Vec<_> = (0..12)
        .map(|i| {
            tokio::spawn(async move { common::http1(addr, "GET", &format!("/job/{i}")).await })
        })
        .collect();
    for _ in 0..2 {
        tokio::time::timeout(guard, entered.recv())
            .await
            .expect("two requests take the two permits")
            .expect("open");
    }
    for uri in ["/livez", "/readyz", "/readyz/db", "/healthz", "/startupz"] {
        let answer = tokio::time::timeout(guard, common::http1(addr, "GET", uri))
            .await
            .unwrap_or_else(|_| panic!("{uri} waited behind the saturated limit"));
        assert_eq!(answer, (200, "ok".into()), "{uri}");
    }
    let h2 = tokio::time::timeout(guard, http2(addr, "/livez"))
        .await
        .expect("an HTTP/2 probe answers too");
    assert_eq!(h2, 200);
    assert_eq!(calls.lock().expect("calls").len(), 2, "the rest still wait");

    gate.add_permits(12);
    let mut bodies = Vec::new();
    for task in business {
        let (status, body) = tokio::time::timeout(guard, task)
            .await
            .expect("served once the permits are free")
            .expect("task");
        assert_eq!(status, 200);
        bodies.push(body);
    }
    let mut expected: Vec<String> = (0..12).map(|i| format!("/job/{i}")).collect();
    bodies.sort();
    expected.sort();
    assert_eq!(bodies, expected, "each request got its own answer");
    let mut seen = calls.lock().expect("calls").clone();
    seen.sort();
    assert_eq!(seen, expected, "each request reached the app exactly once");
}

async fn http2(addr: std::net::SocketAddr, path: &str) -> u16 {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .expect("handshake");
    tokio::spawn(conn);
    let req = Request::get(format!("http://localhost{path}"))
        .body(Full::<Bytes>::default())
        .expect("request");
    let res = sender.send_request(req).await.expect("response");
    let status = res.status().as_u16();
    let _ = res.into_body().collect().await;
    status
}

/// [`Gate`]'s readiness in front of any service: not ready until the gate opens; `asked`
/// is told each time it answers `Pending`.
#[derive(Clone)]
struct Gated<S> {
    gate: Gate,
    asked: Arc<tokio::sync::Notify>,
    inner: S,
}

impl<S: Service<R>, R> Service<R> for Gated<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        let mut g = self.gate.open.lock().expect("gate");
        if !g.0 {
            g.1 = Some(cx.waker().clone());
            self.asked.notify_one();
            return Poll::Pending;
        }
        drop(g);
        self.inner.poll_ready(cx)
    }
    fn call(&mut self, req: R) -> Self::Future {
        self.gate.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.call(req)
    }
}

#[tokio::test(flavor = "current_thread")]
async fn tonic_with_a_shut_inner_service_answers_http_probes_and_holds_grpc() {
    // `Server::builder().layer(layer)` with a service inside it that is not ready: HTTP/1.1
    // probes on the gRPC port answer at once; a gRPC call waits for the inner service and is
    // answered once it is ready. (Timeouts only guard a hang.)
    use readiness_tower::grpc::ServingStatus;
    use readiness_tower::grpc::pb::HealthCheckRequest;

    let gate = Gate {
        open: Arc::new(Mutex::new((false, None))),
        calls: Arc::new(AtomicUsize::new(0)),
    };
    let engine = engine().await;
    // Our own grpc.health.v1: `""` follows the engine, which is ready.
    let (health, _reporter) = readiness_tower::grpc::health_service(&engine);
    let (l, addr) = loopback().await;
    let g = gate.clone();
    let asked = Arc::new(tokio::sync::Notify::new());
    let a = asked.clone();
    tokio::spawn(
        tonic::transport::Server::builder()
            .accept_http1(true)
            .layer(ReadinessLayer::new(engine.clone()))
            .layer(tower::layer::layer_fn(move |inner| Gated {
                gate: g.clone(),
                asked: a.clone(),
                inner,
            }))
            .add_service(health)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(l)),
    );
    let guard = Duration::from_secs(10);
    let mut client = connect(addr).await;
    let call = tokio::spawn(async move {
        client
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
    });
    tokio::time::timeout(guard, asked.notified())
        .await
        .expect("the gRPC call reached the shut inner service");
    for uri in ["/livez", "/readyz", "/readyz/db"] {
        let answer = tokio::time::timeout(guard, common::http1(addr, "GET", uri))
            .await
            .unwrap_or_else(|_| panic!("{uri} waited behind the shut inner service"));
        assert_eq!(answer, (200, "ok".into()), "{uri}");
    }
    assert!(
        !call.is_finished(),
        "the gRPC call waits for the inner service"
    );
    assert_eq!(gate.calls.load(Ordering::SeqCst), 0);
    gate.open();
    let res = tokio::time::timeout(guard, call)
        .await
        .expect("answered once ready")
        .expect("task")
        .expect("SERVING");
    assert_eq!(res.into_inner().status, ServingStatus::Serving as i32);
    assert_eq!(gate.calls.load(Ordering::SeqCst), 1, "called once");
}
