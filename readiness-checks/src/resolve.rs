//! Host names resolved inside the run, with the system resolver, bounded: see [`Bounded`].

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use crate::bounded::Bounded;

/// The blocking lookup: the system resolver (`getaddrinfo`), as tokio's `lookup_host` uses.
type Lookup = fn(&str, u16) -> io::Result<Vec<SocketAddr>>;

fn system(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    (host, port).to_socket_addrs().map(Iterator::collect)
}

/// One check's resolver: the system's, at most one lookup in flight.
#[derive(Clone)]
pub(crate) struct Resolver {
    bounded: Bounded,
    lookup: Lookup,
}

/// The lookup is a function pointer (an address, nothing to read): left out.
impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver")
            .field("bounded", &self.bounded)
            .finish_non_exhaustive()
    }
}

impl Resolver {
    pub(crate) fn new() -> Self {
        Self {
            bounded: Bounded::new(),
            lookup: system,
        }
    }

    #[cfg(test)]
    pub(crate) fn with_lookup(lookup: Lookup) -> Self {
        Self {
            bounded: Bounded::new(),
            lookup,
        }
    }

    /// The addresses of `host` (an IP literal is its own address, with or without brackets).
    pub(crate) async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        let what = format!("resolve {host}");
        let (name, lookup) = (host.to_owned(), self.lookup);
        let found = self
            .bounded
            .run(&what, move || lookup(&name, port))
            .await?
            .map_err(|e| format!("{what}: {e}"))?;
        if found.is_empty() {
            return Err(format!("{what}: no addresses"));
        }
        Ok(found)
    }

    #[cfg(tcp_client)]
    /// A TCP connection to `host:port`: each address in turn until one answers.
    pub(crate) async fn connect(
        &self,
        host: &str,
        port: u16,
    ) -> Result<tokio::net::TcpStream, String> {
        let mut last = None;
        for addr in self.resolve(host, port).await? {
            match tokio::net::TcpStream::connect(addr).await {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    return Ok(s);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(match last {
            Some(e) => format!("connect: {}", crate::reason::io(&e)),
            None => "connect: no addresses".to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::time::Duration;

    static STARTED: AtomicUsize = AtomicUsize::new(0);
    static RELEASED: AtomicBool = AtomicBool::new(false);

    /// A resolver that hangs until the test releases it (10 s at most: a bound on the test).
    fn hung(_: &str, _: u16) -> io::Result<Vec<SocketAddr>> {
        STARTED.fetch_add(1, Ordering::SeqCst);
        for _ in 0..10_000 {
            if RELEASED.load(Ordering::SeqCst) {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Err(io::Error::other("gave up"))
    }

    #[cfg(feature = "tcp")]
    #[tokio::test(flavor = "current_thread")]
    async fn a_hung_resolver_holds_one_thread_however_many_runs_time_out() {
        use futures_util::FutureExt;
        // Before: every run's lookup went to a new blocking thread that outlived the run.
        let resolver = Resolver::with_lookup(hung);
        let mut reasons = Vec::new();
        for _ in 0..20 {
            // Polled once, then dropped: what the engine's timeout does to a run.
            if let Some(r) = resolver.connect("db.internal", 5432).now_or_never() {
                reasons.push(r.expect_err("no answer"));
            }
        }
        for _ in 0..10_000 {
            if STARTED.load(Ordering::SeqCst) > 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(STARTED.load(Ordering::SeqCst), 1, "{reasons:?}");
        assert_eq!(reasons.len(), 19);
        assert!(
            reasons.iter().all(|r| r
                == "resolve db.internal: the previous call has not returned yet (hung?); not starting another"),
            "{reasons:?}"
        );
        RELEASED.store(true, Ordering::SeqCst);
    }

    #[tokio::test]
    async fn literals_need_no_lookup_and_localhost_resolves() {
        let r = Resolver::new();
        assert_eq!(
            r.resolve("[::1]", 80).await,
            Ok(vec!["[::1]:80".parse().expect("addr")])
        );
        assert!(
            !r.resolve("localhost", 80)
                .await
                .expect("resolves")
                .is_empty()
        );
        let reason = r
            .resolve("no-such-host.invalid", 80)
            .await
            .expect_err("RFC 6761: .invalid never resolves");
        assert!(
            reason.starts_with("resolve no-such-host.invalid: "),
            "{reason}"
        );
    }
}
