//! Behaviour of the engine as a user sees it, on tokio's paused clock.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use readiness_core::{
    CheckFailure, CheckSpec, ConfigProblem, Engine, Kind, NameError, Status, check_fn,
};

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn every_validation_problem_is_reported_at_once() {
    let ok = Switch::new(OK);
    let err = Engine::builder()
        .check(spec("Bad_Name", &ok))
        .check(spec("db", &ok))
        .check(spec("db", &ok))
        .check(spec("tenants", &ok))
        .check(spec("", &ok))
        .check(spec(&"a".repeat(64), &ok))
        .check(spec("-edge", &ok))
        .check(
            spec("zero", &ok)
                .period(Duration::ZERO)
                .timeout(Duration::ZERO),
        )
        .check(
            spec("thresholds", &ok)
                .failure_threshold(0)
                .success_threshold(0),
        )
        .check(CheckSpec::liveness("live", ok.clone()).success_threshold(2))
        .max_in_flight(0)
        .build()
        .expect_err("configuration is invalid");
    let p = err.problems();
    let has = |want: &dyn Fn(&ConfigProblem) -> bool| p.iter().any(want);
    assert!(has(
        &|x| matches!(x, ConfigProblem::InvalidName { name, error: NameError::BadCharacters, .. } if name == "Bad_Name")
    ));
    assert!(has(
        &|x| matches!(x, ConfigProblem::Duplicate { name, .. } if name == "db")
    ));
    assert!(has(
        &|x| matches!(x, ConfigProblem::ReservedName { name, .. } if name == "tenants")
    ));
    assert!(has(&|x| matches!(
        x,
        ConfigProblem::InvalidName {
            error: NameError::Empty,
            ..
        }
    )));
    assert!(has(&|x| matches!(
        x,
        ConfigProblem::InvalidName {
            error: NameError::TooLong(64),
            ..
        }
    )));
    assert!(has(
        &|x| matches!(x, ConfigProblem::InvalidName { name, .. } if name == "-edge")
    ));
    assert!(has(
        &|x| matches!(x, ConfigProblem::Zero { name, option: "period" } if name == "zero")
    ));
    assert!(has(
        &|x| matches!(x, ConfigProblem::Zero { name, option: "timeout" } if name == "zero")
    ));
    assert!(has(&|x| matches!(
        x,
        ConfigProblem::Zero {
            option: "failure_threshold",
            ..
        }
    )));
    assert!(has(&|x| matches!(
        x,
        ConfigProblem::Zero {
            option: "success_threshold",
            ..
        }
    )));
    assert!(has(&|x| matches!(
        x,
        ConfigProblem::SuccessThresholdNotOne {
            kind: Kind::Liveness,
            ..
        }
    )));
    assert!(has(&|x| matches!(
        x,
        ConfigProblem::ZeroLimit {
            option: "max_in_flight"
        }
    )));
    assert_eq!(p.len(), 12, "{err}");
    let msg = err.to_string();
    assert!(msg.contains("\"Bad_Name\""), "{msg}");
    assert!(msg.contains("registered twice"), "{msg}");
}

#[test]
fn building_outside_a_runtime_is_an_error_not_a_panic() {
    let err = Engine::builder().build().expect_err("no runtime");
    assert_eq!(err.problems(), &[ConfigProblem::NoRuntime]);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn pending_then_ready() {
    let db = Switch::new(OK);
    let engine = engine_with([spec("db", &db).initial_delay(Duration::from_secs(5))]);
    let snap = engine.snapshot();
    assert!(!snap.is_ready(), "fail closed before the first result");
    assert_eq!(snap.check("db").map(|c| c.status()), Some(Status::Pending));
    assert_eq!(snap.check("db").and_then(|c| c.reason()), Some("pending"));
    assert!(!engine.is_started());
    jump(Duration::from_secs(4)).await;
    assert!(!engine.is_ready());
    jump(Duration::from_secs(1)).await;
    assert!(engine.is_ready());
    assert!(engine.is_started());
    assert_eq!(db.runs(), 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn failure_threshold_gives_hysteresis() {
    let db = Switch::new(OK);
    let engine = ready_engine([spec("db", &db).failure_threshold(3)]).await;
    db.set(FAIL);
    jump(Duration::from_secs(1)).await;
    jump(Duration::from_secs(1)).await;
    assert!(
        engine.is_ready(),
        "two failures stay under the threshold of 3"
    );
    jump(Duration::from_secs(1)).await;
    assert!(
        !engine.is_ready(),
        "the third consecutive failure flips readiness"
    );
    assert_eq!(state(&engine, "db"), failing("connection refused"));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn flapping_under_the_threshold_never_transitions() {
    let db = Switch::new(OK);
    let engine = engine_with([spec("db", &db).failure_threshold(3)]);
    settle().await;
    let mut rx = engine.subscribe();
    rx.borrow_and_update();
    for i in 0..20 {
        db.set(if i % 2 == 0 { FAIL } else { OK });
        jump(Duration::from_secs(1)).await;
        assert!(engine.is_ready());
    }
    assert!(!rx.has_changed().expect("engine alive"));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn success_threshold_gives_hysteresis() {
    let db = Switch::new(FAIL);
    let engine = engine_with([spec("db", &db).success_threshold(2)]);
    settle().await;
    assert_eq!(
        engine.snapshot().check("db").map(|c| c.status()),
        Some(Status::Failing),
        "a failure while pending shows at once"
    );
    db.set(OK);
    jump(Duration::from_secs(1)).await;
    assert!(
        !engine.is_ready(),
        "one success is under the threshold of 2"
    );
    jump(Duration::from_secs(1)).await;
    assert!(engine.is_ready());
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_timeout_is_a_failure_with_a_reason() {
    let db = Switch::new(HANG);
    let engine = engine_with([spec("db", &db)]);
    jump(Duration::from_millis(250)).await;
    assert_eq!(state(&engine, "db"), failing("timed out after 200ms"));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_panicking_check_is_isolated() {
    let bomb = Switch::new(PANIC_IN_POLL);
    let db = Switch::new(OK);
    let engine = engine_with([spec("bomb", &bomb).critical(false), spec("db", &db)]);
    for _ in 0..3 {
        jump(Duration::from_secs(1)).await;
    }
    assert_eq!(state(&engine, "bomb"), failing("panicked: poll exploded"));
    assert!(
        bomb.runs() >= 3,
        "the engine keeps running a panicking check"
    );
    assert!(
        engine.is_ready(),
        "a non-critical panic does not flip readiness"
    );
    assert!(engine.is_live());
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_non_critical_failure_is_reported_but_keeps_readiness() {
    let search = Switch::new(FAIL);
    let db = Switch::new(OK);
    let engine = ready_engine([spec("search", &search).critical(false), spec("db", &db)]).await;
    let snap = engine.snapshot();
    let c = snap.check("search").expect("registered");
    assert!(!c.is_critical());
    assert_eq!(c.status(), Status::Failing);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn liveness_is_untouched_by_readiness_failures() {
    let db = Switch::new(FAIL);
    let engine = engine_with([spec("db", &db).failure_threshold(1)]);
    for _ in 0..5 {
        jump(Duration::from_secs(1)).await;
        assert!(engine.is_live());
        assert!(!engine.is_ready());
    }
    let snap = engine.snapshot();
    let heartbeat = snap.check("heartbeat").expect("built in");
    assert_eq!(heartbeat.kind(), Kind::Liveness);
    assert_eq!(heartbeat.status(), Status::Passing);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_failing_liveness_check_turns_the_instance_not_live() {
    let local = Switch::new(FAIL);
    let engine = engine_with([CheckSpec::liveness("deadlock", local.clone())
        .jitter(Duration::ZERO)
        .failure_threshold(1)]);
    settle().await;
    assert!(!engine.is_live());
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn startup_latches() {
    let warm = Switch::new(FAIL);
    let db = Switch::new(OK);
    let engine = engine_with([
        CheckSpec::startup("warm-cache", warm.clone())
            .period(Duration::from_secs(1))
            .jitter(Duration::ZERO)
            .failure_threshold(1),
        spec("db", &db).failure_threshold(1),
    ]);
    settle().await;
    assert!(!engine.is_started());
    assert!(!engine.is_ready(), "not ready before started");
    warm.set(OK);
    jump(Duration::from_secs(1)).await;
    assert!(engine.is_started());
    assert!(engine.is_ready());
    warm.set(FAIL);
    db.set(FAIL);
    jump(Duration::from_secs(1)).await;
    assert!(!engine.is_ready());
    assert!(engine.is_started(), "started stays true for good");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn drain_turns_readiness_off_for_good_and_keeps_liveness() {
    let db = Switch::new(OK);
    let engine = ready_engine([spec("db", &db)]).await;
    let mut rx = engine.subscribe();
    engine.drain();
    engine.drain();
    assert!(!engine.is_ready());
    assert!(engine.is_live());
    assert!(engine.snapshot().is_draining());
    assert!(rx.has_changed().expect("alive"));
    assert!(!rx.borrow_and_update().ready);
    for _ in 0..3 {
        jump(Duration::from_secs(1)).await;
        assert!(!engine.is_ready(), "never ready again");
        assert!(engine.is_live());
    }
    assert!(db.runs() >= 3, "checks keep running while draining");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn close_ends_the_drain_and_wakes_every_waiter() {
    let db = Switch::new(OK);
    let engine = engine_with([spec("db", &db)]);
    settle().await;
    let waiter = tokio::spawn(engine.closed());
    settle().await;
    assert!(!waiter.is_finished(), "open until closed");
    assert!(!engine.is_closed());
    engine.close();
    settle().await;
    assert!(waiter.is_finished(), "close wakes the waiter");
    assert!(engine.is_closed() && engine.is_draining() && !engine.is_ready());
    engine.closed().await; // already closed: resolves at once

    // Dropping the last handle closes too, and waiting holds no handle.
    let other = Engine::builder().build().expect("valid");
    let waiter = tokio::spawn(other.closed());
    settle().await;
    assert!(!waiter.is_finished());
    drop(other);
    settle().await;
    assert!(waiter.is_finished(), "a dropped engine is closed");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn shutdown_leaves_no_task_behind() {
    let db = Switch::new(HANG);
    let engine = engine_with([spec("db", &db)]);
    settle().await;
    // The test's handle and the engine's copy, and the hanging run.
    assert_eq!(
        (db.handles(), db.in_flight()),
        (2, 1),
        "one run is in flight"
    );
    engine.shutdown().await;
    assert_eq!(
        (db.handles(), db.in_flight()),
        (2, 0),
        "every task ended, the run with it"
    );
    assert!(!engine.is_ready());
    let runs = db.runs();
    jump(Duration::from_secs(10)).await;
    assert_eq!(db.runs(), runs, "nothing runs after shutdown");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn dropping_the_last_handle_stops_the_tasks() {
    let db = Switch::new(OK);
    let engine = engine_with([spec("db", &db)]);
    let clone = engine.clone();
    settle().await;
    drop(engine);
    settle().await;
    assert!(db.handles() > 1, "a clone keeps the engine running");
    drop(clone);
    settle().await;
    assert_eq!(db.handles(), 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn in_flight_runs_are_bounded() {
    let fleet = Fleet::new();
    let mut builder = Engine::builder().max_in_flight(8).without_heartbeat();
    for i in 0..200 {
        builder = builder.check(
            CheckSpec::readiness(format!("dep-{i}"), fleet.check(Duration::from_millis(100)))
                .period(Duration::from_secs(3600))
                .jitter(Duration::ZERO),
        );
    }
    let engine = builder.build().expect("valid");
    for _ in 0..30 {
        jump(Duration::from_millis(100)).await;
    }
    assert_eq!(fleet.done(), 200, "every check ran once");
    assert_eq!(fleet.peak(), 8, "never more than 8 at once");
    assert!(engine.is_ready());
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn concurrent_refreshes_share_one_run_per_check() {
    let runs = Arc::new(AtomicUsize::new(0));
    let r = runs.clone();
    let engine = Engine::builder()
        .without_heartbeat()
        .check(
            CheckSpec::readiness(
                "slow",
                check_fn(move || {
                    r.fetch_add(1, Ordering::SeqCst);
                    async {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok::<(), CheckFailure>(())
                    }
                }),
            )
            .period(Duration::from_secs(3600))
            .jitter(Duration::ZERO),
        )
        .build()
        .expect("valid");
    jump(Duration::from_millis(60)).await;
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the scheduled first run");
    let refreshes: Vec<_> = (0..10)
        .map(|_| async { engine.refresh().await.expect("running") })
        .collect();
    futures_join_all(refreshes).await;
    assert_eq!(
        runs.load(Ordering::SeqCst),
        2,
        "ten concurrent refreshes, one run"
    );
    engine.refresh().await.expect("running");
    assert_eq!(runs.load(Ordering::SeqCst), 3, "a later refresh runs again");
    assert_eq!(engine.runs_started("slow"), Some(3));
    assert_eq!(engine.runs_started("nope"), None);
}

async fn futures_join_all<F: std::future::Future<Output = ()>>(futs: Vec<F>) {
    let mut set = Vec::new();
    for f in futs {
        set.push(Box::pin(f));
    }
    // Poll all together so the callers are concurrent.
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for f in set.iter_mut() {
            if f.as_mut().poll(cx).is_pending() {
                pending = true;
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn subscribers_see_each_transition_once() {
    let db = Switch::new(OK);
    let engine = engine_with([spec("db", &db).failure_threshold(1)]);
    let mut rx = engine.subscribe();
    let mut seen = Vec::new();
    for mode in [OK, OK, FAIL, FAIL, OK] {
        db.set(mode);
        jump(Duration::from_secs(1)).await;
        if rx.has_changed().expect("alive") {
            seen.push(rx.borrow_and_update().ready);
        }
    }
    assert_eq!(seen, vec![true, false, true]);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_liveness_check_waits_for_its_threshold_even_from_pending() {
    let local = Switch::new(FAIL);
    let engine = engine_with([CheckSpec::liveness("deadlock", local.clone())
        .period(Duration::from_secs(1))
        .jitter(Duration::ZERO)
        .failure_threshold(3)]);
    settle().await;
    assert!(engine.is_live(), "one failure is under the threshold");
    jump(Duration::from_secs(1)).await;
    assert!(engine.is_live());
    jump(Duration::from_secs(1)).await;
    assert!(!engine.is_live(), "the third failure restarts");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_longest_period_and_jitter_do_not_panic() {
    let db = Switch::new(OK);
    let engine = engine_with([CheckSpec::readiness("once", db.clone())
        .period(Duration::MAX)
        .jitter(Duration::MAX)]);
    for _ in 0..3 {
        jump(Duration::from_secs(3600)).await;
    }
    assert!(engine.is_ready());
    assert_eq!(db.runs(), 1, "ran once, and its task is still alive");
    engine.refresh().await.expect("running");
    assert_eq!(db.runs(), 2);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_default_success_threshold_applies_to_readiness_checks_only() {
    let db = Switch::new(OK);
    let engine = Engine::builder()
        .defaults(readiness_core::Defaults {
            success_threshold: 2,
            ..readiness_core::Defaults::default()
        })
        .check(spec("db", &db))
        .build()
        .expect("the heartbeat keeps its threshold of 1");
    settle().await;
    assert!(!engine.is_ready(), "one success is under the default of 2");
    assert!(engine.is_live());
    jump(Duration::from_secs(1)).await;
    assert!(engine.is_ready());
}
