//! [`ReadinessLayer`] and its builder: which probe paths to answer, and how.

use std::sync::Arc;

use readiness_core::Engine;
use tower_layer::Layer;

use crate::body::WrapBody;
use crate::config::{Config, Details, Endpoint, LayerError, ProbeRequest, State, TenantFrom};
use crate::service::ReadinessService;
use crate::slis::Slis;
use crate::source::EngineSource;

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
/// A probe never waits for the inner service: the layered service is always ready, and only
/// a request for the inner service waits for the inner service's own readiness. So a
/// saturated `ConcurrencyLimit`, a full `Buffer` or an exhausted rate limit inside still
/// pushes back on business traffic, while `/livez` and `/readyz` answer at once.
///
/// The responses have the inner service's own body type when it can carry a probe's answer
/// ([`ProbeBody`](crate::ProbeBody): axum's `Body`, `Full<Bytes>`, tonic's body, `String`,
/// boxed bodies), so `axum::serve`, hyper-util and tonic's `Server` take the layered service as
/// it is. For any other body use [`any_body`](Self::any_body).
///
/// Put it outermost, so probes skip the application's own tracing, metrics and routing.
///
/// # Example
///
/// ```
/// use readiness_tower::{Engine, ReadinessLayer, check_fn};
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
/// let layer = ReadinessLayer::builder(engine).show_details(true).build()?;
/// let svc = ServiceBuilder::new().layer(layer).service(app);
///
/// let res = svc.oneshot(Request::get("/readyz?verbose").body(String::new())?).await?;
/// assert_eq!(res.status(), 200);
/// assert_eq!(res.into_body(), "[+]db ok\nreadyz check passed\n");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ReadinessLayer {
    state: Arc<State>,
}

impl std::fmt::Debug for ReadinessLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadinessLayer")
            .field("engine", &self.state.engine)
            .finish_non_exhaustive()
    }
}

impl ReadinessLayer {
    /// A layer serving `engine`'s state at the default paths, with reasons withheld. `engine`
    /// is an [`Engine`] or a [`ReloadableEngine`](readiness_core::ReloadableEngine), whose
    /// reloads the layer follows from the next request on.
    pub fn new(engine: impl Into<EngineSource>) -> Self {
        Self {
            state: Arc::new(State {
                engine: engine.into(),
                config: Config::default(),
                slis: None,
            }),
        }
    }

    /// Configure a layer: paths, details, `/metrics`, shedding. Problems are typed errors
    /// returned by [`ReadinessLayerBuilder::build`].
    pub fn builder(engine: impl Into<EngineSource>) -> ReadinessLayerBuilder {
        ReadinessLayerBuilder {
            engine: engine.into(),
            config: Config::default(),
        }
    }

    /// The engine this layer serves now (after a reload, the new one).
    pub fn engine(&self) -> Engine {
        self.state.engine.current()
    }

    /// The same layer for an inner service whose body cannot carry a probe's answer (it is
    /// not a [`ProbeBody`](crate::ProbeBody), for example hyper's `Incoming` passed through):
    /// responses then carry [`ResponseBody<B>`](crate::ResponseBody), either the probe's
    /// answer or the inner body untouched.
    ///
    /// ```
    /// use readiness_tower::{Engine, ReadinessLayer, ResponseBody};
    /// use tower::{ServiceBuilder, ServiceExt, service_fn};
    /// use http::{Request, Response};
    /// use http_body_util::Empty;
    /// use bytes::Bytes;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let engine = Engine::builder().build()?;
    /// // `Empty` cannot hold a probe's answer: wrap it.
    /// let app = service_fn(|_req: Request<()>| async {
    ///     Ok::<_, std::convert::Infallible>(Response::new(Empty::<Bytes>::new()))
    /// });
    /// let svc = ServiceBuilder::new()
    ///     .layer(ReadinessLayer::new(engine).any_body())
    ///     .service(app);
    /// let res: Response<ResponseBody<Empty<Bytes>>> =
    ///     svc.oneshot(Request::get("/livez").body(())?).await?;
    /// assert_eq!(res.status(), 200);
    /// # Ok(()) }
    /// ```
    pub fn any_body(self) -> AnyBodyLayer {
        AnyBodyLayer { layer: self }
    }
}

impl<S> Layer<S> for ReadinessLayer {
    type Service = ReadinessService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ReadinessService::new(inner, self.state.clone())
    }
}

/// [`ReadinessLayer::any_body`]: the layer for inner bodies that cannot carry a probe's
/// answer; responses carry [`ResponseBody<B>`](crate::ResponseBody).
#[derive(Clone, Debug)]
pub struct AnyBodyLayer {
    layer: ReadinessLayer,
}

impl<S> Layer<S> for AnyBodyLayer {
    type Service = ReadinessService<WrapBody<S>>;

    fn layer(&self, inner: S) -> Self::Service {
        self.layer.layer(WrapBody::new(inner))
    }
}

/// Builds a [`ReadinessLayer`]; see [`ReadinessLayer::builder`].
///
/// The order of the calls does not matter; [`build`](Self::build) checks the final paths.
///
/// ```
/// use readiness_tower::{Endpoint, Engine, LayerError, ReadinessLayer};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let engine = Engine::builder().build()?;
/// let layer = ReadinessLayer::builder(engine.clone())
///     .path(Endpoint::Readyz, "/-/ready")
///     .disable(Endpoint::Healthz)
///     .show_details_if(|req| req.headers().contains_key("x-debug-token"))
///     .build()?;
/// # let _ = layer;
///
/// let err = ReadinessLayer::builder(engine)
///     .path(Endpoint::Livez, "/readyz")
///     .build()
///     .unwrap_err();
/// assert!(matches!(err, LayerError::DuplicatePath { .. }));
/// # Ok(()) }
/// ```
pub struct ReadinessLayerBuilder {
    engine: EngineSource,
    config: Config,
}

impl std::fmt::Debug for ReadinessLayerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadinessLayerBuilder")
            .field("engine", &self.engine)
            .finish_non_exhaustive()
    }
}

impl ReadinessLayerBuilder {
    /// Serve `endpoint` at `path` instead of its default. The path must start with `/`, have
    /// no query, and differ from every other endpoint's; [`build`](Self::build) says which
    /// rule a path breaks.
    pub fn path(mut self, endpoint: Endpoint, path: impl Into<String>) -> Self {
        *self.config.slot(endpoint) = Some(path.into().into());
        self
    }

    /// Do not answer `endpoint`: its requests go to the inner service.
    pub fn disable(mut self, endpoint: Endpoint) -> Self {
        *self.config.slot(endpoint) = None;
        self
    }

    /// Show failure reasons to every request (`true`) or to none (`false`, the default).
    ///
    /// Withheld reasons read `reason withheld`, as kube-apiserver writes. The engine logs
    /// every reason with `tracing` when a check changes state, so with details withheld a
    /// reason reaches only a `tracing` subscriber: install one (for example
    /// `tracing_subscriber::fmt::init()`) or the reason is seen nowhere.
    pub fn show_details(mut self, show: bool) -> Self {
        self.config.details = if show {
            Details::Always
        } else {
            Details::Never
        };
        self
    }

    /// Show failure reasons only to requests the predicate accepts.
    ///
    /// ```
    /// # use readiness_tower::ReadinessLayerBuilder;
    /// # fn f(layer: ReadinessLayerBuilder) -> ReadinessLayerBuilder {
    /// layer.show_details_if(|req| req.headers().contains_key("x-debug-token"))
    /// # }
    /// ```
    pub fn show_details_if(
        mut self,
        predicate: impl Fn(&ProbeRequest<'_>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.config.details = Details::If(Arc::new(predicate));
        self
    }

    /// Also answer `GET /metrics` (or the path set for [`Endpoint::Metrics`]) with the
    /// Prometheus exposition of `handle` (its upkeep run first), followed by the per-tenant
    /// families rendered from the engine's state
    /// ([`TenantMetricsExport::Collector`](readiness_core::TenantMetricsExport::Collector), the
    /// default; series of those names in the recorder are left out, so a family appears once).
    ///
    /// The body is produced in chunks of about 32 KiB while the tenants are walked
    /// ([`MetricsBody`](crate::MetricsBody); bodies that cannot stream, `Full` and `String`, get
    /// the whole text), gzip-compressed when the request's `Accept-Encoding` takes gzip (as
    /// Prometheus's always does), with `Vary: Accept-Encoding`. `HEAD` answers the headers and
    /// renders nothing. A scrape holds no lock while its body is read: probes, results and
    /// `add_tenant` carry on, whatever the scraper's pace.
    ///
    /// Take `metrics-exporter-prometheus = { version = "0.18", default-features = false }`:
    /// rendering through a handle needs none of its HTTP-listener or push features.
    #[cfg(feature = "prometheus")]
    #[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
    pub fn metrics(mut self, handle: metrics_exporter_prometheus::PrometheusHandle) -> Self {
        self.config.prometheus = Some(handle);
        self
    }

    /// Serve the auditors' JSON view (every scope's checks and the bounded transition log,
    /// reasons included) at `path`, for example `/debug/readiness`. Off by default: put it
    /// behind your own access control.
    pub fn audit_endpoint(mut self, path: impl Into<String>) -> Self {
        self.config.audit_path = Some(path.into().into());
        self
    }

    /// Serve Kubernetes' health SLIs at `/metrics/slis` (or the path set for
    /// [`Endpoint::Slis`]), as kube-apiserver, the scheduler and the kubelet do (component-base
    /// `metrics/prometheus/slis`, stable since Kubernetes 1.29), so that dashboards and agents
    /// built for Kubernetes components read the application unchanged. Off by default.
    ///
    /// | name | type | labels |
    /// |---|---|---|
    /// | `kubernetes_healthcheck` | gauge: 1 success / 0 error at the latest probe | `name`, `type` |
    /// | `kubernetes_healthchecks_total` | counter | `name`, `type`, `status` = `success` / `error` |
    /// | `process_start_time_seconds` | gauge: the process's start, unix seconds | none |
    ///
    /// `type` is the probe that evaluated the check: `livez`, `readyz` or `healthz` (whatever
    /// their paths are configured to). As kube-apiserver's handler does, each request to one of
    /// them observes every check it evaluates once (`[+]` success, `[-]` error; `shutdown`
    /// while draining); checks it excludes are not observed, and nothing else moves the
    /// values: not a check's run, not `/readyz/{check}`, not `/startupz` (kube-apiserver has
    /// none), not a tenant's probe (`name` is only ever an instance check's, never a tenant's
    /// or a request's). A series appears at its first observation. The series are the
    /// layer's own (no recorder needed) and render from its own counters at each scrape.
    ///
    /// ```
    /// use readiness_tower::{Engine, ReadinessLayer, check_fn};
    /// use tower::{ServiceBuilder, ServiceExt, service_fn};
    /// use http::{Request, Response};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let engine = Engine::builder()
    ///     .without_heartbeat()
    ///     .readiness("db", check_fn(|| async { Ok::<(), std::io::Error>(()) }))
    ///     .build()?;
    /// engine.refresh().await?;
    /// let layer = ReadinessLayer::builder(engine).health_slis(true).build()?;
    /// let app = service_fn(|_req: Request<String>| async {
    ///     Ok::<_, std::convert::Infallible>(Response::new(String::new()))
    /// });
    /// let svc = ServiceBuilder::new().layer(layer).service(app);
    /// let get = |uri| Request::get(uri).body(String::new()).unwrap();
    ///
    /// svc.clone().oneshot(get("/readyz")).await?;
    /// let body = svc.oneshot(get("/metrics/slis")).await?.into_body();
    /// assert!(body.contains("kubernetes_healthcheck{name=\"db\",type=\"readyz\"} 1\n"));
    /// assert!(body.contains("kubernetes_healthchecks_total{name=\"db\",status=\"success\",type=\"readyz\"} 1\n"));
    /// # Ok(()) }
    /// ```
    pub fn health_slis(mut self, enabled: bool) -> Self {
        self.config.slis = enabled;
        self
    }

    /// Shed the traffic of a tenant that is not ready: a request naming a registered tenant
    /// in `header` whose own critical checks fail gets 503 with `Retry-After`, and never
    /// reaches the inner service; every other request (other tenants, unknown or malformed
    /// ids, no header) is served. Probes are never shed. The instance's own state does not
    /// shed anything: while it drains, every tenant is still served until the process stops.
    pub fn shed_tenants_by_header(mut self, header: http::HeaderName) -> Self {
        self.config.shed = Some(TenantFrom::Header(header));
        self
    }

    /// Shed the traffic of a tenant that is not ready, taking the tenant from the request
    /// with `tenant` (for example from the host name or a path segment).
    ///
    /// ```
    /// # use readiness_tower::ReadinessLayerBuilder;
    /// # fn f(layer: ReadinessLayerBuilder) -> ReadinessLayerBuilder {
    /// layer.shed_tenants_with(|req| req.uri().host()?.split('.').next())
    /// # }
    /// ```
    pub fn shed_tenants_with(
        mut self,
        tenant: impl for<'a> Fn(&'a ProbeRequest<'a>) -> Option<&'a str> + Send + Sync + 'static,
    ) -> Self {
        self.config.shed = Some(TenantFrom::With(Arc::new(tenant)));
        self
    }

    /// The `Retry-After` seconds of a shed answer (default 5), whichever order it is called
    /// in relative to the `shed_tenants_*` methods.
    pub fn retry_after(mut self, seconds: u32) -> Self {
        self.config.retry_after = http::HeaderValue::from(seconds);
        self
    }

    /// Check the configuration and make the layer.
    ///
    /// # Errors
    ///
    /// A [`LayerError`] for an empty path, a path without a leading `/` or with a query, or two
    /// endpoints at the same path.
    pub fn build(self) -> Result<ReadinessLayer, LayerError> {
        let config = self.config.finish()?;
        Ok(ReadinessLayer {
            state: Arc::new(State {
                engine: self.engine,
                slis: config.slis.then(Slis::new),
                config,
            }),
        })
    }
}
