//! Tenants: per-tenant readiness namespaced under the instance's, and the auditors' view.
//!
//! A tenant has its own readiness checks and state. A tenant's failure never changes the
//! instance's readiness, `readiness_state`, or any other tenant. A tenant is ready when its
//! critical checks pass **and** the instance is ready: when the instance drains, every tenant
//! turns not ready with it.
//!
//! ```
//! use std::time::Duration;
//! use readiness_core::{check_fn, CheckSpec, Engine};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let engine = Engine::builder()
//!     .tenant("acme", vec![CheckSpec::readiness("db", check_fn(|| async { Ok::<(), std::io::Error>(()) }))])
//!     .max_tenants(1000)
//!     .build()?;
//! engine.add_tenant("globex", vec![CheckSpec::readiness("db", check_fn(|| async { Err::<(), _>("down") }))])?;
//! engine.refresh().await?;
//! engine.refresh_tenant("acme").await?;
//! engine.refresh_tenant("globex").await?;
//! assert_eq!(engine.tenant_ready("acme"), Some(true));
//! assert_eq!(engine.tenant_ready("globex"), Some(false));
//! assert!(engine.is_ready(), "a tenant's failure never changes the instance");
//! assert!(engine.add_tenant("Bad Id", vec![]).is_err());
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::time::SystemTime;

use crate::problem::Scope;
use crate::snapshot::Snapshot;

/// Which per-tenant series the engine exports.
///
/// Per-tenant series multiply by pods in Prometheus: 10,000 tenants on 50 pods are 500,000
/// series of `tenant_readiness_state` alone. Fleet dashboards should read
/// `tenant_readiness_tenants{state}` (two series per pod whatever the tenant count).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TenantMetricsMode {
    /// `tenant_readiness_state` and `tenant_readiness_transitions_total` for every tenant.
    #[default]
    All,
    /// `tenant_readiness_state` and `tenant_readiness_transitions_total` only for tenants
    /// that failed **on their own**: a tenant's series are created at its own first failure
    /// (one of its critical checks failing, not merely pending), with `tenant_readiness_state`
    /// 0 and `to="not_ready"` counted once; they are re-set on each of its check results while
    /// it stays not ready, set to 1 (and `to="ready"` counted) once it recovers, then left
    /// alone. In this mode the series follow the tenant's own checks only: being pending at
    /// start, the instance turning not ready and the instance's drain create or move none of
    /// them (`readiness_state` and `readiness_draining` say that once for the whole pod), so
    /// 1,000 healthy tenants cost no per-tenant state series at all. Through the collector (the
    /// default) a recovered tenant keeps its series, reading 1, until it is removed. Through the
    /// facade, configure the exporter's idle timeout for gauges (for
    /// `metrics-exporter-prometheus`: `idle_timeout(MetricKindMask::GAUGE, Some(..))`, a few
    /// check periods) so that the recovered tenants' series disappear; the engine re-sets its
    /// other gauges on every result so they never go idle.
    ///
    /// `tenant_readiness_check_seconds_total` is **not** affected by this mode: every tenant
    /// keeps its one series from the moment it is added (cost attribution needs every tenant),
    /// so a pod exports one per-tenant series per tenant plus three per tenant that has failed,
    /// instead of four per tenant in [`All`](Self::All). Through the facade, lazily created
    /// series are created through the recorder current where the check runs: use a global
    /// recorder (or, in a test, a thread-local default).
    NotReadyOnly,
}

/// How the per-tenant series (`tenant_readiness_state`, `tenant_readiness_transitions_total`,
/// `tenant_readiness_check_seconds_total`, `tenant_readiness_tenants`) reach Prometheus.
///
/// | | recorder memory per tenant | scrape |
/// |---|---|---|
/// | [`Collector`](Self::Collector) (default) | none: the values live in the tenant's own record (about 40 bytes) | rendered from the engine's state, streamed in chunks: a scrape of 100,000 tenants holds a few hundred KiB at a time |
/// | [`Facade`](Self::Facade) | about 1,150 bytes with `metrics-exporter-prometheus` (four series in `All` mode) | the recorder renders every series into one `String` |
///
/// Both give the same series: names, labels, `# HELP`, `# TYPE` and values.
///
/// ```
/// use readiness_core::{Engine, TenantMetricsExport};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // Exporting through OpenTelemetry or StatsD instead of `readiness-tower`'s `/metrics`:
/// let engine = Engine::builder()
///     .tenant_metrics_export(TenantMetricsExport::Facade)
///     .build()?;
/// # let _ = engine;
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TenantMetricsExport {
    /// Rendered at scrape time from the engine's state, after the recorder's own text, by
    /// whoever serves `/metrics`: `readiness-tower`'s layer (`ReadinessLayerBuilder::metrics`)
    /// does it, and [`Engine::tenant_collector`](crate::Engine::tenant_collector) renders
    /// them for any other server. The recorder holds none of them, so a tenant costs it
    /// nothing. Nothing renders them unless you serve them: an application that exports
    /// through another recorder and no such endpoint wants [`Facade`](Self::Facade).
    #[default]
    Collector,
    /// Through the `metrics` facade, like the instance's series: the recorder in place holds
    /// every per-tenant series (OpenTelemetry, StatsD or any other recorder gets them). With
    /// `metrics-exporter-prometheus` that is about 1,150 heap bytes per tenant in
    /// [`TenantMetricsMode::All`], and a scrape renders every series into one `String` (about
    /// 250 bytes of text per tenant).
    Facade,
}

/// A tenant's state, from [`Engine::tenant`](crate::Engine::tenant).
#[derive(Clone, Debug)]
pub struct TenantStatus {
    pub(crate) snapshot: Arc<Snapshot>,
    pub(crate) ready: bool,
    pub(crate) instance_ready: bool,
    pub(crate) draining: bool,
}

impl TenantStatus {
    /// The tenant's own checks. Its `is_ready` says whether they pass, not counting the
    /// instance; see [`TenantStatus::is_ready`].
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }
    /// Ready: the tenant's critical checks pass and the instance is ready.
    pub fn is_ready(&self) -> bool {
        self.ready
    }
    /// Whether the instance is ready.
    pub fn instance_ready(&self) -> bool {
        self.instance_ready
    }
    /// Whether the instance is draining.
    pub fn instance_draining(&self) -> bool {
        self.draining
    }
}

/// A change of a tenant's readiness, or its removal ([`Engine::subscribe_tenants`](crate::Engine::subscribe_tenants)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantEvent {
    /// The tenant.
    pub tenant: Arc<str>,
    /// Its readiness now (`false` once removed).
    pub ready: bool,
    /// Whether the tenant was removed.
    pub removed: bool,
}

/// One transition in the auditors' log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    /// When it happened (wall clock).
    pub at: SystemTime,
    /// The instance or a tenant.
    pub scope: Scope,
    /// The check, or `None` for the scope's own readiness.
    pub check: Option<Arc<str>>,
    /// The new state: `passing`, `failing` or `pending` for a check; `ready`, `not_ready` or
    /// `removed` for a scope.
    pub to: &'static str,
    /// The reason, for a failure (`shutting down` for the drain), or `reload` for a change
    /// of the scope's readiness that a reload made when the new engine took over.
    pub reason: Option<Arc<str>>,
    /// The dependency that blocks the check, when that is why it fails (its reason then reads
    /// `blocked by NAME`; see [`CheckSpec::depends_on`](crate::CheckSpec::depends_on)).
    pub blocked_by: Option<Arc<str>>,
}
