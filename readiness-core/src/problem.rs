//! What is wrong with an engine's configuration: each [`ConfigProblem`], the [`Scope`] it
//! names, and the [`BuildError`] that lists them all.

use std::fmt;
use std::sync::Arc;

use crate::check::Kind;
use crate::names::NameError;

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
