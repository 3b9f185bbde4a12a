//! The measurement of the hostile-dependency tests (`hostile.rs`, `hostile_local.rs`): one check
//! run `runs()` times through an engine, each run ending within the check's timeout with a
//! reason, and the process's open descriptors (`/proc/self/fd`), tokio's alive tasks and the live
//! heap (dhat) where they were before the runs.
//!
//! The binary that uses it installs dhat's allocator (`#[global_allocator]`) itself, and runs
//! each test body through [`alone`] (or [`alone_on`], [`alone_with`]).

use std::sync::Mutex;
use std::time::Duration;

use readiness_core::{Check, CheckSpec, Engine};
use tokio::time::Instant;

/// One attack at a time: dhat counts every thread's allocations.
static ONE: Mutex<()> = Mutex::new(());

/// The timeout of every check attacked.
pub const TIMEOUT: Duration = Duration::from_secs(2);
/// The live heap may end this much above where it started (allocator caches, a reason of a
/// different length); a leak of a few bytes a run over 1,000 runs does not fit in it.
pub const HEAP_SLACK: u64 = 64 * 1024;

/// How many runs each attack makes: `HOSTILE_RUNS`, 1,000 without it.
pub fn runs() -> usize {
    std::env::var("HOSTILE_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000)
}

/// Runs `body` alone, on a paused current-thread runtime of its own, under dhat.
pub fn alone<F: std::future::Future<Output = ()>>(body: impl FnOnce() -> F) {
    alone_on(true, body);
}

/// [`alone`], on the real clock when `paused` is false: a blocking call in flight (a read
/// that never returns) keeps the paused clock from moving, so the timeout would never come.
pub fn alone_on<F: std::future::Future<Output = ()>>(paused: bool, body: impl FnOnce() -> F) {
    alone_with(paused, |_| {}, body);
}

/// [`alone_on`], with the runtime's builder passed through `tune` first (a hook on its
/// threads).
pub fn alone_with<F: std::future::Future<Output = ()>>(
    paused: bool,
    tune: impl FnOnce(&mut tokio::runtime::Builder),
    body: impl FnOnce() -> F,
) {
    let _one = ONE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let _profiler = dhat::Profiler::builder().testing().build();
    let mut builder = tokio::runtime::Builder::new_current_thread();
    builder.enable_all().start_paused(paused);
    tune(&mut builder);
    let rt = builder.build().expect("runtime");
    rt.block_on(body());
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

fn heap() -> u64 {
    dhat::HeapStats::get().curr_bytes as u64
}

fn tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// Let the servers see their clients go, and what the runs spawned end.
async fn settle() {
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `runs()` runs of `check` through an engine: each ends within the timeout with a reason;
/// descriptors, tasks and heap end where they started. Returns the first reason.
pub async fn attack(what: &str, check: impl Check) -> String {
    let engine = Engine::builder()
        .without_heartbeat()
        .check(
            CheckSpec::readiness("dep", check)
                .timeout(TIMEOUT)
                .period(Duration::from_secs(24 * 3600))
                .jitter(Duration::ZERO),
        )
        .build()
        .expect("valid");
    let run = async || {
        let started = Instant::now();
        tokio::time::timeout(TIMEOUT * 5, engine.refresh())
            .await
            .expect("the engine's timeout ends the run")
            .expect("runs");
        let took = started.elapsed();
        assert!(
            took <= TIMEOUT + Duration::from_millis(50),
            "{what}: a run took {took:?}"
        );
        let snap = engine.snapshot();
        let reason = snap
            .check("dep")
            .and_then(|c| c.reason())
            .map(str::to_owned);
        reason.unwrap_or_else(|| panic!("{what}: the run passed"))
    };
    // Warm-up: what the first runs create once (a resolver thread, a TLS configuration).
    for _ in 0..5 {
        run().await;
    }
    settle().await;
    let before = (open_fds(), tasks(), heap());
    let wall = std::time::Instant::now();
    let mut first = None;
    for _ in 0..runs() {
        let reason = run().await;
        first.get_or_insert(reason);
    }
    settle().await;
    let after = (open_fds(), tasks(), heap());
    let reason = first.expect("ran");
    eprintln!(
        "{what}: {} runs in {:.1?}, reason {reason:?}; descriptors {} -> {}, tasks {} -> {}, \
         heap {} -> {}",
        runs(),
        wall.elapsed(),
        before.0,
        after.0,
        before.1,
        after.1,
        before.2,
        after.2
    );
    assert!(
        after.0 <= before.0,
        "{what}: descriptors {before:?} -> {after:?}"
    );
    assert!(after.1 <= before.1, "{what}: tasks {before:?} -> {after:?}");
    assert!(
        after.2 <= before.2 + HEAP_SLACK,
        "{what}: heap {} -> {}",
        before.2,
        after.2
    );
    drop(engine);
    reason
}

/// [`attack`] after attack, in turn: for each `(what, server)`, `serve(server)` starts a server
/// misbehaving so and gives its address, and `check` makes the check attacked of that address.
pub async fn attack_each<S, C: Check, const N: usize>(
    serve: impl AsyncFn(S) -> String,
    check: impl Fn(String) -> C,
    attacks: [(&str, S); N],
) {
    for (what, server) in attacks {
        attack(what, check(serve(server).await)).await;
    }
}
