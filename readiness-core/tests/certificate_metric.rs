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

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_run_knows_its_deadline_and_outside_a_run_there_is_none() {
    assert!(readiness_core::run_deadline().is_none());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
    let s = seen.clone();
    let check = check_fn(move || {
        let s = s.clone();
        async move {
            let left = readiness_core::run_deadline()
                .map(|d| d.saturating_duration_since(tokio::time::Instant::now()));
            *s.lock().expect("lock") = left;
            Ok::<(), std::io::Error>(())
        }
    });
    let engine = Engine::builder()
        .without_heartbeat()
        .check(CheckSpec::readiness("api", check).timeout(Duration::from_millis(750)))
        .build()
        .expect("valid");
    engine.refresh().await.expect("runs");
    assert_eq!(
        *seen.lock().expect("lock"),
        Some(Duration::from_millis(750)),
        "the run's deadline is its start plus the check's timeout"
    );
}
