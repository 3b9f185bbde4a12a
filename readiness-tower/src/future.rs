//! The response future: a probe answer ready at once, or the inner service's call, made once
//! the inner service is ready.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use tower_service::Service;

pin_project! {
    /// Response future of [`ReadinessService`](crate::ReadinessService).
    pub struct ResponseFuture<S, R>
    where
        S: Service<R>,
    {
        #[pin]
        kind: Kind<S, R>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<S, R>
    where
        S: Service<R>,
    {
        Inner { #[pin] future: S::Future },
        Ready { response: Option<Result<S::Response, S::Error>> },
        // The inner service was not ready: this clone of it waits for its own readiness here,
        // in the request's future, and is called once ready. Boxed: the common case (ready at
        // once) keeps the future small.
        Waiting { pending: Option<Box<(S, R)>> },
    }
}

impl<S: Service<R>, R> ResponseFuture<S, R> {
    #[inline]
    pub(crate) fn inner(future: S::Future) -> Self {
        Self {
            kind: Kind::Inner { future },
        }
    }

    pub(crate) fn ready(response: Result<S::Response, S::Error>) -> Self {
        Self {
            kind: Kind::Ready {
                response: Some(response),
            },
        }
    }

    pub(crate) fn waiting(service: S, request: R) -> Self {
        Self {
            kind: Kind::Waiting {
                pending: Some(Box::new((service, request))),
            },
        }
    }
}

impl<S: Service<R>, R> Future for ResponseFuture<S, R> {
    type Output = Result<S::Response, S::Error>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut kind = self.project().kind;
        loop {
            match kind.as_mut().project() {
                KindProj::Inner { future } => return future.poll(cx),
                KindProj::Ready { response } => {
                    return Poll::Ready(
                        response
                            .take()
                            .expect("ResponseFuture polled after completion"),
                    );
                }
                KindProj::Waiting { pending } => {
                    let (service, _) = &mut **pending
                        .as_mut()
                        .expect("ResponseFuture polled after completion");
                    if let Err(e) = ready!(service.poll_ready(cx)) {
                        *pending = None;
                        return Poll::Ready(Err(e));
                    }
                    let (mut service, request) = *pending
                        .take()
                        .expect("ResponseFuture polled after completion");
                    let future = service.call(request);
                    kind.set(Kind::Inner { future });
                }
            }
        }
    }
}

impl<S: Service<R>, R> std::fmt::Debug for ResponseFuture<S, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
