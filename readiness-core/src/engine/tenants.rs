//! Tenants' internals: their cores, validation, the engine's tenant API and the auditors' view.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use super::handle::Engine;
use super::scheduler::check_task;
use super::scope::{ScopeCore, TenantCore};
use super::{Shared, lock, read, write};
use crate::config::{
    BuildError, CheckSpec, ConfigProblem, Defaults, Kind, Resolved, Scope, resolve_specs,
};
use crate::metrics::{TenantCounts, TenantSeries};
use crate::snapshot::Snapshot;
use crate::tenant::{AuditEntry, TenantEvent, TenantStatus};

/// Names a tenant's checks may not take: the tenant probe uses them for its own entries.
pub(super) const TENANT_RESERVED: &[&str] = &["instance", "shutdown", "tenants"];

pub(super) fn validate_tenant(id: &str, problems: &mut Vec<ConfigProblem>) -> bool {
    let scope = Scope::Tenant(id.into());
    if let Err(error) = crate::config::validate_name(id) {
        problems.push(ConfigProblem::InvalidName {
            scope,
            name: id.to_owned(),
            error,
        });
        false
    } else if crate::config::RESERVED_NAMES.contains(&id) {
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
    resolve_specs(&scope, checks, defaults, problems)
}

impl Shared {
    pub(super) fn tenant(&self, id: &str) -> Option<Arc<TenantCore>> {
        read(&self.tenants).get(id).cloned()
    }

    pub(super) fn insert_tenant(self: &Arc<Self>, id: &str, resolved: Vec<Resolved>) {
        let mut map = write(&self.tenants);
        self.insert_tenant_locked(&mut map, id, resolved);
    }

    pub(super) fn insert_tenant_locked(
        self: &Arc<Self>,
        map: &mut HashMap<Arc<str>, Arc<TenantCore>>,
        id: &str,
        resolved: Vec<Resolved>,
    ) {
        let id: Arc<str> = id.into();
        let core = ScopeCore::new(resolved, false);
        let tenant = Arc::new(TenantCore {
            series: TenantSeries::register(&id, self.tenant_mode),
            id: id.clone(),
            core,
            effective: AtomicBool::new(false),
            removed: AtomicBool::new(false),
            tasks: Mutex::new(Vec::new()),
        });
        {
            let mut counts = lock(&self.tenant_sync);
            counts.add();
            // Subscribers (the gRPC bridge) learn of the tenant at once, not at its first
            // transition.
            let _ = self.tenant_events.send(TenantEvent {
                tenant: id.clone(),
                ready: false,
                removed: false,
            });
        }
        // A tenant with no critical check is ready as soon as the instance is.
        self.sync_tenant(&tenant);
        let mut tasks = Vec::with_capacity(tenant.core.slots.len());
        for idx in 0..tenant.core.slots.len() {
            tasks.push(
                self.runtime
                    .spawn(check_task(self.clone(), Some(tenant.clone()), idx)),
            );
        }
        *lock(&tenant.tasks) = tasks;
        map.insert(id, tenant);
    }

    pub(super) fn forget_tenant(&self, tenant: &TenantCore) {
        let mut counts = lock(&self.tenant_sync);
        let was_ready = tenant.effective.load(Ordering::SeqCst);
        counts.remove(was_ready);
        tenant.series.removed(was_ready);
        let _ = self.tenant_events.send(TenantEvent {
            tenant: tenant.id.clone(),
            ready: false,
            removed: true,
        });
        self.audit(Scope::Tenant(tenant.id.clone()), None, "removed", None);
    }

    /// Stop every tenant's tasks; returns them so that a caller can wait for the tasks.
    pub(super) fn stop_tenants(&self) -> Vec<Arc<TenantCore>> {
        let tenants: Vec<_> = read(&self.tenants).values().cloned().collect();
        for t in &tenants {
            t.abort();
        }
        tenants
    }

    /// Re-evaluate a tenant's effective readiness and publish a change once: gauge, counter,
    /// counts, event, tracing, audit.
    pub(super) fn sync_tenant(&self, tenant: &TenantCore) {
        let mut counts = lock(&self.tenant_sync);
        self.sync_tenant_locked(&mut counts, tenant);
    }

    pub(super) fn sync_tenant_locked(&self, counts: &mut TenantCounts, tenant: &TenantCore) {
        if tenant.removed.load(Ordering::SeqCst) {
            return;
        }
        let own = tenant.core.snapshot.load().ready;
        let instance = self.global.snapshot.load().ready;
        let ready = own && instance;
        let before = tenant.effective.swap(ready, Ordering::SeqCst);
        if before == ready {
            tenant.series.reassert(ready);
            return;
        }
        counts.changed(ready);
        tenant.series.transition(ready);
        let _ = self.tenant_events.send(TenantEvent {
            tenant: tenant.id.clone(),
            ready,
            removed: false,
        });
        let to = if ready { "ready" } else { "not_ready" };
        tracing::info!(target: "readiness", tenant = %tenant.id, to, instance_ready = instance, "tenant readiness changed");
        self.audit(Scope::Tenant(tenant.id.clone()), None, to, None);
    }
}

impl Engine {
    /// Run every check of one tenant now, as [`refresh`](Self::refresh) does. Returns `false`
    /// for an unknown tenant.
    pub async fn refresh_tenant(&self, id: &str) -> bool {
        let shared = &self.inner.shared;
        let Some(tenant) = shared.tenant(id) else {
            return false;
        };
        let runs = (0..tenant.core.slots.len()).map(|idx| shared.run_coalesced(Some(&tenant), idx));
        futures_util::future::join_all(runs).await;
        true
    }

    /// Add a tenant with its readiness checks, while probes are served. Its id follows the
    /// check-name rules; `tenants` is reserved, and its checks may not be named `instance` or
    /// `shutdown`. Every problem is returned at once; nothing is added on error.
    pub fn add_tenant(&self, id: &str, checks: Vec<CheckSpec>) -> Result<(), BuildError> {
        let shared = &self.inner.shared;
        let mut problems = Vec::new();
        validate_tenant(id, &mut problems);
        let resolved = resolve_tenant_checks(id, &checks, &shared.defaults, &mut problems);
        if !problems.is_empty() {
            return Err(BuildError::new(problems));
        }
        let mut map = write(&shared.tenants);
        if map.contains_key(id) {
            return Err(BuildError::new(vec![ConfigProblem::DuplicateTenant {
                id: id.to_owned(),
            }]));
        }
        if map.len() >= shared.max_tenants {
            return Err(BuildError::new(vec![ConfigProblem::TooManyTenants {
                max: shared.max_tenants,
            }]));
        }
        shared.insert_tenant_locked(&mut map, id, resolved);
        Ok(())
    }

    /// Remove a tenant: its checks stop, its probe answers 404, and it leaves the
    /// `tenant_readiness_tenants` counts. Its per-tenant series are no longer updated;
    /// `tenant_readiness_state` is set to 1 first, so that a tenant removed while not ready
    /// does not keep a not-ready alert firing (the facade cannot delete a series: an exporter
    /// idle timeout drops it). Returns `false` for an unknown tenant.
    pub fn remove_tenant(&self, id: &str) -> bool {
        let shared = &self.inner.shared;
        let Some(tenant) = write(&shared.tenants).remove(id) else {
            return false;
        };
        tenant.abort();
        shared.forget_tenant(&tenant);
        true
    }

    /// A tenant's state: its snapshot and whether it is ready (its critical checks pass and
    /// the instance is ready). `None` for an unknown tenant.
    pub fn tenant(&self, id: &str) -> Option<TenantStatus> {
        let shared = &self.inner.shared;
        let tenant = shared.tenant(id)?;
        let instance = shared.global.snapshot.load();
        Some(TenantStatus {
            snapshot: tenant.core.snapshot.load_full(),
            ready: tenant.effective.load(Ordering::SeqCst),
            instance_ready: instance.ready,
            draining: instance.draining,
        })
    }

    /// Whether a tenant is ready, in O(1) without allocating; `None` for an unknown tenant.
    pub fn tenant_ready(&self, id: &str) -> Option<bool> {
        read(&self.inner.shared.tenants)
            .get(id)
            .map(|t| t.effective.load(Ordering::SeqCst))
    }

    /// Whether a tenant's own critical checks pass, not counting the instance; `None` for an
    /// unknown tenant. O(1), no allocation. Shedding uses this, so that a draining instance
    /// keeps serving every tenant until it stops.
    pub fn tenant_checks_pass(&self, id: &str) -> Option<bool> {
        read(&self.inner.shared.tenants)
            .get(id)
            .map(|t| t.core.snapshot.load().ready)
    }

    /// The ids of every tenant, in no particular order.
    pub fn tenant_ids(&self) -> Vec<Arc<str>> {
        read(&self.inner.shared.tenants).keys().cloned().collect()
    }

    /// How many tenants there are.
    pub fn tenant_count(&self) -> usize {
        read(&self.inner.shared.tenants).len()
    }

    /// Every change of a tenant's readiness (and every removal), as it happens. A receiver
    /// that lags behind gets `RecvError::Lagged` and should re-read [`tenant_ids`](Self::tenant_ids)
    /// and [`tenant_ready`](Self::tenant_ready).
    pub fn subscribe_tenants(&self) -> broadcast::Receiver<TenantEvent> {
        self.inner.shared.tenant_events.subscribe()
    }

    /// A read-only view for auditors: every scope's snapshot and the bounded log of
    /// transitions. It has no method that changes anything.
    pub fn auditor(&self) -> Auditor {
        Auditor::new(self.clone())
    }

    pub(crate) fn audit_log(&self) -> Vec<AuditEntry> {
        lock(&self.inner.shared.audit).iter().cloned().collect()
    }
}

/// The auditors' view: reads every scope and the log of transitions, and changes nothing.
///
/// It is read-only by construction: its only methods read. Hand it to an audit endpoint or
/// an operator tool without handing over the engine.
#[derive(Clone)]
pub struct Auditor {
    pub(super) engine: Engine,
}

impl std::fmt::Debug for Auditor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auditor").finish_non_exhaustive()
    }
}

impl Auditor {
    pub(super) fn new(engine: Engine) -> Self {
        Self { engine }
    }

    /// The instance's snapshot.
    pub fn instance(&self) -> Arc<Snapshot> {
        self.engine.snapshot()
    }

    /// Every tenant's state, sorted by id.
    pub fn tenants(&self) -> Vec<(Arc<str>, TenantStatus)> {
        let mut ids = self.engine.tenant_ids();
        ids.sort_unstable();
        ids.into_iter()
            .filter_map(|id| self.engine.tenant(&id).map(|t| (id, t)))
            .collect()
    }

    /// The bounded log of transitions, oldest first.
    pub fn log(&self) -> Vec<AuditEntry> {
        self.engine.audit_log()
    }
}
