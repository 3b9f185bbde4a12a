//! Registering checks: [`CheckSpec`], its defaults and the name rules; what is wrong with them
//! is a [`ConfigProblem`] (`problem.rs`).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::check::{Check, Kind};
use crate::names::{RESERVED_NAMES, validate_name};
use crate::problem::{ConfigProblem, Scope};

/// One check to register: its name, kind, and schedule.
///
/// Options left unset take the engine builder's defaults (Kubernetes' probe defaults unless
/// changed: period 10 s, timeout 1 s, failure threshold 3, success threshold 1).
///
/// ```
/// use std::time::Duration;
/// use readiness_core::{CheckSpec, check_fn};
///
/// # let ping_db = || async { Ok::<(), std::io::Error>(()) };
/// let spec = CheckSpec::readiness("db", check_fn(ping_db))
///     .period(Duration::from_secs(5))
///     .timeout(Duration::from_millis(500))
///     .failure_threshold(3);
/// # let _ = spec;
/// ```
#[derive(Clone)]
pub struct CheckSpec {
    pub(crate) name: String,
    pub(crate) kind: Kind,
    pub(crate) critical: bool,
    pub(crate) group: Option<String>,
    pub(crate) check: Arc<dyn Check>,
    pub(crate) period: Option<Duration>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) initial_delay: Option<Duration>,
    pub(crate) jitter: Option<Duration>,
    pub(crate) failure_threshold: Option<u32>,
    pub(crate) success_threshold: Option<u32>,
    pub(crate) depends_on: Vec<String>,
}

impl fmt::Debug for CheckSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckSpec")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("critical", &self.critical)
            .field("group", &self.group)
            .field("period", &self.period)
            .field("timeout", &self.timeout)
            .field("initial_delay", &self.initial_delay)
            .field("jitter", &self.jitter)
            .field("failure_threshold", &self.failure_threshold)
            .field("success_threshold", &self.success_threshold)
            .field("depends_on", &self.depends_on)
            .finish_non_exhaustive()
    }
}

impl CheckSpec {
    /// A check of the given kind. Readiness checks are critical by default.
    pub fn new(name: impl Into<String>, kind: Kind, check: impl Check) -> Self {
        Self {
            name: name.into(),
            kind,
            critical: true,
            group: None,
            check: Arc::new(check),
            period: None,
            timeout: None,
            initial_delay: None,
            jitter: None,
            failure_threshold: None,
            success_threshold: None,
            depends_on: Vec::new(),
        }
    }

    /// A liveness check: process-local only, never a dependency.
    pub fn liveness(name: impl Into<String>, check: impl Check) -> Self {
        Self::new(name, Kind::Liveness, check)
    }

    /// A critical readiness check (a dependency).
    pub fn readiness(name: impl Into<String>, check: impl Check) -> Self {
        Self::new(name, Kind::Readiness, check)
    }

    /// A startup check: must pass once before the instance counts as started.
    pub fn startup(name: impl Into<String>, check: impl Check) -> Self {
        Self::new(name, Kind::Startup, check)
    }

    /// Whether a failure of this readiness check makes the instance not ready (default
    /// `true`). A non-critical failing check is reported as degraded but never flips readiness.
    pub fn critical(mut self, critical: bool) -> Self {
        self.critical = critical;
        self
    }

    /// Put the check in a group, named like a check: `/readyz?exclude=GROUP` then excludes
    /// every check of the group at once (an `exclude` matches a check's name first, then its
    /// group), as kube-apiserver's grouped checks do. A check is in at most one group.
    ///
    /// ```
    /// use readiness_core::{CheckSpec, check_fn};
    ///
    /// # let ping = || async { Ok::<(), std::io::Error>(()) };
    /// let primary = CheckSpec::readiness("db-primary", check_fn(ping)).group("storage");
    /// let replica = CheckSpec::readiness("db-replica", check_fn(ping)).group("storage");
    /// assert_eq!(primary.group_name(), Some("storage"));
    /// # let _ = replica;
    /// ```
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = Some(group.into());
        self
    }

    setters! {
        /// How often the check runs.
        period(period: Duration) => period;

        /// How long one run may take before it counts as a failure.
        timeout(timeout: Duration) => timeout;

        /// How long to wait after the engine starts before the first run.
        initial_delay(delay: Duration) => initial_delay;

        /// The largest random delay added to each period, so checks of many instances do not run
        /// in lock-step. `Duration::ZERO` turns jitter off.
        jitter(jitter: Duration) => jitter;

        /// Consecutive failures needed to turn a passing check failing.
        failure_threshold(n: u32) => failure_threshold;

        /// Consecutive successes needed to turn a pending or failing check passing. Must be 1 for
        /// liveness and startup checks, as in Kubernetes.
        success_threshold(n: u32) => success_threshold;
    }

    /// Make the check depend on another check, named as registered: while `dependency`
    /// fails, this check does not run and reads `[-]NAME failed: blocked by DEPENDENCY` (its
    /// own kind of reason: [`CheckStatus::blocked_by`](crate::CheckStatus::blocked_by), shown
    /// even where reasons are withheld, since it names only a registered check). Call it once
    /// per dependency.
    ///
    /// - A dependency's **state** decides, thresholds included: a dependency whose runs fail
    ///   but which is still passing (below its `failure_threshold`) blocks nothing. The moment
    ///   it turns failing, its dependents turn failing with `blocked by`, in the snapshot, the
    ///   probes, JSON and the audit log; they run again **at once** when it passes again, not
    ///   a period later. Until a dependency has its first result, the check waits (pending).
    /// - A blocked check's runs are not runs: no call of its check, no span, no sample in
    ///   `readiness_check_duration_seconds` and no failure counted toward its own threshold.
    ///   Readiness is computed as before: a blocked critical check is a failing critical check.
    /// - The instance's checks depend on the instance's checks; a liveness check only on
    ///   liveness checks (a liveness check that waits on a dependency turns an outage into a
    ///   restart storm). A tenant's checks depend on the tenant's own checks or, for a name the
    ///   tenant does not have, on the instance's. [`Engine::refresh`](crate::Engine::refresh)
    ///   runs dependencies first; refresh the instance before a tenant that depends on it.
    /// - An unknown name, a check depending on itself, on another tenant's check, or checks
    ///   depending on each other in a cycle are [`ConfigProblem`]s returned by
    ///   [`EngineBuilder::build`](crate::EngineBuilder::build) and
    ///   [`Engine::add_tenant`](crate::Engine::add_tenant), the cycle named.
    ///
    /// ```
    /// use readiness_core::{check_fn, CheckSpec, Engine};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let engine = Engine::builder()
    ///     .readiness("db", check_fn(|| async { Err::<(), _>("connection refused") }))
    ///     .check(CheckSpec::readiness("api", check_fn(|| async { Ok::<(), std::io::Error>(()) }))
    ///         .depends_on("db"))
    ///     .build()?;
    /// engine.refresh().await?;
    /// let snap = engine.snapshot();
    /// let api = snap.check("api").expect("registered");
    /// assert_eq!(api.blocked_by(), Some("db"));
    /// assert_eq!(api.reason(), Some("blocked by db"));
    /// assert_eq!(engine.runs_started("api"), Some(0), "not called while db fails");
    ///
    /// let err = Engine::builder()
    ///     .check(CheckSpec::readiness("a", check_fn(|| async { Ok::<(), std::io::Error>(()) })).depends_on("b"))
    ///     .check(CheckSpec::readiness("b", check_fn(|| async { Ok::<(), std::io::Error>(()) })).depends_on("a"))
    ///     .build()
    ///     .unwrap_err();
    /// assert!(err.to_string().contains("a -> b -> a"), "{err}");
    /// # Ok(()) }
    /// ```
    pub fn depends_on(mut self, dependency: impl Into<String>) -> Self {
        let dependency = dependency.into();
        if !self.depends_on.contains(&dependency) {
            self.depends_on.push(dependency);
        }
        self
    }

    /// The checks this check depends on, in the order given.
    pub fn dependencies(&self) -> impl Iterator<Item = &str> + '_ {
        self.depends_on.iter().map(String::as_str)
    }

    /// The check's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The check's kind.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The check's group, if it has one.
    pub fn group_name(&self) -> Option<&str> {
        self.group.as_deref()
    }
}

/// Defaults for options a [`CheckSpec`] leaves unset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Defaults {
    /// How often a check runs (Kubernetes: 10 s).
    pub period: Duration,
    /// How long one run may take (Kubernetes: 1 s).
    pub timeout: Duration,
    /// Delay before the first run (0).
    pub initial_delay: Duration,
    /// Largest random delay added to each period; `None` means a tenth of the period.
    pub jitter: Option<Duration>,
    /// Consecutive failures to turn failing (Kubernetes: 3).
    pub failure_threshold: u32,
    /// Consecutive successes to turn passing (Kubernetes: 1). Applies to readiness checks
    /// only: liveness and startup checks take 1 unless their spec says otherwise (and then
    /// it must be 1, as in Kubernetes).
    pub success_threshold: u32,
}

impl Default for Defaults {
    fn default() -> Self {
        Self {
            period: Duration::from_secs(10),
            timeout: Duration::from_secs(1),
            initial_delay: Duration::ZERO,
            jitter: None,
            failure_threshold: 3,
            success_threshold: 1,
        }
    }
}

/// A fully resolved check, as the engine runs it.
pub(crate) struct Resolved {
    pub(crate) name: Arc<str>,
    pub(crate) check: Arc<dyn Check>,
    pub(crate) cfg: Settings,
    /// The checks it depends on, resolved (`engine::depends`).
    pub(crate) deps: Vec<Dep>,
}

/// A check's settings, apart from its name, its `Check` and its dependencies: checks
/// registered alike (a fleet of tenants) share one copy per engine.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Settings {
    pub(crate) kind: Kind,
    pub(crate) critical: bool,
    /// The check's group, if any (`exclude=GROUP`).
    pub(crate) group: Option<Arc<str>>,
    /// Whether a run waits for an in-flight permit (all but the built-in heartbeat).
    pub(crate) bounded: bool,
    pub(crate) failure_threshold: u32,
    pub(crate) success_threshold: u32,
    pub(crate) period: Duration,
    pub(crate) timeout: Duration,
    pub(crate) initial_delay: Duration,
    pub(crate) jitter: Duration,
    /// How long past its next run (+ timeout) a result stays valid: the engine's staleness
    /// margin (the heartbeat's is at least its lateness bound). Set with
    /// [`set_margin`](Self::set_margin).
    margin: Duration,
    /// How long a result stays valid when the next run comes on time: period + jitter +
    /// timeout + margin.
    pub(crate) valid: Duration,
}

impl Settings {
    /// The staleness margin, and with it how long a result stays valid.
    pub(crate) fn set_margin(&mut self, margin: Duration) {
        self.margin = margin;
        self.valid = self
            .period
            .saturating_add(self.jitter)
            .saturating_add(self.timeout)
            .saturating_add(margin);
    }

    /// How long past its next run (+ timeout) a result stays valid.
    pub(crate) fn margin(&self) -> Duration {
        self.margin
    }
}

/// A resolved dependency: a check of the same scope, or (for a tenant's check) of the
/// instance, by position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dep {
    Own(u32),
    Instance(u32),
}

/// Validate a scope's specs, pushing every problem found; resolve them when all are valid.
pub(crate) fn resolve_specs(
    scope: &Scope,
    specs: &[CheckSpec],
    defaults: &Defaults,
    problems: &mut Vec<ConfigProblem>,
) -> Vec<Resolved> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(specs.len());
    for spec in specs {
        let name = &spec.name;
        if let Err(error) = validate_name(name) {
            problems.push(ConfigProblem::InvalidName {
                scope: scope.clone(),
                name: name.clone(),
                error,
            });
        } else if RESERVED_NAMES.contains(&name.as_str()) {
            problems.push(ConfigProblem::ReservedName {
                scope: scope.clone(),
                name: name.clone(),
            });
        } else if !seen.insert(name.as_str()) {
            problems.push(ConfigProblem::Duplicate {
                scope: scope.clone(),
                name: name.clone(),
            });
        }
        let period = spec.period.unwrap_or(defaults.period);
        let timeout = spec.timeout.unwrap_or(defaults.timeout);
        let failure_threshold = spec.failure_threshold.unwrap_or(defaults.failure_threshold);
        // Kubernetes requires 1 for liveness and startup: the default applies to readiness.
        let success_threshold = spec.success_threshold.unwrap_or(match spec.kind {
            Kind::Readiness => defaults.success_threshold,
            Kind::Liveness | Kind::Startup => 1,
        });
        for (option, zero) in [
            ("period", period.is_zero()),
            ("timeout", timeout.is_zero()),
            ("failure_threshold", failure_threshold == 0),
            ("success_threshold", success_threshold == 0),
        ] {
            if zero {
                problems.push(ConfigProblem::Zero {
                    name: name.clone(),
                    option,
                });
            }
        }
        if let Some(group) = &spec.group
            && let Err(error) = validate_name(group)
        {
            problems.push(ConfigProblem::InvalidGroup {
                scope: scope.clone(),
                name: name.clone(),
                group: group.clone(),
                error,
            });
        }
        if spec.kind != Kind::Readiness && success_threshold > 1 {
            problems.push(ConfigProblem::SuccessThresholdNotOne {
                name: name.clone(),
                kind: spec.kind,
            });
        }
        let mut cfg = Settings {
            kind: spec.kind,
            // Liveness and startup checks are always critical: a non-critical one means nothing.
            critical: spec.critical || spec.kind != Kind::Readiness,
            group: spec.group.as_deref().map(Arc::from),
            bounded: true,
            failure_threshold,
            success_threshold,
            period,
            timeout,
            initial_delay: spec.initial_delay.unwrap_or(defaults.initial_delay),
            jitter: spec.jitter.or(defaults.jitter).unwrap_or(period / 10),
            margin: Duration::ZERO,
            valid: Duration::ZERO,
        };
        cfg.set_margin(Duration::ZERO);
        out.push(Resolved {
            name: name.as_str().into(),
            check: spec.check.clone(),
            cfg,
            deps: Vec::new(),
        });
    }
    out
}
