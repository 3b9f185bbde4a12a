//! Issue 20: the layer and the gRPC health service follow a `ReloadableEngine`. Probes answer
//! from the new engine with no gap, every gRPC name keeps its status, open `Watch` streams
//! carry on and see the new engine's transitions, and the server stops only at the real close.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::{Flag, get};
use readiness_core::{Engine, EngineBuilder, ReloadableEngine};
use readiness_tower::ReadinessLayer;
use readiness_tower::grpc::pb::health_client::HealthClient;
use readiness_tower::grpc::pb::{HealthCheckRequest, HealthCheckResponse};
use readiness_tower::grpc::{HealthService, ServingStatus};
use tonic::codec::Streaming;
use tonic::transport::Channel;
use tonic::transport::server::TcpIncoming;

const SERVING: ServingStatus = ServingStatus::Serving;
const NOT_SERVING: ServingStatus = ServingStatus::NotServing;
/// A bound on every wait: a hang fails the test instead of stalling the suite.
const BOUND: Duration = Duration::from_secs(10);

fn builder(flags: &[(&str, &Flag)]) -> EngineBuilder {
    flags
        .iter()
        .fold(Engine::builder().without_heartbeat(), |b, (name, flag)| {
            b.check(flag.spec(name))
        })
        .tenant("acme", vec![])
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn probes_answer_from_the_new_engine_with_no_gap() {
    let db = Flag::new(true);
    let engine = ReloadableEngine::new(builder(&[("db", &db)]).build().expect("valid"));
    engine.current().refresh().await.expect("runs");
    let svc = ReadinessLayer::new(engine.clone());
    let (stop, failures, polls) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let poller = {
        let (svc, stop, failures, polls) =
            (svc.clone(), stop.clone(), failures.clone(), polls.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                if get(&svc, "/readyz").await.status != 200 {
                    failures.fetch_add(1, Ordering::SeqCst);
                }
                polls.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    let cache = Flag::new(true);
    engine
        .reload(builder(&[("db", &db), ("cache", &cache)]))
        .await
        .expect("valid");
    let answer = get(&svc, "/readyz?verbose").await;
    assert_eq!(answer.status, 200);
    assert!(
        answer.body.contains("[+]cache ok"),
        "the new engine answers: {}",
        answer.body
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::SeqCst);
    poller.await.expect("no panic");
    assert!(polls.load(Ordering::SeqCst) > 100);
    assert_eq!(
        failures.load(Ordering::SeqCst),
        0,
        "no 503 across the reload"
    );

    // The new engine's transitions reach the same layer.
    cache.set(false);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(get(&svc, "/readyz").await.status, 503);
}

fn req(service: &str) -> HealthCheckRequest {
    HealthCheckRequest {
        service: service.to_owned(),
    }
}

async fn watch(
    client: &mut HealthClient<Channel>,
    service: &str,
) -> Streaming<HealthCheckResponse> {
    client
        .watch(req(service))
        .await
        .expect("watch")
        .into_inner()
}

/// The next message of a Watch stream, or `None` when it ended.
async fn next(stream: &mut Streaming<HealthCheckResponse>) -> Option<ServingStatus> {
    tokio::time::timeout(BOUND, stream.message())
        .await
        .expect("a message or the end arrives in time")
        .expect("no stream error")
        .map(|r| r.status())
}

async fn rest(stream: &mut Streaming<HealthCheckResponse>) -> Vec<ServingStatus> {
    let mut out = Vec::new();
    while let Some(s) = next(stream).await {
        out.push(s);
    }
    out
}

#[tokio::test]
async fn grpc_names_and_open_watches_carry_on_across_a_reload_and_end_at_the_close() {
    let db = Flag::new(true);
    let old = builder(&[("db", &db)]).build().expect("valid");
    old.refresh().await.expect("runs");
    let gone = old.downgrade();
    let engine = ReloadableEngine::new(old);
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .layer(ReadinessLayer::new(engine.clone()))
            .add_service(HealthService::new(&engine).into_server())
            .serve_with_incoming_shutdown(TcpIncoming::from(l), engine.closed()),
    );
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    let mut client = HealthClient::new(channel);
    let mut liveness = watch(&mut client, "liveness").await;
    let mut instance = watch(&mut client, "").await;
    let mut tenant = watch(&mut client, "tenants/acme").await;
    assert_eq!(next(&mut liveness).await, Some(SERVING));
    assert_eq!(next(&mut instance).await, Some(SERVING));
    assert_eq!(next(&mut tenant).await, Some(SERVING));

    let cache = Flag::new(true);
    tokio::time::timeout(
        BOUND,
        engine.reload(builder(&[("db", &db), ("cache", &cache)])),
    )
    .await
    .expect("in time")
    .expect("valid");
    for _ in 0..100 {
        if gone.upgrade().is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(gone.upgrade().is_none(), "the old engine is gone");
    for name in ["", "readiness", "liveness", "startup", "tenants/acme"] {
        let status = client
            .check(req(name))
            .await
            .expect("known")
            .into_inner()
            .status();
        assert_eq!(
            status, SERVING,
            "{name:?} keeps its status after the old engine went"
        );
    }
    assert!(!server.is_finished(), "a reload does not stop the server");

    // The new engine's transitions reach the open streams.
    cache.set(false);
    assert_eq!(next(&mut instance).await, Some(NOT_SERVING));
    assert_eq!(next(&mut tenant).await, Some(NOT_SERVING));
    cache.set(true);
    assert_eq!(next(&mut instance).await, Some(SERVING));
    assert_eq!(next(&mut tenant).await, Some(SERVING));

    // The close ends every stream; liveness never said anything but SERVING.
    engine.close();
    assert_eq!(rest(&mut liveness).await, Vec::<ServingStatus>::new());
    assert_eq!(
        rest(&mut instance).await,
        vec![NOT_SERVING],
        "the drain, then the end"
    );
    tokio::time::timeout(BOUND, server)
        .await
        .expect("the server stops at the close")
        .expect("no panic")
        .expect("served");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_plain_engine_still_works_and_the_layer_names_what_it_serves() {
    let db = Flag::new(true);
    let engine = builder(&[("db", &db)]).build().expect("valid");
    engine.refresh().await.expect("runs");
    let layer = ReadinessLayer::new(&engine);
    assert!(layer.engine().is_ready());
    let reloadable = ReloadableEngine::new(engine);
    let layer = ReadinessLayer::new(reloadable.clone());
    reloadable
        .reload(builder(&[("other", &db)]))
        .await
        .expect("valid");
    assert!(layer.engine().snapshot().check("other").is_some());
}
