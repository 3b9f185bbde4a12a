//! Supervision of the engine's own tasks: the scheduler's driver and the watchdog are
//! restarted with a back-off when they end unexpectedly; and the heartbeat's ticker.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::FutureExt;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::driver::drive;
use super::run::panic_message;
use super::scope::Event;
use super::shared::Shared;

/// Restart `what` after it ended unexpectedly: log once, wait a back-off that doubles while it
/// keeps dying (reset once it ran longer than the cap). Returns `false` when the engine stops.
async fn restart_after(
    shared: &Shared,
    what: &str,
    ended: Result<(), Box<dyn std::any::Any + Send>>,
    ran_for: Duration,
    deaths: &mut u32,
) -> bool {
    let mut stopping = shared.stopping.subscribe();
    if *stopping.borrow_and_update() {
        return false;
    }
    let (_, max) = shared.options.restart_backoff;
    if ran_for > max {
        *deaths = 0;
    }
    *deaths = deaths.saturating_add(1);
    let backoff = shared.restart_backoff(*deaths);
    let why = match &ended {
        Ok(()) => "ended".to_owned(),
        Err(panic) => format!("panicked: {}", panic_message(&**panic)),
    };
    let _ = std::panic::catch_unwind(AssertUnwindSafe(|| {
        tracing::error!(target: "readiness", task = what, %why, ?backoff, "an engine task stopped; restarting it after its back-off");
    }));
    tokio::select! {
        _ = tokio::time::sleep(backoff) => true,
        _ = stopping.wait_for(|s| *s) => false,
    }
}

/// The driver's supervisor: owns the set of runs, so runs in flight outlive a driver that dies.
pub(super) async fn supervise_driver(shared: Arc<Shared>) {
    let mut runs = JoinSet::new();
    let mut ids = HashMap::new();
    let mut deaths = 0;
    loop {
        let started = Instant::now();
        let ended = AssertUnwindSafe(drive(&shared, &mut runs, &mut ids))
            .catch_unwind()
            .await;
        if !restart_after(&shared, "scheduler", ended, started.elapsed(), &mut deaths).await {
            break;
        }
        shared.sched.reconcile(&shared);
    }
    // Stopping: end every run in flight and wait until their futures are dropped.
    runs.shutdown().await;
}

/// The watchdog's supervisor.
pub(super) async fn supervise_watchdog(shared: Arc<Shared>) {
    let mut deaths = 0;
    loop {
        let started = Instant::now();
        let ended = AssertUnwindSafe(watch(&shared)).catch_unwind().await;
        if !restart_after(&shared, "watchdog", ended, started.elapsed(), &mut deaths).await {
            break;
        }
    }
}

/// The built-in heartbeat's ticker: the `heartbeat` check reads how late it is.
pub(super) async fn heartbeat_task(base: Instant, interval: Duration, last: Arc<AtomicU64>) {
    let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(1)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let ms = base.elapsed().as_millis().min(u128::from(u64::MAX)) as u64;
        last.store(ms, Ordering::Relaxed);
    }
}

/// The watchdog's task: marks a result stale when its deadline passes (see `record`).
async fn watch(shared: &Arc<Shared>) {
    let mut stopping = shared.stopping.subscribe();
    let sleep = tokio::time::sleep_until(Instant::now());
    tokio::pin!(sleep);
    loop {
        if *stopping.borrow_and_update() {
            return;
        }
        let now = shared.clock.now();
        let (due, next) = shared.watchdog.take_due(now);
        for check in due {
            if let Some(t) = check.resolve() {
                // Marks the result stale, or watches it again until its new deadline.
                let _ = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    shared.record(t.tenant.as_ref(), t.idx, Event::Stale);
                }));
            }
        }
        let at = next
            .and_then(|n| shared.clock.instant(n))
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400));
        sleep.as_mut().reset(at);
        tokio::select! {
            _ = stopping.changed() => {}
            _ = shared.watchdog.wake.notified() => {}
            _ = &mut sleep => {}
        }
    }
}
