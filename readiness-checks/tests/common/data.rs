//! Helpers of the data checks' tests: an engine around one check, `/readyz` through the real
//! layer, and the engine's view of the check.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use readiness_core::{Check, CheckSpec, Engine};
use readiness_tower::ReadinessLayer;
use tower::{ServiceBuilder, ServiceExt, service_fn};

use super::net::join_all;
use super::servers::Server;

/// The check's timeout in these tests: ample for a loaded 2-core machine (a passing run takes
/// milliseconds); the hung-server tests run it on the paused clock.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// An engine with one critical readiness check `db`, driven by `refresh()` (its period is an
/// hour, so no background run interferes), with these thresholds.
pub fn engine(check: impl Check, failure_threshold: u32, success_threshold: u32) -> Engine {
    engine_of(
        vec![("db", Box::new(check))],
        failure_threshold,
        success_threshold,
    )
}

/// The same with several named critical checks (one per adapter).
pub fn engine_of(
    checks: Vec<(&str, Box<dyn Check>)>,
    failure_threshold: u32,
    success_threshold: u32,
) -> Engine {
    let mut builder = Engine::builder().without_heartbeat().jitter_seed(7);
    for (name, check) in checks {
        builder = builder.check(
            CheckSpec::readiness(name, check)
                .period(Duration::from_secs(3600))
                .jitter(Duration::ZERO)
                .timeout(TIMEOUT)
                .failure_threshold(failure_threshold)
                .success_threshold(success_threshold),
        );
    }
    builder.build().expect("engine")
}

/// An engine on `checks`, run once: `/readyz` answers 200 and every check passes.
pub async fn passes(checks: Vec<(&str, Box<dyn Check>)>) {
    let engine = engine_of(checks, 1, 1);
    let (status, body) = refresh_readyz(&engine).await;
    assert_eq!(status, 200, "{body}");
    all_pass(&engine);
}

/// An engine on `checks`, run once: `/readyz` answers 503 and every check fails with `reason`.
/// The body `/readyz` answered.
pub async fn fails_with(checks: Vec<(&str, Box<dyn Check>)>, reason: &str) -> String {
    let engine = engine_of(checks, 1, 1);
    let (status, body) = refresh_readyz(&engine).await;
    assert_eq!(status, 503, "{body}");
    all_fail_with(&engine, reason);
    body
}

/// The application's sqlx pool of `max` connections on `url`, for any database sqlx speaks: it
/// connects on first use and waits at most 300 ms for a connection.
pub fn sqlx_pool<DB: sqlx::Database>(url: &str, max: u32) -> sqlx::Pool<DB> {
    sqlx::pool::PoolOptions::<DB>::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_millis(300))
        .connect_lazy(url)
        .expect("sqlx")
}

/// Every check's current reason, by name (`None` while it passes).
pub fn reasons(engine: &Engine) -> Vec<(String, Option<String>)> {
    engine
        .snapshot()
        .checks()
        .iter()
        .map(|c| (c.name().to_owned(), c.reason().map(str::to_owned)))
        .collect()
}

/// Runs the check once (through the engine) and answers `/readyz?verbose` through the real layer
/// with details shown: (status, body).
pub async fn refresh_readyz(engine: &Engine) -> (u16, String) {
    engine.refresh().await.expect("refresh");
    readyz(engine).await
}

/// `/readyz?verbose` through the real layer, details shown: (status, body).
pub async fn readyz(engine: &Engine) -> (u16, String) {
    let layer = ReadinessLayer::builder(engine.clone())
        .show_details(true)
        .build()
        .expect("layer");
    let svc = ServiceBuilder::new().layer(layer).service(service_fn(
        |_req: Request<Full<Bytes>>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"app"))))
        },
    ));
    let req = Request::get("/readyz?verbose")
        .body(Full::new(Bytes::new()))
        .expect("request");
    let resp = svc.oneshot(req).await.expect("infallible");
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// The engine's current reason for check `name` (`None` while it passes).
pub fn reason_of(engine: &Engine, name: &str) -> Option<String> {
    engine
        .snapshot()
        .check(name)
        .and_then(|c| c.reason())
        .map(str::to_owned)
}

/// Each check's current reason: `(name, reason)`, `None` for a check that passes.
pub fn assert_reasons(engine: &Engine, want: &[(&str, Option<&str>)]) {
    for &(name, reason) in want {
        assert_eq!(
            reason_of(engine, name).as_deref(),
            reason,
            "{name} (every reason: {:?})",
            reasons(engine)
        );
    }
}

/// Every check fails with `want`.
pub fn all_fail_with(engine: &Engine, want: &str) {
    for (name, reason) in reasons(engine) {
        assert_eq!(reason.as_deref(), Some(want), "{name}");
    }
}

/// Every check passes.
pub fn all_pass(engine: &Engine) {
    for (name, reason) in reasons(engine) {
        assert_eq!(reason, None, "{name}");
    }
}

/// Polls `cond` every 50 ms, at most `bound` (waiting on a real server's state).
pub async fn wait_until(bound: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !cond() {
        assert!(started.elapsed() < bound, "not within {bound:?}: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The engine's checks pass; `server` is stopped: with failure threshold 3, two failed runs
/// keep `/readyz` at 200 and the third turns it 503; once it is started again, the first run
/// passes (success threshold 1). Each check's reason while the server is down is handed to
/// `down` with the check's name.
pub async fn stopped_then_started(
    engine: &Engine,
    server: &mut Server,
    down: impl Fn(&str, Option<&str>),
) {
    assert_eq!(refresh_readyz(engine).await.0, 200);
    server.shutdown();
    for run in 1..=2 {
        let (status, body) = refresh_readyz(engine).await;
        assert_eq!(status, 200, "run {run}: {body}");
    }
    let (status, body) = refresh_readyz(engine).await;
    assert_eq!(status, 503, "{body}");
    for (name, reason) in reasons(engine) {
        down(&name, reason.as_deref());
    }
    server.start();
    let (status, body) = refresh_readyz(engine).await;
    assert_eq!(status, 200, "{body}");
    all_pass(engine);
}

/// The engine's checks pass; `server` is hung (SIGSTOP): with failure threshold 2, every run
/// ends at a timeout, one failure keeps `/readyz` at 200 and the second turns it 503; after
/// SIGCONT the first run passes. The runs that time out go on the paused clock, which jumps to
/// the timeout while the sockets stay silent (no real time passes); the others on the real
/// clock. A reason is the engine's (`timed out after 5s`) or the client's own response timeout
/// (`timeout`: redis-rs' 500 ms default on the application's connections).
pub async fn hung_then_resumed(engine: &Engine, server: &mut Server) {
    assert_eq!(refresh_readyz(engine).await.0, 200);
    server.pause();
    tokio::time::pause();
    let first = refresh_readyz(engine).await;
    let second = refresh_readyz(engine).await;
    tokio::time::resume();
    assert_eq!(
        first.0, 200,
        "one failure is below the threshold: {}",
        first.1
    );
    assert_eq!(second.0, 503, "{}", second.1);
    for (name, reason) in reasons(engine) {
        let reason = reason.unwrap_or_default();
        assert!(
            reason.contains("timed out") || reason == "timeout",
            "{name}: {reason}"
        );
    }
    server.resume();
    let (status, body) = refresh_readyz(engine).await;
    assert_eq!(status, 200, "{body}");
    all_pass(engine);
}

/// Busy is not down: the engine's checks of the application's pools pass; `business()` starts
/// one query per pool that holds its connection until `release()`, twice over; once
/// `holding()` says they all hold one and `exhausted()` has asserted that no pool has a
/// connection to give, `/readyz` stays at 200 and every check passes. Then `release()` ends the
/// queries.
pub async fn ready_while_pools_are_held(
    engine: &Engine,
    business: impl Fn() -> Vec<tokio::task::JoinHandle<()>>,
    holding: impl FnMut() -> bool,
    exhausted: impl AsyncFnOnce(),
    release: impl FnOnce(),
) {
    assert_eq!(refresh_readyz(engine).await.0, 200);
    let business: Vec<_> = (0..2).flat_map(|_| business()).collect();
    wait_until(
        Duration::from_secs(30),
        "every business query holds its connection",
        holding,
    )
    .await;
    exhausted().await;
    for _ in 0..3 {
        let (status, body) = refresh_readyz(engine).await;
        assert_eq!(status, 200, "{body}");
    }
    all_pass(engine);
    release();
    join_all(business, "business ends once released").await;
}

/// Runs each check 100 times, counting the server's client connections (server-side) before
/// and after: each check may add at most `extra(name)`. Every check stays alive to the end, so
/// each one's connection is counted once. Prints the counts.
pub async fn hundred_runs_add_at_most(
    server: &Server,
    checks: &[(&str, Box<dyn Check>)],
    extra: impl Fn(&str) -> usize,
) {
    for (name, check) in checks {
        let before = server.client_connections();
        for run in 0..100 {
            assert_eq!(check.check().await, Ok(()), "{name} run {run}");
        }
        let after = server.client_connections();
        println!("{name}: {before} connections before 100 runs, {after} after");
        assert!(after <= before + extra(name), "{name}: {before} -> {after}");
    }
}
