//! Probe behaviour as a user sees it: status, headers, body.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{
    Flag, answer, assert_answers, assert_contains, assert_each, assert_reach_the_app, call,
    detailed, engine_with, get, head,
};
use http::Request;
use http_body_util::Full;
use readiness_core::{CheckSpec, Engine, check_fn};
use readiness_tower::{Endpoint, LayerError, ReadinessLayer, ReadinessLayerBuilder};

async fn two_engine(db: bool, cache: bool) -> Engine {
    engine_with(vec![
        Flag::new(db).spec("database"),
        Flag::new(cache).spec("cache"),
    ])
    .await
}

async fn two_checks(db: bool, cache: bool) -> ReadinessLayer {
    ReadinessLayer::new(two_engine(db, cache).await)
}

/// A layer over the two checks, configured by `f`.
async fn two_checks_with(
    db: bool,
    cache: bool,
    f: impl FnOnce(ReadinessLayerBuilder) -> ReadinessLayerBuilder,
) -> ReadinessLayer {
    f(ReadinessLayer::builder(two_engine(db, cache).await))
        .build()
        .expect("a valid layer")
}

/// `check` fails, passes, then fails again, `engine` run after each switch: `path`, read through
/// `layer`, answers 503 with `failed` at first, then 200 `ok`, and keeps it: latched.
async fn assert_latches(
    engine: &Engine,
    layer: &ReadinessLayer,
    check: &Flag,
    path: &str,
    failed: &str,
) {
    assert_eq!(answer(layer, path).await, (503, failed.into()), "{path}");
    for (ok, when) in [(true, "once it passes"), (false, "latched: 200 for good")] {
        check.set(ok);
        engine.refresh().await.expect("the engine runs");
        assert_eq!(
            answer(layer, path).await,
            (200, "ok".into()),
            "{path} {when}"
        );
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn design_examples_byte_for_byte() {
    let ok = two_checks(true, true).await;
    let passed = "[+]database ok\n[+]cache ok\nreadyz check passed\n";
    assert_answers(
        &ok,
        &[("/readyz", 200, "ok"), ("/readyz?verbose", 200, passed)],
    )
    .await;
    let bad = two_checks(true, false).await;
    let cases: &[(&str, u16, &str)] = &[
        (
            "/readyz",
            503,
            "[+]database ok\n[-]cache failed: reason withheld\nreadyz check failed\n",
        ),
        (
            "/readyz?exclude=cache&verbose",
            200,
            "[+]database ok\n[+]cache excluded: ok\nreadyz check passed\n",
        ),
    ];
    assert_answers(&bad, cases).await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn reasons_are_shown_only_when_configured() {
    let layer = two_checks_with(true, false, |b| b.show_details(true)).await;
    let r = get(&layer, "/readyz").await;
    assert_eq!(
        r.body,
        "[+]database ok\n[-]cache failed: connection refused\nreadyz check failed\n"
    );
    let layer = two_checks_with(true, false, |b| {
        b.show_details_if(|req| req.headers().contains_key("x-debug"))
    })
    .await;
    let r = get(&layer, "/readyz").await;
    assert_contains(&r.body, "reason withheld");
    let req = Request::get("/readyz")
        .header("x-debug", "1")
        .body(Full::default())
        .expect("request");
    let r = call(&layer, req).await;
    assert_contains(&r.body, "cache failed: connection refused");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn json_on_accept_or_format() {
    let layer = two_checks_with(true, false, |b| b.show_details(true)).await;
    for req in [
        Request::get("/readyz?format=json").body(Full::default()),
        Request::get("/readyz")
            .header("accept", "text/html, Application/JSON;q=0.9")
            .body(Full::default()),
    ] {
        let r = call(&layer, req.expect("request")).await;
        assert_eq!(r.status, 503);
        assert_eq!(r.headers["content-type"], "application/json");
        let v: serde_json::Value = serde_json::from_str(&r.body).expect("valid JSON");
        assert_eq!(v["status"], "failed");
        assert_eq!(v["probe"], "readyz");
        assert_eq!(v["checks"][0]["name"], "database");
        assert_eq!(v["checks"][0]["status"], "ok");
        assert_eq!(v["checks"][0]["critical"], true);
        assert!(v["checks"][0].get("reason").is_none());
        assert_eq!(v["checks"][1]["status"], "failed");
        assert_eq!(v["checks"][1]["state"], "failing");
        assert_eq!(v["checks"][1]["reason"], "connection refused");
    }
    let withheld = two_checks(true, false).await;
    let r = get(&withheld, "/readyz?format=json&exclude=nope").await;
    let v: serde_json::Value = serde_json::from_str(&r.body).expect("valid JSON");
    assert!(
        v["checks"][1].get("reason").is_none(),
        "withheld by default"
    );
    assert_eq!(
        v["warnings"][0],
        "some health checks cannot be excluded: no matches for \"nope\""
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn head_and_other_methods() {
    let layer = two_checks(true, false).await;
    let r = head(&layer, "/readyz").await;
    assert_eq!((r.status, r.body.as_str()), (503, ""));
    assert_eq!(r.headers["cache-control"], "no-store");
    for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        let req = Request::builder()
            .method(method)
            .uri("/livez")
            .body(Full::default())
            .expect("request");
        let r = call(&layer, req).await;
        assert_eq!(r.status, 405, "{method}");
        assert_eq!(r.headers["allow"], "GET, HEAD");
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn per_check_path() {
    let layer = two_checks(true, false).await;
    let withheld = "[-]cache failed: reason withheld\nreadyz check failed\n";
    let cases = [
        ("/readyz/database", 200, "ok"),
        ("/readyz/cache?verbose", 503, withheld),
    ];
    assert_answers(&layer, &cases).await;
    let unknown = [
        "/readyz/nope",
        "/readyz/DATABASE",
        "/readyz/database/x",
        "/readyz/%64b",
    ];
    assert_each(&layer, &unknown, 404, |_, r| {
        assert!(!r.body.contains("nope"), "input is not reflected");
    })
    .await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn liveness_ignores_readiness() {
    let layer = two_checks(false, false).await;
    for path in ["/livez", "/healthz"] {
        assert_eq!(answer(&layer, path).await, (200, "ok".into()), "{path}");
    }
    let r = get(&layer, "/healthz?verbose").await;
    assert_eq!(r.body, "healthz check passed\n");
    let engine = Engine::builder()
        .check(
            CheckSpec::liveness("deadlock", check_fn(|| async { Err::<(), _>("stuck") }))
                .failure_threshold(1),
        )
        .build()
        .expect("valid");
    engine.refresh().await.expect("the engine runs");
    let layer = ReadinessLayer::new(engine);
    assert_eq!(
        answer(&layer, "/livez").await,
        (
            503,
            "[+]heartbeat ok\n[-]deadlock failed: reason withheld\nlivez check failed\n".into()
        )
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn startupz_latches() {
    let db = Flag::new(false);
    let engine = engine_with(vec![db.spec("db")]).await;
    let layer = ReadinessLayer::new(engine.clone());
    let withheld = "[-]db failed: reason withheld\nstartupz check failed\n";
    assert_latches(&engine, &layer, &db, "/startupz", withheld).await;
    // `/readyz` still follows the check.
    assert_eq!(get(&layer, "/readyz").await.status, 503);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn pending_is_not_ready() {
    let engine = Engine::builder()
        .without_heartbeat()
        .check(
            Flag::new(true)
                .spec("db")
                .initial_delay(Duration::from_secs(60)),
        )
        .build()
        .expect("valid");
    let layer = detailed(engine);
    assert_eq!(
        answer(&layer, "/readyz").await,
        (503, "[-]db failed: pending\nreadyz check failed\n".into())
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn other_requests_reach_the_inner_service_untouched() {
    let layer = two_checks(true, true).await;
    let uris = [
        "/",
        "/readyzz",
        "/readyz/",
        "/livez/",
        "/api/readyz",
        "/READYZ",
        "/metrics",
        "/healthz/x?verbose",
    ];
    assert_reach_the_app(&layer, &uris).await;
    let req = Request::post("/submit?x=1")
        .body(Full::new(Bytes::from("payload")))
        .expect("request");
    let r = call(&layer, req).await;
    assert_eq!(r.body, "inner POST /submit?x=1");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn paths_are_configurable_and_endpoints_can_be_switched_off() {
    let layer = two_checks_with(true, true, |b| {
        b.path(Endpoint::Readyz, "/-/ready")
            .path(Endpoint::Livez, "/alive")
            .disable(Endpoint::Healthz)
    })
    .await;
    assert_eq!(get(&layer, "/-/ready").await.body, "ok");
    assert_eq!(get(&layer, "/-/ready/cache").await.body, "ok");
    assert_eq!(get(&layer, "/alive").await.body, "ok");
    assert_eq!(get(&layer, "/readyz").await.body, "inner GET /readyz");
    assert_eq!(get(&layer, "/healthz").await.body, "inner GET /healthz");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn hostile_queries_get_bounded_answers() {
    let layer = two_checks(true, false).await;
    let many = "exclude=%22%0a%5c&".repeat(3000) + "verbose";
    let r = get(&layer, &format!("/readyz?{many}")).await;
    assert_eq!(r.status, 503);
    assert!(r.body.len() < 512, "bounded: {}", r.body.len());
    assert_contains(&r.body, r#"no matches for "\"\n\\""#);
    let distinct: String = (0..100).map(|i| format!("exclude=n{i}&")).collect();
    let r = get(&layer, &format!("/readyz?{distinct}")).await;
    // 32 excludes are read (the pair bound), 16 are listed.
    assert_contains(&r.body, "and 16 more");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_shutdown_entry_has_its_own_path() {
    let engine = engine_with(vec![Flag::new(true).spec("db")]).await;
    let layer = ReadinessLayer::new(engine.clone());
    assert_eq!(get(&layer, "/readyz/shutdown").await.body, "ok");
    engine.drain();
    assert_eq!(
        answer(&layer, "/readyz/shutdown").await,
        (
            503,
            "[-]shutdown failed: reason withheld\nreadyz check failed\n".into()
        )
    );
    assert_eq!(
        get(&layer, "/readyz/db").await.status,
        200,
        "db itself is fine"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_startup_check_answers_at_its_own_path() {
    let migrations = Flag::new(false);
    let db = Flag::new(true);
    let engine = engine_with(vec![
        migrations.spec_of("migrations", readiness_tower::Kind::Startup),
        db.spec("db"),
    ])
    .await;
    let layer = ReadinessLayer::new(engine.clone());
    // Listed by /readyz?verbose before startup...
    let r = get(&layer, "/readyz?verbose").await;
    assert_contains(&r.body, "[-]migrations failed");
    // ...so its own path answers too, not 404; once started it holds nothing back: latched, as
    // /startupz.
    let withheld = "[-]migrations failed: reason withheld\nreadyz check failed\n";
    assert_latches(&engine, &layer, &migrations, "/readyz/migrations", withheld).await;
    assert_eq!(get(&layer, "/readyz").await.status, 200);
    // A liveness check is still not a readiness path.
    assert_eq!(get(&layer, "/readyz/heartbeat").await.status, 404);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn accept_quality_zero_is_not_json() {
    let layer = two_checks(true, true).await;
    for (accept, json) in [
        ("application/json;q=0", false),
        ("application/json; q=0.0", false),
        ("*/*", false),
        ("text/plain, application/json;q=0", false),
        ("application/json;q=0.5", true),
        ("application/json", true),
    ] {
        let req = Request::get("/readyz")
            .header("accept", accept)
            .body(Full::default())
            .expect("request");
        let r = call(&layer, req).await;
        let want = if json {
            "application/json"
        } else {
            "text/plain; charset=utf-8"
        };
        assert_eq!(r.headers["content-type"], want, "Accept: {accept}");
        assert_eq!(
            r.body.starts_with('{'),
            json,
            "Accept: {accept}: {}",
            r.body
        );
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_long_junk_query_gets_the_plain_answer() {
    let layer = two_checks(true, true).await;
    let junk = format!("/readyz?{}", "a=b&".repeat(16_000));
    assert_eq!(answer(&layer, &junk).await, (200, "ok".into()));
    // Past the bounds nothing more is read, not even `verbose`.
    let late = format!("/readyz?{}verbose", "a=b&".repeat(40));
    assert_eq!(get(&layer, &late).await.body, "ok");
    let early = format!("/readyz?verbose&{}", "a=b&".repeat(16_000));
    assert!(
        get(&layer, &early)
            .await
            .body
            .ends_with("readyz check passed\n")
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn bad_paths_are_typed_errors_when_the_layer_is_built() {
    let engine = engine_with(vec![]).await;
    let build = |f: fn(ReadinessLayerBuilder) -> ReadinessLayerBuilder| {
        f(ReadinessLayer::builder(engine.clone())).build()
    };
    assert_eq!(
        build(|b| b.path(Endpoint::Readyz, "")).err(),
        Some(LayerError::EmptyPath {
            endpoint: Endpoint::Readyz
        })
    );
    assert_eq!(
        build(|b| b.path(Endpoint::Livez, "alive")).err(),
        Some(LayerError::NoLeadingSlash {
            endpoint: Endpoint::Livez,
            path: "alive".into()
        })
    );
    assert_eq!(
        build(|b| b.path(Endpoint::Startupz, "/s?x=1")).err(),
        Some(LayerError::QueryInPath {
            endpoint: Endpoint::Startupz,
            path: "/s?x=1".into()
        })
    );
    let dup = build(|b| b.path(Endpoint::Livez, "/readyz")).err();
    assert_eq!(
        dup,
        Some(LayerError::DuplicatePath {
            path: "/readyz".into(),
            first: Endpoint::Livez,
            second: Endpoint::Readyz
        })
    );
    assert_eq!(
        dup.map(|e| e.to_string()).as_deref(),
        Some("livez and readyz are both configured at \"/readyz\"")
    );
    assert!(
        build(|b| b.audit_endpoint("/healthz")).is_err(),
        "the audit view collides too"
    );
    // The order of the calls does not matter: moving one endpoint away frees its path.
    assert!(
        build(|b| b
            .path(Endpoint::Livez, "/readyz")
            .path(Endpoint::Readyz, "/ready"))
        .is_ok()
    );
    assert!(build(|b| b.disable(Endpoint::Readyz).path(Endpoint::Livez, "/readyz")).is_ok());
    // `/metrics` answers nothing without a handle, so nothing collides with it then.
    assert!(build(|b| b.path(Endpoint::Livez, "/metrics")).is_ok());
    // And a refused layer takes over nothing: `/` still reaches the application.
    let layer = ReadinessLayer::new(engine.clone());
    assert_eq!(get(&layer, "/").await.body, "inner GET /");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn groups_show_in_json() {
    let engine = engine_with(vec![
        Flag::new(false).spec("db").group("storage"),
        Flag::new(true).spec("ping"),
    ])
    .await;
    let layer = ReadinessLayer::new(engine);
    let r = get(&layer, "/readyz?format=json&exclude=storage").await;
    assert_eq!(r.status, 200);
    let v: serde_json::Value = serde_json::from_str(&r.body).expect("JSON");
    assert_eq!(v["checks"][0]["name"], "db");
    assert_eq!(v["checks"][0]["group"], "storage");
    assert_eq!(v["checks"][0]["status"], "excluded");
    assert!(v["checks"][1].get("group").is_none());
    assert_eq!(v["warnings"].as_array().map(Vec::len), Some(0));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_bad_group_is_a_build_error() {
    let err = Engine::builder()
        .check(Flag::new(true).spec("db").group("Storage!"))
        .build()
        .expect_err("refused");
    assert!(
        matches!(
            err.problems(),
            [readiness_tower::engine::ConfigProblem::InvalidGroup { group, .. }] if group == "Storage!"
        ),
        "{err}"
    );
}
