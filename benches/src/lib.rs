//! Criterion benches for `readiness`, and what the measuring examples share.

/// The resident set size of this process from `/proc/self/statm`, in bytes; `None` where there
/// is no `/proc` (not Linux).
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// Adds tenants `tenant-0` to `tenant-{n-1}` to `engine`, each with one check `store` that
/// passes at once and runs once an hour.
pub fn add_store_tenants(engine: &readiness_core::Engine, n: usize) {
    use readiness_core::{CheckSpec, check_fn};
    for i in 0..n {
        let store = check_fn(|| std::future::ready(Ok::<(), std::io::Error>(())));
        engine
            .add_tenant(
                &format!("tenant-{i}"),
                vec![
                    CheckSpec::readiness("store", store)
                        .period(std::time::Duration::from_secs(3600)),
                ],
            )
            .expect("a valid tenant");
    }
}

/// Waits (in 10 ms steps) until every tenant [`add_store_tenants`] added has its first result:
/// the last one added runs last.
pub async fn until_tenants_ready(engine: &readiness_core::Engine, n: usize) {
    let last = format!("tenant-{}", n - 1);
    while engine.tenant_ready(&last) != Some(true) {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
