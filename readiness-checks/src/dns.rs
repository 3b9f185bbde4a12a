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
#[derive(Debug)]
pub struct DnsCheck {
    name: Arc<str>,
    expected: BTreeSet<IpAddr>,
    min: usize,
    resolver: Resolver,
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

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::time::Duration;

    use readiness_core::{CheckSpec, Engine};

    use super::*;

    static STARTED: AtomicUsize = AtomicUsize::new(0);
    static RELEASED: AtomicBool = AtomicBool::new(false);

    /// A name that never resolves: the lookup hangs until the test releases it (30 s at most,
    /// a bound on the test).
    fn never(_: &str, _: u16) -> std::io::Result<Vec<SocketAddr>> {
        STARTED.fetch_add(1, Ordering::SeqCst);
        for _ in 0..30_000 {
            if RELEASED.load(Ordering::SeqCst) {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Err(std::io::Error::other("gave up"))
    }

    fn count(dir: &str) -> usize {
        std::fs::read_dir(dir).map_or(0, |d| d.count())
    }

    /// Issue 24's hostile dependencies, the one the integration tests cannot stage: 1,000 runs
    /// against a name that never resolves each end within the timeout with a reason, and hold
    /// one blocked thread in all; descriptors, threads and tasks end where they started. (The
    /// real clock: a blocking call in flight keeps the paused clock from moving.)
    #[tokio::test(flavor = "current_thread")]
    async fn a_thousand_runs_against_a_name_that_never_resolves_hold_one_thread() {
        let mut check = DnsCheck::new("db.internal");
        check.resolver = Resolver::with_lookup(never);
        let timeout = Duration::from_millis(200);
        let engine = Engine::builder()
            .without_heartbeat()
            .check(
                CheckSpec::readiness("dns", check)
                    .timeout(timeout)
                    .period(Duration::from_secs(3600)),
            )
            .build()
            .expect("valid");
        let tasks = || {
            tokio::runtime::Handle::current()
                .metrics()
                .num_alive_tasks()
        };
        let before = (count("/proc/self/fd"), count("/proc/self/task"), tasks());
        let mut reasons = std::collections::BTreeSet::new();
        for _ in 0..1_000 {
            let started = std::time::Instant::now();
            engine.refresh().await.expect("runs");
            assert!(started.elapsed() < timeout * 5, "{:?}", started.elapsed());
            let snap = engine.snapshot();
            reasons.insert(
                snap.check("dns")
                    .and_then(|c| c.reason())
                    .expect("failing")
                    .to_owned(),
            );
        }
        let after = (count("/proc/self/fd"), count("/proc/self/task"), tasks());
        RELEASED.store(true, Ordering::SeqCst);
        assert_eq!(STARTED.load(Ordering::SeqCst), 1, "one lookup in flight");
        assert_eq!(
            reasons.into_iter().collect::<Vec<_>>(),
            [
                "dns db.internal: the previous call has not returned yet (hung?); not starting another",
                "timed out after 200ms",
            ]
        );
        assert!(after.0 <= before.0, "descriptors {before:?} -> {after:?}");
        assert!(
            after.1 <= before.1 + 1,
            "one blocked thread: {before:?} -> {after:?}"
        );
        assert!(after.2 <= before.2, "tasks {before:?} -> {after:?}");
    }
}
