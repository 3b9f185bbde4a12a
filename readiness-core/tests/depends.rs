//! Dependencies between checks (`CheckSpec::depends_on`): a check whose dependency fails does
//! not run and reads `blocked by DEP`, at once and without a failure of its own; it runs at once
//! when the dependency passes again. Bad graphs are typed errors at build, never panics.

mod common;

use std::time::Duration;

use common::{FAIL, LogRecorder, OK, Op, Switch, advance, engine_without_heartbeat, settle};
use readiness_core::metrics::{CHECK_DURATION_SECONDS, CHECK_STATE};
use readiness_core::{CheckSpec, ConfigProblem, Engine, Kind, Scope, Status};

fn spec(name: &str, check: &Switch) -> CheckSpec {
    CheckSpec::readiness(name, check.clone())
        .period(Duration::from_secs(10))
        .timeout(Duration::from_secs(1))
        .jitter(Duration::ZERO)
        .failure_threshold(1)
}

fn state(engine: &Engine, name: &str) -> (Status, Option<String>, Option<String>) {
    let snap = engine.snapshot();
    let c = snap.check(name).expect("registered");
    (
        c.status(),
        c.reason().map(str::to_owned),
        c.blocked_by().map(str::to_owned),
    )
}

fn blocked(by: &str) -> (Status, Option<String>, Option<String>) {
    (
        Status::Failing,
        Some(format!("blocked by {by}")),
        Some(by.to_owned()),
    )
}

fn passing() -> (Status, Option<String>, Option<String>) {
    (Status::Passing, None, None)
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_failing_dependency_blocks_at_once_and_its_recovery_runs_the_check_at_once() {
    let rec = LogRecorder::install();
    let db = Switch::new(OK);
    let api = Switch::new(OK);
    let engine = engine_without_heartbeat([
        // Kubernetes-like hysteresis on the dependency: three failures, two successes.
        spec("db", &db).failure_threshold(3).success_threshold(2),
        spec("api", &api).depends_on("db"),
    ]);
    settle().await;
    // db needs two successes to pass: until then api waits, uncalled.
    assert_eq!(state(&engine, "api").0, Status::Pending);
    assert_eq!((db.runs(), api.runs()), (1, 0));
    advance(Duration::from_secs(10)).await;
    assert_eq!(state(&engine, "api"), passing());
    assert!(engine.is_ready());
    assert_eq!((db.runs(), api.runs()), (2, 1));

    // Two failed runs of db: still passing (below its threshold), so api keeps running.
    db.set(FAIL);
    advance(Duration::from_secs(20)).await;
    assert_eq!(state(&engine, "db").0, Status::Passing);
    assert_eq!(state(&engine, "api"), passing());
    assert_eq!(api.runs(), 3);

    // The third turns db failing: api is blocked in the same instant, not at its next run.
    rec.clear();
    advance(Duration::from_secs(10)).await;
    assert_eq!(state(&engine, "db").0, Status::Failing);
    assert_eq!(state(&engine, "api"), blocked("db"));
    assert!(
        !engine.is_ready(),
        "a blocked critical check is a failing one"
    );
    let api_runs = api.runs();
    // While blocked it is never called, and records no duration sample of its own.
    advance(Duration::from_secs(60)).await;
    assert_eq!(api.runs(), api_runs, "not called while db fails");
    assert_eq!(engine.runs_started("api"), Some(api_runs as u64));
    let api_samples = rec
        .writes_to(CHECK_DURATION_SECONDS)
        .into_iter()
        .filter(|w| w.label("check") == Some("api"))
        .count();
    assert_eq!(api_samples, 0, "no failure of its own in the histogram");
    let api_state = rec
        .writes_to(CHECK_STATE)
        .into_iter()
        .rfind(|w| w.label("check") == Some("api"))
        .map(|w| w.op);
    assert_eq!(api_state, Some(Op::Set(0.0)));

    // db flaps: one success is not enough (success_threshold 2), api stays blocked.
    db.set(OK);
    advance(Duration::from_secs(10)).await;
    assert_eq!(state(&engine, "db").0, Status::Failing);
    assert_eq!(state(&engine, "api"), blocked("db"));
    db.set(FAIL);
    advance(Duration::from_secs(10)).await;
    assert_eq!(state(&engine, "api"), blocked("db"));
    assert_eq!(api.runs(), api_runs);

    // Two successes: db passes, and api runs at once, long before its next period.
    db.set(OK);
    advance(Duration::from_secs(10)).await;
    let db_runs = db.runs();
    let before = tokio::time::Instant::now();
    advance(Duration::from_secs(10)).await;
    assert_eq!(db.runs(), db_runs + 1);
    assert_eq!(state(&engine, "db").0, Status::Passing);
    assert_eq!(api.runs(), api_runs + 1, "api ran when db passed");
    let ran_at = *api.starts().last().expect("a run");
    assert_eq!(
        ran_at,
        *db.starts().last().expect("a run"),
        "in the instant db's run passed, not a period later"
    );
    assert!(ran_at >= before);
    assert_eq!(state(&engine, "api"), passing());
    assert!(engine.is_ready());

    // The audit log says what blocked it.
    let log = engine.auditor().log();
    let entry = log
        .iter()
        .find(|e| e.check.as_deref() == Some("api") && e.to == "failing")
        .expect("api's transition");
    assert_eq!(entry.blocked_by.as_deref(), Some("db"));
    assert_eq!(entry.reason.as_deref(), Some("blocked by db"));
    assert!(
        log.iter()
            .filter(|e| e.check.as_deref() == Some("db"))
            .all(|e| e.blocked_by.is_none())
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn blocks_cascade_through_a_chain_and_name_the_nearest_dependency() {
    let [c, b, a] = [OK; 3].map(Switch::new);
    let engine = engine_without_heartbeat([
        spec("a", &a).depends_on("b"),
        spec("b", &b).depends_on("c"),
        spec("c", &c),
    ]);
    engine.refresh().await.expect("runs");
    assert_eq!((a.runs(), b.runs(), c.runs()), (1, 1, 1), "each once");
    assert_eq!(state(&engine, "a"), passing(), "dependencies ran first");

    c.set(FAIL);
    engine.refresh().await.expect("runs");
    assert_eq!(state(&engine, "b"), blocked("c"));
    assert_eq!(state(&engine, "a"), blocked("b"));
    assert_eq!((a.runs(), b.runs(), c.runs()), (1, 1, 2));

    c.set(OK);
    engine.refresh().await.expect("runs");
    assert_eq!(state(&engine, "a"), passing());
    assert_eq!(state(&engine, "b"), passing());
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_check_waits_for_its_dependency_first_result() {
    let db = Switch::new(OK);
    let api = Switch::new(OK);
    let engine = engine_without_heartbeat([
        spec("db", &db).initial_delay(Duration::from_secs(5)),
        spec("api", &api).depends_on("db"),
    ]);
    advance(Duration::from_secs(4)).await;
    assert_eq!(api.runs(), 0, "db has no result yet");
    assert_eq!(state(&engine, "api").0, Status::Pending);
    advance(Duration::from_secs(1)).await;
    assert_eq!(
        (db.runs(), api.runs()),
        (1, 1),
        "api ran as db's first result came"
    );
    assert_eq!(state(&engine, "api"), passing());
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn tenant_checks_follow_their_tenant_and_the_instance() {
    let [db, store, orders] = [OK; 3].map(Switch::new);
    let engine = Engine::builder()
        .without_heartbeat()
        .check(spec("db", &db))
        .tenant(
            "acme",
            vec![
                spec("store", &store).depends_on("db"),
                spec("orders", &orders).depends_on("store"),
            ],
        )
        .build()
        .expect("valid");
    settle().await;
    assert_eq!(engine.tenant_ready("acme"), Some(true));

    db.set(FAIL);
    advance(Duration::from_secs(10)).await;
    let acme = engine.tenant("acme").expect("tenant");
    let store_now = acme.snapshot().check("store").expect("store");
    assert_eq!(
        store_now.blocked_by(),
        Some("db"),
        "an instance check blocks it"
    );
    let orders_now = acme.snapshot().check("orders").expect("orders");
    assert_eq!(orders_now.blocked_by(), Some("store"));
    let (store_runs, orders_runs) = (store.runs(), orders.runs());

    db.set(OK);
    advance(Duration::from_secs(10)).await;
    assert_eq!(store.runs(), store_runs + 1, "ran at once when db passed");
    assert_eq!(
        orders.runs(),
        orders_runs + 1,
        "and so did what waited on it"
    );
    assert_eq!(
        store.starts().last(),
        db.starts().last(),
        "in the instant db passed"
    );
    assert_eq!(engine.tenant_ready("acme"), Some(true));

    // A tenant added at run time depends on the instance too.
    let other = Switch::new(OK);
    engine
        .add_tenant("globex", vec![spec("store", &other).depends_on("db")])
        .expect("valid");
    settle().await;
    db.set(FAIL);
    advance(Duration::from_secs(10)).await;
    let globex = engine.tenant("globex").expect("tenant");
    assert_eq!(
        globex
            .snapshot()
            .check("store")
            .and_then(|c| c.blocked_by()),
        Some("db")
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn bad_dependencies_are_typed_errors_naming_the_cycle() {
    let ok = Switch::new(OK);
    let err = Engine::builder()
        .without_heartbeat()
        .check(spec("a", &ok).depends_on("b"))
        .check(spec("b", &ok).depends_on("c"))
        .check(spec("c", &ok).depends_on("a"))
        .check(spec("d", &ok).depends_on("d"))
        .check(spec("e", &ok).depends_on("nosuch"))
        .check(CheckSpec::liveness("loop", ok.clone()).depends_on("e"))
        .check(spec("f", &ok).depends_on("store"))
        .tenant("acme", vec![spec("store", &ok)])
        .tenant("globex", vec![spec("orders", &ok).depends_on("store")])
        .build()
        .expect_err("invalid");
    let global = Scope::Global;
    let want = vec![
        ConfigProblem::SelfDependency {
            scope: global.clone(),
            name: "d".into(),
        },
        ConfigProblem::UnknownDependency {
            scope: global.clone(),
            name: "e".into(),
            dependency: "nosuch".into(),
        },
        ConfigProblem::LivenessDependency {
            name: "loop".into(),
            dependency: "e".into(),
            kind: Kind::Readiness,
        },
        ConfigProblem::DependencyOutOfScope {
            scope: global.clone(),
            name: "f".into(),
            dependency: "store".into(),
            owner: Scope::Tenant("acme".into()),
        },
        ConfigProblem::DependencyCycle {
            scope: global,
            cycle: vec!["a".into(), "b".into(), "c".into(), "a".into()],
        },
        ConfigProblem::DependencyOutOfScope {
            scope: Scope::Tenant("globex".into()),
            name: "orders".into(),
            dependency: "store".into(),
            owner: Scope::Tenant("acme".into()),
        },
    ];
    assert_eq!(err.problems(), want.as_slice(), "{err}");
    let text = err.to_string();
    assert!(text.contains("a -> b -> c -> a"), "{text}");
    assert!(
        text.contains(
            "tenant \"globex\": check \"orders\" depends on \"store\", a check of tenant \"acme\""
        ),
        "{text}"
    );

    // At run time: the same problems, and nothing added.
    let engine = Engine::builder()
        .without_heartbeat()
        .check(spec("db", &ok))
        .tenant("acme", vec![spec("store", &ok)])
        .build()
        .expect("valid");
    let err = engine
        .add_tenant(
            "globex",
            vec![
                spec("x", &ok).depends_on("y"),
                spec("y", &ok).depends_on("x"),
                spec("z", &ok).depends_on("store"),
                spec("w", &ok).depends_on("w"),
            ],
        )
        .expect_err("invalid");
    let tenant = Scope::Tenant("globex".into());
    assert_eq!(
        err.problems(),
        &[
            ConfigProblem::DependencyOutOfScope {
                scope: tenant.clone(),
                name: "z".into(),
                dependency: "store".into(),
                owner: Scope::Tenant("acme".into()),
            },
            ConfigProblem::SelfDependency {
                scope: tenant.clone(),
                name: "w".into(),
            },
            ConfigProblem::DependencyCycle {
                scope: tenant,
                cycle: vec!["x".into(), "y".into(), "x".into()],
            },
        ],
        "{err}"
    );
    assert_eq!(engine.tenant_count(), 1, "nothing added");
}
