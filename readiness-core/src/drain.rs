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
