//! The edges of the probe contract, attacked one by one: `HEAD` everywhere, odd paths, the
//! query parser against Go's (kube-apiserver's) rules at its bounds, `Accept` qualities,
//! groups, and bodies that cannot carry an answer (hyper's `Incoming`).

mod common;

use std::convert::Infallible;

use bytes::Bytes;
use common::{
    Flag, add_tenants, assert_answers, assert_reach_the_app, call, engine_with, get, http1,
    loopback, serve_http,
};
use http::{HeaderName, Request, Response};
use http_body_util::Full;
use readiness_tower::{Endpoint, LayerError, ReadinessLayer};
use tower::{ServiceBuilder, service_fn};

fn req(method: &str, uri: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(uri)
        .body(Full::default())
        .expect("request")
}

/// `/readyz` over [`engine`]: `ping` passes, `bad` fails.
const READYZ_FAILED: &str = "[+]ping ok\n[-]bad failed: reason withheld\nreadyz check failed\n";
/// Tenant `acme`'s probe over [`engine`]: its store passes, the instance fails (`bad`).
const ACME_FAILED: &str = "[+]store ok\n[-]instance failed: reason withheld\nreadyz check failed\n";
const NO_SUCH_CHECK: &str = "not found: no such check\n";
const MALFORMED_TENANT: &str = "bad request: malformed tenant id\n";

/// `ping` passes, `bad` fails; tenant `acme` passes, tenant `down` fails.
async fn engine() -> readiness_tower::Engine {
    let engine = engine_with(vec![
        Flag::new(true).spec("ping"),
        Flag::new(false).spec("bad"),
    ])
    .await;
    add_tenants(
        &engine,
        vec![
            ("acme", vec![Flag::new(true).spec("store")]),
            ("down", vec![Flag::new(false).spec("store")]),
        ],
    )
    .await;
    engine
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn head_answers_every_endpoint_with_the_get_status_and_no_body() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let layer = ReadinessLayer::builder(engine().await)
        .metrics(recorder.handle())
        .audit_endpoint("/debug/readiness")
        .shed_tenants_by_header(HeaderName::from_static("x-tenant"))
        .build()
        .expect("layer");
    for uri in [
        "/livez",
        "/healthz",
        "/readyz",
        "/readyz?verbose&format=json",
        "/readyz/ping",
        "/readyz/bad",
        "/readyz/nope",
        "/readyz/shutdown",
        "/readyz/tenants/acme",
        "/readyz/tenants/down",
        "/readyz/tenants/nope",
        "/readyz/tenants/Not-Valid",
        "/startupz",
        "/metrics",
        "/debug/readiness",
    ] {
        let g = call(&layer, req("GET", uri)).await;
        let h = call(&layer, req("HEAD", uri)).await;
        assert_eq!(h.status, g.status, "HEAD {uri}");
        assert_eq!(h.body, "", "HEAD {uri} has no body");
        assert_eq!(
            h.headers.get("content-type"),
            g.headers.get("content-type"),
            "HEAD {uri}"
        );
        // (The exposition of a fresh recorder is empty.)
        assert!(!g.body.is_empty() || uri == "/metrics", "GET {uri} has one");
    }
    // A shed business request is the layer's answer too: HEAD gets it without a body.
    let shed = |method| {
        Request::builder()
            .method(method)
            .uri("/orders")
            .header("x-tenant", "down")
            .body(Full::default())
            .expect("request")
    };
    let g = call(&layer, shed("GET")).await;
    assert_eq!(g.status, 503);
    assert!(g.headers.contains_key("retry-after"));
    let h = call(&layer, shed("HEAD")).await;
    assert_eq!(
        (h.status, h.body.as_str()),
        (503, ""),
        "HEAD of a shed request"
    );
    assert!(h.headers.contains_key("retry-after"));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn readyz_at_the_root_takes_only_its_own_paths() {
    let layer = ReadinessLayer::builder(engine().await)
        .path(Endpoint::Readyz, "/")
        .build()
        .expect("`/` is a path like any other");
    let cases: &[(&str, u16, &str)] = &[
        ("/", 503, READYZ_FAILED),
        ("/?exclude=bad", 200, "ok"),
        ("//ping", 200, "ok"),
        ("//nope", 404, NO_SUCH_CHECK),
        // A tenant is ready only when its instance is (`bad` fails).
        ("//tenants/acme", 503, ACME_FAILED),
        ("/livez", 200, "ok"),
    ];
    assert_answers(&layer, cases).await;
    assert_reach_the_app(&layer, &["/orders", "/ping", "/tenants/acme", "//"]).await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn edge_paths_under_readyz() {
    let layer = ReadinessLayer::new(engine().await);
    let cases: &[(&str, u16, &str)] = &[
        ("/readyz/tenants/", 400, MALFORMED_TENANT),
        ("/readyz/tenants//", 400, MALFORMED_TENANT),
        ("/readyz/tenants/acme/", 400, MALFORMED_TENANT),
        ("/readyz/tenants/acme/store", 400, MALFORMED_TENANT),
        ("/readyz/tenants/ACME", 400, MALFORMED_TENANT),
        ("/readyz/tenants/%61cme", 400, MALFORMED_TENANT),
        ("/readyz/tenants/nope", 404, "not found: no such tenant\n"),
        ("/readyz/tenants", 404, NO_SUCH_CHECK),
        // A tenant is ready only when its instance is (`bad` fails).
        ("/readyz/tenants/acme?verbose", 503, ACME_FAILED),
        (
            "/readyz/tenants/acme?exclude=store",
            503,
            "[+]store excluded: ok\n[-]instance failed: reason withheld\nreadyz check failed\n",
        ),
        ("/readyz//ping", 404, NO_SUCH_CHECK),
        ("/readyz/ping/", 404, NO_SUCH_CHECK),
        ("/readyz/%70ing", 404, NO_SUCH_CHECK),
    ];
    assert_answers(&layer, cases).await;
    // Not one of the exact paths: the application's.
    assert_reach_the_app(&layer, &["/readyz/", "/readyzz/ping", "/livez/"]).await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn metrics_collides_only_when_it_answers() {
    let engine = engine().await;
    let handle = || {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .build_recorder()
            .handle()
    };
    let dup = ReadinessLayer::builder(engine.clone())
        .path(Endpoint::Metrics, "/livez")
        .metrics(handle())
        .build()
        .err();
    assert_eq!(
        dup,
        Some(LayerError::DuplicatePath {
            path: "/livez".into(),
            first: Endpoint::Livez,
            second: Endpoint::Metrics
        })
    );
    let audit = ReadinessLayer::builder(engine.clone())
        .metrics(handle())
        .audit_endpoint("/metrics")
        .build()
        .err();
    assert!(
        matches!(
            audit,
            Some(LayerError::DuplicatePath {
                second: Endpoint::Audit,
                ..
            })
        ),
        "{audit:?}"
    );
    // Moved out of the way, the path is free, whatever the order of the calls.
    let layer = ReadinessLayer::builder(engine.clone())
        .path(Endpoint::Metrics, "/livez")
        .metrics(handle())
        .disable(Endpoint::Livez)
        .build()
        .expect("no collision");
    let r = get(&layer, "/livez").await;
    assert_eq!(r.status, 200);
    assert!(
        r.headers["content-type"]
            .to_str()
            .expect("ascii")
            .contains("version=0.0.4"),
        "/livez is the exposition now"
    );
    assert_eq!(get(&layer, "/metrics").await.body, "inner GET /metrics");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_per_check_path_answers_that_check_whatever_the_query_excludes() {
    // `/readyz/{check}`: that one check. Excluding it must not turn a failing check into a 200.
    let layer = ReadinessLayer::new(engine().await);
    let bad = "[-]bad failed: reason withheld\nreadyz check failed\n";
    let cases: &[(&str, u16, &str)] = &[
        ("/readyz/bad?exclude=bad", 503, bad),
        ("/readyz/bad?exclude=bad&verbose", 503, bad),
        // No warning either.
        ("/readyz/ping?exclude=nope", 200, "ok"),
    ];
    assert_answers(&layer, cases).await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_query_is_read_as_go_reads_it() {
    // kube-apiserver reads `r.URL.Query()`: Go's `url.ParseQuery` with its errors ignored,
    // which drops a pair with a `;` or a bad `%` escape in its key or value, and decodes
    // `%XX` and `+` everywhere else.
    let ok = ReadinessLayer::new(engine_with(vec![Flag::new(true).spec("ping")]).await);
    let layer = ReadinessLayer::new(engine().await);
    let passed = "[+]ping ok\nreadyz check passed\n";
    let cases: &[(&ReadinessLayer, &str, u16, &str)] = &[
        // Percent-encoded keys and values are decoded...
        (&ok, "/readyz?%76erbose", 200, passed),
        (&ok, "/readyz?v%65rbose", 200, passed),
        (&ok, "/readyz?%56erbose", 200, "ok"),
        (&layer, "/readyz?exclude=b%61d", 200, "ok"),
        (&layer, "/readyz?%65xclude=%62%61%64", 200, "ok"),
        (
            &layer,
            "/readyz?exclude=bad&exclude=bad&verbose",
            200,
            "[+]ping ok\n[+]bad excluded: ok\nreadyz check passed\n",
        ),
        (
            &layer,
            "/readyz?exclude=+bad",
            503,
            "[+]ping ok\n[-]bad failed: reason withheld\nwarn: some health checks cannot be excluded: no matches for \" bad\"\nreadyz check failed\n",
        ),
        (
            &layer,
            "/readyz?exclude=bad%2Cping",
            503,
            "[+]ping ok\n[-]bad failed: reason withheld\nwarn: some health checks cannot be excluded: no matches for \"bad,ping\"\nreadyz check failed\n",
        ),
        // ...a pair with a bad escape or a `;` is dropped whole, as Go drops it.
        (&ok, "/readyz?verbose=%zz", 200, "ok"),
        (&ok, "/readyz?verbose%", 200, "ok"),
        (&ok, "/readyz?verbose;", 200, "ok"),
        (&ok, "/readyz?verbose=1;2", 200, "ok"),
        (&layer, "/readyz?exclude=bad%zz", 503, READYZ_FAILED),
        (&layer, "/readyz?exclude=bad%2", 503, READYZ_FAILED),
        (&layer, "/readyz?exclude=bad;ping", 503, READYZ_FAILED),
        (&layer, "/readyz?exclude=%zz&exclude=bad", 200, "ok"),
        (&layer, "/readyz?format=js%6Fn&exclude=bad%", 503, "json"),
    ];
    for &(l, uri, status, body) in cases {
        let r = get(l, uri).await;
        if body == "json" {
            assert_eq!(r.status, status, "GET {uri}");
            let v: serde_json::Value = serde_json::from_str(&r.body).expect("JSON");
            assert_eq!(v["warnings"].as_array().map(Vec::len), Some(0), "GET {uri}");
            continue;
        }
        assert_eq!((r.status, r.body.as_str()), (status, body), "GET {uri}");
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn query_bounds_at_their_exact_edges_with_multibyte_text() {
    const MAX: usize = 4 * 1024;
    // `http::Uri` takes raw UTF-8 in a query: a character may straddle the byte bound.
    let uri = format!(
        "/readyz?verbose&{}é&exclude=bad",
        "x".repeat(MAX - "verbose&".len() - 1)
    );
    assert!(
        uri.parse::<http::Uri>().is_ok(),
        "raw UTF-8 reaches the layer"
    );
    let layer = ReadinessLayer::new(engine().await);
    let r = get(&layer, &uri).await;
    assert_eq!(r.status, 503, "the exclude past the bound is not read");
    assert!(r.body.starts_with("[+]ping ok\n"), "verbose within it is");

    let ok = ReadinessLayer::new(engine_with(vec![Flag::new(true).spec("ping")]).await);
    let verbose = "[+]ping ok\nreadyz check passed\n";
    // A pair that ends exactly at the bound is read; one byte more and it is not.
    for (pad, read) in [
        (MAX - "&verbose".len(), true),
        (MAX - "&verbose".len() + 1, false),
    ] {
        let uri = format!("/readyz?{}&verbose&more", "x".repeat(pad));
        let r = get(&ok, &uri).await;
        assert_eq!(r.body == verbose, read, "pad {pad}: {}", r.body);
    }
    // A two-byte character that ends exactly at the bound, then `&`: its pair is whole.
    let uri = format!(
        "/readyz?exclude={}é&verbose",
        "p".repeat(MAX - "exclude=".len() - 2)
    );
    let r = get(&layer, &uri).await;
    assert_eq!(r.status, 503);
    assert!(
        r.body.contains("no matches for \"ppp"),
        "the whole value is read: {}",
        &r.body[..80]
    );
    // The longest URI `http` takes, all junk: the plain answer, never a panic.
    let junk = format!("/readyz?{}", "é&".repeat(21_000));
    assert_eq!(get(&ok, &junk).await.body, "ok");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn accept_with_odd_qualities() {
    let layer = ReadinessLayer::new(engine_with(vec![Flag::new(true).spec("ping")]).await);
    let cases: &[(&[&str], bool)] = &[
        (&["application/json;q=1.000"], true),
        (&["application/json;q=1."], true),
        (&["application/json; q = 0.5"], true),
        (&["application/json;q=0."], false),
        (&["application/json;q=1.0000"], false),
        (&["application/json;q=.5"], false),
        (&["application/json;q=-1"], false),
        (&["application/json;q=NaN"], false),
        (&["application/json;q=1e0"], false),
        (&["application/json;q="], false),
        (&["application/json;q=\"1\""], false),
        (&["application/json;charset=utf-8;q=0"], false),
        (&["application/json;q=0, */*"], false),
        (&["application/json;;q=0"], false),
        (&["application/json;q=0.5;q=0"], true),
        (&["text/plain;q=0.501, application/json;q=0.5"], false),
        (&["text/plain;q=0, application/json;q=0.001"], true),
        (&["TEXT/PLAIN, APPLICATION/JSON;q=0.9"], false),
        (&["", "application/json"], true),
        (&[",,,application/json,,,"], true),
    ];
    for &(accept, json) in cases {
        let mut r = Request::get("/readyz?verbose");
        for a in accept {
            r = r.header("accept", *a);
        }
        let a = call(&layer, r.body(Full::default()).expect("request")).await;
        assert_eq!(a.status, 200);
        assert_eq!(
            a.headers["content-type"] == "application/json",
            json,
            "Accept: {accept:?}"
        );
    }
    // Not UTF-8: ignored, text.
    let r = Request::get("/readyz")
        .header(
            "accept",
            http::HeaderValue::from_bytes(b"application/json\xff").expect("obs-text"),
        )
        .body(Full::default())
        .expect("request");
    assert_eq!(call(&layer, r).await.body, "ok");
    // A header of 10,000 ranges costs bounded work: only the first 32 ranges are read.
    let many = format!("{}application/json", "text/html;q=0.1,".repeat(10_000));
    let r = Request::get("/readyz")
        .header("accept", many)
        .body(Full::default())
        .expect("request");
    assert_eq!(call(&layer, r).await.body, "ok");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn groups_against_names_duplicates_and_unmatched_words() {
    let engine = engine_with(vec![
        Flag::new(false).spec("db").group("storage"),
        Flag::new(false).spec("storage"),
        Flag::new(false).spec("cache").group("db"),
        Flag::new(true).spec("ping"),
    ])
    .await;
    let layer = ReadinessLayer::new(engine);
    let cases: &[(&str, u16, &str)] = &[
        // `storage` is a name and a group: the check by name, `db` through its group.
        (
            "/readyz?exclude=storage&verbose",
            503,
            "[+]db excluded with storage: ok\n[+]storage excluded: ok\n[-]cache failed: reason withheld\n[+]ping ok\nreadyz check failed\n",
        ),
        // `db` is a name (of a check in `storage`) and the group of `cache`.
        ("/readyz?exclude=db&exclude=storage", 200, "ok"),
        (
            "/readyz?exclude=db&exclude=storage&verbose",
            200,
            "[+]db excluded: ok\n[+]storage excluded: ok\n[+]cache excluded with db: ok\n[+]ping ok\nreadyz check passed\n",
        ),
        // Excluded twice: once.
        (
            "/readyz?exclude=storage&exclude=storage&exclude=db&exclude=db&verbose",
            200,
            "[+]db excluded: ok\n[+]storage excluded: ok\n[+]cache excluded with db: ok\n[+]ping ok\nreadyz check passed\n",
        ),
        // Unmatched words warn, sorted, beside groups that matched.
        (
            "/readyz?exclude=zeta&exclude=storage&exclude=db&exclude=alpha&verbose",
            200,
            "[+]db excluded: ok\n[+]storage excluded: ok\n[+]cache excluded with db: ok\n[+]ping ok\nwarn: some health checks cannot be excluded: no matches for \"alpha\",\"zeta\"\nreadyz check passed\n",
        ),
    ];
    assert_answers(&layer, cases).await;
    let r = get(&layer, "/readyz?exclude=storage&exclude=db&format=json").await;
    let v: serde_json::Value = serde_json::from_str(&r.body).expect("valid JSON");
    let groups: Vec<_> = v["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| {
            (
                c["name"].clone(),
                c.get("group").cloned(),
                c["status"].clone(),
            )
        })
        .collect();
    assert_eq!(groups.len(), 4);
    assert_eq!(groups[2].1, Some("db".into()));
    assert_eq!(groups[2].2, "excluded");
}

#[tokio::test]
async fn any_body_passes_hyper_incoming_through_a_real_server() {
    // A proxy: the inner service answers with the backend's own `Incoming` body, which cannot
    // hold a probe's answer. `any_body()` serves both over real sockets.
    let engine = engine_with(vec![Flag::new(true).spec("ping")]).await;
    let (backend, backend_addr) = loopback().await;
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = backend.accept().await else {
                return;
            };
            let svc = hyper::service::service_fn(|r: Request<hyper::body::Incoming>| async move {
                let text = format!("backend {}", r.uri());
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(text))))
            });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    let proxy = service_fn(move |r: Request<hyper::body::Incoming>| async move {
        let stream = tokio::net::TcpStream::connect(backend_addr)
            .await
            .expect("backend");
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        // The response's body is the backend's `Incoming`, passed through as it is.
        let res: Response<hyper::body::Incoming> = sender.send_request(r).await?;
        Ok::<_, hyper::Error>(res)
    });
    let svc = ServiceBuilder::new()
        .layer(ReadinessLayer::new(engine).any_body())
        .service(proxy);
    let addr = serve_http(svc).await;
    assert_eq!(
        http1(addr, "GET", "/orders?id=7").await,
        (200, "backend /orders?id=7".into())
    );
    assert_eq!(http1(addr, "GET", "/readyz").await, (200, "ok".into()));
    assert_eq!(http1(addr, "HEAD", "/livez").await, (200, String::new()));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn hostile_exclude_names_are_escaped_in_text_and_json() {
    // Request input in the `warn:` line: quoted as Go's `%q`, and valid JSON in `warnings`.
    let layer = ReadinessLayer::new(engine_with(vec![Flag::new(true).spec("ping")]).await);
    let r = get(&layer, "/readyz?verbose&exclude=%22%5C%0A%01%7F%C3%A9").await;
    assert_eq!(
        r.body,
        "[+]ping ok\nwarn: some health checks cannot be excluded: no matches for \"\\\"\\\\\\n\\x01\\x7f\u{e9}\"\nreadyz check passed\n"
    );
    // Invisible characters are escaped as Go's `%q` escapes them (it prints only what
    // `strconv.IsPrint` accepts): a bidi override or a zero-width space in request input never
    // reaches a terminal as it is.
    for (encoded, quoted) in [
        ("%E2%80%AE", r#""\u202e""#),
        ("%E2%80%8B", r#""\u200b""#),
        ("%E2%80%A8", r#""\u2028""#),
        ("%C2%A0", r#""\u00a0""#),
        ("%C2%AD", r#""\u00ad""#),
        ("%EF%BB%BF", r#""\ufeff""#),
        ("%EE%80%80", r#""\ue000""#),
        ("%F3%A0%80%81", r#""\U000e0001""#),
    ] {
        let r = get(&layer, &format!("/readyz?verbose&exclude={encoded}")).await;
        let warn = r.body.lines().nth(1).expect("the warn line");
        assert_eq!(
            warn,
            format!("warn: some health checks cannot be excluded: no matches for {quoted}"),
            "exclude={encoded}"
        );
    }
    let r = get(
        &layer,
        "/readyz?format=json&exclude=%22%5C%0A%01%7F&exclude=%7D%5D",
    )
    .await;
    let v: serde_json::Value = serde_json::from_str(&r.body).expect("valid JSON");
    assert_eq!(
        v["warnings"][0],
        "some health checks cannot be excluded: no matches for \"\\\"\\\\\\n\\x01\\x7f\",\"}]\""
    );
}
