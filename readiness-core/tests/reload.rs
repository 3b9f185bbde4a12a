//! Reload handover (issue 12, item 4): the global series belong to one engine at a time.

mod common;

use std::time::Duration;

use common::*;
use readiness_core::metrics::{
    READINESS_DRAINING, READINESS_STATE, READINESS_TRANSITIONS_TOTAL, TENANT_STATE, TENANT_TENANTS,
    TENANT_TRANSITIONS_TOTAL,
};
use readiness_core::{Engine, TenantMetricsExport};

const GLOBAL: &[&str] = &[
    READINESS_STATE,
    READINESS_TRANSITIONS_TOTAL,
    READINESS_DRAINING,
    TENANT_TENANTS,
];

fn global_writes(rec: &LogRecorder) -> Vec<Write> {
    rec.writes()
        .into_iter()
        .filter(|w| GLOBAL.contains(&w.name.as_str()) && w.op != Op::Register)
        .collect()
}

fn states(rec: &LogRecorder) -> Vec<Op> {
    rec.writes_to(READINESS_STATE)
        .iter()
        .map(|w| w.op)
        .collect()
}

/// An engine running `db` as its one check, taking over from `old` when there is one.
fn engine_after(old: Option<&Engine>, db: &Switch) -> Engine {
    build_after(builder(&[("db", db)]), old)
}

/// The first engine, ready, and its `db` (passing).
async fn ready_first() -> (Engine, Switch) {
    let db = Switch::new(OK);
    let old = engine_after(None, &db);
    settle().await;
    assert!(old.is_ready());
    (old, db)
}

/// The latest `readiness_state` write reads `ready`, and one transition to it was counted.
fn counted_once_to(rec: &LogRecorder, ready: bool) {
    let (value, to) = if ready {
        (1.0, "ready")
    } else {
        (0.0, "not_ready")
    };
    assert_eq!(states(rec).last(), Some(&Op::Set(value)));
    assert_eq!(counted(rec, to), 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_ready_to_ready_reload_writes_no_zero_and_moves_no_counter() {
    let rec = LogRecorder::install();
    let db = Switch::new(OK);
    let old = build_after(
        builder(&[("db", &db)]).tenant("acme", vec![spec1("store", &db)]),
        None,
    );
    settle().await;
    assert!(old.is_ready());
    rec.clear();

    let delayed = spec1("db", &db).initial_delay(Duration::from_secs(5));
    let new = build_after(
        builder(&[])
            .check(delayed)
            .tenant("acme", vec![spec1("store", &db)]),
        Some(&old),
    );
    advance(Duration::from_secs(3)).await;
    assert!(
        old.is_ready() && !new.is_ready(),
        "the new engine is not ready yet"
    );
    assert_eq!(
        global_writes(&rec)
            .iter()
            .filter(|w| w.op == Op::Set(0.0) && w.name == READINESS_STATE)
            .count(),
        0,
        "nothing writes readiness_state 0 while the old engine serves"
    );
    advance(Duration::from_secs(3)).await;
    assert!(new.is_ready(), "the new engine took over");
    drop(old);
    advance(Duration::from_secs(3)).await;
    assert_only_set(
        &rec,
        READINESS_STATE,
        1.0,
        "readiness_state only ever reads 1",
    );
    assert_eq!(
        counted(&rec, "ready"),
        0,
        "a ready-to-ready reload moves no counter"
    );
    assert_eq!(counted(&rec, "not_ready"), 0);
    assert_only_set(&rec, READINESS_DRAINING, 0.0, "not draining");

    // The new engine owns the series now: its transitions are counted.
    db.set(FAIL);
    advance(Duration::from_secs(2)).await;
    assert!(!new.is_ready());
    counted_once_to(&rec, false);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_older_engine_dropped_first_hands_over_at_once() {
    let rec = LogRecorder::install();
    let (old, db) = ready_first().await;
    rec.clear();
    let delayed = spec1("db", &db).initial_delay(Duration::from_secs(10));
    let new = build_after(builder(&[]).check(delayed), Some(&old));
    settle().await;
    assert_eq!(global_writes(&rec), vec![], "nothing until it takes over");
    drop(old);
    settle().await;
    assert_eq!(
        states(&rec),
        vec![Op::Set(0.0)],
        "taken over at the drop: not ready yet"
    );
    assert_eq!(
        counted(&rec, "not_ready"),
        1,
        "the series saw ready -> not ready"
    );
    advance(Duration::from_secs(11)).await;
    assert!(new.is_ready());
    counted_once_to(&rec, true);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_older_engine_never_overwrites_the_newer_ones_check_series() {
    let rec = LogRecorder::install();
    let db = Switch::new(OK);
    let old = build_after(builder(&[("db", &db), ("gone", &db)]), None);
    settle().await;
    let new = engine_after(Some(&old), &db);
    settle().await;
    assert!(new.is_ready());
    rec.clear();
    drop(old);
    settle().await;
    let check_state = rec.writes_to(readiness_core::metrics::CHECK_STATE);
    assert!(
        check_state.iter().all(|w| w.label("check") != Some("db")),
        "the old engine's drop leaves `db` (the new engine's) alone: {check_state:?}"
    );
    advance(Duration::from_secs(2)).await;
    let last_gone = rec
        .writes_to(readiness_core::metrics::CHECK_STATE)
        .into_iter()
        .rev()
        .find(|w| w.label("check") == Some("gone"));
    assert!(
        last_gone.is_none_or(|w| w.op == Op::Set(0.0)),
        "a check the reload removed reads 0"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn drain_on_keeps_waiting_for_its_signal_across_a_reload() {
    let db = Switch::new(OK);
    let old = engine_after(None, &db);
    settle().await;
    let (sigterm, signal) = tokio::sync::oneshot::channel::<()>();
    let shutdown = tokio::spawn(old.drain_on(signal, Duration::from_secs(35)));
    let new = engine_after(Some(&old), &db);
    settle().await;
    assert!(new.is_ready());
    drop(old);
    advance(Duration::from_secs(60)).await;
    assert!(
        !shutdown.is_finished(),
        "the server keeps serving: a reload is not a shutdown"
    );
    assert!(!new.is_closed() && new.is_ready());

    sigterm.send(()).expect("the future waits");
    settle().await;
    assert!(
        new.is_draining() && !new.is_ready(),
        "the signal drains the engine that serves now"
    );
    advance(Duration::from_secs(34)).await;
    assert!(!shutdown.is_finished() && !new.is_closed());
    advance(Duration::from_secs(1)).await;
    shutdown.await.expect("no panic");
    assert!(new.is_closed(), "and closes it after the delay");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_closed_future_of_a_replaced_engine_waits_for_the_real_close() {
    let db = Switch::new(OK);
    let old = engine_after(None, &db);
    settle().await;
    let closed = tokio::spawn(old.closed());
    let new = engine_after(Some(&old), &db);
    settle().await;
    drop(old);
    settle().await;
    assert!(
        !closed.is_finished(),
        "a server stopped by closed() keeps serving across a reload"
    );
    new.close();
    settle().await;
    assert!(closed.is_finished());
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_reload_during_a_drain_never_turns_ready() {
    let rec = LogRecorder::install();
    let (old, db) = ready_first().await;
    old.drain();
    assert!(!old.is_ready());
    rec.clear();

    let new = engine_after(Some(&old), &db);
    assert!(new.is_draining(), "draining from its first moment");
    settle().await;
    assert!(!new.is_ready() && new.snapshot().is_draining());
    drop(old);
    for _ in 0..5 {
        advance(Duration::from_secs(1)).await;
        assert!(!new.is_ready(), "never ready during the drain");
    }
    assert_only_set(&rec, READINESS_DRAINING, 1.0, "readiness_draining stays 1");
    assert_only_set(&rec, READINESS_STATE, 0.0, "readiness_state stays 0");
    assert_eq!(counted(&rec, "ready"), 0, "no phantom transition");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_drain_of_the_old_engine_reaches_the_one_being_built() {
    let db = Switch::new(OK);
    let old = engine_after(None, &db);
    settle().await;
    let new = engine_after(Some(&old), &db);
    settle().await;
    old.drain();
    assert!(
        new.is_draining() && !new.is_ready(),
        "one drain for the whole process"
    );
    drop(old);
    advance(Duration::from_secs(3)).await;
    assert!(!new.is_ready());
}

fn tenant_engine(old: Option<&Engine>, db: &Switch, delay: Duration) -> Engine {
    let b = builder(&[("db", db)])
        .tenant_metrics_export(TenantMetricsExport::Facade)
        .tenant("acme", vec![spec1("store", db).initial_delay(delay)]);
    build_after(b, old)
}

/// A first engine with tenant `acme`, its results in (the recording cleared then), and its
/// reload, whose `acme` has its first result 3 s later: `(old, new)`.
async fn tenant_reload(rec: &LogRecorder, db: &Switch) -> (Engine, Engine) {
    let old = tenant_engine(None, db, Duration::ZERO);
    settle().await;
    assert_eq!(old.tenant_ready("acme"), Some(true));
    rec.clear();
    let new = tenant_engine(Some(&old), db, Duration::from_secs(3));
    settle().await;
    (old, new)
}

/// `acme`'s series as the reload's engine wrote them: its state only ever 1, and no
/// transition counted.
fn acme_kept_its_state(rec: &LogRecorder) {
    let states = rec.writes_labelled(TENANT_STATE, "tenant", "acme");
    assert!(!states.is_empty(), "the new engine writes acme's series");
    assert!(
        states.iter().all(|w| w.op == Op::Set(1.0)),
        "acme never reads 0: {states:?}"
    );
    let transitions = rec.writes_labelled(TENANT_TRANSITIONS_TOTAL, "tenant", "acme");
    assert!(
        transitions.iter().all(|w| w.op == Op::Increment(0)),
        "no phantom transition: {transitions:?}"
    );
}

/// A reload's engine ready at once but whose tenants have no result yet does not take the
/// series over until they do: it would write their state 0 and count their first result.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_takeover_waits_for_the_tenants_first_results() {
    let rec = LogRecorder::install();
    let db = Switch::new(OK);
    let (old, new) = tenant_reload(&rec, &db).await;
    assert!(new.is_ready() && new.tenant_ready("acme") == Some(false));
    assert!(
        rec.writes_to(TENANT_STATE).is_empty(),
        "not taken over while acme is pending: {:?}",
        rec.writes_to(TENANT_STATE)
    );
    advance(Duration::from_secs(4)).await;
    assert_eq!(new.tenant_ready("acme"), Some(true));
    drop(old);
    settle().await;
    acme_kept_its_state(&rec);
}

/// The older engine dropped before the new one's tenants have results: the takeover keeps
/// what the old engine published until they come, and their first result counts nothing.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_takeover_forced_before_the_tenants_results_keeps_their_state() {
    let rec = LogRecorder::install();
    let db = Switch::new(OK);
    let (old, new) = tenant_reload(&rec, &db).await;
    drop(old);
    settle().await;
    advance(Duration::from_secs(4)).await;
    assert_eq!(new.tenant_ready("acme"), Some(true));
    acme_kept_its_state(&rec);

    // A real change after the takeover is counted.
    db.set(FAIL);
    advance(Duration::from_secs(2)).await;
    assert_eq!(
        rec.writes_labelled(TENANT_TRANSITIONS_TOTAL, "tenant", "acme")
            .iter()
            .filter(|w| w.op == Op::Increment(1) && w.label("to") == Some("not_ready"))
            .count(),
        1
    );
}
