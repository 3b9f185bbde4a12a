//! The collector: the per-tenant families rendered from the engine's state at scrape time
//! ([`TenantMetricsExport::Collector`](crate::TenantMetricsExport::Collector)), a chunk at a
//! time, as client_golang's collectors and kube-state-metrics export large label sets.
//!
//! The values are written on the execution path into each tenant's own record (see
//! `tenant_series::TenantSeries`); a scrape only reads them. The walk holds no lock: the
//! tenants are listed once (a reference each, under the map's read lock), and each chunk reads
//! their atomics.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::handle::Engine;
use super::scope::TenantCore;
use super::shared::Shared;
use super::sync::lock;
use super::tenant_series::TenantSample;
use crate::metrics::{
    TENANT_CHECK_SECONDS_TOTAL, TENANT_CHECK_SECONDS_TOTAL_HELP, TENANT_STATE, TENANT_STATE_HELP,
    TENANT_TENANTS, TENANT_TENANTS_HELP, TENANT_TRANSITIONS_TOTAL, TENANT_TRANSITIONS_TOTAL_HELP,
};

/// The families the collector renders, in the order it renders them.
const FAMILIES: [Family; 4] = [
    Family::Tenants,
    Family::State,
    Family::Transitions,
    Family::CheckSeconds,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    Tenants,
    State,
    Transitions,
    CheckSeconds,
}

impl Family {
    fn name(self) -> &'static str {
        match self {
            Family::Tenants => TENANT_TENANTS,
            Family::State => TENANT_STATE,
            Family::Transitions => TENANT_TRANSITIONS_TOTAL,
            Family::CheckSeconds => TENANT_CHECK_SECONDS_TOTAL,
        }
    }

    fn help(self) -> &'static str {
        match self {
            Family::Tenants => TENANT_TENANTS_HELP,
            Family::State => TENANT_STATE_HELP,
            Family::Transitions => TENANT_TRANSITIONS_TOTAL_HELP,
            Family::CheckSeconds => TENANT_CHECK_SECONDS_TOTAL_HELP,
        }
    }

    fn kind(self) -> &'static str {
        match self {
            Family::Tenants | Family::State => "gauge",
            Family::Transitions | Family::CheckSeconds => "counter",
        }
    }
}

/// The per-tenant families (`tenant_readiness_tenants`, `tenant_readiness_state`,
/// `tenant_readiness_transitions_total`, `tenant_readiness_check_seconds_total`) in the
/// Prometheus text format, rendered from the engine's state a chunk at a time: what
/// `readiness-tower`'s `/metrics` appends to the recorder's text. From
/// [`Engine::tenant_collector`].
///
/// It renders the values of the engine that owns the series in its reload lineage (see
/// [`EngineBuilder::reload_from`](crate::EngineBuilder::reload_from)), so a scrape through an
/// engine that has not taken over yet reads what the older one wrote, as through the recorder.
/// When that engine exports through the facade
/// ([`TenantMetricsExport::Facade`](crate::TenantMetricsExport::Facade)), the recorder holds
/// the families and the collector renders nothing.
///
/// The tenants are listed once, when the collector is made (a reference each); rendering takes
/// no lock and never blocks check results, probes or `add_tenant`. A tenant removed since is
/// left out; one added since comes in the next scrape.
///
/// ```
/// use readiness_core::{Engine, check_fn, CheckSpec};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let ok = || CheckSpec::readiness("db", check_fn(|| async { Ok::<(), std::io::Error>(()) }));
/// let engine = Engine::builder().tenant("acme", vec![ok()]).build()?;
/// engine.refresh().await?;
/// engine.refresh_tenant("acme").await?;
///
/// let recorder_text = String::new(); // what the recorder renders (the instance's series)
/// let mut collector = engine.tenant_collector();
/// let mut body = collector.filter_recorder_text(recorder_text);
/// let mut chunk = String::new();
/// loop {
///     let more = collector.render_next(&mut chunk, 32 * 1024);
///     body.push_str(&chunk); // a server sends each chunk as it comes
///     chunk.clear();
///     if !more {
///         break;
///     }
/// }
/// assert!(body.contains("tenant_readiness_state{tenant=\"acme\"} 1\n"));
/// assert!(body.contains("tenant_readiness_tenants{state=\"ready\"} 1\n"));
/// # Ok(()) }
/// ```
pub struct TenantCollector {
    /// Whether the families come from here (the owner exports through the collector).
    renders: bool,
    tenants: Vec<Arc<TenantCore>>,
    /// Ready and not-ready tenants, when the collector was made.
    counts: (usize, usize),
    /// The family being written (an index into [`FAMILIES`]; past the end: done).
    family: usize,
    /// The next tenant of that family.
    pos: usize,
    /// Whether that family's `# HELP` and `# TYPE` are written.
    header: bool,
}

impl std::fmt::Debug for TenantCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantCollector")
            .field("renders", &self.renders)
            .field("tenants", &self.tenants.len())
            .field("family", &FAMILIES.get(self.family).map(|f| f.name()))
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// The per-tenant families, rendered from the engine's state as a scrape reads them: see
    /// [`TenantCollector`]. `readiness-tower`'s `/metrics` calls it on every scrape; call it to
    /// serve them from another server.
    pub fn tenant_collector(&self) -> TenantCollector {
        let shared = &self.inner.shared;
        let source = shared
            .series
            .owner()
            .filter(|owner| !owner.gone.load(Ordering::SeqCst))
            .unwrap_or_else(|| shared.clone());
        TenantCollector::of(&source)
    }
}

impl TenantCollector {
    fn of(source: &Shared) -> Self {
        let renders = source.tenant_mode.collector();
        let mut tenants = Vec::new();
        let mut counts = (0, 0);
        if renders {
            counts = lock(&source.tenant_sync).values();
            // The map's lock is a leaf, held only to copy a reference per tenant.
            tenants = source.tenants.all();
        }
        Self {
            renders,
            tenants,
            counts,
            family: 0,
            pos: 0,
            header: false,
        }
    }

    /// The recorder's own text, without the families this collector renders: an older engine
    /// of a reload that exported through the facade, or the application, may have left series
    /// of the same names in the recorder, and a family must appear once. The engine's values
    /// win. Returned as it is (no copy) when there is nothing to take out.
    pub fn filter_recorder_text(&self, text: String) -> String {
        let mut text = if !self.renders || !text.contains("tenant_readiness_") {
            text
        } else {
            let mut out = String::with_capacity(text.len());
            let mut skipping = false;
            for line in text.split_inclusive('\n') {
                if let Some(name) = family_of(line) {
                    skipping = FAMILIES.iter().any(|f| f.name() == name);
                    if skipping {
                        continue;
                    }
                } else if skipping && line.trim().is_empty() {
                    // The blank line that closes a family taken out.
                    continue;
                } else {
                    skipping = false;
                }
                out.push_str(line);
            }
            out
        };
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text
    }

    /// Append the next part of the families to `out`: whole lines, until `out` holds at least
    /// `max` bytes or everything is written. Returns `false` once everything is written (this
    /// call may have appended the last part); a collector with nothing to render returns
    /// `false` at once and appends nothing.
    pub fn render_next(&mut self, out: &mut String, max: usize) -> bool {
        if !self.renders {
            return false;
        }
        while let Some(&family) = FAMILIES.get(self.family) {
            if family == Family::Tenants {
                header(out, family);
                let (ready, not_ready) = self.counts;
                for (state, n) in [("ready", ready), ("not_ready", not_ready)] {
                    out.push_str(TENANT_TENANTS);
                    out.push_str("{state=\"");
                    out.push_str(state);
                    out.push_str("\"} ");
                    push_u64(out, n as u64);
                    out.push('\n');
                }
                out.push('\n');
                self.next_family();
                continue;
            }
            while let Some(t) = self.tenants.get(self.pos) {
                self.pos += 1;
                if t.removed.load(Ordering::SeqCst) {
                    continue;
                }
                let Some(sample) = t.series.sample() else {
                    continue;
                };
                write(out, family, &mut self.header, &t.id, &sample);
                if out.len() >= max {
                    return true;
                }
            }
            if self.header {
                out.push('\n');
            }
            self.next_family();
        }
        // Nothing is left to render: let the tenants go now rather than with the collector.
        self.tenants = Vec::new();
        false
    }

    fn next_family(&mut self) {
        self.family += 1;
        self.pos = 0;
        self.header = false;
    }
}

/// One tenant's lines of one family, after the family's header if it is not written yet.
fn write(out: &mut String, family: Family, header_written: &mut bool, id: &str, s: &TenantSample) {
    match family {
        Family::State | Family::Transitions if s.state.is_none() => return,
        _ => {}
    }
    if !*header_written {
        header(out, family);
        *header_written = true;
    }
    match family {
        Family::State => {
            sample(
                out,
                TENANT_STATE,
                id,
                None,
                u64::from(s.state == Some(true)),
            );
        }
        Family::Transitions => {
            let name = TENANT_TRANSITIONS_TOTAL;
            sample(out, name, id, Some("ready"), s.to_ready);
            sample(out, name, id, Some("not_ready"), s.to_not_ready);
        }
        Family::CheckSeconds => {
            sample(out, TENANT_CHECK_SECONDS_TOTAL, id, None, s.check_seconds);
        }
        Family::Tenants => {}
    }
}

fn header(out: &mut String, family: Family) {
    out.push_str("# HELP ");
    out.push_str(family.name());
    out.push(' ');
    out.push_str(family.help());
    out.push_str("\n# TYPE ");
    out.push_str(family.name());
    out.push(' ');
    out.push_str(family.kind());
    out.push('\n');
}

/// `name{tenant="id"[,to="to"]} value`
fn sample(out: &mut String, name: &str, tenant: &str, to: Option<&str>, value: u64) {
    out.push_str(name);
    out.push_str("{tenant=\"");
    push_label_value(out, tenant);
    if let Some(to) = to {
        out.push_str("\",to=\"");
        out.push_str(to);
    }
    out.push_str("\"} ");
    push_u64(out, value);
    out.push('\n');
}

/// A label value escaped as the text format requires: `\` as `\\`, `"` as `\"`, a line feed
/// as `\n`. Tenant ids are validated (`[a-z0-9._-]`), so they never need it; the escaping
/// keeps the format valid whatever a label holds.
pub(crate) fn push_label_value(out: &mut String, value: &str) {
    if !value.bytes().any(|b| matches!(b, b'\\' | b'"' | b'\n')) {
        out.push_str(value);
        return;
    }
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn push_u64(out: &mut String, mut v: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        out.push(char::from(d));
    }
}

/// The family a line of the text format belongs to: the name in `# HELP name` and
/// `# TYPE name`, or a sample's name without a histogram's or summary's suffix. `None` for
/// other comments and blank lines.
fn family_of(line: &str) -> Option<&str> {
    let line = line.trim_end();
    if let Some(comment) = line.strip_prefix('#') {
        let comment = comment.trim_start();
        let rest = comment
            .strip_prefix("HELP ")
            .or_else(|| comment.strip_prefix("TYPE "))?;
        return rest.split_whitespace().next();
    }
    let end = line.find(['{', ' ', '\t']).unwrap_or(line.len());
    let name = &line[..end];
    if name.is_empty() {
        return None;
    }
    Some(
        ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .filter(|base| FAMILIES.iter().any(|f| f.name() == *base))
            .unwrap_or(name),
    )
}

#[cfg(test)]
mod tests {
    use super::{family_of, push_label_value, push_u64};

    #[test]
    fn label_values_are_escaped_as_the_text_format_requires() {
        for (raw, escaped) in [
            ("acme", "acme"),
            ("a\\b", "a\\\\b"),
            ("a\\\\b", "a\\\\\\\\b"),
            ("say \"hi\"", "say \\\"hi\\\""),
            ("two\nlines", "two\\nlines"),
            ("ünï", "ünï"),
        ] {
            let mut out = String::new();
            push_label_value(&mut out, raw);
            assert_eq!(out, escaped, "{raw:?}");
        }
    }

    #[test]
    fn numbers_are_written_in_decimal() {
        for v in [0, 1, 9, 10, 1234567890, u64::MAX] {
            let mut out = String::new();
            push_u64(&mut out, v);
            assert_eq!(out, v.to_string());
        }
    }

    #[test]
    fn lines_belong_to_their_family() {
        assert_eq!(
            family_of("# HELP tenant_readiness_state Whether.\n"),
            Some("tenant_readiness_state")
        );
        assert_eq!(
            family_of("# TYPE tenant_readiness_state gauge\n"),
            Some("tenant_readiness_state")
        );
        assert_eq!(
            family_of("tenant_readiness_state{tenant=\"a\"} 1\n"),
            Some("tenant_readiness_state")
        );
        assert_eq!(
            family_of("tenant_readiness_tenants_count 1"),
            Some("tenant_readiness_tenants")
        );
        assert_eq!(family_of("readiness_state 1\n"), Some("readiness_state"));
        assert_eq!(family_of("up_count 1"), Some("up_count"));
        assert_eq!(family_of("# a comment\n"), None);
        assert_eq!(family_of("\n"), None);
    }
}
