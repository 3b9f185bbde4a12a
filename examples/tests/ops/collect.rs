//! Collecting queries and references from every `ops/` file.

use std::collections::BTreeMap;

use promql_parser::parser;
use serde_yaml_ng::Value as Yaml;

use super::files::OpsFiles;
use super::markdown::Markdown;
use super::promql::{
    NameRef, grafana_to_promql, prose_metric_tokens, selected_names, variable_query_promql,
};

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A rule's `expr` in ops/prometheus/*.yml.
    Rule,
    /// A ```promql block of SLO.md.
    SloQuery,
    /// Anything else parsed as PromQL (dashboard, rule tests).
    OtherQuery,
    /// A token in an inline code span of SLO.md.
    Prose,
}

/// A metric name (or `__name__` regex matcher) found somewhere, with where.
pub struct Reference {
    pub name: NameRef,
    pub source: Source,
    pub origin: String,
}

pub struct Alert {
    pub origin: String,
    pub name: String,
    pub rule: Yaml,
}

#[derive(Default)]
pub struct Collected {
    pub references: Vec<Reference>,
    /// Recorded series name -> where it is recorded.
    pub recorded: BTreeMap<String, Vec<String>>,
    pub alerts: Vec<Alert>,
    /// `alertname`s used by `alert_rule_test`s, with where.
    pub tested_alerts: Vec<(String, String)>,
    /// Parse failures and malformed files.
    pub problems: Vec<String>,
    pub counts: BTreeMap<&'static str, usize>,
}

impl Collected {
    pub fn from_files(files: &OpsFiles) -> Self {
        let mut c = Self::default();
        for (path, text) in &files.rules {
            c.rule_file(path, text);
        }
        for (path, text) in &files.rule_tests {
            c.rule_test_file(path, text);
        }
        c.dashboard(&files.dashboard.0, &files.dashboard.1);
        c.slo(&files.slo.0, &files.slo.1);
        for (what, minimum_source) in [
            ("rule exprs", "ops/prometheus/*.yml"),
            ("recorded series", "ops/prometheus/*.yml"),
            ("alerts", "ops/prometheus/*.yml"),
            ("promql_expr_test exprs", "ops/prometheus/tests/*.yml"),
            ("dashboard queries", "ops/grafana/readiness.json"),
            ("SLO.md promql blocks", "ops/SLO.md"),
        ] {
            if c.counts.get(what).copied().unwrap_or(0) == 0 {
                c.problems.push(format!(
                    "found no {what} in {minimum_source}: did its format change?"
                ));
            }
        }
        c
    }

    fn count(&mut self, what: &'static str) {
        *self.counts.entry(what).or_default() += 1;
    }

    /// Parses `query` and records the metric names it selects.
    pub fn query(&mut self, query: &str, source: Source, origin: String) {
        match parser::parse(query) {
            Ok(expr) => {
                for name in selected_names(&expr) {
                    self.references.push(Reference {
                        name,
                        source,
                        origin: origin.clone(),
                    });
                }
            }
            Err(e) => self.problems.push(format!(
                "{origin}: PromQL does not parse: {e}\n    query: {}",
                query.trim().replace('\n', "\n           ")
            )),
        }
    }

    fn rule_file(&mut self, path: &str, text: &str) {
        let doc: Yaml = match serde_yaml_ng::from_str(text) {
            Ok(doc) => doc,
            Err(e) => return self.problems.push(format!("{path}: invalid YAML: {e}")),
        };
        let Some(groups) = doc.get("groups").and_then(Yaml::as_sequence) else {
            return self.problems.push(format!("{path}: no `groups` list"));
        };
        for (gi, group) in groups.iter().enumerate() {
            let group_name = group
                .get("name")
                .and_then(Yaml::as_str)
                .map_or_else(|| format!("#{gi}"), str::to_owned);
            let rules = group.get("rules").and_then(Yaml::as_sequence);
            for (ri, rule) in rules.into_iter().flatten().enumerate() {
                let record = rule.get("record").and_then(Yaml::as_str);
                let alert = rule.get("alert").and_then(Yaml::as_str);
                let origin = match (record, alert) {
                    (Some(r), None) => format!("{path}: group {group_name}, record {r}"),
                    (None, Some(a)) => format!("{path}: group {group_name}, alert {a}"),
                    _ => {
                        self.problems.push(format!(
                            "{path}: group {group_name}, rule #{ri}: needs exactly one of `record` and `alert`"
                        ));
                        format!("{path}: group {group_name}, rule #{ri}")
                    }
                };
                match rule.get("expr").and_then(scalar) {
                    Some(expr) => {
                        self.count("rule exprs");
                        self.query(&expr, Source::Rule, origin.clone());
                    }
                    None => self.problems.push(format!("{origin}: no `expr`")),
                }
                if let Some(r) = record {
                    self.count("recorded series");
                    self.recorded.entry(r.to_owned()).or_default().push(origin);
                } else if let Some(a) = alert {
                    self.count("alerts");
                    self.alerts.push(Alert {
                        origin,
                        name: a.to_owned(),
                        rule: rule.clone(),
                    });
                }
            }
        }
    }

    fn rule_test_file(&mut self, path: &str, text: &str) {
        let doc: Yaml = match serde_yaml_ng::from_str(text) {
            Ok(doc) => doc,
            Err(e) => return self.problems.push(format!("{path}: invalid YAML: {e}")),
        };
        let Some(tests) = doc.get("tests").and_then(Yaml::as_sequence) else {
            return self.problems.push(format!("{path}: no `tests` list"));
        };
        for (ti, test) in tests.iter().enumerate() {
            let list = |key: &str| {
                test.get(key)
                    .and_then(Yaml::as_sequence)
                    .map(Vec::as_slice)
                    .unwrap_or_default()
            };
            for (si, series) in list("input_series").iter().enumerate() {
                if let Some(selector) = series.get("series").and_then(scalar) {
                    let origin = format!("{path}: tests[{ti}].input_series[{si}].series");
                    self.query(&selector, Source::OtherQuery, origin);
                }
            }
            for (ei, expr_test) in list("promql_expr_test").iter().enumerate() {
                let origin = format!("{path}: tests[{ti}].promql_expr_test[{ei}]");
                match expr_test.get("expr").and_then(scalar) {
                    Some(expr) => {
                        self.count("promql_expr_test exprs");
                        self.query(&expr, Source::OtherQuery, format!("{origin}.expr"));
                    }
                    None => self.problems.push(format!("{origin}: no `expr`")),
                }
                let samples = expr_test.get("exp_samples").and_then(Yaml::as_sequence);
                for (xi, sample) in samples.into_iter().flatten().enumerate() {
                    if let Some(labels) = sample.get("labels").and_then(scalar)
                        && !labels.trim().is_empty()
                    {
                        let origin = format!("{origin}.exp_samples[{xi}].labels");
                        self.query(&labels, Source::OtherQuery, origin);
                    }
                }
            }
            for (ai, alert_test) in list("alert_rule_test").iter().enumerate() {
                if let Some(name) = alert_test.get("alertname").and_then(Yaml::as_str) {
                    let origin = format!("{path}: tests[{ti}].alert_rule_test[{ai}]");
                    self.tested_alerts.push((name.to_owned(), origin));
                }
            }
        }
    }

    fn dashboard(&mut self, path: &str, text: &str) {
        let json: serde_json::Value = match serde_json::from_str(text) {
            Ok(json) => json,
            Err(e) => return self.problems.push(format!("{path}: invalid JSON: {e}")),
        };
        let mut exprs = Vec::new();
        json_exprs(&json, String::new(), &mut exprs);
        for (pointer, expr) in exprs {
            self.count("dashboard queries");
            let origin = format!("{path}: {pointer}");
            self.query(&grafana_to_promql(&expr), Source::OtherQuery, origin);
        }
        let variables = json
            .pointer("/templating/list")
            .and_then(serde_json::Value::as_array);
        for (vi, var) in variables.into_iter().flatten().enumerate() {
            if var.get("type").and_then(serde_json::Value::as_str) != Some("query") {
                continue;
            }
            let query = var.get("query").and_then(|q| match q {
                serde_json::Value::String(s) => Some(s.as_str()),
                other => other.get("query").and_then(serde_json::Value::as_str),
            });
            let name = var.get("name").and_then(serde_json::Value::as_str);
            let origin = format!(
                "{path}: /templating/list/{vi}/query (variable {})",
                name.unwrap_or("?")
            );
            if let Some(promql) = query.and_then(variable_query_promql) {
                self.query(&grafana_to_promql(promql), Source::OtherQuery, origin);
            }
        }
    }

    fn slo(&mut self, path: &str, text: &str) {
        let md = Markdown::parse(text);
        for (line, block) in &md.promql_blocks {
            self.count("SLO.md promql blocks");
            let origin = format!("{path}:{line} (```promql block)");
            self.query(block, Source::SloQuery, origin);
        }
        for (line, span) in &md.inline_code {
            for token in prose_metric_tokens(span) {
                self.references.push(Reference {
                    name: NameRef::Exact(token),
                    source: Source::Prose,
                    origin: format!("{path}:{line} (inline code `{span}`)"),
                });
            }
        }
    }
}

/// A YAML scalar as a string (an `expr: 1` is a number to YAML).
pub fn scalar(v: &Yaml) -> Option<String> {
    match v {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Every `expr` string anywhere in the JSON, with its JSON pointer.
pub fn json_exprs(v: &serde_json::Value, pointer: String, out: &mut Vec<(String, String)>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, child) in map {
                let p = format!("{pointer}/{k}");
                match child {
                    serde_json::Value::String(s) if k == "expr" => out.push((p, s.clone())),
                    _ => json_exprs(child, p, out),
                }
            }
        }
        serde_json::Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                json_exprs(child, format!("{pointer}/{i}"), out);
            }
        }
        _ => {}
    }
}
