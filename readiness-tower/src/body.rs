//! Response bodies: the inner service's own body type when it can carry a probe's answer
//! ([`ProbeBody`]), else the [`ResponseBody`] enum.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use http::Response;
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Full};
use pin_project_lite::pin_project;
use tower_service::Service;

/// A response body type the layer can write a probe's answer in, so that the layered service
/// returns the inner service's own body type and needs no mapping.
///
/// Implemented for the bodies tower stacks use: axum's `Body` (feature `axum`), tonic's `Body`
/// (feature `tonic`, on by `grpc`), [`Full`], `BoxBody` and `UnsyncBoxBody` of `Bytes`,
/// `String`, and [`ResponseBody`]. For another body, implement it, or use
/// [`ReadinessLayer::any_body`](crate::ReadinessLayer::any_body).
///
/// ```
/// use bytes::Bytes;
/// use readiness_tower::ProbeBody;
///
/// struct MyBody(Vec<u8>);
///
/// impl ProbeBody for MyBody {
///     fn from_probe(answer: Bytes) -> Self {
///         MyBody(answer.to_vec())
///     }
/// }
/// ```
pub trait ProbeBody: Sized {
    /// A body holding a probe's answer (text, JSON or the Prometheus exposition; empty for
    /// `HEAD`).
    fn from_probe(answer: Bytes) -> Self;

    /// A body carrying the `/metrics` exposition as it is produced, chunk by chunk (feature
    /// `prometheus`). The default renders it all at once into [`from_probe`](Self::from_probe),
    /// for bodies that cannot stream (`Full`, `String`); the layer's own implementations for
    /// axum's and tonic's bodies, the boxed bodies and [`ResponseBody`] stream it.
    #[cfg(feature = "prometheus")]
    #[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
    fn from_metrics(body: crate::MetricsBody) -> Self {
        Self::from_probe(body.collect_now())
    }
}

impl<D: Buf + From<Bytes>> ProbeBody for Full<D> {
    fn from_probe(answer: Bytes) -> Self {
        Full::new(D::from(answer))
    }
}

impl ProbeBody for String {
    fn from_probe(answer: Bytes) -> Self {
        // Every answer the layer writes is UTF-8.
        String::from_utf8_lossy(&answer).into_owned()
    }
}

/// `BoxBody` and `UnsyncBoxBody` of `Bytes`: the answer, or the exposition as it streams, boxed
/// with the one method `$boxed` that differs between them.
macro_rules! boxed_probe_body {
    ($body:ident, $boxed:ident) => {
        impl<E: 'static> ProbeBody for http_body_util::combinators::$body<Bytes, E> {
            fn from_probe(answer: Bytes) -> Self {
                Full::new(answer)
                    .map_err(|never: Infallible| match never {})
                    .$boxed()
            }

            #[cfg(feature = "prometheus")]
            fn from_metrics(body: crate::MetricsBody) -> Self {
                body.map_err(|never: Infallible| match never {}).$boxed()
            }
        }
    };
}

boxed_probe_body!(BoxBody, boxed);
boxed_probe_body!(UnsyncBoxBody, boxed_unsync);

/// axum 0.8's body (`axum::body::Body`, which is `axum_core::body::Body`).
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
impl ProbeBody for axum_core::body::Body {
    fn from_probe(answer: Bytes) -> Self {
        axum_core::body::Body::from(answer)
    }

    #[cfg(feature = "prometheus")]
    fn from_metrics(body: crate::MetricsBody) -> Self {
        axum_core::body::Body::new(body)
    }
}

/// tonic 0.14's body, what `tonic::transport::Server::builder().layer(..)` wraps.
#[cfg(feature = "tonic")]
#[cfg_attr(docsrs, doc(cfg(feature = "tonic")))]
impl ProbeBody for tonic::body::Body {
    fn from_probe(answer: Bytes) -> Self {
        tonic::body::Body::new(Full::new(answer))
    }

    #[cfg(feature = "prometheus")]
    fn from_metrics(body: crate::MetricsBody) -> Self {
        tonic::body::Body::new(body)
    }
}

impl<B> ProbeBody for ResponseBody<B> {
    fn from_probe(answer: Bytes) -> Self {
        ResponseBody::probe(answer)
    }

    #[cfg(feature = "prometheus")]
    fn from_metrics(body: crate::MetricsBody) -> Self {
        Self {
            kind: Kind::Metrics { body },
        }
    }
}

/// What [`ResponseBody`] streams for `/metrics`.
#[cfg(feature = "prometheus")]
type Metrics = crate::MetricsBody;

#[cfg(feature = "prometheus")]
fn metrics_into<B: ProbeBody>(body: Metrics) -> B {
    B::from_metrics(body)
}

/// Without feature `prometheus` there is no `/metrics`: `Kind::Metrics` is never made, and
/// this empty body only keeps the enum one shape in every feature set.
#[cfg(not(feature = "prometheus"))]
type Metrics = http_body_util::Empty<Bytes>;

#[cfg(not(feature = "prometheus"))]
fn metrics_into<B: ProbeBody>(_: Metrics) -> B {
    B::from_probe(Bytes::new())
}

pin_project! {
    /// A probe's answer or an inner body passed through as it is: the response body of a
    /// layer made with [`ReadinessLayer::any_body`](crate::ReadinessLayer::any_body), for
    /// inner bodies that are not a [`ProbeBody`].
    pub struct ResponseBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        // Boxed, so that the enum fits in the inner body's niche: with axum's 16-byte body the
        // response stays 128 bytes and moving it costs what moving axum's own response costs.
        Probe { data: Option<Box<Bytes>> },
        Inner { #[pin] body: B },
        // The `/metrics` exposition, streamed (itself one box).
        Metrics { body: Metrics },
    }
}

impl<B> ResponseBody<B> {
    pub(crate) fn probe(data: Bytes) -> Self {
        let data = if data.is_empty() {
            None
        } else {
            Some(Box::new(data))
        };
        Self {
            kind: Kind::Probe { data },
        }
    }

    /// The inner service's body, passed through as it is.
    #[inline]
    pub fn new(body: B) -> Self {
        Self {
            kind: Kind::Inner { body },
        }
    }
}

impl<B: ProbeBody> ResponseBody<B> {
    /// The body as the inner service's own body type: the inner body as it is, or the probe's
    /// answer written with [`ProbeBody::from_probe`].
    pub fn into_body(self) -> B {
        match self.kind {
            Kind::Probe { data } => B::from_probe(data.map(|d| *d).unwrap_or_default()),
            Kind::Inner { body } => body,
            Kind::Metrics { body } => metrics_into(body),
        }
    }
}

impl<B> std::fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            Kind::Probe { data } => f.debug_tuple("Probe").field(data).finish(),
            Kind::Inner { .. } => f.debug_tuple("Inner").finish_non_exhaustive(),
            Kind::Metrics { body } => f.debug_tuple("Metrics").field(body).finish(),
        }
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body,
    B::Data: From<Bytes>,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match self.project().kind.project() {
            KindProj::Probe { data } => {
                Poll::Ready(data.take().map(|d| Ok(Frame::data(B::Data::from(*d)))))
            }
            KindProj::Inner { body } => body.poll_frame(cx),
            KindProj::Metrics { body } => Pin::new(body)
                .poll_frame(cx)
                .map(|f| f.map(|f| Ok(f.map_err(|never| match never {})?.map_data(B::Data::from)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Probe { data } => data.is_none(),
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Metrics { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Probe { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            Kind::Inner { body } => body.size_hint(),
            Kind::Metrics { body } => body.size_hint(),
        }
    }
}

/// The inner service of an [`AnyBodyLayer`](crate::AnyBodyLayer) service: wraps each
/// response body in [`ResponseBody`].
#[derive(Clone, Debug)]
pub struct WrapBody<S> {
    inner: S,
}

impl<S> WrapBody<S> {
    pub(crate) fn new(inner: S) -> Self {
        Self { inner }
    }

    inner_service_accessors!();
}

impl<S, Req, B> Service<Req> for WrapBody<S>
where
    S: Service<Req, Response = Response<B>>,
{
    type Response = Response<ResponseBody<B>>;
    type Error = S::Error;
    type Future = WrapBodyFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        WrapBodyFuture {
            future: self.inner.call(req),
        }
    }
}

pin_project! {
    /// Response future of [`WrapBody`].
    #[derive(Debug)]
    pub struct WrapBodyFuture<F> {
        #[pin]
        future: F,
    }
}

impl<F, B, E> Future for WrapBodyFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let res = ready!(self.project().future.poll(cx))?;
        Poll::Ready(Ok(res.map(ResponseBody::new)))
    }
}
