//! [`HttpCheck`]: kubelet's HTTP probe as a readiness check.
//!
//! ```text
//! HttpCheck::new("http://127.0.0.1:9200/_cluster/health")?
//! ```
//!
//! Passes when `GET` answers `200 <= status < 400`; the reason names the status
//! (`status 503 Service Unavailable`) or what went wrong, and the time taken, never the body.

use std::fmt;
use std::pin::pin;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{ACCEPT, CONNECTION, HOST, USER_AGENT};
use http::{HeaderValue, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use readiness_core::{Check, CheckFuture};

use crate::ServiceCheck;
use crate::probe::{CheckUrlError, Probe, plain_http};

/// How much of a response body is read (and dropped), as kubelet reads.
const MAX_BODY: usize = 10 * 1024;
/// `User-Agent` of every probe: this library and its version.
const AGENT: &str = concat!("readiness/", env!("CARGO_PKG_VERSION"));

/// An HTTP dependency check with kubelet's semantics.
///
/// Each run opens a fresh connection (no keep-alive, `Connection: close`), sends `GET` with
/// `User-Agent: readiness/<version>` and `Accept: */*`, and passes when
/// `200 <= status < 400`. A redirect is not followed: a 3xx passes, as in kubelet. At most
/// about 10 KiB of the body is read, then dropped with the connection; the body never goes
/// into a reason (the status code and the time taken do). The engine's check timeout bounds
/// the whole run, connection included.
///
/// Only `http://` URLs: TLS (`https://`) is a later feature and is refused with a typed error
/// ([`CheckUrlError`]), as are credentials in the URL (they would show in reasons).
///
/// ```
/// use readiness_core::{CheckSpec, Engine};
/// use readiness_checks::HttpCheck;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let search = HttpCheck::new("http://127.0.0.1:9200/_cluster/health")?;
/// assert_eq!(search.url(), "http://127.0.0.1:9200/_cluster/health");
/// let builder = Engine::builder().check(CheckSpec::readiness("search", search));
/// # let _ = builder;
/// assert!(HttpCheck::new("https://example.com/").is_err());
/// # Ok(()) }
/// ```
pub struct HttpCheck {
    url: Arc<str>,
    inner: ServiceCheck<Probe<Target, StatusCode>, fn()>,
}

impl fmt::Debug for HttpCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpCheck").field("url", &self.url).finish()
    }
}

impl HttpCheck {
    /// A check of `url`, written `http://HOST[:PORT][/PATH][?QUERY]` (port 80 by default).
    pub fn new(url: &str) -> Result<Self, CheckUrlError> {
        let target = Target::parse(url)?;
        let url = target.url.clone();
        let probe = Probe::new(format!("GET {url}"), target, |t| Box::pin(get(t)), judge);
        Ok(Self {
            url,
            inner: ServiceCheck::new(probe, (|| ()) as fn()),
        })
    }

    /// The URL this check gets.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Check for HttpCheck {
    fn check(&self) -> CheckFuture<'_> {
        self.inner.check()
    }
}

/// Where a check connects and what it asks for, parsed once.
#[derive(Debug)]
struct Target {
    url: Arc<str>,
    /// `host:port` to connect to.
    connect: String,
    host: HeaderValue,
    path: Uri,
}

impl Target {
    fn parse(url: &str) -> Result<Self, CheckUrlError> {
        let invalid = |reason: &str| CheckUrlError::invalid(url, reason);
        let uri = plain_http(url, "http://HOST[:PORT]/PATH")?;
        let authority = uri.authority().ok_or_else(|| invalid("no host"))?;
        let port = uri.port_u16().unwrap_or(80);
        let host = HeaderValue::from_str(authority.as_str()).map_err(|_| invalid("bad host"))?;
        let path = uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .parse()
            .map_err(|e: http::uri::InvalidUri| invalid(&e.to_string()))?;
        Ok(Self {
            url: url.into(),
            connect: format!("{}:{port}", authority.host()),
            host,
            path,
        })
    }
}

/// One `GET` on a fresh connection: the status the server answered with.
async fn get(target: Arc<Target>) -> Result<StatusCode, String> {
    let stream = tokio::net::TcpStream::connect(&target.connect)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let req = Request::get(target.path.clone())
        .header(HOST, target.host.clone())
        .header(USER_AGENT, AGENT)
        .header(ACCEPT, "*/*")
        .header(CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("request: {e}"))?;
    let exchange = async move {
        let res = sender
            .send_request(req)
            .await
            .map_err(|e| format!("request: {e}"))?;
        let status = res.status();
        let mut body = res.into_body();
        let mut read = 0;
        while read < MAX_BODY {
            match body.frame().await {
                Some(Ok(frame)) => read += frame.data_ref().map_or(0, Bytes::len),
                Some(Err(e)) => return Err(format!("reading the body: {e}")),
                None => break,
            }
        }
        // The rest of the body is dropped with the connection, unread.
        Ok(status)
    };
    // The connection is driven here, not spawned: dropping the run drops everything.
    let mut exchange = pin!(exchange);
    let mut conn = pin!(conn);
    tokio::select! {
        result = &mut exchange => result,
        closed = &mut conn => match closed {
            Err(e) => Err(format!("connection: {e}")),
            Ok(()) => exchange.await,
        },
    }
}

/// kubelet's rule: `200 <= status < 400` passes.
fn judge(status: &StatusCode) -> Result<(), String> {
    if (200..400).contains(&status.as_u16()) {
        Ok(())
    } else {
        Err(format!("status {status}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_parsed_once_with_kubelet_defaults() {
        let t = Target::parse("http://127.0.0.1:8080/healthz?full=1").expect("valid");
        assert_eq!(t.connect, "127.0.0.1:8080");
        assert_eq!(t.host, "127.0.0.1:8080");
        assert_eq!(t.path, "/healthz?full=1");
        let t = Target::parse("http://db.internal").expect("valid");
        assert_eq!(
            (t.connect.as_str(), t.path.to_string().as_str()),
            ("db.internal:80", "/")
        );
        let t = Target::parse("http://[::1]:9000/x").expect("valid");
        assert_eq!(t.connect, "[::1]:9000");
    }

    #[test]
    fn bad_urls_are_typed_errors() {
        for url in [
            "http://",
            "",
            "not a url",
            "localhost:8080/x",
            "/path",
            "http://:80/",
        ] {
            assert!(
                matches!(Target::parse(url), Err(CheckUrlError::Invalid { .. })),
                "{url:?}: {:?}",
                Target::parse(url)
            );
        }
        for (url, scheme) in [
            ("https://h/", "https"),
            ("ftp://h:1", "ftp"),
            ("grpc://h:1", "grpc"),
        ] {
            assert_eq!(
                Target::parse(url).map(|_| ()),
                Err(CheckUrlError::UnsupportedScheme {
                    url: url.into(),
                    scheme: scheme.into()
                })
            );
        }
        assert_eq!(
            Target::parse("http://user:secret@h/").map(|_| ()),
            Err(CheckUrlError::Credentials)
        );
        assert!(!CheckUrlError::Credentials.to_string().contains("secret"));
    }

    #[test]
    fn a_port_out_of_range_is_refused_not_replaced_by_80() {
        // `http::Uri` parses these, but its `port_u16()` answers `None` for them, which read
        // as "no port": the check probed port 80 while its reasons named the URL given.
        for url in [
            "http://h:0/",
            "http://h:65536/",
            "http://h:99999/x",
            "http://h:abc/",
            "http://[::1]:0/",
        ] {
            assert!(
                matches!(Target::parse(url), Err(CheckUrlError::Invalid { .. })),
                "{url:?}: {:?}",
                Target::parse(url).map(|t| t.connect)
            );
        }
        // An empty port is the default one (RFC 3986, 3.2.3); 65535 and a leading zero are ports.
        for (url, connect) in [
            ("http://h:/", "h:80"),
            ("http://h:65535/", "h:65535"),
            ("http://h:080/", "h:80"),
            ("http://[::1]/", "[::1]:80"),
        ] {
            assert_eq!(
                Target::parse(url).map(|t| t.connect),
                Ok(connect.into()),
                "{url:?}"
            );
        }
    }

    #[test]
    fn the_verdict_is_kubelets_and_names_the_status_only() {
        let judged = |code: u16| judge(&StatusCode::from_u16(code).expect("code"));
        for pass in [200, 204, 301, 302, 304, 399] {
            assert_eq!(judged(pass), Ok(()), "{pass}");
        }
        for fail in [100, 199, 400, 404, 500, 503] {
            assert!(judged(fail).is_err(), "{fail}");
        }
        assert_eq!(judged(503), Err("status 503 Service Unavailable".into()));
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn a_failure_names_the_url_what_went_wrong_and_the_time() {
        // Nothing listens on a port of a freed listener.
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        drop(l);
        let check = HttpCheck::new(&format!("http://{addr}/x")).expect("valid");
        let reason = check
            .check()
            .await
            .expect_err("refused")
            .reason()
            .to_owned();
        assert!(
            reason.starts_with(&format!("GET http://{addr}/x: connect: ")),
            "{reason}"
        );
        assert!(reason.ends_with(" after 0 ms"), "{reason}");
    }
}
