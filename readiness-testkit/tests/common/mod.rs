//! Helpers shared by the testkit's integration tests: engines whose dependencies are fault
//! injectors, their checks' state, and the paused clock moved on.

#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use readiness_core::{CheckSpec, Engine, Status};
use readiness_testkit::{FaultHandle, FaultInjector, FaultPlan};

/// How often a dependency of these tests is checked.
pub const PERIOD: Duration = Duration::from_secs(1);
/// How long one check of a dependency may take.
pub const TIMEOUT: Duration = Duration::from_millis(200);

/// A readiness check `name` on a fault injector playing `plan`: run every [`PERIOD`] from the
/// start (no jitter), timed out after [`TIMEOUT`], failing after three failures; and the
/// handle that steers its faults.
pub fn dep(name: &str, plan: FaultPlan) -> (CheckSpec, FaultHandle) {
    let inj = FaultInjector::standalone(plan);
    let h = inj.handle();
    (
        CheckSpec::readiness(name, inj)
            .period(PERIOD)
            .timeout(TIMEOUT)
            .jitter(Duration::ZERO)
            .failure_threshold(3),
        h,
    )
}

/// An engine (with its heartbeat) running `specs`.
pub fn engine_with(specs: impl IntoIterator<Item = CheckSpec>) -> Engine {
    specs
        .into_iter()
        .fold(Engine::builder(), |b, s| b.check(s))
        .build()
        .expect("valid engine")
}

/// The status and reason of the check `name` in the engine's snapshot now.
pub fn state(engine: &Engine, name: &str) -> (Status, Option<String>) {
    let snap = engine.snapshot();
    let c = snap.check(name).expect("registered");
    (c.status(), c.reason().map(String::from))
}

/// Let background tasks run without moving the clock (50 yields: enough for a run, its record
/// and the subscribers it wakes).
pub async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

/// Let due tasks run, move the paused clock with `step`, and let the tasks it woke run.
async fn settled<F: Future<Output = ()>>(step: impl FnOnce() -> F) {
    settle().await;
    step().await;
    settle().await;
}

/// Move the paused clock by `d` in one step and let every task due by then run.
pub async fn jump(d: Duration) {
    settled(|| tokio::time::advance(d)).await;
}

/// Let due tasks run, then let the paused clock run `d` on. `sleep` (not `advance`) makes the
/// clock stop at every timer in between, in order, so a timeout fires before a longer delay.
pub async fn tick(d: Duration) {
    settled(|| tokio::time::sleep(d)).await;
}

/// [`tick`] `n` periods.
pub async fn periods(n: usize) {
    for _ in 0..n {
        tick(PERIOD).await;
    }
}
