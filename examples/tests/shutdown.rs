//! The graceful shutdown as a user wires it: `axum::serve(..).with_graceful_shutdown(
//! engine.drain_on(signal, delay))`, then `engine.shutdown()`. On tokio's paused clock, over a
//! loopback socket: before the signal everything is ready; after it `/readyz` answers 503 at
//! once while `/livez` stays 200 and `/metrics` reads `readiness_draining 1`, for the whole
//! delay; then the server returns.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use axum::{Router, routing::get};
use readiness_core::metrics::{READINESS_DRAINING, READINESS_STATE, READINESS_TRANSITIONS_TOTAL};
use readiness_core::{Engine, check_fn};
use readiness_testkit::{Exposition, MetricsCapture};
use readiness_tower::ReadinessLayer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tower::ServiceBuilder;

const DELAY: Duration = Duration::from_secs(35);

fn engine() -> Engine {
    Engine::builder()
        .readiness("db", check_fn(|| async { Ok::<(), std::io::Error>(()) }))
        .build()
        .expect("valid configuration")
}

/// One `GET` on a fresh connection (as the kubelet probes): the status and the body.
async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("the server accepts");
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("request written");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("response read");
    let text = String::from_utf8(raw).expect("utf-8 response");
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    // `/metrics` is streamed: chunked.
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        common::dechunk(body)
    } else {
        body.to_owned()
    };
    (status, body)
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_draining_gauge_reads_0_from_the_start_and_1_once_the_drain_starts() {
    let capture = MetricsCapture::new();
    let engine = capture.install(engine);
    let e = capture.exposition().expect("valid exposition");
    assert_eq!(
        e.value(READINESS_DRAINING, &[]),
        Some(0.0),
        "0 from the build"
    );
    assert_eq!(e.metric_type(READINESS_DRAINING), Some("gauge"));
    assert!(
        e.help(READINESS_DRAINING)
            .is_some_and(|h| h.contains("draining")),
        "described"
    );

    engine.refresh().await.expect("the engine runs");
    let e = capture.exposition().expect("valid exposition");
    assert_eq!(e.value(READINESS_STATE, &[]), Some(1.0));
    assert_eq!(
        e.value(READINESS_DRAINING, &[]),
        Some(0.0),
        "ready is not draining"
    );

    let (signal, rx) = oneshot::channel::<()>();
    let shutdown = tokio::spawn(engine.drain_on(rx, DELAY));
    signal.send(()).expect("the future waits");
    tokio::task::yield_now().await;
    let e = capture.exposition().expect("valid exposition");
    assert_eq!(
        e.value(READINESS_DRAINING, &[]),
        Some(1.0),
        "1 once draining"
    );
    assert_eq!(e.value(READINESS_STATE, &[]), Some(0.0));
    assert_eq!(
        e.value(READINESS_TRANSITIONS_TOTAL, &[("to", "not_ready")]),
        Some(1.0),
        "the drain is one transition"
    );

    shutdown.await.expect("no panic");
    engine.shutdown().await;
    let e = capture.exposition().expect("valid exposition");
    assert_eq!(
        e.value(READINESS_DRAINING, &[]),
        Some(1.0),
        "stays 1 until the process is gone"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn axum_keeps_serving_through_the_drain_delay_then_returns() {
    let capture = MetricsCapture::new();
    let engine = capture.install(engine);
    engine.refresh().await.expect("the engine runs");

    let router: Router = Router::new().route("/", get(|| async { "hello\n" }));
    let app = ServiceBuilder::new()
        .layer(
            ReadinessLayer::builder(engine.clone())
                .metrics(capture.handle())
                .build()
                .expect("a valid layer"),
        )
        .service(router);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("loopback port");
    let addr = listener.local_addr().expect("bound");
    let (signal, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(
        axum::serve(listener, tower::make::Shared::new(app))
            .with_graceful_shutdown(engine.drain_on(rx, DELAY))
            .into_future(),
    );

    // While requests are in flight the paused clock advances to the next timer whenever the
    // runtime is idle; a 1 ms ticker bounds each jump, so the requests below take far less
    // than the delay of paused time. It stops before the delay is waited out.
    let ticker = tokio::spawn(async {
        let mut tick = tokio::time::interval(Duration::from_millis(1));
        loop {
            tick.tick().await;
        }
    });

    assert_eq!(http_get(addr, "/readyz").await, (200, "ok".to_owned()));
    assert_eq!(http_get(addr, "/").await, (200, "hello\n".to_owned()));

    signal.send(()).expect("the future waits");
    let signalled = Instant::now();
    for _ in 0..3 {
        let (status, body) = http_get(addr, "/readyz").await;
        assert_eq!(status, 503, "{body}");
        assert!(body.contains("[-]shutdown failed"), "{body}");
        assert_eq!(http_get(addr, "/livez").await, (200, "ok".to_owned()));
        assert_eq!(
            http_get(addr, "/").await,
            (200, "hello\n".to_owned()),
            "still serving"
        );
        let (status, metrics) = http_get(addr, "/metrics").await;
        assert_eq!(status, 200);
        let e = Exposition::parse(&metrics).expect("valid exposition");
        assert_eq!(e.value(READINESS_DRAINING, &[]), Some(1.0));
        assert_eq!(e.value(READINESS_STATE, &[]), Some(0.0));
    }
    assert!(signalled.elapsed() < DELAY, "{:?}", signalled.elapsed());
    assert!(!server.is_finished(), "serving until the delay is over");

    ticker.abort();
    server
        .await
        .expect("no panic")
        .expect("the server returns without an error");
    assert!(signalled.elapsed() >= DELAY, "{:?}", signalled.elapsed());
    assert!(engine.is_closed());
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the listener is closed once the server returned"
    );
    engine.shutdown().await;
}
