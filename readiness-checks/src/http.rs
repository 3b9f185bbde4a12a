//! [`HttpCheck`]: kubelet's HTTP probe as a readiness check, over `http://` and `https://`.
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
use http::header::{ACCEPT, CONNECTION, HOST, LOCATION, USER_AGENT};
use http::{HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use readiness_core::{Check, CheckFuture};
use tokio::time::Instant;

use crate::io::{Tls, connect, error_reason};
use crate::probe::Probe;
use crate::resolve::Resolver;
use crate::service::ServiceCheck;
use crate::target::{CheckUrlError, Target};

/// How much of a response body is read (and dropped), as kubelet reads: bytes, not frames.
pub(crate) const MAX_BODY: usize = 10 * 1024;
/// hyper's smallest read buffer: no frame of a body is larger, so a run reads at most
/// `MAX_BODY` plus one buffer of body from the socket, whatever the server sends.
const READ_BUFFER: usize = 8 * 1024;
/// kubelet's (Go's) bound: a run stops after 10 requests that each answered a redirect.
const MAX_REQUESTS: usize = 10;
/// `User-Agent` of every probe: this library and its version.
const AGENT: &str = concat!("readiness/", env!("CARGO_PKG_VERSION"));

#[cfg(feature = "tls")]
const SCHEMES: &[(&str, u16)] = &[("http", 80), ("https", 443)];
#[cfg(not(feature = "tls"))]
const SCHEMES: &[(&str, u16)] = &[("http", 80)];
#[cfg(feature = "tls")]
const FORM: &str = "http://HOST[:PORT]/PATH or https://HOST[:PORT]/PATH";
#[cfg(not(feature = "tls"))]
const FORM: &str = "http://HOST[:PORT]/PATH (https:// needs feature `tls`)";

/// An HTTP dependency check with kubelet's semantics.
///
/// Each run opens a fresh connection (no keep-alive, `Connection: close`), sends `GET` with
/// `User-Agent: readiness/<version>` and `Accept: */*`, and passes when
/// `200 <= status < 400`. A redirect (301, 302, 303, 307, 308) to the same host name is
/// followed, as kubelet follows it, on a new connection, up to 10 requests; a redirect to
/// another host passes as it is (kubelet's "probe warning"). At most 10 KiB of each body is
/// read, then dropped with the connection; the body never goes into a reason (the status
/// code and the time taken do). The engine's timeout bounds the whole run, name resolution
/// (inside the run, bounded: one lookup in flight per check), connect and handshake
/// included.
///
/// Reasons, logs and `Debug` show the URL as scheme, host, port and path: never the query
/// (it may carry a token). A URL with `user:password@` is refused.
///
/// `https://` (feature `tls`): verified against the system's roots by [`new`](Self::new), or
/// against your [`TlsConfig`](crate::TlsConfig) by `with_tls`.
///
/// ```
/// use readiness_core::{CheckSpec, Engine};
/// use readiness_checks::HttpCheck;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let search = HttpCheck::new("http://127.0.0.1:9200/_cluster/health?token=SECRET")?;
/// assert_eq!(search.url(), "http://127.0.0.1:9200/_cluster/health");
/// let builder = Engine::builder().check(CheckSpec::readiness("search", search));
/// # let _ = builder;
/// assert!(HttpCheck::new("ftp://example.com/").is_err());
/// # Ok(()) }
/// ```
pub struct HttpCheck {
    url: Arc<str>,
    inner: ServiceCheck<Probe<Get, Answer>, fn()>,
}

impl fmt::Debug for HttpCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpCheck").field("url", &self.url).finish()
    }
}

impl HttpCheck {
    /// A check of `url`: `http://HOST[:PORT][/PATH][?QUERY]`, or `https://…` with feature
    /// `tls` (the system's roots).
    pub fn new(url: &str) -> Result<Self, CheckUrlError> {
        let target = Target::parse(url, SCHEMES, FORM)?;
        #[cfg(feature = "tls")]
        let tls = if target.scheme == "https" {
            Some(crate::tls::TlsConfig::system().map_err(CheckUrlError::Tls)?)
        } else {
            None
        };
        #[cfg(feature = "tls")]
        return Ok(Self::build(target, tls.map(|t| t.client(b"http/1.1"))));
        #[cfg(not(feature = "tls"))]
        Ok(Self::build(target, None))
    }

    /// A check of `url` (`http://` or `https://`) with these TLS settings for `https://` (and
    /// for a redirect to it).
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn with_tls(url: &str, tls: &crate::tls::TlsConfig) -> Result<Self, CheckUrlError> {
        let target = Target::parse(url, SCHEMES, FORM)?;
        Ok(Self::build(target, Some(tls.client(b"http/1.1"))))
    }

    fn build(target: Target, tls: Option<Tls>) -> Self {
        let url = target.shown.clone();
        let get = Get {
            target,
            tls,
            resolver: Resolver::new(),
        };
        let probe = Probe::new(format!("GET {url}"), get, |g| Box::pin(run(g)), judge);
        Self {
            url,
            inner: ServiceCheck::new(probe, (|| ()) as fn()),
        }
    }

    /// The URL this check gets, as it is shown: scheme, host, port and path.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Check for HttpCheck {
    fn check(&self) -> CheckFuture<'_> {
        self.inner.check()
    }
}

/// What one run needs, built once.
struct Get {
    target: Target,
    tls: Option<Tls>,
    resolver: Resolver,
}

/// How a run ended: the last status, and where it came from after redirects.
struct Answer {
    status: StatusCode,
    redirects: usize,
    at: Arc<str>,
}

/// One run: `GET`, following redirects to the same host as kubelet does.
async fn run(get: Arc<Get>) -> Result<Answer, String> {
    let started = Instant::now();
    let mut target = get.target.clone();
    for requests in 1..=MAX_REQUESTS {
        let (status, location) = once(&get, &target, started).await?;
        let answer = Answer {
            status,
            redirects: requests - 1,
            at: target.shown.clone(),
        };
        if !matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308) {
            return Ok(answer);
        }
        // No Location: the 3xx is the answer, as in Go's client.
        let Some(location) = location else {
            return Ok(answer);
        };
        let Some(next) = follow(&target, &location) else {
            return Err(format!(
                "status {status} with a Location that is not an http(s) URL"
            ));
        };
        // Another host: kubelet takes the redirect as it is (a success with a warning).
        if !next.hostname().eq_ignore_ascii_case(target.hostname()) {
            return Ok(answer);
        }
        if requests == MAX_REQUESTS {
            break;
        }
        target = next;
    }
    Err(format!("stopped after {MAX_REQUESTS} redirects"))
}

/// Where a `Location` leads from `base`: absolute, scheme-relative, absolute path or
/// relative path; `None` for anything else.
fn follow(base: &Target, location: &str) -> Option<Target> {
    let location = location.split('#').next().unwrap_or("");
    if location.contains("://") {
        return Target::parse(location, &[("http", 80), ("https", 443)], "").ok();
    }
    if let Some(rest) = location.strip_prefix("//") {
        let url = format!("{}://{rest}", base.scheme);
        return Target::parse(&url, &[("http", 80), ("https", 443)], "").ok();
    }
    let path = if location.starts_with('/') {
        location.to_owned()
    } else {
        let base_path = base.path_and_query.split('?').next().unwrap_or("/");
        let dir = &base_path[..base_path.rfind('/').map_or(0, |i| i + 1)];
        format!("{dir}{location}")
    };
    let path = if path.starts_with('/') {
        path
    } else {
        format!("/{path}")
    };
    Some(Target::new(&base.scheme, &base.host, base.port, &path))
}

/// `Host` as a browser sends it: the port only when it is not the scheme's default.
fn host_header(t: &Target) -> Result<HeaderValue, String> {
    let default = if t.scheme == "https" { 443 } else { 80 };
    let host = if t.port == default {
        t.host.clone()
    } else {
        t.authority()
    };
    HeaderValue::from_str(&host).map_err(|_| format!("bad host {:?}", t.host))
}

/// One `GET` on a fresh connection: the status, and the `Location` of a redirect.
async fn once(
    get: &Get,
    target: &Target,
    started: Instant,
) -> Result<(StatusCode, Option<String>), String> {
    let tls = match target.scheme.as_str() {
        "https" => Some(get.tls.as_ref().ok_or_else(|| {
            format!(
                "redirect to {}: no TLS settings for https:// (HttpCheck::with_tls)",
                target.shown
            )
        })?),
        _ => None,
    };
    let io = connect(&get.resolver, target, tls, started).await?;
    let host = target.hostname();
    let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
        .max_buf_size(READ_BUFFER)
        .handshake(TokioIo::new(io))
        .await
        .map_err(|e| error_reason("handshake", &e, host))?;
    let path: http::Uri = target
        .path_and_query
        .parse()
        .map_err(|_| format!("bad path {:?}", target.shown))?;
    let req = Request::get(path)
        .header(HOST, host_header(target)?)
        .header(USER_AGENT, AGENT)
        .header(ACCEPT, "*/*")
        .header(CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("request: {e}"))?;
    let exchange = async move {
        let res = sender
            .send_request(req)
            .await
            .map_err(|e| error_reason("request", &e, host))?;
        let status = res.status();
        let location = res
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        read_at_most(res.into_body(), MAX_BODY)
            .await
            .map_err(|e| error_reason("reading the body", &e, host))?;
        // The rest of the body is dropped with the connection, unread.
        Ok((status, location))
    };
    // The connection is driven here, not spawned: dropping the run drops everything.
    let mut exchange = pin!(exchange);
    let mut conn = pin!(conn);
    tokio::select! {
        result = &mut exchange => result,
        closed = &mut conn => match closed {
            Err(e) => Err(error_reason("connection", &e, host)),
            Ok(()) => exchange.await,
        },
    }
}

/// Reads a body until `limit` bytes have come (or it ends) and answers how many bytes were
/// taken off the connection: at most `limit` plus one frame, and a frame is at most one read
/// buffer.
pub(crate) async fn read_at_most<B>(body: B, limit: usize) -> Result<usize, B::Error>
where
    B: http_body::Body<Data = Bytes>,
{
    let mut body = pin!(body);
    let mut read = 0;
    while read < limit {
        match body.frame().await {
            Some(Ok(frame)) => read += frame.data_ref().map_or(0, Bytes::len),
            Some(Err(e)) => return Err(e),
            None => break,
        }
    }
    Ok(read)
}

/// kubelet's rule: `200 <= status < 400` passes.
fn judge(a: &Answer) -> Result<(), String> {
    if (200..400).contains(&a.status.as_u16()) {
        return Ok(());
    }
    match a.redirects {
        0 => Err(format!("status {}", a.status)),
        1 => Err(format!("status {} at {} after 1 redirect", a.status, a.at)),
        n => Err(format!(
            "status {} at {} after {n} redirects",
            a.status, a.at
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(url: &str) -> Target {
        Target::parse(url, SCHEMES, "").expect("valid")
    }

    #[test]
    fn locations_resolve_as_a_browser_resolves_them() {
        let b = base("http://h:8080/a/healthz?x=1");
        let shown = |l: &str| follow(&b, l).map(|t| t.shown.to_string());
        assert_eq!(shown("/login").as_deref(), Some("http://h:8080/login"));
        assert_eq!(shown("login").as_deref(), Some("http://h:8080/a/login"));
        assert_eq!(shown("//other:81/x").as_deref(), Some("http://other:81/x"));
        assert_eq!(
            shown("http://h/x?t=SECRET").as_deref(),
            Some("http://h:80/x")
        );
        assert_eq!(shown("ftp://h/x"), None);
    }

    #[test]
    fn the_verdict_is_kubelets_and_names_the_status_only() {
        let judged = |code: u16| {
            judge(&Answer {
                status: StatusCode::from_u16(code).expect("code"),
                redirects: 0,
                at: "".into(),
            })
        };
        for pass in [200, 204, 301, 302, 304, 399] {
            assert_eq!(judged(pass), Ok(()), "{pass}");
        }
        for fail in [100, 199, 400, 404, 500, 503] {
            assert!(judged(fail).is_err(), "{fail}");
        }
        assert_eq!(judged(503), Err("status 503 Service Unavailable".into()));
    }

    #[tokio::test]
    async fn the_body_limit_counts_bytes_and_no_frame_is_larger_than_a_read_buffer() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        // A server that sends a 1 MiB body in one write.
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr");
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.expect("accept");
            let mut buf = [0; 1024];
            let _ = s.read(&mut buf).await;
            let mut answer = b"HTTP/1.1 200 OK\r\ncontent-length: 1048576\r\n\r\n".to_vec();
            answer.extend(std::iter::repeat_n(b'x', 1 << 20));
            let _ = s.write_all(&answer).await;
        });
        let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
            .max_buf_size(READ_BUFFER)
            .handshake::<_, Empty<Bytes>>(TokioIo::new(tcp))
            .await
            .expect("handshake");
        tokio::spawn(conn);
        let res = sender
            .send_request(Request::get("/").body(Empty::new()).expect("request"))
            .await
            .expect("answer");
        let read = read_at_most(res.into_body(), MAX_BODY).await.expect("body");
        // Before: a frame was as large as hyper's ~400 KB buffer, and counted whole.
        assert!(
            (MAX_BODY..MAX_BODY + READ_BUFFER).contains(&read),
            "{read} bytes taken off the connection"
        );
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn a_failure_names_the_url_what_went_wrong_and_the_time() {
        // Nothing listens on a port of a freed listener.
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        drop(l);
        let check = HttpCheck::new(&format!("http://{addr}/x?token=SECRET")).expect("valid");
        let reason = check
            .check()
            .await
            .expect_err("refused")
            .reason()
            .to_owned();
        assert_eq!(
            reason,
            format!("GET http://{addr}/x: connect: connection refused after 0 ms")
        );
        assert!(!format!("{check:?}").contains("SECRET"));
    }
}
