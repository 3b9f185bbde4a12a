//! Path routing, through the public service: a request of any method, path, query and
//! `Accept` header is answered by the layer exactly when its path is a probe's (the query never
//! matters), with a status from the contract, and reaches the application otherwise.
#![no_main]

use std::convert::Infallible;
use std::sync::OnceLock;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use libfuzzer_sys::fuzz_target;
use readiness_core::{CheckSpec, Engine, check_fn, validate_name};
use readiness_fuzz::{Served, World};
use readiness_tower::ReadinessLayer;
use tower::{Layer, ServiceExt, service_fn};

/// The application's own answer, so that a request that reached it is told apart.
const INNER: StatusCode = StatusCode::IM_A_TEAPOT;

fn world() -> &'static World<Served<ReadinessLayer>> {
    static WORLD: OnceLock<World<Served<ReadinessLayer>>> = OnceLock::new();
    World::once(&WORLD, |runtime| {
        let ok = || check_fn(|| async { Ok::<(), std::io::Error>(()) });
        let builder = Engine::builder()
            .without_heartbeat()
            .check(CheckSpec::readiness("db", ok()))
            .tenant("acme", vec![CheckSpec::readiness("store", ok())]);
        Served::new(runtime, builder, |engine| {
            ReadinessLayer::new(engine.clone())
        })
    })
}

/// Where the contract sends `path`: `None` for the application, else the statuses allowed.
fn expected(method: &Method, path: &str) -> Option<&'static [StatusCode]> {
    const READ: &[StatusCode] = &[StatusCode::OK, StatusCode::SERVICE_UNAVAILABLE];
    const NOT_FOUND: &[StatusCode] = &[StatusCode::NOT_FOUND];
    const BAD: &[StatusCode] = &[StatusCode::BAD_REQUEST];
    const NOT_ALLOWED: &[StatusCode] = &[StatusCode::METHOD_NOT_ALLOWED];
    let exact = ["/livez", "/healthz", "/readyz", "/startupz"].contains(&path);
    let sub = path
        .strip_prefix("/readyz/")
        .filter(|rest| !rest.is_empty());
    if !exact && sub.is_none() {
        return None;
    }
    if method != Method::GET && method != Method::HEAD {
        return Some(NOT_ALLOWED);
    }
    Some(match sub {
        None => READ,
        Some(rest) => match rest.strip_prefix("tenants/") {
            Some(id) if validate_name(id).is_err() => BAD,
            Some("acme") => READ,
            Some(_) => NOT_FOUND,
            None if rest == "db" || rest == "shutdown" => READ,
            None => NOT_FOUND,
        },
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&m, rest)) = data.split_first() else {
        return;
    };
    let method = match m % 8 {
        0 => Method::GET,
        1 => Method::HEAD,
        2 => Method::POST,
        3 => Method::PUT,
        4 => Method::DELETE,
        5 => Method::OPTIONS,
        6 => Method::PATCH,
        _ => Method::from_bytes(b"PROBE").expect("a token"),
    };
    let mut parts = rest.splitn(2, |&b| b == b'\n');
    let Ok(uri) = http::Uri::try_from(parts.next().unwrap_or_default()) else {
        return;
    };
    let mut req = Request::builder().method(method.clone()).uri(uri);
    if let Some(accept) = parts.next() {
        let Ok(accept) = http::HeaderValue::from_bytes(accept) else {
            return;
        };
        req = req.header(http::header::ACCEPT, accept);
    }
    let Ok(req) = req.body(Full::new(Bytes::new())) else {
        return;
    };
    let path = req.uri().path().to_owned();
    let w = world();
    let app = service_fn(|_req: Request<Full<Bytes>>| async {
        let mut res = Response::new(Full::new(Bytes::new()));
        *res.status_mut() = INNER;
        Ok::<_, Infallible>(res)
    });
    let svc = w.state.service.layer(app);
    let (status, headers, body) = w.runtime.block_on(async {
        let res = svc.oneshot(req).await.expect("infallible");
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.into_body().collect().await.expect("a body").to_bytes();
        (status, headers, body)
    });
    match expected(&method, &path) {
        None => assert_eq!(
            status, INNER,
            "{method} {path:?} belongs to the application"
        ),
        Some(allowed) => {
            assert!(allowed.contains(&status), "{method} {path:?}: {status}");
            assert!(headers.contains_key(http::header::CONTENT_TYPE), "{path:?}");
            if method == Method::HEAD {
                assert!(body.is_empty(), "HEAD {path:?} has no body");
            }
        }
    }
});
