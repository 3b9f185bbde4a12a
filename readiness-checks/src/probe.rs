//! The one-call service the ready-made checks are built on (through [`ServiceCheck`]): it
//! makes one call, judges the answer, and words a failure with its target and the time taken.
//!
//! [`ServiceCheck`]: crate::service::ServiceCheck

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use readiness_core::CheckFailure;
use tokio::time::Instant;
use tower_service::Service;

/// What one call returns: the answer, or what went wrong in words.
pub(crate) type CallFuture<T> = Pin<Box<dyn Future<Output = Result<T, String>> + Send>>;

/// `call(state)` once per request, `judge` on its answer; always ready. A failure reads
/// `{target}: {what} after N ms`.
pub(crate) struct Probe<S, T> {
    target: Arc<str>,
    state: Arc<S>,
    call: fn(Arc<S>) -> CallFuture<T>,
    judge: fn(&T) -> Result<(), String>,
}

impl<S, T> Clone for Probe<S, T> {
    fn clone(&self) -> Self {
        Self {
            target: self.target.clone(),
            state: self.state.clone(),
            call: self.call,
            judge: self.judge,
        }
    }
}

impl<S, T> Probe<S, T> {
    /// What each call is made with.
    #[cfg(feature = "grpc")]
    pub(crate) fn state(&self) -> &Arc<S> {
        &self.state
    }

    pub(crate) fn new(
        target: impl Into<Arc<str>>,
        state: S,
        call: fn(Arc<S>) -> CallFuture<T>,
        judge: fn(&T) -> Result<(), String>,
    ) -> Self {
        Self {
            target: target.into(),
            state: Arc::new(state),
            call,
            judge,
        }
    }
}

impl<S, T> Service<()> for Probe<S, T>
where
    S: Send + Sync + 'static,
    T: 'static,
{
    type Response = ();
    type Error = CheckFailure;
    type Future = Pin<Box<dyn Future<Output = Result<(), CheckFailure>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), CheckFailure>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, (): ()) -> Self::Future {
        let started = Instant::now();
        let answer = (self.call)(self.state.clone());
        let (target, judge) = (self.target.clone(), self.judge);
        Box::pin(async move {
            let verdict = answer.await.and_then(|a| judge(&a));
            verdict.map_err(|what| {
                CheckFailure::new(format!(
                    "{target}: {what} after {} ms",
                    started.elapsed().as_millis()
                ))
            })
        })
    }
}
