//! A tonic 0.14 server carrying the layer and the gRPC bridge, queried by a real tonic
//! health client (`Check` and `Watch`) and by HTTP/1.1 probes.

mod common;

use std::time::Duration;

use common::{Flag, engine_with, http1};
use readiness_core::Engine;
use readiness_tower::ReadinessLayer;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

/// A tonic server on loopback with the layer (HTTP/1.1 probes accepted) and the bridged
/// health service, and a real health client connected to it.
async fn serve(
    engine: &readiness_core::Engine,
) -> (
    std::net::SocketAddr,
    HealthClient<tonic::transport::Channel>,
    tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
) {
    let (health, _bridge) = readiness_tower::grpc::health_service(engine).await;
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .accept_http1(true)
            .layer(ReadinessLayer::new(engine.clone()))
            .add_service(health)
            .serve_with_incoming(TcpIncoming::from(l)),
    );
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    (addr, HealthClient::new(channel), server)
}

#[tokio::test]
async fn tonic_server_with_layer_and_health_bridge() {
    let db = Flag::new(false);
    let engine = engine_with(vec![db.spec("db")]).await;
    let (addr, mut client, server) = serve(&engine).await;
    let check = |service: &str| HealthCheckRequest {
        service: service.to_owned(),
    };
    let status = |r: tonic_health::pb::HealthCheckResponse| r.status;
    let not_serving = ServingStatus::NotServing as i32;
    let serving = ServingStatus::Serving as i32;

    let r = client.check(check("")).await.expect("check").into_inner();
    assert_eq!(status(r), not_serving, "NOT_SERVING until first ready");
    let mut watch = client.watch(check("")).await.expect("watch").into_inner();
    let first = watch.message().await.expect("stream").expect("message");
    assert_eq!(first.status, not_serving);

    db.set(true);
    engine.refresh().await.expect("the engine runs");
    let next = tokio::time::timeout(Duration::from_secs(10), watch.message())
        .await
        .expect("a status change arrives")
        .expect("stream")
        .expect("message");
    assert_eq!(next.status, serving);
    let r = client.check(check("")).await.expect("check").into_inner();
    assert_eq!(status(r), serving);

    // HTTP/1.1 probes on the same port, as kubelet sends them.
    assert_eq!(http1(addr, "GET", "/readyz").await, (200, "ok".into()));

    engine.drain();
    let next = tokio::time::timeout(Duration::from_secs(10), watch.message())
        .await
        .expect("drain arrives")
        .expect("stream")
        .expect("message");
    assert_eq!(next.status, not_serving, "drain sets NOT_SERVING");
    assert_eq!(http1(addr, "GET", "/readyz").await.0, 503);
    assert_eq!(http1(addr, "GET", "/livez").await.0, 200);
    server.abort();
}

#[tokio::test]
async fn tenant_services_follow_their_tenants() {
    let acme = Flag::new(true);
    let engine = Engine::builder()
        .without_heartbeat()
        .tenant("acme", vec![acme.spec("store")])
        .build()
        .expect("valid");
    engine.refresh_tenant("acme").await.expect("a known tenant");
    let (_addr, mut client, server) = serve(&engine).await;
    let req = |s: &str| HealthCheckRequest {
        service: s.to_owned(),
    };
    let serving = ServingStatus::Serving as i32;
    let not_serving = ServingStatus::NotServing as i32;
    let r = client
        .check(req("tenants/acme"))
        .await
        .expect("check")
        .into_inner();
    assert_eq!(r.status, serving);
    let mut watch = client
        .watch(req("tenants/acme"))
        .await
        .expect("watch")
        .into_inner();
    assert_eq!(
        watch.message().await.expect("stream").expect("msg").status,
        serving
    );

    acme.set(false);
    engine.refresh_tenant("acme").await.expect("a known tenant");
    let next = tokio::time::timeout(Duration::from_secs(10), watch.message())
        .await
        .expect("change arrives")
        .expect("stream")
        .expect("msg");
    assert_eq!(next.status, not_serving);
    let r = client.check(req("")).await.expect("check").into_inner();
    assert_eq!(r.status, serving, "the instance is untouched");

    // A tenant added at run time is known at once, even before its first result.
    let down = Flag::new(false);
    engine
        .add_tenant("initech", vec![down.spec("store")])
        .expect("added");
    let mut seen = None;
    for _ in 0..100 {
        if let Ok(r) = client.check(req("tenants/initech")).await {
            seen = Some(r.into_inner().status);
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(seen, Some(not_serving));
    engine.add_tenant("globex", vec![]).expect("added");
    let mut ok = false;
    for _ in 0..100 {
        if let Ok(r) = client.check(req("tenants/globex")).await {
            ok = r.into_inner().status == serving;
            if ok {
                break;
            }
        }
        tokio::task::yield_now().await;
    }
    assert!(ok, "a tenant added at run time gets its service");
    assert!(engine.remove_tenant("globex"));
    let mut gone = false;
    for _ in 0..100 {
        match client.check(req("tenants/globex")).await {
            Err(status) if status.code() == tonic::Code::NotFound => {
                gone = true;
                break;
            }
            _ => tokio::task::yield_now().await,
        }
    }
    assert!(gone, "a removed tenant's service is cleared");
    server.abort();
}
