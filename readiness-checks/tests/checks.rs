//! The ready-made checks against real loopback servers: `HttpCheck` against a hyper server
//! (200, 302, 404, 500, a 5 MB body, a body that never ends, one that never answers, one that
//! is stopped) and `GrpcCheck` against a tonic server with our own health service.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::net::{BOUND, engine_with, loopback, read_head, refresh, run, silent_server};
use http::{HeaderMap, Request, Response};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use readiness_checks::{GrpcCheck, HttpCheck};
use readiness_core::{CheckSpec, Engine};
use readiness_tower::grpc::HealthService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;

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
    let (l, addr) = loopback().await;
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
                        "/redirect" | "/healthz" | "/elsewhere" | "/loop" | "/moved" => {
                            (302, Bytes::new())
                        }
                        "/login" => (401, Bytes::from_static(b"log in first")),
                        "/missing" => (404, Bytes::from_static(b"no such page")),
                        "/fail" => (500, Bytes::from_static(b"SECRET-BODY stack trace")),
                        "/big" => (200, Bytes::from(vec![b'x'; 5 * 1024 * 1024])),
                        _ => (400, Bytes::new()),
                    };
                    let mut res = Response::new(Full::new(body));
                    *res.status_mut() = http::StatusCode::from_u16(status).expect("status");
                    let location = match path.as_str() {
                        "/redirect" => Some("/fail"),
                        "/healthz" => Some("login?next=SECRET"),
                        "/elsewhere" => Some("http://elsewhere.invalid:1/x"),
                        "/loop" => Some("/loop"),
                        "/moved" => Some("/ok"),
                        _ => None,
                    };
                    if let Some(l) = location {
                        res.headers_mut()
                            .insert("location", l.parse().expect("header"));
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

#[tokio::test]
async fn http_check_passes_on_2xx_and_3xx_and_fails_on_4xx_and_5xx_with_status_and_time() {
    let (addr, seen) = http_server().await;
    let url = |path: &str| format!("http://{addr}{path}");
    let check = |path: &str| HttpCheck::new(&url(path)).expect("valid");

    assert_eq!(run(&check("/ok")).await, Ok(()));
    assert_eq!(seen.paths(), ["/ok"]);

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
async fn http_check_follows_redirects_to_the_same_host_as_kubelet_does() {
    let (addr, seen) = http_server().await;
    let check = |path: &str| HttpCheck::new(&format!("http://{addr}{path}")).expect("valid");
    // /healthz -> 302 login -> 401: kubelet fails it, and so do we (a 3xx used to pass).
    let reason = run(&check("/healthz"))
        .await
        .expect_err("401 after the redirect");
    assert!(
        reason.starts_with(&format!(
            "GET http://{addr}/healthz: status 401 Unauthorized at http://{addr}/login after 1 redirect after "
        )),
        "{reason}"
    );
    assert!(!reason.contains("SECRET"), "no query in a reason: {reason}");
    assert_eq!(seen.paths(), ["/healthz", "/login"]);
    // A redirect to another host passes as it is, unfollowed.
    assert_eq!(run(&check("/elsewhere")).await, Ok(()));
    assert_eq!(seen.paths().last().map(String::as_str), Some("/elsewhere"));
    // A redirect to a page that answers 200 passes; one to a 500 fails.
    assert_eq!(run(&check("/moved")).await, Ok(()));
    assert!(
        run(&check("/redirect"))
            .await
            .expect_err("500")
            .contains("status 500")
    );
    // A loop stops after 10 requests, each on its own connection.
    let before = seen.connections.load(Ordering::SeqCst);
    let reason = run(&check("/loop")).await.expect_err("a loop");
    assert!(
        reason.contains(": stopped after 10 redirects after "),
        "{reason}"
    );
    assert_eq!(seen.connections.load(Ordering::SeqCst) - before, 10);
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
    let (l, endless) = loopback().await;
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
    let addr = silent_server().await;
    let check = HttpCheck::new(&format!("http://{addr}/healthz")).expect("valid");
    let engine = engine_with([CheckSpec::readiness("api", check).timeout(Duration::from_secs(1))]);
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
    let (l, addr) = loopback().await;
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
    let engine = engine_with([
        CheckSpec::readiness(
            "api",
            HttpCheck::new(&format!("http://{addr}/ok")).expect("valid"),
        ),
        CheckSpec::readiness(
            "legacy",
            HttpCheck::new(&format!("http://{addr}/fail")).expect("valid"),
        )
        .critical(false)
        .timeout(BOUND),
    ]);
    refresh(&engine).await;
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
    let engine = engine_with([]);
    refresh(&engine).await;
    let health = HealthService::new(&engine);
    let reporter = health.reporter();
    let (l, addr) = loopback().await;
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
    let (l, addr) = loopback().await;
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
    let engine = engine_with([CheckSpec::readiness(
        "orders",
        GrpcCheck::new(&format!("http://{addr}"))
            .expect("valid")
            .service("orders"),
    )
    .timeout(BOUND)]);
    refresh(&engine).await;
    assert!(!engine.is_ready());
    reporter.set_serving("orders").expect("set");
    refresh(&engine).await;
    assert!(engine.is_ready());
}

/// What a raw server does after writing its answer.
#[derive(Clone, Copy)]
enum Then {
    /// Close the connection (FIN).
    Close,
    /// Reset it (RST).
    Reset,
    /// Keep it open, never writing again.
    Hold,
}

/// A server that reads a request head and answers every connection with `answer`, written
/// byte for byte, then does `then`: for answers hyper's server would never write.
async fn raw_server(answer: Vec<u8>, then: Then) -> SocketAddr {
    let (l, addr) = loopback().await;
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut s, _)) = l.accept().await {
            read_head(&mut s).await;
            let _ = s.write_all(&answer).await;
            match then {
                Then::Close => drop(s),
                Then::Reset => {
                    let _ = s.set_zero_linger();
                    drop(s);
                }
                Then::Hold => held.push(s),
            }
        }
    });
    addr
}

async fn raw_check(answer: impl Into<Vec<u8>>, then: Then) -> Result<(), String> {
    let addr = raw_server(answer.into(), then).await;
    run(&HttpCheck::new(&format!("http://{addr}/healthz")).expect("valid")).await
}

#[tokio::test]
async fn http_check_skips_informational_answers_as_kubelet_does() {
    // Go's client (kubelet) skips 1xx answers and judges the final one.
    let ok = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n\
              HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
    assert_eq!(raw_check(ok, Then::Hold).await, Ok(()));
    let failing = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Service Unavailable\r\n\
                   content-length: 0\r\n\r\n";
    let reason = raw_check(failing, Then::Hold).await.expect_err("503");
    assert!(
        reason.contains(": status 503 Service Unavailable after "),
        "{reason}"
    );
    // A 101 nobody asked for is no success.
    let upgrade = "HTTP/1.1 101 Switching Protocols\r\nupgrade: h2c\r\nconnection: upgrade\r\n\r\n";
    assert!(raw_check(upgrade, Then::Hold).await.is_err());
}

#[tokio::test]
async fn no_byte_the_server_chose_reaches_a_reason() {
    // A reason phrase that is not UTF-8 and one that lies, headers, a body: the reason names
    // the code and its standard phrase only.
    let mut answer = b"HTTP/1.1 500 \xff\xfe SECRET-PHRASE\r\nx-secret: SECRET-HEADER\r\n".to_vec();
    answer.extend_from_slice(b"content-length: 11\r\n\r\nSECRET-BODY");
    let reason = raw_check(answer, Then::Close).await.expect_err("500");
    assert!(
        reason.contains(": status 500 Internal Server Error after "),
        "{reason}"
    );
    assert!(!reason.contains("SECRET"), "{reason}");
    let lying = "HTTP/1.1 200 SECRET-NOT-OK\r\ncontent-length: 0\r\n\r\n";
    assert_eq!(
        raw_check(lying, Then::Close).await,
        Ok(()),
        "the code decides"
    );
    // A code without a standard phrase.
    let odd = "HTTP/1.1 599 SECRET\r\ncontent-length: 0\r\n\r\n";
    let reason = raw_check(odd, Then::Close).await.expect_err("599");
    assert!(
        reason.contains(": status 599 ") && !reason.contains("SECRET"),
        "{reason}"
    );
    // Not HTTP at all, a bad status code, a huge header: errors, still nothing echoed.
    let mut huge = b"HTTP/1.1 200 OK\r\nx-big: SECRET".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 1024 * 1024));
    huge.extend_from_slice(b"\r\ncontent-length: 0\r\n\r\n");
    for answer in [
        b"SECRET-GARBAGE\r\n\r\n".to_vec(),
        b"HTTP/1.1 2000 SECRET\r\n\r\n".to_vec(),
        b"HTTP/1.1 200 OK\r\nSECRET header without a colon\r\n\r\n".to_vec(),
        huge,
    ] {
        let reason = raw_check(answer, Then::Close)
            .await
            .expect_err("not an answer");
        assert!(!reason.contains("SECRET"), "{reason}");
        assert!(reason.len() < 200, "{reason}");
    }
}

#[tokio::test]
async fn a_body_cut_short_fails_as_in_kubelet_unless_10_kib_were_read() {
    // kubelet fails on an error while reading at most 10 KiB of the body, and passes once it
    // has read 10 KiB (whatever comes after).
    let short = "HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\nonly ten b";
    for then in [Then::Close, Then::Reset] {
        assert!(raw_check(short, then).await.is_err());
    }
    let mut long = b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n".to_vec();
    long.extend(std::iter::repeat_n(b'x', 20 * 1024));
    assert_eq!(raw_check(long.clone(), Then::Close).await, Ok(()));
    // An endless chunked body: 10 KiB are read, then the connection is dropped.
    let mut chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..64 {
        chunked.extend_from_slice(b"400\r\n");
        chunked.extend(std::iter::repeat_n(b'x', 1024));
        chunked.extend_from_slice(b"\r\n");
    }
    assert_eq!(raw_check(chunked, Then::Hold).await, Ok(()));
}

#[tokio::test]
async fn http_check_of_an_ipv6_literal_with_a_query() {
    let Ok(l) = TcpListener::bind("[::1]:0").await else {
        // No IPv6 loopback on this machine: nothing to check.
        return;
    };
    let addr = l.local_addr().expect("addr");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut c, _)) = l.accept().await {
            let head = read_head(&mut c).await;
            s.lock()
                .expect("lock")
                .push(String::from_utf8_lossy(&head).into_owned());
            let _ = c.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").await;
        }
    });
    let check = HttpCheck::new(&format!(
        "http://[::1]:{}/healthz?verbose&x=1#frag",
        addr.port()
    ))
    .expect("valid");
    assert_eq!(run(&check).await, Ok(()));
    let head = seen.lock().expect("lock")[0].clone();
    assert!(
        head.starts_with("GET /healthz?verbose&x=1 HTTP/1.1\r\n"),
        "{head}"
    );
    assert!(
        head.contains(&format!("host: [::1]:{}\r\n", addr.port())),
        "{head}"
    );
}

/// A dependency's health service that answers whatever a test scripts by service name.
struct Scripted;

#[tonic::async_trait]
impl readiness_tower::grpc::pb::health_server::Health for Scripted {
    async fn check(
        &self,
        request: tonic::Request<readiness_tower::grpc::pb::HealthCheckRequest>,
    ) -> Result<tonic::Response<readiness_tower::grpc::pb::HealthCheckResponse>, tonic::Status>
    {
        let status = match request.get_ref().service.as_str() {
            "unknown" => 0,
            "serving" => 1,
            "service-unknown" => 3,
            "out-of-range" => 42,
            "hang" => std::future::pending().await,
            _ => {
                let long = format!("SECRET\n[+]forged ok\n{}", "x".repeat(10_000));
                return Err(tonic::Status::unavailable(long));
            }
        };
        Ok(tonic::Response::new(
            readiness_tower::grpc::pb::HealthCheckResponse { status },
        ))
    }

    async fn list(
        &self,
        _: tonic::Request<readiness_tower::grpc::pb::HealthListRequest>,
    ) -> Result<tonic::Response<readiness_tower::grpc::pb::HealthListResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("not scripted"))
    }

    type WatchStream = futures_util::stream::Pending<
        Result<readiness_tower::grpc::pb::HealthCheckResponse, tonic::Status>,
    >;

    async fn watch(
        &self,
        _: tonic::Request<readiness_tower::grpc::pb::HealthCheckRequest>,
    ) -> Result<tonic::Response<Self::WatchStream>, tonic::Status> {
        Err(tonic::Status::unimplemented("not scripted"))
    }
}

async fn scripted_server() -> (
    SocketAddr,
    tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
) {
    let (l, addr) = loopback().await;
    let task = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(readiness_tower::grpc::pb::health_server::HealthServer::new(
                Scripted,
            ))
            .serve_with_incoming(TcpIncoming::from(l)),
    );
    (addr, task)
}

#[tokio::test]
async fn grpc_check_fails_on_every_answer_but_serving_and_on_a_server_speaking_http1() {
    let (addr, task) = scripted_server().await;
    let url = format!("http://{addr}");
    let check = |service: &str| GrpcCheck::new(&url).expect("valid").service(service);
    assert_eq!(run(&check("serving")).await, Ok(()));
    for (service, named) in [
        ("unknown", "\": UNKNOWN after "),
        ("service-unknown", "\": SERVICE_UNKNOWN after "),
        // A status this proto does not have reads as UNKNOWN (prost's default).
        ("out-of-range", "\": UNKNOWN after "),
    ] {
        let reason = run(&check(service)).await.expect_err(service);
        assert!(reason.contains(named), "{service}: {reason}");
    }
    // The server's message is clipped (the rendering makes it one line).
    let reason = run(&check("error")).await.expect_err("unavailable");
    assert!(reason.contains("status UNAVAILABLE: SECRET"), "{reason}");
    assert!(reason.len() < 400, "{} bytes", reason.len());

    task.abort();

    // An HTTP/1 server: it fails, and nothing it wrote is in the reason.
    let http1 = raw_server(
        b"HTTP/1.1 400 SECRET\r\ncontent-length: 6\r\n\r\nSECRET".to_vec(),
        Then::Close,
    )
    .await;
    let reason = run(&GrpcCheck::new(&format!("http://{http1}")).expect("valid"))
        .await
        .expect_err("not HTTP/2");
    assert!(!reason.contains("SECRET"), "{reason}");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn grpc_check_of_a_server_that_never_answers_times_out_in_the_engine() {
    let (addr, task) = scripted_server().await;
    let check = |service: &str| {
        GrpcCheck::new(&format!("http://{addr}"))
            .expect("valid")
            .service(service)
    };
    // A server that never answers: the engine's timeout ends the run.
    let engine =
        engine_with([CheckSpec::readiness("hang", check("hang")).timeout(Duration::from_secs(1))]);
    tokio::time::timeout(BOUND, engine.refresh())
        .await
        .expect("the timeout ends the run")
        .expect("the engine runs");
    let snap = engine.snapshot();
    assert_eq!(
        snap.check("hang").and_then(|c| c.reason()),
        Some("timed out after 1s")
    );
    task.abort();
}
