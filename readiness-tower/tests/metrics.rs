//! Metrics as a scrape sees them: exact names, series from the start, one count per
//! transition whatever the probe rate, and reloads that lose nothing.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use bytes::Bytes;
use common::{assert_values, engine_on, jump};
use http::Request;
use http_body_util::Full;
use readiness_core::CheckSpec;
use readiness_core::metrics::{
    CHECK_DURATION_SECONDS, CHECK_STATE, READINESS_STATE, READINESS_TRANSITIONS_TOTAL,
};
use readiness_testkit::{Exposition, Fault, FaultInjector, FaultPlan, MetricsCapture};
use readiness_tower::ReadinessLayer;
use tower::ServiceBuilder;

fn db(plan: FaultPlan) -> (CheckSpec, readiness_testkit::FaultHandle) {
    let inj = FaultInjector::standalone(plan);
    let handle = inj.handle();
    let spec = CheckSpec::readiness("db", inj)
        .period(Duration::from_secs(1))
        .timeout(Duration::from_millis(100))
        .jitter(Duration::ZERO)
        .failure_threshold(2);
    (spec, handle)
}

fn transitions(e: &Exposition, to: &str) -> f64 {
    e.value(READINESS_TRANSITIONS_TOTAL, &[("to", to)])
        .expect("transition series exists")
}

/// The runs of `db` that ended with `outcome`, as its duration histogram counts them.
fn db_runs(e: &Exposition, outcome: &str) -> Option<f64> {
    e.value(
        "readiness_check_duration_seconds_count",
        &[("check", "db"), ("outcome", outcome)],
    )
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn every_global_series_exists_before_the_first_transition() {
    let capture = MetricsCapture::new();
    let (spec, _h) = db(FaultPlan::always(Fault::Pass));
    let _engine = engine_on(&capture, [spec.initial_delay(Duration::from_secs(60))]);
    let e = capture.exposition().expect("valid exposition");
    // Every series at 0, down to every outcome's histogram.
    let timeouts = [("check", "db"), ("outcome", "timeout")];
    assert_values(
        &e,
        &[
            (READINESS_STATE, &[], 0.0),
            (READINESS_TRANSITIONS_TOTAL, &[("to", "ready")], 0.0),
            (READINESS_TRANSITIONS_TOTAL, &[("to", "not_ready")], 0.0),
            (CHECK_STATE, &[("check", "db")], 0.0),
            ("readiness_check_duration_seconds_count", &timeouts, 0.0),
        ],
    );
    for (family, ty) in [
        (READINESS_STATE, "gauge"),
        (READINESS_TRANSITIONS_TOTAL, "counter"),
        (CHECK_STATE, "gauge"),
        (CHECK_DURATION_SECONDS, "histogram"),
    ] {
        assert!(
            e.help(family).is_some_and(|h| !h.is_empty()),
            "{family} has HELP"
        );
        assert_eq!(e.metric_type(family), Some(ty), "{family}");
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_transition_is_counted_once_whatever_the_probe_rate() {
    let capture = MetricsCapture::new();
    let (spec, handle) = db(FaultPlan::always(Fault::Pass));
    let engine = engine_on(&capture, [spec]);
    let mut svc = ServiceBuilder::new()
        .layer(ReadinessLayer::new(engine.clone()))
        .service(common::app());
    jump(Duration::ZERO).await;
    assert!(engine.is_ready());

    handle.set(Fault::fail("connection refused"));
    let mut probes = 0;
    let mut failed = 0;
    // A ten-second outage, probed 500 times a second.
    for _ in 0..10 {
        for _ in 0..500 {
            let req = Request::get("/readyz")
                .body(Full::<Bytes>::default())
                .expect("request");
            let res = common::call_ready(&mut svc, req).await;
            probes += 1;
            failed += usize::from(res.status() == 503);
        }
        jump(Duration::from_secs(1)).await;
    }
    assert_eq!(probes, 5000);
    assert!(
        failed >= 4000,
        "the outage was seen by the probes: {failed}"
    );
    handle.set(Fault::Pass);
    jump(Duration::from_secs(1)).await;
    assert!(engine.is_ready());

    let e = capture.exposition().expect("valid exposition");
    assert_eq!(transitions(&e, "not_ready"), 1.0, "one outage, one count");
    assert_eq!(transitions(&e, "ready"), 2.0, "start and recovery");
    assert_eq!(e.value(READINESS_STATE, &[]), Some(1.0));
    assert_eq!(e.value(CHECK_STATE, &[("check", "db")]), Some(1.0));
    let runs = engine.runs_started("db").expect("registered");
    assert_eq!(runs, 12, "5000 probes ran no check: one run a second");
    let count = |outcome| db_runs(&e, outcome).expect("series");
    assert_eq!(count("ok") + count("error"), runs as f64);
    assert_eq!(count("error"), 10.0);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn outcomes_are_labelled() {
    let capture = MetricsCapture::new();
    let plan = FaultPlan::new()
        .then(Fault::Pass)
        .then(Fault::fail("x"))
        .then(Fault::Hang)
        .then(Fault::panic("boom"))
        .then_always(Fault::Pass);
    let (spec, _h) = db(plan);
    let engine = engine_on(&capture, [spec]);
    for _ in 0..5 {
        engine.refresh().await.expect("the engine runs");
    }
    let e = capture.exposition().expect("valid exposition");
    for (outcome, n) in [
        ("ok", 2.0),
        ("error", 1.0),
        ("timeout", 1.0),
        ("panic", 1.0),
    ] {
        assert_eq!(db_runs(&e, outcome), Some(n), "{outcome}");
    }
    let le = |b: &str| {
        e.value(
            "readiness_check_duration_seconds_bucket",
            &[("check", "db"), ("outcome", "timeout"), ("le", b)],
        )
    };
    assert_eq!(le("0.05"), Some(0.0), "a 100 ms timeout is not under 50 ms");
    assert_eq!(
        le("0.1"),
        Some(1.0),
        "histogram, not summary: _bucket series exist"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_reload_on_the_same_recorder_duplicates_nothing_and_loses_no_count() {
    let capture = MetricsCapture::new();
    let (spec_a, handle_a) = db(FaultPlan::always(Fault::Pass));
    let old = CheckSpec::readiness(
        "old",
        FaultInjector::standalone(FaultPlan::always(Fault::Pass)),
    )
    .jitter(Duration::ZERO);
    let a = engine_on(&capture, [spec_a, old]);
    jump(Duration::ZERO).await;
    handle_a.set(Fault::fail("down"));
    for _ in 0..3 {
        jump(Duration::from_secs(1)).await;
    }
    handle_a.set(Fault::Pass);
    jump(Duration::from_secs(1)).await;
    let before = capture.exposition().expect("valid");
    assert_eq!(transitions(&before, "ready"), 2.0);
    assert_eq!(transitions(&before, "not_ready"), 1.0);
    assert_eq!(before.value(CHECK_STATE, &[("check", "old")]), Some(1.0));

    // The reload: a new engine without `old`, then the old engine dropped.
    let (spec_b, _handle_b) = db(FaultPlan::always(Fault::Pass));
    let b = engine_on(&capture, [spec_b]);
    drop(a);
    jump(Duration::ZERO).await;
    assert!(b.is_ready());

    let after = capture.exposition().expect("valid");
    let mut seen = HashSet::new();
    for s in after.samples() {
        assert!(
            seen.insert((s.name.clone(), format!("{:?}", s.labels))),
            "duplicate series {} {:?}",
            s.name,
            s.labels
        );
    }
    assert_eq!(
        transitions(&after, "ready"),
        3.0,
        "kept 2, plus the new engine's"
    );
    assert_eq!(
        transitions(&after, "not_ready"),
        1.0,
        "a reload is no drain"
    );
    assert_eq!(after.value(READINESS_STATE, &[]), Some(1.0));
    assert_eq!(after.value(CHECK_STATE, &[("check", "db")]), Some(1.0));
    assert_eq!(
        after.value(CHECK_STATE, &[("check", "old")]),
        Some(0.0),
        "a removed check's series stays, at 0"
    );
    let ok_runs = db_runs(&after, "ok").expect("series");
    let ok_before = db_runs(&before, "ok").expect("series");
    assert_eq!(
        ok_runs,
        ok_before + 1.0,
        "histogram counts carry over the reload"
    );
}
