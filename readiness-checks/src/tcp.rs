//! [`TcpCheck`]: a TCP connect as a readiness check.
//!
//! ```text
//! TcpCheck::new("127.0.0.1:5432")
//! ```
//!
//! Passes when the connect succeeds; the reason names the address and the connect error
//! (`tcp connect to 127.0.0.1:5432: Connection refused (os error 111)`).

use std::sync::Arc;

use readiness_core::{Check, CheckFailure, CheckFuture};
use tokio::time::Instant;

use crate::reason;
use crate::resolve::Resolver;

/// A check that passes when a TCP connection to an address succeeds.
///
/// The address is resolved on every run (`host:port`), so DNS changes are followed, inside
/// the run with at most one lookup in flight per check (a hung resolver holds one thread, not
/// one per run). The connection is closed at once; nothing is sent.
///
/// ```
/// use readiness_checks::TcpCheck;
/// let db = TcpCheck::new("127.0.0.1:5432");
/// assert_eq!(db.addr(), "127.0.0.1:5432");
/// ```
#[derive(Clone, Debug)]
pub struct TcpCheck {
    addr: Arc<str>,
    resolver: Resolver,
}

impl TcpCheck {
    /// A check of `addr`, written `host:port`.
    pub fn new(addr: impl Into<String>) -> Self {
        Self {
            addr: addr.into().into(),
            resolver: Resolver::new(),
        }
    }

    /// The address this check connects to.
    pub fn addr(&self) -> &str {
        &self.addr
    }
}

impl Check for TcpCheck {
    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move {
            let connect = async {
                let (host, port) = self
                    .addr
                    .rsplit_once(':')
                    .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
                    .ok_or_else(|| "not HOST:PORT".to_owned())?;
                self.resolver.connect(host, port).await.map(drop)
            };
            reason::step("connect", Instant::now(), connect)
                .await
                .map_err(|e| CheckFailure::new(format!("tcp connect to {}: {e}", self.addr)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tcp_check_passes_on_a_listener_and_fails_after_it_closes() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let check = TcpCheck::new(addr.clone());
        assert!(check.check().await.is_ok());
        drop(listener);
        let err = check.check().await.expect_err("closed");
        assert_eq!(
            err.reason(),
            format!("tcp connect to {addr}: connect: connection refused")
        );
    }
}
