//! The shutdown sequence as one future: [`Engine::drain_on`].

use std::future::Future;
use std::time::Duration;

use crate::engine::Engine;

impl Engine {
    /// The whole graceful shutdown as one future, to hand to axum's
    /// `axum::serve(..).with_graceful_shutdown(..)` or tonic's `Server::serve_with_shutdown`:
    ///
    /// 1. waits for `signal` (SIGTERM, Ctrl-C, anything; its output is ignored), and nothing
    ///    drains before it;
    /// 2. calls [`drain`](Self::drain): `/readyz` answers 503 at once (`[-]shutdown failed`),
    ///    liveness stays as it is, `readiness_draining` reads 1;
    /// 3. keeps serving for `delay`, so requests still routed here by load balancers that have
    ///    not caught up yet succeed;
    /// 4. calls [`close`](Self::close) (long-lived streams such as gRPC `Watch` end) and
    ///    resolves: the server stops accepting and finishes its in-flight requests.
    ///
    /// The server's own graceful shutdown is not bounded by this future: `axum::serve` (0.8)
    /// sets hyper no header read timeout, so a client that sent half a request head holds it
    /// open for good. Race the server against [`closed`](Self::closed) plus the longest request
    /// you serve (the README's "Shutdown" shows how).
    ///
    /// When the server has returned, call [`shutdown`](Self::shutdown) to stop the checks.
    /// If the engine is closed some other way first ([`close`](Self::close),
    /// [`shutdown`](Self::shutdown), the last handle dropped), the future resolves at once.
    /// It holds no strong handle while it waits: it never keeps the engine alive.
    ///
    /// It follows reloads: built with [`EngineBuilder::reload_from`](crate::EngineBuilder::reload_from),
    /// the newer engine takes this one's place, so dropping this one does not resolve the
    /// future, the signal drains the engine serving then (and any being built), and the delay
    /// is not restarted. A [`ReloadableEngine`](crate::ReloadableEngine) does the swapping.
    ///
    /// One future per process: when a process runs two servers, give this one to the first and
    /// [`closed`](Self::closed) to the other, which then stops at the same moment. Two
    /// `drain_on` futures on one engine (or one lineage) drain once, and the first delay to end
    /// closes: both resolve then.
    ///
    /// # Choosing the delay
    ///
    /// - `delay` ≥ the readiness probe's `periodSeconds × failureThreshold` + endpoint
    ///   propagation. Kubernetes marks a deleted pod's endpoint terminating at once, but
    ///   kube-proxy, ingress controllers and cloud load balancers learn it late, and whatever
    ///   follows the readiness probe needs that many failed probes. With Kubernetes' default
    ///   probe (10 s × 3) and about 5 s of propagation: 35 s.
    /// - `terminationGracePeriodSeconds` ≥ the `preStop` hook + `delay` + the longest
    ///   in-flight request: the kubelet sends SIGKILL when the grace period is over.
    /// - The last endpoint: when a pod is the last endpoint of its Service (one replica, or
    ///   every pod terminating at once), Kubernetes falls back to terminating endpoints that
    ///   still pass readiness (KEP-1669). A pod that fails readiness at once is dropped too and
    ///   requests are refused for the whole delay, although the pod could still serve them.
    ///   Start the replacement first (`maxSurge: 1`, `maxUnavailable: 0`, a
    ///   PodDisruptionBudget), or, for a single pod, let a `preStop` sleep keep it ready while
    ///   the endpoints change and shorten the delay by as much.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    /// use readiness_core::Engine;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let engine = Engine::builder().build()?;
    /// // In a server: `tokio::signal::ctrl_c()` or a SIGTERM stream as the signal, and
    /// // `axum::serve(listener, app).with_graceful_shutdown(shutdown).await?` as the server.
    /// let (sigterm, signal) = tokio::sync::oneshot::channel::<()>();
    /// let shutdown = engine.drain_on(signal, Duration::from_secs(35));
    /// let server = tokio::spawn(shutdown);
    ///
    /// sigterm.send(()).ok();
    /// tokio::task::yield_now().await;
    /// assert!(engine.is_draining() && !engine.is_ready()); // /readyz answers 503 at once
    /// assert!(!engine.is_closed());                        // still serving for 35 s
    ///
    /// server.await?;                                       // 35 s later
    /// assert!(engine.is_closed());
    /// engine.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub fn drain_on<S>(
        &self,
        signal: S,
        delay: Duration,
    ) -> impl Future<Output = ()> + Send + 'static + use<S>
    where
        S: Future + Send + 'static,
    {
        // The lineage, not this engine: a reload replaces the engine, never the process's
        // shutdown. It holds no engine, so waiting keeps none alive.
        let lineage = self.lineage();
        let closed = lineage.closed();
        async move {
            let mut closed = std::pin::pin!(closed);
            tokio::select! {
                // Closed first: a signal that comes with the close (shutdown racing it) drains
                // and logs nothing.
                biased;
                () = &mut closed => return,
                _ = signal => {}
            }
            if !lineage.alive() {
                return;
            }
            lineage.drain();
            tracing::info!(
                target: "readiness",
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                "shutdown signal: readiness answers 503, serving until the drain delay is over"
            );
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = &mut closed => return,
            }
            if lineage.alive() {
                tracing::info!(target: "readiness", "drain delay over: closing");
                lineage.close();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::sync::oneshot;
    use tokio::time::Instant;

    use crate::{Engine, check_fn};

    const DELAY: Duration = Duration::from_secs(35);

    fn new_engine() -> Engine {
        Engine::builder()
            .readiness("db", check_fn(|| async { Ok::<(), std::io::Error>(()) }))
            .build()
            .expect("valid")
    }

    /// A ready engine and its drain future, spawned: it drains on the signal and closes
    /// `DELAY` later.
    async fn draining_on_signal() -> (Engine, oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
        let engine = new_engine();
        engine.refresh().await.expect("the engine runs");
        let (signal, rx) = oneshot::channel::<()>();
        let shutdown = tokio::spawn(engine.drain_on(rx, DELAY));
        (engine, signal, shutdown)
    }

    async fn settle() {
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn nothing_drains_before_the_signal() {
        let (engine, _signal, shutdown) = draining_on_signal().await;
        tokio::time::sleep(Duration::from_secs(3600)).await;
        settle().await;
        assert!(engine.is_ready() && !engine.is_draining() && !engine.is_closed());
        assert!(!shutdown.is_finished());
        engine.shutdown().await;
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn the_signal_drains_at_once_and_the_future_resolves_after_exactly_the_delay() {
        let (engine, signal, shutdown) = draining_on_signal().await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(engine.is_ready());

        signal.send(()).expect("the future waits");
        let signalled = Instant::now();
        settle().await;
        assert_eq!(signalled.elapsed(), Duration::ZERO);
        assert!(engine.is_draining() && !engine.is_ready(), "503 at once");
        assert!(engine.is_live(), "liveness stays");
        assert!(!engine.is_closed(), "still serving");

        tokio::time::sleep_until(signalled + DELAY - Duration::from_millis(1)).await;
        settle().await;
        assert!(
            !shutdown.is_finished() && !engine.is_closed(),
            "not before the delay"
        );

        shutdown.await.expect("no panic");
        assert_eq!(signalled.elapsed(), DELAY, "exactly the delay");
        assert!(engine.is_closed() && !engine.is_ready());
        engine.shutdown().await;
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn a_zero_delay_closes_right_after_the_drain() {
        let engine = new_engine();
        let (signal, rx) = oneshot::channel::<()>();
        let shutdown = tokio::spawn(engine.drain_on(rx, Duration::ZERO));
        let start = Instant::now();
        signal.send(()).expect("the future waits");
        shutdown.await.expect("no panic");
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert!(engine.is_draining() && engine.is_closed());
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn closing_the_engine_another_way_resolves_it_at_once() {
        // Before the signal: no drain is waited for.
        let engine = new_engine();
        let (_signal, rx) = oneshot::channel::<()>();
        let shutdown = tokio::spawn(engine.drain_on(rx, DELAY));
        let start = Instant::now();
        engine.shutdown().await;
        shutdown.await.expect("no panic");
        assert_eq!(start.elapsed(), Duration::ZERO);

        // During the delay.
        let engine = new_engine();
        let (signal, rx) = oneshot::channel::<()>();
        let shutdown = tokio::spawn(engine.drain_on(rx, DELAY));
        signal.send(()).expect("the future waits");
        settle().await;
        assert!(engine.is_draining());
        let start = Instant::now();
        engine.close();
        shutdown.await.expect("no panic");
        assert_eq!(start.elapsed(), Duration::ZERO);

        // The future holds no strong handle: dropping the engine ends it.
        let engine = new_engine();
        let (_signal, rx) = oneshot::channel::<()>();
        let shutdown = tokio::spawn(engine.drain_on(rx, DELAY));
        drop(engine);
        shutdown.await.expect("no panic");
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn a_delay_that_never_ends_waits_for_close_or_the_engine_to_go() {
        // `Duration::MAX` overflows any deadline arithmetic: it must wait, not panic or fire.
        // (No checks: a year of the paused clock would run them millions of times.)
        let engine = Engine::builder()
            .without_heartbeat()
            .build()
            .expect("valid");
        let (signal, rx) = oneshot::channel::<()>();
        let shutdown = tokio::spawn(engine.drain_on(rx, Duration::MAX));
        signal.send(()).expect("the future waits");
        tokio::time::sleep(Duration::from_secs(365 * 24 * 3600)).await;
        settle().await;
        assert!(engine.is_draining() && !engine.is_closed() && !shutdown.is_finished());
        engine.close();
        shutdown.await.expect("no panic");

        // The engine dropped during the delay: the future holds no strong handle and ends.
        let engine = new_engine();
        let (signal, rx) = oneshot::channel::<()>();
        let shutdown = tokio::spawn(engine.drain_on(rx, Duration::MAX));
        signal.send(()).expect("the future waits");
        settle().await;
        assert!(engine.is_draining());
        let weak = engine.downgrade();
        drop(engine);
        assert!(weak.upgrade().is_none());
        let start = Instant::now();
        shutdown.await.expect("no panic");
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn a_signal_after_the_engine_is_gone_drains_nothing_and_panics_nothing() {
        let engine = new_engine();
        let (signal, rx) = oneshot::channel::<()>();
        let shutdown = engine.drain_on(rx, DELAY);
        drop(engine);
        signal.send(()).expect("the future is alive");
        shutdown.await;
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn the_signal_output_is_ignored() {
        // `ctrl_c()` resolves to an error when no handler can be installed: that is a signal too.
        let engine = new_engine();
        let signal = async { Err::<(), std::io::Error>(std::io::Error::other("no handler")) };
        engine.drain_on(signal, DELAY).await;
        assert!(engine.is_draining() && engine.is_closed());
    }
}
