//! SIGTERM and Ctrl-C: the first starts the drain, a second one cuts it short.

use std::process::ExitCode;
use std::time::Duration;

use readiness_core::ReloadableEngine;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::server::App;

/// SIGTERM and Ctrl-C (SIGINT), as a stream: the first starts the drain, a second one cuts it
/// short. Registered before the server starts, so neither ever kills the process outright.
pub(crate) struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hup: Option<tokio::signal::unix::Signal>,
}

/// `SIGHUP`s, for the reload (none where there is no SIGHUP).
pub(crate) struct Hangups {
    #[cfg(unix)]
    hup: Option<tokio::signal::unix::Signal>,
}

impl Hangups {
    /// The next `SIGHUP`; `false` when none can come.
    pub(crate) async fn next(&mut self) -> bool {
        #[cfg(unix)]
        if let Some(hup) = &mut self.hup {
            return hup.recv().await.is_some();
        }
        false
    }
}

impl Signals {
    pub(crate) fn new() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                term: signal(SignalKind::terminate())?,
                int: signal(SignalKind::interrupt())?,
                // Registered before serving: an unhandled SIGHUP would end the process.
                hup: Some(signal(SignalKind::hangup())?),
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    /// The `SIGHUP` stream, for the reload task.
    pub(crate) fn hangups(&mut self) -> Hangups {
        Hangups {
            #[cfg(unix)]
            hup: self.hup.take(),
        }
    }

    pub(crate) async fn next(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
        #[cfg(not(unix))]
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Serves `app` on `listener` until the drain is over: the first signal starts the drain
/// (readiness 503 at once, serving for the delay, then the servers stop: the gRPC one when
/// the engine closes); a second one cuts it short (exit 1). After the drain delay,
/// connections still open get the shutdown timeout to finish.
pub(crate) async fn serve_until_drained(
    engine: &ReloadableEngine,
    mut signals: Signals,
    listener: TcpListener,
    app: App,
    grpc: Option<JoinHandle<Result<(), tonic::transport::Error>>>,
    drain_delay: Duration,
    shutdown_timeout: Duration,
) -> ExitCode {
    let (first_tx, first_rx) = tokio::sync::oneshot::channel::<()>();
    let second_signal = async move {
        signals.next().await;
        let _ = first_tx.send(());
        signals.next().await;
    };
    let shutdown = engine.drain_on(
        async move {
            let _ = first_rx.await;
        },
        drain_delay,
    );
    let serve = async {
        let served = axum::serve(listener, tower::make::Shared::new(app))
            .with_graceful_shutdown(shutdown)
            .await;
        if let Some(g) = grpc
            && let Ok(Err(e)) = g.await
        {
            eprintln!("demo: grpc server: {e}");
        }
        served
    };
    // axum::serve sets hyper no header read timeout, so a client that sent half a request
    // head would hold the graceful shutdown open for good (until the kubelet's SIGKILL).
    let cut_off = {
        let closed = engine.closed();
        async move {
            closed.await;
            tokio::time::sleep(shutdown_timeout).await;
            tracing::warn!(
                "connections still open {shutdown_timeout:?} after the drain delay: closing them"
            );
        }
    };
    let served = tokio::select! {
        served = serve => served,
        () = cut_off => Ok(()),
        () = second_signal => {
            eprintln!("demo: second signal during the drain: drain cut short, exiting with status 1");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = served {
        eprintln!("demo: server: {e}");
        return ExitCode::FAILURE;
    }
    engine.shutdown().await;
    tracing::info!("stopped");
    ExitCode::SUCCESS
}
