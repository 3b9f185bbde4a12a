//! Lifecycle (issue 12, item 6): nothing runs after `shutdown()`, an auditor never keeps the
//! engine alive, and nothing is written once the engine is gone.

mod common;

use std::time::Duration;

use common::*;
use readiness_core::{ConfigProblem, Engine, RefreshError};

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn after_shutdown_nothing_runs_and_every_call_says_why() {
    let db = Switch::new(OK);
    let store = Switch::new(OK);
    let engine = Engine::builder()
        .check(spec("db", &db))
        .tenant("acme", vec![spec("store", &store)])
        .build()
        .expect("valid");
    settle().await;
    engine.shutdown().await;
    let (runs, tenant_runs) = (db.runs(), store.runs());
    let added = Switch::new(OK);
    let err = engine
        .add_tenant("globex", vec![spec("store", &added)])
        .expect_err("shut down");
    assert_eq!(err.problems(), &[ConfigProblem::ShutDown]);
    assert_eq!(engine.refresh().await, Err(RefreshError::ShutDown));
    assert_eq!(
        engine.refresh_tenant("acme").await,
        Err(RefreshError::ShutDown)
    );
    advance(Duration::from_secs(30)).await;
    assert_eq!(db.runs(), runs, "no run after shutdown");
    assert_eq!(store.runs(), tenant_runs, "no tenant run after shutdown");
    assert_eq!(
        added.runs(),
        0,
        "nothing was spawned for the refused tenant"
    );
    assert_eq!(engine.tenant_count(), 1);
    assert_eq!(
        added.handles(),
        1,
        "the refused tenant's check was not kept"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn refresh_of_an_unknown_tenant_is_an_error() {
    let engine = Engine::builder().build().expect("valid");
    assert_eq!(
        engine.refresh_tenant("nope").await,
        Err(RefreshError::UnknownTenant)
    );
    assert_eq!(engine.refresh().await, Ok(()));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_auditor_never_keeps_the_engine_alive() {
    let db = Switch::new(OK);
    let engine = engine_with([spec("db", &db)]);
    settle().await;
    let auditor = engine.auditor();
    assert!(auditor.instance().is_ready());
    drop(engine);
    settle().await;
    assert_eq!(db.handles(), 1, "the engine and its tasks are gone");
    let runs = db.runs();
    advance(Duration::from_secs(10)).await;
    assert_eq!(db.runs(), runs);
    assert!(
        !auditor.instance().is_ready(),
        "a gone engine reads not ready"
    );
    assert!(auditor.tenants().is_empty());
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn nothing_is_written_once_the_engine_is_gone() {
    let rec = LogRecorder::install();
    let [db, hung, store] = [OK, HANG, OK].map(Switch::new);
    let engine = Engine::builder()
        .check(spec("db", &db))
        .check(
            spec("hung", &hung)
                .critical(false)
                .timeout(Duration::from_secs(30)),
        )
        .tenant("acme", vec![spec("store", &store)])
        .build()
        .expect("valid");
    settle().await;
    let auditor = engine.auditor();
    let weak = engine.downgrade();
    assert_eq!(
        hung.in_flight(),
        1,
        "a run is in flight when the engine goes"
    );
    drop(engine);
    settle().await;
    assert!(weak.upgrade().is_none());
    rec.clear();
    advance(Duration::from_secs(60)).await;
    assert_eq!(rec.writes(), vec![], "no write after the engine is gone");
    assert_eq!(hung.in_flight(), 0, "its run ended with it");
    drop(auditor);
}
