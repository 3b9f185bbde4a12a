//! The engine: runs checks in the background and keeps the snapshot probes read.
//!
//! One `Shared` value, defined here, holds everything; each file adds one responsibility:
//!
//! - `scope`: a scope's checks and state (the instance's, a tenant's) and its snapshot;
//! - `record`: the one path every result takes (hysteresis, snapshot, metrics, log);
//! - `scheduler`: when checks run, under the in-flight bounds;
//! - `handle`: the public [`Engine`] handle (reads, drain, shutdown, refresh);
//! - `tenants`: the tenants' operations, the tenant API and the auditors' view;
//! - `builder`: [`EngineBuilder`], every option validated at once.
//!
//! Files import each other in that order only (a later one may use an earlier one), so there
//! is no import circle; `crate::tenant` holds the public tenant types and imports nothing
//! from here.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use tokio::sync::{Semaphore, broadcast, watch};

use crate::config::Defaults;
use crate::metrics::{GlobalMetrics, TenantCounts};
use crate::snapshot::Aggregate;
use crate::tenant::{AuditEntry, TenantEvent, TenantMetricsMode};

mod builder;
mod handle;
mod record;
mod scheduler;
mod scope;
mod tenants;

pub use builder::EngineBuilder;
pub use handle::{Engine, WeakEngine};
pub use tenants::Auditor;

use scope::{ScopeCore, TenantCore};

/// Name of the built-in liveness check that watches the runtime.
pub const HEARTBEAT_CHECK: &str = "heartbeat";
/// Name of the entry that drain adds to readiness.
pub const SHUTDOWN_ENTRY: &str = "shutdown";
/// The reason the `shutdown` entry gives.
pub const SHUTDOWN_REASON: &str = "shutting down";

struct Shared {
    /// `true` once the drain is over ([`Engine::close`]): long-lived streams end.
    closed: watch::Sender<bool>,
    global: ScopeCore,
    draining: AtomicBool,
    semaphore: Arc<Semaphore>,
    tenant_semaphore: Arc<Semaphore>,
    watch: watch::Sender<Aggregate>,
    metrics: GlobalMetrics,
    tenants: RwLock<HashMap<Arc<str>, Arc<TenantCore>>>,
    /// Serialises every change of a tenant's effective readiness, and holds the counts.
    tenant_sync: Mutex<TenantCounts>,
    tenant_events: broadcast::Sender<TenantEvent>,
    tenant_mode: TenantMetricsMode,
    max_tenants: usize,
    defaults: Defaults,
    runtime: tokio::runtime::Handle,
    audit: Mutex<VecDeque<AuditEntry>>,
    audit_capacity: usize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of our locks cannot leave the data half-written (every
    // critical section finishes its writes before it can panic), so poisoning is ignored.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|e| e.into_inner())
}
