//! The gate of a check that depends on others: what its dependencies allow now, the blocked
//! state it takes while one fails, and the run it gets at once when they pass again.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::depends::{Names, on_instance, resolve_tenant};
use super::scope::{CheckRef, Event, ScopeCore, TenantCore};
use super::shared::Shared;
use crate::config::{CheckSpec, Dep, Resolved};
use crate::problem::{ConfigProblem, Scope};
use crate::snapshot::{Snapshot, Status};

/// What a check's dependencies allow.
pub(super) enum Gate {
    Open,
    /// A dependency has no result yet.
    Wait,
    /// This dependency fails.
    Blocked(Arc<str>),
}

impl Shared {
    /// A tenant's dependencies, when it is added at run time: the instance's checks are the
    /// running engine's, and another tenant that has the name is looked for only to say so.
    pub(super) fn resolve_added_tenant(
        &self,
        id: &str,
        checks: &[CheckSpec],
        resolved: &mut [Resolved],
        problems: &mut Vec<ConfigProblem>,
    ) {
        let names = Names::new(self.global.slots.iter().map(|s| (&*s.name, s.cfg.kind)));
        let owner = |dep: &str| {
            self.tenants
                .all()
                .into_iter()
                .find(|t| &*t.id != id && t.core.find(dep).is_some())
                .map(|t| Scope::Tenant(t.id.clone()))
        };
        let before = problems.len();
        resolve_tenant(id, checks, resolved, &names, &owner, problems);
        if problems.len() == before && on_instance(resolved) {
            self.global.tenants_depend.store(true, Ordering::SeqCst);
        }
    }

    /// What a check's dependencies allow now, from their scopes' published snapshots.
    pub(super) fn gate(&self, tenant: Option<&TenantCore>, idx: usize) -> Gate {
        let core = self.core(tenant);
        let Some(on) = core.deps.as_ref().and_then(|d| d.on.get(idx)) else {
            return Gate::Open;
        };
        if on.is_empty() {
            return Gate::Open;
        }
        let own = core.snapshot.load();
        let mut instance: Option<arc_swap::Guard<Arc<Snapshot>>> = None;
        let mut waiting = false;
        for dep in on.iter() {
            let check = match *dep {
                Dep::Own(j) => own.checks.get(j as usize),
                Dep::Instance(k) => instance
                    .get_or_insert_with(|| self.global.snapshot.load())
                    .checks
                    .get(k as usize),
            };
            match check.map(|c| (c.status, &c.name)) {
                Some((Status::Failing, name)) => return Gate::Blocked(name.clone()),
                Some((Status::Pending, _)) => waiting = true,
                _ => {}
            }
        }
        if waiting { Gate::Wait } else { Gate::Open }
    }

    /// A run's result about to be recorded: a dependency that turned failing while the run
    /// was in flight blocks the check, and the result is dropped.
    #[cold]
    pub(super) fn gate_result(&self, tenant: Option<&TenantCore>, idx: usize, run: Event) -> Event {
        match self.gate(tenant, idx) {
            Gate::Blocked(by) => Event::Blocked { by },
            Gate::Open | Gate::Wait => run,
        }
    }

    /// A check changed state: block the checks that depend on it, or run them at once.
    /// Called with no lock of the record path held.
    pub(super) fn dependency_changed(&self, tenant: Option<&Arc<TenantCore>>, idx: usize) {
        let core: &ScopeCore = self.core(tenant.map(|t| &**t));
        if let Some(deps) = &core.deps
            && let Some(dependents) = deps.dependents.get(idx)
        {
            for &d in dependents.iter() {
                self.follow(tenant, d as usize);
            }
        }
        if tenant.is_none() && self.global.tenants_depend.load(Ordering::SeqCst) {
            for t in &self.tenants.all() {
                let Some(deps) = &t.core.deps else { continue };
                for &(k, d) in deps.on_instance.iter() {
                    if k as usize == idx {
                        self.follow(Some(t), d as usize);
                    }
                }
            }
        }
    }

    fn follow(&self, tenant: Option<&Arc<TenantCore>>, idx: usize) {
        match self.gate(tenant.map(|t| &**t), idx) {
            Gate::Blocked(by) => self.record(tenant, idx, Event::Blocked { by }),
            Gate::Open => self.sched.run_now(self, CheckRef::new(tenant, idx)),
            Gate::Wait => {}
        }
    }
}
