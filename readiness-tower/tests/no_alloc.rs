//! The layer's promise for every request that is not a probe: no allocation of its own.
//! Counted with dhat's heap profiler (a global allocator of this test binary only).

mod common;

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use readiness_tower::ReadinessLayer;
use tower::{Service, ServiceBuilder, service_fn};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// Heap blocks allocated while `n` requests go through `svc`.
async fn blocks_for<S>(svc: &mut S, uri: &str, n: u64) -> u64
where
    S: Service<Request<Full<Bytes>>, Error = Infallible>,
{
    // Build the requests first: only the calls are counted.
    let reqs: Vec<_> = (0..n)
        .map(|_| {
            Request::get(uri)
                .body(Full::new(Bytes::new()))
                .expect("request")
        })
        .collect();
    let before = dhat::HeapStats::get().total_blocks;
    for req in reqs {
        let res = common::call_ready(svc, req).await;
        drop(res);
    }
    dhat::HeapStats::get().total_blocks - before
}

#[tokio::test(flavor = "current_thread")]
async fn a_non_probe_request_allocates_nothing_in_the_layer() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let engine = common::engine_with(vec![common::Flag::new(true).spec("db")]).await;
    // An inner service that allocates nothing itself, so every block would be the layer's.
    let inner = service_fn(|_req: Request<Full<Bytes>>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"hello"))))
    });
    let mut bare = inner;
    let mut layered = ServiceBuilder::new()
        .layer(
            ReadinessLayer::builder(engine.clone())
                .shed_tenants_by_header(http::HeaderName::from_static("x-tenant"))
                .build()
                .expect("a valid layer"),
        )
        .service(inner);
    // Warm up (lazy statics, first-use allocations).
    blocks_for(&mut bare, "/orders?id=7", 10).await;
    blocks_for(&mut layered, "/orders?id=7", 10).await;

    let bare_blocks = blocks_for(&mut bare, "/orders?id=7", 1000).await;
    for uri in ["/orders?id=7", "/readyzz", "/api/readyz", "/livez/x", "/"] {
        let layered_blocks = blocks_for(&mut layered, uri, 1000).await;
        assert_eq!(
            layered_blocks,
            bare_blocks,
            "{uri}: the layer allocated {} blocks in 1000 calls",
            layered_blocks - bare_blocks
        );
    }
    // Behind tower's `ConcurrencyLimit` with permits to spare, the layer's no-op-waker
    // `poll_ready` takes the ready path: still nothing of its own (no clone, no box).
    let limited = || tower::limit::ConcurrencyLimit::new(inner, 4);
    let mut bare_limited = limited();
    let mut layered_limited = ServiceBuilder::new()
        .layer(ReadinessLayer::new(engine.clone()))
        .service(limited());
    blocks_for(&mut bare_limited, "/orders", 10).await;
    blocks_for(&mut layered_limited, "/orders", 10).await;
    assert_eq!(
        blocks_for(&mut layered_limited, "/orders", 1000).await,
        blocks_for(&mut bare_limited, "/orders", 1000).await,
        "a ready ConcurrencyLimit: the layer allocates nothing"
    );

    // A probe, by contrast, is answered by the layer (and may allocate its answer).
    let probe_blocks = blocks_for(&mut layered, "/readyz", 1000).await;
    assert!(probe_blocks > 0, "the probe path was exercised");

    // A query of 16,000 junk pairs (64,000 bytes: `http::Uri` takes at most 65,534) costs a
    // probe no allocation of its own: the parser reads a bounded prefix and allocates only for
    // the values it keeps (`exclude`).
    let junk = format!("/readyz?{}", "a=b&".repeat(16_000));
    let junk_blocks = blocks_for(&mut layered, &junk, 1000).await;
    assert_eq!(junk_blocks, probe_blocks, "no allocation per query pair");
    let encoded = format!("/readyz?{}", "%61=%62&".repeat(8_000));
    let encoded_blocks = blocks_for(&mut layered, &encoded, 100).await;
    assert!(
        // 100 probes, each decoding at most 32 keys (the pair bound), one block each.
        encoded_blocks <= probe_blocks / 10 + 100 * 32,
        "percent-encoded junk allocates at most per pair read, never per pair sent: {encoded_blocks}"
    );
}
