//! Helpers shared by the engine's integration tests: a metrics recorder that logs every write,
//! switchable checks, and clock helpers for tokio's paused clock.

#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};
use readiness_core::{Check, CheckFailure, CheckFuture};

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

/// How many transitions `readiness_transitions_total{to}` counted.
pub fn counted(rec: &LogRecorder, to: &str) -> u64 {
    rec.writes_to(readiness_core::metrics::READINESS_TRANSITIONS_TOTAL)
        .iter()
        .filter(|w| w.label("to") == Some(to))
        .map(|w| match w.op {
            Op::Increment(n) => n,
            _ => 0,
        })
        .sum()
}
