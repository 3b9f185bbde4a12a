//! What one run of a check does.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

/// The reason given by failures that plans inject on their own ([`FaultPlan::flap`] and
/// [`FaultPlan::random`]).
///
/// [`FaultPlan::flap`]: crate::FaultPlan::flap
/// [`FaultPlan::random`]: crate::FaultPlan::random
pub const DEFAULT_FAILURE_REASON: &str = "chaos: injected failure";

/// What one run of a [`FaultInjector`](crate::FaultInjector) does.
///
/// ```
/// use std::time::Duration;
/// use readiness_testkit::Fault;
///
/// let faults = [
///     Fault::Pass,
///     Fault::fail("connection refused"),
///     Fault::Hang,
///     Fault::Delay(Duration::from_millis(300)),
///     Fault::panic("pool poisoned"),
/// ];
/// assert_eq!(faults[1].to_string(), "fail: connection refused");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Fault {
    /// Behave normally: a wrapping injector runs the wrapped check and returns its result; a
    /// standalone one passes.
    #[default]
    Pass,
    /// Fail at once with this reason; a wrapped check is not run.
    Fail(Cow<'static, str>),
    /// Never complete, so that the engine's timeout fires. Waits without blocking the thread;
    /// dropping the run's future ends it.
    Hang,
    /// Wait this long on tokio's timer (never blocking the thread, so tokio's paused clock
    /// applies), then behave as [`Pass`](Fault::Pass).
    Delay(Duration),
    /// Panic with this message when the run's future is first polled. The engine reports it
    /// as `panicked: <message>`.
    Panic(Cow<'static, str>),
}

impl Fault {
    /// [`Fault::Fail`] with this reason.
    pub fn fail(reason: impl Into<Cow<'static, str>>) -> Self {
        Self::Fail(reason.into())
    }

    /// [`Fault::Panic`] with this message.
    pub fn panic(message: impl Into<Cow<'static, str>>) -> Self {
        Self::Panic(message.into())
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pass => f.write_str("pass"),
            Self::Fail(reason) => write!(f, "fail: {reason}"),
            Self::Hang => f.write_str("hang"),
            Self::Delay(d) => write!(f, "delay {d:?}"),
            Self::Panic(message) => write!(f, "panic: {message}"),
        }
    }
}
