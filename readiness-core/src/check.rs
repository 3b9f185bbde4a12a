//! What a check is: the [`Check`] trait and its result. Ready-made checks live in
//! `readiness-checks`.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// A boxed future returned by [`Check::check`].
pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = CheckResult> + Send + 'a>>;

/// What one run of a check returns: `Ok(())` when it passes.
pub type CheckResult = Result<(), CheckFailure>;

/// A failed check, with a reason for operators.
///
/// The reason is shown in probe bodies only when the layer is configured to show details;
/// otherwise probes say `reason withheld` and the reason goes to the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckFailure {
    reason: Cow<'static, str>,
}

impl CheckFailure {
    /// A failure with this reason.
    pub fn new(reason: impl Into<Cow<'static, str>>) -> Self {
        Self {
            reason: reason.into(),
        }
    }

    /// The reason given for the failure.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for CheckFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for CheckFailure {}

/// A health check: one named probe of a dependency or of the process itself.
///
/// The engine runs a check in the background on its own schedule, never inline with a probe.
/// A check that returns an error, exceeds its timeout or panics counts as a failure with a
/// reason; the engine keeps running.
///
/// Most checks are closures, made with [`check_fn`]; implement the trait for a type when the
/// check owns state such as a connection pool.
///
/// ```
/// use readiness_core::{Check, CheckFuture, CheckFailure};
///
/// struct Disk;
///
/// impl Check for Disk {
///     fn check(&self) -> CheckFuture<'_> {
///         Box::pin(async { Err(CheckFailure::new("disk full")) })
///     }
/// }
/// ```
pub trait Check: Send + Sync + 'static {
    /// Run the check once.
    fn check(&self) -> CheckFuture<'_>;
}

impl<C: Check + ?Sized> Check for Arc<C> {
    fn check(&self) -> CheckFuture<'_> {
        (**self).check()
    }
}

impl<C: Check + ?Sized> Check for Box<C> {
    fn check(&self) -> CheckFuture<'_> {
        (**self).check()
    }
}

/// A [`Check`] made from a closure that returns a future; see [`check_fn`].
#[derive(Clone)]
pub struct FnCheck<F> {
    f: F,
}

impl<F> fmt::Debug for FnCheck<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnCheck").finish_non_exhaustive()
    }
}

/// Make a [`Check`] from a closure returning a future of `Result<(), E>`, where the error's
/// `Display` becomes the failure reason.
///
/// ```
/// use readiness_core::check_fn;
///
/// let always_ok = check_fn(|| async { Ok::<(), std::io::Error>(()) });
/// let flaky = check_fn(|| async { Err::<(), _>("connection refused") });
/// # let _ = (always_ok, flaky);
/// ```
pub fn check_fn<F, Fut, E>(f: F) -> FnCheck<F>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: fmt::Display,
{
    FnCheck { f }
}

impl<F, Fut, E> Check for FnCheck<F>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: fmt::Display,
{
    fn check(&self) -> CheckFuture<'_> {
        let fut = (self.f)();
        Box::pin(async move { fut.await.map_err(|e| CheckFailure::new(e.to_string())) })
    }
}

tokio::task_local! {
    /// Who is running: set by the engine around each run of a check.
    static RUN: RunLabels;
}

/// The labels of the check being run (its registered name, and its tenant's id), set by the
/// engine around each run so that what a check records carries the engine's names only.
#[derive(Clone, Debug)]
pub(crate) struct RunLabels {
    pub(crate) check: Arc<str>,
    pub(crate) tenant: Option<Arc<str>>,
    /// When the engine's timeout ends the run.
    pub(crate) deadline: tokio::time::Instant,
}

/// When the engine's timeout will end the run in progress on this task, or `None` outside an
/// engine's run (a check called by hand).
///
/// The engine cuts a run at its timeout whatever the check is doing, with the reason
/// `timed out after …`. A check that wants to say *which* step ran out of time (`tls: handshake
/// timed out`) bounds its steps by this deadline: its own reason then comes first.
///
/// ```
/// // Outside an engine's run there is no deadline.
/// assert!(readiness_core::run_deadline().is_none());
/// ```
pub fn run_deadline() -> Option<tokio::time::Instant> {
    RUN.try_with(|run| run.deadline).ok()
}

impl RunLabels {
    /// The labels of the run in progress on this task, if any.
    pub(crate) fn current() -> Option<Self> {
        RUN.try_with(Clone::clone).ok()
    }

    /// `f` (which makes the check's future) with these labels in place.
    pub(crate) fn sync_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        RUN.sync_scope(self.clone(), f)
    }

    /// `fut` (the check's run) with these labels in place whenever it is polled. `Unpin`
    /// like the check's boxed future, and allocates nothing.
    pub(crate) fn scope<F: Future + Unpin>(self, fut: F) -> Scoped<F> {
        Scoped { labels: self, fut }
    }
}

/// A check's run with its [`RunLabels`] in place while it is polled.
pub(crate) struct Scoped<F> {
    labels: RunLabels,
    fut: F,
}

impl<F: Future + Unpin> Future for Scoped<F> {
    type Output = F::Output;

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        let this = &mut *self;
        let fut = &mut this.fut;
        this.labels.sync_scope(|| Pin::new(fut).poll(cx))
    }
}

/// The built-in liveness check: passes while the runtime's heartbeat task keeps time.
#[derive(Debug)]
pub(crate) struct Heartbeat {
    pub(crate) base: tokio::time::Instant,
    pub(crate) last_beat_ms: Arc<std::sync::atomic::AtomicU64>,
    pub(crate) interval: Duration,
    pub(crate) max_lateness: Duration,
}

impl Heartbeat {
    pub(crate) fn lateness(&self) -> Duration {
        let last =
            Duration::from_millis(self.last_beat_ms.load(std::sync::atomic::Ordering::Relaxed));
        let since = self.base.elapsed().saturating_sub(last);
        since.saturating_sub(self.interval)
    }
}

impl Check for Heartbeat {
    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move {
            let late = self.lateness();
            if late > self.max_lateness {
                Err(CheckFailure::new(format!(
                    "runtime heartbeat is {} ms late (bound {} ms): the runtime looks wedged",
                    late.as_millis(),
                    self.max_lateness.as_millis()
                )))
            } else {
                Ok(())
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn heartbeat_fails_when_the_ticker_is_late() {
        let beat = Heartbeat {
            base: tokio::time::Instant::now(),
            last_beat_ms: Arc::new(AtomicU64::new(0)),
            interval: Duration::from_secs(1),
            max_lateness: Duration::from_secs(2),
        };
        assert!(beat.check().await.is_ok());
        // The ticker should have ticked at 1 s and 2 s; it has not (a wedged runtime).
        tokio::time::advance(Duration::from_millis(3500)).await;
        let err = beat.check().await.expect_err("late");
        assert!(err.reason().contains("2500 ms late"), "{err}");
        // A tick brings it back.
        beat.last_beat_ms.store(3500, Ordering::Relaxed);
        assert!(beat.check().await.is_ok());
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn closures_become_checks_with_their_error_as_reason() {
        let c = check_fn(|| async { Err::<(), _>("boom") });
        assert_eq!(c.check().await, Err(CheckFailure::new("boom")));
    }
}

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

named_enum! {
    /// `liveness`, `readiness` or `startup`.
    Kind { Liveness => "liveness", Readiness => "readiness", Startup => "startup" }
}
