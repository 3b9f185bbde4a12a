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

/// The engine's current reason for `db` (`None` while it passes).
pub fn reason(engine: &Engine) -> Option<String> {
    engine
        .snapshot()
        .check("db")
        .and_then(|c| c.reason())
        .map(str::to_owned)
}
