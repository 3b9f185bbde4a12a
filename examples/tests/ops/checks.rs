//! The checks: each returns its problems, one line (or bullet list) each.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_yaml_ng::Value as Yaml;

use super::collect::{Collected, Source};
use super::files::{Exported, HISTOGRAM_SUFFIXES, OpsFiles};
use super::markdown::Markdown;
use super::promql::NameRef;

/// Problems with metric names: unparseable queries, unknown names, unused exported metrics.
pub fn check_metrics(files: &OpsFiles, exported: &Exported) -> Vec<String> {
    let c = Collected::from_files(files);
    let mut problems = c.problems.clone();
    let known = |name: &str, source: Source| {
        c.recorded.contains_key(name)
            || exported.series_of(name).is_some()
            || (source == Source::Prose && exported.all.contains(name))
    };
    let mut unknown: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    let mut bare_histogram: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    let mut used: BTreeSet<&str> = BTreeSet::new();
    for r in &c.references {
        let counts_as_use = matches!(r.source, Source::Rule | Source::SloQuery);
        match &r.name {
            NameRef::Exact(name) => {
                if counts_as_use {
                    used.extend(exported.series_of(name));
                }
                if known(name, r.source) {
                    continue;
                }
                let bucket = if exported.histograms.contains(name) {
                    &mut bare_histogram
                } else {
                    &mut unknown
                };
                let origins = bucket.entry(name.clone()).or_default();
                if !origins.contains(&r.origin.as_str()) {
                    origins.push(&r.origin);
                }
            }
            NameRef::Regex(m) => {
                let candidates = exported.all.iter().flat_map(|base| {
                    let suffixes: &[&str] = if exported.histograms.contains(base) {
                        HISTOGRAM_SUFFIXES
                    } else {
                        &[""]
                    };
                    suffixes.iter().map(move |s| format!("{base}{s}"))
                });
                let matched: Vec<String> = candidates
                    .chain(c.recorded.keys().cloned())
                    .filter(|n| m.is_match(n))
                    .collect();
                if matched.is_empty() {
                    unknown
                        .entry(format!("{{__name__=~\"{}\"}}", m.value))
                        .or_default()
                        .push(&r.origin);
                }
                if counts_as_use {
                    used.extend(matched.iter().filter_map(|n| exported.series_of(n)));
                }
            }
        }
    }
    for (name, origins) in unknown {
        problems.push(format!(
            "`{name}` is neither exported (readiness_core::metrics::ALL) nor recorded by a rule; referenced at:{}",
            bullet_list(origins)
        ));
    }
    for (name, origins) in bare_histogram {
        problems.push(format!(
            "`{name}` is a histogram: PromQL must read `{name}_bucket`, `_sum` or `_count`; bare name at:{}",
            bullet_list(origins)
        ));
    }
    let unused: Vec<&String> = exported
        .all
        .iter()
        .filter(|name| !used.contains(name.as_str()))
        .collect();
    if !unused.is_empty() {
        let mut msg = String::from(
            "exported metrics read by no rule expr (ops/prometheus/*.yml) and no ```promql block of ops/SLO.md:",
        );
        for name in unused {
            let _ = write!(msg, "\n  - {name}");
        }
        problems.push(msg);
    }
    problems
}

/// Problems with alerts: missing labels or annotations, runbook anchors that do not exist,
/// broken in-page links in SLO.md, rule tests of alerts that do not exist.
pub fn check_alerts(files: &OpsFiles) -> Vec<String> {
    let c = Collected::from_files(files);
    let md = Markdown::parse(&files.slo.1);
    let slo_path = &files.slo.0;
    let mut problems = Vec::new();
    let mut names = BTreeSet::new();
    for alert in &c.alerts {
        if !names.insert(alert.name.as_str()) {
            problems.push(format!("{}: alert defined twice", alert.origin));
        }
        let text = |section: &str, key: &str| {
            alert
                .rule
                .get(section)
                .and_then(|s| s.get(key))
                .and_then(Yaml::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
        };
        if text("labels", "severity").is_none() {
            problems.push(format!("{}: no labels.severity", alert.origin));
        }
        for key in ["summary", "description"] {
            if text("annotations", key).is_none() {
                problems.push(format!("{}: no annotations.{key}", alert.origin));
            }
        }
        match text("annotations", "runbook_url") {
            None => problems.push(format!("{}: no annotations.runbook_url", alert.origin)),
            Some(url) => match url.split_once('#') {
                Some((page, anchor)) if page.ends_with(slo_path.as_str()) => {
                    if !md.anchors.contains(anchor) {
                        problems.push(format!(
                            "{}: runbook_url anchor `#{anchor}` is not a heading of {slo_path} (headings: {})",
                            alert.origin,
                            md.anchors.iter().cloned().collect::<Vec<_>>().join(", ")
                        ));
                    }
                }
                _ => problems.push(format!(
                    "{}: runbook_url `{url}` does not point at a section of {slo_path} (…/{slo_path}#anchor)",
                    alert.origin
                )),
            },
        }
    }
    for (line, anchor) in &md.links {
        if !md.anchors.contains(anchor) {
            problems.push(format!(
                "{slo_path}:{line}: link to `#{anchor}`, which is not a heading"
            ));
        }
    }
    for (name, origin) in &c.tested_alerts {
        if !names.contains(name.as_str()) {
            problems.push(format!(
                "{origin}: tests alert `{name}`, which no rule defines"
            ));
        }
    }
    problems
}

fn bullet_list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    items.into_iter().fold(String::new(), |mut s, item| {
        let _ = write!(s, "\n  - {item}");
        s
    })
}

pub fn assert_no_problems(what: &str, problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{what}: {} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

pub fn problems_mentioning<'a>(problems: &'a [String], needle: &str) -> Vec<&'a String> {
    problems.iter().filter(|p| p.contains(needle)).collect()
}
