//! Our `grpc.health.v1` service on a real tonic server over loopback, queried by the client
//! generated from the same proto: Check, Watch and List for every name, drain, close and a
//! shutdown that completes, tenants and the application's own services.

mod common;

use std::collections::HashMap;

use common::grpc::{
    NOT_SERVING, SERVING, UNKNOWN, channel_to, check, connect, eventually, list, next, req, serve,
    serve_alone, watch,
};
use common::{Flag, engine_with, engine_with_tenants, http1};
use readiness_tower::grpc::pb::health_client::HealthClient;
use readiness_tower::grpc::{HealthService, ServiceNameError, ServingStatus};
use tonic::Code;
use tonic::transport::Channel;

use readiness_tower::grpc::pb::HealthCheckResponse;

#[tokio::test]
async fn check_watch_and_list_answer_every_name() {
    let db = Flag::new(false);
    let store = Flag::new(true);
    let engine = engine_with_tenants(
        vec![db.spec("db")],
        vec![("acme", vec![store.spec("store")])],
    )
    .await;
    let mut s = serve(&engine, HealthService::new(&engine)).await;
    s.reporter
        .set_serving("helloworld.Greeter")
        .expect("not reserved");
    let c = &mut s.client;

    // Before the first ready: readiness and startup are off, liveness is on.
    assert_eq!(check(c, "").await, Ok(NOT_SERVING));
    assert_eq!(check(c, "readiness").await, Ok(NOT_SERVING));
    assert_eq!(check(c, "liveness").await, Ok(SERVING));
    assert_eq!(check(c, "startup").await, Ok(NOT_SERVING));
    assert_eq!(
        check(c, "tenants/acme").await,
        Ok(NOT_SERVING),
        "the instance is not ready"
    );
    assert_eq!(check(c, "helloworld.Greeter").await, Ok(SERVING));
    for unknown in ["tenants/nope", "nope", "Readiness", "tenants/", "liveness/"] {
        assert_eq!(check(c, unknown).await, Err(Code::NotFound), "{unknown:?}");
    }

    let mut watches = Vec::new();
    for name in ["", "readiness", "startup", "tenants/acme"] {
        let mut w = watch(c, name).await;
        assert_eq!(next(&mut w).await, Some(NOT_SERVING), "{name:?}");
        watches.push(w);
    }
    let mut live = watch(c, "liveness").await;
    assert_eq!(next(&mut live).await, Some(SERVING));

    let want: HashMap<String, ServingStatus> = [
        ("", NOT_SERVING),
        ("readiness", NOT_SERVING),
        ("liveness", SERVING),
        ("startup", NOT_SERVING),
        ("tenants/acme", NOT_SERVING),
        ("helloworld.Greeter", SERVING),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(list(c).await, Ok(want));

    // The first ready turns every one of them SERVING, each watcher told once.
    db.set(true);
    engine.refresh().await.expect("the engine runs");
    for w in &mut watches {
        assert_eq!(next(w).await, Some(SERVING));
    }
    for name in ["", "readiness", "liveness", "startup", "tenants/acme"] {
        assert_eq!(check(c, name).await, Ok(SERVING), "{name:?}");
    }
    let listed = list(c).await.expect("under the limit");
    assert_eq!(listed.len(), 6);
    assert!(listed.values().all(|s| *s == SERVING), "{listed:?}");

    // A failure: readiness and the tenant off, startup keeps its latch.
    db.set(false);
    engine.refresh().await.expect("the engine runs");
    let [instance, readiness, startup, acme] = &mut watches[..] else {
        unreachable!("four watches")
    };
    assert_eq!(next(instance).await, Some(NOT_SERVING));
    assert_eq!(next(readiness).await, Some(NOT_SERVING));
    assert_eq!(next(acme).await, Some(NOT_SERVING));
    assert_eq!(check(c, "startup").await, Ok(SERVING));
    assert_eq!(check(c, "liveness").await, Ok(SERVING));

    // HTTP/1.1 probes on the same port agree, as kubelet sends them.
    assert_eq!(http1(s.addr, "GET", "/readyz").await.0, 503);
    assert_eq!(http1(s.addr, "GET", "/livez").await.0, 200);
    assert_eq!(http1(s.addr, "GET", "/startupz").await.0, 200);

    // Neither startup nor liveness changed: their streams say nothing more until they end.
    engine.close();
    assert_eq!(next(startup).await, None, "startup sent nothing more");
    assert_eq!(next(&mut live).await, None, "liveness sent nothing more");
    s.stopped("the server stops once the engine is closed")
        .await;
}

#[tokio::test]
async fn drain_turns_everything_but_liveness_off_and_close_ends_watches_so_shutdown_completes() {
    let engine = engine_with(vec![Flag::new(true).spec("db")]).await;
    engine.add_tenant("acme", vec![]).expect("added");
    let mut s = serve(&engine, HealthService::new(&engine)).await;
    s.reporter
        .set_serving("helloworld.Greeter")
        .expect("not reserved");
    let c = &mut s.client;
    eventually(c, "tenants/acme", Ok(SERVING)).await;

    let off = ["", "readiness", "tenants/acme", "helloworld.Greeter"];
    let mut draining = Vec::new();
    for name in off {
        let mut w = watch(c, name).await;
        assert_eq!(next(&mut w).await, Some(SERVING), "{name:?}");
        draining.push(w);
    }
    let mut kept = Vec::new();
    for name in ["liveness", "startup"] {
        let mut w = watch(c, name).await;
        assert_eq!(next(&mut w).await, Some(SERVING), "{name:?}");
        kept.push(w);
    }
    // An unknown service's watch is held open too.
    let mut unknown = watch(c, "tenants/later").await;
    assert_eq!(next(&mut unknown).await, Some(UNKNOWN));

    engine.drain();
    for (name, w) in off.iter().zip(&mut draining) {
        assert_eq!(next(w).await, Some(NOT_SERVING), "{name:?} off at drain");
    }
    for name in off {
        assert_eq!(check(c, name).await, Ok(NOT_SERVING), "{name:?}");
    }
    assert_eq!(check(c, "liveness").await, Ok(SERVING));
    assert_eq!(check(c, "startup").await, Ok(SERVING));
    // A drain is for good: the application cannot turn its service back on.
    s.reporter
        .set_serving("helloworld.Greeter")
        .expect("not reserved");
    assert_eq!(check(c, "helloworld.Greeter").await, Ok(NOT_SERVING));
    let listed = list(c).await.expect("listed");
    assert_eq!(listed["liveness"], SERVING);
    assert_eq!(listed["startup"], SERVING);
    assert_eq!(listed["tenants/acme"], NOT_SERVING);
    // Still serving through the drain delay: new calls and new watches work.
    let mut late = watch(c, "").await;
    assert_eq!(next(&mut late).await, Some(NOT_SERVING));

    // The drain delay is over: every open stream ends, and the server returns.
    engine.close();
    for w in draining
        .iter_mut()
        .chain(&mut kept)
        .chain([&mut unknown, &mut late])
    {
        assert_eq!(next(w).await, None, "the stream ends at close");
    }
    s.stopped("serve_with_shutdown returns after close()").await;
}

#[tokio::test]
async fn a_watch_of_a_tenant_added_later_turns_from_unknown_to_its_status() {
    let engine = engine_with(vec![]).await;
    let mut s = serve(&engine, HealthService::new(&engine)).await;
    let c = &mut s.client;
    let mut w = watch(c, "tenants/initech").await;
    assert_eq!(next(&mut w).await, Some(UNKNOWN));
    assert_eq!(check(c, "tenants/initech").await, Err(Code::NotFound));

    let store = Flag::new(false);
    engine
        .add_tenant("initech", vec![store.spec("store")])
        .expect("added");
    assert_eq!(
        next(&mut w).await,
        Some(NOT_SERVING),
        "known at once, pending"
    );
    store.set(true);
    engine
        .refresh_tenant("initech")
        .await
        .expect("a known tenant");
    assert_eq!(next(&mut w).await, Some(SERVING));

    // Removed: unknown again, and the stream stays open for its return.
    assert!(engine.remove_tenant("initech"));
    assert_eq!(next(&mut w).await, Some(UNKNOWN));
    assert_eq!(check(c, "tenants/initech").await, Err(Code::NotFound));
    engine.add_tenant("initech", vec![]).expect("added again");
    let mut seen = Vec::new();
    while seen.last() != Some(&SERVING) && seen.len() < 3 {
        seen.push(next(&mut w).await.expect("open"));
    }
    assert_eq!(seen.last(), Some(&SERVING), "{seen:?}");
    // close() drains first if nobody did: the last word is NOT_SERVING, then the end.
    engine.close();
    assert_eq!(next(&mut w).await, Some(NOT_SERVING));
    assert_eq!(next(&mut w).await, None);
}

#[tokio::test]
async fn application_services_are_set_watched_listed_and_cleared() {
    let engine = engine_with(vec![]).await;
    let mut s = serve(&engine, HealthService::new(&engine)).await;
    let c = &mut s.client;
    let r = s.reporter.clone();
    for reserved in [
        "",
        "readiness",
        "liveness",
        "startup",
        "tenants/acme",
        "tenants/",
    ] {
        let err = r.set_serving(reserved).expect_err("reserved");
        assert_eq!(err, ServiceNameError::Reserved(reserved.to_owned()));
        assert!(r.set_not_serving(reserved).is_err());
    }
    assert_eq!(
        check(c, "").await,
        Ok(SERVING),
        "a refused set changes nothing"
    );

    // A watch of a service the application sets later.
    let mut w = watch(c, "orders.v1.Orders").await;
    assert_eq!(next(&mut w).await, Some(UNKNOWN));
    r.set_not_serving("orders.v1.Orders").expect("set");
    assert_eq!(next(&mut w).await, Some(NOT_SERVING));
    // Setting the same status again and setting another service wake this watch for nothing.
    r.set_not_serving("orders.v1.Orders").expect("set");
    r.set_serving("billing.v1.Billing").expect("set");
    r.set_serving("orders.v1.Orders").expect("set");
    assert_eq!(next(&mut w).await, Some(SERVING));
    assert_eq!(list(c).await.expect("listed").len(), 6);

    assert!(r.clear("orders.v1.Orders"));
    assert!(!r.clear("orders.v1.Orders"));
    assert_eq!(next(&mut w).await, Some(UNKNOWN));
    assert_eq!(check(c, "orders.v1.Orders").await, Err(Code::NotFound));
    assert_eq!(check(c, "billing.v1.Billing").await, Ok(SERVING));

    engine.drain();
    assert_eq!(check(c, "billing.v1.Billing").await, Ok(NOT_SERVING));
    assert_eq!(check(c, "liveness").await, Ok(SERVING));
}

#[tokio::test]
async fn list_answers_resource_exhausted_past_its_limit() {
    let engine = engine_with(vec![]).await;
    // The default limit is 100: 4 built-in names and 96 tenants fit, one more does not.
    for i in 0..96 {
        engine.add_tenant(&format!("t{i}"), vec![]).expect("added");
    }
    let mut s = serve(&engine, HealthService::new(&engine)).await;
    let listed = list(&mut s.client).await.expect("exactly at the limit");
    assert_eq!(listed.len(), 100);
    assert!(listed.contains_key("tenants/t95") && listed.contains_key(""));
    s.reporter.set_serving("one.More").expect("set");
    assert_eq!(list(&mut s.client).await, Err(Code::ResourceExhausted));
    assert!(s.reporter.clear("one.More"));
    assert_eq!(list(&mut s.client).await.map(|l| l.len()), Ok(100));
    engine.add_tenant("t96", vec![]).expect("added");
    assert_eq!(list(&mut s.client).await, Err(Code::ResourceExhausted));
    // Check and Watch are not limited.
    assert_eq!(check(&mut s.client, "tenants/t96").await, Ok(SERVING));

    // Configurable.
    let mut small = serve(&engine, HealthService::new(&engine).list_limit(5)).await;
    assert_eq!(list(&mut small.client).await, Err(Code::ResourceExhausted));
    let mut large = serve(&engine, HealthService::new(&engine).list_limit(1_000)).await;
    assert_eq!(list(&mut large.client).await.map(|l| l.len()), Ok(101));
}

#[tokio::test]
async fn the_service_never_keeps_the_engine_alive() {
    let engine = engine_with(vec![Flag::new(true).spec("db")]).await;
    let (health, _reporter) = readiness_tower::grpc::health_service(&engine);
    let (addr, task) = serve_alone(health).await;
    let mut c = connect(addr).await;
    let mut w = watch(&mut c, "").await;
    assert_eq!(next(&mut w).await, Some(SERVING));
    let weak = engine.downgrade();
    drop(engine);
    assert!(
        weak.upgrade().is_none(),
        "the server and its watch hold no strong handle"
    );
    assert_eq!(next(&mut w).await, Some(NOT_SERVING));
    assert_eq!(next(&mut w).await, None, "the watch ends with the engine");
    assert_eq!(check(&mut c, "").await, Ok(NOT_SERVING));
    assert_eq!(check(&mut c, "liveness").await, Ok(NOT_SERVING));
    let mut late = watch(&mut c, "readiness").await;
    assert_eq!(next(&mut late).await, Some(NOT_SERVING));
    assert_eq!(next(&mut late).await, None);
    task.abort();
}

#[tokio::test]
async fn a_watcher_that_never_reads_holds_back_no_one_and_gets_the_latest_status_coalesced() {
    let engine = engine_with(vec![]).await;
    let s = serve(&engine, HealthService::new(&engine)).await;
    let r = s.reporter.clone();
    r.set_serving("svc").expect("set");
    // A 1 KiB stream window: about 140 messages fit before the server must wait for a read.
    let channel = channel_to(s.addr, Some(1024)).await;
    let mut slow = HealthClient::new(channel.clone());
    let mut stalled = watch(&mut slow, "svc").await;
    assert_eq!(next(&mut stalled).await, Some(SERVING));

    // 20,000 changes while the watcher reads nothing. Others on the same connection and on
    // another one are answered all along.
    let mut same_connection = HealthClient::new(channel);
    let mut other = s.client.clone();
    const FLIPS: usize = 20_000;
    for i in 0..FLIPS {
        if i % 2 == 0 {
            r.set_not_serving("svc").expect("set");
        } else {
            r.set_serving("svc").expect("set");
        }
        tokio::task::yield_now().await;
        if i % 2_000 == 0 {
            let want = if i % 2 == 0 { NOT_SERVING } else { SERVING };
            assert_eq!(check(&mut same_connection, "svc").await, Ok(want));
            assert_eq!(check(&mut other, "").await, Ok(SERVING));
        }
    }
    // The last change (i = FLIPS - 1, odd) was to SERVING; one more, then close.
    r.set_not_serving("svc").expect("set");
    assert_eq!(check(&mut other, "svc").await, Ok(NOT_SERVING));
    engine.close();
    let mut got = vec![SERVING];
    while let Some(status) = next(&mut stalled).await {
        assert_ne!(
            got.last(),
            Some(&status),
            "a status sent twice in a row: {got:?}"
        );
        got.push(status);
        assert!(got.len() <= FLIPS + 1, "more messages than changes");
    }
    assert_eq!(
        got.last(),
        Some(&NOT_SERVING),
        "the latest status is the last word"
    );
    // Nothing queued per change: what the server could not send was coalesced.
    assert!(
        got.len() < FLIPS / 10,
        "{} messages for {FLIPS} changes",
        got.len()
    );
}

#[tokio::test]
async fn two_thousand_watches_turn_off_at_drain_and_end_at_close() {
    let engine = engine_with(vec![Flag::new(true).spec("db")]).await;
    engine.add_tenant("acme", vec![]).expect("added");
    let s = serve(&engine, HealthService::new(&engine)).await;
    s.reporter.set_serving("svc").expect("set");
    let names = ["", "readiness", "tenants/acme", "svc", "liveness"];
    let mut watches = Vec::new();
    // 20 connections of 100 streams each (under the server's concurrent-stream limit).
    for _ in 0..20 {
        let mut c = connect(s.addr).await;
        for i in 0..100 {
            let name = names[i % names.len()];
            let mut w = watch(&mut c, name).await;
            assert_eq!(next(&mut w).await, Some(SERVING), "{name:?}");
            watches.push((name, w));
        }
    }
    engine.drain();
    for (name, w) in &mut watches {
        if *name != "liveness" {
            assert_eq!(next(w).await, Some(NOT_SERVING), "{name:?}");
        }
    }
    engine.close();
    for (name, w) in &mut watches {
        assert_eq!(
            next(w).await,
            None,
            "{name:?}: liveness sent nothing, all end"
        );
    }
    s.stopped("the server returns").await;
}

#[tokio::test]
async fn set_serving_racing_drain_never_turns_an_application_service_back_on() {
    let engine = engine_with(vec![]).await;
    let mut s = serve(&engine, HealthService::new(&engine)).await;
    let r = s.reporter.clone();
    r.set_serving("svc").expect("set");
    let mut w = watch(&mut s.client, "svc").await;
    assert_eq!(next(&mut w).await, Some(SERVING));
    // The application keeps setting SERVING from another task while the drain lands.
    let racer = {
        let r = r.clone();
        tokio::spawn(async move {
            for i in 0..1_000 {
                if i % 2 == 0 {
                    r.set_not_serving("svc").expect("set");
                } else {
                    r.set_serving("svc").expect("set");
                }
                tokio::task::yield_now().await;
            }
        })
    };
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    engine.drain();
    racer.await.expect("no panic");
    r.set_serving("svc").expect("set");
    assert_eq!(check(&mut s.client, "svc").await, Ok(NOT_SERVING));
    assert_eq!(
        list(&mut s.client).await.expect("listed")["svc"],
        NOT_SERVING
    );
    // The watch: whatever it saw before the drain, from the drain on it says NOT_SERVING only.
    engine.close();
    let mut rest = Vec::new();
    while let Some(status) = next(&mut w).await {
        rest.push(status);
        assert!(rest.len() <= 1_001, "bounded");
    }
    assert_eq!(rest.last(), Some(&NOT_SERVING), "{rest:?}");
}

#[tokio::test]
async fn a_watch_opened_after_close_sends_the_status_once_and_ends() {
    let engine = engine_with(vec![]).await;
    engine.add_tenant("acme", vec![]).expect("added");
    // A server that is not stopped by the close, to ask it afterwards.
    let health = HealthService::new(&engine);
    health.reporter().set_serving("svc").expect("set");
    let (addr, task) = serve_alone(health.into_server()).await;
    let mut c = connect(addr).await;
    engine.close();
    for (name, want) in [
        ("", NOT_SERVING),
        ("liveness", SERVING),
        ("startup", SERVING),
        ("tenants/acme", NOT_SERVING),
        ("svc", NOT_SERVING),
        ("tenants/nobody", UNKNOWN),
        ("nothing", UNKNOWN),
    ] {
        let mut w = watch(&mut c, name).await;
        assert_eq!(next(&mut w).await, Some(want), "{name:?}");
        assert_eq!(next(&mut w).await, None, "{name:?} ends at once");
    }
    task.abort();
}

/// `HealthCheckRequest` as bytes on the wire: lets a test send a name that is not UTF-8.
#[derive(Clone, PartialEq, prost::Message)]
struct RawRequest {
    #[prost(bytes = "vec", tag = "1")]
    service: Vec<u8>,
}

async fn raw_check(channel: Channel, service: Vec<u8>) -> Result<ServingStatus, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("ready");
    let path = http::uri::PathAndQuery::from_static("/grpc.health.v1.Health/Check");
    let codec = tonic_prost::ProstCodec::<RawRequest, HealthCheckResponse>::default();
    grpc.unary(tonic::Request::new(RawRequest { service }), path, codec)
        .await
        .map(|r| r.into_inner().status())
}

#[tokio::test]
async fn names_with_odd_bytes_or_of_any_length_are_never_echoed() {
    let engine = engine_with(vec![]).await;
    let s = serve(&engine, HealthService::new(&engine)).await;
    let channel = channel_to(s.addr, None).await;
    let secret = |tail: &[u8]| [b"SECRET".as_slice(), tail].concat();
    // Not UTF-8: refused by the decoder, without the bytes.
    let err = raw_check(channel.clone(), secret(b"\xff\xfe\n[+]x ok"))
        .await
        .expect_err("not a string");
    assert_eq!(err.code(), Code::Internal, "{err:?}");
    assert!(!err.message().contains("SECRET"), "{err:?}");
    // Control characters and a megabyte: NOT_FOUND, and the name is not in the message.
    for name in [secret(b"\n\r\0\x1b[31m"), secret(&vec![b'a'; 1 << 20])] {
        let err = raw_check(channel.clone(), name).await.expect_err("unknown");
        assert_eq!(err.code(), Code::NotFound);
        assert_eq!(err.message(), "unknown health service");
    }
    // Past tonic's 4 MiB message limit: refused before it is decoded.
    let err = raw_check(channel.clone(), secret(&vec![b'a'; 5 << 20]))
        .await
        .expect_err("too large");
    assert!(!err.message().contains("SECRET"), "{err:?}");
    // The built-in names are exact: no prefix, case or padding games.
    let mut c = s.client.clone();
    for name in [
        "Readiness",
        "readiness ",
        " liveness",
        "liveness\0",
        "tenants",
        "tenants/",
    ] {
        assert_eq!(check(&mut c, name).await, Err(Code::NotFound), "{name:?}");
    }
    assert_eq!(
        check(&mut c, "readiness").await,
        Ok(SERVING),
        "still answering"
    );
}

#[tokio::test]
async fn a_watch_name_longer_than_any_service_can_have_is_refused_not_kept() {
    let engine = engine_with(vec![]).await;
    // The longest tenant id (63 bytes) still answers, by Check and by Watch.
    let longest_tenant = "t".repeat(63);
    engine
        .add_tenant(&longest_tenant, vec![])
        .expect("a valid id");
    let mut s = serve(&engine, HealthService::new(&engine)).await;
    let tenant = format!("tenants/{longest_tenant}");
    assert_eq!(check(&mut s.client, &tenant).await, Ok(SERVING));
    let mut w = watch(&mut s.client, &tenant).await;
    assert_eq!(next(&mut w).await, Some(SERVING));

    // The reporter takes names up to 256 bytes and refuses longer ones, so a Watch of a
    // 256-byte name can come to life and is held open; a longer one never can.
    let longest_app = "a".repeat(256);
    s.reporter.set_serving(&longest_app).expect("256 bytes");
    assert_eq!(
        s.reporter.set_serving(&"a".repeat(257)),
        Err(ServiceNameError::TooLong(257))
    );
    assert_eq!(
        s.reporter.set_not_serving(&"a".repeat(1 << 20)),
        Err(ServiceNameError::TooLong(1 << 20))
    );
    let mut w = watch(&mut s.client, &longest_app).await;
    assert_eq!(next(&mut w).await, Some(SERVING));
    let mut w = watch(&mut s.client, &"b".repeat(256)).await;
    assert_eq!(next(&mut w).await, Some(UNKNOWN), "could still be set");

    // Longer: refused at the call (no stream, nothing held), the name never echoed. 200 such
    // streams of 4 MiB names would have held 800 MB for as long as the clients liked.
    for len in [257, 1 << 10, 1 << 20, (4 << 20) - 64] {
        let name = format!("SECRET{}", "x".repeat(len - 6));
        let err = s
            .client
            .watch(req(&name))
            .await
            .expect_err("refused at the call");
        assert_eq!(err.code(), Code::InvalidArgument, "{len}: {err:?}");
        assert!(!err.message().contains("SECRET"), "{len}: {err:?}");
        assert!(err.message().len() < 200, "{len}: short");
    }
    assert_eq!(
        check(&mut s.client, "").await,
        Ok(SERVING),
        "still answering"
    );
}
