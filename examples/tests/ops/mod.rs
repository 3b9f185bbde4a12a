//! The `ops/` files parsed and checked against the metrics the crate exports (issue 7), shared
//! by the `ops_*` tests (`ops_rules`, `ops_rule_tests`, `ops_dashboard`, `ops_slo`,
//! `ops_manifest`; each file in `tests/` is its own test binary, so this module is a directory).
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

#![allow(dead_code, unreachable_pub)]

pub mod checks;
pub mod collect;
pub mod files;
pub mod markdown;
pub mod promql;
