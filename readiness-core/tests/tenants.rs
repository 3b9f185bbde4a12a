//! Tenants: isolation, run-time add and remove, validation, cap, scale.

mod common;

use std::time::Duration;

use common::*;
use readiness_core::{
    CheckFailure, CheckSpec, ConfigProblem, Engine, Kind, Scope, TenantEvent, check_fn,
};

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_tenant_failure_touches_nothing_else() {
    let [db, acme, globex] = [OK; 3].map(Switch::new);
    let engine = Engine::builder()
        .check(spec1("db", &db))
        .tenant("acme", vec![spec1("db", &acme)])
        .tenant(
            "globex",
            vec![
                spec1("db", &globex),
                spec1("extra", &Switch::new(FAIL)).critical(false),
            ],
        )
        .build()
        .expect("valid");
    sleep(Duration::from_secs(1)).await;
    assert!(engine.is_ready());
    assert_eq!(engine.tenant_ready("acme"), Some(true));
    assert_eq!(
        engine.tenant_ready("globex"),
        Some(true),
        "non-critical failure"
    );
    let mut rx = engine.subscribe();
    rx.borrow_and_update();

    acme.set(FAIL);
    sleep(Duration::from_secs(1)).await;
    assert_eq!(engine.tenant_ready("acme"), Some(false));
    assert_eq!(engine.tenant_ready("globex"), Some(true));
    assert!(engine.is_ready());
    assert!(!rx.has_changed().expect("alive"), "instance saw nothing");
    let acme_status = engine.tenant("acme").expect("known");
    assert!(!acme_status.is_ready());
    assert!(acme_status.instance_ready());
    assert_eq!(
        acme_status.snapshot().check("db").and_then(|c| c.reason()),
        Some("connection refused")
    );

    // The instance going down takes every tenant with it; recovering brings back the healthy.
    db.set(FAIL);
    sleep(Duration::from_secs(1)).await;
    assert!(!engine.is_ready());
    assert_eq!(engine.tenant_ready("globex"), Some(false));
    db.set(OK);
    sleep(Duration::from_secs(1)).await;
    assert_eq!(engine.tenant_ready("globex"), Some(true));
    assert_eq!(engine.tenant_ready("acme"), Some(false));
    engine.drain();
    assert_eq!(
        engine.tenant_ready("globex"),
        Some(false),
        "drain reaches tenants"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn tenants_come_and_go_at_run_time() {
    let engine = Engine::builder().max_tenants(2).build().expect("valid");
    let mut events = engine.subscribe_tenants();
    let t = Switch::new(OK);
    engine
        .add_tenant("acme", vec![spec1("db", &t)])
        .expect("added");
    assert_eq!(
        engine.tenant_ready("acme"),
        Some(false),
        "pending: fail closed"
    );
    assert_eq!(
        events.try_recv().expect("event"),
        TenantEvent {
            tenant: "acme".into(),
            ready: false,
            removed: false
        },
        "subscribers learn of a new tenant at once"
    );
    sleep(Duration::from_secs(1)).await;
    assert_eq!(engine.tenant_ready("acme"), Some(true));
    assert_eq!(
        events.try_recv().expect("event"),
        TenantEvent {
            tenant: "acme".into(),
            ready: true,
            removed: false
        }
    );
    let err = engine.add_tenant("acme", vec![]).expect_err("duplicate");
    assert!(matches!(&err.problems()[0], ConfigProblem::DuplicateTenant { id } if id == "acme"));
    engine.add_tenant("globex", vec![]).expect("added");
    assert_eq!(
        engine.tenant_ready("globex"),
        Some(true),
        "no checks: ready with the instance"
    );
    let err = engine.add_tenant("initech", vec![]).expect_err("capped");
    assert_eq!(err.problems(), &[ConfigProblem::TooManyTenants { max: 2 }]);
    assert_eq!(engine.tenant_count(), 2);

    assert!(engine.remove_tenant("acme"));
    assert!(!engine.remove_tenant("acme"));
    assert_eq!(engine.tenant_ready("acme"), None);
    let runs = engine.runs_started("acme/db");
    assert_eq!(runs, None, "its checks are gone");
    engine.add_tenant("initech", vec![]).expect("room again");
    let removed = loop {
        match events.try_recv() {
            Ok(e) if e.removed => break e,
            Ok(_) => {}
            Err(e) => panic!("no removal event: {e}"),
        }
    };
    assert_eq!(&*removed.tenant, "acme");
    let log = engine.auditor().log();
    assert!(
        log.iter()
            .any(|e| e.scope == Scope::Tenant("acme".into()) && e.to == "removed")
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn bad_tenants_are_errors_not_panics() {
    let engine = Engine::builder().build().expect("valid");
    for (id, checks) in [
        ("Acme", vec![]),
        ("tenants", vec![]),
        ("", vec![]),
        ("a/b", vec![]),
    ] {
        assert!(engine.add_tenant(id, checks).is_err(), "{id:?}");
    }
    let err = engine
        .add_tenant(
            "acme",
            vec![
                spec1("instance", &Switch::new(OK)),
                CheckSpec::liveness("live", check_fn(|| async { Ok::<(), CheckFailure>(()) })),
                spec1("x", &Switch::new(OK)).period(Duration::ZERO),
            ],
        )
        .expect_err("invalid checks");
    let p = err.problems();
    assert!(
        p.iter()
            .any(|x| matches!(x, ConfigProblem::ReservedName { name, .. } if name == "instance"))
    );
    assert!(p.iter().any(|x| matches!(
        x,
        ConfigProblem::TenantCheckKind {
            kind: Kind::Liveness,
            ..
        }
    )));
    assert!(p.iter().any(|x| matches!(
        x,
        ConfigProblem::Zero {
            option: "period",
            ..
        }
    )));
    assert_eq!(engine.tenant_count(), 0, "nothing added on error");
    let err = Engine::builder()
        .max_tenants(1)
        .tenant("a", vec![])
        .tenant("b", vec![])
        .tenant("b", vec![])
        .build()
        .expect_err("invalid");
    assert!(
        err.problems()
            .contains(&ConfigProblem::TooManyTenants { max: 1 })
    );
    assert!(
        err.problems()
            .iter()
            .any(|x| matches!(x, ConfigProblem::DuplicateTenant { id } if id == "b"))
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_hundred_thousand_tenants_never_stampede() {
    let fleet = Fleet::new();
    let engine = Engine::builder()
        .max_tenants(100_000)
        .max_in_flight(64)
        .build()
        .expect("valid");
    for i in 0..100_000 {
        let check = fleet.check(Duration::from_millis(10));
        engine
            .add_tenant(
                &format!("t{i}"),
                vec![CheckSpec::readiness("db", check).period(Duration::from_secs(3600))],
            )
            .expect("added");
    }
    // 100,000 runs of 10 ms, 64 at a time: about 16 s of paused time.
    for _ in 0..40 {
        sleep(Duration::from_secs(1)).await;
        if fleet.done() == 100_000 {
            break;
        }
    }
    assert_eq!(fleet.done(), 100_000);
    assert!(fleet.peak() <= 64, "peak {}", fleet.peak());
    assert_eq!(engine.tenant_ready("t99999"), Some(true));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn hanging_tenants_never_delay_the_instance_checks() {
    let db = Switch::new(OK);
    let engine = Engine::builder()
        .max_in_flight(2)
        .max_tenant_in_flight(2)
        .check(spec1("db", &db))
        .build()
        .expect("valid");
    for i in 0..50 {
        let hang = check_fn(|| async {
            std::future::pending::<()>().await;
            Ok::<(), CheckFailure>(())
        });
        engine
            .add_tenant(
                &format!("t{i}"),
                vec![CheckSpec::readiness("store", hang).timeout(Duration::from_secs(1))],
            )
            .expect("added");
    }
    sleep(Duration::from_secs(1)).await;
    assert!(engine.is_ready());
    db.set(FAIL);
    sleep(Duration::from_secs(1)).await;
    assert!(
        !engine.is_ready(),
        "the instance's check ran on time behind 50 hanging tenants"
    );
    assert!(engine.is_live(), "the heartbeat never queues");
    assert_eq!(engine.runs_started("db"), Some(3));
}
