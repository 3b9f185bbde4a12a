//! The engine: runs checks in the background and keeps the snapshot probes read.
//!
//! One `Shared` value, defined here, holds everything; each file adds one responsibility:
//!
//! - `scope`: a scope's checks and state (the instance's, a tenant's), its snapshot and the
//!   deadlines of its results;
//! - `record`: the one path every result takes (hysteresis, snapshot, metrics, log), and
//!   staleness;
//! - `scheduler`: when checks run: one driver over a timer heap, lanes under the in-flight
//!   bounds, supervision, the watchdog;
//! - `handover`: which engine of a reload writes the shared series;
//! - `handle`: the public [`Engine`] handle (reads, drain, shutdown, refresh);
//! - `tenants`: the tenants' operations, the tenant API and the auditors' view;
//! - `collect`: the per-tenant families rendered from the tenants' records at scrape time;
//! - `builder`: [`EngineBuilder`], every option validated at once.
//!
//! Files import each other in that order only (a later one may use an earlier one, `scope`
//! and `scheduler` share their types, `record` names the scheduler's queue entries), and
//! `crate::tenant` holds the public tenant types and imports nothing from here.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use tokio::sync::{broadcast, watch};

use crate::config::Defaults;
use crate::metrics::{GlobalMetrics, TenantCounts, TenantSeriesConfig};
use crate::snapshot::Aggregate;
use crate::tenant::{AuditEntry, TenantEvent};

mod builder;
mod collect;
mod handle;
mod handover;
mod record;
mod run;
mod scheduler;
mod scope;
mod supervisor;
mod tenants;
#[cfg(test)]
mod tests;
mod watchdog;

pub use builder::EngineBuilder;
pub use collect::TenantCollector;
pub use handle::{Engine, RefreshError, WeakEngine};
pub use tenants::Auditor;

use handover::Series;
use scheduler::Scheduler;
use scope::{Clock, Interner, ScopeCore, TenantCore};
use watchdog::Watchdog;

/// Name of the built-in liveness check that watches the runtime.
pub const HEARTBEAT_CHECK: &str = "heartbeat";
/// Name of the entry that drain adds to readiness.
pub const SHUTDOWN_ENTRY: &str = "shutdown";
/// The reason the `shutdown` entry gives.
pub const SHUTDOWN_REASON: &str = "shutting down";

/// Engine-wide options the scheduler and the record path read.
#[derive(Clone, Copy, Debug)]
struct Options {
    margin: Duration,
    restart_backoff: (Duration, Duration),
    slow_backoff_max: Duration,
    seed: u64,
}

struct Shared {
    /// `true` once the drain is over ([`Engine::close`]): long-lived streams end.
    closed: watch::Sender<bool>,
    /// `true` once the background tasks must stop (shutdown, or the last handle dropped).
    stopping: watch::Sender<bool>,
    /// Set by [`Engine::shutdown`]: nothing starts any more.
    shut_down: AtomicBool,
    /// Set when the last handle went: nothing writes any more.
    gone: AtomicBool,
    clock: Clock,
    options: Options,
    global: ScopeCore,
    draining: AtomicBool,
    watch: watch::Sender<Aggregate>,
    metrics: GlobalMetrics,
    series: Series,
    tenants: RwLock<HashMap<Arc<str>, Arc<TenantCore>>>,
    /// Serialises every change of a tenant's effective readiness, and holds the counts.
    tenant_sync: Mutex<TenantCounts>,
    tenant_events: broadcast::Sender<TenantEvent>,
    tenant_mode: TenantSeriesConfig,
    max_tenants: usize,
    defaults: Defaults,
    audit: Mutex<VecDeque<AuditEntry>>,
    audit_capacity: usize,
    sched: Scheduler,
    /// Names and settings that checks share.
    interner: Interner,
    /// Notified when a check's run ends, while refreshes wait to share it.
    ran: tokio::sync::Notify,
    ran_waiters: std::sync::atomic::AtomicUsize,
    watchdog: Watchdog,
    #[cfg(test)]
    faults: tests::Faults,
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
