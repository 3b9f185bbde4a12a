//! Unit tests of the engine's internals: what no public call can make happen (every task
//! stopped, the scheduler itself dying).

use std::sync::atomic::{AtomicU32, Ordering};

/// Faults a test injects into the engine's own tasks.
#[derive(Default)]
pub(super) struct Faults {
    /// The driver panics this many more times at the top of its loop.
    driver_panics: AtomicU32,
}

impl Faults {
    pub(super) fn driver(&self) {
        if self
            .driver_panics
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            panic!("injected driver fault");
        }
    }
}

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use super::{Engine, lock};
use crate::{CheckFailure, CheckSpec, Status, check_fn};

fn counting(runs: &Arc<AtomicUsize>) -> CheckSpec {
    let runs = runs.clone();
    CheckSpec::readiness(
        "db",
        check_fn(move || {
            runs.fetch_add(1, Ordering::SeqCst);
            async { Ok::<(), CheckFailure>(()) }
        }),
    )
    .period(Duration::from_secs(1))
    .timeout(Duration::from_millis(200))
    .jitter(Duration::ZERO)
}

async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn reads_fail_closed_when_no_task_runs_at_all() {
    let runs = Arc::new(AtomicUsize::new(0));
    let engine = Engine::builder()
        .without_heartbeat()
        .check(counting(&runs))
        .tenant("acme", vec![counting(&runs)])
        .build()
        .expect("valid");
    settle().await;
    assert!(engine.is_ready() && engine.tenant_ready("acme") == Some(true));
    // Every background task stops, as on a wedged runtime: nothing renews or marks a result.
    for task in lock(&engine.inner.tasks).drain(..) {
        task.abort();
    }
    settle().await;
    tokio::time::advance(Duration::from_secs(2)).await;
    assert!(engine.is_ready(), "2 s old: within 1 s + 200 ms + 1 s");
    tokio::time::advance(Duration::from_secs(1)).await;
    assert!(
        engine.inner.shared.global.snapshot.load().ready,
        "nothing marked the result"
    );
    assert!(!engine.is_ready(), "the read itself fails closed");
    assert!(!engine.snapshot().is_ready());
    assert!(!engine.with_snapshot(|s| s.is_ready()));
    let snap = engine.snapshot();
    let db = snap.check("db").expect("registered");
    assert_eq!(db.status(), Status::Failing);
    assert_eq!(db.reason(), Some("stale: no result for 3s"));
    assert_eq!(engine.tenant_ready("acme"), Some(false));
    assert_eq!(engine.tenant_checks_pass("acme"), Some(false));
    let acme = engine.tenant("acme").expect("known");
    assert!(!acme.is_ready());
    assert_eq!(
        acme.snapshot().check("db").and_then(|c| c.reason()),
        Some("stale: no result for 3s")
    );
    assert!(engine.is_live(), "no liveness check: nothing to expire");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_scheduler_that_dies_is_restarted_with_back_off_and_checks_go_on() {
    let runs = Arc::new(AtomicUsize::new(0));
    let engine = Engine::builder()
        .without_heartbeat()
        .check(counting(&runs))
        .build()
        .expect("valid");
    settle().await;
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let shared = &engine.inner.shared;
    shared.faults.driver_panics.store(2, Ordering::SeqCst);
    shared.sched.wake.notify_one();
    settle().await;
    // Died twice: restarted after 1 s, then after 2 s.
    for _ in 0..30 {
        tokio::time::advance(Duration::from_millis(100)).await;
        settle().await;
    }
    assert_eq!(shared.faults.driver_panics.load(Ordering::SeqCst), 0);
    let before = runs.load(Ordering::SeqCst);
    for _ in 0..50 {
        tokio::time::advance(Duration::from_millis(100)).await;
        settle().await;
    }
    let after = runs.load(Ordering::SeqCst);
    assert!(
        after >= before + 4,
        "the check runs on its period again: {before} -> {after}"
    );
    assert!(engine.is_ready());
}
