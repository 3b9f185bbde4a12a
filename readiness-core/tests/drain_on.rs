//! `drain_on` attacked (issue 24, item 6), with plain engines and a `ReloadableEngine`: the
//! signal before the first result, during a reload (one in flight, one landing mid-delay),
//! racing `shutdown()`, two `drain_on` futures on one engine. Paused clock throughout: every
//! instant asserted is exact.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use readiness_core::metrics::{READINESS_DRAINING, READINESS_STATE};
use readiness_core::{
    BuildError, Check, CheckFailure, CheckFuture, CheckSpec, ConfigProblem, Engine, EngineBuilder,
    ReloadableEngine, Status,
};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

const DELAY: Duration = Duration::from_secs(35);

/// A check that answers after `latency`: pass or fail as switched. Counts its runs.
#[derive(Clone)]
struct Slow {
    latency: Duration,
    ok: Arc<AtomicBool>,
    runs: Arc<AtomicUsize>,
}

impl Slow {
    fn new(latency: Duration) -> Self {
        Self {
            latency,
            ok: Arc::new(AtomicBool::new(true)),
            runs: Arc::new(AtomicUsize::new(0)),
        }
    }
    fn runs(&self) -> usize {
        self.runs.load(Ordering::SeqCst)
    }
}

impl Check for Slow {
    fn check(&self) -> CheckFuture<'_> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        let (latency, ok) = (self.latency, self.ok.load(Ordering::SeqCst));
        Box::pin(async move {
            tokio::time::sleep(latency).await;
            if ok {
                Ok(())
            } else {
                Err(CheckFailure::new("connection refused"))
            }
        })
    }
}

/// One readiness check `db` answering after its latency, every second, timeout 60 s.
fn builder(db: &Slow) -> EngineBuilder {
    Engine::builder().without_heartbeat().check(
        CheckSpec::readiness("db", db.clone())
            .period(Duration::from_secs(1))
            .timeout(Duration::from_secs(60))
            .jitter(Duration::ZERO)
            .failure_threshold(1),
    )
}

/// `readiness_state` never read 1 and `readiness_draining` never 0 after the drain.
fn never_ready_after_the_drain(rec: &LogRecorder) {
    assert_eq!(counted(rec, "ready"), 0, "no transition to ready");
    assert_only_set(rec, READINESS_STATE, 0.0, "readiness_state never 1");
    assert_only_set(rec, READINESS_DRAINING, 1.0, "readiness_draining stays 1");
}

/// A `ReloadableEngine` of `builder`'s `db` answering at once, ready (its first result in).
async fn ready_reloadable() -> (ReloadableEngine, Slow) {
    let fast = Slow::new(Duration::ZERO);
    let engine = reloadable(builder(&fast));
    engine.current().refresh().await.expect("runs");
    (engine, fast)
}

/// A reload to a `db` answering after 20 s, spawned: 2 s later it still waits for that first
/// result.
async fn slow_reload_in_flight(
    engine: &ReloadableEngine,
) -> (Slow, JoinHandle<Result<(), BuildError>>) {
    let slow = Slow::new(Duration::from_secs(20));
    let reload = {
        let (engine, slow) = (engine.clone(), slow.clone());
        tokio::spawn(async move { engine.reload(builder(&slow)).await })
    };
    advance(Duration::from_secs(2)).await;
    assert!(
        !reload.is_finished(),
        "the reload waits for its first result"
    );
    (slow, reload)
}

/// Called 100 ms before the delay ends: the drain resolves then, `DELAY` after `signalled` (the
/// delay never restarted), the engine closed, never ready after the drain; then shut down.
async fn ends_at_the_delay(
    engine: &ReloadableEngine,
    shutdown: &JoinHandle<()>,
    signalled: Instant,
    rec: &LogRecorder,
) {
    advance(Duration::from_millis(100)).await;
    assert!(shutdown.is_finished(), "resolved at the delay");
    assert_eq!(signalled.elapsed(), DELAY, "DELAY after the signal");
    assert!(engine.load().is_closed());
    never_ready_after_the_drain(rec);
    engine.shutdown().await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_signal_before_the_first_result_drains_for_good_and_closes_after_the_delay() {
    let rec = LogRecorder::install();
    let db = Slow::new(Duration::from_secs(3));
    let engine = builder(&db).build().expect("valid");
    let (sigterm, signal) = oneshot::channel::<()>();
    let shutdown = tokio::spawn(engine.drain_on(signal, DELAY));
    settle().await;
    assert!(
        engine.snapshot().check("db").expect("db").status() == Status::Pending,
        "no result yet"
    );
    rec.clear();
    sigterm.send(()).expect("waits");
    let signalled = Instant::now();
    settle().await;
    assert!(engine.is_draining() && !engine.is_ready());

    // The first result comes (it passes): the instance stays not ready.
    advance(Duration::from_secs(4)).await;
    let snap = engine.snapshot();
    assert_eq!(
        snap.check("db").expect("db").status(),
        Status::Passing,
        "a result"
    );
    assert!(!engine.is_ready() && snap.is_draining());
    advance(DELAY - Duration::from_secs(4) - Duration::from_millis(100)).await;
    assert!(!shutdown.is_finished() && !engine.is_closed());
    advance(Duration::from_millis(100)).await;
    assert!(shutdown.is_finished(), "resolved at the delay");
    assert_eq!(signalled.elapsed(), DELAY);
    assert!(engine.is_closed() && !engine.is_ready());
    never_ready_after_the_drain(&rec);
    engine.shutdown().await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_reloadable_engine_signalled_before_its_first_result_reloads_draining_at_once() {
    let rec = LogRecorder::install();
    let db = Slow::new(Duration::from_secs(3));
    let engine = reloadable(builder(&db));
    let (sigterm, signal) = oneshot::channel::<()>();
    let shutdown = tokio::spawn(engine.drain_on(signal, DELAY));
    settle().await;
    rec.clear();
    sigterm.send(()).expect("waits");
    let signalled = Instant::now();
    settle().await;
    assert!(engine.is_draining() && !engine.load().is_ready());

    // A reload while nothing has a result yet: draining, it does not wait for results.
    advance(Duration::from_secs(1)).await;
    let started = Instant::now();
    engine.reload(builder(&db)).await.expect("valid");
    assert_eq!(started.elapsed(), Duration::ZERO, "no wait while draining");
    assert!(engine.load().is_draining() && !engine.load().is_ready());
    advance(Duration::from_secs(10)).await;
    assert!(
        !engine.load().is_ready(),
        "the new engine's results change nothing"
    );
    advance(DELAY - Duration::from_secs(11) - Duration::from_millis(100)).await;
    assert!(!shutdown.is_finished());
    // The reload did not restart the delay.
    ends_at_the_delay(&engine, &shutdown, signalled, &rec).await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_signal_during_a_reload_in_flight_drains_both_engines_and_ends_the_reloads_wait() {
    let rec = LogRecorder::install();
    let (engine, _fast) = ready_reloadable().await;
    assert!(engine.load().is_ready());
    let (sigterm, signal) = oneshot::channel::<()>();
    let shutdown = tokio::spawn(engine.drain_on(signal, DELAY));

    // The new configuration's check answers after 20 s: the reload waits for it.
    let (slow, reload) = slow_reload_in_flight(&engine).await;
    assert_eq!(slow.runs(), 1, "the new engine runs");
    rec.clear();

    sigterm.send(()).expect("waits");
    let signalled = Instant::now();
    settle().await;
    assert!(
        engine.load().is_draining() && !engine.load().is_ready(),
        "503 at once"
    );
    // Nothing the reload waits for can come (a draining engine is never ready): the drain
    // ends the wait, and the new engine serves, draining.
    assert!(reload.is_finished(), "the drain ends the reload's wait");
    reload.await.expect("no panic").expect("valid");
    assert!(engine.load().snapshot().check("db").is_some());
    assert!(engine.load().is_draining());

    advance(DELAY - Duration::from_millis(100)).await;
    assert!(!shutdown.is_finished() && !engine.load().is_ready());
    ends_at_the_delay(&engine, &shutdown, signalled, &rec).await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_reload_landing_mid_delay_neither_restarts_the_delay_nor_turns_ready() {
    let rec = LogRecorder::install();
    let (engine, fast) = ready_reloadable().await;
    let (sigterm, signal) = oneshot::channel::<()>();
    let shutdown = tokio::spawn(engine.drain_on(signal, DELAY));
    sigterm.send(()).expect("waits");
    let signalled = Instant::now();
    settle().await;
    rec.clear();
    // Reloads land at 10 s, 20 s and 34.9 s into the delay.
    for at in [10_000, 20_000, 34_900] {
        tokio::time::sleep_until(signalled + Duration::from_millis(at)).await;
        engine.reload(builder(&fast)).await.expect("valid");
        assert!(engine.load().is_draining() && !engine.load().is_ready());
        assert!(!shutdown.is_finished());
    }
    // 35 s after the signal, whatever the reloads.
    ends_at_the_delay(&engine, &shutdown, signalled, &rec).await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn shutdown_racing_the_signal_resolves_the_future_at_once() {
    // The signal and shutdown() in the same instant, plain and reloadable.
    for reloadable in [false, true] {
        let fast = Slow::new(Duration::ZERO);
        let plain = builder(&fast).build().expect("valid");
        plain.refresh().await.expect("runs");
        let engine = ReloadableEngine::new(plain);
        let (sigterm, signal) = oneshot::channel::<()>();
        let shutdown = if reloadable {
            tokio::spawn(engine.drain_on(signal, DELAY))
        } else {
            tokio::spawn(engine.current().drain_on(signal, DELAY))
        };
        settle().await;
        let start = Instant::now();
        sigterm.send(()).expect("waits");
        engine.shutdown().await;
        tokio::time::timeout(Duration::from_secs(1), shutdown)
            .await
            .expect("resolved at once, not after the delay")
            .expect("no panic");
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert!(engine.load().is_closed() && engine.is_draining());
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_reload_racing_shutdown_leaves_no_engine_running() {
    // A reload in flight (its check answers after 20 s) when the server returns and the
    // application calls shutdown(): once shutdown() has returned, no check runs any more.
    let (engine, fast) = ready_reloadable().await;
    let (slow, reload) = slow_reload_in_flight(&engine).await;
    tokio::time::timeout(Duration::from_secs(1), engine.shutdown())
        .await
        .expect("shutdown does not wait for the reload's checks");
    let result = tokio::time::timeout(Duration::from_secs(1), reload)
        .await
        .expect("the reload ends with the shutdown")
        .expect("no panic");
    assert!(
        matches!(&result, Err(e) if e.problems() == [ConfigProblem::ShutDown]),
        "a reload racing shutdown is refused: {result:?}"
    );
    let (runs_fast, runs_slow) = (fast.runs(), slow.runs());
    advance(Duration::from_secs(120)).await;
    assert_eq!(
        (fast.runs(), slow.runs()),
        (runs_fast, runs_slow),
        "no check runs after shutdown()"
    );
    assert!(engine.load().is_closed());

    // And a reload after shutdown() starts nothing and says why.
    let after = Slow::new(Duration::ZERO);
    let result = engine.reload(builder(&after)).await;
    assert!(
        matches!(&result, Err(e) if e.problems() == [ConfigProblem::ShutDown]),
        "{result:?}"
    );
    advance(Duration::from_secs(10)).await;
    assert_eq!(after.runs(), 0, "the refused configuration never ran");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn two_drain_on_futures_drain_once_and_both_resolve_at_the_first_delays_end() {
    let rec = LogRecorder::install();
    let (engine, fast) = ready_reloadable().await;
    let (first_tx, first) = oneshot::channel::<()>();
    let (second_tx, second) = oneshot::channel::<()>();
    // One from the reloadable handle, one from the engine serving now, which a reload then
    // replaces: both follow the instance.
    let a = tokio::spawn(engine.drain_on(first, DELAY));
    let b = tokio::spawn(engine.current().drain_on(second, DELAY));
    engine.reload(builder(&fast)).await.expect("valid");
    rec.clear();

    first_tx.send(()).expect("waits");
    let signalled = Instant::now();
    settle().await;
    assert!(engine.is_draining());
    advance(Duration::from_secs(10)).await;
    second_tx.send(()).expect("waits");
    settle().await;
    advance(DELAY - Duration::from_secs(10) - Duration::from_millis(100)).await;
    assert!(!a.is_finished() && !b.is_finished());
    advance(Duration::from_millis(100)).await;
    assert!(
        a.is_finished() && b.is_finished(),
        "both at the first's end"
    );
    assert_eq!(signalled.elapsed(), DELAY);
    assert!(engine.load().is_closed());
    assert_eq!(counted(&rec, "not_ready"), 1, "one drain, counted once");
    assert_eq!(
        rec.writes_to(READINESS_DRAINING),
        vec![Write {
            name: READINESS_DRAINING.into(),
            labels: vec![],
            op: Op::Set(1.0)
        }],
        "readiness_draining written once"
    );
    never_ready_after_the_drain(&rec);
    engine.shutdown().await;
}

// The contract on a plain engine: nothing before the signal, the drain at once, the close
// exactly the delay later; another close, the engine dropped, a delay that never ends.

/// An engine (with its heartbeat) and one readiness check `db` that passes, on the engine's
/// default period and timeout.
fn new_engine() -> Engine {
    engine_with([CheckSpec::readiness("db", Switch::new(OK))])
}

/// A ready engine and its drain future, spawned: it drains on the signal and closes
/// `DELAY` later.
async fn draining_on_signal() -> (Engine, oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let engine = new_engine();
    engine.refresh().await.expect("the engine runs");
    let (signal, rx) = oneshot::channel::<()>();
    let shutdown = tokio::spawn(engine.drain_on(rx, DELAY));
    (engine, signal, shutdown)
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn nothing_drains_before_the_signal() {
    let (engine, _signal, shutdown) = draining_on_signal().await;
    tokio::time::sleep(Duration::from_secs(3600)).await;
    settle().await;
    assert!(engine.is_ready() && !engine.is_draining() && !engine.is_closed());
    assert!(!shutdown.is_finished());
    engine.shutdown().await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_signal_drains_at_once_and_the_future_resolves_after_exactly_the_delay() {
    let (engine, signal, shutdown) = draining_on_signal().await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(engine.is_ready());

    signal.send(()).expect("the future waits");
    let signalled = Instant::now();
    settle().await;
    assert_eq!(signalled.elapsed(), Duration::ZERO);
    assert!(engine.is_draining() && !engine.is_ready(), "503 at once");
    assert!(engine.is_live(), "liveness stays");
    assert!(!engine.is_closed(), "still serving");

    tokio::time::sleep_until(signalled + DELAY - Duration::from_millis(1)).await;
    settle().await;
    assert!(
        !shutdown.is_finished() && !engine.is_closed(),
        "not before the delay"
    );

    shutdown.await.expect("no panic");
    assert_eq!(signalled.elapsed(), DELAY, "exactly the delay");
    assert!(engine.is_closed() && !engine.is_ready());
    engine.shutdown().await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_zero_delay_closes_right_after_the_drain() {
    let engine = new_engine();
    let (signal, rx) = oneshot::channel::<()>();
    let shutdown = tokio::spawn(engine.drain_on(rx, Duration::ZERO));
    let start = Instant::now();
    signal.send(()).expect("the future waits");
    shutdown.await.expect("no panic");
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert!(engine.is_draining() && engine.is_closed());
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn closing_the_engine_another_way_resolves_it_at_once() {
    // Before the signal: no drain is waited for.
    let engine = new_engine();
    let (_signal, rx) = oneshot::channel::<()>();
    let shutdown = tokio::spawn(engine.drain_on(rx, DELAY));
    let start = Instant::now();
    engine.shutdown().await;
    shutdown.await.expect("no panic");
    assert_eq!(start.elapsed(), Duration::ZERO);

    // During the delay.
    let engine = new_engine();
    let (signal, rx) = oneshot::channel::<()>();
    let shutdown = tokio::spawn(engine.drain_on(rx, DELAY));
    signal.send(()).expect("the future waits");
    settle().await;
    assert!(engine.is_draining());
    let start = Instant::now();
    engine.close();
    shutdown.await.expect("no panic");
    assert_eq!(start.elapsed(), Duration::ZERO);

    // The future holds no strong handle: dropping the engine ends it.
    let engine = new_engine();
    let (_signal, rx) = oneshot::channel::<()>();
    let shutdown = tokio::spawn(engine.drain_on(rx, DELAY));
    drop(engine);
    shutdown.await.expect("no panic");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_delay_that_never_ends_waits_for_close_or_the_engine_to_go() {
    // `Duration::MAX` overflows any deadline arithmetic: it must wait, not panic or fire.
    // (No checks: a year of the paused clock would run them millions of times.)
    let engine = Engine::builder()
        .without_heartbeat()
        .build()
        .expect("valid");
    let (signal, rx) = oneshot::channel::<()>();
    let shutdown = tokio::spawn(engine.drain_on(rx, Duration::MAX));
    signal.send(()).expect("the future waits");
    tokio::time::sleep(Duration::from_secs(365 * 24 * 3600)).await;
    settle().await;
    assert!(engine.is_draining() && !engine.is_closed() && !shutdown.is_finished());
    engine.close();
    shutdown.await.expect("no panic");

    // The engine dropped during the delay: the future holds no strong handle and ends.
    let engine = new_engine();
    let (signal, rx) = oneshot::channel::<()>();
    let shutdown = tokio::spawn(engine.drain_on(rx, Duration::MAX));
    signal.send(()).expect("the future waits");
    settle().await;
    assert!(engine.is_draining());
    let weak = engine.downgrade();
    drop(engine);
    assert!(weak.upgrade().is_none());
    let start = Instant::now();
    shutdown.await.expect("no panic");
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_signal_after_the_engine_is_gone_drains_nothing_and_panics_nothing() {
    let engine = new_engine();
    let (signal, rx) = oneshot::channel::<()>();
    let shutdown = engine.drain_on(rx, DELAY);
    drop(engine);
    signal.send(()).expect("the future is alive");
    shutdown.await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_signal_output_is_ignored() {
    // `ctrl_c()` resolves to an error when no handler can be installed: that is a signal too.
    let engine = new_engine();
    let signal = async { Err::<(), std::io::Error>(std::io::Error::other("no handler")) };
    engine.drain_on(signal, DELAY).await;
    assert!(engine.is_draining() && engine.is_closed());
}
