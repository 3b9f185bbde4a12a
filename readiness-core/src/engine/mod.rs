//! The engine: runs checks in the background and keeps the snapshot probes read.
//!
//! One `Shared` value, defined here, holds everything; each file adds one responsibility:
//!
//! - `scope`: a scope's checks and state (the instance's, a tenant's), its snapshot and the
//!   deadlines of its results;
//! - `record`: the one path every result takes (hysteresis, snapshot, metrics, log), and
//!   staleness; `depends`, beside it, resolves dependencies between checks and follows a
//!   dependency's transitions into its dependents (with no lock held: see below);
//! - `scheduler`: when checks run: one driver over a timer heap, lanes under the in-flight
//!   bounds, supervision, the watchdog;
//! - `handover`: the lineage of a reload: which engine writes the shared series, and the drain
//!   and close that belong to the process, not to one engine;
//! - `handle`: the public [`Engine`] handle (reads, drain, shutdown, refresh);
//! - `tenants`: the tenants' operations, the tenant API and the auditors' view;
//! - `collect`: the per-tenant families rendered from the tenants' records at scrape time;
//! - `builder`: [`EngineBuilder`], every option validated at once.
//!
//! Files import each other in that order only (a later one may use an earlier one, `scope`
//! and `scheduler` share their types, `record` names the scheduler's queue entries), and
//! `crate::tenant` holds the public tenant types and imports nothing from here. `sync` (taking
//! a lock) is below them all.
//!
//! # Locks, and the one order they are taken in
//!
//! Each lock has one owner, the module that takes it; a lock further down this list may be
//! taken while one further up is held, never the other way round:
//!
//! 1. a scope's `state` (`scope`; taken by `record`, and by a takeover in `handover` through
//!    the instance's): the instance's or one tenant's, **never two at once**, and never one of
//!    another engine;
//! 2. `tenant_sync` (`record`): the tenants' counts and every change of a tenant's effective
//!    readiness;
//! 3. the lineage's `lock` (`handover`): held shared while writing the series, alone while
//!    taking them over. It is the only lock engines share; the only code that holds it and
//!    reads another engine reads that engine's leaves;
//! 4. leaves, held only for their own short work and never while any other lock is taken:
//!    the tenants' map (`tenants::TenantMap`, whose methods return clones, never a guard), the
//!    lineage's member list, the audit log, the interner's sets, the scheduler's plan, the
//!    watchdog's heap, and the handle's task list.
//!
//! A scrape's collector (`collect`) holds 3 shared only to find the engine that owns the
//! series, then takes that engine's 2 alone (the counts), then its tenants' map (a leaf), each
//! released before the next; it holds nothing while the body is written.
//!
//! Code the engine does not own (the metrics exporter, `tracing` subscribers, a check) may run
//! under 1–3 but never takes one of our locks. A reload's takeover holds the new engine's 1, 2
//! and the lineage's 3 and reads the old engine's tenants (a leaf): an older engine adding a
//! tenant at that moment holds none of its locks while it waits for 2 or 3, so no two threads
//! can wait for each other, across engines included.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use tokio::sync::{broadcast, watch};

use crate::config::Defaults;
use crate::metrics::{GlobalMetrics, TenantCounts, TenantSeriesConfig};
use crate::snapshot::Aggregate;
use crate::tenant::{AuditEntry, TenantEvent};

mod builder;
mod collect;
mod depends;
mod handle;
mod handover;
mod record;
mod run;
mod scheduler;
mod scope;
mod supervisor;
mod sync;
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
use scope::{Clock, Interner, ScopeCore};
use tenants::TenantMap;
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
    /// `true` once the background tasks must stop (shutdown, or the last handle dropped).
    stopping: watch::Sender<bool>,
    /// Set by [`Engine::shutdown`]: nothing starts any more.
    shut_down: AtomicBool,
    /// Set when the last handle went: nothing writes any more.
    gone: AtomicBool,
    /// A `ReloadableEngine`'s reload: it takes the series over at the swap (when it starts to
    /// serve), not when it is first ready, and is cleared then.
    deferred_takeover: AtomicBool,
    clock: Clock,
    options: Options,
    global: ScopeCore,
    watch: watch::Sender<Aggregate>,
    metrics: GlobalMetrics,
    series: Series,
    tenants: TenantMap,
    /// Serialises every change of a tenant's effective readiness, and holds the counts.
    tenant_sync: Mutex<TenantCounts>,
    tenant_events: broadcast::Sender<TenantEvent>,
    tenant_mode: TenantSeriesConfig,
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
    /// Tenants registered whose own readiness is not known yet (a critical check pending): a
    /// reload's engine takes the series over only when none is left (see `handover`).
    undecided: std::sync::atomic::AtomicUsize,
    #[cfg(test)]
    faults: tests::Faults,
}
