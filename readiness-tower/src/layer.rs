//! [`ReadinessLayer`]: which probe paths to answer, and how.

use std::sync::Arc;

use http::{Extensions, HeaderMap, Method, Uri};
use readiness_core::Engine;
use tower_layer::Layer;

use crate::service::ReadinessService;

/// A probe endpoint whose path can be changed or which can be switched off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// `/livez`: liveness only.
    Livez,
    /// `/healthz`: the same as `/livez`, under kube-apiserver's older name.
    Healthz,
    /// `/readyz`, with `/readyz/{check}` and `/readyz/tenants/{tenant}` below it.
    Readyz,
    /// `/startupz`.
    Startupz,
    /// `/metrics` (feature `prometheus`, after [`ReadinessLayer::metrics`]).
    Metrics,
    /// The auditors' JSON view, off unless [`ReadinessLayer::audit_endpoint`] is called.
    Audit,
}

/// What a details predicate sees of a probe request.
#[derive(Debug)]
pub struct ProbeRequest<'a> {
    pub(crate) method: &'a Method,
    pub(crate) uri: &'a Uri,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) extensions: &'a Extensions,
}

impl ProbeRequest<'_> {
    /// The request method.
    pub fn method(&self) -> &Method {
        self.method
    }
    /// The request URI.
    pub fn uri(&self) -> &Uri {
        self.uri
    }
    /// The request headers.
    pub fn headers(&self) -> &HeaderMap {
        self.headers
    }
    /// The request extensions (for example a peer address set by the server).
    pub fn extensions(&self) -> &Extensions {
        self.extensions
    }
}

type DetailsFn = dyn Fn(&ProbeRequest<'_>) -> bool + Send + Sync;
type TenantFn = dyn for<'a> Fn(&'a ProbeRequest<'a>) -> Option<&'a str> + Send + Sync;

/// Where the shedding layer finds a request's tenant.
#[derive(Clone)]
pub(crate) enum TenantFrom {
    Header(http::HeaderName),
    With(Arc<TenantFn>),
}

#[derive(Clone)]
pub(crate) struct Shed {
    pub(crate) from: TenantFrom,
    pub(crate) retry_after: http::HeaderValue,
}

#[derive(Clone)]
pub(crate) enum Details {
    Never,
    Always,
    If(Arc<DetailsFn>),
}

#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) livez: Option<Box<str>>,
    pub(crate) healthz: Option<Box<str>>,
    pub(crate) readyz: Option<Box<str>>,
    pub(crate) startupz: Option<Box<str>>,
    pub(crate) metrics_path: Option<Box<str>>,
    pub(crate) audit_path: Option<Box<str>>,
    /// Bit `n` set: some exact probe path is `n` bytes long (see `Config::reindex`).
    pub(crate) lengths: u128,
    /// Some exact probe path is 128 bytes or longer.
    pub(crate) long_paths: bool,
    pub(crate) details: Details,
    pub(crate) shed: Option<Shed>,
    #[cfg(feature = "prometheus")]
    pub(crate) prometheus: Option<metrics_exporter_prometheus::PrometheusHandle>,
}

impl Default for Config {
    fn default() -> Self {
        let mut c = Self {
            livez: Some("/livez".into()),
            healthz: Some("/healthz".into()),
            readyz: Some("/readyz".into()),
            startupz: Some("/startupz".into()),
            metrics_path: Some("/metrics".into()),
            audit_path: None,
            lengths: 0,
            long_paths: false,
            details: Details::Never,
            shed: None,
            #[cfg(feature = "prometheus")]
            prometheus: None,
        };
        c.reindex();
        c
    }
}

impl Config {
    /// Recompute the length index of the exact paths; called after every path change.
    pub(crate) fn reindex(&mut self) {
        self.lengths = 0;
        self.long_paths = false;
        for p in [
            &self.livez,
            &self.healthz,
            &self.readyz,
            &self.startupz,
            &self.metrics_path,
            &self.audit_path,
        ]
        .into_iter()
        .flatten()
        {
            if p.len() < 128 {
                self.lengths |= 1 << p.len();
            } else {
                self.long_paths = true;
            }
        }
    }

    fn slot(&mut self, endpoint: Endpoint) -> &mut Option<Box<str>> {
        match endpoint {
            Endpoint::Livez => &mut self.livez,
            Endpoint::Healthz => &mut self.healthz,
            Endpoint::Readyz => &mut self.readyz,
            Endpoint::Startupz => &mut self.startupz,
            Endpoint::Metrics => &mut self.metrics_path,
            Endpoint::Audit => &mut self.audit_path,
        }
    }
}

/// Serves Kubernetes-style probes in front of any tower service, in kube-apiserver's formats.
///
/// Answers only these exact paths (the query string is ignored for matching); every other
/// request goes to the inner service untouched:
///
/// | path | answers |
/// |---|---|
/// | `/livez`, `/healthz` | liveness only: 200 unless a liveness check fails |
/// | `/readyz` | 200 when every critical readiness check passes and the instance is not draining, else 503 |
/// | `/readyz/{check}` | that one check; 404 for an unknown name |
/// | `/startupz` | 503 until startup, then 200 for good |
/// | `/readyz/tenants/{tenant}` | the tenant's readiness; 404 unknown tenant, 400 malformed id |
///
/// Put it outermost, so probes skip the application's own tracing, metrics and routing.
///
/// # Example
///
/// ```
/// use readiness_core::{check_fn, Engine};
/// use readiness_tower::ReadinessLayer;
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
/// use http::{Request, Response};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let engine = Engine::builder()
///     .readiness("db", check_fn(|| async { Ok::<(), std::io::Error>(()) }))
///     .build()?;
/// engine.refresh().await?;
///
/// let app = service_fn(|_req: Request<String>| async {
///     Ok::<_, std::convert::Infallible>(Response::new(String::from("hello")))
/// });
/// let svc = ServiceBuilder::new()
///     .layer(ReadinessLayer::new(engine).show_details(true))
///     .service(app);
///
/// let res = svc.oneshot(Request::get("/readyz?verbose").body(String::new())?).await?;
/// assert_eq!(res.status(), 200);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ReadinessLayer {
    state: Arc<State>,
}

/// What a layer and its services share: one `Arc`, so a service clone is one reference count.
#[derive(Clone)]
pub(crate) struct State {
    pub(crate) engine: Engine,
    pub(crate) config: Config,
}

impl std::fmt::Debug for ReadinessLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadinessLayer")
            .field("engine", &self.state.engine)
            .finish_non_exhaustive()
    }
}

impl ReadinessLayer {
    /// A layer serving `engine`'s state at the default paths, with reasons withheld.
    pub fn new(engine: Engine) -> Self {
        Self {
            state: Arc::new(State {
                engine,
                config: Config::default(),
            }),
        }
    }

    /// Serve `endpoint` at `path` instead of its default. A path without a leading `/` gets one.
    pub fn path(mut self, endpoint: Endpoint, path: impl Into<String>) -> Self {
        let mut path = path.into();
        if !path.starts_with('/') {
            path.insert(0, '/');
        }
        let config = self.config_mut();
        *config.slot(endpoint) = Some(path.into());
        config.reindex();
        self
    }

    /// Do not answer `endpoint`: its requests go to the inner service.
    pub fn disable(mut self, endpoint: Endpoint) -> Self {
        let config = self.config_mut();
        *config.slot(endpoint) = None;
        config.reindex();
        self
    }

    /// Show failure reasons to every request (`true`) or to none (`false`, the default: they
    /// read `reason withheld`, as kube-apiserver writes, and go to the log).
    pub fn show_details(mut self, show: bool) -> Self {
        self.config_mut().details = if show {
            Details::Always
        } else {
            Details::Never
        };
        self
    }

    /// Show failure reasons only to requests the predicate accepts.
    ///
    /// ```
    /// # use readiness_tower::ReadinessLayer;
    /// # fn f(layer: ReadinessLayer) -> ReadinessLayer {
    /// layer.show_details_if(|req| req.headers().contains_key("x-debug-token"))
    /// # }
    /// ```
    pub fn show_details_if(
        mut self,
        predicate: impl Fn(&ProbeRequest<'_>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.config_mut().details = Details::If(Arc::new(predicate));
        self
    }

    /// Also answer `GET /metrics` (or the path set for [`Endpoint::Metrics`]) with the
    /// Prometheus exposition of `handle`, running its upkeep first.
    #[cfg(feature = "prometheus")]
    pub fn metrics(mut self, handle: metrics_exporter_prometheus::PrometheusHandle) -> Self {
        self.config_mut().prometheus = Some(handle);
        self
    }

    /// Serve the auditors' JSON view (every scope's checks and the bounded transition log,
    /// reasons included) at `path`, for example `/debug/readiness`. Off by default: put it
    /// behind your own access control.
    pub fn audit_endpoint(mut self, path: impl Into<String>) -> Self {
        let mut path = path.into();
        if !path.starts_with('/') {
            path.insert(0, '/');
        }
        let config = self.config_mut();
        config.audit_path = Some(path.into());
        config.reindex();
        self
    }

    /// Shed the traffic of a tenant that is not ready: a request naming a registered tenant
    /// in `header` whose own critical checks fail gets 503 with `Retry-After`, and never
    /// reaches the inner service; every other request (other tenants, unknown or malformed
    /// ids, no header) is served. Probes are never shed. The instance's own state does not
    /// shed anything: while it drains, every tenant is still served until the process stops.
    pub fn shed_tenants_by_header(mut self, header: http::HeaderName) -> Self {
        self.config_mut().shed = Some(Shed {
            from: TenantFrom::Header(header),
            retry_after: http::HeaderValue::from_static("5"),
        });
        self
    }

    /// Shed the traffic of a tenant that is not ready, taking the tenant from the request
    /// with `tenant` (for example from the host name or a path segment).
    ///
    /// ```
    /// # use readiness_tower::ReadinessLayer;
    /// # fn f(layer: ReadinessLayer) -> ReadinessLayer {
    /// layer.shed_tenants_with(|req| req.uri().host()?.split('.').next())
    /// # }
    /// ```
    pub fn shed_tenants_with(
        mut self,
        tenant: impl for<'a> Fn(&'a ProbeRequest<'a>) -> Option<&'a str> + Send + Sync + 'static,
    ) -> Self {
        self.config_mut().shed = Some(Shed {
            from: TenantFrom::With(Arc::new(tenant)),
            retry_after: http::HeaderValue::from_static("5"),
        });
        self
    }

    /// The `Retry-After` seconds of a shed answer (default 5). Has effect after one of the
    /// `shed_tenants_*` methods.
    pub fn retry_after(mut self, seconds: u32) -> Self {
        if let Some(shed) = &mut self.config_mut().shed {
            shed.retry_after = http::HeaderValue::from(seconds);
        }
        self
    }

    /// The engine this layer serves.
    pub fn engine(&self) -> &Engine {
        &self.state.engine
    }

    fn config_mut(&mut self) -> &mut Config {
        &mut Arc::make_mut(&mut self.state).config
    }
}

impl<S> Layer<S> for ReadinessLayer {
    type Service = ReadinessService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ReadinessService::new(inner, self.state.clone())
    }
}
