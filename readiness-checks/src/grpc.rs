//! [`GrpcCheck`]: a dependency's own `grpc.health.v1.Health/Check` as a readiness check.
//!
//! ```text
//! GrpcCheck::new("http://127.0.0.1:50051")?.service("payments.v1.Payments")
//! ```
//!
//! Passes when the server answers `SERVING`; the reason names any other status, an error
//! status (`status NOT_FOUND: …`, `status UNIMPLEMENTED: …`) or the connect error.

use std::fmt;
use std::sync::Arc;

use readiness_core::{Check, CheckFuture};
use tonic::Code;
use tonic::transport::Endpoint;

use crate::ServiceCheck;
use crate::probe::{CheckUrlError, Probe, plain_http};
use pb::HealthCheckRequest;
use pb::health_check_response::ServingStatus;
use pb::health_client::HealthClient;

/// The generated `grpc.health.v1` client, from the upstream `health.proto` (`build.rs`).
#[allow(
    missing_docs,
    unreachable_pub,
    dead_code,
    rustdoc::bare_urls,
    rustdoc::invalid_html_tags,
    clippy::all,
    clippy::pedantic
)]
mod pb {
    tonic::include_proto!("grpc.health.v1");
}

/// Calls a dependency's `grpc.health.v1.Health/Check` (optionally for one service name):
/// `SERVING` passes; anything else fails with it as the reason: another status
/// (`NOT_SERVING`, `UNKNOWN`), an error status (`NOT_FOUND` for a service the server does not
/// know, `UNIMPLEMENTED` for a server without the health service) or no connection
/// (`UNAVAILABLE`, connect errors).
///
/// Each run connects afresh, as kubelet's gRPC probe does; the engine's check timeout bounds
/// the run. [`new`](Self::new) takes `http://` URLs only ([`CheckUrlError`]); for TLS, build a tonic
/// [`Endpoint`] with your TLS settings and use [`from_endpoint`](Self::from_endpoint).
///
/// ```
/// use readiness_core::{CheckSpec, Engine};
/// use readiness_checks::GrpcCheck;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let payments = GrpcCheck::new("http://127.0.0.1:50051")?.service("payments.v1.Payments");
/// let builder = Engine::builder().check(CheckSpec::readiness("payments", payments));
/// # let _ = builder;
/// assert!(GrpcCheck::new("https://example.com:443").is_err());
/// # Ok(()) }
/// ```
pub struct GrpcCheck {
    endpoint: Endpoint,
    service: Arc<str>,
    inner: ServiceCheck<Probe<HealthCall, ServingStatus>, fn()>,
}

impl fmt::Debug for GrpcCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcCheck")
            .field("uri", &self.endpoint.uri().to_string())
            .field("service", &self.service)
            .finish()
    }
}

impl GrpcCheck {
    /// A check of the server at `url`, written `http://HOST:PORT`, for service `""` (the
    /// server's overall health); see [`service`](Self::service).
    pub fn new(url: &str) -> Result<Self, CheckUrlError> {
        let uri = plain_http(url, "http://HOST:PORT")?;
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(CheckUrlError::invalid(
                url,
                "a path or query has no meaning here; name the service with GrpcCheck::service",
            ));
        }
        let endpoint = Endpoint::from(uri);
        Ok(Self::from_endpoint(endpoint))
    }

    /// A check of the server at `endpoint`, configured as you like (TLS, HTTP/2 settings,
    /// connect timeout), for service `""`.
    pub fn from_endpoint(endpoint: Endpoint) -> Self {
        Self::build(endpoint, Arc::from(""))
    }

    /// Ask for this service name instead of `""`.
    pub fn service(self, name: &str) -> Self {
        Self::build(self.endpoint, Arc::from(name))
    }

    fn build(endpoint: Endpoint, service: Arc<str>) -> Self {
        let target = format!(
            "grpc.health.v1 Check of {} service {service:?}",
            endpoint.uri()
        );
        let call = HealthCall {
            endpoint: endpoint.clone(),
            service: service.clone(),
        };
        let probe = Probe::new(target, call, |c| Box::pin(check(c)), judge);
        Self {
            endpoint,
            service,
            inner: ServiceCheck::new(probe, (|| ()) as fn()),
        }
    }
}

impl Check for GrpcCheck {
    fn check(&self) -> CheckFuture<'_> {
        self.inner.check()
    }
}

/// Where to call and for which service.
#[derive(Debug)]
struct HealthCall {
    endpoint: Endpoint,
    service: Arc<str>,
}

/// One `Check` call on a fresh connection: the status the server answered with.
async fn check(call: Arc<HealthCall>) -> Result<ServingStatus, String> {
    let channel = call
        .endpoint
        .connect()
        .await
        .map_err(|e| format!("connect: {}", chain(&e)))?;
    let request = HealthCheckRequest {
        service: call.service.to_string(),
    };
    match HealthClient::new(channel).check(request).await {
        Ok(r) => Ok(r.into_inner().status()),
        Err(status) => Err(format!(
            "status {}: {}",
            code_name(status.code()),
            clip(status.message())
        )),
    }
}

/// `SERVING` passes; any other status is the reason.
fn judge(status: &ServingStatus) -> Result<(), String> {
    match status {
        ServingStatus::Serving => Ok(()),
        other => Err(other.as_str_name().to_owned()),
    }
}

/// An error and its causes, `a: b: c` (tonic's transport error says little on its own).
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// A server's status message is the server's text: at most 128 characters of it.
fn clip(message: &str) -> &str {
    match message.char_indices().nth(128) {
        Some((i, _)) => &message[..i],
        None => message,
    }
}

/// The spec's name of a status code (`NOT_FOUND`, not tonic's `NotFound`).
fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_http_urls_without_a_path() {
        assert!(GrpcCheck::new("http://127.0.0.1:50051").is_ok());
        assert!(GrpcCheck::new("http://127.0.0.1:50051/").is_ok());
        for url in [
            "http://",
            "h:1",
            "",
            "http://h:1/svc",
            "http://h:1/?x",
            "http://h:0",
            "http://h:99999",
        ] {
            assert!(
                matches!(GrpcCheck::new(url), Err(CheckUrlError::Invalid { .. })),
                "{url:?}"
            );
        }
        assert_eq!(
            GrpcCheck::new("http://u:p@h:1").map(drop),
            Err(CheckUrlError::Credentials)
        );
        assert!(matches!(
            GrpcCheck::new("https://h:1"),
            Err(CheckUrlError::UnsupportedScheme { .. })
        ));
    }

    #[test]
    fn long_server_messages_are_clipped_on_a_char_boundary() {
        let long = "é".repeat(300);
        assert_eq!(clip(&long).chars().count(), 128);
        assert_eq!(clip("short"), "short");
        assert_eq!(code_name(Code::NotFound), "NOT_FOUND");
        assert_eq!(judge(&ServingStatus::Serving), Ok(()));
        assert_eq!(judge(&ServingStatus::Unknown), Err("UNKNOWN".into()));
    }
}
