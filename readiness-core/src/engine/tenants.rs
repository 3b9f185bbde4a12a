//! Tenants: validation, adding and removing them, the engine's tenant API and the auditors'
//! view.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::broadcast;

use super::handle::{Engine, WeakEngine};
use super::scope::{ScopeCore, TenantCore, scope_salt};
use super::shared::Shared;
use super::sync::lock;
use super::tenant_series::TenantSeries;
use crate::check::Kind;
use crate::config::{CheckSpec, Defaults, Resolved, resolve_specs};
use crate::problem::{BuildError, ConfigProblem, Scope};
use crate::snapshot::Snapshot;
use crate::tenant::{AuditEntry, TenantEvent, TenantStatus};

/// Names a tenant's checks may not take: the tenant probe uses them for its own entries.
pub(super) const TENANT_RESERVED: &[&str] = &["instance", "shutdown", "tenants"];

pub(super) fn validate_tenant(id: &str, problems: &mut Vec<ConfigProblem>) -> bool {
    let scope = Scope::Tenant(id.into());
    if let Err(error) = crate::names::validate_name(id) {
        problems.push(ConfigProblem::InvalidName {
            scope,
            name: id.to_owned(),
            error,
        });
        false
    } else if crate::names::RESERVED_NAMES.contains(&id) {
        problems.push(ConfigProblem::ReservedName {
            scope,
            name: id.to_owned(),
        });
        false
    } else {
        true
    }
}

pub(super) fn resolve_tenant_checks(
    id: &str,
    checks: &[CheckSpec],
    defaults: &Defaults,
    margin: Duration,
    problems: &mut Vec<ConfigProblem>,
) -> Vec<Resolved> {
    let scope = Scope::Tenant(id.into());
    for c in checks {
        if c.kind() != Kind::Readiness {
            problems.push(ConfigProblem::TenantCheckKind {
                tenant: id.to_owned(),
                name: c.name().to_owned(),
                kind: c.kind(),
            });
        }
        if TENANT_RESERVED.contains(&c.name()) {
            problems.push(ConfigProblem::ReservedName {
                scope: scope.clone(),
                name: c.name().to_owned(),
            });
        }
    }
    let mut resolved = resolve_specs(&scope, checks, defaults, problems);
    for r in &mut resolved {
        r.cfg.set_margin(margin);
    }
    resolved
}

impl Shared {
    pub(super) fn tenant(&self, id: &str) -> Option<Arc<TenantCore>> {
        self.tenants.get(id)
    }

    fn new_tenant(&self, id: &str, resolved: Vec<Resolved>) -> Arc<TenantCore> {
        let id: Arc<str> = id.into();
        let core = ScopeCore::new(
            resolved,
            false,
            scope_salt(self.options.seed, Some(&id)),
            &self.interner,
        );
        Arc::new(TenantCore {
            series: TenantSeries::register(&id, self.tenant_mode),
            id,
            core,
            effective: AtomicBool::new(false),
            removed: AtomicBool::new(false),
            registered: AtomicBool::new(false),
            decided: AtomicBool::new(false),
        })
    }

    /// Add a tenant: into the map first (whose lock is a leaf), then into the counts, the
    /// series, the events and the schedule, holding no lock of the map's.
    pub(super) fn insert_tenant(
        &self,
        id: &str,
        resolved: Vec<Resolved>,
    ) -> Result<(), ConfigProblem> {
        let tenant = self.new_tenant(id, resolved);
        self.tenants.insert(tenant.clone())?;
        #[cfg(test)]
        self.faults.adding();
        {
            let mut counts = lock(&self.tenant_sync);
            if tenant.removed.load(Ordering::SeqCst) {
                // Removed before it was counted: there is nothing to undo.
                return Ok(());
            }
            tenant.registered.store(true, Ordering::SeqCst);
            if !tenant.decided.load(Ordering::SeqCst) {
                if TenantCore::own_decided(&tenant.core.snapshot.load()) {
                    tenant.decided.store(true, Ordering::SeqCst);
                } else {
                    self.undecided.fetch_add(1, Ordering::SeqCst);
                }
            }
            counts.add();
            if let Some(_owned) = self.series.guard(&self.gone) {
                tenant.series.touch(false);
                counts.reassert();
            }
            // Subscribers (the gRPC bridge) learn of the tenant at once, not at its first
            // transition.
            let _ = self.tenant_events.send(TenantEvent {
                tenant: tenant.id.clone(),
                ready: false,
                removed: false,
            });
        }
        // A tenant with no critical check is ready as soon as the instance is.
        self.sync_tenant(&tenant);
        self.sched.add(self, Some(&tenant));
        Ok(())
    }

    pub(super) fn forget_tenant(&self, tenant: &TenantCore) {
        let mut counts = lock(&self.tenant_sync);
        if !tenant.registered.load(Ordering::SeqCst) {
            // Removed before it was counted: `insert_tenant` sees the flag and stops.
            return;
        }
        let last_undecided = !tenant.decided.swap(true, Ordering::SeqCst)
            && self.undecided.fetch_sub(1, Ordering::SeqCst) == 1;
        let was_ready = tenant.effective.load(Ordering::SeqCst);
        counts.remove(was_ready);
        if let Some(_owned) = self.series.guard(&self.gone) {
            counts.reassert();
            tenant.series.removed();
        }
        let _ = self.tenant_events.send(TenantEvent {
            tenant: tenant.id.clone(),
            ready: false,
            removed: true,
        });
        self.audit(
            Scope::Tenant(tenant.id.clone()),
            None,
            "removed",
            None,
            None,
        );
        drop(counts);
        if last_undecided {
            self.take_over_if_decided();
        }
    }
}

impl Engine {
    /// Add a tenant with its readiness checks, while probes are served. Its id follows the
    /// check-name rules; `tenants` is reserved, and its checks may not be named `instance` or
    /// `shutdown`. Every problem is returned at once; nothing is added on error. After
    /// [`shutdown`](Self::shutdown) it answers [`ConfigProblem::ShutDown`] and starts nothing.
    ///
    /// Its first run starts at once (after its initial delay), ahead of checks that hang: see
    /// [`EngineBuilder::max_tenant_in_flight`](crate::EngineBuilder::max_tenant_in_flight).
    pub fn add_tenant(&self, id: &str, checks: Vec<CheckSpec>) -> Result<(), BuildError> {
        let shared = &self.inner.shared;
        let mut problems = Vec::new();
        validate_tenant(id, &mut problems);
        let mut resolved = resolve_tenant_checks(
            id,
            &checks,
            &shared.defaults,
            shared.options.margin,
            &mut problems,
        );
        shared.resolve_added_tenant(id, &checks, &mut resolved, &mut problems);
        if !problems.is_empty() {
            return Err(BuildError::new(problems));
        }
        shared
            .insert_tenant(id, resolved)
            .map_err(|problem| BuildError::new(vec![problem]))
    }

    /// Remove a tenant: its checks stop, its probe answers 404, and it leaves the
    /// `tenant_readiness_tenants` counts. Its per-tenant series go with it (through the
    /// collector, the default), or, through the facade, are no longer updated after
    /// `tenant_readiness_state` is set to 1, so that a tenant removed while not ready does not
    /// keep a not-ready alert firing (the facade cannot delete a series: an exporter idle
    /// timeout drops it). A run in flight ends on its own (within its timeout) and its result
    /// is dropped. Returns `false` for an unknown tenant.
    pub fn remove_tenant(&self, id: &str) -> bool {
        let shared = &self.inner.shared;
        let Some(tenant) = shared.tenants.remove(id) else {
            return false;
        };
        tenant.removed.store(true, Ordering::SeqCst);
        shared.forget_tenant(&tenant);
        true
    }

    /// A tenant's state: its snapshot and whether it is ready (its critical checks pass and
    /// the instance is ready). `None` for an unknown tenant. Results past their deadline read
    /// as stale here even before the engine has marked them.
    pub fn tenant(&self, id: &str) -> Option<TenantStatus> {
        let shared = &self.inner.shared;
        let tenant = shared.tenant(id)?;
        let instance = shared.global.snapshot.load();
        let instance_ready = instance.ready && shared.clock.before(&shared.global.ready_until);
        // Past any of its deadlines this is the copy with the expired results failing, so its
        // own readiness already says whether they are young enough.
        let snapshot = tenant.core.current(shared.clock);
        Some(TenantStatus {
            ready: tenant.effective.load(Ordering::SeqCst) && instance_ready && snapshot.ready,
            snapshot,
            instance_ready,
            draining: instance.draining,
        })
    }

    /// Whether a tenant is ready, in O(1) without allocating; `None` for an unknown tenant.
    pub fn tenant_ready(&self, id: &str) -> Option<bool> {
        let shared = &self.inner.shared;
        let ready = shared.tenants.with(id, |t| {
            t.effective.load(Ordering::SeqCst) && shared.clock.before(&t.core.ready_until)
        })?;
        Some(ready && shared.clock.before(&shared.global.ready_until))
    }

    /// Whether a tenant's own critical checks pass, not counting the instance; `None` for an
    /// unknown tenant. O(1), no allocation. Shedding uses this, so that a draining instance
    /// keeps serving every tenant until it stops.
    pub fn tenant_checks_pass(&self, id: &str) -> Option<bool> {
        let shared = &self.inner.shared;
        shared.tenants.with(id, |t| t.checks_pass(shared.clock))
    }

    /// The ids of every tenant, in no particular order.
    pub fn tenant_ids(&self) -> Vec<Arc<str>> {
        self.inner.shared.tenants.ids()
    }

    /// How many tenants there are.
    pub fn tenant_count(&self) -> usize {
        self.inner.shared.tenants.len()
    }

    /// Every change of a tenant's readiness (and every removal), as it happens. A receiver
    /// that lags behind gets `RecvError::Lagged` and should re-read [`tenant_ids`](Self::tenant_ids)
    /// and [`tenant_ready`](Self::tenant_ready).
    pub fn subscribe_tenants(&self) -> broadcast::Receiver<TenantEvent> {
        self.inner.shared.tenant_events.subscribe()
    }

    /// A read-only view for auditors: every scope's snapshot and the bounded log of
    /// transitions. It has no method that changes anything, and it holds no strong handle:
    /// it never keeps the engine alive.
    pub fn auditor(&self) -> Auditor {
        Auditor {
            engine: self.downgrade(),
        }
    }

    pub(super) fn audit_log(&self) -> Vec<AuditEntry> {
        lock(&self.inner.shared.audit).iter().cloned().collect()
    }
}

/// The auditors' view: reads every scope and the log of transitions, and changes nothing.
///
/// It is read-only by construction: its only methods read. Hand it to an audit endpoint or
/// an operator tool without handing over the engine: it holds a weak handle, so it never keeps
/// the engine (or its checks) alive; once the engine is gone it reads an empty, not-ready
/// instance, no tenant and an empty log.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let engine = readiness_core::Engine::builder().build()?;
/// let auditor = engine.auditor();
/// assert!(auditor.instance().is_live());
/// drop(engine);
/// assert!(!auditor.instance().is_ready(), "the engine is gone");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Auditor {
    engine: WeakEngine,
}

impl std::fmt::Debug for Auditor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auditor").finish_non_exhaustive()
    }
}

impl Auditor {
    /// The instance's snapshot (an empty, not-ready one once the engine is gone).
    pub fn instance(&self) -> Arc<Snapshot> {
        match self.engine.upgrade() {
            Some(engine) => engine.snapshot(),
            None => Arc::new(Snapshot {
                checks: Vec::new(),
                index: None,
                ready: false,
                live: false,
                started: false,
                draining: false,
            }),
        }
    }

    /// Every tenant's state, sorted by id.
    pub fn tenants(&self) -> Vec<(Arc<str>, TenantStatus)> {
        let Some(engine) = self.engine.upgrade() else {
            return Vec::new();
        };
        let mut ids = engine.tenant_ids();
        ids.sort_unstable();
        ids.into_iter()
            .filter_map(|id| engine.tenant(&id).map(|t| (id, t)))
            .collect()
    }

    /// The bounded log of transitions, oldest first.
    pub fn log(&self) -> Vec<AuditEntry> {
        self.engine
            .upgrade()
            .map(|e| e.audit_log())
            .unwrap_or_default()
    }
}
