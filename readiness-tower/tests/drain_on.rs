//! `drain_on` with gRPC `Watch` streams open (issue 24, item 6): a second signal (a second
//! `drain_on` future, as a process that gives one to each of its servers has) and a reload
//! during the delay change nothing the streams see: each draining name sends `NOT_SERVING`
//! once, `liveness` and `startup` send nothing more, and every stream ends at the first
//! delay's end, not the second's. Paused clock; the streams are polled in-process.

mod common;

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use common::Flag;
use futures_util::{Stream, StreamExt};
use readiness_core::{Engine, EngineBuilder, ReloadableEngine};
use readiness_tower::grpc::pb::HealthCheckRequest;
use readiness_tower::grpc::pb::health_server::Health;
use readiness_tower::grpc::{HealthService, ServingStatus};
use tokio::sync::oneshot;
use tokio::time::Instant;

const DELAY: Duration = Duration::from_secs(35);
const NAMES: [&str; 6] = [
    "",
    "readiness",
    "liveness",
    "startup",
    "tenants/acme",
    "svc",
];

fn builder(db: &Flag) -> EngineBuilder {
    Engine::builder()
        .without_heartbeat()
        .check(db.spec("db"))
        .tenant("acme", vec![db.spec("store")])
}

async fn settle() {
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
}

type Watch = Pin<
    Box<
        dyn Stream<Item = Result<readiness_tower::grpc::pb::HealthCheckResponse, tonic::Status>>
            + Send,
    >,
>;

/// Whatever each stream has to say now without waiting: its statuses, and whether it ended.
fn drain_ready(streams: &mut [Watch]) -> Vec<(Vec<ServingStatus>, bool)> {
    let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
    streams
        .iter_mut()
        .map(|s| {
            let mut got = Vec::new();
            loop {
                match s.as_mut().poll_next(&mut cx) {
                    Poll::Ready(Some(r)) => got.push(r.expect("ok").status()),
                    Poll::Ready(None) => return (got, true),
                    Poll::Pending => return (got, false),
                }
            }
        })
        .collect()
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_second_signal_while_watches_are_open_changes_nothing_they_see() {
    use ServingStatus::{NotServing, Serving};
    let db = Flag::new(true);
    let first = builder(&db).build().expect("valid");
    first.refresh().await.expect("runs");
    first.refresh_tenant("acme").await.expect("runs");
    let engine = ReloadableEngine::new(first);
    let health = HealthService::new(&engine);
    health.reporter().set_serving("svc").expect("set");
    let mut streams: Vec<Watch> = Vec::new();
    for name in NAMES {
        let req = tonic::Request::new(HealthCheckRequest {
            service: name.to_owned(),
        });
        let mut s = health.watch(req).await.expect("watch").into_inner();
        let first = s.next().await.expect("a message").expect("ok").status();
        assert_eq!(first, Serving, "{name:?}");
        streams.push(s);
    }

    let (first_tx, first_signal) = oneshot::channel::<()>();
    let (second_tx, second_signal) = oneshot::channel::<()>();
    let a = tokio::spawn(engine.drain_on(first_signal, DELAY));
    let b = tokio::spawn(engine.drain_on(second_signal, DELAY));
    settle().await;
    first_tx.send(()).expect("waits");
    let signalled = Instant::now();
    settle().await;
    let want_drain: Vec<(Vec<ServingStatus>, bool)> = NAMES
        .iter()
        .map(|n| match *n {
            "liveness" | "startup" => (vec![], false),
            _ => (vec![NotServing], false),
        })
        .collect();
    assert_eq!(drain_ready(&mut streams), want_drain, "the drain, once");

    // The second signal, 10 s in, and a reload at 20 s: nothing to say.
    tokio::time::sleep(Duration::from_secs(10)).await;
    second_tx.send(()).expect("waits");
    settle().await;
    assert_eq!(
        drain_ready(&mut streams),
        vec![(vec![], false); NAMES.len()]
    );
    tokio::time::sleep(Duration::from_secs(10)).await;
    engine.reload(builder(&db)).await.expect("valid");
    settle().await;
    assert_eq!(
        drain_ready(&mut streams),
        vec![(vec![], false); NAMES.len()]
    );

    // Every stream ends at the first delay's end.
    tokio::time::sleep_until(signalled + DELAY - Duration::from_millis(1)).await;
    settle().await;
    assert_eq!(
        drain_ready(&mut streams),
        vec![(vec![], false); NAMES.len()]
    );
    tokio::time::sleep(Duration::from_millis(1)).await;
    settle().await;
    assert_eq!(
        drain_ready(&mut streams),
        vec![(vec![], true); NAMES.len()],
        "all ended at {:?} after the first signal",
        signalled.elapsed()
    );
    assert!(a.is_finished() && b.is_finished());
    engine.shutdown().await;
}
