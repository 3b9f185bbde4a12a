//! `TenantMetricsMode::NotReadyOnly` (issue 12, item 5): a tenant gets its state and
//! transition series from its own first failure only. Through the facade here, where the
//! recorder sees every write; `readiness-tower/tests/collector.rs` renders the same through the
//! collector and compares.

mod common;

use std::time::Duration;

use common::*;
use readiness_core::metrics::{TENANT_CHECK_SECONDS_TOTAL, TENANT_STATE, TENANT_TRANSITIONS_TOTAL};
use readiness_core::{Engine, EngineBuilder, TenantMetricsExport, TenantMetricsMode};

fn tenant_series(rec: &LogRecorder, tenant: Option<&str>) -> Vec<String> {
    rec.writes()
        .into_iter()
        .filter(|w| w.name == TENANT_STATE || w.name == TENANT_TRANSITIONS_TOTAL)
        .filter(|w| tenant.is_none_or(|t| w.label("tenant") == Some(t)))
        .map(|w| format!("{}{:?}", w.name, w.labels))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// `builder` with no heartbeat, tenant series through the facade for the tenants that failed
/// only, room for 1001 tenants; built, with a thousand healthy tenants added (`t0` to `t999`).
fn a_thousand_healthy_tenants(builder: EngineBuilder) -> Engine {
    let engine = builder
        .without_heartbeat()
        .tenant_metrics(TenantMetricsMode::NotReadyOnly)
        .tenant_metrics_export(TenantMetricsExport::Facade)
        .max_tenants(1001)
        .build()
        .expect("valid");
    let ok = Switch::new(OK);
    for i in 0..1000 {
        engine
            .add_tenant(&format!("t{i}"), vec![spec1("db", &ok)])
            .expect("added");
    }
    engine
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_thousand_healthy_tenants_cost_no_state_series_even_through_a_drain() {
    let rec = LogRecorder::install();
    let engine = a_thousand_healthy_tenants(Engine::builder());
    advance(Duration::from_secs(3)).await;
    assert_eq!(engine.tenant_ready("t999"), Some(true));
    let series = tenant_series(&rec, None);
    assert_eq!(
        series.len(),
        0,
        "pending at start and ready: {} series, {:?}",
        series.len(),
        series.first()
    );
    engine.drain();
    advance(Duration::from_secs(3)).await;
    assert_eq!(engine.tenant_ready("t999"), Some(false), "drained");
    let series = tenant_series(&rec, None);
    assert_eq!(
        series.len(),
        0,
        "after the instance's drain: {} series, {:?}",
        series.len(),
        series.first()
    );
    let seconds = rec
        .series()
        .into_iter()
        .filter(|s| s.starts_with(TENANT_CHECK_SECONDS_TOTAL))
        .count();
    assert_eq!(
        seconds, 1000,
        "check time stays per tenant (cost attribution)"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_failing_tenant_gets_its_own_series_and_no_other_does() {
    let rec = LogRecorder::install();
    let bad = Switch::new(OK);
    let engine =
        a_thousand_healthy_tenants(Engine::builder().tenant("bad", vec![spec1("db", &bad)]));
    advance(Duration::from_secs(2)).await;
    bad.set(FAIL);
    advance(Duration::from_secs(2)).await;
    assert_eq!(engine.tenant_ready("bad"), Some(false));
    let all = tenant_series(&rec, None);
    let own = tenant_series(&rec, Some("bad"));
    assert_eq!(
        all.len(),
        own.len(),
        "only the failing tenant's: {} series, its own {}",
        all.len(),
        own.len()
    );
    let state = rec
        .writes_to(TENANT_STATE)
        .into_iter()
        .next_back()
        .expect("its state is written");
    assert_eq!(state.op, Op::Set(0.0));
    let to_not_ready = rec.increments(TENANT_TRANSITIONS_TOTAL, "to", "not_ready");
    assert_eq!(to_not_ready, 1, "its own failure, counted once");
    bad.set(OK);
    advance(Duration::from_secs(2)).await;
    let state = rec
        .writes_to(TENANT_STATE)
        .into_iter()
        .next_back()
        .expect("written");
    assert_eq!(
        state.op,
        Op::Set(1.0),
        "set to 1 once more when it recovers"
    );
}
