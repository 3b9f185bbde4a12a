//! PromQL as the `ops/` files write it: Grafana variables, variable queries, the names an
//! expression selects, metric-name tokens of prose.

use std::collections::BTreeSet;

use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::{Expr, VectorSelector};

/// A metric name a query selects, or a `__name__` regex matcher.
pub enum NameRef {
    Exact(String),
    Regex(Matcher),
}

/// The PromQL inside a Grafana Prometheus variable query: the selector of
/// `label_values(<selector>, label)`, the expression of `query_result(<expr>)`, nothing for
/// `label_values(label)`, `label_names(…)` and `metrics(…)`; anything else is taken as PromQL.
pub fn variable_query_promql(query: &str) -> Option<&str> {
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
pub fn grafana_to_promql(query: &str) -> String {
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
pub fn selected_names(expr: &Expr) -> Vec<NameRef> {
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
pub fn prose_metric_tokens(span: &str) -> Vec<String> {
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
