//! [`sigterm_or_ctrl_c`]: the signal a graceful shutdown waits for.

use std::future::Future;

/// Resolves at the first SIGTERM (what Kubernetes sends to stop a pod) or Ctrl-C (SIGINT),
/// whichever comes first; where there is no SIGTERM (Windows), at Ctrl-C. The signal future
/// for [`Engine::drain_on`](crate::Engine::drain_on):
///
/// ```no_run
/// # async fn f(engine: readiness_core::Engine) {
/// use std::time::Duration;
/// let shutdown = engine.drain_on(readiness_core::sigterm_or_ctrl_c(), Duration::from_secs(35));
/// // axum::serve(listener, app).with_graceful_shutdown(shutdown).await?;
/// # shutdown.await;
/// # }
/// ```
///
/// The SIGTERM handler is installed when this is called (inside a tokio runtime with its I/O
/// driver, as `#[tokio::main]` gives), so a signal that comes before the future is first polled
/// is not missed. A handler that cannot be installed is logged once and never resolves the
/// future: a server never stops because a handler failed, only because a signal came.
///
/// Once installed, tokio keeps the handlers for the process's life: a second SIGTERM or Ctrl-C
/// while [`drain_on`](crate::Engine::drain_on) waits out its delay is caught and does nothing.
/// To let a second one cut the drain short, race the server against the next signal.
pub fn sigterm_or_ctrl_c() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|error| {
            tracing::warn!(target: "readiness", %error, "no SIGTERM handler: only Ctrl-C stops the server");
        })
        .ok();
    async move {
        let ctrl_c = async {
            if let Err(error) = tokio::signal::ctrl_c().await {
                tracing::warn!(target: "readiness", %error, "no Ctrl-C handler: only SIGTERM stops the server");
                std::future::pending::<()>().await;
            }
        };
        #[cfg(unix)]
        {
            let sigterm = async {
                match term {
                    Some(mut term) => {
                        term.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = sigterm => tracing::info!(target: "readiness", "SIGTERM"),
                () = ctrl_c => tracing::info!(target: "readiness", "Ctrl-C"),
            }
        }
        #[cfg(not(unix))]
        {
            ctrl_c.await;
            tracing::info!(target: "readiness", "Ctrl-C");
        }
    }
}
