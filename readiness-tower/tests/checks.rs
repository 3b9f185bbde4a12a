//! The ready-made checks against real loopback servers: `HttpCheck` against a hyper server
//! (200, 302, 404, 500, a 5 MB body, a body that never ends, one that never answers, one that
//! is stopped) and `GrpcCheck` against a tonic server with our own health service.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use readiness_core::{Check, CheckSpec, Engine};
use readiness_tower::grpc::HealthService;
use readiness_tower::{GrpcCheck, HttpCheck};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;

/// A bound on every run: a hang fails the test instead of stalling the suite.
const BOUND: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Seen {
    connections: AtomicUsize,
    requests: Mutex<Vec<(String, HeaderMap)>>,
}

impl Seen {
    fn paths(&self) -> Vec<String> {
        let r = self.requests.lock().expect("lock");
        r.iter().map(|(p, _)| p.clone()).collect()
    }
}

/// A hyper HTTP/1.1 server on loopback that answers by path and records what it saw.
async fn http_server() -> (SocketAddr, Arc<Seen>) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let seen = Arc::new(Seen::default());
    let s = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = l.accept().await {
            s.connections.fetch_add(1, Ordering::SeqCst);
            let s = s.clone();
            let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let s = s.clone();
                async move {
                    let path = req.uri().path().to_owned();
                    s.requests
                        .lock()
                        .expect("lock")
                        .push((path.clone(), req.headers().clone()));
                    let (status, body) = match path.as_str() {
                        "/ok" => (200, Bytes::from_static(b"ok")),
                        "/redirect" => (302, Bytes::new()),
                        "/missing" => (404, Bytes::from_static(b"no such page")),
                        "/fail" => (500, Bytes::from_static(b"SECRET-BODY stack trace")),
                        "/big" => (200, Bytes::from(vec![b'x'; 5 * 1024 * 1024])),
                        _ => (400, Bytes::new()),
                    };
                    let mut res = Response::new(Full::new(body));
                    *res.status_mut() = http::StatusCode::from_u16(status).expect("status");
                    if status == 302 {
                        res.headers_mut()
                            .insert("location", "/fail".parse().expect("header"));
                    }
                    Ok::<_, Infallible>(res)
                }
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc),
            );
        }
    });
    (addr, seen)
}

async fn run(check: &impl Check) -> Result<(), String> {
    tokio::time::timeout(BOUND, check.check())
        .await
        .expect("the run ends in time")
        .map_err(|f| f.reason().to_owned())
}

#[tokio::test]
async fn http_check_passes_on_2xx_and_3xx_and_fails_on_4xx_and_5xx_with_status_and_time() {
    let (addr, seen) = http_server().await;
    let url = |path: &str| format!("http://{addr}{path}");
    let check = |path: &str| HttpCheck::new(&url(path)).expect("valid");

    assert_eq!(run(&check("/ok")).await, Ok(()));
    assert_eq!(run(&check("/redirect")).await, Ok(()), "a 302 passes");
    assert_eq!(
        seen.paths(),
        ["/ok", "/redirect"],
        "the redirect was not followed"
    );

    let reason = run(&check("/missing")).await.expect_err("404 fails");
    assert!(
        reason.starts_with(&format!(
            "GET {}: status 404 Not Found after ",
            url("/missing")
        )),
        "{reason}"
    );
    let reason = run(&check("/fail")).await.expect_err("500 fails");
    assert!(
        reason.contains("status 500 Internal Server Error after "),
        "{reason}"
    );
    assert!(reason.ends_with(" ms"), "{reason}");
    assert!(
        !reason.contains("SECRET") && !reason.contains("stack"),
        "no body in the reason: {reason}"
    );

    // kubelet's request: GET, its own User-Agent, Accept: */*, no keep-alive.
    let requests = seen.requests.lock().expect("lock").clone();
    for (path, headers) in &requests {
        assert_eq!(
            headers["user-agent"],
            format!("readiness/{}", env!("CARGO_PKG_VERSION")).as_str(),
            "{path}"
        );
        assert_eq!(headers["accept"], "*/*");
        assert_eq!(headers["connection"], "close");
        assert_eq!(headers["host"], addr.to_string().as_str());
    }
}

#[tokio::test]
async fn http_check_opens_a_fresh_connection_each_run() {
    let (addr, seen) = http_server().await;
    let check = HttpCheck::new(&format!("http://{addr}/ok")).expect("valid");
    for _ in 0..3 {
        assert_eq!(run(&check).await, Ok(()));
    }
    assert_eq!(seen.connections.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn http_check_reads_at_most_about_10_kib_of_a_body() {
    let (addr, _) = http_server().await;
    // A 5 MB body: the status decides, the body is dropped.
    let big = HttpCheck::new(&format!("http://{addr}/big")).expect("valid");
    assert_eq!(run(&big).await, Ok(()));

    // A body that announces 5 MB, sends 20 KiB and then never ends: a check that read it all
    // would hang until its bound.
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let endless = l.local_addr().expect("addr");
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.expect("accept");
        let mut buf = [0; 1024];
        let _ = s.read(&mut buf).await;
        let head = "HTTP/1.1 200 OK\r\ncontent-length: 5242880\r\n\r\n";
        s.write_all(head.as_bytes()).await.expect("head");
        s.write_all(&[b'x'; 20 * 1024]).await.expect("body");
        // Hold the connection open, never finishing the body.
        std::future::pending::<()>().await;
    });
    let check = HttpCheck::new(&format!("http://{endless}/")).expect("valid");
    assert_eq!(run(&check).await, Ok(()));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn http_check_of_a_server_that_never_answers_times_out_in_the_engine() {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    let check = HttpCheck::new(&format!("http://{addr}/healthz")).expect("valid");
    let engine = Engine::builder()
        .without_heartbeat()
        .check(CheckSpec::readiness("api", check).timeout(Duration::from_secs(1)))
        .build()
        .expect("valid");
    engine.refresh().await.expect("the engine runs");
    assert!(!engine.is_ready());
    let snap = engine.snapshot();
    let reason = snap
        .check("api")
        .and_then(|c| c.reason())
        .expect("a reason");
    assert_eq!(reason, "timed out after 1s");
}

#[tokio::test]
async fn http_check_of_a_stopped_server_fails_with_the_connect_error() {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    drop(l);
    let check = HttpCheck::new(&format!("http://{addr}/")).expect("valid");
    let reason = run(&check).await.expect_err("nothing listens");
    assert!(
        reason.starts_with(&format!("GET http://{addr}/: connect: ")),
        "{reason}"
    );
}

#[tokio::test]
async fn http_check_in_an_engine_follows_the_dependency() {
    let (addr, _) = http_server().await;
    let engine = Engine::builder()
        .without_heartbeat()
        .check(CheckSpec::readiness(
            "api",
            HttpCheck::new(&format!("http://{addr}/ok")).expect("valid"),
        ))
        .check(
            CheckSpec::readiness(
                "legacy",
                HttpCheck::new(&format!("http://{addr}/fail")).expect("valid"),
            )
            .critical(false)
            .timeout(BOUND),
        )
        .build()
        .expect("valid");
    tokio::time::timeout(BOUND, engine.refresh())
        .await
        .expect("in time")
        .expect("the engine runs");
    assert!(engine.is_ready(), "the failing check is not critical");
    let snap = engine.snapshot();
    let legacy = snap.check("legacy").expect("known");
    assert!(legacy.reason().expect("failing").contains("status 500"));
}

/// A tonic server with our health service, and its reporter.
async fn grpc_server() -> (
    SocketAddr,
    Engine,
    readiness_tower::grpc::HealthReporter,
    tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
) {
    let engine = Engine::builder()
        .without_heartbeat()
        .build()
        .expect("valid");
    engine.refresh().await.expect("the engine runs");
    let health = HealthService::new(&engine);
    let reporter = health.reporter();
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let task = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(health.into_server())
            .serve_with_incoming(TcpIncoming::from(l)),
    );
    (addr, engine, reporter, task)
}

#[tokio::test]
async fn grpc_check_passes_on_serving_only_and_names_the_status() {
    let (addr, dependency, reporter, task) = grpc_server().await;
    let url = format!("http://{addr}");
    let overall = GrpcCheck::new(&url).expect("valid");
    let named = GrpcCheck::new(&url)
        .expect("valid")
        .service("payments.v1.Payments");

    assert_eq!(
        run(&overall).await,
        Ok(()),
        "\"\" follows the dependency's readiness"
    );
    let reason = run(&named).await.expect_err("not registered");
    assert!(
        reason.starts_with(&format!(
            "grpc.health.v1 Check of {url}/ service \"payments.v1.Payments\": status NOT_FOUND: "
        )),
        "{reason}"
    );

    reporter.set_serving("payments.v1.Payments").expect("set");
    assert_eq!(run(&named).await, Ok(()));
    reporter
        .set_not_serving("payments.v1.Payments")
        .expect("set");
    let reason = run(&named).await.expect_err("not serving");
    assert!(reason.contains("\": NOT_SERVING after "), "{reason}");
    reporter.set_serving("payments.v1.Payments").expect("set");
    assert_eq!(run(&named).await, Ok(()), "back");

    // The dependency drains: everything it serves turns NOT_SERVING.
    dependency.drain();
    assert!(
        run(&overall)
            .await
            .expect_err("draining")
            .contains("NOT_SERVING")
    );
    assert!(
        run(&named)
            .await
            .expect_err("draining")
            .contains("NOT_SERVING")
    );
    let liveness = GrpcCheck::new(&url).expect("valid").service("liveness");
    assert_eq!(run(&liveness).await, Ok(()), "its liveness stays SERVING");

    // Stopped: no connection.
    task.abort();
    let _ = task.await;
    let reason = run(&overall).await.expect_err("stopped");
    assert!(
        reason.starts_with(&format!(
            "grpc.health.v1 Check of {url}/ service \"\": connect: "
        )),
        "{reason}"
    );
}

#[tokio::test]
async fn grpc_check_of_a_server_without_the_health_service_is_unimplemented() {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let task = tokio::spawn(
        tonic::transport::Server::builder()
            .add_routes(tonic::service::Routes::default())
            .serve_with_incoming(TcpIncoming::from(l)),
    );
    let check = GrpcCheck::new(&format!("http://{addr}")).expect("valid");
    let reason = run(&check).await.expect_err("no health service");
    assert!(reason.contains("status UNIMPLEMENTED"), "{reason}");
    task.abort();
}

#[tokio::test]
async fn grpc_check_in_an_engine_follows_the_dependency() {
    let (addr, _dependency, reporter, _task) = grpc_server().await;
    reporter.set_not_serving("orders").expect("set");
    let engine = Engine::builder()
        .without_heartbeat()
        .check(
            CheckSpec::readiness(
                "orders",
                GrpcCheck::new(&format!("http://{addr}"))
                    .expect("valid")
                    .service("orders"),
            )
            .timeout(BOUND),
        )
        .build()
        .expect("valid");
    tokio::time::timeout(BOUND, engine.refresh())
        .await
        .expect("in time")
        .expect("the engine runs");
    assert!(!engine.is_ready());
    reporter.set_serving("orders").expect("set");
    tokio::time::timeout(BOUND, engine.refresh())
        .await
        .expect("in time")
        .expect("the engine runs");
    assert!(engine.is_ready());
}
