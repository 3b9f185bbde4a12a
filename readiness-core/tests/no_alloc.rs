//! The plain answers a probe reads are O(1) and allocate nothing, however many checks and
//! tenants there are. Counted with dhat's heap profiler (this test binary's allocator).

use std::time::Duration;

use readiness_core::{CheckFailure, CheckSpec, Engine, check_fn};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn plain_reads_allocate_nothing() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let mut b = Engine::builder().max_tenants(1000);
    for i in 0..1000 {
        b = b.check(
            CheckSpec::readiness(
                format!("c{i}"),
                check_fn(|| async { Ok::<(), CheckFailure>(()) }),
            )
            .period(Duration::from_secs(3600)),
        );
    }
    let engine = b.build().expect("valid");
    for i in 0..1000 {
        engine.add_tenant(&format!("t{i}"), vec![]).expect("added");
    }
    engine.refresh().await.expect("running");
    assert!(engine.is_ready());

    let before = dhat::HeapStats::get().total_blocks;
    let mut ready = 0;
    for _ in 0..10_000 {
        ready += usize::from(engine.is_ready());
        ready += usize::from(engine.is_live());
        ready += usize::from(engine.is_started());
        ready += usize::from(engine.tenant_ready("t500") == Some(true));
        ready += usize::from(engine.tenant_checks_pass("t999") == Some(true));
        ready += usize::from(engine.with_snapshot(|s| s.check("c999").is_some()));
    }
    let blocks = dhat::HeapStats::get().total_blocks - before;
    assert_eq!(ready, 60_000);
    assert_eq!(blocks, 0, "60,000 plain reads allocated {blocks} blocks");
}
