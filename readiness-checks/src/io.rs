//! The connection a check speaks over: TCP, or TLS over TCP, opened within the run (names
//! resolved through the check's bounded [`Resolver`]).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::reason;
use crate::resolve::Resolver;
use crate::target::Target;

/// A connection, plain or TLS.
pub(crate) enum Io {
    Plain(TcpStream),
    #[cfg(feature = "tls")]
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

/// TLS settings for one connection: the client configuration (with its ALPN).
#[cfg(feature = "tls")]
pub(crate) type Tls = std::sync::Arc<rustls::ClientConfig>;
/// Without feature `tls` there is nothing to configure.
#[cfg(not(feature = "tls"))]
pub(crate) type Tls = std::convert::Infallible;

/// A connection to `target`: resolved, connected, and with `tls` shaken hands, each step
/// bounded by the run's deadline.
pub(crate) async fn connect(
    resolver: &Resolver,
    target: &Target,
    tls: Option<&Tls>,
    started: Instant,
) -> Result<Io, String> {
    let tcp = reason::step(
        "connect",
        started,
        resolver.connect(target.hostname(), target.port),
    )
    .await?;
    match tls {
        None => Ok(Io::Plain(tcp)),
        #[cfg(feature = "tls")]
        Some(config) => crate::tls::handshake(config.clone(), target.hostname(), tcp, started)
            .await
            .map(|s| Io::Tls(Box::new(s))),
        #[cfg(not(feature = "tls"))]
        Some(never) => match *never {},
    }
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            #[cfg(feature = "tls")]
            Self::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            #[cfg(feature = "tls")]
            Self::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            #[cfg(feature = "tls")]
            Self::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            #[cfg(feature = "tls")]
            Self::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// The reason for an error of a request over a connection: the TLS failure in its chain if
/// there is one (a server that refuses our client certificate says so only after the
/// handshake), else `{what}: {error}`.
#[cfg(feature = "http")]
pub(crate) fn error_reason(
    what: &str,
    e: &(dyn std::error::Error + 'static),
    host: &str,
) -> String {
    tls_describe(e, host).unwrap_or_else(|| format!("{what}: {e}"))
}

/// The TLS failure in an error's chain, if any (never with feature `tls` off).
#[cfg_attr(not(any(feature = "http", feature = "grpc")), allow(dead_code))]
pub(crate) fn tls_describe(_e: &(dyn std::error::Error + 'static), _host: &str) -> Option<String> {
    #[cfg(feature = "tls")]
    return crate::tls::describe(_e, _host);
    #[cfg(not(feature = "tls"))]
    None
}
