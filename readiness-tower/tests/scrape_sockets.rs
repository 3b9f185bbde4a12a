//! `/metrics` over real loopback sockets, as scrapers misbehave: one that goes away mid-body,
//! one that reads slowly, two at once. Nothing leaks (dhat's heap count returns to where it
//! was), no lock is held while a body waits (the engine is used from another thread meanwhile,
//! with a deadline), probes keep answering. And `HEAD` renders nothing.
//!
//! dhat's counts are for the whole process, so the tests of this binary take turns.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use readiness_core::Engine;
use readiness_testkit::{Exposition, MetricsCapture};
use readiness_tower::ReadinessLayer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tower::{ServiceBuilder, service_fn};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

static TURN: Mutex<()> = Mutex::new(());

/// Every wait of these tests gives up after this long (a hang fails, it never hangs).
const BOUND: Duration = Duration::from_secs(30);

const TENANTS: usize = 10_000;

struct Server {
    addr: SocketAddr,
    engine: Engine,
    /// The task of every connection accepted, to wait for its end.
    conns: mpsc::UnboundedReceiver<JoinHandle<()>>,
    _capture: MetricsCapture,
}

/// An engine of [`TENANTS`] tenants (no check of their own: ready with the instance) on
/// `capture`'s recorder, and its layer serving `/metrics`.
async fn fleet(capture: &MetricsCapture) -> (Engine, ReadinessLayer) {
    let engine = common::tenant_fleet(TENANTS, capture).await;
    let layer = ReadinessLayer::builder(engine.clone())
        .metrics(capture.handle())
        .build()
        .expect("a valid layer");
    (engine, layer)
}

async fn server() -> Server {
    let capture = MetricsCapture::new();
    let (engine, layer) = fleet(&capture).await;
    let app = service_fn(|_req: Request<hyper::body::Incoming>| async {
        Ok::<_, Infallible>(Response::new(Body::empty()))
    });
    let svc = ServiceBuilder::new().layer(layer).service(app);
    let (listener, addr) = common::loopback().await;
    let (tx, conns) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let svc = TowerToHyperService::new(svc.clone());
            let conn = tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
            if tx.send(conn).is_err() {
                return;
            }
        }
    });
    Server {
        addr,
        engine,
        conns,
        _capture: capture,
    }
}

impl Server {
    /// Wait for the next `n` accepted connections to end.
    async fn connections_end(&mut self, n: usize) {
        for _ in 0..n {
            let conn = tokio::time::timeout(BOUND, self.conns.recv())
                .await
                .expect("a connection was accepted")
                .expect("the server runs");
            tokio::time::timeout(BOUND, conn)
                .await
                .expect("the connection ends")
                .expect("no panic");
        }
    }

    /// Add, probe and remove a tenant from another thread, within a deadline: a lock held by
    /// a scrape would make it miss.
    fn engine_is_free(&self, id: &str) {
        let engine = self.engine.clone();
        let id = id.to_owned();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            engine.add_tenant(&id, vec![]).expect("added");
            let known = engine.tenant_ready(&id).is_some();
            let removed = engine.remove_tenant(&id);
            let _ = tx.send(known && removed);
        });
        assert_eq!(
            rx.recv_timeout(BOUND),
            Ok(true),
            "the engine answered another thread"
        );
    }
}

/// A hyper client connection.
async fn client(addr: SocketAddr) -> hyper::client::conn::http1::SendRequest<Empty<Bytes>> {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    sender
}

fn request(path: &str) -> Request<Empty<Bytes>> {
    Request::get(path)
        .header("host", "localhost")
        .body(Empty::new())
        .expect("a request")
}

/// A probe on a fresh connection: its status.
async fn probe(addr: SocketAddr, path: &str) -> u16 {
    let mut c = client(addr).await;
    let res = tokio::time::timeout(BOUND, c.send_request(request(path)))
        .await
        .expect("answered in time")
        .expect("a response");
    let status = res.status().as_u16();
    let _ = res.into_body().collect().await;
    status
}

async fn scrape(addr: SocketAddr) -> Exposition {
    let mut c = client(addr).await;
    let res = c
        .send_request(request("/metrics"))
        .await
        .expect("a response");
    let body = tokio::time::timeout(BOUND, res.into_body().collect())
        .await
        .expect("in time")
        .expect("the body")
        .to_bytes();
    Exposition::parse(std::str::from_utf8(&body).expect("UTF-8")).expect("valid")
}

fn heap_bytes() -> usize {
    dhat::HeapStats::get().curr_bytes
}

/// What a scrape holds while it waits (the list of tenants alone is 8 bytes a tenant): a leak
/// of it would show well past this.
const SLACK: usize = 32 * 1024;

/// One test at a time (dhat's counts are the process's), each on its own runtime.
fn in_turn(test: impl std::future::Future<Output = ()>) {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(test);
}

#[test]
fn scrapers_that_go_away_read_slowly_or_come_together_leak_nothing_and_block_nothing() {
    in_turn(go_away_slow_together());
}

async fn go_away_slow_together() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let mut s = server().await;
    // Warm up: one probe, one whole scrape, the engine used from a thread.
    assert_eq!(probe(s.addr, "/readyz").await, 200);
    let reference = scrape(s.addr).await;
    assert_eq!(reference.series("tenant_readiness_state").count(), TENANTS);
    drop(reference);
    s.engine_is_free("warm-up");
    s.connections_end(2).await;
    let base = heap_bytes();

    // 1. A scraper that reads 64 KiB and goes away.
    let mut raw = TcpStream::connect(s.addr).await.expect("connect");
    let conn = tokio::time::timeout(BOUND, s.conns.recv())
        .await
        .expect("accepted")
        .expect("the server runs");
    raw.write_all(b"GET /metrics HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .expect("request sent");
    let mut got = vec![0u8; 64 * 1024];
    tokio::time::timeout(BOUND, raw.read_exact(&mut got))
        .await
        .expect("in time")
        .expect("64 KiB of the answer");
    assert!(got.starts_with(b"HTTP/1.1 200 OK\r\n"));
    drop(got);
    s.engine_is_free("during-1");
    assert_eq!(probe(s.addr, "/readyz/tenants/tenant-7").await, 200);
    s.connections_end(1).await;
    assert!(
        !conn.is_finished(),
        "the server is still in the middle of the body (the socket's buffers are full)"
    );
    drop(raw);
    tokio::time::timeout(BOUND, conn)
        .await
        .expect("the connection ends")
        .expect("no panic");
    let after = heap_bytes();
    assert!(
        after <= base + SLACK,
        "a scrape cut short left {} bytes behind",
        after.saturating_sub(base)
    );

    // 2. A scraper that reads one frame at a time, probes answered between its frames.
    let mut slow = client(s.addr).await;
    let res = slow
        .send_request(request("/metrics"))
        .await
        .expect("a response");
    let mut body = res.into_body();
    let (mut frames, mut text) = (0usize, Vec::new());
    let mut probes = 0;
    while let Some(frame) = tokio::time::timeout(BOUND, body.frame())
        .await
        .expect("in time")
    {
        if let Ok(data) = frame.expect("the body").into_data() {
            text.extend_from_slice(&data);
        }
        frames += 1;
        if frames % 16 == 0 {
            assert_eq!(probe(s.addr, "/livez").await, 200);
            s.engine_is_free(&format!("during-2-{frames}"));
            probes += 1;
        }
    }
    assert!(
        probes >= 4,
        "{frames} frames, probed {probes} times meanwhile"
    );
    assert_eq!(states(&text), TENANTS);
    drop(text);
    drop(body);
    drop(slow);
    s.connections_end(1 + probes).await;

    // 3. Two scrapes at once, read in turns.
    let (mut a, mut b) = (client(s.addr).await, client(s.addr).await);
    let mut bodies = [
        a.send_request(request("/metrics"))
            .await
            .expect("a response")
            .into_body(),
        b.send_request(request("/metrics"))
            .await
            .expect("a response")
            .into_body(),
    ];
    let mut texts = [Vec::new(), Vec::new()];
    let mut open = [true, true];
    while open.iter().any(|o| *o) {
        for i in 0..2 {
            if !open[i] {
                continue;
            }
            match tokio::time::timeout(BOUND, bodies[i].frame())
                .await
                .expect("in time")
            {
                Some(frame) => {
                    if let Ok(data) = frame.expect("the body").into_data() {
                        texts[i].extend_from_slice(&data);
                    }
                }
                None => open[i] = false,
            }
        }
    }
    assert_eq!(probe(s.addr, "/readyz").await, 200);
    assert_eq!(texts[0].len(), texts[1].len(), "the same text");
    assert_eq!(states(&texts[0]), TENANTS);
    drop(texts);
    drop(bodies);
    drop((a, b));
    s.connections_end(3).await;
    let after = heap_bytes();
    assert!(
        after <= base + SLACK,
        "scrapes left {} bytes behind",
        after.saturating_sub(base)
    );
}

#[test]
fn head_renders_nothing() {
    in_turn(head());
}

async fn head() {
    use tower::ServiceExt;
    let _profiler = dhat::Profiler::builder().testing().build();
    let capture = MetricsCapture::new();
    let (_engine, layer) = fleet(&capture).await;
    let app = service_fn(|_req: Request<Body>| async {
        Ok::<_, Infallible>(Response::new(Body::empty()))
    });
    let svc = ServiceBuilder::new().layer(layer).service(app);
    let call = |method: &str| {
        let req = Request::builder()
            .method(method)
            .uri("/metrics")
            .header("accept-encoding", "gzip")
            .body(Body::empty())
            .expect("a request");
        let svc = svc.clone();
        async move {
            let before = dhat::HeapStats::get().total_bytes;
            let res = svc.oneshot(req).await.expect("infallible");
            let allocated = dhat::HeapStats::get().total_bytes - before;
            (res, allocated)
        }
    };
    let (get, get_bytes) = call("GET").await;
    let (head, head_bytes) = call("HEAD").await;
    assert!(
        get_bytes > 8 * TENANTS as u64,
        "GET lists the tenants: {get_bytes} bytes"
    );
    assert!(head_bytes < 4096, "HEAD allocated {head_bytes} bytes");
    assert_eq!(head.headers()["content-encoding"], "gzip");
    assert_eq!(head.headers(), get.headers(), "the headers GET has");
    assert!(common::body_bytes(head).await.is_empty());
}

/// How many `tenant_readiness_state` samples a body holds (cheaper than parsing it whole).
fn states(body: &[u8]) -> usize {
    body.split(|b| *b == b'\n')
        .filter(|l| l.starts_with(b"tenant_readiness_state{"))
        .count()
}
