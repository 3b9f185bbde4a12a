//! [`DnsCheck`]: a name resolved by the system resolver.
//!
//! ```text
//! DnsCheck::new("db.internal").min_addresses(2)
//! ```
//!
//! Passes when the name resolves (to the expected addresses, to at least N of them); the
//! reason names the name and what the resolver said (`dns db.internal: failed to lookup
//! address information: Name or service not known`) or what was missing.

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use readiness_core::{Check, CheckFailure, CheckFuture};

use crate::resolve::Resolver;

/// Resolves a host name with the system resolver (`getaddrinfo`, so `/etc/hosts`,
/// `nsswitch.conf` and the search domains apply, as for the application's own connections),
/// inside the run.
///
/// The lookup runs on tokio's blocking pool (as tokio's `lookup_host` does), at most one in
/// flight per check: a resolver that hangs holds one thread, the run ends at the engine's
/// timeout, and later runs fail at once with `the previous call has not returned yet` until
/// the lookup returns. (The pure-Rust `hickory-resolver` would be cancellable, but it is not
/// the system's resolver: no `nsswitch.conf`, no NSS modules.)
///
/// ```
/// use readiness_checks::DnsCheck;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use readiness_core::Check;
/// let local = DnsCheck::new("localhost").expect_addresses(["127.0.0.1".parse().unwrap()]);
/// assert_eq!(local.check().await, Ok(()));
/// let missing = DnsCheck::new("no-such-host.invalid");
/// assert!(missing.check().await.is_err());
/// # }
/// ```
pub struct DnsCheck {
    name: Arc<str>,
    expected: BTreeSet<IpAddr>,
    min: usize,
    resolver: Resolver,
}

impl fmt::Debug for DnsCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DnsCheck")
            .field("name", &self.name)
            .field("expected", &self.expected)
            .field("min", &self.min)
            .finish()
    }
}

impl DnsCheck {
    /// A check that `name` resolves to at least one address.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into().into(),
            expected: BTreeSet::new(),
            min: 1,
            resolver: Resolver::new(),
        }
    }

    /// Also require each of these addresses among the answers.
    pub fn expect_addresses(mut self, addresses: impl IntoIterator<Item = IpAddr>) -> Self {
        self.expected.extend(addresses);
        self
    }

    /// Require at least `n` distinct addresses (default 1).
    pub fn min_addresses(mut self, n: usize) -> Self {
        self.min = n.max(1);
        self
    }

    /// The name this check resolves.
    pub fn name(&self) -> &str {
        &self.name
    }

    async fn run(&self) -> Result<(), String> {
        let what = format!("dns {}", self.name);
        let found: BTreeSet<IpAddr> = self
            .resolver
            .resolve(&self.name, 0)
            .await
            .map_err(
                |e| match e.strip_prefix(&format!("resolve {}: ", self.name)) {
                    Some(rest) => format!("{what}: {rest}"),
                    None => format!("{what}: {e}"),
                },
            )?
            .into_iter()
            .map(|a| a.ip())
            .collect();
        let missing: Vec<String> = self
            .expected
            .difference(&found)
            .map(ToString::to_string)
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "{what}: {} not among the {} address(es) resolved",
                missing.join(", "),
                found.len()
            ));
        }
        if found.len() < self.min {
            return Err(format!(
                "{what}: {} address(es), fewer than {}",
                found.len(),
                self.min
            ));
        }
        Ok(())
    }
}

impl Check for DnsCheck {
    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move { self.run().await.map_err(CheckFailure::new) })
    }
}
