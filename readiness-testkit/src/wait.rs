//! Waiting for the engine's background schedule, on tokio's paused clock or a real one.

use std::fmt;
use std::time::Duration;

use readiness_core::{Engine, Status};

/// How often (in tokio time) a wait looks at the engine again.
const STEP: Duration = Duration::from_millis(10);

/// A wait that gave up: what it waited for, for how long, and the engine's checks at the end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaitTimeout {
    what: String,
    waited: Duration,
    checks: String,
}

impl WaitTimeout {
    /// What the wait was for.
    pub fn what(&self) -> &str {
        &self.what
    }
    /// How long it waited.
    pub fn waited(&self) -> Duration {
        self.waited
    }
}

impl fmt::Display for WaitTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "gave up waiting for {} after {:?}; checks: {}",
            self.what, self.waited, self.checks
        )
    }
}

impl std::error::Error for WaitTimeout {}

/// Let the engine's background checks run until `cond` holds, for at most `within`.
///
/// The wait sleeps on tokio's timer in steps of 10 ms and looks again after each. On the
/// paused clock (`#[tokio::test(start_paused = true)]`) time moves by itself whenever every
/// task is idle, so the checks run on their own periods, thresholds and timeouts, and a wait
/// of minutes takes milliseconds: no `advance` by hand, no `refresh` that skips the schedule.
///
/// ```
/// use std::time::Duration;
/// use readiness_core::{CheckSpec, Engine, check_fn};
/// use readiness_testkit::wait_until;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let engine = Engine::builder()
///     .check(CheckSpec::readiness("db", check_fn(|| async { Ok::<(), std::io::Error>(()) }))
///         .initial_delay(Duration::from_secs(30)))
///     .build()?;
/// assert!(!engine.is_ready());
/// wait_until(&engine, Duration::from_secs(60), |e| e.is_ready()).await?;
/// # Ok(()) }
/// ```
pub async fn wait_until(
    engine: &Engine,
    within: Duration,
    mut cond: impl FnMut(&Engine) -> bool,
) -> Result<(), WaitTimeout> {
    wait(engine, within, "a condition", move |e| cond(e)).await
}

/// [`wait_until`] the instance is ready.
pub async fn wait_until_ready(engine: &Engine, within: Duration) -> Result<(), WaitTimeout> {
    wait(engine, within, "the instance to be ready", Engine::is_ready).await
}

/// [`wait_until`] the instance is not ready.
pub async fn wait_until_not_ready(engine: &Engine, within: Duration) -> Result<(), WaitTimeout> {
    wait(engine, within, "the instance to be not ready", |e| {
        !e.is_ready()
    })
    .await
}

/// [`wait_until`] the instance's check `name` reaches `status` (for example that a dependency's
/// outage has crossed its failure threshold: `Status::Failing`).
///
/// ```
/// use std::time::Duration;
/// use readiness_core::{CheckSpec, Engine, Status};
/// use readiness_testkit::{Fault, FaultInjector, FaultPlan, wait_for_check};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let db = FaultInjector::standalone(FaultPlan::always(Fault::Pass));
/// let outage = db.handle();
/// let engine = Engine::builder()
///     .check(CheckSpec::readiness("db", db).period(Duration::from_secs(5)).failure_threshold(3))
///     .build()?;
/// wait_for_check(&engine, "db", Status::Passing, Duration::from_secs(10)).await?;
/// outage.set(Fault::fail("connection refused"));
/// // Three failed runs, five seconds apart (plus jitter): well within a minute.
/// wait_for_check(&engine, "db", Status::Failing, Duration::from_secs(60)).await?;
/// assert!(!engine.is_ready());
/// # Ok(()) }
/// ```
pub async fn wait_for_check(
    engine: &Engine,
    name: &str,
    status: Status,
    within: Duration,
) -> Result<(), WaitTimeout> {
    let what = format!("check {name:?} to be {status}");
    wait(engine, within, &what, |e| {
        e.snapshot().check(name).map(|c| c.status()) == Some(status)
    })
    .await
}

async fn wait(
    engine: &Engine,
    within: Duration,
    what: &str,
    mut cond: impl FnMut(&Engine) -> bool,
) -> Result<(), WaitTimeout> {
    let start = tokio::time::Instant::now();
    loop {
        if cond(engine) {
            return Ok(());
        }
        let waited = start.elapsed();
        if waited >= within {
            return Err(WaitTimeout {
                what: what.to_owned(),
                waited,
                checks: describe(engine),
            });
        }
        tokio::time::sleep(STEP.min(within - waited)).await;
    }
}

fn describe(engine: &Engine) -> String {
    let snap = engine.snapshot();
    let mut out = String::new();
    for (i, c) in snap.checks().iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(c.name());
        out.push(' ');
        out.push_str(c.status().as_str());
        if let Some(r) = c.reason() {
            out.push_str(" (");
            out.push_str(r);
            out.push(')');
        }
    }
    if out.is_empty() {
        out.push_str("none");
    }
    out
}
