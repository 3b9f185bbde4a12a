//! The Grafana dashboard (`ops/grafana/readiness.json`): its queries and variable queries
//! parse once Grafana's variables are replaced, read only exported or recorded series (a
//! histogram by its suffixes), and show draining instances apart from not-ready ones. The
//! parsing and the checks are in `ops/`.

mod ops;

use ops::checks::{check_metrics, problems_mentioning};
use ops::collect::{Collected, Source, json_exprs};
use ops::files::{Exported, OpsFiles};
use ops::promql::{NameRef, grafana_to_promql, variable_query_promql};

#[test]
fn histogram_suffixes_belong_to_histograms_only() {
    let exported = Exported::from_crate();
    let mut files = OpsFiles::load();
    files.dashboard.1 = serde_json::json!({
        "panels": [{ "targets": [
            { "expr": "readiness_state_bucket" },
            { "expr": "sum(rate(readiness_check_duration_seconds[$__rate_interval]))" },
            { "expr": "{__name__=~\"readiness_nope.*\", job=~\"$job\"}" },
            { "expr": "{__name__=\"tenant_readiness_tenants\"} > ${threshold:raw}" },
        ]}]
    })
    .to_string();
    let problems = check_metrics(&files, &exported);
    assert_eq!(
        problems_mentioning(&problems, "`readiness_state_bucket`").len(),
        1,
        "{problems:#?}"
    );
    assert_eq!(
        problems_mentioning(&problems, "is a histogram").len(),
        1,
        "{problems:#?}"
    );
    assert_eq!(
        problems_mentioning(&problems, "readiness_nope").len(),
        1,
        "{problems:#?}"
    );
    assert_eq!(problems.len(), 3, "{problems:#?}");
}

#[test]
fn the_dashboard_shows_draining_instances_apart_from_not_ready_ones() {
    let files = OpsFiles::load();
    let json: serde_json::Value =
        serde_json::from_str(&files.dashboard.1).expect("valid dashboard JSON");
    let mut exprs = Vec::new();
    json_exprs(&json, String::new(), &mut exprs);
    let reading = |name: &str| -> Vec<&str> {
        exprs
            .iter()
            .filter(|(_, e)| {
                let names = names_in_query(&grafana_to_promql(e));
                names.iter().any(|n| n == name)
            })
            .map(|(p, _)| p.as_str())
            .collect()
    };
    assert!(
        !reading(readiness_core::metrics::READINESS_DRAINING).is_empty(),
        "no dashboard query reads readiness_draining"
    );
    assert!(
        !reading("instance:readiness_not_ready:bool").is_empty()
            || !reading("job:readiness_not_ready:sum").is_empty(),
        "no dashboard query shows counted not-ready instances"
    );
}

/// Metric names an expression selects (exact `__name__` only).
fn names_in_query(promql: &str) -> Vec<String> {
    let mut c = Collected::default();
    c.query(promql, Source::OtherQuery, "dashboard".to_owned());
    c.references
        .into_iter()
        .filter_map(|r| match r.name {
            NameRef::Exact(n) => Some(n),
            NameRef::Regex(_) => None,
        })
        .collect()
}

#[test]
fn grafana_variables_and_variable_queries_become_promql() {
    assert_eq!(
        grafana_to_promql(
            r#"rate(x{job=~"$job", i="${instance:regex}"}[$__rate_interval]) * $__range_s > $n"#
        ),
        r#"rate(x{job=~".*", i=".*"}[5m]) * 300 > 1"#
    );
    assert_eq!(
        variable_query_promql(r#"label_values(readiness_state{job=~"$job", a=","}, instance)"#),
        Some(r#"readiness_state{job=~"$job", a=","}"#)
    );
    assert_eq!(variable_query_promql("label_values(job)"), None);
}
