//! The one connection of a data check's own: opened with the application's configuration (its
//! pool's connector, or the check's URL), kept across runs, reopened when it breaks.
//!
//! This is how the data checks tell a busy database from a down one: the probe never waits on
//! the application's pool (whose connections business traffic may hold for minutes), so a pool
//! that is merely busy cannot fail it; a server that refuses, errors or does not answer fails
//! the probe on this connection, or the reconnect, within the run's timeout.

use std::future::Future;
use std::pin::Pin;

use readiness_core::{CheckFailure, CheckResult};

/// A boxed, sendable future (what the adapters return).
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A connection the check owns.
pub(crate) trait OwnConn: Send + 'static {
    /// The client already knows the connection is gone (no round trip).
    fn is_broken(&self) -> bool {
        false
    }
    /// One probe (`SELECT 1`, `COM_PING`, `PING`): `Ok` when the server answered as it should.
    fn probe(&mut self) -> BoxFuture<'_, CheckResult>;
}

/// Opens a connection of the check's own (never one of the application's pooled ones).
pub(crate) trait Open: Send + Sync + 'static {
    /// Opens one.
    fn open(&self) -> BoxFuture<'_, Result<Box<dyn OwnConn>, CheckFailure>>;
}

/// The connection slot: at most one connection, used by one run at a time.
pub(crate) struct OwnConnection {
    open: Box<dyn Open>,
    slot: tokio::sync::Mutex<Option<Box<dyn OwnConn>>>,
}

impl OwnConnection {
    pub(crate) fn new(open: impl Open) -> Self {
        Self {
            open: Box::new(open),
            slot: tokio::sync::Mutex::new(None),
        }
    }

    /// One run: the kept connection if it is still there, else a new one; a kept connection
    /// whose probe fails is replaced once within the run (a server that restarted since the last
    /// run passes at once), and the fresh connection's answer is the run's. A run cut off by its
    /// timeout drops its connection with it: the next run opens a new one.
    pub(crate) async fn run(&self) -> CheckResult {
        // Held for the whole run: two runs never open two connections.
        let mut slot = self.slot.lock().await;
        if let Some(mut conn) = slot.take()
            && !conn.is_broken()
            && conn.probe().await.is_ok()
        {
            *slot = Some(conn);
            return Ok(());
        }
        let mut conn = self.open.open().await?;
        conn.probe().await?;
        *slot = Some(conn);
        Ok(())
    }
}

/// The task that drives a connection of the check's own (its socket's I/O), aborted when
/// dropped: a connection that holds it as its first field ends its task with it.
#[cfg(any(feature = "postgres", feature = "redis"))]
pub(crate) struct Driver(tokio::task::JoinHandle<()>);

#[cfg(any(feature = "postgres", feature = "redis"))]
impl Driver {
    /// `driver` spawned on the runtime.
    pub(crate) fn spawn(driver: impl Future<Output = ()> + Send + 'static) -> Self {
        Self(tokio::spawn(driver))
    }

    /// The task has ended: the connection it drove is gone.
    #[cfg(feature = "redis")]
    pub(crate) fn is_finished(&self) -> bool {
        self.0.is_finished()
    }
}

#[cfg(any(feature = "postgres", feature = "redis"))]
impl Drop for Driver {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A failure met while opening a connection, in the shared vocabulary: an I/O error reads
/// `connect: connection refused` (as the TCP and HTTP checks say it); a server's answer (a
/// refused password, an unknown database) reads as it is.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) fn connecting(failure: CheckFailure, io: bool) -> CheckFailure {
    if io {
        CheckFailure::new(format!("connect: {}", failure.reason()))
    } else {
        failure
    }
}
