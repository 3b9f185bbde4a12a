//! What a probe reads: an immutable [`Snapshot`] of every check's latest state.

use std::collections::HashMap;
use std::sync::Arc;

use crate::check::Kind;

/// The state of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// No result yet. A pending readiness check is not ready (fail closed).
    Pending,
    /// Passing, after `success_threshold` consecutive successes.
    Passing,
    /// Failing, after `failure_threshold` consecutive failures (or any failure while pending).
    Failing,
}

named_enum! {
    /// `pending`, `passing` or `failing`.
    Status { Pending => "pending", Passing => "passing", Failing => "failing" }
}

/// One check as a probe sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckStatus {
    pub(crate) name: Arc<str>,
    pub(crate) kind: Kind,
    pub(crate) critical: bool,
    pub(crate) group: Option<Arc<str>>,
    pub(crate) status: Status,
    pub(crate) reason: Option<Arc<str>>,
    /// Whether a dependency blocks it (its reason then reads [`BLOCKED_BY`] and the name).
    pub(crate) blocked: bool,
}

/// How a blocked check's reason starts: `blocked by NAME`.
pub(crate) const BLOCKED_BY: &str = "blocked by ";

/// The dependency named by a blocked check's reason.
pub(crate) fn blocking(reason: Option<&str>) -> Option<&str> {
    reason?.strip_prefix(BLOCKED_BY)
}

impl CheckStatus {
    /// The check's name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The check's kind.
    pub fn kind(&self) -> Kind {
        self.kind
    }
    /// Whether a failure makes the scope not ready.
    pub fn is_critical(&self) -> bool {
        self.critical
    }
    /// The check's group, if it has one (see [`CheckSpec::group`](crate::CheckSpec::group)).
    pub fn group(&self) -> Option<&str> {
        self.group.as_deref()
    }
    /// The check's state.
    pub fn status(&self) -> Status {
        self.status
    }
    /// Whether the check passes.
    pub fn is_passing(&self) -> bool {
        self.status == Status::Passing
    }
    /// The dependency that blocks the check, while one does: it fails, so the check does not
    /// run and reads `blocked by NAME` (see [`CheckSpec::depends_on`](crate::CheckSpec::depends_on)).
    pub fn blocked_by(&self) -> Option<&str> {
        if self.blocked {
            blocking(self.reason.as_deref())
        } else {
            None
        }
    }
    /// Why the check is not passing: the latest failure's reason (`blocked by NAME` while a
    /// dependency blocks it), or `pending` before the first result.
    pub fn reason(&self) -> Option<&str> {
        match self.status {
            Status::Passing => None,
            Status::Pending => Some(self.reason.as_deref().unwrap_or("pending")),
            Status::Failing => Some(self.reason.as_deref().unwrap_or("failed")),
        }
    }
}

/// An immutable view of a scope's checks and its aggregate state, replaced as a whole on every
/// change. Probes read it without taking a lock.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub(crate) checks: Vec<CheckStatus>,
    /// `None` for a scope small enough to scan.
    pub(crate) index: Option<Arc<HashMap<Arc<str>, usize>>>,
    pub(crate) ready: bool,
    pub(crate) live: bool,
    pub(crate) started: bool,
    pub(crate) draining: bool,
}

impl Snapshot {
    /// Every check, in registration order.
    pub fn checks(&self) -> &[CheckStatus] {
        &self.checks
    }

    /// The checks of one kind, in registration order.
    pub fn checks_of(&self, kind: Kind) -> impl Iterator<Item = &CheckStatus> + '_ {
        self.checks.iter().filter(move |c| c.kind == kind)
    }

    /// One check by name, in O(1): a hash lookup, or a scan of the few checks of a small scope.
    pub fn check(&self, name: &str) -> Option<&CheckStatus> {
        match &self.index {
            Some(index) => index.get(name).map(|&i| &self.checks[i]),
            None => self.checks.iter().find(|c| &*c.name == name),
        }
    }

    /// Ready: started, every critical readiness check passing, and not draining.
    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// Live: no liveness check failing.
    pub fn is_live(&self) -> bool {
        self.live
    }

    /// Started: every startup and critical readiness check has passed at least once. Once
    /// true, it stays true.
    pub fn is_started(&self) -> bool {
        self.started
    }

    /// Draining: shutting down; never ready again.
    pub fn is_draining(&self) -> bool {
        self.draining
    }
}

/// The aggregate state, as sent to subscribers ([`Engine::subscribe`](crate::Engine::subscribe)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Aggregate {
    /// See [`Snapshot::is_ready`].
    pub ready: bool,
    /// See [`Snapshot::is_live`].
    pub live: bool,
    /// See [`Snapshot::is_started`].
    pub started: bool,
    /// See [`Snapshot::is_draining`].
    pub draining: bool,
}

impl Snapshot {
    /// The aggregate state of this snapshot.
    pub fn aggregate(&self) -> Aggregate {
        Aggregate {
            ready: self.ready,
            live: self.live,
            started: self.started,
            draining: self.draining,
        }
    }
}
