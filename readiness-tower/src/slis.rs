//! Kubernetes' health SLIs at `/metrics/slis`, as component-base's `metrics/prometheus/slis`
//! serves them on kube-apiserver, the scheduler and the kubelet, so that dashboards and agents
//! built for Kubernetes components read an application unchanged.
//!
//! The series are the layer's own, kept in atomics and rendered at scrape time (component-base
//! keeps them in a registry of their own, apart from `/metrics`): they need no recorder, and an
//! application that exports through another recorder still serves them.
//!
//! Values move as kube-apiserver's `handleRootHealth` moves them: each request to a root
//! health endpoint (`/livez`, `/readyz`, `/healthz`) observes every check it evaluates once,
//! success or error, and nothing else moves them (not a check's run, not a scrape).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use readiness_core::{SHUTDOWN_ENTRY, Snapshot};

use crate::render::{self, Probe};

/// `kubernetes_healthcheck{name, type}`: 1 when the check passed at the latest probe, 0 when not.
pub(crate) const HEALTHCHECK: &str = "kubernetes_healthcheck";
/// `kubernetes_healthchecks_total{name, type, status}`: checks evaluated by probes.
pub(crate) const HEALTHCHECKS_TOTAL: &str = "kubernetes_healthchecks_total";
/// `process_start_time_seconds`: component-base serves it beside the SLIs (since Kubernetes
/// 1.30), so that a reader can tell a restart from a counter going backwards.
pub(crate) const PROCESS_START_TIME: &str = "process_start_time_seconds";

/// The `type` label: the root endpoint that evaluated the check, in the order it renders.
const TYPES: [&str; 3] = ["healthz", "livez", "readyz"];

fn type_index(probe: Probe) -> Option<usize> {
    match probe {
        Probe::Healthz => Some(0),
        Probe::Livez => Some(1),
        Probe::Readyz => Some(2),
        // kube-apiserver has no `/startupz`: its answers are not observed.
        Probe::Startupz => None,
    }
}

/// One `(name, type)`: the gauge and the two counters.
#[derive(Default)]
struct Cell {
    /// 0 before the first observation (no series yet), 1 error, 2 success.
    last: AtomicU8,
    success: AtomicU64,
    error: AtomicU64,
}

impl Cell {
    fn observe(&self, ok: bool) {
        self.last.store(if ok { 2 } else { 1 }, Ordering::Relaxed);
        let counter = if ok { &self.success } else { &self.error };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// A check's cells, one per `type`.
#[derive(Default)]
struct Cells([Cell; 3]);

#[derive(Default)]
struct Table {
    /// Every name ever observed, sorted as rendered. Names come only from the engine's
    /// registered checks and the `shutdown` entry: never from a request, never a tenant's.
    by_name: BTreeMap<Arc<str>, Arc<Cells>>,
    /// The cells of the snapshot's checks by position, as last seen, so a probe finds them
    /// with one compare of the name instead of a lookup.
    order: Vec<Option<(Arc<str>, Arc<Cells>)>>,
    shutdown: Arc<Cells>,
}

impl Table {
    fn cells(&mut self, name: &str) -> Arc<Cells> {
        if let Some(c) = self.by_name.get(name) {
            return c.clone();
        }
        let c = Arc::new(Cells::default());
        self.by_name.insert(name.into(), c.clone());
        c
    }
}

/// The layer's health SLIs.
pub(crate) struct Slis {
    start: f64,
    table: RwLock<Table>,
}

impl Slis {
    pub(crate) fn new() -> Self {
        let mut table = Table::default();
        table.shutdown = table.cells(SHUTDOWN_ENTRY);
        Self {
            start: process_start_time(),
            table: RwLock::new(table),
        }
    }

    /// A probe of `probe` evaluated `snap`, minus what `excludes` skips: observe each check
    /// it evaluated once, as kube-apiserver's `handleRootHealth` does.
    pub(crate) fn observe(&self, probe: Probe, snap: &Snapshot, excludes: &[String]) {
        let Some(ty) = type_index(probe) else { return };
        let mut misses: Vec<(usize, bool)> = Vec::new();
        {
            let table = self.table.read().unwrap_or_else(|e| e.into_inner());
            render::each_entry(probe, snap, |pos, e| {
                if !excludes.is_empty()
                    && e.excluded_by(|n| excludes.iter().position(|x| x == n))
                        .is_some()
                {
                    return;
                }
                let cells = match pos {
                    None => Some(&table.shutdown),
                    Some(i) => match table.order.get(i) {
                        Some(Some((name, cells))) if **name == *e.name => Some(cells),
                        _ => None,
                    },
                };
                match (cells, pos) {
                    (Some(cells), _) => cells.0[ty].observe(e.ok),
                    (None, Some(i)) => misses.push((i, e.ok)),
                    (None, None) => {}
                }
            });
        }
        if misses.is_empty() {
            return;
        }
        // A check not seen at its position yet (the first probe, or a new engine after a
        // reload): index the snapshot's checks again, then observe the misses.
        let mut table = self.table.write().unwrap_or_else(|e| e.into_inner());
        let order = snap
            .checks()
            .iter()
            .map(|c| Some((Arc::from(c.name()), table.cells(c.name()))))
            .collect();
        table.order = order;
        for (i, ok) in misses {
            if let Some(Some((_, cells))) = table.order.get(i) {
                cells.0[ty].observe(ok);
            }
        }
    }

    /// The exposition, in Prometheus' text format: the families sorted by name, series by
    /// their label values, each series present once observed, as client_golang writes them.
    pub(crate) fn render(&self) -> String {
        let table = self.table.read().unwrap_or_else(|e| e.into_inner());
        let mut out = String::with_capacity(512 + 160 * table.by_name.len());
        let mut gauges = String::new();
        let mut counters = String::new();
        for (name, cells) in &table.by_name {
            for (ty, cell) in TYPES.iter().zip(&cells.0) {
                let last = cell.last.load(Ordering::Relaxed);
                if last == 0 {
                    continue;
                }
                let _ = writeln!(
                    gauges,
                    "{HEALTHCHECK}{{name=\"{}\",type=\"{ty}\"}} {}",
                    Escaped(name),
                    u8::from(last == 2)
                );
            }
            for (status, error) in [("error", true), ("success", false)] {
                for (ty, cell) in TYPES.iter().zip(&cells.0) {
                    let n = if error { &cell.error } else { &cell.success };
                    let n = n.load(Ordering::Relaxed);
                    if n > 0 {
                        let _ = writeln!(
                            counters,
                            "{HEALTHCHECKS_TOTAL}{{name=\"{}\",status=\"{status}\",type=\"{ty}\"}} {n}",
                            Escaped(name)
                        );
                    }
                }
            }
        }
        // Families with no series are left out, as client_golang leaves them out.
        if !gauges.is_empty() {
            let _ = writeln!(
                out,
                "# HELP {HEALTHCHECK} [STABLE] This metric records the result of a single healthcheck.\n# TYPE {HEALTHCHECK} gauge"
            );
            out.push_str(&gauges);
        }
        if !counters.is_empty() {
            let _ = writeln!(
                out,
                "# HELP {HEALTHCHECKS_TOTAL} [STABLE] This metric records the results of all healthcheck.\n# TYPE {HEALTHCHECKS_TOTAL} counter"
            );
            out.push_str(&counters);
        }
        let _ = writeln!(
            out,
            "# HELP {PROCESS_START_TIME} [ALPHA] Start time of the process since unix epoch in seconds.\n# TYPE {PROCESS_START_TIME} gauge\n{PROCESS_START_TIME} {}",
            self.start
        );
        out
    }
}

/// A label value as the text format escapes it (`\`, `"` and newlines). Check names never
/// need it (they are validated), but the format is kept whatever comes.
struct Escaped<'a>(&'a str);

impl std::fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for c in self.0.chars() {
            match c {
                '\\' => f.write_str("\\\\")?,
                '"' => f.write_str("\\\"")?,
                '\n' => f.write_str("\\n")?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// When the process started, in seconds since the Unix epoch, as component-base reads it
/// (Linux: `/proc/self/stat`'s start time in clock ticks of 1/100 s after `/proc/stat`'s
/// `btime`, as prometheus/procfs counts them); elsewhere, or if `/proc` cannot be read, the
/// time the SLIs were set up, as component-base falls back to the time it registers them.
fn process_start_time() -> f64 {
    #[cfg(target_os = "linux")]
    if let Some(t) = linux_process_start() {
        return t;
    }
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as f64)
        .unwrap_or(0.0)
}

#[cfg(target_os = "linux")]
fn linux_process_start() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name is in parentheses and may hold spaces or parentheses itself: the
    // fields that follow start after the last `)`, with the state (field 3); the start time
    // is field 22.
    let rest = &stat[stat.rfind(')')? + 1..];
    let ticks: u64 = rest.split_whitespace().nth(19)?.parse().ok()?;
    let boot: u64 = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime ")?.trim().parse().ok())?;
    Some(boot as f64 + ticks as f64 / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_start_time_is_a_recent_past() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs_f64();
        let start = process_start_time();
        assert!(
            start <= now + 1.0 && start > now - 86_400.0,
            "{start} vs {now}"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(Escaped("a\\b\"c\nd").to_string(), "a\\\\b\\\"c\\nd");
    }
}
