//! Registering checks: [`CheckSpec`], name rules and the typed [`BuildError`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::check::Check;

/// What a check is for, as in Kubernetes probes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Process-local health only; never a dependency. Failing restarts the pod.
    Liveness,
    /// A dependency the instance needs to serve traffic.
    Readiness,
    /// Something that must pass once before the instance counts as started.
    Startup,
}

/// For an enum of unit variants, each named by a string: `as_str` (its doc given first), and
/// a `Display` that writes that name. The crate's own names: [`Kind`] and
/// [`Status`](crate::Status).
macro_rules! named_enum {
    ($(#[$doc:meta])* $ty:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            $(#[$doc])*
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name,)+
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use named_enum;

named_enum! {
    /// `liveness`, `readiness` or `startup`.
    Kind { Liveness => "liveness", Readiness => "readiness", Startup => "startup" }
}

/// Names that no check or tenant may take.
pub const RESERVED_NAMES: &[&str] = &["tenants", "shutdown"];

/// The longest check or tenant name, in bytes.
///
/// ```
/// assert!(readiness_core::validate_name(&"a".repeat(readiness_core::MAX_NAME_LEN)).is_ok());
/// ```
pub const MAX_NAME_LEN: usize = 63;

/// Why a name is not a valid check or tenant name, if it is not.
///
/// Valid names match `[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?`: 1 to 63 characters, lower-case
/// letters, digits, `.`, `_` and `-`, starting and ending with a letter or digit.
///
/// ```
/// use readiness_core::validate_name;
/// assert!(validate_name("db-primary").is_ok());
/// assert!(validate_name("DB").is_err());
/// ```
pub fn validate_name(name: &str) -> Result<(), NameError> {
    let bytes = name.as_bytes();
    if bytes.is_empty() {
        return Err(NameError::Empty);
    }
    if bytes.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong(bytes.len()));
    }
    let edge = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let inner = |b: u8| edge(b) || matches!(b, b'.' | b'_' | b'-');
    if !edge(bytes[0]) || !edge(bytes[bytes.len() - 1]) || !bytes.iter().all(|&b| inner(b)) {
        return Err(NameError::BadCharacters);
    }
    Ok(())
}

/// Why a check or tenant name was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameError {
    /// The name is empty.
    Empty,
    /// The name is longer than 63 bytes.
    TooLong(usize),
    /// The name has a character outside `[a-z0-9._-]`, or starts or ends with `.`, `_` or `-`.
    BadCharacters,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty => f.write_str("name is empty"),
            NameError::TooLong(n) => {
                write!(f, "name is {n} bytes long, at most {MAX_NAME_LEN} are allowed")
            }
            NameError::BadCharacters => f.write_str(
                "name must match [a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])? (lower-case letters, digits, '.', '_', '-')",
            ),
        }
    }
}

impl std::error::Error for NameError {}

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

/// Where a check lives: the instance, or one tenant.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// The instance's own checks.
    Global,
    /// A tenant's checks.
    Tenant(Arc<str>),
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Global => f.write_str("global"),
            Scope::Tenant(t) => write!(f, "tenant {t:?}"),
        }
    }
}

/// One thing wrong with an engine's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigProblem {
    /// A check name does not follow the name rules.
    InvalidName {
        /// Where the check was registered.
        scope: Scope,
        /// The refused name.
        name: String,
        /// Why.
        error: NameError,
    },
    /// A check's group does not follow the name rules.
    InvalidGroup {
        /// Where the check was registered.
        scope: Scope,
        /// The check.
        name: String,
        /// The refused group name.
        group: String,
        /// Why.
        error: NameError,
    },
    /// A check or tenant name that is reserved (`tenants`, `shutdown`).
    ReservedName {
        /// Where.
        scope: Scope,
        /// The name.
        name: String,
    },
    /// Two checks with the same name in one scope.
    Duplicate {
        /// Where.
        scope: Scope,
        /// The name used twice.
        name: String,
    },
    /// Two tenants with the same id.
    DuplicateTenant {
        /// The id registered twice.
        id: String,
    },
    /// A zero period, timeout or threshold.
    Zero {
        /// The check.
        name: String,
        /// Which option (`period`, `timeout`, `failure_threshold`, `success_threshold`).
        option: &'static str,
    },
    /// A liveness or startup check with a success threshold other than 1.
    SuccessThresholdNotOne {
        /// The check.
        name: String,
        /// Its kind.
        kind: Kind,
    },
    /// An engine-wide option that must be at least 1 is 0 (`max_in_flight`, `max_tenants`).
    ZeroLimit {
        /// The option.
        option: &'static str,
    },
    /// More tenants than `max_tenants`.
    TooManyTenants {
        /// The cap.
        max: usize,
    },
    /// A tenant check that is not a readiness check (liveness and startup are the
    /// process's own, never a tenant's).
    TenantCheckKind {
        /// The tenant.
        tenant: String,
        /// The check.
        name: String,
        /// Its kind.
        kind: Kind,
    },
    /// The engine was built outside a tokio runtime.
    NoRuntime,
    /// An engine-wide option with a value it cannot take (for example a zero staleness margin,
    /// or a restart back-off whose cap is below its start).
    BadOption {
        /// The option (`stale_margin`, `restart_backoff`, `slow_backoff_max`).
        option: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// The engine was shut down ([`Engine::shutdown`](crate::Engine::shutdown)): it adds no
    /// tenant and starts nothing.
    ShutDown,
    /// A check depends on a name no check has, in its scope or (for a tenant's check) the
    /// instance's.
    UnknownDependency {
        /// Where the check was registered.
        scope: Scope,
        /// The check.
        name: String,
        /// The name it depends on.
        dependency: String,
    },
    /// A check depends on itself.
    SelfDependency {
        /// Where the check was registered.
        scope: Scope,
        /// The check.
        name: String,
    },
    /// A check depends on a check of another scope it may not reach: the instance's checks on a
    /// tenant's, a tenant's on another tenant's.
    DependencyOutOfScope {
        /// Where the check was registered.
        scope: Scope,
        /// The check.
        name: String,
        /// The name it depends on.
        dependency: String,
        /// The scope that has a check of that name.
        owner: Scope,
    },
    /// A liveness check depends on a check that is not a liveness check.
    LivenessDependency {
        /// The liveness check.
        name: String,
        /// The check it depends on.
        dependency: String,
        /// The dependency's kind.
        kind: Kind,
    },
    /// Checks depend on each other in a cycle: none of them could ever run.
    DependencyCycle {
        /// Where the checks were registered.
        scope: Scope,
        /// The checks of the cycle in order, the first repeated at the end (`a`, `b`, `a`).
        cycle: Vec<String>,
    },
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigProblem::InvalidName { scope, name, error } => {
                write!(f, "{scope}: invalid check name {name:?}: {error}")
            }
            ConfigProblem::InvalidGroup {
                scope,
                name,
                group,
                error,
            } => write!(
                f,
                "{scope}: check {name:?}: invalid group {group:?}: {error}"
            ),
            ConfigProblem::ReservedName { scope, name } => {
                write!(f, "{scope}: the name {name:?} is reserved")
            }
            ConfigProblem::Duplicate { scope, name } => {
                write!(f, "{scope}: the name {name:?} is registered twice")
            }
            ConfigProblem::DuplicateTenant { id } => {
                write!(f, "tenant {id:?} is registered twice")
            }
            ConfigProblem::Zero { name, option } => {
                write!(f, "check {name:?}: {option} must be greater than zero")
            }
            ConfigProblem::SuccessThresholdNotOne { name, kind } => write!(
                f,
                "check {name:?}: a {kind} check must have success_threshold 1, as in Kubernetes"
            ),
            ConfigProblem::ZeroLimit { option } => write!(f, "{option} must be at least 1"),
            ConfigProblem::TooManyTenants { max } => {
                write!(f, "more than max_tenants ({max}) tenants")
            }
            ConfigProblem::TenantCheckKind { tenant, name, kind } => write!(
                f,
                "tenant {tenant:?}: check {name:?} is a {kind} check; tenants have readiness checks only"
            ),
            ConfigProblem::NoRuntime => f.write_str(
                "the engine must be built inside a tokio runtime (it runs its checks there)",
            ),
            ConfigProblem::BadOption { option, expected } => {
                write!(f, "{option} must be {expected}")
            }
            ConfigProblem::ShutDown => {
                f.write_str("the engine is shut down: it adds no tenant and starts nothing")
            }
            ConfigProblem::UnknownDependency {
                scope,
                name,
                dependency,
            } => write!(
                f,
                "{scope}: check {name:?} depends on {dependency:?}, which is not a registered check"
            ),
            ConfigProblem::SelfDependency { scope, name } => {
                write!(f, "{scope}: check {name:?} depends on itself")
            }
            ConfigProblem::DependencyOutOfScope {
                scope,
                name,
                dependency,
                owner,
            } => write!(
                f,
                "{scope}: check {name:?} depends on {dependency:?}, a check of {owner}: {}",
                match scope {
                    Scope::Global => "the instance's checks depend only on the instance's",
                    Scope::Tenant(_) =>
                        "a tenant's checks depend only on its own checks or the instance's",
                }
            ),
            ConfigProblem::LivenessDependency {
                name,
                dependency,
                kind,
            } => write!(
                f,
                "check {name:?} is a liveness check and depends on {dependency:?}, a {kind} check: liveness must never wait on a dependency"
            ),
            ConfigProblem::DependencyCycle { scope, cycle } => write!(
                f,
                "{scope}: checks depend on each other in a cycle: {}",
                cycle.join(" -> ")
            ),
        }
    }
}

/// Everything wrong with an engine's configuration, returned by
/// [`EngineBuilder::build`](crate::EngineBuilder::build).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildError {
    problems: Vec<ConfigProblem>,
}

impl BuildError {
    pub(crate) fn new(problems: Vec<ConfigProblem>) -> Self {
        Self { problems }
    }

    /// Every problem found, in registration order.
    pub fn problems(&self) -> &[ConfigProblem] {
        &self.problems
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid readiness configuration: ")?;
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for BuildError {}

/// A fully resolved check, as the engine runs it.
pub(crate) struct Resolved {
    pub(crate) name: Arc<str>,
    pub(crate) kind: Kind,
    pub(crate) critical: bool,
    pub(crate) group: Option<Arc<str>>,
    pub(crate) check: Arc<dyn Check>,
    pub(crate) period: Duration,
    pub(crate) timeout: Duration,
    pub(crate) initial_delay: Duration,
    pub(crate) jitter: Duration,
    pub(crate) failure_threshold: u32,
    pub(crate) success_threshold: u32,
    /// Whether a run waits for an in-flight permit (all but the built-in heartbeat).
    pub(crate) bounded: bool,
    /// How long past its next run (+ timeout) a result stays valid: the engine's staleness
    /// margin (the heartbeat's is at least its lateness bound). Set by the builder.
    pub(crate) margin: Duration,
    /// The checks it depends on, resolved (`engine::depends`).
    pub(crate) deps: Vec<Dep>,
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
        out.push(Resolved {
            name: name.as_str().into(),
            kind: spec.kind,
            // Liveness and startup checks are always critical: a non-critical one means nothing.
            critical: spec.critical || spec.kind != Kind::Readiness,
            group: spec.group.as_deref().map(Arc::from),
            check: spec.check.clone(),
            period,
            timeout,
            initial_delay: spec.initial_delay.unwrap_or(defaults.initial_delay),
            jitter: spec.jitter.or(defaults.jitter).unwrap_or(period / 10),
            failure_threshold,
            success_threshold,
            bounded: true,
            margin: Duration::ZERO,
            deps: Vec::new(),
        });
    }
    out
}
