//! [`TenantMap`]: the engine's tenants by id, behind a leaf lock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use super::scope::TenantCore;
use super::sync::{read, write};
use crate::problem::ConfigProblem;

/// The tenants by id, and whether the engine still takes new ones.
///
/// Its lock is a **leaf**: it is held only to look up, insert or remove, and never while
/// another lock is taken or code outside the engine runs (every method returns clones, never a
/// guard). So any code may read it whatever locks it holds, this engine's or another's (a
/// reload's takeover reads the older engine's tenants): nothing can wait for it in a circle.
pub(super) struct TenantMap {
    map: RwLock<HashMap<Arc<str>, Arc<TenantCore>>>,
    /// Set by `shutdown`, under the lock: a tenant being added is added before, or refused.
    closed: AtomicBool,
    max: usize,
}

impl TenantMap {
    pub(super) fn new(max: usize) -> Self {
        Self {
            map: RwLock::new(HashMap::new()),
            closed: AtomicBool::new(false),
            max,
        }
    }

    pub(super) fn get(&self, id: &str) -> Option<Arc<TenantCore>> {
        read(&self.map).get(id).cloned()
    }

    /// Read one tenant in place, without touching its reference count. `f` runs under the
    /// lock: it may only read the tenant's own atomics.
    pub(super) fn with<R>(&self, id: &str, f: impl FnOnce(&TenantCore) -> R) -> Option<R> {
        read(&self.map).get(id).map(|t| f(t))
    }

    pub(super) fn all(&self) -> Vec<Arc<TenantCore>> {
        read(&self.map).values().cloned().collect()
    }

    pub(super) fn ids(&self) -> Vec<Arc<str>> {
        read(&self.map).keys().cloned().collect()
    }

    pub(super) fn len(&self) -> usize {
        read(&self.map).len()
    }

    /// Insert a new tenant: refused after shutdown, for a known id, or past the cap.
    pub(super) fn insert(&self, tenant: Arc<TenantCore>) -> Result<(), ConfigProblem> {
        let mut map = write(&self.map);
        if self.closed.load(Ordering::SeqCst) {
            return Err(ConfigProblem::ShutDown);
        }
        if map.contains_key(&tenant.id) {
            return Err(ConfigProblem::DuplicateTenant {
                id: tenant.id.to_string(),
            });
        }
        if map.len() >= self.max {
            return Err(ConfigProblem::TooManyTenants { max: self.max });
        }
        map.insert(tenant.id.clone(), tenant);
        Ok(())
    }

    pub(super) fn remove(&self, id: &str) -> Option<Arc<TenantCore>> {
        write(&self.map).remove(id)
    }

    /// Take no tenant any more.
    pub(super) fn close(&self) {
        let _map = write(&self.map);
        self.closed.store(true, Ordering::SeqCst);
    }
}
