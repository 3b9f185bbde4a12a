//! Per-instance jitter (issue 12, item 3): pods started together spread their checks.

mod common;

use std::time::Duration;

use common::*;
use readiness_core::{CheckSpec, Engine};
use tokio::time::Instant;

fn engine(check: &Switch, seed: Option<u64>) -> Engine {
    let mut b = Engine::builder().without_heartbeat().check(
        CheckSpec::readiness("db", check.clone())
            .period(Duration::from_secs(10))
            .jitter(Duration::from_secs(5)),
    );
    if let Some(seed) = seed {
        b = b.jitter_seed(seed);
    }
    b.build().expect("valid")
}

fn offsets(t0: Instant, s: &Switch) -> Vec<Duration> {
    s.starts().iter().map(|&i| i - t0).collect()
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn two_engines_built_at_the_same_instant_diverge_from_the_second_run_on() {
    let (a, b) = (Switch::new(OK), Switch::new(OK));
    let t0 = Instant::now();
    let _ea = engine(&a, None);
    let _eb = engine(&b, None);
    advance(Duration::from_secs(80)).await;
    let (sa, sb) = (offsets(t0, &a), offsets(t0, &b));
    assert!(sa.len() >= 6 && sb.len() >= 6, "{sa:?} {sb:?}");
    assert_eq!(sa[0], Duration::ZERO, "the first run is not delayed");
    assert_eq!(sb[0], Duration::ZERO, "the first run is not delayed");
    assert_ne!(
        sa[1..6],
        sb[1..6],
        "seeded from the OS: the two instances run at different times"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_given_seed_repeats_its_schedule() {
    let (a, b, c) = (Switch::new(OK), Switch::new(OK), Switch::new(OK));
    let t0 = Instant::now();
    let _ea = engine(&a, Some(7));
    let _eb = engine(&b, Some(7));
    let _ec = engine(&c, Some(8));
    advance(Duration::from_secs(80)).await;
    let (sa, sb, sc) = (offsets(t0, &a), offsets(t0, &b), offsets(t0, &c));
    assert_eq!(sa, sb, "the same seed, the same schedule");
    assert_ne!(sa[1..6], sc[1..6], "another seed, another schedule");
    for w in sa.windows(2) {
        let gap = w[1] - w[0];
        assert!(
            gap >= Duration::from_secs(10) && gap <= Duration::from_secs(15),
            "period + at most the jitter: {gap:?}"
        );
    }
}
