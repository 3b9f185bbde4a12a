//! What a layer is configured to do: its paths, details, shedding. Validated once, when the
//! layer is built ([`ReadinessLayerBuilder::build`](crate::ReadinessLayerBuilder::build)).

use std::fmt;
use std::sync::Arc;

use http::{Extensions, HeaderMap, Method, Uri};

use crate::source::EngineSource;

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
    /// `/metrics` (feature `prometheus`, after
    /// [`ReadinessLayerBuilder::metrics`](crate::ReadinessLayerBuilder::metrics)).
    Metrics,
    /// The auditors' JSON view, off unless
    /// [`ReadinessLayerBuilder::audit_endpoint`](crate::ReadinessLayerBuilder::audit_endpoint)
    /// is called.
    Audit,
    /// `/metrics/slis`: Kubernetes' health SLIs, off unless
    /// [`ReadinessLayerBuilder::health_slis`](crate::ReadinessLayerBuilder::health_slis) is
    /// called.
    Slis,
}

impl Endpoint {
    const ALL: [Endpoint; 7] = [
        Endpoint::Livez,
        Endpoint::Healthz,
        Endpoint::Readyz,
        Endpoint::Startupz,
        Endpoint::Metrics,
        Endpoint::Audit,
        Endpoint::Slis,
    ];

    /// The endpoint's name as the docs write it: `livez`, `healthz`, `readyz`, `startupz`,
    /// `metrics`, `audit`, `slis`.
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Livez => "livez",
            Endpoint::Healthz => "healthz",
            Endpoint::Readyz => "readyz",
            Endpoint::Startupz => "startupz",
            Endpoint::Metrics => "metrics",
            Endpoint::Audit => "audit",
            Endpoint::Slis => "slis",
        }
    }

    /// The path to suggest for the endpoint: its default (the audit view has none).
    fn default_path(self) -> &'static str {
        match self {
            Endpoint::Livez => "/livez",
            Endpoint::Healthz => "/healthz",
            Endpoint::Readyz => "/readyz",
            Endpoint::Startupz => "/startupz",
            Endpoint::Metrics => "/metrics",
            Endpoint::Audit => "/audit",
            Endpoint::Slis => "/metrics/slis",
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a details predicate or a tenant closure sees of a request.
#[derive(Debug)]
pub struct ProbeRequest<'a> {
    pub(crate) method: &'a Method,
    pub(crate) uri: &'a Uri,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) extensions: &'a Extensions,
}

impl<'a> ProbeRequest<'a> {
    pub(crate) fn of<B>(req: &'a http::Request<B>) -> Self {
        Self {
            method: req.method(),
            uri: req.uri(),
            headers: req.headers(),
            extensions: req.extensions(),
        }
    }

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
pub(crate) enum Details {
    Never,
    Always,
    If(Arc<DetailsFn>),
}

/// Why a layer's configuration was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LayerError {
    /// A path is empty: it would take over the application's own routes.
    EmptyPath {
        /// The endpoint it was given to.
        endpoint: Endpoint,
    },
    /// A path does not start with `/` (request paths always do, so it would never match).
    NoLeadingSlash {
        /// The endpoint.
        endpoint: Endpoint,
        /// The refused path.
        path: String,
    },
    /// A path has a `?` or `#`: the query string is never part of the match.
    QueryInPath {
        /// The endpoint.
        endpoint: Endpoint,
        /// The refused path.
        path: String,
    },
    /// Two endpoints have the same path: one of them could never answer.
    DuplicatePath {
        /// The path.
        path: String,
        /// The endpoint that has it first, in the order of [`Endpoint`].
        first: Endpoint,
        /// The other endpoint.
        second: Endpoint,
    },
}

impl fmt::Display for LayerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LayerError::EmptyPath { endpoint } => write!(
                f,
                "the {endpoint} path is empty; give a path such as {:?}, or disable the endpoint",
                endpoint.default_path()
            ),
            LayerError::NoLeadingSlash { endpoint, path } => {
                write!(f, "the {endpoint} path {path:?} must start with '/'")
            }
            LayerError::QueryInPath { endpoint, path } => write!(
                f,
                "the {endpoint} path {path:?} has a '?' or '#': paths match without the query"
            ),
            LayerError::DuplicatePath {
                path,
                first,
                second,
            } => write!(f, "{first} and {second} are both configured at {path:?}"),
        }
    }
}

impl std::error::Error for LayerError {}

/// The layer's settings, shared by every service it makes.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) livez: Option<Box<str>>,
    pub(crate) healthz: Option<Box<str>>,
    pub(crate) readyz: Option<Box<str>>,
    pub(crate) startupz: Option<Box<str>>,
    pub(crate) metrics_path: Option<Box<str>>,
    pub(crate) audit_path: Option<Box<str>>,
    pub(crate) slis_path: Option<Box<str>>,
    /// Whether `/metrics/slis` is served (and probes observe the SLIs).
    pub(crate) slis: bool,
    /// Bit `n` set: some exact probe path is `n` bytes long (see `Config::reindex`).
    pub(crate) lengths: u128,
    /// Some exact probe path is 128 bytes or longer.
    pub(crate) long_paths: bool,
    pub(crate) details: Details,
    pub(crate) shed: Option<TenantFrom>,
    pub(crate) retry_after: http::HeaderValue,
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
            slis_path: Some(Endpoint::Slis.default_path().into()),
            slis: false,
            lengths: 0,
            long_paths: false,
            details: Details::Never,
            shed: None,
            retry_after: http::HeaderValue::from_static("5"),
            #[cfg(feature = "prometheus")]
            prometheus: None,
        };
        c.reindex();
        c
    }
}

impl Config {
    /// Recompute the length index of the exact paths; called once the paths are final.
    fn reindex(&mut self) {
        self.lengths = 0;
        self.long_paths = false;
        for endpoint in Endpoint::ALL {
            let Some(p) = self.path(endpoint).filter(|_| self.serves(endpoint)) else {
                continue;
            };
            if p.len() < 128 {
                self.lengths |= 1 << p.len();
            } else {
                self.long_paths = true;
            }
        }
    }

    pub(crate) fn path(&self, endpoint: Endpoint) -> Option<&str> {
        match endpoint {
            Endpoint::Livez => self.livez.as_deref(),
            Endpoint::Healthz => self.healthz.as_deref(),
            Endpoint::Readyz => self.readyz.as_deref(),
            Endpoint::Startupz => self.startupz.as_deref(),
            Endpoint::Metrics => self.metrics_path.as_deref(),
            Endpoint::Audit => self.audit_path.as_deref(),
            Endpoint::Slis => self.slis_path.as_deref(),
        }
    }

    pub(crate) fn slot(&mut self, endpoint: Endpoint) -> &mut Option<Box<str>> {
        match endpoint {
            Endpoint::Livez => &mut self.livez,
            Endpoint::Healthz => &mut self.healthz,
            Endpoint::Readyz => &mut self.readyz,
            Endpoint::Startupz => &mut self.startupz,
            Endpoint::Metrics => &mut self.metrics_path,
            Endpoint::Audit => &mut self.audit_path,
            Endpoint::Slis => &mut self.slis_path,
        }
    }

    /// Whether an endpoint answers at all (`/metrics` only with a Prometheus handle,
    /// `/metrics/slis` only when switched on).
    fn serves(&self, endpoint: Endpoint) -> bool {
        match endpoint {
            Endpoint::Slis => self.slis,
            #[cfg(feature = "prometheus")]
            Endpoint::Metrics => self.prometheus.is_some(),
            #[cfg(not(feature = "prometheus"))]
            Endpoint::Metrics => false,
            _ => true,
        }
    }

    /// Check every path, then index them. Every problem is found, the first is returned.
    pub(crate) fn finish(mut self) -> Result<Self, LayerError> {
        let mut seen: Vec<(&str, Endpoint)> = Vec::with_capacity(Endpoint::ALL.len());
        for endpoint in Endpoint::ALL {
            let Some(path) = self.path(endpoint) else {
                continue;
            };
            if path.is_empty() {
                return Err(LayerError::EmptyPath { endpoint });
            }
            if !path.starts_with('/') {
                return Err(LayerError::NoLeadingSlash {
                    endpoint,
                    path: path.to_owned(),
                });
            }
            if path.contains(['?', '#']) {
                return Err(LayerError::QueryInPath {
                    endpoint,
                    path: path.to_owned(),
                });
            }
            if !self.serves(endpoint) {
                // `/metrics` without a handle, or the SLIs switched off, answer nothing: they
                // cannot collide.
                continue;
            }
            if let Some(&(_, first)) = seen.iter().find(|(p, _)| *p == path) {
                return Err(LayerError::DuplicatePath {
                    path: path.to_owned(),
                    first,
                    second: endpoint,
                });
            }
            seen.push((path, endpoint));
        }
        self.reindex();
        Ok(self)
    }
}

/// What a layer and its services share: one `Arc`, so a service clone is one reference count.
pub(crate) struct State {
    pub(crate) engine: EngineSource,
    pub(crate) config: Config,
    /// The health SLIs' own series, when served.
    pub(crate) slis: Option<crate::slis::Slis>,
}
