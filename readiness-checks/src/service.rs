//! [`ServiceCheck`]: any `tower::Service` as a readiness check.
//!
//! ```text
//! ServiceCheck::new(client.clone(), || request).verdict(|result| ..)
//! ```
//!
//! Passes when the call returns a response ([`OkPasses`]) or when your verdict says so; the
//! reason is the error's `Display` or your verdict's words.

use std::fmt;
use std::sync::{Mutex, PoisonError};

use readiness_core::{Check, CheckFailure, CheckFuture, CheckResult};
use tower_service::Service;

/// Decides whether one call of the service passed: a closure
/// `Fn(Result<Response, Error>) -> CheckResult`, or [`OkPasses`].
pub trait Verdict<T, E>: Send + Sync + 'static {
    /// The check's result for what the call returned.
    fn verdict(&self, result: Result<T, E>) -> CheckResult;
}

impl<F, T, E> Verdict<T, E> for F
where
    F: Fn(Result<T, E>) -> CheckResult + Send + Sync + 'static,
{
    fn verdict(&self, result: Result<T, E>) -> CheckResult {
        self(result)
    }
}

/// The default [`Verdict`]: any response passes; an error fails with its `Display` as the
/// reason.
///
/// ```
/// use readiness_checks::{OkPasses, Verdict};
/// assert!(OkPasses.verdict(Ok::<_, String>(())).is_ok());
/// let err = OkPasses.verdict(Err::<(), _>("refused")).expect_err("fails");
/// assert_eq!(err.reason(), "refused");
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct OkPasses;

impl<T, E: fmt::Display> Verdict<T, E> for OkPasses {
    fn verdict(&self, result: Result<T, E>) -> CheckResult {
        result
            .map(drop)
            .map_err(|e| CheckFailure::new(e.to_string()))
    }
}

/// Any `tower::Service` as a check: each run clones the service, waits until it is ready,
/// calls it with a fresh request, and hands the result to a [`Verdict`]. The engine's timeout
/// bounds the whole run; a run dropped at its timeout drops the call.
///
/// This is the adapter the ready-made checks are built on. The
/// service needs `Clone + Send` (not `Sync`: it is kept behind a lock and cloned per run), so
/// a boxed or buffered client works as it is.
///
/// ```
/// use readiness_core::{CheckFailure, Engine};
/// use readiness_checks::ServiceCheck;
/// use tower::service_fn;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // Your client service; here one that answers a number.
/// let queue = service_fn(|_req: ()| async { Ok::<u32, std::io::Error>(3) });
/// let check = ServiceCheck::new(queue, || ()).verdict(|res: Result<u32, std::io::Error>| {
///     match res {
///         Ok(depth) if depth < 100 => Ok(()),
///         Ok(depth) => Err(CheckFailure::new(format!("queue depth {depth}"))),
///         Err(e) => Err(CheckFailure::new(e.to_string())),
///     }
/// });
/// let engine = Engine::builder().readiness("queue", check).build()?;
/// engine.refresh().await?;
/// assert!(engine.is_ready());
/// # Ok(()) }
/// ```
pub struct ServiceCheck<S, R, V = OkPasses> {
    service: Mutex<S>,
    request: R,
    verdict: V,
}

impl<S, R, V> fmt::Debug for ServiceCheck<S, R, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceCheck").finish_non_exhaustive()
    }
}

impl<S, R> ServiceCheck<S, R> {
    /// A check calling `service` with `request()` on every run; it passes when the call
    /// returns a response ([`OkPasses`]). Give a [`verdict`](Self::verdict) to judge the
    /// response too.
    pub fn new(service: S, request: R) -> Self {
        Self {
            service: Mutex::new(service),
            request,
            verdict: OkPasses,
        }
    }
}

impl<S, R, V> ServiceCheck<S, R, V> {
    /// Judge each call with `verdict` instead.
    pub fn verdict<V2>(self, verdict: V2) -> ServiceCheck<S, R, V2> {
        ServiceCheck {
            service: self.service,
            request: self.request,
            verdict,
        }
    }
}

impl<S, R, V, Req> Check for ServiceCheck<S, R, V>
where
    S: Service<Req> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Send,
    S::Response: Send,
    R: Fn() -> Req + Send + Sync + 'static,
    V: Verdict<S::Response, S::Error>,
{
    fn check(&self) -> CheckFuture<'_> {
        // Cloned under the lock, called outside it: runs never wait on each other.
        let mut service = self
            .service
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        Box::pin(async move {
            let result = match std::future::poll_fn(|cx| service.poll_ready(cx)).await {
                Ok(()) => service.call((self.request)()).await,
                Err(e) => Err(e),
            };
            self.verdict.verdict(result)
        })
    }
}
