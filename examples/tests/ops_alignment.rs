//! Keeps `ops/` aligned with the metrics the crate exports (issue 7).
//!
//! Every PromQL query shipped in `ops/` is parsed with a real PromQL parser (`promql-parser`)
//! and every metric name it selects is collected from the AST (vector and matrix selectors,
//! including `__name__` matchers). The sources:
//!
//! - `ops/prometheus/*.yml`: every rule's `expr`; `record:` names are the recorded series.
//! - `ops/prometheus/tests/*.yml`: `promql_expr_test[].expr`, plus the `input_series[].series`
//!   and `exp_samples[].labels` selectors (a test feeding a renamed metric would test nothing).
//! - `ops/grafana/readiness.json`: every `expr` field anywhere in the JSON, and the queries of
//!   the dashboard's query variables (`label_values(<selector>, label)`, `query_result(<expr>)`).
//!   Grafana variables are replaced before parsing: inside a quoted string by `.*`, outside by
//!   `5m` (`$__range_s`-like seconds by `300`, `_ms` by `300000`).
//! - `ops/SLO.md`: every fenced ```` ```promql ```` block is a query (it must parse). Inline code
//!   spans are prose, often not PromQL (`avg_over_time(readiness_state[w])`, `le="0.25"`), so
//!   they are scanned for tokens instead: an identifier shaped like a metric name
//!   (`[A-Za-z_:][A-Za-z0-9_:]*`), outside a quoted string, not a Rust path (no `::`), that
//!   contains `readiness_` is a metric reference.
//!
//! Then:
//!
//! - every metric name referenced anywhere is exported (`readiness_core::metrics::ALL`; for a
//!   histogram only its `_bucket`, `_sum` and `_count` series in PromQL, the bare name only in
//!   prose) or recorded by a rule;
//! - every exported metric is read by at least one rule `expr` or `SLO.md` ```` ```promql ````
//!   block (for a histogram: any of its series);
//! - every alert has `labels.severity` and the `summary`, `description` and `runbook_url`
//!   annotations, and its `runbook_url` points at `ops/SLO.md#<anchor>` where `<anchor>` is a
//!   heading anchor of `SLO.md` (GitHub style); every `](#anchor)` link in `SLO.md` resolves
//!   and every `alertname` in the rule tests is a defined alert.
//!
//! Metric types come from the crate itself: `readiness_core::metrics::describe()` is run on a
//! capturing recorder, so a new histogram gets its suffixes without touching this file.
//!
//! The Kubernetes manifest (`ops/kubernetes/demo.yaml`) and the demo agree (issue 14): the
//! container's args are flags the built demo accepts; the drain delay (the `--drain-delay`
//! arg, or the demo's default read from `--help`) covers the readiness probe's
//! `periodSeconds x failureThreshold` plus endpoint propagation; the demo's own default
//! covers Kubernetes' default probe the same way; `terminationGracePeriodSeconds` covers the
//! `preStop` sleep, the drain delay and the longest request; the `--listen` port is the
//! container port that the probes, the scrape annotations and the Service use; the probe and
//! scrape paths are answered by the running demo; and `ReadinessDrainStuck` waits longer than
//! any drain can last.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::{self, Expr, VectorSelector};
use serde_yaml_ng::Value as Yaml;

const HISTOGRAM_SUFFIXES: &[&str] = &["_bucket", "_sum", "_count"];

// ---------------------------------------------------------------------------------------------
// Inputs

/// The text of every `ops/` file the checks read, by path relative to the repository root.
#[derive(Clone)]
struct OpsFiles {
    rules: Vec<(String, String)>,
    rule_tests: Vec<(String, String)>,
    dashboard: (String, String),
    slo: (String, String),
}

impl OpsFiles {
    fn load() -> Self {
        let ops = ops_dir();
        let read = |path: PathBuf| {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            let rel = path
                .strip_prefix(ops.parent().expect("ops has a parent"))
                .unwrap_or(&path)
                .to_string_lossy()
                .into_owned();
            (rel, text)
        };
        let yaml_files = |dir: PathBuf| {
            let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
                .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
                .map(|entry| entry.expect("directory entry").path())
                .filter(|p| {
                    p.is_file()
                        && matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml"))
                })
                .collect();
            paths.sort();
            paths.into_iter().map(read).collect::<Vec<_>>()
        };
        Self {
            rules: yaml_files(ops.join("prometheus")),
            rule_tests: yaml_files(ops.join("prometheus/tests")),
            dashboard: read(ops.join("grafana/readiness.json")),
            slo: read(ops.join("SLO.md")),
        }
    }
}

fn ops_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ops")
}

/// Exported metric names and which of them are histograms, from the crate itself.
struct Exported {
    all: BTreeSet<String>,
    histograms: BTreeSet<String>,
}

#[derive(Default)]
struct DescribeCapture {
    kinds: Mutex<BTreeMap<String, &'static str>>,
}

impl DescribeCapture {
    fn note(&self, key: KeyName, kind: &'static str) {
        self.kinds
            .lock()
            .expect("not poisoned")
            .insert(key.as_str().to_owned(), kind);
    }
}

impl Recorder for DescribeCapture {
    fn describe_counter(&self, key: KeyName, _: Option<Unit>, _: SharedString) {
        self.note(key, "counter");
    }
    fn describe_gauge(&self, key: KeyName, _: Option<Unit>, _: SharedString) {
        self.note(key, "gauge");
    }
    fn describe_histogram(&self, key: KeyName, _: Option<Unit>, _: SharedString) {
        self.note(key, "histogram");
    }
    fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
        Counter::noop()
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

impl Exported {
    fn from_crate() -> Self {
        let capture = DescribeCapture::default();
        metrics::with_local_recorder(&capture, readiness_core::metrics::describe);
        let kinds = capture.kinds.into_inner().expect("not poisoned");
        let all: BTreeSet<String> = readiness_core::metrics::ALL
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let described: BTreeSet<String> = kinds.keys().cloned().collect();
        assert_eq!(
            all, described,
            "readiness_core::metrics::ALL and the names described by metrics::describe() differ"
        );
        let histograms = kinds
            .into_iter()
            .filter(|(_, kind)| *kind == "histogram")
            .map(|(name, _)| name)
            .collect();
        Self { all, histograms }
    }

    /// The exported metric a PromQL selector name reads, if any. A histogram's bare name is not
    /// a series (the exporter writes `_bucket`, `_sum` and `_count`), so it is not accepted.
    fn series_of(&self, name: &str) -> Option<&str> {
        if let Some(base) = self.all.get(name) {
            return (!self.histograms.contains(name)).then_some(base.as_str());
        }
        HISTOGRAM_SUFFIXES.iter().find_map(|suffix| {
            let base = name.strip_suffix(suffix)?;
            self.histograms.get(base).map(String::as_str)
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Collecting queries and references

#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    /// A rule's `expr` in ops/prometheus/*.yml.
    Rule,
    /// A ```promql block of SLO.md.
    SloQuery,
    /// Anything else parsed as PromQL (dashboard, rule tests).
    OtherQuery,
    /// A token in an inline code span of SLO.md.
    Prose,
}

/// A metric name found somewhere, or a `__name__` regex matcher.
struct Reference {
    name: NameRef,
    source: Source,
    origin: String,
}

enum NameRef {
    Exact(String),
    Regex(Matcher),
}

struct Alert {
    origin: String,
    name: String,
    rule: Yaml,
}

#[derive(Default)]
struct Collected {
    references: Vec<Reference>,
    /// Recorded series name -> where it is recorded.
    recorded: BTreeMap<String, Vec<String>>,
    alerts: Vec<Alert>,
    /// `alertname`s used by `alert_rule_test`s, with where.
    tested_alerts: Vec<(String, String)>,
    /// Parse failures and malformed files.
    problems: Vec<String>,
    counts: BTreeMap<&'static str, usize>,
}

impl Collected {
    fn from_files(files: &OpsFiles) -> Self {
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
    fn query(&mut self, query: &str, source: Source, origin: String) {
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
fn scalar(v: &Yaml) -> Option<String> {
    match v {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Every `expr` string anywhere in the JSON, with its JSON pointer.
fn json_exprs(v: &serde_json::Value, pointer: String, out: &mut Vec<(String, String)>) {
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

/// The PromQL inside a Grafana Prometheus variable query: the selector of
/// `label_values(<selector>, label)`, the expression of `query_result(<expr>)`, nothing for
/// `label_values(label)`, `label_names(…)` and `metrics(…)`; anything else is taken as PromQL.
fn variable_query_promql(query: &str) -> Option<&str> {
    let q = query.trim();
    let call = |name: &str| {
        q.strip_prefix(name)
            .map(str::trim_start)
            .and_then(|rest| rest.strip_prefix('('))
            .and_then(|rest| rest.strip_suffix(')'))
    };
    if let Some(args) = call("label_values") {
        return last_top_level_comma(args).map(|i| args[..i].trim());
    }
    if let Some(expr) = call("query_result") {
        return Some(expr.trim());
    }
    if call("label_names").is_some() || call("metrics").is_some() {
        return None;
    }
    Some(q)
}

fn last_top_level_comma(s: &str) -> Option<usize> {
    let (mut depth, mut quote, mut escaped, mut last) = (0i32, None, false, None);
    for (i, c) in s.char_indices() {
        match quote {
            Some(_) if escaped => escaped = false,
            Some(_) if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '"' | '\'' | '`' => quote = Some(c),
                '(' | '{' | '[' => depth += 1,
                ')' | '}' | ']' => depth -= 1,
                ',' if depth == 0 => last = Some(i),
                _ => {}
            },
        }
    }
    last
}

/// Replaces Grafana variables (`$name`, `${name}`, `${name:format}`) with something PromQL
/// parses: `.*` inside a quoted string (a regex matcher); outside, `5m` inside `[…]` or after
/// `offset` (a duration), `300` for `$__…_s` and `300000` for `$__…_ms` (seconds and
/// milliseconds), and `1` anywhere else (a number).
fn grafana_to_promql(query: &str) -> String {
    let chars: Vec<char> = query.chars().collect();
    let mut out = String::with_capacity(query.len());
    let (mut quote, mut escaped, mut brackets, mut i) = (None::<char>, false, 0i32, 0);
    while i < chars.len() {
        let c = chars[i];
        if c == '$' {
            let (name, len) = if chars.get(i + 1) == Some(&'{') {
                let end = chars[i..].iter().position(|&c| c == '}').map(|p| i + p);
                match end {
                    Some(end) => {
                        let inner: String = chars[i + 2..end].iter().collect();
                        let name = inner.split(':').next().unwrap_or_default().to_owned();
                        (name, end + 1 - i)
                    }
                    None => (String::new(), 0),
                }
            } else {
                let name: String = chars[i + 1..]
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
                    .collect();
                let len = name.chars().count() + 1;
                (name, len)
            };
            if !name.is_empty() {
                let after_offset = out.trim_end().to_ascii_lowercase().ends_with("offset");
                out.push_str(if quote.is_some() {
                    ".*"
                } else if name.starts_with("__") && name.ends_with("_ms") {
                    "300000"
                } else if name.starts_with("__") && name.ends_with("_s") {
                    "300"
                } else if brackets > 0 || after_offset {
                    "5m"
                } else {
                    "1"
                });
                i += len;
                continue;
            }
        }
        match quote {
            Some(_) if escaped => escaped = false,
            Some(_) if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if matches!(c, '"' | '\'' | '`') => quote = Some(c),
            None if c == '[' => brackets += 1,
            None if c == ']' => brackets -= 1,
            None => {}
        }
        out.push(c);
        i += 1;
    }
    out
}

/// Metric names selected by a PromQL expression: the name of every vector and matrix selector,
/// and its `__name__` matchers (`=` gives a name, `=~` a regex to check; `!=` and `!~` select no
/// particular metric).
fn selected_names(expr: &Expr) -> Vec<NameRef> {
    fn selector(vs: &VectorSelector, out: &mut Vec<NameRef>) {
        let mut exact = BTreeSet::new();
        exact.extend(vs.name.clone());
        let name_matchers = vs
            .matchers
            .matchers
            .iter()
            .chain(vs.matchers.or_matchers.iter().flatten())
            .filter(|m| m.name == promql_parser::label::METRIC_NAME);
        for m in name_matchers {
            match &m.op {
                MatchOp::Equal => {
                    exact.insert(m.value.clone());
                }
                MatchOp::Re(_) => out.push(NameRef::Regex(m.clone())),
                MatchOp::NotEqual | MatchOp::NotRe(_) => {}
            }
        }
        out.extend(exact.into_iter().map(NameRef::Exact));
    }
    fn walk(expr: &Expr, out: &mut Vec<NameRef>) {
        match expr {
            Expr::Aggregate(a) => {
                if let Some(param) = &a.param {
                    walk(param, out);
                }
                walk(&a.expr, out);
            }
            Expr::Unary(u) => walk(&u.expr, out),
            Expr::Binary(b) => {
                walk(&b.lhs, out);
                walk(&b.rhs, out);
            }
            Expr::Paren(p) => walk(&p.expr, out),
            Expr::Subquery(s) => walk(&s.expr, out),
            Expr::Call(call) => call.args.args.iter().for_each(|arg| walk(arg, out)),
            Expr::VectorSelector(vs) => selector(vs, out),
            Expr::MatrixSelector(ms) => selector(&ms.vs, out),
            Expr::Extension(ext) => ext.expr.children().iter().for_each(|c| walk(c, out)),
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) => {}
        }
    }
    let mut out = Vec::new();
    walk(expr, &mut out);
    out
}

/// Metric-name tokens of an inline code span of SLO.md (see the module docs for the rule).
fn prose_metric_tokens(span: &str) -> Vec<String> {
    let is_start = |c: char| c.is_ascii_alphabetic() || c == '_' || c == ':';
    let is_part = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut tokens = Vec::new();
    let (mut quote, mut escaped, mut token) = (None::<char>, false, String::new());
    let mut flush = |token: &mut String| {
        let t = std::mem::take(token);
        if t.contains("readiness_") && !t.contains("::") && t.starts_with(is_start) {
            tokens.push(t);
        }
    };
    for c in span.chars() {
        match quote {
            Some(_) if escaped => escaped = false,
            Some(_) if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => {
                flush(&mut token);
                quote = Some(c);
            }
            None if is_part(c) => token.push(c),
            None => flush(&mut token),
        }
    }
    flush(&mut token);
    tokens
}

// ---------------------------------------------------------------------------------------------
// Markdown (just what SLO.md needs)

struct Markdown {
    /// (1-based line of the opening fence, content) of every ```promql block.
    promql_blocks: Vec<(usize, String)>,
    /// (1-based line, content) of every inline code span outside fenced blocks.
    inline_code: Vec<(usize, String)>,
    /// GitHub-style anchors of every heading.
    anchors: BTreeSet<String>,
    /// (1-based line, anchor) of every `](#anchor)` link.
    links: Vec<(usize, String)>,
}

impl Markdown {
    fn parse(text: &str) -> Self {
        let mut promql_blocks = Vec::new();
        let mut anchors = BTreeSet::new();
        let mut anchor_uses: BTreeMap<String, usize> = BTreeMap::new();
        // Text outside fenced blocks, with fenced lines blanked so line numbers stay right.
        let mut prose = String::new();
        // (fence, info, opening line, content)
        let mut open: Option<(String, String, usize, String)> = None;
        for (i, line) in text.lines().enumerate() {
            let trimmed = line.trim_start();
            let fence_len = |ch: char| trimmed.chars().take_while(|&c| c == ch).count();
            let fence = ['`', '~']
                .into_iter()
                .map(|ch| (ch, fence_len(ch)))
                .find(|&(_, n)| n >= 3)
                .map(|(ch, n)| ch.to_string().repeat(n));
            match (&mut open, fence) {
                (Some((f, info, start, content)), Some(close))
                    if close.starts_with(f.as_str())
                        && trimmed[close.len()..].trim().is_empty() =>
                {
                    if info.split_whitespace().next() == Some("promql") {
                        promql_blocks.push((*start, std::mem::take(content)));
                    }
                    open = None;
                }
                (Some((.., content)), _) => {
                    content.push_str(line);
                    content.push('\n');
                }
                (None, Some(f)) => {
                    let info = trimmed[f.len()..].trim().to_owned();
                    open = Some((f, info, i + 1, String::new()));
                }
                (None, None) => {
                    if let Some(heading) = trimmed.strip_prefix('#') {
                        let heading = heading.trim_start_matches('#');
                        if heading.starts_with(' ') || heading.is_empty() {
                            let base = github_anchor(heading.trim().trim_end_matches('#'));
                            let n = anchor_uses.entry(base.clone()).or_default();
                            anchors.insert(if *n == 0 {
                                base.clone()
                            } else {
                                format!("{base}-{n}")
                            });
                            *n += 1;
                        }
                    }
                    prose.push_str(line);
                }
            }
            prose.push('\n');
        }
        let line_of = |offset: usize| prose[..offset].matches('\n').count() + 1;
        let mut inline_code = Vec::new();
        let mut rest = 0;
        while let Some(start) = prose[rest..].find('`').map(|p| rest + p) {
            let ticks = prose[start..].chars().take_while(|&c| c == '`').count();
            let fence = "`".repeat(ticks);
            let body = start + ticks;
            // The closing run has exactly as many backticks.
            let mut search = body;
            let mut end = None;
            while let Some(p) = prose[search..].find(&fence).map(|p| search + p) {
                let run = prose[p..].chars().take_while(|&c| c == '`').count();
                if run == ticks {
                    end = Some(p);
                    break;
                }
                search = p + run;
            }
            match end {
                Some(end) => {
                    let span = prose[body..end].replace('\n', " ");
                    inline_code.push((line_of(start), span.trim().to_owned()));
                    rest = end + ticks;
                }
                None => rest = body,
            }
        }
        let mut links = Vec::new();
        let mut rest = 0;
        while let Some(p) = prose[rest..].find("](#").map(|p| rest + p) {
            let anchor_start = p + 3;
            let anchor_end = prose[anchor_start..]
                .find(')')
                .map_or(prose.len(), |e| anchor_start + e);
            links.push((line_of(p), prose[anchor_start..anchor_end].to_owned()));
            rest = anchor_end;
        }
        Self {
            promql_blocks,
            inline_code,
            anchors,
            links,
        }
    }
}

/// GitHub's heading anchor: lower case; letters, digits, `-` and `_` kept, spaces become `-`,
/// everything else (punctuation, backticks) is removed.
fn github_anchor(heading: &str) -> String {
    heading
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Checks

/// Problems with metric names: unparseable queries, unknown names, unused exported metrics.
fn check_metrics(files: &OpsFiles, exported: &Exported) -> Vec<String> {
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
fn check_alerts(files: &OpsFiles) -> Vec<String> {
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

fn assert_no_problems(what: &str, problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{what}: {} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Tests on the real files

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

// ---------------------------------------------------------------------------------------------
// The checks fail when they should

fn problems_mentioning<'a>(problems: &'a [String], needle: &str) -> Vec<&'a String> {
    problems.iter().filter(|p| p.contains(needle)).collect()
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
fn a_query_that_does_not_parse_is_reported_with_its_place() {
    let exported = Exported::from_crate();
    let mut files = OpsFiles::load();
    files
        .slo
        .1
        .push_str("\n```promql\nsum by (job (readiness_state)\n```\n");
    let problems = check_metrics(&files, &exported);
    let hits = problems_mentioning(&problems, "does not parse");
    assert_eq!(hits.len(), 1, "{problems:#?}");
    assert!(hits[0].starts_with("ops/SLO.md:"), "{}", hits[0]);
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
fn helpers() {
    assert_eq!(
        github_anchor("ReadinessBudgetBurnFast"),
        "readinessbudgetburnfast"
    );
    assert_eq!(
        github_anchor("Instance check latency (99% within 250 ms)"),
        "instance-check-latency-99-within-250-ms"
    );
    assert_eq!(
        github_anchor("`tenant_readiness_state`"),
        "tenant_readiness_state"
    );
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
    assert_eq!(
        prose_metric_tokens(
            r#"sum(readiness_state{job="readiness_demo"}) readiness_core::metrics::ALL job:readiness_x:y readiness-core"#
        ),
        ["readiness_state", "job:readiness_x:y"]
    );
    let md =
        Markdown::parse("# A b\n\n```promql\nfoo\n```\n\nsee `x` and\n`y\nz` [l](#a-b)\n## A b\n");
    assert_eq!(md.promql_blocks, [(3, "foo\n".to_owned())]);
    assert_eq!(md.inline_code, [(7, "x".to_owned()), (8, "y z".to_owned())]);
    assert_eq!(md.links, [(9, "a-b".to_owned())]);
    assert_eq!(
        md.anchors.iter().map(String::as_str).collect::<Vec<_>>(),
        ["a-b", "a-b-1"]
    );
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

// ---------------------------------------------------------------------------------------------
// The Kubernetes manifest and the demo's flags

/// What the drain delay must cover beyond the readiness probe: endpoint propagation to
/// kube-proxy, ingress controllers and load balancers (the manifest's header).
const PROPAGATION: Duration = Duration::from_secs(5);
/// The longest request the demo serves: `GET /slow?ms=60000` (DEMO.md).
const LONGEST_REQUEST: Duration = Duration::from_secs(60);
/// Kubernetes' defaults: probe `periodSeconds`, `failureThreshold`, and the pod's
/// `terminationGracePeriodSeconds`.
const K8S_PERIOD_SECONDS: u64 = 10;
const K8S_FAILURE_THRESHOLD: u64 = 3;
const K8S_GRACE_SECONDS: u64 = 30;

/// The demo's defaults, as its `--help` states them.
struct DemoDefaults {
    drain_delay: Duration,
}

impl DemoDefaults {
    fn from_help(help: &str) -> Self {
        let default_of = |flag: &str| -> String {
            let start = help
                .find(&format!("  {flag} "))
                .unwrap_or_else(|| panic!("--help lists no {flag}:\n{help}"));
            let entry = &help[start + 2..];
            let entry = &entry[..entry.find("\n  --").unwrap_or(entry.len())];
            let after = entry
                .split_once("(default ")
                .unwrap_or_else(|| panic!("no `(default …)` for {flag}: {entry}"))
                .1;
            after
                .split(|c: char| c.is_whitespace() || c == ')')
                .next()
                .unwrap_or_default()
                .trim_end_matches([':', ','])
                .to_owned()
        };
        let delay = default_of("--drain-delay");
        Self {
            drain_delay: duration(&delay)
                .unwrap_or_else(|| panic!("--help: bad --drain-delay default {delay:?}")),
        }
    }
}

/// `250ms`, `15s`, `1m`, `2h`: the demo's flag durations and Prometheus' `for:`.
fn duration(v: &str) -> Option<Duration> {
    let split = v.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = v.split_at(split);
    let n: u64 = n.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => Some(Duration::from_secs(n * 60)),
        "h" => Some(Duration::from_secs(n * 3600)),
        _ => None,
    }
}

/// The parts of `ops/kubernetes/demo.yaml` the checks read.
struct Manifest {
    /// The demo container's args.
    args: Vec<String>,
    /// `(path, port)` of the startup, liveness and readiness probes, and the scrape.
    paths: Vec<(&'static str, String)>,
}

/// The container's `--flag VALUE` or `--flag=VALUE`.
fn arg_value<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    args.iter().enumerate().find_map(|(i, a)| {
        if a == flag {
            args.get(i + 1).map(String::as_str)
        } else {
            a.strip_prefix(flag).and_then(|v| v.strip_prefix('='))
        }
    })
}

/// Problems with the manifest's numbers, checked against the demo's defaults and the stuck-drain
/// alert's `for`.
fn check_manifest(
    text: &str,
    demo: &DemoDefaults,
    stuck_drain_for: Duration,
) -> (Vec<String>, Manifest) {
    let mut problems = Vec::new();
    let docs: Vec<Yaml> = text
        .split("\n---\n")
        .map(|d| serde_yaml_ng::from_str(d).expect("valid YAML document"))
        .collect();
    let kind = |k: &str| {
        docs.iter()
            .find(|d| d.get("kind").and_then(Yaml::as_str) == Some(k))
    };
    let deployment = kind("Deployment").expect("a Deployment");
    let pod = &deployment["spec"]["template"];
    let container = &pod["spec"]["containers"][0];
    let num = |v: &Yaml, default: u64| v.as_u64().unwrap_or(default);
    let args: Vec<String> = container["args"]
        .as_sequence()
        .map(|s| s.iter().filter_map(scalar).collect())
        .unwrap_or_default();

    // Ports: --listen, the container port, the probes, the scrape annotations, the Service.
    let listen_port = arg_value(&args, "--listen")
        .and_then(|a| a.rsplit_once(':'))
        .and_then(|(_, p)| p.parse::<u64>().ok())
        .unwrap_or(3000);
    let ports = container["ports"]
        .as_sequence()
        .cloned()
        .unwrap_or_default();
    let resolve = |port: &Yaml| -> Option<u64> {
        port.as_u64().or_else(|| {
            let name = port.as_str()?;
            ports
                .iter()
                .find(|p| p["name"].as_str() == Some(name))
                .and_then(|p| p["containerPort"].as_u64())
        })
    };
    if !ports
        .iter()
        .any(|p| p["containerPort"].as_u64() == Some(listen_port))
    {
        problems.push(format!(
            "no containerPort is the --listen port {listen_port}"
        ));
    }
    let annotations = &pod["metadata"]["annotations"];
    let scrape_port = annotations["prometheus.io/port"]
        .as_str()
        .and_then(|p| p.parse().ok());
    if scrape_port != Some(listen_port) {
        problems.push(format!(
            "prometheus.io/port is {scrape_port:?}, the demo listens on {listen_port}"
        ));
    }
    if let Some(service) = kind("Service") {
        for port in service["spec"]["ports"].as_sequence().into_iter().flatten() {
            if resolve(&port["targetPort"]) != Some(listen_port) {
                problems.push(format!(
                    "Service targetPort {:?} is not the --listen port {listen_port}",
                    port["targetPort"]
                ));
            }
        }
    }

    let mut paths = Vec::new();
    let mut probe = |name: &'static str| -> Option<&Yaml> {
        let probe = container.get(name)?;
        let get = &probe["httpGet"];
        if resolve(&get["port"]) != Some(listen_port) {
            problems.push(format!(
                "{name} port {:?} is not the --listen port {listen_port}",
                get["port"]
            ));
        }
        paths.push((name, get["path"].as_str().unwrap_or("/").to_owned()));
        Some(probe)
    };
    let readiness = probe("readinessProbe");
    probe("livenessProbe");
    probe("startupProbe");
    paths.push((
        "prometheus.io/path",
        annotations["prometheus.io/path"]
            .as_str()
            .unwrap_or("/metrics")
            .to_owned(),
    ));
    for (name, want) in [
        ("readinessProbe", "/readyz"),
        ("livenessProbe", "/livez"),
        ("startupProbe", "/startupz"),
    ] {
        match paths.iter().find(|(n, _)| *n == name) {
            Some((_, path)) if path == want => {}
            Some((_, path)) => problems.push(format!("{name} probes {path}, not {want}")),
            None => problems.push(format!("no {name}")),
        }
    }

    // The drain delay covers the readiness probe plus propagation.
    let drain_delay = match arg_value(&args, "--drain-delay") {
        Some(v) => duration(v).unwrap_or_else(|| {
            problems.push(format!("--drain-delay {v:?} is not a duration"));
            Duration::ZERO
        }),
        None => demo.drain_delay,
    };
    let (period, threshold) = readiness.map_or((K8S_PERIOD_SECONDS, K8S_FAILURE_THRESHOLD), |p| {
        (
            num(&p["periodSeconds"], K8S_PERIOD_SECONDS),
            num(&p["failureThreshold"], K8S_FAILURE_THRESHOLD),
        )
    });
    let needed = Duration::from_secs(period * threshold) + PROPAGATION;
    if drain_delay < needed {
        problems.push(format!(
            "drain delay {drain_delay:?} < readiness periodSeconds x failureThreshold \
             ({period}s x {threshold}) + propagation ({PROPAGATION:?}) = {needed:?}"
        ));
    }
    let k8s_needed = Duration::from_secs(K8S_PERIOD_SECONDS * K8S_FAILURE_THRESHOLD) + PROPAGATION;
    if demo.drain_delay < k8s_needed {
        problems.push(format!(
            "the demo's default drain delay {:?} < Kubernetes' default readiness probe \
             ({K8S_PERIOD_SECONDS}s x {K8S_FAILURE_THRESHOLD}) + propagation = {k8s_needed:?}",
            demo.drain_delay
        ));
    }

    // The grace period covers preStop, the drain delay and the longest request.
    let pre_stop = &container["lifecycle"]["preStop"];
    let pre_stop_sleep = if pre_stop.is_null() {
        Duration::ZERO
    } else if let Some(s) = pre_stop["sleep"]["seconds"].as_u64() {
        Duration::from_secs(s)
    } else {
        problems.push("a preStop hook other than `sleep` cannot be sized: use `sleep`".into());
        Duration::ZERO
    };
    let grace = Duration::from_secs(num(
        &pod["spec"]["terminationGracePeriodSeconds"],
        K8S_GRACE_SECONDS,
    ));
    let grace_needed = pre_stop_sleep + drain_delay + LONGEST_REQUEST;
    if grace < grace_needed {
        problems.push(format!(
            "terminationGracePeriodSeconds {grace:?} < preStop {pre_stop_sleep:?} + drain delay \
             {drain_delay:?} + longest request {LONGEST_REQUEST:?} = {grace_needed:?}"
        ));
    }

    // No drain outlasts the grace period (then the kubelet kills the pod) or, outside
    // Kubernetes, the demo's default delay and its longest request.
    let longest_drain = grace.max(demo.drain_delay + LONGEST_REQUEST);
    if stuck_drain_for <= longest_drain {
        problems.push(format!(
            "ReadinessDrainStuck fires after {stuck_drain_for:?}, within a normal drain ({longest_drain:?})"
        ));
    }
    (problems, Manifest { args, paths })
}

fn manifest_text() -> String {
    let path = ops_dir().join("kubernetes/demo.yaml");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn stuck_drain_for(files: &OpsFiles) -> Duration {
    let c = Collected::from_files(files);
    let alert = c
        .alerts
        .iter()
        .find(|a| a.name == "ReadinessDrainStuck")
        .expect("a ReadinessDrainStuck alert");
    let v = alert.rule["for"]
        .as_str()
        .expect("ReadinessDrainStuck has a `for`");
    duration(v).unwrap_or_else(|| panic!("bad `for` {v:?}"))
}

fn demo_defaults() -> DemoDefaults {
    let (status, help, stderr) = common::run_demo(&["--help"]);
    assert!(status.success(), "demo --help: {status}: {stderr}");
    DemoDefaults::from_help(&help)
}

#[test]
fn the_manifest_and_the_demo_agree_on_periods_delays_grace_ports_and_paths() {
    let demo = demo_defaults();
    let (problems, manifest) =
        check_manifest(&manifest_text(), &demo, stuck_drain_for(&OpsFiles::load()));
    assert_no_problems("ops/kubernetes/demo.yaml and the demo disagree", &problems);

    // The container's args are flags the demo accepts (it reads them all before `--help`).
    let mut args: Vec<&str> = manifest.args.iter().map(String::as_str).collect();
    args.push("--help");
    let (status, _, stderr) = common::run_demo(&args);
    assert!(status.success(), "demo {args:?}: {status}: {stderr}");

    // Every probe and the scrape path are answered by the demo run with those args (on a
    // loopback port instead of the manifest's 0.0.0.0:3000).
    let mut args = manifest.args.clone();
    if let Some(i) = args.iter().position(|a| a == "--listen") {
        args.drain(i..(i + 2).min(args.len()));
    }
    args.retain(|a| !a.starts_with("--listen="));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let demo = common::Demo::start(&args);
    for (what, path) in &manifest.paths {
        let (status, body) = common::http_get(demo.addr, path);
        if *what == "prometheus.io/path" {
            assert_eq!(status, 200, "{what} {path}: {body}");
            assert!(
                body.contains("# TYPE readiness_draining gauge"),
                "{what} {path} has no readiness_draining: {body}"
            );
        } else {
            assert!(
                status == 200 || status == 503,
                "{what} {path} answers {status}: {body}"
            );
            assert!(
                body == "ok"
                    || body.ends_with("check passed\n")
                    || body.ends_with("check failed\n"),
                "{what} {path} is not a probe answer: {body:?}"
            );
        }
    }
}

#[test]
fn the_demo_default_drain_delay_covers_kubernetes_default_probe() {
    let demo = demo_defaults();
    let needed = Duration::from_secs(K8S_PERIOD_SECONDS * K8S_FAILURE_THRESHOLD) + PROPAGATION;
    assert!(
        demo.drain_delay >= needed,
        "the demo's default --drain-delay {:?} < {needed:?}",
        demo.drain_delay
    );
}

#[test]
fn manifest_numbers_that_disagree_are_reported() {
    let demo = DemoDefaults {
        drain_delay: Duration::from_secs(35),
    };
    let text = manifest_text();
    let stuck = Duration::from_secs(15 * 60);
    let (ok, _) = check_manifest(&text, &demo, stuck);
    assert_no_problems("the shipped manifest", &ok);
    let problems_with = |from: &str, to: &str, demo: &DemoDefaults, stuck: Duration| {
        assert!(text.contains(from), "{from:?} is in the manifest");
        check_manifest(&text.replacen(from, to, 1), demo, stuck).0
    };
    let expect_one = |problems: Vec<String>, needle: &str| {
        assert_eq!(problems.len(), 1, "{needle}: {problems:#?}");
        assert!(problems[0].contains(needle), "{needle}: {problems:#?}");
    };
    // A drain delay shorter than the readiness probe (2 s x 3) + 5 s.
    expect_one(
        problems_with("- 15s #", "- 10s #", &demo, stuck),
        "drain delay 10s < readiness periodSeconds x failureThreshold (2s x 3) + propagation (5s) = 11s",
    );
    // A slower readiness probe without a longer drain.
    expect_one(
        problems_with(
            "periodSeconds: 2 # with failureThreshold 3",
            "periodSeconds: 10 #",
            &demo,
            stuck,
        ),
        "(10s x 3)",
    );
    // A grace period that the drain delay and the longest request do not fit in.
    expect_one(
        problems_with(
            "terminationGracePeriodSeconds: 75",
            "terminationGracePeriodSeconds: 30",
            &demo,
            stuck,
        ),
        "terminationGracePeriodSeconds 30s < preStop 0ns + drain delay 15s + longest request 60s = 75s",
    );
    // A preStop sleep counts against the grace period.
    expect_one(
        problems_with(
            "      containers:\n        - name: demo\n",
            "      containers:\n        - name: demo\n          lifecycle:\n            preStop:\n              sleep:\n                seconds: 10\n",
            &demo,
            stuck,
        ),
        "preStop 10s",
    );
    // Ports and paths.
    expect_one(
        problems_with(
            "prometheus.io/port: \"3000\"",
            "prometheus.io/port: \"9090\"",
            &demo,
            stuck,
        ),
        "prometheus.io/port",
    );
    expect_one(
        problems_with("path: /readyz", "path: /ready", &demo, stuck),
        "readinessProbe probes /ready",
    );
    // The demo's own default too short for Kubernetes' default probe (the old 5 s).
    let old = DemoDefaults {
        drain_delay: Duration::from_secs(5),
    };
    expect_one(
        check_manifest(&text, &old, stuck).0,
        "the demo's default drain delay 5s",
    );
    // A stuck-drain alert that would fire during a normal drain.
    expect_one(
        check_manifest(&text, &demo, Duration::from_secs(60)).0,
        "ReadinessDrainStuck fires after 60s",
    );
}

#[test]
fn help_defaults_and_durations_parse() {
    let help = "  --drain-delay DUR   on SIGTERM: 503\n                      more (default 35s: Kubernetes')\n  --show-details  x";
    assert_eq!(
        DemoDefaults::from_help(help).drain_delay,
        Duration::from_secs(35)
    );
    assert_eq!(duration("250ms"), Some(Duration::from_millis(250)));
    assert_eq!(duration("15m"), Some(Duration::from_secs(900)));
    assert_eq!(duration("15"), None);
    assert_eq!(duration("1d"), None);
    let args: Vec<String> = ["--listen", "0.0.0.0:3000", "--drain-delay=15s"]
        .map(String::from)
        .into();
    assert_eq!(arg_value(&args, "--listen"), Some("0.0.0.0:3000"));
    assert_eq!(arg_value(&args, "--drain-delay"), Some("15s"));
    assert_eq!(arg_value(&args, "--period"), None);
}
