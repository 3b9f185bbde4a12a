//! Supervision and staleness (issue 12, item 1): a run that dies for any reason is restarted
//! with back-off and recorded as a failure, and a result that is too old fails closed.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use readiness_core::{Engine, Status};

/// Counts the `tracing` events whose message contains a word.
#[derive(Clone, Default)]
struct Events(Arc<Mutex<Vec<String>>>);

impl Events {
    fn containing(&self, word: &str) -> usize {
        self.0
            .lock()
            .expect("events")
            .iter()
            .filter(|m| m.contains(word))
            .count()
    }
}

struct Message<'a>(&'a mut String);

impl tracing::field::Visit for Message<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write;
        let _ = write!(self.0, "{}={:?} ", field.name(), value);
    }
}

impl tracing::Subscriber for Events {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut line = format!("{} ", event.metadata().level());
        event.record(&mut Message(&mut line));
        self.0.lock().expect("events").push(line);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_run_that_panics_when_dropped_at_its_timeout_is_restarted_and_fails_closed() {
    let events = Events::default();
    let _log = tracing::subscriber::set_default(events.clone());
    let db = Switch::new(OK);
    let engine = ready_engine([spec("db", &db)]).await;
    db.set(HANG_PANIC_ON_DROP);
    advance(Duration::from_secs(30)).await;
    let snap = engine.snapshot();
    let c = snap.check("db").expect("registered");
    assert_eq!(c.status(), Status::Failing, "{:?}", c.reason());
    assert!(
        c.reason().is_some_and(|r| r.contains("guard exploded")),
        "{:?}",
        c.reason()
    );
    assert!(
        !engine.is_ready(),
        "a dying check never leaves readiness on"
    );
    let runs = db.runs();
    assert!(
        (6..=12).contains(&runs),
        "restarted after each death, with back-off: {runs} runs in 30 s"
    );
    let restarts = events.containing("restart");
    assert_eq!(restarts, runs - 1, "logged once per restart");
    db.set(OK);
    advance(Duration::from_secs(70)).await;
    assert!(engine.is_ready(), "recovers once the dependency does");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn restarts_back_off_instead_of_storming() {
    let db = Switch::new(HANG_PANIC_ON_DROP);
    let _engine = engine_with([spec("db", &db)]);
    advance(Duration::from_secs(120)).await;
    let starts = db.starts();
    assert!(
        starts.len() >= 5,
        "it keeps being restarted: {}",
        starts.len()
    );
    let gaps: Vec<Duration> = starts.windows(2).map(|w| w[1] - w[0]).collect();
    for w in gaps.windows(2).take(4) {
        assert!(w[1] > w[0], "each restart waits longer: {gaps:?}");
    }
    assert!(
        gaps.iter().all(|g| *g <= Duration::from_secs(61)),
        "the back-off is capped: {gaps:?}"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_panic_inside_check_or_its_poll_is_a_failure_and_the_check_keeps_running() {
    for (mode, reason) in [
        (PANIC_IN_CHECK, "panicked: check() exploded"),
        (PANIC_IN_POLL, "panicked: poll exploded"),
    ] {
        let db = Switch::new(OK);
        let engine = ready_engine([spec("db", &db).failure_threshold(1)]).await;
        db.set(mode);
        advance(Duration::from_secs(10)).await;
        assert_eq!(state(&engine, "db"), failing(reason));
        assert!(db.runs() >= 10, "runs on its period: {}", db.runs());
        db.set(OK);
        advance(Duration::from_secs(1)).await;
        assert!(engine.is_ready());
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_panic_in_the_record_path_is_survived_and_results_still_land() {
    let events = Events::default();
    let _log = tracing::subscriber::set_default(events.clone());
    let rec = LogRecorder::install();
    let db = Switch::new(OK);
    let engine = ready_engine([spec("db", &db).failure_threshold(1)]).await;
    rec.panic_on_write(true);
    advance(Duration::from_secs(5)).await;
    rec.panic_on_write(false);
    let before = db.runs();
    db.set(FAIL);
    advance(Duration::from_secs(40)).await;
    assert!(
        db.runs() > before,
        "the check runs again after its run died"
    );
    assert_eq!(state(&engine, "db"), failing("connection refused"));
    assert!(!engine.is_ready());
    assert!(events.containing("restart") >= 1, "each death is logged");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_result_older_than_period_timeout_and_margin_is_stale_everywhere() {
    let rec = LogRecorder::install();
    let db = Switch::new(OK);
    let slow = Switch::new(HANG);
    // One permit: `slow`'s first run holds it for 30 s, so `db` gets no result meanwhile.
    let engine = Engine::builder()
        .without_heartbeat()
        .max_in_flight(1)
        .check(spec("db", &db))
        .check(
            spec("slow", &slow)
                .critical(false)
                .timeout(Duration::from_secs(30))
                .period(Duration::from_secs(3600)),
        )
        .build()
        .expect("valid");
    settle().await;
    assert!(engine.is_ready());
    advance(Duration::from_secs(2)).await;
    assert!(
        engine.is_ready(),
        "2 s old: within period + timeout + margin"
    );
    advance(Duration::from_millis(500)).await;
    assert!(!engine.is_ready(), "stale: fail closed");
    assert_eq!(state(&engine, "db"), failing("stale: no result for 2s"));
    let state = rec.writes_to(readiness_core::metrics::CHECK_STATE);
    let last = state
        .iter()
        .rev()
        .find(|w| w.label("check") == Some("db"))
        .expect("written");
    assert_eq!(
        last.op,
        Op::Set(0.0),
        "readiness_check_state{{check=db}} reads 0"
    );
    let log = engine.auditor().log();
    assert!(
        log.iter().any(|e| e.check.as_deref() == Some("db")
            && e.to == "failing"
            && e.reason.as_deref() == Some("stale: no result for 2s")),
        "{log:?}"
    );
    advance(Duration::from_secs(30)).await;
    assert!(engine.is_ready(), "a fresh result brings it back");
}
