//! `ReloadableEngine` (issue 20): one handle that probes, the gRPC service and the drain
//! future follow; a reload swaps engines with no gap, no phantom transition, and no lost drain.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use readiness_core::metrics::{READINESS_DRAINING, READINESS_STATE};
use readiness_core::{ConfigProblem, Engine, ReloadableEngine};

/// A reloadable engine whose one check `db` passes, its first result in.
async fn serving_db() -> (ReloadableEngine, Switch) {
    let db = Switch::new(OK);
    let engine = reloadable(builder(&[("db", &db)]));
    settle().await;
    (engine, db)
}

/// A prober reading the handle every 10 ms, as a kubelet at a high rate would: it notes every
/// answer that was not ready.
fn poll_readiness(engine: &ReloadableEngine) -> (Arc<AtomicUsize>, Arc<AtomicBool>) {
    let not_ready = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (engine, seen, done) = (engine.clone(), not_ready.clone(), stop.clone());
    tokio::spawn(async move {
        while !done.load(Ordering::SeqCst) {
            if !engine.load().is_ready() {
                seen.fetch_add(1, Ordering::SeqCst);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    (not_ready, stop)
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_ready_to_ready_reload_answers_ready_throughout_and_moves_no_counter() {
    let rec = LogRecorder::install();
    let (engine, db) = serving_db().await;
    let cache = Switch::new(OK);
    assert!(engine.load().is_ready());
    rec.clear();
    let (not_ready, stop) = poll_readiness(&engine);
    let reloads = engine.subscribe_reloads();

    // Two successes needed: the reload waits one more period before it swaps.
    let next = Engine::builder()
        .without_heartbeat()
        .check(spec1("db", &db).success_threshold(2))
        .check(spec1("cache", &cache));
    engine.reload(next).await.expect("valid");
    assert!(reloads.has_changed().expect("alive"), "followers are told");
    assert!(
        engine.load().snapshot().check("cache").is_some(),
        "the new engine serves"
    );
    advance(Duration::from_secs(5)).await;
    stop.store(true, Ordering::SeqCst);
    assert_eq!(
        not_ready.load(Ordering::SeqCst),
        0,
        "no 503 during the reload"
    );
    assert_only_set(&rec, READINESS_STATE, 1.0, "readiness_state never dips");
    assert_eq!(counted(&rec, "ready") + counted(&rec, "not_ready"), 0);
    assert_eq!(db.handles(), 2, "the old engine let its check go");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_reload_that_removes_a_check_and_adds_one_serves_the_new_set() {
    let db = Switch::new(OK);
    let old_check = Switch::new(OK);
    let new_check = Switch::new(FAIL);
    let engine = ReloadableEngine::new(
        builder(&[("db", &db), ("search", &old_check)])
            .build()
            .expect("valid"),
    );
    settle().await;
    engine
        .reload(builder(&[("db", &db), ("queue", &new_check)]))
        .await
        .expect("valid");
    let snap = engine.load().snapshot();
    assert!(snap.check("search").is_none() && snap.check("queue").is_some());
    assert!(
        !engine.load().is_ready(),
        "a new check that fails is served as it is once the wait is over"
    );
    settle().await;
    assert_eq!(old_check.handles(), 1, "the removed check stopped");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_invalid_reload_keeps_the_engine_serving_and_writes_nothing() {
    let rec = LogRecorder::install();
    let (engine, db) = serving_db().await;
    rec.clear();
    let reloads = engine.subscribe_reloads();
    for bad in [
        builder(&[("Bad Name", &db)]),
        builder(&[("db", &db), ("db", &db)]),
        builder(&[("tenants", &db)]),
    ] {
        let err = engine.reload(bad).await.expect_err("refused");
        assert!(
            err.problems().iter().all(|p| matches!(
                p,
                ConfigProblem::InvalidName { .. }
                    | ConfigProblem::Duplicate { .. }
                    | ConfigProblem::ReservedName { .. }
            )),
            "{err}"
        );
    }
    assert!(
        !reloads.has_changed().expect("alive"),
        "nothing was swapped"
    );
    assert!(engine.load().is_ready());
    assert!(
        rec.writes().is_empty(),
        "no series written: {:?}",
        rec.writes()
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_reload_during_the_drain_keeps_it_and_its_delay() {
    let rec = LogRecorder::install();
    let (engine, db) = serving_db().await;
    let (sigterm, signal) = tokio::sync::oneshot::channel::<()>();
    let shutdown = tokio::spawn(engine.drain_on(signal, Duration::from_secs(35)));
    sigterm.send(()).expect("waits");
    settle().await;
    assert!(engine.is_draining() && !engine.load().is_ready());
    rec.clear();

    advance(Duration::from_secs(20)).await;
    engine.reload(builder(&[("db", &db)])).await.expect("valid");
    let current = engine.load();
    assert!(current.is_draining() && current.snapshot().is_draining());
    drop(current);
    advance(Duration::from_secs(14)).await;
    assert!(!engine.load().is_ready(), "never ready during the drain");
    assert!(!shutdown.is_finished() && !engine.load().is_closed());
    advance(Duration::from_secs(1)).await;
    shutdown.await.expect("no panic");
    assert!(
        engine.load().is_closed(),
        "closed 35 s after the signal, not 35 s after the reload"
    );
    assert_only_set(
        &rec,
        READINESS_DRAINING,
        1.0,
        "READINESS_DRAINING only set to 1.0",
    );
    assert_eq!(counted(&rec, "ready"), 0);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn reloads_run_one_at_a_time_and_the_last_one_serves() {
    let (engine, db) = serving_db().await;
    let names = ["a", "b", "c", "d"];
    let reloads = names.map(|name| {
        let engine = engine.clone();
        let db = db.clone();
        tokio::spawn(async move { engine.reload(builder(&[(name, &db)])).await })
    });
    for r in reloads {
        r.await.expect("no panic").expect("valid");
    }
    let snap = engine.load().snapshot();
    assert_eq!(snap.checks().len(), 1);
    assert!(names.contains(&snap.checks()[0].name()));
    settle().await;
    assert_eq!(db.handles(), 2, "every replaced engine stopped");
}

/// Many reloads racing `add_tenant`, `remove_tenant`, `refresh` and probes on a multi-thread
/// runtime. Every operation is bounded: a hang fails the test instead of hanging it.
#[test]
fn reloads_racing_tenants_refreshes_and_probes_never_hang() {
    const RELOADS: usize = 1_000;
    const BOUND: Duration = Duration::from_secs(60);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("runtime");
    let (done_tx, done) = std::sync::mpsc::channel();
    let engine = rt.block_on(async {
        let db = Switch::new(OK);
        let engine = ReloadableEngine::new(
            builder(&[("db", &db)])
                .max_tenants(100_000)
                .build()
                .expect("valid"),
        );
        engine.current().refresh().await.expect("runs");
        engine
    });
    let stop = Arc::new(AtomicBool::new(false));
    let added = Arc::new(AtomicUsize::new(0));
    let probes = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for w in 0..3 {
        let (engine, stop, added) = (engine.clone(), stop.clone(), added.clone());
        workers.push(rt.spawn(async move {
            let mut n = 0usize;
            while !stop.load(Ordering::SeqCst) {
                let id = format!("t{w}-{n}");
                let e = engine.current();
                if e.add_tenant(&id, vec![spec1("store", &Switch::new(OK))])
                    .is_ok()
                {
                    added.fetch_add(1, Ordering::SeqCst);
                }
                if n.is_multiple_of(2) {
                    e.remove_tenant(&id);
                }
                if n.is_multiple_of(16) {
                    let _ = e.refresh_tenant(&id).await;
                }
                n += 1;
                tokio::task::yield_now().await;
            }
        }));
    }
    {
        let (engine, stop, probes) = (engine.clone(), stop.clone(), probes.clone());
        workers.push(rt.spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let e = engine.load();
                let _ = (
                    e.is_ready(),
                    e.is_live(),
                    e.snapshot(),
                    e.tenant_ready("t0-1"),
                );
                probes.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
            }
        }));
    }
    {
        let (engine, done_tx) = (engine.clone(), done_tx.clone());
        rt.spawn(async move {
            let db = Switch::new(OK);
            for i in 0..RELOADS {
                let name = if i.is_multiple_of(2) {
                    "db"
                } else {
                    "database"
                };
                engine
                    .reload(builder(&[(name, &db)]).max_tenants(100_000))
                    .await
                    .expect("valid");
                let _ = engine.current().refresh().await;
            }
            let _ = done_tx.send(());
        });
    }
    let finished = done.recv_timeout(BOUND).is_ok();
    stop.store(true, Ordering::SeqCst);
    let (tx, workers_done) = std::sync::mpsc::channel();
    rt.spawn(async move {
        for w in workers {
            let _ = w.await;
        }
        let _ = tx.send(());
    });
    let workers_finished = workers_done.recv_timeout(BOUND).is_ok();
    if !(finished && workers_finished) {
        // The engines' locks may be held by stuck threads: do not wait for them on drop.
        std::mem::forget((engine, rt));
        panic!("a hang: reloads finished {finished}, workers finished {workers_finished}");
    }
    println!(
        "stress: {RELOADS} reloads, {} tenants added, {} probes, hangs: 0",
        added.load(Ordering::SeqCst),
        probes.load(Ordering::SeqCst)
    );
    assert!(added.load(Ordering::SeqCst) > 0 && probes.load(Ordering::SeqCst) > 0);
    drop(engine);
    rt.shutdown_timeout(Duration::from_secs(5));
}

/// Tenants across a reload (issue 24's simulated day found it): what the handle serves is the
/// old engine up to the swap and the new one from it, so a tenant whose readiness is the same
/// on both sides has no transition, and one whose readiness differs has one, at the swap.
/// Metrics and the audit log count exactly that, whatever the new engine went through while it
/// was built (its tenants pending, then their first results after the instance's).
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_reload_counts_each_tenant_change_at_the_swap_once_and_nothing_else() {
    use readiness_core::Scope;
    use readiness_core::metrics::{TENANT_STATE, TENANT_TRANSITIONS_TOTAL};

    let rec = LogRecorder::install();
    let db = Switch::new(OK);
    let tenants = |same: &Switch, down: &Switch, up: &Switch| {
        builder(&[("db", &db)])
            // Counted through the recorder, where this test reads them (the collector's
            // carry-over is readiness-tower's tests/collector.rs).
            .tenant_metrics_export(readiness_core::TenantMetricsExport::Facade)
            .tenant("same", vec![spec1("store", same)])
            .tenant("down", vec![spec1("store", down)])
            .tenant("up", vec![spec1("store", up)])
    };
    let old = tenants(&Switch::new(OK), &Switch::new(OK), &Switch::new(FAIL))
        .build()
        .expect("valid");
    old.refresh().await.expect("runs");
    for t in ["same", "down", "up"] {
        old.refresh_tenant(t).await.expect("runs");
    }
    assert_eq!(
        ["same", "down", "up"].map(|t| old.tenant_ready(t)),
        [Some(true), Some(true), Some(false)]
    );
    let engine = ReloadableEngine::new(old.clone());
    rec.clear();

    engine
        .reload(tenants(
            &Switch::new(OK),
            &Switch::new(FAIL),
            &Switch::new(OK),
        ))
        .await
        .expect("valid");
    let new = engine.current();
    assert_eq!(
        ["same", "down", "up"].map(|t| new.tenant_ready(t)),
        [Some(true), Some(false), Some(true)]
    );
    let tenant_counts = |tenant: &str| -> [u64; 2] {
        ["not_ready", "ready"].map(|to| {
            rec.writes_to(TENANT_TRANSITIONS_TOTAL)
                .iter()
                .filter(|w| w.label("tenant") == Some(tenant) && w.label("to") == Some(to))
                .map(|w| match w.op {
                    Op::Increment(n) => n,
                    _ => 0,
                })
                .sum()
        })
    };
    assert_eq!(
        tenant_counts("same"),
        [0, 0],
        "ready on both sides: no transition"
    );
    assert_eq!(
        tenant_counts("down"),
        [1, 0],
        "one transition, to not_ready"
    );
    assert_eq!(tenant_counts("up"), [0, 1], "one transition, to ready");
    assert!(
        rec.writes_to(TENANT_STATE)
            .iter()
            .filter(|w| w.label("tenant") == Some("same"))
            .all(|w| w.op == Op::Set(1.0)),
        "a tenant ready on both sides never reads 0: {:?}",
        rec.writes_to(TENANT_STATE)
    );
    assert_eq!(counted(&rec, "ready") + counted(&rec, "not_ready"), 0);

    // The audit logs: the old engine's up to the swap, the new one's from it.
    let scopes = |e: &Engine| -> Vec<(String, &'static str)> {
        e.auditor()
            .log()
            .into_iter()
            .filter(|a| a.check.is_none())
            .map(|a| {
                let scope = match a.scope {
                    Scope::Global => String::new(),
                    Scope::Tenant(id) => id.to_string(),
                };
                (scope, a.to)
            })
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect()
    };
    let before = old.auditor().log().len();
    assert!(before > 0, "the old engine logged its own start");
    assert_eq!(
        scopes(&new),
        vec![("down".to_owned(), "not_ready"), ("up".to_owned(), "ready")],
        "the new engine logs the swap's changes, not its own start"
    );
    assert_eq!(
        old.auditor().log().len(),
        before,
        "the old engine logs nothing more"
    );
}
