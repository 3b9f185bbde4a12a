//! Results expire (issue 12): a check whose latest result is too old fails in the probes as
//! `stale: no result for Ns`.

mod common;

use std::time::Duration;

use common::{Flag, get};
use readiness_core::{CheckFailure, CheckSpec, Engine, check_fn};

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_stale_result_fails_the_probe_with_its_age() {
    // One permit, held 30 s by `slow`'s first run: `db` gets no result meanwhile.
    let slow = check_fn(|| async {
        std::future::pending::<()>().await;
        Ok::<(), CheckFailure>(())
    });
    let engine = Engine::builder()
        .without_heartbeat()
        .max_in_flight(1)
        .check(Flag::new(true).spec("db"))
        .check(
            CheckSpec::readiness("slow", slow)
                .critical(false)
                .timeout(Duration::from_secs(30))
                .period(Duration::from_secs(3600)),
        )
        .build()
        .expect("valid");
    let layer = common::detailed(engine);
    common::settle().await;
    assert_eq!(get(&layer, "/readyz").await.status, 200);
    // db's result: period 1 s + timeout 1 s + margin 1 s.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let r = get(&layer, "/readyz").await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(
        r.body.contains("[-]db failed: stale: no result for 3s\n"),
        "{}",
        r.body
    );
    assert_eq!(get(&layer, "/readyz/db").await.status, 503);
}
