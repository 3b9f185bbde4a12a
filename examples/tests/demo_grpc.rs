//! The demo end to end, as a user runs it: real HTTP and gRPC dependencies on loopback, the
//! demo's `--grpc-listen` queried with tonic's client (Check, Watch, List), an HTTP dependency
//! going down and back, and SIGTERM with a `Watch` open: the demo still exits 0 after its
//! drain delay. Bad dependency URLs exit 2 with one line naming the flag.
//!
//! It runs the demo binary that `cargo test` builds with the examples; with a `--test` filter
//! cargo does not rebuild the examples, so build them first
//! (`cargo build -p readiness-examples --example demo`).
#![cfg(unix)]

mod common;

use std::convert::Infallible;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use readiness_core::Engine;
use readiness_tower::grpc::pb::health_client::HealthClient;
use readiness_tower::grpc::pb::{HealthCheckRequest, HealthListRequest};
use readiness_tower::grpc::{HealthService, ServingStatus};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tonic::transport::Channel;
use tonic::transport::server::TcpIncoming;

/// A bound on every wait on the demo: a hang fails the test instead of stalling the suite.
const BOUND: Duration = Duration::from_secs(30);

/// `cargo test` builds the examples next to the test binaries' `deps/` folder.
fn demo_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    let demo = dir.join("examples").join("demo");
    assert!(
        demo.exists(),
        "{} is missing: run `cargo build -p readiness-examples --example demo`",
        demo.display()
    );
    demo
}

/// An HTTP dependency answering 200 on `/ok` while `up`, 503 otherwise.
async fn http_dependency(up: Arc<AtomicBool>) -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = l.accept().await {
            let up = up.clone();
            let svc = hyper::service::service_fn(move |_req| {
                let code = if up.load(Ordering::SeqCst) { 200 } else { 503 };
                async move {
                    let mut res = http::Response::new(Full::new(Bytes::from_static(b"body")));
                    *res.status_mut() = http::StatusCode::from_u16(code).expect("status");
                    Ok::<_, Infallible>(res)
                }
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc),
            );
        }
    });
    addr
}

/// A gRPC dependency with our health service, its `orders` service SERVING.
async fn grpc_dependency() -> (std::net::SocketAddr, Engine) {
    let engine = Engine::builder()
        .without_heartbeat()
        .build()
        .expect("valid");
    engine.refresh().await.expect("the engine runs");
    let health = HealthService::new(&engine);
    health.reporter().set_serving("orders").expect("set");
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(health.into_server())
            .serve_with_incoming(TcpIncoming::from(l)),
    );
    (addr, engine)
}

/// The next status of a Watch stream, `None` when it ended.
async fn next(
    w: &mut tonic::codec::Streaming<readiness_tower::grpc::pb::HealthCheckResponse>,
) -> Option<ServingStatus> {
    tokio::time::timeout(BOUND, w.message())
        .await
        .expect("a message in time")
        .expect("no stream error")
        .map(|r| r.status())
}

async fn check(c: &mut HealthClient<Channel>, service: &str) -> ServingStatus {
    let req = HealthCheckRequest {
        service: service.into(),
    };
    c.check(req).await.expect("check").into_inner().status()
}

/// Read Watch messages (at most 20) until `want`.
async fn until(
    w: &mut tonic::codec::Streaming<readiness_tower::grpc::pb::HealthCheckResponse>,
    want: ServingStatus,
) {
    for _ in 0..20 {
        if next(w).await == Some(want) {
            return;
        }
    }
    panic!("never {want:?}");
}

#[tokio::test]
async fn demo_serves_grpc_health_over_http_and_grpc_dependencies_and_exits_after_drain() {
    let up = Arc::new(AtomicBool::new(true));
    let http_dep = http_dependency(up.clone()).await;
    let (grpc_dep, _grpc_engine) = grpc_dependency().await;

    let mut child = tokio::process::Command::new(demo_binary())
        .args([
            "--listen",
            "127.0.0.1:0",
            "--grpc-listen",
            "127.0.0.1:0",
            "--period",
            "100ms",
            "--timeout",
            "5s",
            "--failure-threshold",
            "1",
            "--drain-delay",
            "300ms",
            "--check",
            &format!("api=http://{http_dep}/ok"),
            "--tenant-check",
            &format!("acme/orders=grpc://{grpc_dep}/orders"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("demo starts");
    let pid = child.id().expect("running");

    // The demo logs the bound gRPC address; the rest of its log is drained meanwhile.
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let grpc_addr = tokio::time::timeout(BOUND, async {
        while let Some(line) = lines.next_line().await.expect("log line") {
            if let Some(rest) = line.split("grpc.health.v1 on ").nth(1) {
                return rest.split_whitespace().next().map(str::to_owned);
            }
        }
        None
    })
    .await
    .expect("the demo logs its gRPC address in time")
    .expect("a gRPC address");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let channel = tonic::transport::Endpoint::from_shared(format!("http://{grpc_addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    let mut client = HealthClient::new(channel);
    let req = |s: &str| HealthCheckRequest { service: s.into() };
    let mut instance = client.watch(req("")).await.expect("watch").into_inner();
    until(&mut instance, ServingStatus::Serving).await;
    let mut acme = client
        .watch(req("tenants/acme"))
        .await
        .expect("watch")
        .into_inner();
    until(&mut acme, ServingStatus::Serving).await;
    assert_eq!(check(&mut client, "liveness").await, ServingStatus::Serving);
    assert_eq!(check(&mut client, "startup").await, ServingStatus::Serving);
    let listed = client
        .list(HealthListRequest {})
        .await
        .expect("list")
        .into_inner()
        .statuses;
    let mut names: Vec<_> = listed.keys().cloned().collect();
    names.sort();
    assert_eq!(
        names,
        ["", "liveness", "readiness", "startup", "tenants/acme"]
    );

    // The HTTP dependency goes down, then comes back.
    up.store(false, Ordering::SeqCst);
    until(&mut instance, ServingStatus::NotServing).await;
    assert_eq!(check(&mut client, "liveness").await, ServingStatus::Serving);
    up.store(true, Ordering::SeqCst);
    until(&mut instance, ServingStatus::Serving).await;

    // SIGTERM with Watch streams open: NOT_SERVING at once, the streams end after the drain
    // delay, and the demo exits 0.
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    assert_eq!(next(&mut instance).await, Some(ServingStatus::NotServing));
    assert_eq!(
        next(&mut instance).await,
        None,
        "the Watch ends after the drain delay"
    );
    // The tenant followed the instance through the outage; its last word is NOT_SERVING.
    let mut rest = Vec::new();
    while let Some(s) = next(&mut acme).await {
        rest.push(s);
        assert!(rest.len() < 20, "{rest:?}");
    }
    assert_eq!(rest.last(), Some(&ServingStatus::NotServing), "{rest:?}");
    let status = tokio::time::timeout(BOUND, child.wait())
        .await
        .expect("the demo exits in time")
        .expect("wait");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn bad_dependency_urls_exit_2_with_one_line_naming_the_flag() {
    for (flag, value) in [
        ("--check", "db=http://"),
        ("--check", "db=ftp://h:1"),
        ("--optional", "db=grpc://h"),
        ("--tenant-check", "acme/db=tcp://h"),
        ("--check", "db=https://h:0/"),
        ("--check", "db=localhost:80"),
        // Port 0 and ports past 65535 are refused, not probed (an unparsable port read as 80).
        ("--check", "db=tcp://h:0"),
        ("--check", "db=http://h:99999/healthz"),
        ("--optional", "db=grpc://h:0/svc"),
    ] {
        // Bounded: a URL taken by mistake starts a demo that never exits by itself.
        let (status, _, err) = common::run_demo(&[flag, value]);
        assert_eq!(status.code(), Some(2), "{flag} {value}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with(&format!("demo: {flag}: ")), "{err}");
    }
}
