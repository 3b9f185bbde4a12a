//! Rendering probe answers in kube-apiserver's text format and in JSON.

use std::fmt::Write as _;

use bytes::Bytes;
use http::StatusCode;
use readiness_core::{
    Auditor, CheckStatus, Kind, SHUTDOWN_ENTRY, SHUTDOWN_REASON, Scope, Snapshot, Status,
    TenantStatus,
};

use crate::query::ProbeQuery;

/// The most unmatched `exclude` names listed in a `warn:` line; the rest are counted.
const MAX_WARNED: usize = 16;

/// Which probe is being answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Probe {
    Livez,
    Healthz,
    Readyz,
    Startupz,
}

impl Probe {
    /// The word kube-apiserver puts in `<name> check passed`.
    pub(crate) fn word(self) -> &'static str {
        match self {
            Probe::Livez => "livez",
            Probe::Healthz => "healthz",
            Probe::Readyz => "readyz",
            Probe::Startupz => "startupz",
        }
    }
}

/// One line of a probe answer.
pub(crate) struct Entry<'a> {
    pub(crate) name: &'a str,
    /// The check's group: `exclude=GROUP` skips it too.
    pub(crate) group: Option<&'a str>,
    pub(crate) ok: bool,
    pub(crate) critical: bool,
    pub(crate) status: Status,
    pub(crate) reason: Option<&'a str>,
    /// Whether `exclude=` may skip it (never the `shutdown` entry: a draining instance must
    /// not be made to look ready).
    pub(crate) excludable: bool,
    /// The dependency that blocks the check: shown whether or not reasons are (it names only a
    /// registered check), so an outage shows its cause.
    pub(crate) blocked_by: Option<&'a str>,
}

impl<'a> Entry<'a> {
    pub(crate) fn of(c: &'a CheckStatus) -> Self {
        let ok = match c.kind() {
            // Liveness fails only on a failure: a pending liveness check is no reason to restart.
            Kind::Liveness => c.status() != Status::Failing,
            _ => c.is_passing(),
        };
        Entry {
            name: c.name(),
            group: c.group(),
            ok,
            critical: c.is_critical(),
            status: c.status(),
            reason: c.reason(),
            excludable: true,
            blocked_by: c.blocked_by(),
        }
    }

    fn shutdown() -> Self {
        shutdown_entry(true)
    }

    /// Whether `exclude=` skips this entry, and through which name: its own name first, then
    /// its group, as kube-apiserver matches. `position` finds a name among the excludes.
    pub(crate) fn excluded_by(
        &self,
        mut position: impl FnMut(&str) -> Option<usize>,
    ) -> Option<(usize, Option<&'a str>)> {
        if !self.excludable {
            return None;
        }
        if let Some(i) = position(self.name) {
            return Some((i, None));
        }
        let group = self.group?;
        position(group).map(|i| (i, Some(group)))
    }
}

/// A tenant probe's entries: the tenant's checks, then `instance` when the instance is not
/// ready (a tenant is ready only when its instance is).
pub(crate) fn tenant_entries(t: &TenantStatus) -> Vec<Entry<'_>> {
    let mut out: Vec<Entry<'_>> = t
        .snapshot()
        .checks_of(Kind::Readiness)
        .map(Entry::of)
        .collect();
    if !t.instance_ready() {
        out.push(Entry {
            name: "instance",
            group: None,
            ok: false,
            critical: true,
            status: Status::Failing,
            reason: Some(if t.instance_draining() {
                SHUTDOWN_REASON
            } else {
                "instance not ready"
            }),
            excludable: false,
            blocked_by: None,
        });
    }
    out
}

/// The `shutdown` entry: failing while draining, passing before.
pub(crate) fn shutdown_entry(draining: bool) -> Entry<'static> {
    Entry {
        name: SHUTDOWN_ENTRY,
        group: None,
        ok: !draining,
        critical: true,
        status: if draining {
            Status::Failing
        } else {
            Status::Passing
        },
        reason: draining.then_some(SHUTDOWN_REASON),
        excludable: false,
        blocked_by: None,
    }
}

/// Every entry a probe lists, in order, with the position of its check in the snapshot (`None`
/// for the `shutdown` entry): what the probe evaluates, for its answer and for the health SLIs.
pub(crate) fn each_entry<'s>(
    probe: Probe,
    snap: &'s Snapshot,
    mut f: impl FnMut(Option<usize>, Entry<'s>),
) {
    let of_kind = |kind: Kind, f: &mut dyn FnMut(Option<usize>, Entry<'s>)| {
        for (i, c) in snap.checks().iter().enumerate() {
            if c.kind() == kind {
                f(Some(i), Entry::of(c));
            }
        }
    };
    match probe {
        Probe::Livez | Probe::Healthz => of_kind(Kind::Liveness, &mut f),
        Probe::Readyz => {
            if !snap.is_started() {
                // Until started, startup checks hold readiness back too: list them.
                of_kind(Kind::Startup, &mut f);
            }
            of_kind(Kind::Readiness, &mut f);
            if snap.is_draining() {
                f(None, Entry::shutdown());
            }
        }
        Probe::Startupz => {
            for (i, c) in snap.checks().iter().enumerate() {
                match c.kind() {
                    Kind::Startup => f(Some(i), Entry::of(c)),
                    Kind::Readiness if c.is_critical() => f(Some(i), Entry::of(c)),
                    _ => {}
                }
            }
        }
    }
}

/// The entries a probe lists, in order.
pub(crate) fn entries(probe: Probe, snap: &Snapshot) -> Vec<Entry<'_>> {
    let mut out = Vec::with_capacity(snap.checks().len() + 1);
    each_entry(probe, snap, |_, e| out.push(e));
    out
}

/// A rendered answer.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) json: bool,
    pub(crate) body: Bytes,
}

/// Render a probe answer. `latched` forces a pass (startup, once started).
pub(crate) fn render(
    word: &str,
    entries: &[Entry<'_>],
    query: &ProbeQuery,
    details: bool,
    latched: bool,
) -> Answer {
    let mut excludes: Vec<&str> = query.exclude.iter().map(String::as_str).collect();
    excludes.sort_unstable();
    excludes.dedup();
    let mut matched = vec![false; excludes.len()];
    let mut failed = false;
    let mut lines: Vec<Line<'_>> = Vec::with_capacity(entries.len());
    for e in entries {
        if let Some((i, group)) = e.excluded_by(|n| excludes.binary_search(&n).ok()) {
            matched[i] = true;
            lines.push(Line::Excluded(e, group));
            continue;
        }
        if !e.ok && e.critical {
            failed = true;
        }
        lines.push(Line::Check(e));
    }
    let unmatched: Vec<&str> = excludes
        .iter()
        .zip(&matched)
        .filter(|&(_, m)| !m)
        .map(|(n, _)| *n)
        .collect();
    let failed = failed && !latched;
    let status = if failed {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    if query.json {
        return Answer {
            status,
            json: true,
            body: json(word, &lines, &unmatched, details, failed).into(),
        };
    }
    if !failed && !query.verbose {
        return Answer {
            status,
            json: false,
            body: Bytes::from_static(b"ok"),
        };
    }
    let mut out = String::with_capacity(32 * (lines.len() + 2));
    for line in &lines {
        match line {
            Line::Excluded(e, None) => {
                let _ = writeln!(out, "[+]{} excluded: ok", e.name);
            }
            Line::Excluded(e, Some(group)) => {
                let _ = writeln!(out, "[+]{} excluded with {group}: ok", e.name);
            }
            Line::Check(e) if e.ok => {
                let _ = writeln!(out, "[+]{} ok", e.name);
            }
            Line::Check(e) => {
                let label = if e.critical {
                    "failed"
                } else {
                    "failed (non-critical)"
                };
                let _ = write!(out, "[-]{} {label}: ", e.name);
                if let Some(by) = e.blocked_by {
                    let _ = write!(out, "blocked by {by}");
                } else if details {
                    push_sanitized(&mut out, e.reason.unwrap_or("failed"));
                } else {
                    out.push_str("reason withheld");
                }
                out.push('\n');
            }
        }
    }
    if !unmatched.is_empty() {
        out.push_str("warn: some health checks cannot be excluded: no matches for ");
        push_quoted_list(&mut out, &unmatched);
        out.push('\n');
    }
    let verdict = if failed { "failed" } else { "passed" };
    let _ = writeln!(out, "{word} check {verdict}");
    Answer {
        status,
        json: false,
        body: out.into(),
    }
}

enum Line<'a> {
    /// Excluded by name, or through its group.
    Excluded(&'a Entry<'a>, Option<&'a str>),
    Check(&'a Entry<'a>),
}

/// A reason on one line: control characters become spaces.
fn push_sanitized(out: &mut String, s: &str) {
    out.extend(s.chars().map(|c| if c.is_control() { ' ' } else { c }));
}

/// `"a","b"` as kube-apiserver writes them with Go's `%q` (request input: escaped, bounded).
fn push_quoted_list(out: &mut String, names: &[&str]) {
    for (i, n) in names.iter().take(MAX_WARNED).enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_quoted(out, n);
    }
    if names.len() > MAX_WARNED {
        let _ = write!(out, " and {} more", names.len() - MAX_WARNED);
    }
}

/// One name as Go's `strconv.Quote` writes it: printable characters as they are, `"` and `\\`
/// escaped, control characters as `\n`-style or `\xNN` / `\uNNNN` escapes. Bounded to 256
/// characters (request input).
fn push_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars().take(256) {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if c.is_control() && (c as u32) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if unprintable(c) && (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if unprintable(c) => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// What Go's `strconv.IsPrint` refuses beyond the controls, so `%q` escapes it: separators
/// other than ASCII space, format characters (bidi overrides, zero-width, BOM) and private
/// use. (Unassigned code points, which Go escapes too, pass as they are.)
fn unprintable(c: char) -> bool {
    c.is_control()
        || matches!(c as u32,
            0x00A0 | 0x00AD | 0x0600..=0x0605 | 0x061C | 0x06DD | 0x070F | 0x0890..=0x0891
            | 0x08E2 | 0x1680 | 0x180E | 0x2000..=0x200F | 0x2028..=0x202F | 0x205F..=0x206F
            | 0x3000 | 0xE000..=0xF8FF | 0xFEFF | 0xFFF9..=0xFFFB | 0x110BD | 0x110CD
            | 0x13430..=0x1343F | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A | 0xE0001
            | 0xE0020..=0xE007F | 0xF0000..=0x10FFFF)
}

fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn json(word: &str, lines: &[Line<'_>], unmatched: &[&str], details: bool, failed: bool) -> String {
    let mut out = String::with_capacity(64 * (lines.len() + 2));
    out.push_str("{\"probe\":");
    push_json_str(&mut out, word);
    out.push_str(",\"status\":");
    out.push_str(if failed { "\"failed\"" } else { "\"ok\"" });
    out.push_str(",\"checks\":[");
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let (e, status) = match line {
            Line::Excluded(e, _) => (e, "excluded"),
            Line::Check(e) if e.ok => (e, "ok"),
            Line::Check(e) => (e, "failed"),
        };
        out.push_str("{\"name\":");
        push_json_str(&mut out, e.name);
        if let Some(group) = e.group {
            out.push_str(",\"group\":");
            push_json_str(&mut out, group);
        }
        let _ = write!(
            out,
            ",\"status\":\"{status}\",\"state\":\"{}\",\"critical\":{}",
            e.status.as_str(),
            e.critical
        );
        if status == "failed"
            && let Some(by) = e.blocked_by
        {
            out.push_str(",\"blocked_by\":");
            push_json_str(&mut out, by);
        }
        if details
            && status == "failed"
            && let Some(reason) = e.reason
        {
            out.push_str(",\"reason\":");
            push_json_str(&mut out, reason);
        }
        out.push('}');
    }
    out.push_str("],\"warnings\":[");
    if !unmatched.is_empty() {
        let mut w = String::from("some health checks cannot be excluded: no matches for ");
        push_quoted_list(&mut w, unmatched);
        push_json_str(&mut out, &w);
    }
    out.push_str("]}");
    out
}

fn push_checks_json(out: &mut String, snap: &Snapshot) {
    out.push('[');
    for (i, c) in snap.checks().iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"name\":");
        push_json_str(out, c.name());
        if let Some(group) = c.group() {
            out.push_str(",\"group\":");
            push_json_str(out, group);
        }
        let _ = write!(
            out,
            ",\"kind\":\"{}\",\"state\":\"{}\",\"critical\":{}",
            c.kind().as_str(),
            c.status().as_str(),
            c.is_critical()
        );
        if let Some(r) = c.reason() {
            out.push_str(",\"reason\":");
            push_json_str(out, r);
        }
        if let Some(by) = c.blocked_by() {
            out.push_str(",\"blocked_by\":");
            push_json_str(out, by);
        }
        out.push('}');
    }
    out.push(']');
}

/// The auditors' view as JSON: every scope's checks (reasons included) and the log.
pub(crate) fn audit_json(auditor: &Auditor) -> String {
    let inst = auditor.instance();
    let mut out = String::with_capacity(1024);
    let _ = write!(
        out,
        "{{\"instance\":{{\"ready\":{},\"live\":{},\"started\":{},\"draining\":{},\"checks\":",
        inst.is_ready(),
        inst.is_live(),
        inst.is_started(),
        inst.is_draining()
    );
    push_checks_json(&mut out, &inst);
    out.push_str("},\"tenants\":[");
    for (i, (id, t)) in auditor.tenants().iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"id\":");
        push_json_str(&mut out, id);
        let _ = write!(out, ",\"ready\":{},\"checks\":", t.is_ready());
        push_checks_json(&mut out, t.snapshot());
        out.push('}');
    }
    out.push_str("],\"log\":[");
    for (i, e) in auditor.log().iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let at =
            e.at.duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
        let _ = write!(out, "{{\"at\":{at:.3},\"scope\":");
        match &e.scope {
            Scope::Global => out.push_str("\"instance\""),
            Scope::Tenant(t) => {
                let mut s = String::from("tenants/");
                s.push_str(t);
                push_json_str(&mut out, &s);
            }
        }
        out.push_str(",\"check\":");
        match &e.check {
            Some(c) => push_json_str(&mut out, c),
            None => out.push_str("null"),
        }
        let _ = write!(out, ",\"to\":\"{}\"", e.to);
        if let Some(r) = &e.reason {
            out.push_str(",\"reason\":");
            push_json_str(&mut out, r);
        }
        if let Some(by) = &e.blocked_by {
            out.push_str(",\"blocked_by\":");
            push_json_str(&mut out, by);
        }
        out.push('}');
    }
    out.push_str("]}");
    out
}
