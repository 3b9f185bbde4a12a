//! `GET /metrics` (feature `prometheus`): the recorder's own text, then the per-tenant families
//! rendered from the engine's state ([`TenantCollector`](readiness_core::TenantCollector)),
//! produced in chunks while the body is read, gzip-compressed when the scraper accepts it.
//!
//! Nothing is rendered for `HEAD`. For `GET`, the call renders the recorder's text (the
//! instance's series: small once the tenants' series come from the collector) and lists the
//! tenants; the body then renders about [`CHUNK`] bytes each time it is polled, reading the
//! tenants' atomics, and takes no lock. A scraper that reads slowly holds the list of tenants
//! (a reference each) and one chunk; one that goes away drops them with the body.

mod body;

pub use body::MetricsBody;

use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};
use metrics_exporter_prometheus::PrometheusHandle;
use readiness_core::Engine;

use crate::body::ProbeBody;
use crate::service::EXPOSITION;

/// About how many bytes of text each chunk of the body holds before compression.
pub(crate) const CHUNK: usize = 32 * 1024;

const NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");
const NO_STORE: HeaderValue = HeaderValue::from_static("no-store");
const GZIP: HeaderValue = HeaderValue::from_static("gzip");
const ACCEPT_ENCODING: HeaderValue = HeaderValue::from_static("accept-encoding");

/// The answer to `GET` or `HEAD` on the metrics path.
pub(crate) fn answer<B: ProbeBody>(
    engine: &Engine,
    handle: &PrometheusHandle,
    headers: &HeaderMap,
    head: bool,
) -> Response<B> {
    let gzip = accepts_gzip(headers);
    let body = if head {
        B::from_probe(bytes::Bytes::new())
    } else {
        handle.run_upkeep();
        let collector = engine.tenant_collector();
        let text = collector.filter_recorder_text(handle.render());
        B::from_metrics(MetricsBody::new(text, collector, gzip))
    };
    let mut res = Response::new(body);
    *res.status_mut() = StatusCode::OK;
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, EXPOSITION);
    h.insert(header::X_CONTENT_TYPE_OPTIONS, NOSNIFF);
    h.insert(header::CACHE_CONTROL, NO_STORE);
    h.insert(header::VARY, ACCEPT_ENCODING);
    if gzip {
        h.insert(header::CONTENT_ENCODING, GZIP);
    }
    res
}

/// Whether `Accept-Encoding` accepts gzip: `gzip` (or `x-gzip`) with a quality above 0, or `*`
/// above 0 when gzip is not named. Bounded: at most 32 codings are read.
pub(crate) fn accepts_gzip(headers: &HeaderMap) -> bool {
    let mut gzip: Option<u16> = None;
    let mut any: Option<u16> = None;
    let codings = headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|s| s.split(','))
        .take(32);
    for coding in codings {
        let mut parts = coding.split(';');
        let name = parts.next().unwrap_or("").trim();
        let slot = if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
            &mut gzip
        } else if name == "*" {
            &mut any
        } else {
            continue;
        };
        let Some(q) = crate::accept::quality(parts) else {
            continue;
        };
        *slot = Some(slot.map_or(q, |old| old.max(q)));
    }
    match (gzip, any) {
        (Some(q), _) => q > 0,
        (None, Some(q)) => q > 0,
        (None, None) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::accepts_gzip;

    fn gzip(values: &[&str]) -> bool {
        let mut h = http::HeaderMap::new();
        for v in values {
            h.append(
                http::header::ACCEPT_ENCODING,
                v.parse().expect("header value"),
            );
        }
        accepts_gzip(&h)
    }

    #[test]
    fn gzip_is_negotiated_with_its_quality() {
        assert!(gzip(&["gzip"]), "what Prometheus sends");
        assert!(gzip(&["gzip, deflate, br"]));
        assert!(gzip(&["GZIP;q=0.5"]));
        assert!(gzip(&["x-gzip"]));
        assert!(gzip(&["*"]));
        assert!(gzip(&["identity", "gzip;q=1.0"]), "several headers");
        assert!(!gzip(&[]));
        assert!(!gzip(&["identity"]));
        assert!(!gzip(&["br, deflate"]));
        assert!(!gzip(&["gzip;q=0"]));
        assert!(!gzip(&["gzip;q=0.000"]));
        assert!(!gzip(&["*;q=0"]));
        assert!(!gzip(&["gzip;q=0, *"]), "gzip named and refused");
        assert!(!gzip(&["gzip;q=2"]), "malformed: ignored");
        assert!(!gzip(&["gzip;q=abc"]));
        assert!(
            !gzip(&[&"identity,".repeat(40), "gzip"]),
            "bounded: 32 codings"
        );
    }
}
