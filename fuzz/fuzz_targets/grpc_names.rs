//! gRPC service names, through the public `Health` service: any name gets `Check` and `Watch`
//! answers from the contract (the engine's names, a tenant, an application service, or
//! unknown), a name longer than any service's is refused by `Watch`, and no answer echoes it.
#![no_main]

use std::sync::OnceLock;

use futures_util::StreamExt;
use libfuzzer_sys::fuzz_target;
use readiness_core::Engine;
use readiness_fuzz::{Served, World};
use readiness_tower::grpc::pb::HealthCheckRequest;
use readiness_tower::grpc::pb::health_server::Health;
use readiness_tower::grpc::{HealthService, MAX_SERVICE_NAME_LEN, ServingStatus};
use tonic::{Code, Request};

fn world() -> &'static World<Served<HealthService>> {
    static WORLD: OnceLock<World<Served<HealthService>>> = OnceLock::new();
    World::once(&WORLD, |runtime| {
        let builder = Engine::builder().without_heartbeat().tenant("acme", vec![]);
        Served::new(runtime, builder, |engine| {
            let health = HealthService::new(engine);
            health.reporter().set_serving("svc").expect("not reserved");
            health
        })
    })
}

fn known(name: &str) -> bool {
    matches!(
        name,
        "" | "readiness" | "liveness" | "startup" | "tenants/acme" | "svc"
    )
}

fuzz_target!(|data: &[u8]| {
    let Ok(name) = std::str::from_utf8(data) else {
        return;
    };
    let w = world();
    let req = || {
        Request::new(HealthCheckRequest {
            service: name.to_owned(),
        })
    };
    w.runtime.block_on(async {
        match w.state.service.check(req()).await {
            Ok(_) => assert!(known(name), "{name:?} answered"),
            Err(status) => {
                assert!(!known(name), "{name:?}: {status:?}");
                assert_eq!(status.code(), Code::NotFound);
                assert_eq!(status.message(), "unknown health service");
            }
        }
        match w.state.service.watch(req()).await {
            Ok(stream) => {
                assert!(
                    name.len() <= MAX_SERVICE_NAME_LEN,
                    "{} bytes kept",
                    name.len()
                );
                let first = stream
                    .into_inner()
                    .next()
                    .await
                    .expect("a first message")
                    .expect("no error");
                let unknown = first.status() == ServingStatus::ServiceUnknown;
                assert_eq!(unknown, !known(name), "{name:?}: {first:?}");
            }
            Err(status) => {
                assert!(name.len() > MAX_SERVICE_NAME_LEN, "{name:?}: {status:?}");
                assert_eq!(status.code(), Code::InvalidArgument);
                assert!(name.is_empty() || !status.message().contains(name));
            }
        }
    });
});
