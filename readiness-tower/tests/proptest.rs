//! Arbitrary paths, queries, methods and headers: no panic, only documented statuses, and the
//! inner service sees every non-probe request unchanged.

mod common;

use std::sync::OnceLock;

use bytes::Bytes;
use common::{Flag, app};
use http::{HeaderName, HeaderValue, Method, Request};
use http_body_util::{BodyExt, Full};
use proptest::prelude::*;
use readiness_tower::ReadinessLayer;
use tower::{ServiceBuilder, ServiceExt};

const PROBES: &[&str] = &["/livez", "/healthz", "/readyz", "/startupz"];

fn path() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(PROBES).prop_map(str::to_owned),
        prop::sample::select(&["/readyz/db", "/readyz/cache", "/readyz/", "/readyz/x/y"][..])
            .prop_map(str::to_owned),
        "/[a-zA-Z0-9._~%/-]{0,40}",
        "/readyz[a-z/%.]{0,10}",
        prop::sample::select(
            &[
                "/readyz/tenants/acme",
                "/readyz/tenants/globex",
                "/readyz/tenants/nope",
                "/readyz/tenants/",
                "/readyz/tenants",
                "/readyz/tenants/acme/db",
                "/readyz/tenants/ACME",
            ][..]
        )
        .prop_map(str::to_owned),
        "/readyz/tenants/[a-zA-Z0-9._~%/-]{0,70}",
    ]
}

fn query() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "\\?[a-zA-Z0-9=&%+._-]{0,80}",
        prop::collection::vec(
            prop_oneof![
                Just("verbose".to_owned()),
                Just("format=json".to_owned()),
                "exclude=[a-z%0-9\"\\\\]{0,12}",
            ],
            0..8
        )
        .prop_map(|v| format!("?{}", v.join("&"))),
    ]
}

fn method() -> impl Strategy<Value = Method> {
    prop::sample::select(vec![
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::OPTIONS,
        Method::PATCH,
        Method::from_bytes(b"BREW").expect("valid token"),
    ])
}

fn headers() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    prop::collection::vec(
        (
            prop_oneof![
                Just("accept".to_owned()),
                Just("x-debug".to_owned()),
                "[a-z][a-z0-9-]{0,15}",
            ],
            prop::collection::vec(prop_oneof![0x20u8..0x7f, 0x80u8..=0xff], 0..64),
        ),
        0..6,
    )
}

/// The engine (two checks, two tenants, draining or not) and its layer, with the paused-clock
/// runtime they run on. A request only reads the engine, so one fixture per `(db_ok, draining)`
/// answers every case as a fresh one would, without building an engine and a runtime per case
/// (which was most of the 100,000-case run's time).
struct Fixture {
    rt: tokio::runtime::Runtime,
    layer: ReadinessLayer,
}

impl Fixture {
    fn new(db_ok: bool, draining: bool) -> Self {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("runtime");
        let layer = rt.block_on(async {
            let engine = common::engine_with(vec![
                Flag::new(db_ok).spec("db"),
                Flag::new(true).spec("cache").critical(false),
            ])
            .await;
            engine
                .add_tenant("acme", vec![Flag::new(true).spec("store")])
                .expect("a valid tenant");
            engine
                .add_tenant("globex", vec![Flag::new(db_ok).spec("store")])
                .expect("a valid tenant");
            engine.refresh_tenant("acme").await.expect("a known tenant");
            engine
                .refresh_tenant("globex")
                .await
                .expect("a known tenant");
            if draining {
                engine.drain();
            }
            let layer = ReadinessLayer::builder(engine)
                .show_details_if(|r| r.headers().contains_key("x-debug"))
                .build()
                .expect("a valid layer");
            let readyz = Request::get("/readyz")
                .body(Full::default())
                .expect("request");
            let want = if db_ok && !draining { 200 } else { 503 };
            let status = common::call(&layer, readyz).await.status;
            assert_eq!(status, want, "db_ok {db_ok}, draining {draining}");
            layer
        });
        Self { rt, layer }
    }
}

/// The fixture for `(db_ok, draining)`, built on first use.
fn fixture(db_ok: bool, draining: bool) -> &'static Fixture {
    static FIXTURES: OnceLock<[Fixture; 4]> = OnceLock::new();
    let all = FIXTURES.get_or_init(|| {
        [(false, false), (false, true), (true, false), (true, true)]
            .map(|(db_ok, draining)| Fixture::new(db_ok, draining))
    });
    &all[usize::from(db_ok) * 2 + usize::from(draining)]
}

/// 256 cases by default; the chaos job runs 100,000 (`PROPTEST_CASES=100000`).
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn any_request_gets_a_documented_answer(
        path in path(),
        query in query(),
        method in method(),
        headers in headers(),
        db_ok in any::<bool>(),
        draining in any::<bool>(),
    ) {
        let fixture = fixture(db_ok, draining);
        fixture.rt.block_on(async move {
            let svc = ServiceBuilder::new().layer(fixture.layer.clone()).service(app());
            let uri = format!("{path}{query}");
            let mut builder = Request::builder().method(method.clone()).uri(&uri);
            for (name, value) in &headers {
                if let (Ok(n), Ok(v)) = (HeaderName::try_from(name.as_str()), HeaderValue::from_bytes(value)) {
                    builder = builder.header(n, v);
                }
            }
            let Ok(req) = builder.body(Full::<Bytes>::default()) else {
                return Ok(());
            };
            let parsed_path = req.uri().path().to_owned();
            let shown_uri = req.uri().to_string();
            let res = svc.oneshot(req).await.expect("infallible");
            let status = res.status().as_u16();
            let inner = res.headers().contains_key("x-inner");
            let body = res.into_body().collect().await.expect("infallible").to_bytes();
            let is_probe = PROBES.contains(&parsed_path.as_str())
                || (parsed_path.starts_with("/readyz/") && parsed_path.len() > "/readyz/".len());
            if is_probe {
                prop_assert!(!inner, "probe {uri} must not reach the inner service");
                let tenant = parsed_path.starts_with("/readyz/tenants/");
                let allowed: &[u16] = if tenant { &[200, 400, 404, 405, 503] } else { &[200, 404, 405, 503] };
                prop_assert!(allowed.contains(&status), "{uri}: {status}");
                if tenant && status == 400 {
                    let id = &parsed_path["/readyz/tenants/".len()..];
                    prop_assert!(readiness_tower::engine::validate_name(id).is_err(), "{uri}: 400 for a valid id");
                    if method == Method::GET {
                        prop_assert_eq!(&body[..], b"bad request: malformed tenant id\n", "{}: the id is never echoed", uri);
                    }
                }
                if method == Method::HEAD {
                    prop_assert!(body.is_empty());
                }
                if parsed_path == "/readyz" && query.is_empty() && method == Method::GET {
                    // The shared fixture still answers as its combination says.
                    let want = if db_ok && !draining { 200 } else { 503 };
                    prop_assert_eq!(status, want, "{}: db_ok {}, draining {}", uri, db_ok, draining);
                }
                if method != Method::GET && method != Method::HEAD {
                    prop_assert_eq!(status, 405);
                }
            } else {
                prop_assert!(inner, "{uri} must reach the inner service");
                prop_assert_eq!(status, 200);
                prop_assert_eq!(body, Bytes::from(format!("inner {method} {shown_uri}")));
            }
            Ok(())
        })?;
    }
}
