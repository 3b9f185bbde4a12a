//! The response body: a probe's answer or the inner service's body, untouched.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

pin_project! {
    /// Response body of [`ReadinessService`](crate::ReadinessService): either a probe's
    /// answer or the inner service's body, passed through as it is.
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

    #[inline]
    pub(crate) fn inner(body: B) -> Self {
        Self {
            kind: Kind::Inner { body },
        }
    }
}

impl<B: From<Bytes>> ResponseBody<B> {
    /// The body as the inner service's own body type: the inner body as it is, or the probe's
    /// answer converted with `From<Bytes>`. No allocation for the inner body.
    ///
    /// `axum::serve` wants `axum::response::Response` itself; map the layered service's
    /// responses with this, outside the layer:
    ///
    /// ```
    /// use axum::{Router, body::Body, response::Response, routing::get};
    /// use readiness_tower::{ReadinessLayer, ResponseBody};
    /// use tower::ServiceBuilder;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let engine = readiness_core::Engine::builder().build()?;
    /// let router: Router = Router::new().route("/", get(|| async { "hello" }));
    /// let app = ServiceBuilder::new()
    ///     .map_response(|res: Response<ResponseBody<Body>>| res.map(ResponseBody::into_body))
    ///     .layer(ReadinessLayer::new(engine))
    ///     .service(router);
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let server = axum::serve(listener, tower::make::Shared::new(app));
    /// # drop(server);
    /// # Ok(()) }
    /// ```
    pub fn into_body(self) -> B {
        match self.kind {
            Kind::Probe { data } => B::from(data.map(|d| *d).unwrap_or_default()),
            Kind::Inner { body } => body,
        }
    }
}

impl<B> std::fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            Kind::Probe { data } => f.debug_tuple("Probe").field(data).finish(),
            Kind::Inner { .. } => f.debug_tuple("Inner").finish_non_exhaustive(),
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
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Probe { data } => data.is_none(),
            Kind::Inner { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Probe { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            Kind::Inner { body } => body.size_hint(),
        }
    }
}
