//! Unit tests of the engine's internals: what no public call can make happen (every task
//! stopped, the scheduler itself dying).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;

/// Faults a test injects into the engine's own tasks.
#[derive(Default)]
pub(super) struct Faults {
    /// The driver panics this many more times at the top of its loop.
    driver_panics: AtomicU32,
    /// A takeover stops here once, holding the locks it takes first, until told to go on.
    takeover: std::sync::Mutex<Option<Pause>>,
    /// `add_tenant` says once that it is about to take the engine's shared locks.
    adding: std::sync::Mutex<Option<mpsc::SyncSender<()>>>,
}

/// A point where a test stops an engine's own code: it reports that it got there, then waits
/// (bounded) for the test to let it go on.
pub(super) struct Pause {
    reached: mpsc::SyncSender<()>,
    resume: mpsc::Receiver<()>,
}

/// How long an injected pause waits at most: a test that forgets to resume fails, it never
/// hangs.
const PAUSE_BOUND: Duration = Duration::from_secs(20);

impl Faults {
    /// Called by a takeover between its first locks and what it reads of the older engine.
    pub(super) fn takeover(&self) {
        let pause = self
            .takeover
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(p) = pause {
            let _ = p.reached.send(());
            let _ = p.resume.recv_timeout(PAUSE_BOUND);
        }
    }

    /// Called by `add_tenant` before it takes the tenants' counts and the series.
    pub(super) fn adding(&self) {
        let tx = self.adding.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(tx) = tx {
            let _ = tx.send(());
        }
    }

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

use super::Engine;
use super::sync::lock;
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

/// Issue 20, defect 1: a takeover held the lineage and then read the older engine's tenants,
/// while the older engine's `add_tenant` held its tenants and waited for the lineage. Both
/// threads stopped for good. The takeover is paused between its locks while the other thread
/// adds a tenant; both must finish (each wait is bounded: a deadlock fails, it never hangs).
#[test]
fn a_tenant_added_while_a_newer_engine_takes_over_deadlocks_nothing() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let ok = || check_fn(|| async { Ok::<(), CheckFailure>(()) });
    let (old, new) = rt.block_on(async {
        let old = Engine::builder()
            .without_heartbeat()
            .readiness("db", ok())
            .tenant("first", vec![CheckSpec::readiness("store", ok())])
            .build()
            .expect("valid");
        old.refresh().await.expect("runs");
        // Its check waits an hour: only the refresh below makes it ready, and take over.
        let new = Engine::builder()
            .without_heartbeat()
            .check(CheckSpec::readiness("db", ok()).initial_delay(Duration::from_secs(3600)))
            .reload_from(&old)
            .build()
            .expect("valid");
        (old, new)
    });
    assert!(old.is_ready() && !new.is_ready());

    let (reached, at_pause) = mpsc::sync_channel(1);
    let (go_on, resume) = mpsc::sync_channel(1);
    *new.inner.shared.faults.takeover.lock().expect("faults") = Some(Pause { reached, resume });
    let (adding, at_add) = mpsc::sync_channel(1);
    *old.inner.shared.faults.adding.lock().expect("faults") = Some(adding);

    let (done_tx, done) = mpsc::channel();
    let handle = rt.handle().clone();
    let taker = {
        let new = new.clone();
        let done = done_tx.clone();
        std::thread::spawn(move || {
            handle.block_on(new.refresh()).expect("runs");
            let _ = done.send("takeover");
        })
    };
    at_pause
        .recv_timeout(PAUSE_BOUND)
        .expect("the takeover reached its pause");
    let adder = {
        let old = old.clone();
        let done = done_tx.clone();
        std::thread::spawn(move || {
            old.add_tenant("second", vec![CheckSpec::readiness("store", ok())])
                .expect("added");
            let _ = done.send("add_tenant");
        })
    };
    at_add
        .recv_timeout(PAUSE_BOUND)
        .expect("add_tenant reached the shared locks");
    go_on.send(()).expect("the takeover waits");
    let mut finished = Vec::new();
    for _ in 0..2 {
        match done.recv_timeout(PAUSE_BOUND) {
            Ok(what) => finished.push(what),
            Err(_) => {
                // Dropping the engines would wait on the locks the stuck threads hold.
                std::mem::forget((old, new, rt));
                panic!("deadlock: only {finished:?} finished");
            }
        }
    }
    taker.join().expect("no panic");
    adder.join().expect("no panic");
    assert!(new.is_ready(), "the newer engine took over");
    assert_eq!(old.tenant_count(), 2);
    drop((old, new));
    rt.shutdown_background();
}
