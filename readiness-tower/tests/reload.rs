//! Issue 20: the layer and the gRPC health service follow a `ReloadableEngine`. Probes answer
//! from the new engine with no gap, every gRPC name keeps its status, open `Watch` streams
//! carry on and see the new engine's transitions, and the server stops only at the real close.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::grpc::{BOUND, NOT_SERVING, SERVING, check, next, rest, serve_until, watch};
use common::{Flag, get};
use readiness_core::{Engine, EngineBuilder, ReloadableEngine};
use readiness_tower::ReadinessLayer;
use readiness_tower::grpc::{HealthService, ServingStatus};

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

#[tokio::test]
async fn grpc_names_and_open_watches_carry_on_across_a_reload_and_end_at_the_close() {
    let db = Flag::new(true);
    let old = builder(&[("db", &db)]).build().expect("valid");
    old.refresh().await.expect("runs");
    let gone = old.downgrade();
    let engine = ReloadableEngine::new(old);
    let mut server = serve_until(
        ReadinessLayer::new(engine.clone()),
        HealthService::new(&engine),
        engine.closed(),
    )
    .await;
    let client = &mut server.client;
    let mut liveness = watch(client, "liveness").await;
    let mut instance = watch(client, "").await;
    let mut tenant = watch(client, "tenants/acme").await;
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
        assert_eq!(
            check(client, name).await,
            Ok(SERVING),
            "{name:?} keeps its status after the old engine went"
        );
    }
    assert!(
        !server.task.is_finished(),
        "a reload does not stop the server"
    );

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
    server.stopped("the server stops at the close").await;
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
