//! Fair scheduling under saturation (issue 12, item 2), with the figures the issue asks for.
//!
//! 2,000 checks that never return, default period (10 s), timeout (1 s), jitter and in-flight
//! bound (64), 180 s of tokio's paused clock. Print the figures with
//!
//! ```text
//! cargo test -p readiness-core --release --test fairness -- --nocapture
//! ```

mod common;

use std::time::Duration;

use common::*;
use readiness_core::{CheckSpec, Engine, Status};
use tokio::time::Instant;

const HANGING: usize = 2000;
const PERIOD: Duration = Duration::from_secs(10);
const BOUND: usize = 64;
const RUN_FOR: Duration = Duration::from_secs(180);
const LATE_AT: Duration = Duration::from_secs(60);
const OUTAGE_AT: Duration = Duration::from_secs(120);
/// The jitter's seed, so that every run of this test sees the same schedule.
const SEED: u64 = 2026;

struct Figures {
    runs: usize,
    worst_gap: Duration,
    late_first_run: Option<Duration>,
    outage_first_failed_run: Option<Duration>,
    outage_failing: Option<Duration>,
    peak: usize,
    hanging_runs: usize,
    recovery_seen: Option<Duration>,
}

impl Figures {
    fn print(&self, what: &str) {
        println!("{what}:");
        println!("  runs of a healthy check in 180 s: {}", self.runs);
        println!(
            "  worst gap between its runs: {:.1} s ({:.2}x the period)",
            self.worst_gap.as_secs_f64(),
            self.worst_gap.as_secs_f64() / PERIOD.as_secs_f64()
        );
        if let Some(d) = self.late_first_run {
            println!(
                "  first run of a tenant added at 60 s: {} ms after it was added",
                d.as_millis()
            );
        }
        let secs = |d: Option<Duration>| {
            d.map_or("never (within 180 s)".into(), |d| {
                format!("{:.1} s", d.as_secs_f64())
            })
        };
        println!(
            "  outage of a healthy dependency at 120 s: first failed run after {}, failing (threshold 3) after {}",
            secs(self.outage_first_failed_run),
            secs(self.outage_failing)
        );
        println!("  peak runs in flight: {} (bound {BOUND})", self.peak);
        println!(
            "  the trade-off: runs of one hanging check in its first 120 s: {}; one that recovers at 120 s is seen after {}",
            self.hanging_runs,
            secs(self.recovery_seen)
        );
    }

    fn check(&self) {
        assert!(
            self.worst_gap.as_secs_f64() <= 1.3 * PERIOD.as_secs_f64(),
            "a healthy check runs on its period: worst gap {:?}",
            self.worst_gap
        );
        assert!(self.runs >= 16, "runs in 180 s: {}", self.runs);
        if let Some(d) = self.late_first_run {
            assert!(d <= Duration::from_secs(1), "first run after {d:?}");
        }
        assert!(
            self.outage_first_failed_run
                .is_some_and(|d| d <= PERIOD + PERIOD / 10),
            "an outage is seen within one period: {:?}",
            self.outage_first_failed_run
        );
        assert!(
            self.outage_failing
                .is_some_and(|d| d <= 3 * (PERIOD + PERIOD / 10)),
            "and turns failing after its threshold: {:?}",
            self.outage_failing
        );
        assert!(self.peak <= BOUND, "peak in flight {}", self.peak);
    }
}

fn worst_gap(starts: &[Instant]) -> Duration {
    starts
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default()
}

/// After the 180 s, keep the clock going until the recovered check has run (at most 600 s).
async fn until_recovered(t0: Instant, recovering: &Switch) {
    while t0.elapsed() < Duration::from_secs(600)
        && !recovering.starts().iter().any(|&i| i - t0 >= OUTAGE_AT)
    {
        advance(Duration::from_secs(1)).await;
    }
}

/// Run the clock to `end` in 100 ms steps, noting when `failing()` first turns true after
/// `outage`.
async fn run_until(
    t0: Instant,
    end: Duration,
    mut failing: impl FnMut() -> bool,
    failing_at: &mut Option<Duration>,
) {
    while t0.elapsed() < end {
        advance(Duration::from_millis(100)).await;
        if failing_at.is_none() && t0.elapsed() > OUTAGE_AT && failing() {
            *failing_at = Some(t0.elapsed() - OUTAGE_AT);
        }
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn healthy_tenants_keep_their_turns_among_2000_hanging_ones() {
    let counts = Switch::new(OK);
    let steady = Switch::sharing_counts(OK, &counts);
    let victim = Switch::sharing_counts(OK, &counts);
    let late = Switch::sharing_counts(OK, &counts);
    let t0 = Instant::now();
    let engine = Engine::builder()
        .without_heartbeat()
        .jitter_seed(SEED)
        .tenant("steady", vec![CheckSpec::readiness("db", steady.clone())])
        .tenant("victim", vec![CheckSpec::readiness("db", victim.clone())])
        .build()
        .expect("valid");
    let recovering = Switch::sharing_counts(HANG, &counts);
    for i in 0..HANGING {
        let hang = if i == HANGING / 2 {
            recovering.clone()
        } else {
            Switch::sharing_counts(HANG, &counts)
        };
        engine
            .add_tenant(&format!("hang-{i}"), vec![CheckSpec::readiness("db", hang)])
            .expect("added");
    }
    let mut failing_at = None;
    let failing = || {
        engine
            .tenant("victim")
            .and_then(|t| {
                t.snapshot()
                    .check("db")
                    .map(|c| c.status() == Status::Failing)
            })
            .unwrap_or(false)
    };
    run_until(t0, LATE_AT, failing, &mut failing_at).await;
    let added = Instant::now();
    engine
        .add_tenant("late", vec![CheckSpec::readiness("db", late.clone())])
        .expect("added");
    run_until(t0, OUTAGE_AT, failing, &mut failing_at).await;
    victim.set(FAIL);
    recovering.set(OK);
    run_until(t0, RUN_FOR, failing, &mut failing_at).await;
    let (steady_starts, victim_starts, peak) = (steady.starts(), victim.starts(), counts.peak());
    until_recovered(t0, &recovering).await;
    let after_outage = |s: &[Instant]| {
        s.iter()
            .find(|&&i| i - t0 >= OUTAGE_AT)
            .map(|&i| i - t0 - OUTAGE_AT)
    };
    let f = Figures {
        runs: steady_starts.len(),
        worst_gap: worst_gap(&steady_starts),
        late_first_run: late.starts().first().map(|&s| s - added),
        outage_first_failed_run: after_outage(&victim_starts),
        outage_failing: failing_at,
        peak,
        hanging_runs: recovering
            .starts()
            .iter()
            .filter(|&&i| i - t0 < OUTAGE_AT)
            .count(),
        recovery_seen: after_outage(&recovering.starts()),
    };
    f.print("tenants (2,000 hanging, max_tenant_in_flight 64)");
    f.check();
    assert_eq!(engine.tenant_ready("steady"), Some(true));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn healthy_instance_checks_keep_their_turns_among_2000_hanging_ones() {
    let counts = Switch::new(OK);
    let steady = Switch::sharing_counts(OK, &counts);
    let victim = Switch::sharing_counts(OK, &counts);
    let t0 = Instant::now();
    let mut b = Engine::builder()
        .jitter_seed(SEED)
        .check(CheckSpec::readiness("steady", steady.clone()))
        .check(CheckSpec::readiness("victim", victim.clone()));
    let recovering = Switch::sharing_counts(HANG, &counts);
    for i in 0..HANGING {
        let hang = if i == HANGING / 2 {
            recovering.clone()
        } else {
            Switch::sharing_counts(HANG, &counts)
        };
        b = b.check(CheckSpec::readiness(format!("hang-{i}"), hang).critical(false));
    }
    let engine = b.build().expect("valid");
    let mut failing_at = None;
    let failing = || {
        engine
            .snapshot()
            .check("victim")
            .is_some_and(|c| c.status() == Status::Failing)
    };
    run_until(t0, OUTAGE_AT, failing, &mut failing_at).await;
    victim.set(FAIL);
    recovering.set(OK);
    run_until(t0, RUN_FOR, failing, &mut failing_at).await;
    let (steady_starts, victim_starts, peak) = (steady.starts(), victim.starts(), counts.peak());
    until_recovered(t0, &recovering).await;
    let after_outage = |s: &[Instant]| {
        s.iter()
            .find(|&&i| i - t0 >= OUTAGE_AT)
            .map(|&i| i - t0 - OUTAGE_AT)
    };
    let f = Figures {
        runs: steady_starts.len(),
        worst_gap: worst_gap(&steady_starts),
        late_first_run: None,
        outage_first_failed_run: after_outage(&victim_starts),
        outage_failing: failing_at,
        peak,
        hanging_runs: recovering
            .starts()
            .iter()
            .filter(|&&i| i - t0 < OUTAGE_AT)
            .count(),
        recovery_seen: after_outage(&recovering.starts()),
    };
    f.print("instance checks (2,000 hanging, max_in_flight 64)");
    f.check();
    assert!(engine.is_live(), "the heartbeat never queues");
}

/// Periods count from a run's start, as the kubelet's probes do: a dependency that stops
/// answering (every run times out) turns the instance not ready within
/// `period x failure_threshold + timeout` of the moment it hung, not `(period + timeout) x
/// failure_threshold` (issue 22: a SIGSTOPped database took 5.7 s against a 4 s bound).
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_hung_dependency_is_seen_within_period_times_threshold_plus_timeout() {
    let db = Switch::new(OK);
    let engine = Engine::builder()
        .without_heartbeat()
        .check(
            CheckSpec::readiness("db", db.clone())
                .period(Duration::from_secs(1))
                .timeout(Duration::from_secs(1))
                .jitter(Duration::ZERO)
                .failure_threshold(3),
        )
        .build()
        .expect("valid");
    settle().await;
    assert!(engine.is_ready());
    advance(Duration::from_millis(500)).await;
    db.set(HANG);
    let hung = Instant::now();
    advance(Duration::from_secs(4)).await;
    assert!(
        !engine.is_ready(),
        "not ready within 1 s x 3 + 1 s of the hang ({:?} later)",
        hung.elapsed()
    );
    let starts = db.starts();
    let gaps: Vec<Duration> = starts.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps.iter().all(|g| *g == Duration::from_secs(1)),
        "a run every period, from start to start: {gaps:?}"
    );
}
