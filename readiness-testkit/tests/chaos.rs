//! The chaos suite. Deterministic: scripted and seeded faults on tokio's paused clock. Every
//! test prints its seed; `READINESS_CHAOS_SEED=N` replays it.
//!
//! These tests are `#[ignore]`d so that `cargo test --workspace` runs none of them; run exactly
//! them with:
//!
//! ```text
//! cargo test -p readiness-testkit --features chaos --test chaos --test chaos_day -- --ignored
//! ```
#![cfg(feature = "chaos")]

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{PERIOD, TIMEOUT, dep, periods, tick};
use readiness_core::Engine;
use readiness_testkit::{Exposition, Fault, FaultPlan, MetricsCapture, ProbeClient, chaos_seed};

fn seeded(seed: u64, salt: u64, rate: f64) -> FaultPlan {
    FaultPlan::random(seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15), rate).expect("rate in 0..=1")
}

/// The instance's transitions to `to` (`ready` or `not_ready`) as `e` counts them.
fn transitions_to(e: &Exposition, to: &str) -> Option<f64> {
    e.value("readiness_transitions_total", &[("to", to)])
}

/// Tenant `tenant`'s transitions to `not_ready` as `e` counts them.
fn tenant_turned_not_ready(e: &Exposition, tenant: &str) -> Option<f64> {
    e.value(
        "tenant_readiness_transitions_total",
        &[("tenant", tenant), ("to", "not_ready")],
    )
}

/// The runs of `db` that failed, as `e` counts them.
fn db_errors(e: &Exposition) -> Option<f64> {
    e.value(
        "readiness_check_duration_seconds_count",
        &[("check", "db"), ("outcome", "error")],
    )
}

/// Each series of `e` is there once, whatever its value.
fn assert_each_series_once(e: &Exposition) {
    let mut seen = HashSet::new();
    for s in e.samples() {
        let labels = format!("{:?}", s.labels);
        assert!(seen.insert((s.name.clone(), labels)), "duplicate {s:?}");
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
#[ignore = "chaos suite: cargo test -p readiness-testkit --features chaos --test chaos --test chaos_day -- --ignored"]
async fn every_fault_kind_degrades_readiness_and_recovers() {
    let seed = chaos_seed();
    let kinds = [
        Fault::fail("connection refused"),
        Fault::Hang,
        Fault::panic("pool poisoned"),
        Fault::Delay(TIMEOUT * 3),
    ];
    for fault in kinds {
        let (spec, h) = dep("db", FaultPlan::always(Fault::Pass));
        let (noise, _) = dep("search", seeded(seed, 1, 0.5));
        let engine = Engine::builder()
            .check(spec)
            .check(noise.critical(false))
            .build()
            .expect("valid");
        let probes = ProbeClient::with_details(&engine);
        tick(Duration::ZERO).await;
        probes.assert_ready().await;
        h.set(fault.clone());
        let mut flipped = false;
        for _ in 0..10 {
            tick(PERIOD).await;
            if !engine.is_ready() {
                flipped = true;
                break;
            }
            // The third faulted run may still be in flight (a hang ends at its timeout).
            assert!(
                h.plan_runs() <= 3,
                "{fault}: still ready after 3 faulted runs"
            );
        }
        assert!(flipped, "{fault}: readiness never degraded");
        // Periods count from a run's start, and this loop looks once a period: a fault that
        // takes the timeout (a hang, a delay past it) gives its third result a timeout into
        // the third period, so when the loop sees the flip the fourth run has just started on
        // its period.
        let takes_the_timeout = matches!(fault, Fault::Hang | Fault::Delay(_));
        let started = h.plan_runs();
        assert!(
            started == 3 || (takes_the_timeout && started == 4),
            "{fault}: flips on the third faulted run, not before ({started} started)"
        );
        probes.assert_not_ready().await;
        probes.assert_live().await;
        let body = probes.get("/readyz/db").await.body;
        assert!(body.starts_with("[-]db failed: "), "{fault}: {body}");
        h.set(Fault::Pass);
        periods(2).await;
        probes.assert_ready().await;
        probes.assert_live().await;
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
#[ignore = "chaos suite: cargo test -p readiness-testkit --features chaos --test chaos --test chaos_day -- --ignored"]
async fn liveness_never_moves_whatever_the_dependencies_do() {
    let seed = chaos_seed();
    let mut b = Engine::builder();
    for i in 0..8 {
        let plan = FaultPlan::random_weighted(
            seed.wrapping_add(i),
            [
                (Fault::Pass, 4),
                (Fault::fail("down"), 3),
                (Fault::Hang, 1),
                (Fault::panic("boom"), 1),
                (Fault::Delay(Duration::from_millis(50)), 1),
            ],
        )
        .expect("weights");
        b = b.check(dep(&format!("dep-{i}"), plan).0);
    }
    let engine = b.build().expect("valid");
    let probes = ProbeClient::with_details(&engine);
    let mut live_changes = engine.subscribe();
    for _ in 0..200 {
        tick(PERIOD).await;
        probes.assert_live().await;
        assert_eq!(probes.get("/healthz").await.status, 200);
    }
    assert!(live_changes.borrow_and_update().live);
    assert!(engine.is_live());
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
#[ignore = "chaos suite: cargo test -p readiness-testkit --features chaos --test chaos --test chaos_day -- --ignored"]
async fn hysteresis_holds_under_flapping() {
    let _seed = chaos_seed();
    let capture = MetricsCapture::new();
    let (spec, _h) = dep("db", FaultPlan::flap(1).expect("period 1"));
    let engine = capture.install(|| Engine::builder().check(spec).build().expect("valid"));
    let probes = ProbeClient::with_details(&engine);
    tick(Duration::ZERO).await;
    probes.assert_ready().await;
    let mut rx = engine.subscribe();
    rx.borrow_and_update();
    for _ in 0..100 {
        tick(PERIOD).await;
        probes.assert_ready().await;
    }
    assert!(
        !rx.has_changed().expect("alive"),
        "no transition while flapping"
    );
    let e = capture.exposition().expect("valid");
    assert_eq!(transitions_to(&e, "not_ready"), Some(0.0));
    assert_eq!(db_errors(&e), Some(50.0), "half of the 101 runs failed");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
#[ignore = "chaos suite: cargo test -p readiness-testkit --features chaos --test chaos --test chaos_day -- --ignored"]
async fn a_panic_storm_leaves_the_engine_running() {
    let seed = chaos_seed();
    let mut b = Engine::builder().max_in_flight(8);
    let mut handles = Vec::new();
    for i in 0..50 {
        let (spec, h) = dep(
            &format!("dep-{i}"),
            FaultPlan::always(Fault::panic("storm")),
        );
        b = b.check(spec.critical(i % 2 == 0));
        handles.push(h);
    }
    let engine = b.build().expect("valid");
    let probes = ProbeClient::with_details(&engine);
    periods(5).await;
    probes.assert_not_ready().await;
    probes.assert_live().await;
    assert!(probes.get("/readyz").await.body.contains("panicked: storm"));
    // Recover a seeded half, then all.
    for (i, h) in handles.iter().enumerate() {
        if (seed >> (i % 64)) & 1 == 1 {
            h.set(Fault::Pass);
        }
    }
    periods(2).await;
    for h in &handles {
        h.set(Fault::Pass);
    }
    periods(2).await;
    probes.assert_ready().await;
    assert!(
        handles.iter().all(|h| h.runs() >= 5),
        "every check kept running"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
#[ignore = "chaos suite: cargo test -p readiness-testkit --features chaos --test chaos --test chaos_day -- --ignored"]
async fn a_hang_storm_never_delays_a_probe() {
    let _seed = chaos_seed();
    let mut b = Engine::builder().max_in_flight(4);
    for i in 0..100 {
        b = b.check(dep(&format!("dep-{i}"), FaultPlan::always(Fault::Hang)).0);
    }
    let engine = b.build().expect("valid");
    let probes = ProbeClient::with_details(&engine);
    for _ in 0..20 {
        tick(TIMEOUT).await;
        for path in ["/readyz", "/livez", "/startupz", "/readyz/dep-7?verbose"] {
            let res = probes
                .get_now(path)
                .unwrap_or_else(|| panic!("GET {path} waited on a hanging check"));
            assert!(res.status == 200 || res.status == 503, "{path}");
        }
        probes.assert_live().await;
    }
    let snap = engine.snapshot();
    let failing = snap
        .checks()
        .iter()
        .filter(|c| c.reason() == Some("timed out after 200ms"))
        .count();
    assert!(failing > 0, "timeouts were recorded");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
#[ignore = "chaos suite: cargo test -p readiness-testkit --features chaos --test chaos --test chaos_day -- --ignored"]
async fn a_probe_storm_runs_no_check_more_often_than_scheduled() {
    let seed = chaos_seed();
    let (spec, h) = dep("db", seeded(seed, 7, 0.3));
    let engine = Engine::builder().check(spec).build().expect("valid");
    let probes = ProbeClient::with_details(&engine);
    for _ in 0..30 {
        for path in [
            "/readyz",
            "/readyz?verbose",
            "/readyz/db",
            "/livez",
            "/startupz",
        ] {
            for _ in 0..200 {
                let _ = probes.get(path).await;
            }
        }
        tick(PERIOD).await;
    }
    // One run at start, then one per period: 31 in 30 s, whatever 30,000 probes did.
    assert_eq!(h.runs(), 31);
    assert_eq!(engine.runs_started("db"), Some(31));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
#[ignore = "chaos suite: cargo test -p readiness-testkit --features chaos --test chaos --test chaos_day -- --ignored"]
async fn a_reload_while_faults_are_active_duplicates_nothing_and_loses_no_count() {
    let seed = chaos_seed();
    let capture = MetricsCapture::new();
    let build = |plan: FaultPlan| {
        let (spec, h) = dep("db", plan);
        let (search, _) = dep("search", seeded(seed, 3, 0.5));
        let e = capture.install(|| {
            Engine::builder()
                .check(spec)
                .check(search.critical(false))
                .build()
                .expect("valid")
        });
        (e, h)
    };
    let (old, h) = build(FaultPlan::always(Fault::Pass));
    tick(Duration::ZERO).await;
    h.set(Fault::fail("down"));
    periods(4).await;
    assert!(!old.is_ready());
    let before = capture.exposition().expect("valid");
    let not_ready_before = transitions_to(&before, "not_ready").expect("series");
    assert_eq!(not_ready_before, 1.0);

    // Reload while the dependency is still down.
    let (new, h2) = build(FaultPlan::always(Fault::fail("still down")));
    drop(old);
    periods(3).await;
    h2.set(Fault::Pass);
    periods(1).await;
    assert!(new.is_ready());

    let after = capture.exposition().expect("valid");
    assert_each_series_once(&after);
    assert_eq!(
        transitions_to(&after, "not_ready"),
        Some(not_ready_before),
        "the reload itself is no transition to not_ready"
    );
    assert_eq!(transitions_to(&after, "ready"), Some(2.0));
    let errors = |e: &Exposition| db_errors(e).expect("series");
    assert!(
        errors(&after) > errors(&before),
        "counts continue across the reload"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
#[ignore = "chaos suite: cargo test -p readiness-testkit --features chaos --test chaos --test chaos_day -- --ignored"]
async fn drain_while_failing_stays_drained() {
    let _seed = chaos_seed();
    let (spec, h) = dep("db", FaultPlan::always(Fault::fail("down")));
    let engine = Engine::builder().check(spec).build().expect("valid");
    let probes = ProbeClient::with_details(&engine);
    periods(1).await;
    probes.assert_not_ready().await;
    engine.drain();
    let body = probes.get("/readyz").await.body;
    assert_eq!(
        body,
        "[-]db failed: down\n[-]shutdown failed: shutting down\nreadyz check failed\n"
    );
    h.set(Fault::Pass);
    periods(3).await;
    probes.assert_not_ready().await;
    probes.assert_live().await;
    assert_eq!(
        probes.get("/readyz?exclude=shutdown&verbose").await.status,
        503,
        "shutdown cannot be excluded"
    );
}

/// Runs `scenario` with the test's seed and a fresh capture that is the thread's default
/// recorder throughout, so that series created after the engine is built (by tenants added
/// while it runs, or by tasks on this current-thread runtime) land there too.
async fn with_default_capture(scenario: impl AsyncFnOnce(u64, &MetricsCapture)) {
    let seed = chaos_seed();
    let capture = MetricsCapture::new();
    let _guard = capture.set_default();
    scenario(seed, &capture).await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
#[ignore = "chaos suite: cargo test -p readiness-testkit --features chaos --test chaos --test chaos_day -- --ignored"]
async fn one_tenants_faults_leave_the_instance_and_the_others_untouched() {
    with_default_capture(async |seed, capture| {
        let (victim, h) = dep("store", FaultPlan::always(Fault::Pass));
        let mut b = Engine::builder()
            .check(dep("db", FaultPlan::always(Fault::Pass)).0)
            .tenant("victim", vec![victim]);
        for i in 0..10 {
            b = b.tenant(
                format!("t{i}"),
                vec![dep("store", FaultPlan::always(Fault::Pass)).0],
            );
        }
        let engine = b.build().expect("valid");
        let probes = ProbeClient::with_details(&engine);
        tick(Duration::ZERO).await;
        let mut instance = engine.subscribe();
        instance.borrow_and_update();
        let faults = [
            Fault::fail("down"),
            Fault::Hang,
            Fault::panic("tenant pool poisoned"),
            Fault::Delay(TIMEOUT * 3),
        ];
        for round in 0..8 {
            // A seeded order of faults, each held long enough to flip the tenant.
            let fault = faults[((seed >> (round * 2)) & 3) as usize].clone();
            h.set(fault);
            periods(5).await;
            probes.assert_status("/readyz/tenants/victim", 503).await;
            probes.assert_ready().await;
            probes.assert_live().await;
            for i in 0..10 {
                probes
                    .assert_status(&format!("/readyz/tenants/t{i}"), 200)
                    .await;
            }
            h.set(Fault::Pass);
            periods(2).await;
            probes.assert_status("/readyz/tenants/victim", 200).await;
        }
        assert!(
            !instance.has_changed().expect("alive"),
            "the instance never moved"
        );
        let e = capture.scrape(&engine).expect("valid");
        assert_eq!(transitions_to(&e, "not_ready"), Some(0.0));
        assert_eq!(tenant_turned_not_ready(&e, "victim"), Some(8.0));
        for i in 0..10 {
            let t = format!("t{i}");
            assert_eq!(tenant_turned_not_ready(&e, &t), Some(0.0), "{t}");
        }
    })
    .await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
#[ignore = "chaos suite: cargo test -p readiness-testkit --features chaos --test chaos --test chaos_day -- --ignored"]
async fn tenants_added_and_removed_during_a_probe_storm_lose_nothing() {
    with_default_capture(async |seed, capture| {
        let engine = Engine::builder()
            .max_tenants(64)
            .check(dep("db", FaultPlan::always(Fault::Pass)).0)
            .build()
            .expect("valid");
        let probes = ProbeClient::with_details(&engine);
        tick(Duration::ZERO).await;
        let mut live: Vec<String> = Vec::new();
        let mut rng = seed;
        let mut next = || {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            rng >> 33
        };
        for step in 0..300u64 {
            // Add or remove a tenant, seeded.
            if live.is_empty() || next() % 3 != 0 {
                let id = format!("t{step}");
                let plan = seeded(seed, step, 0.2);
                let added = engine.add_tenant(&id, vec![dep("store", plan).0]);
                if live.len() < 64 {
                    added.unwrap_or_else(|e| panic!("{id}: {e}"));
                    live.push(id);
                } else {
                    assert!(added.is_err(), "the cap of 64 holds");
                }
            } else {
                let i = (next() as usize) % live.len();
                let id = live.swap_remove(i);
                assert!(engine.remove_tenant(&id), "{id}");
                assert_eq!(
                    probes.get(&format!("/readyz/tenants/{id}")).await.status,
                    404
                );
            }
            // The storm: every live tenant probed, and the instance.
            for id in &live {
                let s = probes.get(&format!("/readyz/tenants/{id}")).await.status;
                assert!(s == 200 || s == 503, "{id}: {s}");
            }
            probes.assert_ready().await;
            if step % 10 == 0 {
                tick(PERIOD).await;
            }
        }
        assert_eq!(engine.tenant_count(), live.len());
        let mut ids: Vec<String> = engine.tenant_ids().iter().map(|s| s.to_string()).collect();
        ids.sort();
        live.sort();
        assert_eq!(ids, live, "no tenant lost or left behind");
        periods(3).await;
        let e = capture.scrape(&engine).expect("valid");
        let ready = e
            .value("tenant_readiness_tenants", &[("state", "ready")])
            .expect("series");
        let not_ready = e
            .value("tenant_readiness_tenants", &[("state", "not_ready")])
            .expect("series");
        assert_eq!(ready + not_ready, live.len() as f64, "the counts add up");
        let actually_ready = live
            .iter()
            .filter(|id| engine.tenant_ready(id) == Some(true))
            .count();
        assert_eq!(ready, actually_ready as f64);
        assert_eq!(transitions_to(&e, "not_ready"), Some(0.0));
    })
    .await;
}
