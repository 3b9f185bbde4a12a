//! The simulated day (issue 24, item 3): one instance served through a `ReloadableEngine` for
//! 24 hours of tokio's paused clock, run in seconds.
//!
//! - 10,000 tenants pass through it: 400 are declared at the start, and every hour 400 more are
//!   added and 400 present ones removed, each at a random minute, so that 400 are present at
//!   every hour mark.
//! - Every check flaps with seeded faults. The dependencies have outages on the day's clock
//!   (failing or hanging): the instance's two critical checks (`db`, `cache`, every 10 s,
//!   failure threshold 2) four each, inside an hour; each tenant's `store` (every 5 min,
//!   failure threshold 1) up to three of 2 to 30 minutes. On top, each tenant check's runs
//!   fail (1 %) or hang (0.5 %) at random, seeded per engine.
//! - Every hour the application reloads: `ReloadableEngine::reload` with a builder that
//!   declares the instance's checks and every tenant present, as an application re-reading its
//!   configuration does (the dependencies are the same; the per-run noise is drawn anew).
//! - At the end the instance drains (`drain_on`, 35 s), and the close ends every stream.
//!
//! Four observers follow the instance (the `""` service) and every tenant:
//!
//! - **metrics**: `readiness_transitions_total{to}` and
//!   `tenant_readiness_transitions_total{tenant,to}`, through a recorder that counts every
//!   increment;
//! - **subscribers**: an application's subscriber following the handle as the gRPC bridge does:
//!   the serving engine's `subscribe()` (the instance) and `subscribe_tenants()` (tenants), and
//!   at each reload (`subscribe_reloads()`) the new engine's channels and a re-read of every
//!   scope it knows;
//! - **gRPC `Watch`**: one stream of `""` and one of `tenants/{id}` per tenant, opened before the
//!   tenant is added, on the `HealthService` following the handle;
//! - **the audit log**: each engine's log (`Auditor::log`), read before the engine is dropped.
//!
//! # What "the same transition" means
//!
//! A scope (the instance, or one tenant) is *served* by the engine the handle serves: what
//! `/readyz` and `/readyz/tenants/{id}` answer. A **transition** is a change of a scope's
//! served readiness, `ready` <-> `not_ready`. A tenant starts `not_ready` when it is added
//! (pending), the instance when it starts; a tenant's removal is not a transition (it is
//! counted apart: the audit log's `removed`, the subscriber's removal event, the stream's
//! `SERVICE_UNKNOWN`; metrics have no counter of it).
//!
//! Across a reload, the served state of a scope is the old engine's up to the swap and the new
//! engine's from the swap on: a scope whose readiness is the same on both sides of the swap has
//! **no** transition (whatever the new engine went through while it was being built and waited
//! for its first results: that engine served nothing yet), and one whose readiness differs has
//! exactly **one**, at the swap, to the new engine's state. Two transitions are *the same* when
//! they are the same scope's n-th transition to the same state in this served sequence: each
//! observer must count, for every scope and each `to`, exactly as many as the others.
//!
//! So that this sequence is the same for every observer, no scope changes twice in one instant
//! of the paused clock (an observer that reads the latest state, as a `Watch` stream may,
//! would see one change where there were two): tenants' checks answer on whole seconds of
//! their engine's grid, the instance's checks half a second later (a latency of 500 ms), adds
//! and removals on whole seconds that no run of the same tenant uses, and consecutive engines'
//! grids are a quarter second apart, so that the old engine's results, the new engine's swap
//! and the test's own operations never share an instant.
//!
//! # What else is checked
//!
//! - Live heap (dhat, which is why this is its own test binary) right after the reload at hour
//!   24 within 1 % of the same moment at hour 1, with the same number of tenants and streams
//!   (the new engine's audit log then holds what the swap changed: a few entries).
//! - Alive tasks (tokio's `RuntimeMetrics::num_alive_tasks`) the same at every hour mark.
//! - No subscriber lagged (a lag would lose tenant events).
//!
//! Seeded: the seed is printed, `READINESS_CHAOS_SEED=N` replays a run. Run with the chaos
//! suite:
//!
//! ```text
//! cargo test -p readiness-testkit --features chaos --test chaos --test chaos_day -- --ignored
//! ```
#![cfg(feature = "chaos")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use common::settle;
use futures_util::StreamExt;
use metrics::{
    Counter, CounterFn, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use readiness_core::metrics::{READINESS_TRANSITIONS_TOTAL, TENANT_TRANSITIONS_TOTAL};
use readiness_core::{
    Check, CheckFuture, CheckSpec, Engine, EngineBuilder, ReloadableEngine, Scope,
    TenantMetricsExport,
};
use readiness_testkit::{Fault, FaultInjector, FaultPlan, chaos_seed};
use readiness_tower::grpc::pb::HealthCheckRequest;
use readiness_tower::grpc::pb::health_server::Health;
use readiness_tower::grpc::{HealthService, ServingStatus};
use tokio::sync::broadcast::error::TryRecvError;
use tokio::time::Instant;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

const TENANTS: usize = 10_000;
/// Tenants present at every hour mark; as many are added and removed each hour.
const PRESENT: usize = 400;
const HOURS: usize = 24;
const HOUR: f64 = 3600.0;
const INSTANCE_PERIOD: Duration = Duration::from_secs(10);
const INSTANCE_LATENCY: Duration = Duration::from_millis(500);
const INSTANCE_TIMEOUT: Duration = Duration::from_millis(2500);
const TENANT_PERIOD: Duration = Duration::from_secs(300);
const TENANT_TIMEOUT: Duration = Duration::from_secs(2);
const DRAIN_DELAY: Duration = Duration::from_secs(35);
/// Scope 0 is the instance; scope `1 + i` is tenant `i`.
const SCOPES: usize = TENANTS + 1;

// ------------------------------------------------------------------ the tallies

/// One observer's counts: per scope, transitions to `not_ready` and to `ready`, and removals.
struct Tally {
    to: Vec<[AtomicU32; 2]>,
    removed: Vec<AtomicU32>,
}

impl Tally {
    fn new() -> Self {
        Self {
            to: (0..SCOPES).map(|_| Default::default()).collect(),
            removed: (0..SCOPES).map(|_| AtomicU32::new(0)).collect(),
        }
    }
    fn count(&self, scope: usize, ready: bool) {
        self.to[scope][usize::from(ready)].fetch_add(1, Ordering::Relaxed);
    }
    fn remove(&self, scope: usize) {
        self.removed[scope].fetch_add(1, Ordering::Relaxed);
    }
    fn get(&self, scope: usize) -> [u32; 3] {
        let [n, r] = &self.to[scope];
        [
            n.load(Ordering::Relaxed),
            r.load(Ordering::Relaxed),
            self.removed[scope].load(Ordering::Relaxed),
        ]
    }
    fn transitions(&self) -> u64 {
        self.to
            .iter()
            .flatten()
            .map(|c| u64::from(c.load(Ordering::Relaxed)))
            .sum()
    }
}

fn tenant_id(i: usize) -> String {
    format!("t{i:05}")
}

/// `t01234` -> scope 1235; `None` for anything else.
fn scope_of(id: &str) -> Option<usize> {
    let n: usize = id.strip_prefix('t')?.parse().ok()?;
    (n < TENANTS).then_some(n + 1)
}

// ------------------------------------------------------------------ metrics observer

struct Cell(AtomicU64);

impl CounterFn for Cell {
    fn increment(&self, value: u64) {
        self.0.fetch_add(value, Ordering::Relaxed);
    }
    fn absolute(&self, value: u64) {
        self.0.fetch_max(value, Ordering::Relaxed);
    }
}

/// Counts `readiness_transitions_total` and `tenant_readiness_transitions_total` in cells
/// allocated up front (no allocation per tenant while the day runs); everything else is a
/// no-op.
struct Counting {
    cells: Vec<[Arc<Cell>; 2]>,
}

impl Counting {
    fn new() -> Self {
        Self {
            cells: (0..SCOPES)
                .map(|_| {
                    [
                        Arc::new(Cell(AtomicU64::new(0))),
                        Arc::new(Cell(AtomicU64::new(0))),
                    ]
                })
                .collect(),
        }
    }
    fn get(&self, scope: usize) -> [u32; 2] {
        self.cells[scope]
            .each_ref()
            .map(|c| c.0.load(Ordering::Relaxed) as u32)
    }
}

impl Recorder for Counting {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let label = |name: &str| key.labels().find(|l| l.key() == name).map(|l| l.value());
        let scope = match key.name() {
            READINESS_TRANSITIONS_TOTAL => Some(0),
            TENANT_TRANSITIONS_TOTAL => label("tenant").and_then(scope_of),
            _ => None,
        };
        let to = match label("to") {
            Some("ready") => Some(1),
            Some("not_ready") => Some(0),
            _ => None,
        };
        match (scope, to) {
            (Some(s), Some(t)) => Counter::from_arc(self.cells[s][t].clone()),
            _ => Counter::noop(),
        }
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

// ------------------------------------------------------------------ the checks

/// A counter-based SplitMix64 draw (the testkit's plans use the same generator).
fn draw(seed: u64, index: u64) -> u64 {
    let mix = |mut z: u64| {
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    mix(mix(seed).wrapping_add(index.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15)))
}

fn below(x: u64, bound: usize) -> usize {
    ((u128::from(x) * bound as u128) >> 64) as usize
}

/// A dependency with seeded outages on the day's clock: failing (`connection refused`) or
/// hanging (the engine's timeout fires) from each outage's start to its end, up otherwise.
/// Its state depends on the time only, so the engines of two consecutive hours see the same
/// dependency, as they would in production.
#[derive(Clone)]
struct Outages {
    t0: Instant,
    /// `(start, end, hangs)`, seconds of the day.
    windows: Arc<[(f64, f64, bool)]>,
}

impl Check for Outages {
    fn check(&self) -> CheckFuture<'_> {
        let now = self.t0.elapsed().as_secs_f64();
        match self
            .windows
            .iter()
            .find(|(a, b, _)| (*a..*b).contains(&now))
        {
            None => Box::pin(async { Ok(()) }),
            Some((_, _, false)) => {
                Box::pin(async { Err(readiness_core::CheckFailure::new("connection refused")) })
            }
            Some((_, _, true)) => Box::pin(std::future::pending()),
        }
    }
}

/// A check that answers 500 ms after its dependency would: the instance's results land half a
/// second off the tenants' grid.
struct Latency(FaultInjector);

impl Check for Latency {
    fn check(&self) -> CheckFuture<'_> {
        let inner = self.0.check();
        Box::pin(async move {
            tokio::time::sleep(INSTANCE_LATENCY).await;
            inner.await
        })
    }
}

/// The instance's dependency `salt`: four outages of 30 s to 5 min, each inside an hour (none
/// spans an hour mark, where the reloads are: the instance is ready at every swap).
fn instance_outages(seed: u64, salt: u64, t0: Instant) -> Outages {
    let d = |i: u64| draw(seed ^ salt, i);
    let windows = (0..4)
        .map(|i| {
            let hour = below(d(4 * i), HOURS) as f64;
            let start = hour * HOUR + 300.0 + below(d(4 * i + 1), 2400) as f64;
            let length = 30.0 + below(d(4 * i + 2), 270) as f64;
            (start, start + length, d(4 * i + 3) % 2 == 0)
        })
        .collect();
    Outages { t0, windows }
}

fn instance_check(name: &str, dependency: &Outages) -> CheckSpec {
    let dependency = FaultInjector::wrap(dependency.clone(), FaultPlan::always(Fault::Pass));
    CheckSpec::readiness(name, Latency(dependency))
        .period(INSTANCE_PERIOD)
        .timeout(INSTANCE_TIMEOUT)
        .jitter(Duration::ZERO)
        .failure_threshold(2)
}

/// Tenant `tenant`'s dependency in engine `engine`: up to three outages of 2 to 30 min at
/// random times of the day, and per run a little seeded noise (1 % fails, 0.5 % hangs) that
/// differs from engine to engine.
fn tenant_check(seed: u64, t0: Instant, tenant: usize, engine: usize) -> CheckSpec {
    let d = |i: u64| draw(seed ^ 0x7E4A_4700, (tenant as u64) << 8 | i);
    let windows = (0..below(d(0), 4) as u64)
        .map(|i| {
            let start = below(d(3 * i + 1), 86_400) as f64;
            let length = 120.0 + below(d(3 * i + 2), 1680) as f64;
            (start, start + length, d(3 * i + 3) % 4 == 0)
        })
        .collect();
    let noise = FaultPlan::random_weighted(
        draw(seed, (engine * TENANTS + tenant) as u64 | 1 << 40),
        [
            (Fault::Pass, 985),
            (Fault::fail("connection reset"), 10),
            (Fault::Hang, 5),
        ],
    )
    .expect("weights");
    CheckSpec::readiness("store", FaultInjector::wrap(Outages { t0, windows }, noise))
        .period(TENANT_PERIOD)
        .timeout(TENANT_TIMEOUT)
        .jitter(Duration::ZERO)
        .failure_threshold(1)
}

/// Engine `n`'s configuration: the instance's checks and every tenant in `present`.
fn builder(day: &Day, n: usize, present: &[usize]) -> EngineBuilder {
    present.iter().fold(
        Engine::builder()
            .without_heartbeat()
            .jitter_seed(day.seed)
            .max_tenants(TENANTS)
            .max_tenant_in_flight(TENANTS)
            // Every increment reaches the counting recorder, a removed tenant's included (the
            // collector's counters go with the tenant; its carry-over at a reload is
            // readiness-tower's tests/collector.rs).
            .tenant_metrics_export(TenantMetricsExport::Facade)
            // An hour's transitions: the whole log of an engine is read before it goes.
            .audit_log_capacity(1 << 20)
            .check(instance_check("db", &day.db))
            .check(instance_check("cache", &day.cache)),
        |b, &t| b.tenant(tenant_id(t), vec![tenant_check(day.seed, day.t0, t, n)]),
    )
}

/// The day's seed, clock origin and the instance's dependencies.
struct Day {
    seed: u64,
    t0: Instant,
    db: Outages,
    cache: Outages,
}

// ------------------------------------------------------------------ the observers

/// Follows one Watch stream: counts transitions from an implicit `not_ready` at its first
/// known status, and a removal at `SERVICE_UNKNOWN` after a known status (then stops).
async fn follow(
    mut stream: std::pin::Pin<
        Box<
            dyn futures_util::Stream<
                    Item = Result<readiness_tower::grpc::pb::HealthCheckResponse, tonic::Status>,
                > + Send,
        >,
    >,
    scope: usize,
    tally: Arc<Tally>,
) {
    let mut last: Option<bool> = None;
    while let Some(message) = stream.next().await {
        let status = message.expect("no stream error").status();
        let ready = match status {
            ServingStatus::Serving => true,
            ServingStatus::NotServing => false,
            ServingStatus::ServiceUnknown if last.is_some() => {
                tally.remove(scope);
                return;
            }
            ServingStatus::ServiceUnknown => continue,
            other => panic!("scope {scope}: unexpected {other:?}"),
        };
        if ready != last.unwrap_or(false) {
            tally.count(scope, ready);
        }
        last = Some(ready);
    }
}

/// An application's subscriber following the handle: the serving engine's channels, and at
/// each reload the new engine's, with a re-read of every scope it knows.
async fn subscriber(engine: ReloadableEngine, tally: Arc<Tally>, lagged: Arc<AtomicU64>) {
    // 0: unknown (not added or removed), 1: not ready, 2: ready.
    let mut state = vec![0u8; SCOPES];
    let mut reloads = engine.subscribe_reloads();
    let closed = engine.closed();
    tokio::pin!(closed);
    let see = |scope: usize, ready: bool, state: &mut Vec<u8>| {
        let was_ready = state[scope] == 2;
        if ready != was_ready {
            tally.count(scope, ready);
        }
        state[scope] = 1 + u8::from(ready);
    };
    let event_of = |e: &readiness_core::TenantEvent, state: &mut Vec<u8>| {
        let scope = scope_of(&e.tenant).expect("a tenant of the day");
        if e.removed {
            tally.remove(scope);
            state[scope] = 0;
        } else {
            see(scope, e.ready, state);
        }
    };
    loop {
        let (mut aggregate, mut tenants) = {
            let current = engine.load();
            (current.subscribe(), current.subscribe_tenants())
        };
        // What the engine serving now says of every scope known (after a reload: the swap).
        {
            let current = engine.load();
            let ready = aggregate.borrow_and_update().ready;
            see(0, ready, &mut state);
            for scope in 1..SCOPES {
                if state[scope] != 0 {
                    let ready = current
                        .tenant_ready(&tenant_id(scope - 1))
                        .expect("a reload keeps every tenant present");
                    see(scope, ready, &mut state);
                }
            }
        }
        let reloaded = loop {
            tokio::select! {
                biased;
                event = tenants.recv() => match event {
                    Ok(e) => event_of(&e, &mut state),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        lagged.fetch_add(n, Ordering::Relaxed);
                    }
                    // The engine went: a reload is about to be seen.
                    Err(_) => std::future::pending::<()>().await,
                },
                changed = aggregate.changed() => match changed {
                    Ok(()) => {
                        let ready = aggregate.borrow_and_update().ready;
                        see(0, ready, &mut state);
                    }
                    Err(_) => std::future::pending::<()>().await,
                },
                _ = reloads.changed() => break true,
                () = &mut closed => break false,
            }
        };
        // Whatever the old engine sent before the swap, first.
        loop {
            match tenants.try_recv() {
                Ok(e) => event_of(&e, &mut state),
                Err(TryRecvError::Lagged(n)) => {
                    lagged.fetch_add(n, Ordering::Relaxed);
                }
                Err(_) => break,
            }
        }
        if aggregate.has_changed().unwrap_or(false) {
            let ready = aggregate.borrow_and_update().ready;
            see(0, ready, &mut state);
        }
        if !reloaded {
            return;
        }
        reloads.borrow_and_update();
    }
}

/// The scope transitions and removals in one engine's audit log.
fn tally_audit(engine: &Engine, tally: &Tally) {
    for entry in engine.auditor().log() {
        if entry.check.is_some() {
            continue;
        }
        let scope = match &entry.scope {
            Scope::Global => 0,
            Scope::Tenant(id) => scope_of(id).expect("a tenant of the day"),
        };
        match entry.to {
            "ready" => tally.count(scope, true),
            "not_ready" => tally.count(scope, false),
            "removed" => tally.remove(scope),
            other => panic!("audit: unexpected {other:?}"),
        }
    }
}

// ------------------------------------------------------------------ the day

struct Mark {
    hour: usize,
    /// Entries in the new engine's audit log: what the swap changed.
    logged: usize,
    heap: u64,
    tasks: usize,
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
#[ignore = "chaos suite: cargo test -p readiness-testkit --features chaos --test chaos --test chaos_day -- --ignored"]
async fn a_simulated_day_counts_every_transition_once_and_holds_memory_and_tasks_flat() {
    let seed = chaos_seed();
    let recorder = Counting::new();
    let _recorder = metrics::set_default_local_recorder(&recorder);
    let (subscribed, watched, audited) =
        (Arc::new(Tally::new()), Arc::new(Tally::new()), Tally::new());
    let lagged = Arc::new(AtomicU64::new(0));
    let _profiler = dhat::Profiler::builder().testing().build();
    let t0 = Instant::now();
    let day = Day {
        seed,
        t0,
        db: instance_outages(seed, 0xDB, t0),
        cache: instance_outages(seed, 0xCAC7E, t0),
    };
    let at = |secs: f64| t0 + Duration::from_secs_f64(secs);
    // Engine n's grid: whole (and half) seconds from n's offset, a quarter second apart from
    // its neighbours'.
    let offset = |n: usize| if n % 2 == 1 { 0.25 } else { 0.0 };

    let mut present: Vec<usize> = Vec::with_capacity(2 * PRESENT);
    present.extend(0..PRESENT);
    let mut next_tenant = PRESENT;
    let engine = ReloadableEngine::new(builder(&day, 0, &present).build().expect("valid"));
    let health = HealthService::new(&engine);
    let watch = async |name: String| {
        let request = tonic::Request::new(HealthCheckRequest { service: name });
        health.watch(request).await.expect("watch").into_inner()
    };
    tokio::spawn(follow(watch(String::new()).await, 0, watched.clone()));
    for &t in &present {
        tokio::spawn(follow(
            watch(format!("tenants/{}", tenant_id(t))).await,
            t + 1,
            watched.clone(),
        ));
    }
    tokio::spawn(subscriber(
        engine.clone(),
        subscribed.clone(),
        lagged.clone(),
    ));
    settle().await;

    let mut marks: Vec<Mark> = Vec::with_capacity(HOURS);
    let mut ops: Vec<(u64, bool)> = Vec::with_capacity(2 * PRESENT);
    for hour in 0..HOURS {
        // This hour's operations, on engine `hour`'s grid: adds at :30 and removals at :45 of
        // random minutes (1..=58), as many of each.
        let base = hour as f64 * HOUR + offset(hour);
        ops.clear();
        for i in 0..2 * PRESENT {
            let minute = 1 + below(draw(seed ^ 0xD1A7, (hour * 2 * PRESENT + i) as u64), 58);
            let add = i < PRESENT;
            ops.push((minute as u64 * 60 + if add { 30 } else { 45 }, add));
        }
        ops.sort_unstable();
        for (k, &(second, add)) in ops.iter().enumerate() {
            tokio::time::sleep_until(at(base + second as f64)).await;
            let current = engine.current();
            if add {
                let t = next_tenant;
                next_tenant += 1;
                tokio::spawn(follow(
                    watch(format!("tenants/{}", tenant_id(t))).await,
                    t + 1,
                    watched.clone(),
                ));
                // The stream reads SERVICE_UNKNOWN before the tenant exists.
                settle().await;
                current
                    .add_tenant(&tenant_id(t), vec![tenant_check(seed, t0, t, hour)])
                    .expect("added");
                present.push(t);
            } else {
                let pick = below(
                    draw(seed ^ 0x0E11, (hour * 2 * PRESENT + k) as u64),
                    present.len(),
                );
                let t = present.swap_remove(pick);
                assert!(current.remove_tenant(&tenant_id(t)));
            }
        }

        // The hourly reload, on the next engine's grid.
        let n = hour + 1;
        tokio::time::sleep_until(at(n as f64 * HOUR + offset(n))).await;
        assert_eq!(present.len(), PRESENT);
        let old = engine.current();
        tokio::time::timeout(
            Duration::from_secs(60),
            engine.reload(builder(&day, n, &present)),
        )
        .await
        .expect("the reload ends")
        .expect("valid");
        tally_audit(&old, &audited);
        drop(old);
        settle().await;
        marks.push(Mark {
            hour: n,
            logged: engine.load().auditor().log().len(),
            heap: dhat::HeapStats::get().curr_bytes as u64,
            tasks: tokio::runtime::Handle::current()
                .metrics()
                .num_alive_tasks(),
        });
    }

    // The drain, on no engine's grid.
    let (sigterm, signal) = tokio::sync::oneshot::channel::<()>();
    let shutdown = tokio::spawn(engine.drain_on(signal, DRAIN_DELAY));
    tokio::time::sleep_until(at(HOURS as f64 * HOUR + 600.125)).await;
    sigterm.send(()).expect("drain_on waits");
    tokio::time::timeout(DRAIN_DELAY * 2, shutdown)
        .await
        .expect("the drain ends")
        .expect("no panic");
    settle().await;
    tally_audit(&engine.current(), &audited);
    engine.shutdown().await;
    settle().await;

    // ---------------------------------------------------------------- the verdict
    eprintln!(
        "simulated day, seed {seed}: {} tenants, {} reloads; transitions: metrics {}, \
         subscribers {}, gRPC Watch {}, audit log {}",
        next_tenant,
        HOURS,
        (0..SCOPES)
            .map(|s| recorder.get(s).iter().map(|&c| u64::from(c)).sum::<u64>())
            .sum::<u64>(),
        subscribed.transitions(),
        watched.transitions(),
        audited.transitions(),
    );
    for m in &marks {
        eprintln!(
            "hour {:2}: heap {} bytes, {} alive tasks, {} audit entries at the swap",
            m.hour, m.heap, m.tasks, m.logged
        );
    }
    assert_eq!(next_tenant, TENANTS, "every tenant of the day was added");
    assert_eq!(lagged.load(Ordering::Relaxed), 0, "no subscriber lagged");
    let mut wrong = Vec::new();
    for scope in 0..SCOPES {
        let [mn, mr] = recorder.get(scope);
        let (s, w, a) = (
            subscribed.get(scope),
            watched.get(scope),
            audited.get(scope),
        );
        let metrics = [mn, mr, s[2]];
        if !(s == w && w == a && metrics == s) {
            wrong.push(format!(
                "scope {scope}: [not_ready, ready, removed] metrics {metrics:?} (removals \
                 not counted there), subscribers {s:?}, gRPC {w:?}, audit {a:?}"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "seed {seed}: {} scopes counted differently, first: {:#?}",
        wrong.len(),
        &wrong[..wrong.len().min(10)]
    );
    assert!(subscribed.transitions() > 1_000, "the day had transitions");
    let (first, last) = (&marks[0], &marks[HOURS - 1]);
    assert!(
        marks.iter().all(|m| m.tasks == first.tasks),
        "alive tasks flat: {:?}",
        marks.iter().map(|m| m.tasks).collect::<Vec<_>>()
    );
    assert!(
        last.heap.abs_diff(first.heap) * 100 <= first.heap,
        "live heap at hour 24 ({}) within 1 % of hour 1 ({})",
        last.heap,
        first.heap
    );
}
