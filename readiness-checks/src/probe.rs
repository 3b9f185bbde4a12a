//! The one-call service the ready-made checks are built on (through [`ServiceCheck`]): it
//! makes one call, judges the answer, and words a failure with its target and the time taken.
//!
//! [`ServiceCheck`]: crate::ServiceCheck

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

/// A URL a ready-made check (`HttpCheck`, `GrpcCheck`) cannot use.
///
/// ```
/// use readiness_checks::{CheckUrlError, HttpCheck};
/// let err = HttpCheck::new("ftp://files:21/").expect_err("not http");
/// assert!(matches!(err, CheckUrlError::UnsupportedScheme { .. }));
/// assert!(err.to_string().contains("only http://"), "{err}");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CheckUrlError {
    /// Not a URL of the form the check takes.
    Invalid {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A scheme other than `http` (`https` included: TLS is a later feature).
    UnsupportedScheme {
        /// The URL given.
        url: String,
        /// Its scheme.
        scheme: String,
    },
    /// `user:password@` in the URL: it would show in every failure reason. The URL is not
    /// kept, for the same reason.
    Credentials,
}

impl CheckUrlError {
    pub(crate) fn invalid(url: &str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            url: url.to_owned(),
            reason: reason.into(),
        }
    }
}

impl std::fmt::Display for CheckUrlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Invalid { url, reason } => write!(f, "invalid check URL {url:?}: {reason}"),
            Self::UnsupportedScheme { url, scheme } => write!(
                f,
                "unsupported scheme {scheme:?} in {url:?}: only http:// (TLS is not supported yet)"
            ),
            Self::Credentials => f.write_str("credentials in a check URL are not supported"),
        }
    }
}

impl std::error::Error for CheckUrlError {}

/// An `http://` URL with a host and no credentials; `form` says what was expected.
pub(crate) fn plain_http(url: &str, form: &str) -> Result<http::Uri, CheckUrlError> {
    let uri: http::Uri = url.parse().map_err(|e: http::uri::InvalidUri| {
        CheckUrlError::invalid(url, format!("{e}; expected {form}"))
    })?;
    match uri.scheme_str() {
        Some("http") => {}
        Some(other) => {
            return Err(CheckUrlError::UnsupportedScheme {
                url: url.to_owned(),
                scheme: other.to_owned(),
            });
        }
        None => return Err(CheckUrlError::invalid(url, format!("expected {form}"))),
    }
    match uri.authority() {
        Some(a) if a.as_str().contains('@') => Err(CheckUrlError::Credentials),
        Some(a) if !a.host().is_empty() => {
            // `http::Uri` takes any port text and its `port_u16()` answers `None` for one that
            // is not a `u16`, which reads as "no port" (80): refuse it instead.
            let port = a.as_str()[a.host().len()..].trim_start_matches(':');
            let valid = port.is_empty()
                || (port.bytes().all(|b| b.is_ascii_digit())
                    && port.parse::<u16>().is_ok_and(|p| p != 0));
            if valid {
                Ok(uri)
            } else {
                Err(CheckUrlError::invalid(url, "the port is not in 1..=65535"))
            }
        }
        _ => Err(CheckUrlError::invalid(url, "no host")),
    }
}
