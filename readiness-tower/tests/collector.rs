//! `/metrics` with the per-tenant series rendered from the engine's state (the collector): the
//! same samples as through the facade, families never duplicated, counters that carry over a
//! reload, a body streamed in chunks while probes answer, gzip.

mod common;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io::Read;
use std::rc::Rc;
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use common::{Flag, assert_values};
use http::{Request, Response};
use http_body_util::BodyExt;
use readiness_core::metrics::{
    TENANT_CHECK_SECONDS_TOTAL, TENANT_STATE, TENANT_TENANTS, TENANT_TRANSITIONS_TOTAL,
};
use readiness_core::{
    CheckFailure, CheckSpec, Engine, ReloadableEngine, TenantMetricsExport, TenantMetricsMode,
    check_fn,
};
use readiness_testkit::{Exposition, MetricsCapture};
use readiness_tower::ReadinessLayer;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

const FAMILIES: [&str; 4] = [
    TENANT_TENANTS,
    TENANT_STATE,
    TENANT_TRANSITIONS_TOTAL,
    TENANT_CHECK_SECONDS_TOTAL,
];

/// The application behind the layer: axum's body, which the layer streams into.
fn app() -> impl Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone {
    service_fn(|_req: Request<Body>| async { Ok::<_, Infallible>(Response::new(Body::empty())) })
}

fn layer(engine: &Engine, capture: &MetricsCapture) -> ReadinessLayer {
    ReadinessLayer::builder(engine.clone())
        .metrics(capture.handle())
        .build()
        .expect("a valid layer")
}

struct Scrape {
    status: u16,
    headers: http::HeaderMap,
    frames: Vec<Bytes>,
}

impl Scrape {
    fn bytes(&self) -> Vec<u8> {
        self.frames.iter().flat_map(|f| f.iter().copied()).collect()
    }

    fn text(&self) -> String {
        let bytes = self.bytes();
        if self.headers.get("content-encoding").is_some() {
            let mut text = String::new();
            flate2::read::GzDecoder::new(&bytes[..])
                .read_to_string(&mut text)
                .expect("valid gzip");
            text
        } else {
            String::from_utf8(bytes).expect("UTF-8")
        }
    }

    fn exposition(&self) -> Exposition {
        let text = self.text();
        Exposition::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }
}

async fn scrape_with(layer: &ReadinessLayer, req: Request<Body>) -> Scrape {
    let svc = ServiceBuilder::new().layer(layer.clone()).service(app());
    let res = svc.oneshot(req).await.expect("infallible");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let mut body = res.into_body();
    let mut frames = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.expect("the body").into_data() {
            frames.push(data);
        }
    }
    Scrape {
        status,
        headers,
        frames,
    }
}

async fn scrape(layer: &ReadinessLayer) -> Exposition {
    let s = scrape_with(layer, get("/metrics")).await;
    assert_eq!(s.status, 200);
    s.exposition()
}

/// A layer over a fleet of `n` tenants (ready with the instance), `/metrics` on the fleet's own
/// recorder (returned, to be held as long as the layer), and a plain scrape of it.
async fn fleet_scraped(n: usize) -> (MetricsCapture, ReadinessLayer, Scrape) {
    let capture = MetricsCapture::new();
    let engine = common::tenant_fleet(n, &capture).await;
    let l = layer(&engine, &capture);
    let first = scrape_with(&l, get("/metrics")).await;
    (capture, l, first)
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).expect("a request")
}

type Samples = BTreeMap<(String, BTreeMap<String, String>), f64>;

/// Every sample: (name, labels) to value (families come in no fixed order).
fn all_samples(e: &Exposition) -> Samples {
    e.samples()
        .iter()
        .map(|s| ((s.name.clone(), s.labels.clone()), s.value))
        .collect()
}

/// The per-tenant samples: (name, labels) to value.
fn tenant_samples(e: &Exposition) -> Samples {
    e.samples()
        .iter()
        .filter(|s| FAMILIES.contains(&s.name.as_str()))
        .map(|s| ((s.name.clone(), s.labels.clone()), s.value))
        .collect()
}

fn value(e: &Exposition, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    e.value(name, labels)
}

/// A tenant's check: passes while `flag` says so; a slow one takes 1.5 s a run (tokio's paused
/// clock), so that the time spent checking shows. Runs only when asked (a period of an hour).
fn store(flag: &Flag, slow: bool) -> CheckSpec {
    let flag = flag.0.clone();
    CheckSpec::readiness(
        "store",
        check_fn(move || {
            let ok = flag.load(std::sync::atomic::Ordering::SeqCst);
            async move {
                if slow {
                    tokio::time::sleep(Duration::from_millis(1500)).await;
                }
                if ok {
                    Ok(())
                } else {
                    Err(CheckFailure::new("connection refused"))
                }
            }
        }),
    )
    .period(Duration::from_secs(3600))
    .timeout(Duration::from_secs(10))
    .jitter(Duration::ZERO)
    .failure_threshold(1)
}

struct Fleet {
    engine: Engine,
    db: Flag,
    flags: Vec<Flag>,
}

impl Fleet {
    async fn build(mode: TenantMetricsMode, export: TenantMetricsExport) -> Self {
        let db = Flag::new(true);
        let flags: Vec<Flag> = (0..10).map(|_| Flag::new(true)).collect();
        let mut b = Engine::builder()
            .without_heartbeat()
            .tenant_metrics(mode)
            .tenant_metrics_export(export)
            .check(db.spec("db").period(Duration::from_secs(3600)));
        for (i, f) in flags.iter().enumerate() {
            b = b.tenant(format!("t{i}"), vec![store(f, i % 2 == 0)]);
        }
        let engine = b.build().expect("valid");
        // Every first run (started at once) is over.
        tokio::time::sleep(Duration::from_secs(2)).await;
        Self { engine, db, flags }
    }

    async fn refresh(&self, tenants: &[usize]) {
        for i in tenants {
            self.engine
                .refresh_tenant(&format!("t{i}"))
                .await
                .expect("a known tenant");
        }
    }

    /// Failures, recoveries, an instance outage and a tenant added at run time.
    async fn play(&self) {
        let all: Vec<usize> = (0..self.flags.len()).collect();
        self.engine.refresh().await.expect("runs");
        self.refresh(&all).await;
        self.flags[3].set(false);
        self.flags[7].set(false);
        self.refresh(&[3, 7]).await;
        self.flags[3].set(true);
        self.refresh(&[3]).await;
        self.flags[3].set(false);
        self.refresh(&[3]).await;
        self.db.set(false);
        self.engine.refresh().await.expect("runs");
        self.db.set(true);
        self.engine.refresh().await.expect("runs");
        self.engine
            .add_tenant("t10", vec![store(&Flag::new(true), true)])
            .expect("added");
        self.engine
            .refresh_tenant("t10")
            .await
            .expect("a known tenant");
        self.refresh(&all).await;
    }
}

/// The same fleet played through the facade and through the collector, scraped through the
/// layer.
async fn played(mode: TenantMetricsMode, export: TenantMetricsExport) -> Exposition {
    let capture = MetricsCapture::new();
    // Series created lazily (`NotReadyOnly`) go to the thread's recorder.
    let _guard = capture.set_default();
    let fleet = Fleet::build(mode, export).await;
    fleet.play().await;
    scrape(&layer(&fleet.engine, &capture)).await
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_collector_gives_the_facades_samples() {
    for mode in [TenantMetricsMode::All, TenantMetricsMode::NotReadyOnly] {
        let facade = played(mode, TenantMetricsExport::Facade).await;
        let collector = played(mode, TenantMetricsExport::Collector).await;
        let (f, c) = (tenant_samples(&facade), tenant_samples(&collector));
        assert_eq!(f, c, "{mode:?}: the same names, labels and values");
        for family in FAMILIES {
            assert_eq!(facade.help(family), collector.help(family), "{family}");
            assert_eq!(
                facade.metric_type(family),
                collector.metric_type(family),
                "{family}"
            );
        }
        // The instance's series are the recorder's either way.
        assert_eq!(facade.value("readiness_state", &[]), Some(1.0));
        assert_eq!(collector.value("readiness_state", &[]), Some(1.0));
        // Not a comparison of two empty sets: the fleet did move.
        let t3 = |to| {
            value(
                &collector,
                TENANT_TRANSITIONS_TOTAL,
                &[("tenant", "t3"), ("to", to)],
            )
        };
        assert_eq!(t3("not_ready"), Some(2.0), "{mode:?}");
        assert_eq!(
            value(&collector, TENANT_STATE, &[("tenant", "t3")]),
            Some(0.0)
        );
        let seconds = value(&collector, TENANT_CHECK_SECONDS_TOTAL, &[("tenant", "t0")])
            .expect("every tenant has its check seconds");
        assert!(seconds >= 4.0, "{mode:?}: three runs of 1.5 s: {seconds}");
        assert_values(
            &collector,
            &[
                (TENANT_CHECK_SECONDS_TOTAL, &[("tenant", "t1")], 0.0),
                (TENANT_TENANTS, &[("state", "not_ready")], 2.0),
                (TENANT_TENANTS, &[("state", "ready")], 9.0),
            ],
        );
        match mode {
            TenantMetricsMode::All => {
                assert_eq!(f.len(), 2 + 11 * 4, "four series a tenant");
                assert_eq!(
                    value(
                        &collector,
                        TENANT_TRANSITIONS_TOTAL,
                        &[("tenant", "t1"), ("to", "ready")]
                    ),
                    Some(2.0),
                    "ready, then again after the instance's outage"
                );
            }
            _ => {
                assert_eq!(f.len(), 2 + 11 + 2 * 3, "t3 and t7 failed on their own");
                assert_eq!(value(&collector, TENANT_STATE, &[("tenant", "t1")]), None);
            }
        }
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn label_values_come_only_from_validated_ids() {
    let engine = Engine::builder().build().expect("valid");
    for bad in ["a\"b", "a\\b", "a\nb", "A", "a b", "a}b", ""] {
        assert!(engine.add_tenant(bad, vec![]).is_err(), "{bad:?}");
    }
    let capture = MetricsCapture::new();
    let text = capture.scrape_text(&engine);
    assert!(
        !text.contains("tenant=\""),
        "no tenant series at all: {text}"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn families_are_never_duplicated() {
    let capture = MetricsCapture::new();
    let _guard = capture.set_default();
    // The application registered one of the names itself.
    metrics::gauge!(TENANT_STATE, "tenant" => "acme").set(7.0);
    metrics::gauge!(TENANT_TENANTS, "state" => "ready").set(7.0);
    metrics::describe_gauge!(TENANT_STATE, "The application's own description.");
    let ok = Flag::new(true);
    let old = Engine::builder()
        .without_heartbeat()
        .tenant_metrics_export(TenantMetricsExport::Facade)
        .check(ok.spec("db"))
        .tenant("acme", vec![store(&ok, false)])
        .tenant("gone", vec![store(&ok, false)])
        .build()
        .expect("valid");
    old.refresh().await.expect("runs");
    old.refresh_tenant("acme").await.expect("known");
    let new = Engine::builder()
        .without_heartbeat()
        .check(ok.spec("db").initial_delay(Duration::from_secs(600)))
        .tenant("acme", vec![store(&ok, false)])
        .reload_from(&old)
        .build()
        .expect("valid");

    // The older engine owns the series and writes them through the facade: the recorder's
    // text has the families (the application's sample overwritten), the collector adds none.
    let e = scrape(&layer(&new, &capture)).await;
    assert_eq!(value(&e, TENANT_STATE, &[("tenant", "acme")]), Some(1.0));
    assert!(value(&e, TENANT_STATE, &[("tenant", "gone")]).is_some());

    // The new engine takes over: the facade's series stay in the recorder, the collector's
    // values win, each family once (the parser refuses a second HELP, TYPE or series).
    new.refresh().await.expect("runs");
    new.refresh_tenant("acme").await.expect("known");
    assert!(new.is_ready());
    drop(old);
    for e in [
        scrape(&layer(&new, &capture)).await,
        capture.scrape(&new).expect("valid"),
    ] {
        assert_eq!(value(&e, TENANT_STATE, &[("tenant", "acme")]), Some(1.0));
        assert_eq!(
            value(&e, TENANT_STATE, &[("tenant", "gone")]),
            None,
            "the reload removed it"
        );
        assert_eq!(value(&e, TENANT_TENANTS, &[("state", "ready")]), Some(1.0));
        assert_eq!(
            e.help(TENANT_STATE),
            Some("Whether a tenant is ready: 1 ready, 0 not ready.")
        );
        assert_eq!(e.value("readiness_state", &[]), Some(1.0));
    }
}

/// Every counter of `before` is in `after`, not lower; with `check_state`, every tenant ready
/// in `before` and still there reads ready in `after`.
fn never_dips(before: &Exposition, after: &Exposition, when: &str, check_state: bool) {
    let (b, a) = (tenant_samples(before), tenant_samples(after));
    for ((name, labels), v) in &b {
        let Some(now) = a.get(&(name.clone(), labels.clone())) else {
            continue;
        };
        if name.ends_with("_total") {
            assert!(now >= v, "{when}: {name}{labels:?} went from {v} to {now}");
        }
        if check_state && name == TENANT_STATE && *v == 1.0 {
            assert_eq!(*now, 1.0, "{when}: {labels:?} dipped");
        }
    }
}

async fn reload_scenario(export: TenantMetricsExport) -> Exposition {
    let capture = MetricsCapture::new();
    let _guard = capture.set_default();
    let db = Flag::new(true);
    let acme = Flag::new(true);
    // `db`, `acme` (slow), and one more tenant whose store passes at once.
    let builder = |db: CheckSpec, other: &str| {
        Engine::builder()
            .without_heartbeat()
            .tenant_metrics_export(export)
            .check(db)
            .tenant("acme", vec![store(&acme, true)])
            .tenant(other, vec![store(&Flag::new(true), false)])
    };
    let old = builder(db.spec("db").period(Duration::from_secs(3600)), "globex")
        .build()
        .expect("valid");
    // Every first run (started at once) is over.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for _ in 0..2 {
        acme.set(false);
        old.refresh_tenant("acme").await.expect("known");
        acme.set(true);
        old.refresh_tenant("acme").await.expect("known");
    }
    old.refresh_tenant("globex").await.expect("known");
    let old_layer = layer(&old, &capture);
    let first = scrape(&old_layer).await;
    assert_eq!(
        value(
            &first,
            TENANT_TRANSITIONS_TOTAL,
            &[("tenant", "acme"), ("to", "not_ready")]
        ),
        Some(2.0)
    );
    assert_eq!(
        value(
            &first,
            TENANT_TRANSITIONS_TOTAL,
            &[("tenant", "acme"), ("to", "ready")]
        ),
        Some(3.0)
    );
    assert_eq!(
        value(&first, TENANT_CHECK_SECONDS_TOTAL, &[("tenant", "acme")]),
        Some(7.0),
        "five runs of 1.5 s, whole seconds"
    );

    // The new engine, not ready yet: both layers read the older engine's values.
    let new = builder(
        db.spec("db").initial_delay(Duration::from_secs(3600)),
        "initech",
    )
    .reload_from(&old)
    .build()
    .expect("valid");
    // Its first runs, before it owns the series.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let new_layer = layer(&new, &capture);
    let mut last = first;
    for (when, l) in [
        ("before the takeover, old", &old_layer),
        ("before, new", &new_layer),
    ] {
        let e = scrape(l).await;
        never_dips(&last, &e, when, true);
        assert_eq!(
            tenant_samples(&e).get(&(
                TENANT_CHECK_SECONDS_TOTAL.to_owned(),
                [("tenant".to_owned(), "acme".to_owned())].into()
            )),
            Some(&7.0),
            "{when}: the new engine's first run is not counted before it owns the series"
        );
        last = e;
    }

    // It is ready: it takes the series over and carries the counters on.
    new.refresh().await.expect("runs");
    assert!(new.is_ready());
    for (when, l) in [
        ("after the takeover, old", &old_layer),
        ("after, new", &new_layer),
    ] {
        let e = scrape(l).await;
        never_dips(&last, &e, when, true);
        last = e;
    }
    drop(old_layer);
    drop(old);
    acme.set(false);
    new.refresh_tenant("acme").await.expect("known");
    let e = scrape(&new_layer).await;
    // acme failed: its state may read 0 now, its counters still never dip.
    never_dips(&last, &e, "after the old engine's drop", false);
    e
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_reload_carries_the_counters_over_and_never_dips() {
    let facade = reload_scenario(TenantMetricsExport::Facade).await;
    let collector = reload_scenario(TenantMetricsExport::Collector).await;
    let acme = |e: &Exposition, to| {
        value(
            e,
            TENANT_TRANSITIONS_TOTAL,
            &[("tenant", "acme"), ("to", to)],
        )
    };
    assert_eq!(
        acme(&collector, "not_ready"),
        Some(3.0),
        "two before, one after"
    );
    assert_eq!(acme(&collector, "ready"), Some(3.0));
    assert_eq!(
        value(
            &collector,
            TENANT_CHECK_SECONDS_TOTAL,
            &[("tenant", "acme")]
        ),
        Some(9.0),
        "7 s from the older engine's five runs, 2 from the newer one's second (its first, 1.5 s \
         before the takeover, counted nothing)"
    );
    assert_values(
        &collector,
        &[
            (TENANT_STATE, &[("tenant", "acme")], 0.0),
            (TENANT_STATE, &[("tenant", "initech")], 1.0),
        ],
    );
    assert_eq!(
        value(&collector, TENANT_STATE, &[("tenant", "globex")]),
        None
    );
    // The facade keeps the removed tenant's series (reading 1); everything else is the same.
    assert_eq!(
        value(&facade, TENANT_STATE, &[("tenant", "globex")]),
        Some(1.0)
    );
    let live = |e: &Exposition| {
        tenant_samples(e)
            .into_iter()
            .filter(|((_, labels), _)| labels.get("tenant").map(String::as_str) != Some("globex"))
            .collect::<BTreeMap<_, _>>()
    };
    assert_eq!(live(&facade), live(&collector));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn not_ready_only_series_carry_over_a_reload() {
    let capture = MetricsCapture::new();
    let down = Flag::new(false);
    let old = Engine::builder()
        .without_heartbeat()
        .tenant_metrics(TenantMetricsMode::NotReadyOnly)
        .tenant("acme", vec![store(&down, false)])
        .build()
        .expect("valid");
    old.refresh().await.expect("runs");
    old.refresh_tenant("acme").await.expect("known");
    let e = capture.scrape(&old).expect("valid");
    assert_eq!(value(&e, TENANT_STATE, &[("tenant", "acme")]), Some(0.0));
    let up = Flag::new(true);
    // Ready from the start (no instance check): it takes over as it is built.
    let new = Engine::builder()
        .without_heartbeat()
        .tenant_metrics(TenantMetricsMode::NotReadyOnly)
        .tenant(
            "acme",
            vec![store(&up, false).initial_delay(Duration::from_secs(600))],
        )
        .reload_from(&old)
        .build()
        .expect("valid");
    new.refresh().await.expect("runs");
    drop(old);
    let e = capture.scrape(&new).expect("valid");
    assert_eq!(
        value(&e, TENANT_STATE, &[("tenant", "acme")]),
        Some(0.0),
        "not ready on its own until its next result says otherwise"
    );
    new.refresh_tenant("acme").await.expect("known");
    let e = capture.scrape(&new).expect("valid");
    assert_eq!(value(&e, TENANT_STATE, &[("tenant", "acme")]), Some(1.0));
    let acme = |to| {
        value(
            &e,
            TENANT_TRANSITIONS_TOTAL,
            &[("tenant", "acme"), ("to", to)],
        )
    };
    assert_eq!((acme("not_ready"), acme("ready")), (Some(1.0), Some(1.0)));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_scrape_of_100000_tenants_is_streamed_while_probes_answer() {
    const N: usize = 100_000;
    let capture = MetricsCapture::new();
    let engine = common::tenant_fleet(N, &capture).await;
    let svc = ServiceBuilder::new()
        .layer(layer(&engine, &capture))
        .service(app());
    let res = svc
        .clone()
        .oneshot(get("/metrics"))
        .await
        .expect("infallible");
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["vary"], "accept-encoding");
    assert!(res.headers().get("content-encoding").is_none());
    let mut body = res.into_body();
    let (mut frames, mut largest, mut text) = (0usize, 0usize, Vec::new());
    while let Some(frame) = body.frame().await {
        let data = frame.expect("the body").into_data().expect("data");
        frames += 1;
        largest = largest.max(data.len());
        text.extend_from_slice(&data);
        if frames % 100 == 0 {
            // Mid-body: probes answer, and nothing the scrape holds blocks the engine.
            for uri in ["/readyz", "/livez", "/readyz/tenants/tenant-77"] {
                let r = svc.clone().oneshot(get(uri)).await.expect("infallible");
                assert_eq!(r.status(), 200, "{uri} during the scrape");
            }
            let id = format!("late-{frames}");
            engine
                .add_tenant(&id, vec![])
                .expect("added during a scrape");
            assert!(engine.remove_tenant(&format!("tenant-{frames}")));
        }
    }
    assert!(
        frames > 100,
        "{frames} frames: never the whole text at once"
    );
    assert!(largest <= 33 * 1024, "a frame of {largest} bytes");
    let text = String::from_utf8(text).expect("UTF-8");
    let e = Exposition::parse(&text).expect("valid");
    let states = e.series(TENANT_STATE).count();
    assert!(
        (N - frames / 100..=N).contains(&states),
        "the tenants listed when the scrape began, less those removed since: {states}"
    );
    let transitions = e.series(TENANT_TRANSITIONS_TOTAL).count();
    assert!((2 * (N - frames / 100)..=2 * N).contains(&transitions));
    assert_eq!(
        value(&e, TENANT_TENANTS, &[("state", "ready")]),
        Some(N as f64),
        "counted when the scrape began"
    );
    assert!(e.series(TENANT_STATE).all(|s| s.value == 1.0));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn gzip_when_the_scraper_accepts_it() {
    let (_capture, l, plain) = fleet_scraped(20_000).await;
    let gzip_req = |method: &str, accept: &str| {
        Request::builder()
            .method(method)
            .uri("/metrics")
            .header("accept-encoding", accept)
            .body(Body::empty())
            .expect("a request")
    };
    let gz = scrape_with(&l, gzip_req("GET", "gzip")).await;
    assert_eq!(gz.status, 200);
    assert_eq!(gz.headers["content-encoding"], "gzip");
    assert_eq!(gz.headers["vary"], "accept-encoding");
    assert_eq!(
        gz.headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert!(gz.frames.len() > 1, "streamed compressed too");
    let (plain_len, gz_len) = (plain.bytes().len(), gz.bytes().len());
    assert!(gz_len * 5 < plain_len, "{gz_len} bytes against {plain_len}");
    let (p, g) = (plain.exposition(), gz.exposition());
    assert_eq!(
        all_samples(&p),
        all_samples(&g),
        "the same text, compressed"
    );
    assert_eq!(g.series(TENANT_STATE).count(), 20_000);

    let refused = scrape_with(&l, gzip_req("GET", "gzip;q=0, identity")).await;
    assert!(refused.headers.get("content-encoding").is_none());
    assert_eq!(refused.headers["vary"], "accept-encoding");
    assert_eq!(all_samples(&refused.exposition()), all_samples(&p));

    // HEAD: the headers GET would have, nothing rendered.
    let head = scrape_with(&l, gzip_req("HEAD", "gzip")).await;
    assert_eq!(head.status, 200);
    assert_eq!(head.headers["content-encoding"], "gzip");
    assert!(head.bytes().is_empty());
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn every_body_type_gets_the_same_exposition() {
    let (_capture, l, streamed) = fleet_scraped(5_000).await;
    assert!(streamed.frames.len() > 1);

    // `Full` cannot stream: the whole text in one frame, the same text.
    let full = common::get(&l, "/metrics").await;
    assert_eq!(full.status, 200);
    let streamed_samples = all_samples(&streamed.exposition());
    assert_eq!(
        all_samples(&Exposition::parse(&full.body).expect("valid")),
        streamed_samples
    );

    // `any_body()`: the layer's own `ResponseBody` streams.
    let inner = service_fn(|_req: Request<()>| async {
        Ok::<_, Infallible>(Response::new(http_body_util::Empty::<Bytes>::new()))
    });
    let svc = ServiceBuilder::new()
        .layer(l.clone().any_body())
        .service(inner);
    let res = svc
        .oneshot(Request::get("/metrics").body(()).expect("a request"))
        .await
        .expect("infallible");
    let mut body = res.into_body();
    let mut frames = Vec::new();
    while let Some(frame) = body.frame().await {
        frames.push(frame.expect("the body").into_data().expect("data"));
    }
    assert!(frames.len() > 1, "any_body streams too");
    let text = String::from_utf8(frames.concat()).expect("UTF-8");
    assert_eq!(
        all_samples(&Exposition::parse(&text).expect("valid")),
        streamed_samples
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_reload_through_the_reloadable_handle_neither_dips_nor_doubles() {
    common::each_export(reloadable).await;
}

async fn reloadable(export: TenantMetricsExport, capture: Rc<MetricsCapture>) {
    let db = Flag::new(true);
    let acme = Flag::new(true);
    let builder = || {
        Engine::builder()
            .without_heartbeat()
            .tenant_metrics_export(export)
            .check(db.spec("db").period(Duration::from_secs(3600)))
            .tenant("acme", vec![store(&acme, true)])
    };
    let engine = ReloadableEngine::new(builder().build().expect("valid"));
    tokio::time::sleep(Duration::from_secs(2)).await;
    for ok in [false, true, false, true] {
        acme.set(ok);
        engine
            .current()
            .refresh_tenant("acme")
            .await
            .expect("known");
    }
    let l = ReadinessLayer::builder(engine.clone())
        .metrics(capture.handle())
        .build()
        .expect("a valid layer");
    let before = scrape(&l).await;
    let acme_to = |e: &Exposition, to| {
        value(
            e,
            TENANT_TRANSITIONS_TOTAL,
            &[("tenant", "acme"), ("to", to)],
        )
    };
    assert_eq!(
        (acme_to(&before, "not_ready"), acme_to(&before, "ready")),
        (Some(2.0), Some(3.0))
    );
    engine
        .reload(builder().tenant("initech", vec![]))
        .await
        .expect("a valid configuration");
    let after = scrape(&l).await;
    never_dips(&before, &after, "across the reload", true);
    assert_eq!(acme_to(&after, "not_ready"), Some(2.0), "carried over");
    assert_eq!(
        acme_to(&after, "ready"),
        Some(3.0),
        "carried over, and no phantom transition ({export:?})"
    );
    assert_values(
        &after,
        &[
            (TENANT_STATE, &[("tenant", "initech")], 1.0),
            (TENANT_TENANTS, &[("state", "ready")], 2.0),
        ],
    );
    acme.set(false);
    engine
        .current()
        .refresh_tenant("acme")
        .await
        .expect("known");
    let later = scrape(&l).await;
    never_dips(&after, &later, "after the reload", false);
    assert_eq!(
        acme_to(&later, "not_ready"),
        Some(3.0),
        "counted on from the carried 2"
    );
}
