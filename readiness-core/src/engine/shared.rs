//! [`Shared`]: one engine's state, made of the parts the modules below define. Nothing here
//! has behaviour: the modules above add it (`record`, `run`, `driver`, `handover`, …).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::time::Duration;

use tokio::sync::{broadcast, watch};

use super::global_metrics::{GlobalMetrics, TenantCounts};
use super::lineage::Series;
use super::scheduler::Scheduler;
use super::scope::{Clock, Interner, Ran, ScopeCore};
use super::tenant_map::TenantMap;
use super::tenant_series::TenantSeriesConfig;
use super::watchdog::Watchdog;
use crate::config::Defaults;
use crate::snapshot::Aggregate;
use crate::tenant::{AuditEntry, TenantEvent};

/// Engine-wide options the scheduler and the record path read.
#[derive(Clone, Copy, Debug)]
pub(super) struct Options {
    pub(super) margin: Duration,
    pub(super) restart_backoff: (Duration, Duration),
    pub(super) slow_backoff_max: Duration,
    pub(super) seed: u64,
}

/// Everything an engine is: its checks and state, its tenants, its lineage, its scheduler.
/// Each part is defined, and its lock owned, in its own module (see the lock order in
/// `engine`'s docs); the behaviour lives in the modules above this one, as `impl Shared`.
pub(crate) struct Shared {
    /// `true` once the background tasks must stop (shutdown, or the last handle dropped).
    pub(super) stopping: watch::Sender<bool>,
    /// Set by [`Engine::shutdown`](crate::Engine::shutdown): nothing starts any more.
    pub(super) shut_down: AtomicBool,
    /// Set when the last handle went: nothing writes any more.
    pub(super) gone: AtomicBool,
    /// A `ReloadableEngine`'s reload: it takes the series over at the swap (when it starts to
    /// serve), not when it is first ready, and is cleared then.
    pub(super) deferred_takeover: AtomicBool,
    pub(super) clock: Clock,
    pub(super) options: Options,
    pub(super) global: ScopeCore,
    pub(super) watch: watch::Sender<Aggregate>,
    pub(super) metrics: GlobalMetrics,
    pub(super) series: Series<Shared>,
    pub(super) tenants: TenantMap,
    /// Serialises every change of a tenant's effective readiness, and holds the counts.
    pub(super) tenant_sync: Mutex<TenantCounts>,
    pub(super) tenant_events: broadcast::Sender<TenantEvent>,
    pub(super) tenant_mode: TenantSeriesConfig,
    pub(super) defaults: Defaults,
    pub(super) audit: Mutex<VecDeque<AuditEntry>>,
    pub(super) audit_capacity: usize,
    pub(super) sched: Scheduler,
    /// Names and settings that checks share.
    pub(super) interner: Interner,
    /// Notified when a check's run ends, while refreshes wait to share it.
    pub(super) ran: Ran,
    pub(super) watchdog: Watchdog,
    /// Tenants registered whose own readiness is not known yet (a critical check pending): a
    /// reload's engine takes the series over only when none is left (see `handover`).
    pub(super) undecided: AtomicUsize,
    #[cfg(test)]
    pub(super) faults: super::tests::Faults,
}
