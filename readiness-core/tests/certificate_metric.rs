//! `readiness_certificate_expiry_timestamp_seconds` (issue 21): a check records it through
//! `metrics::record_certificate_expiry` and the engine supplies the labels: the check's
//! registered name, and its tenant's registered id.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use readiness_core::metrics::{CERTIFICATE_EXPIRY_TIMESTAMP_SECONDS, record_certificate_expiry};
use readiness_core::{CheckSpec, Engine, check_fn};

/// A check that saw a certificate valid until `secs` (unix time).
fn saw_certificate(secs: u64) -> impl readiness_core::Check {
    check_fn(move || async move {
        let recorded = record_certificate_expiry(UNIX_EPOCH + Duration::from_secs(secs));
        // Recorded only inside a run, where the engine gave the labels.
        if recorded {
            Ok(())
        } else {
            Err("no run labels")
        }
    })
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_gauge_carries_the_registered_check_name_and_tenant_id() {
    let rec = LogRecorder::new();
    let _guard = metrics::set_default_local_recorder(&rec);
    let engine = Engine::builder()
        .without_heartbeat()
        .check(CheckSpec::readiness(
            "api-tls",
            saw_certificate(1_900_000_000),
        ))
        .tenant(
            "acme",
            vec![CheckSpec::readiness(
                "store",
                saw_certificate(1_800_000_000),
            )],
        )
        .build()
        .expect("valid");
    advance(Duration::from_secs(3)).await;
    assert!(engine.is_ready());
    assert_eq!(engine.tenant_ready("acme"), Some(true));
    let mut seen: Vec<(Vec<(String, String)>, f64)> = rec
        .writes_to(CERTIFICATE_EXPIRY_TIMESTAMP_SECONDS)
        .into_iter()
        .filter_map(|w| match w.op {
            Op::Set(v) => Some((w.labels, v)),
            _ => None,
        })
        .collect();
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    seen.dedup();
    let pair = |k: &str, v: &str| (k.to_owned(), v.to_owned());
    assert_eq!(
        seen,
        vec![
            (vec![pair("check", "api-tls")], 1_900_000_000.0),
            (
                vec![pair("check", "store"), pair("tenant", "acme")],
                1_800_000_000.0
            ),
        ]
    );
}

#[test]
fn outside_a_run_nothing_is_recorded() {
    let rec = LogRecorder::new();
    let _guard = metrics::set_default_local_recorder(&rec);
    assert!(!record_certificate_expiry(SystemTime::now()));
    assert!(
        rec.writes_to(CERTIFICATE_EXPIRY_TIMESTAMP_SECONDS)
            .is_empty()
    );
}
