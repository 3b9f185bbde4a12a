//! The Prometheus rules (`ops/prometheus/*.yml`) read only metrics the crate exports or a rule
//! records, every exported metric is read by a rule or an `SLO.md` query, and every alert is
//! labelled, annotated and has its runbook section. The parsing and the checks are in `ops/`.

mod ops;

use ops::checks::{assert_no_problems, check_alerts, check_metrics, problems_mentioning};
use ops::files::{Exported, OpsFiles};

#[test]
fn every_metric_in_ops_is_exported_or_recorded_and_every_export_is_used() {
    let exported = Exported::from_crate();
    assert!(
        exported
            .histograms
            .contains(readiness_core::metrics::CHECK_DURATION_SECONDS),
        "readiness_check_duration_seconds is described as a histogram"
    );
    assert_no_problems(
        "ops/ and readiness_core::metrics disagree",
        &check_metrics(&OpsFiles::load(), &exported),
    );
}

#[test]
fn every_alert_is_labelled_annotated_and_has_a_runbook_section() {
    assert_no_problems("ops/ alerts", &check_alerts(&OpsFiles::load()));
}

#[test]
fn a_renamed_metric_in_a_rule_is_reported_with_its_rule() {
    let exported = Exported::from_crate();
    let mut files = OpsFiles::load();
    let rule = r#"
groups:
  - name: typo
    rules:
      - record: job:typo:sum
        expr: sum by (job) (avg_over_time(readiness_stat[5m]))
"#;
    files
        .rules
        .push(("ops/prometheus/typo.yml".into(), rule.into()));
    let problems = check_metrics(&files, &exported);
    let hits = problems_mentioning(&problems, "`readiness_stat`");
    assert_eq!(hits.len(), 1, "{problems:#?}");
    assert!(
        hits[0].contains("ops/prometheus/typo.yml: group typo, record job:typo:sum"),
        "{}",
        hits[0]
    );
    assert_eq!(
        problems.len(),
        1,
        "only the typo is reported: {problems:#?}"
    );
}

#[test]
fn a_metric_renamed_everywhere_in_ops_is_reported_as_unused() {
    // What happens when the crate renames a metric but ops/ is not updated, seen from the
    // other side: ops/ reads `readiness_stat`, which the crate does not export, and nothing
    // reads the exported `readiness_state`.
    let exported = Exported::from_crate();
    let mut files = OpsFiles::load();
    let rename = |text: &mut String| {
        *text = text
            .replace("readiness_state", "readiness_stat")
            .replace("tenant_readiness_stat", "tenant_readiness_state");
    };
    files.rules.iter_mut().for_each(|(_, text)| rename(text));
    rename(&mut files.slo.1);
    rename(&mut files.dashboard.1);
    let problems = check_metrics(&files, &exported);
    let unknown = problems_mentioning(&problems, "`readiness_stat`");
    assert_eq!(unknown.len(), 1, "{problems:#?}");
    for place in [
        "alerts.yml: group readiness-alerts, alert ReadinessNotReady",
        "recording.yml: group readiness-availability, record instance:readiness_not_ready:bool",
        "ops/grafana/readiness.json: /panels/",
        "ops/SLO.md:",
    ] {
        assert!(unknown[0].contains(place), "{place} not in {}", unknown[0]);
    }
    let unused = problems_mentioning(&problems, "read by no rule expr");
    assert_eq!(unused.len(), 1, "{problems:#?}");
    assert!(
        unused[0].ends_with(":\n  - readiness_state"),
        "only readiness_state is unused: {}",
        unused[0]
    );
    assert_eq!(problems.len(), 2, "{problems:#?}");
}

#[test]
fn alerts_without_runbook_sections_or_annotations_are_reported() {
    let mut files = OpsFiles::load();
    let rule = r#"
groups:
  - name: bad
    rules:
      - alert: NoRunbook
        expr: readiness_state == 0
        labels:
          severity: ticket
        annotations:
          summary: s
          description: d
          runbook_url: https://github.com/readiness/readiness/blob/main/ops/SLO.md#norunbook
      - alert: Bare
        expr: readiness_state == 0
"#;
    files
        .rules
        .push(("ops/prometheus/bad.yml".into(), rule.into()));
    let problems = check_alerts(&files);
    let expected = [
        "alert NoRunbook: runbook_url anchor `#norunbook`",
        "alert Bare: no labels.severity",
        "alert Bare: no annotations.summary",
        "alert Bare: no annotations.description",
        "alert Bare: no annotations.runbook_url",
    ];
    for e in expected {
        assert_eq!(
            problems_mentioning(&problems, e).len(),
            1,
            "{e}: {problems:#?}"
        );
    }
    assert_eq!(problems.len(), expected.len(), "{problems:#?}");
}

#[test]
fn a_renamed_readiness_draining_is_reported_from_both_sides() {
    // ops/ renamed, the crate not: ops/ reads a series nobody exports, and the exported
    // readiness_draining is read by nothing.
    let exported = Exported::from_crate();
    let mut files = OpsFiles::load();
    let rename = |text: &mut String| *text = text.replace("readiness_draining", "readiness_drain");
    files.rules.iter_mut().for_each(|(_, text)| rename(text));
    rename(&mut files.slo.1);
    rename(&mut files.dashboard.1);
    let problems = check_metrics(&files, &exported);
    let unknown = problems_mentioning(&problems, "`readiness_drain`");
    assert_eq!(unknown.len(), 1, "{problems:#?}");
    for place in [
        "record instance:readiness_not_ready:bool",
        "alert ReadinessDrainStuck",
        "alert ReadinessNotReady",
        "ops/grafana/readiness.json: /panels/",
        "ops/SLO.md:",
    ] {
        assert!(unknown[0].contains(place), "{place} not in {}", unknown[0]);
    }
    let unused = problems_mentioning(&problems, "read by no rule expr");
    assert_eq!(unused.len(), 1, "{problems:#?}");
    assert!(
        unused[0].ends_with(":\n  - readiness_draining"),
        "{}",
        unused[0]
    );

    // The crate renamed, ops/ not: every ops/ reference is unknown.
    let mut renamed = Exported::from_crate();
    renamed
        .all
        .remove(readiness_core::metrics::READINESS_DRAINING);
    renamed.all.insert("readiness_drain".to_owned());
    let problems = check_metrics(&OpsFiles::load(), &renamed);
    assert_eq!(
        problems_mentioning(&problems, "`readiness_draining` is neither exported").len(),
        1,
        "{problems:#?}"
    );
}
