//! The fault injector on tokio's paused clock: faults, plans, seeds, the handle, and a real
//! engine driven by an injector. No test sleeps for real.
#![cfg(feature = "chaos")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::{dep, engine_with, jump, settle, state};
use readiness_core::{Check, CheckFailure, CheckFuture, Status};
use readiness_testkit::{
    DEFAULT_FAILURE_REASON, Fault, FaultInjector, FaultPlan, PlanError, SeedError, parse_seed,
};
use tokio::time::Instant;

/// A real check that counts its runs and fails with its own reason.
#[derive(Clone, Default)]
struct Counting {
    runs: Arc<AtomicU64>,
}

impl Counting {
    fn runs(&self) -> u64 {
        self.runs.load(Ordering::SeqCst)
    }
}

impl Check for Counting {
    fn check(&self) -> CheckFuture<'_> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Err(CheckFailure::new("inner says no")) })
    }
}

fn fail(reason: &'static str) -> Fault {
    Fault::fail(reason)
}

fn injected() -> Fault {
    Fault::fail(DEFAULT_FAILURE_REASON)
}

fn first(plan: &FaultPlan, n: usize) -> Vec<Fault> {
    plan.faults().take(n).collect()
}

/// Failing runs as a string of `x` (fail) and `.` (pass), for compact comparisons.
fn pattern(plan: &FaultPlan, n: usize) -> String {
    plan.faults()
        .take(n)
        .map(|f| if f == Fault::Pass { '.' } else { 'x' })
        .collect()
}

// ---- each fault does what it says -------------------------------------------------------

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn pass_passes_and_fail_fails_with_its_reason() {
    let check = FaultInjector::standalone(FaultPlan::new().then(Fault::Pass).then(fail("boom")));
    let start = Instant::now();
    assert_eq!(check.check().await, Ok(()));
    assert_eq!(check.check().await, Err(CheckFailure::new("boom")));
    assert_eq!(start.elapsed(), Duration::ZERO, "neither waits");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn hang_never_completes() {
    let check = FaultInjector::standalone(FaultPlan::always(Fault::Hang));
    let start = Instant::now();
    let outcome = tokio::time::timeout(Duration::from_secs(86_400), check.check()).await;
    assert!(outcome.is_err(), "a hang outlives a day-long timeout");
    assert_eq!(start.elapsed(), Duration::from_secs(86_400));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn delay_waits_on_the_paused_clock_then_passes() {
    let check = FaultInjector::standalone(FaultPlan::always(Fault::Delay(Duration::from_secs(5))));
    let early = tokio::time::timeout(Duration::from_millis(4_999), check.check()).await;
    assert!(early.is_err(), "not done before its delay");

    let start = Instant::now();
    assert_eq!(check.check().await, Ok(()));
    assert_eq!(start.elapsed(), Duration::from_secs(5), "exactly its delay");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn panic_panics_with_its_message_when_polled() {
    let check = Arc::new(FaultInjector::standalone(FaultPlan::always(Fault::panic(
        "pool poisoned",
    ))));
    let handle = check.handle();
    let fut = check.check();
    assert_eq!(handle.runs(), 1, "the step is taken at the call");
    drop(fut); // not polled: no panic
    let task = tokio::spawn(async move { check.check().await });
    let err = task.await.expect_err("the run panicked");
    assert!(err.is_panic());
    let payload = err.into_panic();
    assert_eq!(
        payload.downcast_ref::<String>().map(String::as_str),
        Some("pool poisoned")
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_wrapped_check_runs_on_pass_and_delay_only() {
    let inner = Counting::default();
    let check = FaultInjector::wrap(
        inner.clone(),
        FaultPlan::new()
            .then(Fault::Pass)
            .then(fail("injected"))
            .then(Fault::Delay(Duration::from_secs(2)))
            .then(Fault::Hang),
    );
    let inner_says_no = Err(CheckFailure::new("inner says no"));

    assert_eq!(check.check().await, inner_says_no, "pass delegates");
    assert_eq!(inner.runs(), 1);

    assert_eq!(check.check().await, Err(CheckFailure::new("injected")));
    assert_eq!(inner.runs(), 1, "a failure replaces the inner check");

    let start = Instant::now();
    assert_eq!(check.check().await, inner_says_no, "delay, then delegate");
    assert_eq!(start.elapsed(), Duration::from_secs(2));
    assert_eq!(inner.runs(), 2);

    let hung = tokio::time::timeout(Duration::from_secs(60), check.check()).await;
    assert!(hung.is_err());
    assert_eq!(inner.runs(), 2, "a hang never calls the inner check");
}

// ---- scripted sequences -----------------------------------------------------------------

#[test]
fn a_script_plays_in_order_and_keeps_its_last_fault() {
    let plan = FaultPlan::new()
        .then(Fault::Pass)
        .then_n(fail("x"), 3)
        .then(Fault::Hang);
    assert_eq!(
        first(&plan, 8),
        [
            Fault::Pass,
            fail("x"),
            fail("x"),
            fail("x"),
            Fault::Hang,
            Fault::Hang,
            Fault::Hang,
            Fault::Hang,
        ]
    );
    assert_eq!(plan.script_len(), Some(5));
    assert_eq!(plan.fault_at(1_000_000), Fault::Hang);
}

#[test]
fn then_always_replaces_the_default_end() {
    let plan = FaultPlan::new()
        .then_n(fail("x"), 2)
        .then_always(Fault::Pass);
    assert_eq!(pattern(&plan, 6), "xx....");
    assert_eq!(plan.script_len(), None);
}

#[test]
fn an_empty_script_passes() {
    assert_eq!(pattern(&FaultPlan::new(), 4), "....");
    assert_eq!(pattern(&FaultPlan::new().looping(), 4), "....");
    assert_eq!(FaultPlan::new().script_len(), Some(0));
}

#[test]
fn repeat_plays_the_script_exactly_n_times() {
    let plan = FaultPlan::new()
        .then(Fault::Pass)
        .then_n(fail("x"), 2)
        .repeat(3);
    assert_eq!(plan.script_len(), Some(9));
    assert_eq!(
        pattern(&plan, 12),
        ".xx.xx.xxxxx",
        "then the last fault is kept"
    );

    let then_more = FaultPlan::new()
        .then(fail("x"))
        .repeat(2)
        .then_always(Fault::Pass);
    assert_eq!(pattern(&then_more, 5), "xx...");

    assert_eq!(
        FaultPlan::new().then(fail("x")).repeat(1),
        FaultPlan::new().then(fail("x")).repeat(1)
    );
    assert_eq!(
        pattern(&FaultPlan::new().then(fail("x")).repeat(1), 3),
        "xxx"
    );
    assert_eq!(
        pattern(&FaultPlan::new().then(fail("x")).repeat(0), 3),
        "...",
        "repeat(0) removes the script"
    );
}

#[test]
fn looping_cycles_forever() {
    let plan = FaultPlan::new()
        .then_n(Fault::Pass, 2)
        .then(fail("x"))
        .looping();
    assert_eq!(plan.script_len(), None);
    assert_eq!(pattern(&plan, 10), "..x..x..x.");
    // Far along, still in phase.
    assert_eq!(plan.fault_at(3 * 1_000_000 + 2), fail("x"));
    assert_eq!(plan.fault_at(3 * 1_000_000), Fault::Pass);
}

#[test]
fn always_is_endless() {
    let plan = FaultPlan::always(fail("x")).then(Fault::Pass);
    assert_eq!(
        pattern(&plan, 5),
        "xxxxx",
        "steps after an endless part never come"
    );
}

#[test]
fn flap_alternates_every_period_runs() {
    let plan = FaultPlan::flap(3).expect("valid");
    assert_eq!(pattern(&plan, 14), "...xxx...xxx..");
    assert_eq!(plan.fault_at(3), injected());
    assert_eq!(pattern(&FaultPlan::flap(1).expect("valid"), 5), ".x.x.");
    assert_eq!(FaultPlan::flap(0), Err(PlanError::ZeroPeriod));
}

// ---- seeded random plans ----------------------------------------------------------------

#[test]
fn the_same_seed_gives_the_same_faults() {
    let a = FaultPlan::random(42, 0.3).expect("valid");
    let b = FaultPlan::random(42, 0.3).expect("valid");
    assert_eq!(first(&a, 5_000), first(&b, 5_000));
    // A plan is a function of the run number: reading it out of order changes nothing.
    assert_eq!(a.fault_at(4_321), first(&b, 4_322)[4_321]);
}

#[test]
fn different_seeds_give_different_faults() {
    let patterns: Vec<String> = (0..16)
        .map(|seed| pattern(&FaultPlan::random(seed, 0.5).expect("valid"), 64))
        .collect();
    for (i, a) in patterns.iter().enumerate() {
        for b in &patterns[i + 1..] {
            assert_ne!(a, b);
        }
    }
}

#[test]
fn the_sequence_for_a_seed_is_pinned() {
    // A recorded seed must replay the same faults after an upgrade: this pins the generator.
    let plan = FaultPlan::random(42, 0.5).expect("valid");
    assert_eq!(pattern(&plan, 48), GOLDEN_SEED_42);
}

const GOLDEN_SEED_42: &str = ".xxx.xxx.x...xx.xxx.xx.xx.x..xx.xxx..xx...x.x.xx";

#[test]
fn the_failure_rate_is_respected() {
    let never = FaultPlan::random(7, 0.0).expect("valid");
    assert!(never.faults().take(10_000).all(|f| f == Fault::Pass));
    let always = FaultPlan::random(7, 1.0).expect("valid");
    assert!(always.faults().take(10_000).all(|f| f == injected()));
    let some = FaultPlan::random(7, 0.3).expect("valid");
    let failures = some
        .faults()
        .take(10_000)
        .filter(|f| *f != Fault::Pass)
        .count();
    assert!((2_700..3_300).contains(&failures), "{failures}");
}

#[test]
fn bad_failure_rates_are_errors() {
    for rate in [-0.1, 1.000_001, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let err = FaultPlan::random(1, rate).expect_err("invalid rate");
        assert!(
            matches!(err, PlanError::InvalidRate(r) if r.to_bits() == rate.to_bits()),
            "{err:?}"
        );
        assert!(err.to_string().contains("not a probability"), "{err}");
    }
}

#[test]
fn weighted_plans_are_seeded_and_skip_zero_weights() {
    let weights = || {
        [
            (Fault::Pass, 6),
            (fail("refused"), 3),
            (Fault::Hang, 0),
            (Fault::Delay(Duration::from_millis(700)), 1),
        ]
    };
    let a = FaultPlan::random_weighted(9, weights()).expect("valid");
    let b = FaultPlan::random_weighted(9, weights()).expect("valid");
    let c = FaultPlan::random_weighted(10, weights()).expect("valid");
    assert_eq!(first(&a, 2_000), first(&b, 2_000));
    assert_ne!(first(&a, 2_000), first(&c, 2_000));

    let runs = first(&a, 10_000);
    let count = |f: &Fault| runs.iter().filter(|r| *r == f).count();
    assert_eq!(count(&Fault::Hang), 0, "weight 0 is never picked");
    assert!((5_700..6_300).contains(&count(&Fault::Pass)));
    assert!((2_700..3_300).contains(&count(&fail("refused"))));
    assert!((800..1_200).contains(&count(&Fault::Delay(Duration::from_millis(700)))));

    assert_eq!(
        FaultPlan::random_weighted(1, []),
        Err(PlanError::NoWeight),
        "no fault"
    );
    assert_eq!(
        FaultPlan::random_weighted(1, [(Fault::Pass, 0), (Fault::Hang, 0)]),
        Err(PlanError::NoWeight),
        "no weight"
    );
}

#[test]
fn random_parts_compose_with_scripts() {
    let random = FaultPlan::random(5, 0.5).expect("valid");
    let plan = random.clone().then(Fault::Hang);
    assert_eq!(plan.script_len(), None);
    assert_eq!(first(&plan, 100), first(&random, 100));
}

#[test]
fn seeds_parse_from_decimal_and_hex_and_reject_the_rest() {
    assert_eq!(parse_seed("42"), Ok(42));
    assert_eq!(parse_seed(" 0x2A\n"), Ok(42));
    assert_eq!(parse_seed("0XfF"), Ok(255));
    assert_eq!(parse_seed("18446744073709551615"), Ok(u64::MAX));
    for bad in [
        "",
        "  ",
        "0x",
        "-1",
        "forty-two",
        "18446744073709551616",
        "0x1g",
        "1.5",
    ] {
        let err: SeedError = parse_seed(bad).expect_err(bad);
        assert_eq!(err.value(), bad);
        let msg = err.to_string();
        assert!(msg.starts_with("READINESS_CHAOS_SEED="), "{msg}");
        assert!(msg.contains("0x-prefixed hexadecimal u64"), "{msg}");
    }
}

// ---- the handle -------------------------------------------------------------------------

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_plan_advances_one_step_per_call() {
    let plan = FaultPlan::random(123, 0.5).expect("valid");
    let check = FaultInjector::standalone(plan.clone());
    let handle = check.handle();
    for run in 0..200 {
        assert_eq!(handle.next_fault(), plan.fault_at(run));
        let outcome = check.check().await;
        let applied = handle.last_fault().expect("ran");
        assert_eq!(applied, plan.fault_at(run));
        assert_eq!(outcome.is_ok(), applied == Fault::Pass);
    }
    assert_eq!(handle.runs(), 200);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_handle_switches_faults_at_run_time() {
    let check = FaultInjector::standalone(FaultPlan::always(Fault::Pass));
    let handle = check.handle();
    let other = handle.clone();
    assert_eq!(handle.runs(), 0);
    assert_eq!(handle.last_fault(), None);

    assert_eq!(check.check().await, Ok(()));
    other.set(fail("maintenance"));
    assert_eq!(check.check().await, Err(CheckFailure::new("maintenance")));
    assert_eq!(check.check().await, Err(CheckFailure::new("maintenance")));
    assert_eq!(handle.last_fault(), Some(fail("maintenance")));

    // A new plan starts at its own first step; the run count carries on.
    handle.set_plan(FaultPlan::new().then(Fault::Pass).then(fail("again")));
    assert_eq!(handle.plan_runs(), 0);
    assert_eq!(check.check().await, Ok(()));
    assert_eq!(check.check().await, Err(CheckFailure::new("again")));
    assert_eq!(handle.plan_runs(), 2);
    assert_eq!(handle.runs(), 5);
    assert_eq!(other.runs(), 5, "clones see the same injector");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_run_in_flight_keeps_its_fault_when_the_plan_changes() {
    let check = FaultInjector::standalone(FaultPlan::always(Fault::Delay(Duration::from_secs(1))));
    let handle = check.handle();
    let in_flight = check.check();
    handle.set(fail("later"));
    assert_eq!(in_flight.await, Ok(()));
    assert_eq!(check.check().await, Err(CheckFailure::new("later")));
}

// ---- a real engine ----------------------------------------------------------------------

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_engine_goes_down_on_fail_and_back_on_pass() {
    let (spec, handle) = dep("db", FaultPlan::always(Fault::Pass));
    let engine = engine_with([spec.failure_threshold(1)]);
    settle().await;
    assert!(engine.is_ready());

    handle.set(fail("connection refused"));
    jump(Duration::from_secs(1)).await;
    assert!(!engine.is_ready());
    assert_eq!(
        state(&engine, "db"),
        (Status::Failing, Some("connection refused".into()))
    );

    handle.set(Fault::Pass);
    jump(Duration::from_secs(1)).await;
    assert!(engine.is_ready());

    handle.set(Fault::Hang);
    jump(Duration::from_secs(1)).await;
    jump(Duration::from_millis(200)).await;
    assert!(!engine.is_ready());
    assert_eq!(
        state(&engine, "db").1.as_deref(),
        Some("timed out after 200ms")
    );

    // The engine sleeps a period after a run ends: the next run starts at 3.2 + 1 s.
    handle.set(Fault::panic("pool poisoned"));
    jump(Duration::from_secs(1)).await;
    assert_eq!(
        state(&engine, "db").1.as_deref(),
        Some("panicked: pool poisoned")
    );
    assert!(
        engine.is_live(),
        "faults in a readiness check never touch liveness"
    );

    handle.set(Fault::Delay(Duration::from_millis(150)));
    jump(Duration::from_secs(1)).await;
    assert!(!engine.is_ready(), "still waiting on the delayed run");
    jump(Duration::from_millis(150)).await;
    assert!(engine.is_ready(), "a delay under the timeout is a pass");

    assert_eq!(engine.runs_started("db"), Some(handle.runs()));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_engine_follows_a_script_through_its_thresholds() {
    // Up, three failures (the threshold), then up for good.
    let plan = FaultPlan::new()
        .then(Fault::Pass)
        .then_n(fail("down"), 3)
        .then_always(Fault::Pass);
    let (spec, handle) = dep("db", plan);
    let engine = engine_with([spec.failure_threshold(3)]);
    let mut ready = vec![];
    settle().await;
    ready.push(engine.is_ready());
    for _ in 0..5 {
        jump(Duration::from_secs(1)).await;
        ready.push(engine.is_ready());
    }
    assert_eq!(ready, [true, true, true, false, true, true]);
    assert_eq!(handle.runs(), 6);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_engine_under_a_flapping_dependency_stays_ready_below_the_threshold() {
    let (spec, handle) = dep("db", FaultPlan::flap(2).expect("valid"));
    let engine = engine_with([spec.failure_threshold(3)]);
    let mut rx = engine.subscribe();
    settle().await;
    rx.borrow_and_update();
    for _ in 0..40 {
        jump(Duration::from_secs(1)).await;
        assert!(engine.is_ready(), "two failures in a row never reach 3");
    }
    assert!(!rx.has_changed().expect("engine alive"), "no transition");
    assert_eq!(handle.runs(), 41);
}
