//! Every vector of `conformance/kube-apiserver.json` and `conformance/kube-apiserver-groups.json`
//! (shared with the project's other tools), and of the project's own `tests/data/readiness-blocked.json`
//! (dependencies between checks: the `blocked by` line).

mod common;

use std::path::PathBuf;

use common::{Flag, engine_with, get};
use readiness_tower::ReadinessLayer;

fn vectors(file: &str) -> serde_json::Value {
    // The shared copy is the source of truth when it is beside the repository; the copy in
    // tests/data keeps the test self-contained elsewhere.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let shared = root.join("../../shared/conformance").join(file);
    let local = root.join("tests/data").join(file);
    let path = if shared.exists() { shared } else { local };
    let text = std::fs::read_to_string(&path).expect("conformance vectors");
    serde_json::from_str(&text).expect("valid JSON")
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn every_kube_apiserver_vector_passes() {
    run(&vectors("kube-apiserver.json"), 14).await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn every_check_group_vector_passes() {
    run(&vectors("kube-apiserver-groups.json"), 5).await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn every_blocked_by_vector_passes() {
    run(&vectors("readiness-blocked.json"), 10).await;
}

async fn run(v: &serde_json::Value, at_least: usize) {
    let cases = v["cases"].as_array().expect("cases");
    assert!(cases.len() >= at_least, "all vectors loaded");
    for (i, case) in cases.iter().enumerate() {
        let mut specs = Vec::new();
        for c in case["checks"].as_array().expect("checks") {
            let name = c["name"].as_str().expect("name");
            let passing = c["passing"].as_bool().expect("passing");
            let critical = c["critical"].as_bool().unwrap_or(true);
            let mut spec = Flag::new(passing).spec(name).critical(critical);
            if let Some(group) = c["group"].as_str() {
                spec = spec.group(group);
            }
            for dep in c["depends_on"].as_array().into_iter().flatten() {
                spec = spec.depends_on(dep.as_str().expect("a check name"));
            }
            specs.push(spec);
        }
        let engine = engine_with(specs).await;
        if case["draining"].as_bool().unwrap_or(false) {
            engine.drain();
        }
        let layer = ReadinessLayer::new(engine);
        let uri = format!(
            "/readyz{}{}",
            case["path"].as_str().unwrap_or(""),
            case["query"].as_str().unwrap_or("")
        );
        let res = get(&layer, &uri).await;
        let want_status = case["status"].as_u64().expect("status");
        let want_body = case["body"].as_str().expect("body");
        assert_eq!(
            (u64::from(res.status), res.body.as_str()),
            (want_status, want_body),
            "case {i}: GET {uri}"
        );
        assert_eq!(
            res.headers["content-type"], "text/plain; charset=utf-8",
            "case {i}"
        );
        assert_eq!(res.headers["x-content-type-options"], "nosniff", "case {i}");
        assert_eq!(res.headers["cache-control"], "no-store", "case {i}");
    }
}
