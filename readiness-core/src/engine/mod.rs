//! The engine: runs checks in the background and keeps the snapshot probes read.
//!
//! One `Shared` value holds an engine. Its parts are defined in the modules below it, each
//! with no knowledge of `Shared`; its behaviour in the modules above, as `impl Shared` blocks.
//! Imports run one way, down this list (`scripts/imports.py` checks there is no circle):
//!
//! - the parts: `sync` (taking a lock); `scope`, a scope's checks and state (the instance's,
//!   a tenant's), its snapshot, the deadlines of its results, what can happen to a check
//!   (`Event`); `depends`, which check depends on which (resolved and validated at build);
//!   `lineage`, the engines of a reload and what they share; `tenant_map`; `scheduler`, the
//!   timer heap and lanes; `watchdog`, the heap of deadlines;
//! - `shared`: [`Shared`](shared::Shared), made of those parts;
//! - the behaviour: `record`, the one path every result takes (hysteresis, snapshot, metrics,
//!   log); `gate`, what a check's dependencies allow and following their transitions; `run`,
//!   one run of a check under its timeout; `driver`, when checks run (one task over the timer
//!   heap, the lanes under the in-flight bounds); `handover`, the series changing hands at a
//!   reload, and the lineage's drain and close; `supervisor`, the engine's own tasks and the
//!   watchdog's; `handle`, the public [`Engine`] handle (reads, drain, shutdown, refresh);
//!   `tenants`, the tenant API and the auditors' view; `collect`, the per-tenant families
//!   rendered from the tenants' records at scrape time; `builder`, [`EngineBuilder`], every
//!   option validated at once.
//!
//! `crate::tenant` holds the public tenant types and imports nothing from here.
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
//! 3. the lineage's `lock` (`lineage`, taken by `handover`): held shared while writing the series, alone while
//!    taking them over. It is the only lock engines share; the only code that holds it and
//!    reads another engine reads that engine's leaves;
//! 4. leaves, held only for their own short work and never while any other lock is taken:
//!    the tenants' map (`tenant_map::TenantMap`, whose methods return clones, never a guard), the
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

mod builder;
mod collect;
mod depends;
mod driver;
mod gate;
mod global_metrics;
mod handle;
mod handover;
mod heap;
mod lineage;
mod record;
mod run;
mod scheduler;
mod scope;
mod shared;
mod supervisor;
mod sync;
mod tenant_map;
mod tenant_series;
mod tenants;
#[cfg(test)]
mod tests;
mod watchdog;

pub use builder::EngineBuilder;
pub use collect::TenantCollector;
pub use handle::{Engine, RefreshError, WeakEngine};
pub use tenants::Auditor;

/// Name of the built-in liveness check that watches the runtime.
pub const HEARTBEAT_CHECK: &str = "heartbeat";
/// Name of the entry that drain adds to readiness.
pub const SHUTDOWN_ENTRY: &str = "shutdown";
/// The reason the `shutdown` entry gives.
pub const SHUTDOWN_REASON: &str = "shutting down";
