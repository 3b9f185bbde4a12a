//! Helpers shared by the engine's integration tests: a metrics recorder that logs every write,
//! switchable checks, the specs and engines the tests build from them, and clock helpers for
//! tokio's paused clock.

#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};
use readiness_core::{
    Check, CheckFailure, CheckFuture, CheckSpec, Engine, EngineBuilder, ReloadableEngine, Status,
};

/// One write a recorder saw.
#[derive(Clone, Debug, PartialEq)]
pub struct Write {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub op: Op,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    Register,
    Set(f64),
    Add(f64),
    Increment(u64),
    Absolute(u64),
    Record(f64),
}

impl Write {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A recorder that logs every registration and every write, in order, and can be told to
/// panic on writes (a broken exporter, for the record path's supervision).
#[derive(Clone, Default)]
pub struct LogRecorder {
    log: Arc<Mutex<Vec<Write>>>,
    panic_on_write: Arc<AtomicBool>,
}

impl LogRecorder {
    pub fn new() -> Self {
        Self::default()
    }
    /// A new recorder, this thread's until the returned [`Recording`] is dropped.
    pub fn install() -> Recording {
        let rec = Self::new();
        // The guard wants a recorder that outlives it: a leaked handle, whose log the
        // `Recording` empties when it goes.
        let leaked: &'static LogRecorder = Box::leak(Box::new(rec.clone()));
        Recording {
            _guard: metrics::set_default_local_recorder(leaked),
            rec,
        }
    }
    /// Every write so far.
    pub fn writes(&self) -> Vec<Write> {
        self.log.lock().expect("log").clone()
    }
    /// Forget every write so far.
    pub fn clear(&self) {
        self.log.lock().expect("log").clear();
    }
    /// Writes (not registrations) to series named `name`.
    pub fn writes_to(&self, name: &str) -> Vec<Write> {
        self.writes()
            .into_iter()
            .filter(|w| w.name == name && w.op != Op::Register)
            .collect()
    }
    /// Writes (not registrations) to series named `name` whose label `key` reads `value`.
    pub fn writes_labelled(&self, name: &str, key: &str, value: &str) -> Vec<Write> {
        self.writes_to(name)
            .into_iter()
            .filter(|w| w.label(key) == Some(value))
            .collect()
    }
    /// What the counters named `name` whose label `key` reads `value` were incremented by.
    pub fn increments(&self, name: &str, key: &str, value: &str) -> u64 {
        self.writes_labelled(name, key, value)
            .iter()
            .map(|w| match w.op {
                Op::Increment(n) => n,
                _ => 0,
            })
            .sum()
    }
    /// The last value set on the gauge named `name` whose label `key` reads `value`.
    pub fn last_set(&self, name: &str, key: &str, value: &str) -> Option<Op> {
        self.writes_labelled(name, key, value).last().map(|w| w.op)
    }
    /// Distinct series registered or written, as `name{k=v,..}`.
    pub fn series(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .writes()
            .iter()
            .map(|w| {
                let labels: Vec<String> =
                    w.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("{}{{{}}}", w.name, labels.join(","))
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }
    /// From now on every write panics (registrations still work).
    pub fn panic_on_write(&self, on: bool) {
        self.panic_on_write.store(on, Ordering::SeqCst);
    }
    fn handle(&self, key: &Key) -> Arc<LogHandle> {
        let h = Arc::new(LogHandle {
            name: key.name().to_owned(),
            labels: key
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect(),
            rec: self.clone(),
        });
        h.push(Op::Register);
        h
    }
}

/// A [`LogRecorder`] installed for the current thread (see [`LogRecorder::install`]).
pub struct Recording {
    rec: LogRecorder,
    _guard: metrics::LocalRecorderGuard<'static>,
}

impl std::ops::Deref for Recording {
    type Target = LogRecorder;
    fn deref(&self) -> &LogRecorder {
        &self.rec
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        std::mem::take(&mut *self.rec.log.lock().expect("log"));
    }
}

struct LogHandle {
    name: String,
    labels: Vec<(String, String)>,
    rec: LogRecorder,
}

impl LogHandle {
    fn push(&self, op: Op) {
        if op != Op::Register && self.rec.panic_on_write.load(Ordering::SeqCst) {
            panic!("exporter exploded");
        }
        self.rec.log.lock().expect("log").push(Write {
            name: self.name.clone(),
            labels: self.labels.clone(),
            op,
        });
    }
}

impl CounterFn for LogHandle {
    fn increment(&self, value: u64) {
        self.push(Op::Increment(value));
    }
    fn absolute(&self, value: u64) {
        self.push(Op::Absolute(value));
    }
}

impl GaugeFn for LogHandle {
    fn increment(&self, value: f64) {
        self.push(Op::Add(value));
    }
    fn decrement(&self, value: f64) {
        self.push(Op::Add(-value));
    }
    fn set(&self, value: f64) {
        self.push(Op::Set(value));
    }
}

impl HistogramFn for LogHandle {
    fn record(&self, value: f64) {
        self.push(Op::Record(value));
    }
}

impl Recorder for LogRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.handle(key))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.handle(key))
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.handle(key))
    }
}

pub const OK: u8 = 0;
pub const FAIL: u8 = 1;
pub const HANG: u8 = 2;
/// Hangs, and its future panics when it is dropped (at the timeout).
pub const HANG_PANIC_ON_DROP: u8 = 3;
/// Panics inside `check()`, before any future exists.
pub const PANIC_IN_CHECK: u8 = 4;
/// Its future panics when polled.
pub const PANIC_IN_POLL: u8 = 5;

/// A check whose behaviour a test switches at run time; it counts its runs and the runs
/// in flight, and notes when each run started.
#[derive(Clone, Default)]
pub struct Switch {
    mode: Arc<AtomicU8>,
    runs: Arc<AtomicUsize>,
    in_flight: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
    starts: Arc<Mutex<Vec<tokio::time::Instant>>>,
}

impl Switch {
    pub fn new(mode: u8) -> Self {
        let s = Self::default();
        s.set(mode);
        s
    }
    pub fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
    }
    pub fn runs(&self) -> usize {
        self.runs.load(Ordering::SeqCst)
    }
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
    /// How many handles to this check exist (the test's, plus the engine's while it holds it).
    pub fn handles(&self) -> usize {
        Arc::strong_count(&self.runs)
    }
    pub fn starts(&self) -> Vec<tokio::time::Instant> {
        self.starts.lock().expect("starts").clone()
    }
    /// Share the counters of `other` (in flight, peak), so a fleet of checks has one count.
    pub fn sharing_counts(mode: u8, other: &Switch) -> Self {
        let s = Self {
            in_flight: other.in_flight.clone(),
            peak: other.peak.clone(),
            ..Self::default()
        };
        s.set(mode);
        s
    }
}

struct InFlight {
    count: Arc<AtomicUsize>,
    panic_on_drop: bool,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::SeqCst);
        if self.panic_on_drop && !std::thread::panicking() {
            panic!("guard exploded while the run was dropped");
        }
    }
}

impl Check for Switch {
    fn check(&self) -> CheckFuture<'_> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        self.starts
            .lock()
            .expect("starts")
            .push(tokio::time::Instant::now());
        let mode = self.mode.load(Ordering::SeqCst);
        if mode == PANIC_IN_CHECK {
            panic!("check() exploded");
        }
        let n = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(n, Ordering::SeqCst);
        let guard = InFlight {
            count: self.in_flight.clone(),
            panic_on_drop: mode == HANG_PANIC_ON_DROP,
        };
        Box::pin(async move {
            let _guard = guard;
            match mode {
                OK => Ok(()),
                FAIL => Err(CheckFailure::new("connection refused")),
                PANIC_IN_POLL => panic!("poll exploded"),
                _ => {
                    std::future::pending::<()>().await;
                    Ok(())
                }
            }
        })
    }
}

/// Let background tasks run without moving the clock.
pub async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

/// Move the paused clock by `d` in steps of at most 100 ms, letting every task due run.
pub async fn advance(d: Duration) {
    let step = Duration::from_millis(100);
    let mut left = d;
    settle().await;
    while !left.is_zero() {
        let s = left.min(step);
        tokio::time::advance(s).await;
        settle().await;
        left -= s;
    }
}

/// A readiness check named `name` on `check`: run every second from the start (no jitter),
/// timed out after 200 ms, the engine's other defaults.
pub fn spec(name: &str, check: &Switch) -> CheckSpec {
    CheckSpec::readiness(name, check.clone())
        .period(Duration::from_secs(1))
        .timeout(Duration::from_millis(200))
        .jitter(Duration::ZERO)
}

/// [`spec`] turned failing by one failure.
pub fn spec1(name: &str, check: &Switch) -> CheckSpec {
    spec(name, check).failure_threshold(1)
}

/// A builder with no heartbeat and `checks` as [`spec1`]s.
pub fn builder(checks: &[(&str, &Switch)]) -> EngineBuilder {
    checks
        .iter()
        .fold(Engine::builder().without_heartbeat(), |b, (name, check)| {
            b.check(spec1(name, check))
        })
}

/// An engine (with its heartbeat) running `specs`.
pub fn engine_with(specs: impl IntoIterator<Item = CheckSpec>) -> Engine {
    build(Engine::builder(), specs)
}

/// [`engine_with`] once its checks' first results are in: it must be ready.
pub async fn ready_engine(specs: impl IntoIterator<Item = CheckSpec>) -> Engine {
    let engine = engine_with(specs);
    settle().await;
    assert!(engine.is_ready(), "ready on its checks' first results");
    engine
}

/// An engine with no heartbeat running `specs`: its readiness and liveness are theirs alone.
pub fn engine_without_heartbeat(specs: impl IntoIterator<Item = CheckSpec>) -> Engine {
    build(Engine::builder().without_heartbeat(), specs)
}

/// `builder` with `specs` added, built: the configuration is valid.
pub fn build(builder: EngineBuilder, specs: impl IntoIterator<Item = CheckSpec>) -> Engine {
    specs
        .into_iter()
        .fold(builder, EngineBuilder::check)
        .build()
        .expect("valid")
}

/// Move the paused clock by `d` in one step, letting every task due by then run: cheaper than
/// [`advance`] over hours, for tests that need no stop on the way.
pub async fn jump(d: Duration) {
    settle().await;
    tokio::time::advance(d).await;
    settle().await;
}

/// A reloadable engine starting with `builder`'s engine.
pub fn reloadable(builder: EngineBuilder) -> ReloadableEngine {
    ReloadableEngine::new(builder.build().expect("valid"))
}

/// `builder` built, taking the series over from `old` when there is one (a reload).
pub fn build_after(builder: EngineBuilder, old: Option<&Engine>) -> Engine {
    match old {
        Some(old) => builder.reload_from(old),
        None => builder,
    }
    .build()
    .expect("valid")
}

/// Sleep `d` on the paused clock, which runs every timer due on the way in order (tokio
/// jumps from one to the next while all tasks wait), then let the tasks woken last run.
pub async fn sleep(d: Duration) {
    settle().await;
    tokio::time::sleep(d).await;
    settle().await;
}

/// The counts of a fleet of checks that each pass some time after they start: the runs in
/// flight now, their peak, and the runs finished.
#[derive(Clone, Default)]
pub struct Fleet {
    now: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
    done: Arc<AtomicUsize>,
}

impl Fleet {
    pub fn new() -> Self {
        Self::default()
    }
    /// A check of this fleet that passes `d` after it starts.
    pub fn check(&self, d: Duration) -> impl Check + 'static {
        let fleet = self.clone();
        readiness_core::check_fn(move || {
            let fleet = fleet.clone();
            async move {
                let n = fleet.now.fetch_add(1, Ordering::SeqCst) + 1;
                fleet.peak.fetch_max(n, Ordering::SeqCst);
                tokio::time::sleep(d).await;
                fleet.now.fetch_sub(1, Ordering::SeqCst);
                fleet.done.fetch_add(1, Ordering::SeqCst);
                Ok::<(), CheckFailure>(())
            }
        })
    }
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
    pub fn done(&self) -> usize {
        self.done.load(Ordering::SeqCst)
    }
}

/// The status and reason of the check `name` in the engine's snapshot now.
pub fn state(engine: &Engine, name: &str) -> (Status, Option<String>) {
    let snap = engine.snapshot();
    let c = snap.check(name).expect("registered");
    (c.status(), c.reason().map(str::to_owned))
}

/// The state of a check failing for `reason`.
pub fn failing(reason: &str) -> (Status, Option<String>) {
    (Status::Failing, Some(reason.to_owned()))
}

/// How many transitions `readiness_transitions_total{to}` counted.
pub fn counted(rec: &LogRecorder, to: &str) -> u64 {
    rec.increments(
        readiness_core::metrics::READINESS_TRANSITIONS_TOTAL,
        "to",
        to,
    )
}

/// Asserts that every write to the series named `name` set it to `value` (`what` says what
/// that means).
pub fn assert_only_set(rec: &LogRecorder, name: &str, value: f64, what: &str) {
    let writes = rec.writes_to(name);
    assert!(
        writes.iter().all(|w| w.op == Op::Set(value)),
        "{what}: {writes:?}"
    );
}
