//! [`ReadinessService`]: routes probe paths to the engine's snapshot, everything else inward.

use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use readiness_core::Kind;
use tower_service::Service;

use crate::accept;
use crate::body::ProbeBody;
use crate::config::{Config, Details, ProbeRequest, State, TenantFrom};
use crate::future::ResponseFuture;
use crate::query::ProbeQuery;
use crate::render::{self, Entry, Probe};

const TEXT: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
const JSON: HeaderValue = HeaderValue::from_static("application/json");
/// A Prometheus text exposition (`/metrics`, `/metrics/slis`).
pub(crate) const EXPOSITION: HeaderValue =
    HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8");
const NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");
const NO_STORE: HeaderValue = HeaderValue::from_static("no-store");
const ALLOW: HeaderValue = HeaderValue::from_static("GET, HEAD");

/// Middleware that answers probe requests from the engine's snapshot and passes every other
/// request to the inner service unchanged. Made by [`ReadinessLayer`](crate::ReadinessLayer).
///
/// It is always ready (`poll_ready` answers `Ready` at once), so a probe never waits behind
/// the application: a request for the inner service waits for the inner service's own
/// readiness inside its response future instead. When the inner service is ready at once (the
/// common case) it is called directly; when it is not (a saturated concurrency limit, a full
/// buffer), the service moves into that request's future to wait there and a clone takes its
/// place, so the next probe still answers at once. This is the clone-and-swap pattern of
/// tower's `Service` docs, and the reason the inner service must be `Clone`.
#[derive(Clone)]
pub struct ReadinessService<S> {
    inner: S,
    state: Arc<State>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for ReadinessService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadinessService")
            .field("inner", &self.inner)
            .field("engine", &self.state.engine)
            .finish_non_exhaustive()
    }
}

/// Where a request goes.
enum Route<'a> {
    Probe(Probe),
    Check(&'a str),
    Tenant(&'a str),
    Audit,
    Slis,
    #[cfg(feature = "prometheus")]
    Metrics,
}

impl Config {
    #[inline]
    fn route<'p>(&self, path: &'p str) -> Option<Route<'p>> {
        // Most requests are not probes: a bit test on the path's length rules out every
        // exact path at once, before any string compare.
        let len = path.len();
        let exact = if len < 128 {
            (self.lengths >> len) & 1 == 1
        } else {
            self.long_paths
        };
        if exact && let Some(route) = self.exact_route(path) {
            return Some(route);
        }
        if let Some(readyz) = self.readyz.as_deref()
            && len > readyz.len() + 1
            && path.as_bytes()[readyz.len()] == b'/'
            && path.starts_with(readyz)
        {
            let rest = &path[readyz.len() + 1..];
            return Some(match rest.strip_prefix("tenants/") {
                Some(id) => Route::Tenant(id),
                None => Route::Check(rest),
            });
        }
        None
    }

    fn exact_route(&self, path: &str) -> Option<Route<'static>> {
        let is = |p: &Option<Box<str>>| p.as_deref() == Some(path);
        if is(&self.readyz) {
            return Some(Route::Probe(Probe::Readyz));
        }
        if is(&self.livez) {
            return Some(Route::Probe(Probe::Livez));
        }
        if is(&self.healthz) {
            return Some(Route::Probe(Probe::Healthz));
        }
        if is(&self.startupz) {
            return Some(Route::Probe(Probe::Startupz));
        }
        #[cfg(feature = "prometheus")]
        if self.prometheus.is_some() && is(&self.metrics_path) {
            return Some(Route::Metrics);
        }
        if is(&self.audit_path) {
            return Some(Route::Audit);
        }
        if self.slis && is(&self.slis_path) {
            return Some(Route::Slis);
        }
        None
    }
}

impl<S> ReadinessService<S> {
    pub(crate) fn new(inner: S, state: Arc<State>) -> Self {
        Self { inner, state }
    }

    inner_service_accessors!();

    fn answer<B: ProbeBody, ReqBody>(
        &self,
        route: Route<'_>,
        req: &Request<ReqBody>,
    ) -> Response<B> {
        let head = match *req.method() {
            Method::GET => false,
            Method::HEAD => true,
            _ => {
                let mut res = plain(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method not allowed\n",
                    false,
                );
                res.headers_mut().insert(header::ALLOW, ALLOW);
                return res;
            }
        };
        #[cfg(feature = "prometheus")]
        if let Route::Metrics = route {
            return self.metrics(req, head);
        }
        if let Route::Audit = route {
            let body = render::audit_json(&self.state.engine.load().auditor());
            return respond(StatusCode::OK, body.into(), true, head);
        }
        if let Route::Slis = route {
            let body = self
                .state
                .slis
                .as_ref()
                .map(|s| s.render())
                .unwrap_or_default();
            return exposition(body, head);
        }
        let engine = self.state.engine.load();
        let mut query = ProbeQuery::parse(req.uri().query());
        query.json |= accept::prefers_json(req.headers());
        if let Route::Tenant(id) = route {
            if readiness_core::validate_name(id).is_err() {
                // The id is not echoed: request input stays out of the answer.
                return plain(
                    StatusCode::BAD_REQUEST,
                    "bad request: malformed tenant id\n",
                    head,
                );
            }
            let Some(tenant) = engine.tenant(id) else {
                return plain(StatusCode::NOT_FOUND, "not found: no such tenant\n", head);
            };
            let entries = render::tenant_entries(&tenant);
            let details = self.details(req);
            let answer = render::render("readyz", &entries, &query, details, false);
            return respond(answer.status, answer.body, answer.json, head);
        }
        if let Route::Check(_) = route {
            // One check's own path answers that check: `exclude` is the aggregate's option,
            // and excluding the check would turn its failure into a 200.
            query.exclude.clear();
        }
        let snap = engine.snapshot();
        let (probe, latched, entries) = match route {
            Route::Probe(probe) => {
                if let Some(slis) = &self.state.slis {
                    // What the probe evaluates, once per request, as kube-apiserver observes.
                    slis.observe(probe, &snap, &query.exclude);
                }
                let plain_ok = !query.verbose && !query.json && query.exclude.is_empty();
                let (ok, latched) = match probe {
                    Probe::Readyz => (snap.is_ready(), false),
                    Probe::Livez | Probe::Healthz => (snap.is_live(), false),
                    Probe::Startupz => (snap.is_started(), snap.is_started()),
                };
                if plain_ok && ok {
                    // The common answer: no rendering, no allocation for the body.
                    return plain(StatusCode::OK, "ok", head);
                }
                (probe, latched, render::entries(probe, &snap))
            }
            Route::Check(readiness_core::SHUTDOWN_ENTRY) => {
                // The drain entry has its own path, as kube-apiserver's `/readyz/shutdown`.
                let e = render::shutdown_entry(snap.is_draining());
                (Probe::Readyz, false, vec![e])
            }
            Route::Check(name) => match snap.check(name) {
                Some(c) if c.kind() == Kind::Readiness => {
                    // Asked about one check, its own failure is the answer, critical or not.
                    let mut e = Entry::of(c);
                    e.critical = true;
                    (Probe::Readyz, false, vec![e])
                }
                Some(c) if c.kind() == Kind::Startup => {
                    // `/readyz?verbose` lists a startup check until startup completes; after
                    // that it holds nothing back, so it reads as latched, as `/startupz` does.
                    (Probe::Readyz, snap.is_started(), vec![Entry::of(c)])
                }
                _ => return plain(StatusCode::NOT_FOUND, "not found: no such check\n", head),
            },
            #[cfg(feature = "prometheus")]
            Route::Metrics => unreachable!("answered above"),
            Route::Audit | Route::Slis | Route::Tenant(_) => unreachable!("answered above"),
        };
        let details = self.details(req);
        let answer = render::render(probe.word(), &entries, &query, details, latched);
        respond(answer.status, answer.body, answer.json, head)
    }

    fn details<ReqBody>(&self, req: &Request<ReqBody>) -> bool {
        match &self.state.config.details {
            Details::Never => false,
            Details::Always => true,
            Details::If(f) => f(&ProbeRequest::of(req)),
        }
    }

    /// The shed answer for a request of a registered tenant that is not ready, if any.
    fn shed<B: ProbeBody, ReqBody>(
        &self,
        from: &TenantFrom,
        req: &Request<ReqBody>,
    ) -> Option<Response<B>> {
        let head = req.method() == Method::HEAD;
        let tenant = match from {
            TenantFrom::Header(name) => req.headers().get(name)?.to_str().ok()?,
            TenantFrom::With(f) => {
                let view = ProbeRequest::of(req);
                // The closure borrows from `view`, which lives only here: decide inside.
                let id = f(&view)?;
                return self.shed_answer(id, head);
            }
        };
        self.shed_answer(tenant, head)
    }

    fn shed_answer<B: ProbeBody>(&self, tenant: &str, head: bool) -> Option<Response<B>> {
        // The tenant's own checks decide, not the instance: a draining instance keeps serving
        // every tenant until it stops (that is what the drain delay is for).
        if self.state.engine.load().tenant_checks_pass(tenant)? {
            return None;
        }
        let mut res = plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "service unavailable: tenant not ready\n",
            head,
        );
        res.headers_mut()
            .insert(header::RETRY_AFTER, self.state.config.retry_after.clone());
        Some(res)
    }

    #[cfg(feature = "prometheus")]
    fn metrics<B: ProbeBody, ReqBody>(&self, req: &Request<ReqBody>, head: bool) -> Response<B> {
        let Some(handle) = &self.state.config.prometheus else {
            return plain(StatusCode::NOT_FOUND, "not found\n", head);
        };
        crate::scrape::answer(&self.state.engine.load(), handle, req.headers(), head)
    }
}

/// A Prometheus text exposition.
fn exposition<B: ProbeBody>(body: String, head: bool) -> Response<B> {
    let mut res = respond(StatusCode::OK, body.into(), false, head);
    res.headers_mut().insert(header::CONTENT_TYPE, EXPOSITION);
    res
}

fn plain<B: ProbeBody>(status: StatusCode, body: &'static str, head: bool) -> Response<B> {
    respond(status, Bytes::from_static(body.as_bytes()), false, head)
}

fn respond<B: ProbeBody>(status: StatusCode, body: Bytes, json: bool, head: bool) -> Response<B> {
    let body = if head { Bytes::new() } else { body };
    let mut res = Response::new(B::from_probe(body));
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, if json { JSON } else { TEXT });
    h.insert(header::X_CONTENT_TYPE_OPTIONS, NOSNIFF);
    h.insert(header::CACHE_CONTROL, NO_STORE);
    res
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ReadinessService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    ResBody: ProbeBody,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, Request<ReqBody>>;

    /// Always ready: a probe never waits for the inner service (see the type's docs).
    #[inline]
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    #[inline]
    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        match self.state.config.route(req.uri().path()) {
            None => {
                if let Some(from) = &self.state.config.shed
                    && let Some(res) = self.shed(from, &req)
                {
                    return ResponseFuture::ready(Ok(res));
                }
                self.call_inner(req)
            }
            Some(route) => ResponseFuture::ready(Ok(self.answer(route, &req))),
        }
    }
}

impl<S: Clone> ReadinessService<S> {
    /// Call the inner service once it is ready, without making the caller wait for it.
    #[inline]
    fn call_inner<R>(&mut self, req: R) -> ResponseFuture<S, R>
    where
        S: Service<R>,
    {
        // Ask without a waker: if the answer is `Pending`, this very service (with whatever
        // it has reserved) moves into the request's future, which polls it again with the
        // request's own waker; a fresh clone stays here for the next request.
        match self
            .inner
            .poll_ready(&mut Context::from_waker(Waker::noop()))
        {
            Poll::Ready(Ok(())) => ResponseFuture::inner(self.inner.call(req)),
            Poll::Ready(Err(e)) => ResponseFuture::ready(Err(e)),
            Poll::Pending => {
                let clone = self.inner.clone();
                ResponseFuture::waiting(std::mem::replace(&mut self.inner, clone), req)
            }
        }
    }
}
