//! The promtool rule tests (`ops/prometheus/tests/*.yml`): the series they feed, the queries
//! they evaluate and the samples they expect name only exported or recorded metrics (a test
//! feeding a renamed metric would test nothing), and every alert they test is defined. The
//! parsing and the checks are in `ops/`.

mod ops;

use ops::checks::{check_alerts, check_metrics, problems_mentioning};
use ops::files::{Exported, OpsFiles};

#[test]
fn a_rule_test_feeding_or_expecting_a_renamed_metric_is_reported_with_its_places() {
    let exported = Exported::from_crate();
    let mut files = OpsFiles::load();
    let test = r#"
rule_files: [../recording.yml]
tests:
  - interval: 1m
    input_series:
      - series: 'readiness_stat{job="demo", instance="a"}'
        values: '1x10'
    promql_expr_test:
      - expr: readiness_stat
        eval_time: 5m
        exp_samples:
          - labels: 'readiness_stat{job="demo", instance="a"}'
            value: 1
"#;
    files
        .rule_tests
        .push(("ops/prometheus/tests/typo.yml".into(), test.into()));
    let problems = check_metrics(&files, &exported);
    let hits = problems_mentioning(&problems, "`readiness_stat`");
    assert_eq!(hits.len(), 1, "{problems:#?}");
    for place in [
        "ops/prometheus/tests/typo.yml: tests[0].input_series[0].series",
        "ops/prometheus/tests/typo.yml: tests[0].promql_expr_test[0].expr",
        "ops/prometheus/tests/typo.yml: tests[0].promql_expr_test[0].exp_samples[0].labels",
    ] {
        assert!(hits[0].contains(place), "{place} not in {}", hits[0]);
    }
    assert_eq!(
        problems.len(),
        1,
        "only the typo is reported: {problems:#?}"
    );
}

#[test]
fn a_rule_test_of_an_alert_no_rule_defines_is_reported() {
    let mut files = OpsFiles::load();
    let test = r"
rule_files: [../alerts.yml]
tests:
  - interval: 1m
    input_series: []
    alert_rule_test:
      - eval_time: 5m
        alertname: ReadinessNotReadyy
";
    files
        .rule_tests
        .push(("ops/prometheus/tests/typo.yml".into(), test.into()));
    let problems = check_alerts(&files);
    assert_eq!(
        problems,
        [
            "ops/prometheus/tests/typo.yml: tests[0].alert_rule_test[0]: tests alert `ReadinessNotReadyy`, which no rule defines"
        ],
        "{problems:#?}"
    );
}

#[test]
fn rule_tests_without_expression_tests_are_reported_as_a_format_change() {
    let exported = Exported::from_crate();
    let mut files = OpsFiles::load();
    for (_, text) in &mut files.rule_tests {
        *text = "tests: []\n".into();
    }
    let problems = check_metrics(&files, &exported);
    assert_eq!(
        problems,
        ["found no promql_expr_test exprs in ops/prometheus/tests/*.yml: did its format change?"],
        "{problems:#?}"
    );
}
