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

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper_util::rt::TokioIo;
use readiness_core::{Check, CheckFuture};
use tokio::time::Instant;
use tonic::Code;
use tonic::transport::Endpoint;

use crate::io::{Io, Tls, connect};
use crate::probe::Probe;
use crate::resolve::Resolver;
use crate::service::ServiceCheck;
use crate::target::{CheckUrlError, Target};
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
/// (`connect: connection refused`, a TLS reason).
///
/// Each run connects afresh, as kubelet's gRPC probe does, resolving the host inside the run
/// (one lookup in flight per check); the engine's check timeout bounds the run. Reasons,
/// logs and `Debug` show the server as scheme, host, port and path only.
///
/// [`new`](Self::new) takes `http://HOST:PORT`, and `https://HOST:PORT` with feature `tls`
/// (verified against the system's roots; `with_tls` for your own
/// [`TlsConfig`](crate::TlsConfig)). [`from_endpoint`](Self::from_endpoint) takes a tonic
/// [`Endpoint`] configured as you like.
///
/// ```
/// use readiness_core::{CheckSpec, Engine};
/// use readiness_checks::GrpcCheck;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let payments = GrpcCheck::new("http://127.0.0.1:50051")?.service("payments.v1.Payments");
/// let builder = Engine::builder().check(CheckSpec::readiness("payments", payments));
/// # let _ = builder;
/// assert!(GrpcCheck::new("ftp://example.com:21").is_err());
/// # Ok(()) }
/// ```
pub struct GrpcCheck {
    call: Arc<HealthCall>,
    inner: ServiceCheck<Probe<HealthCall, ServingStatus>, fn()>,
}

impl fmt::Debug for GrpcCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcCheck")
            .field("uri", &self.call.target.shown)
            .field("service", &self.call.service)
            .finish()
    }
}

#[cfg(feature = "tls")]
const SCHEMES: &[(&str, u16)] = &[("http", 80), ("https", 443)];
#[cfg(not(feature = "tls"))]
const SCHEMES: &[(&str, u16)] = &[("http", 80)];
#[cfg(feature = "tls")]
const FORM: &str = "http://HOST:PORT or https://HOST:PORT";
#[cfg(not(feature = "tls"))]
const FORM: &str = "http://HOST:PORT (https:// needs feature `tls`)";

impl GrpcCheck {
    /// A check of the server at `url`, written `http://HOST:PORT` (or `https://HOST:PORT`
    /// with feature `tls`), for service `""` (the server's overall health); see
    /// [`service`](Self::service).
    pub fn new(url: &str) -> Result<Self, CheckUrlError> {
        let target = Self::target(url)?;
        #[cfg(feature = "tls")]
        if target.scheme == "https" {
            let tls = crate::tls::TlsConfig::system().map_err(CheckUrlError::Tls)?;
            return Ok(Self::own(target, Some(tls.client(b"h2"))));
        }
        Ok(Self::own(target, None))
    }

    /// A check of the server at `url` (`http://` or `https://`) with these TLS settings.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn with_tls(url: &str, tls: &crate::tls::TlsConfig) -> Result<Self, CheckUrlError> {
        let target = Self::target(url)?;
        let tls = (target.scheme == "https").then(|| tls.client(b"h2"));
        Ok(Self::own(target, tls))
    }

    fn target(url: &str) -> Result<Target, CheckUrlError> {
        let target = Target::parse(url, SCHEMES, FORM)?;
        if target.path_and_query != "/" {
            return Err(CheckUrlError::invalid(
                url,
                "a path or query has no meaning here; name the service with GrpcCheck::service",
            ));
        }
        Ok(target)
    }

    /// A connection this crate opens (TCP, and TLS with `tls`), handed to tonic as it is.
    fn own(target: Target, tls: Option<Tls>) -> Self {
        let scheme = if tls.is_some() { "https" } else { "http" };
        // tonic sees a plain endpoint (the TLS is ours); requests carry the real scheme.
        let authority = target.authority();
        let endpoint =
            Endpoint::from_shared(format!("http://{authority}")).map(|e| {
                match format!("{scheme}://{authority}").parse::<http::Uri>() {
                    Ok(origin) => e.origin(origin),
                    Err(_) => e,
                }
            });
        let endpoint = match endpoint {
            Ok(e) => e,
            // A parsed target always makes a valid URI; this is never taken.
            Err(_) => Endpoint::from_static("http://[::1]:1"),
        };
        Self::build(target, tls, endpoint, Arc::from(""))
    }

    /// A check of the server at `endpoint`, configured as you like (HTTP/2 settings, tonic's
    /// own TLS if your tonic has it), for service `""`. The host is still resolved and
    /// connected by this crate, inside the run; a user or password in the endpoint's URI is
    /// never shown.
    pub fn from_endpoint(endpoint: Endpoint) -> Self {
        let uri = endpoint.uri();
        let scheme = uri.scheme_str().unwrap_or("http");
        let port = uri
            .port_u16()
            .unwrap_or(if scheme == "https" { 443 } else { 80 });
        let target = Target::new(scheme, uri.host().unwrap_or(""), port, uri.path());
        Self::build(target, None, endpoint, Arc::from(""))
    }

    /// Ask for this service name instead of `""`.
    pub fn service(self, name: &str) -> Self {
        let call = &self.call;
        Self::build(
            call.target.clone(),
            call.tls.clone(),
            call.endpoint.clone(),
            Arc::from(name),
        )
    }

    fn build(target: Target, tls: Option<Tls>, endpoint: Endpoint, service: Arc<str>) -> Self {
        let shown = format!(
            "grpc.health.v1 Check of {} service {service:?}",
            target.shown
        );
        let call = HealthCall {
            target,
            tls,
            endpoint,
            service,
            resolver: Resolver::new(),
        };
        let probe = Probe::new(shown, call, |c| Box::pin(check(c)), judge);
        Self {
            call: probe.state().clone(),
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
struct HealthCall {
    target: Target,
    tls: Option<Tls>,
    endpoint: Endpoint,
    service: Arc<str>,
    resolver: Resolver,
}

/// A reason from our own connector, found again in tonic's error chain.
#[derive(Debug)]
struct ConnectError(String);

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConnectError {}

/// tonic's connector: our resolution, TCP and TLS, within the run.
#[derive(Clone)]
struct Connector {
    call: Arc<HealthCall>,
    started: Instant,
}

impl tower_service::Service<http::Uri> for Connector {
    type Response = TokioIo<Io>;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<TokioIo<Io>, ConnectError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Uri) -> Self::Future {
        let (call, started) = (self.call.clone(), self.started);
        Box::pin(async move {
            connect(&call.resolver, &call.target, call.tls.as_ref(), started)
                .await
                .map(TokioIo::new)
                .map_err(ConnectError)
        })
    }
}

/// One `Check` call on a fresh connection: the status the server answered with.
async fn check(call: Arc<HealthCall>) -> Result<ServingStatus, String> {
    let connector = Connector {
        call: call.clone(),
        started: Instant::now(),
    };
    let host = call.target.hostname().to_owned();
    let channel = call
        .endpoint
        .connect_with_connector(connector)
        .await
        .map_err(|e| reason_of("connect", &e, &host))?;
    let request = HealthCheckRequest {
        service: call.service.to_string(),
    };
    match HealthClient::new(channel).check(request).await {
        Ok(r) => Ok(r.into_inner().status()),
        Err(status) => {
            if let Some(r) = crate::io::tls_describe(&status, &host) {
                return Err(r);
            }
            Err(format!(
                "status {}: {}",
                code_name(status.code()),
                clip(status.message())
            ))
        }
    }
}

/// Our connector's own reason if it is in the chain, a TLS reason, or the chain.
fn reason_of(what: &str, e: &(dyn std::error::Error + 'static), host: &str) -> String {
    let mut next = Some(e);
    while let Some(e) = next {
        if let Some(ours) = e.downcast_ref::<ConnectError>() {
            return ours.0.clone();
        }
        next = e.source();
    }
    if let Some(r) = crate::io::tls_describe(e, host) {
        return r;
    }
    format!("{what}: {}", chain(e))
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
    fn urls_without_a_path_or_credentials() {
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
            GrpcCheck::new("ftp://h:1"),
            Err(CheckUrlError::UnsupportedScheme { .. })
        ));
    }

    #[test]
    fn an_endpoint_with_a_password_never_shows_it() {
        let endpoint = Endpoint::from_static("http://user:SECRET@127.0.0.1:50051/?token=SECRET");
        let check = GrpcCheck::from_endpoint(endpoint).service("orders");
        let debug = format!("{check:?}");
        assert!(!debug.contains("SECRET"), "{debug}");
        assert!(debug.contains("http://127.0.0.1:50051/"), "{debug}");
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
