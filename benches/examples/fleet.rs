//! Fleet scale (issue 15): resident bytes per tenant, with `metrics-exporter-prometheus`'s
//! recorder installed, at 10,000 and 100,000 tenants (one check each), in both tenant metrics
//! modes; and where the bytes go, from dhat's heap profile.
//!
//! ```text
//! cargo run --release -p readiness-benches --example fleet                 # the table
//! cargo run --release -p readiness-benches --example fleet -- breakdown    # by part (dhat)
//! ```
//!
//! Each figure comes from a fresh child process (this binary, `one N MODE RECORDER`), so one
//! measurement's freed memory never flatters the next: the resident set (`/proc/self/statm`)
//! is read once the engine is built, and again once every tenant has had its first result;
//! the difference is divided by the number of tenants. `RECORDER` is `prometheus` (installed
//! as the global recorder, as a binary would) or `none` (the engine alone, every handle a
//! no-op). The breakdown runs the 100,000-tenant `All` case under dhat and attributes the bytes
//! still allocated at the end to the part of the code that allocated them.

use std::process::Command;
use std::time::Duration;

use readiness_core::{CheckSpec, Engine, TenantMetricsMode, check_fn};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// The whole run gives up after this long.
const DEADLINE: Duration = Duration::from_secs(300);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["one", n, mode, recorder] => {
            let n: usize = n.parse().unwrap_or_else(|_| usage());
            println!(
                "{}",
                measure(n, mode_of(mode), recorder == "prometheus", false)
            );
        }
        ["breakdown"] => breakdown(),
        [] => table(),
        _ => usage(),
    }
}

fn usage() -> ! {
    eprintln!("usage: fleet [breakdown | one N all|not-ready-only prometheus|none]");
    std::process::exit(2);
}

fn mode_of(s: &str) -> TenantMetricsMode {
    match s {
        "all" => TenantMetricsMode::All,
        "not-ready-only" => TenantMetricsMode::NotReadyOnly,
        _ => usage(),
    }
}

fn child(n: usize, mode: &str, recorder: &str) -> String {
    let me = std::env::current_exe().expect("this binary");
    let out = Command::new(me)
        .args(["one", &n.to_string(), mode, recorder])
        .output()
        .expect("run a measurement");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn table() {
    println!("| tenants | mode | recorder | resident bytes per tenant |");
    println!("|---|---|---|---|");
    for (mode, name) in [("all", "`All`"), ("not-ready-only", "`NotReadyOnly`")] {
        for n in [10_000, 100_000] {
            for recorder in ["prometheus", "none"] {
                let bytes = child(n, mode, recorder);
                println!("| {n} | {name} | {recorder} | {bytes} |");
            }
        }
    }
}

/// Resident bytes per tenant for `n` tenants with one check each, once every tenant has had
/// its first result. With `profile`, returns after the engine is ready and keeps it alive in
/// the caller instead (see [`breakdown`]).
fn measure(n: usize, mode: TenantMetricsMode, prometheus: bool, profile: bool) -> u64 {
    if prometheus {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        metrics::set_global_recorder(recorder).expect("the only recorder");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        tokio::time::timeout(DEADLINE, async move {
            let engine = Engine::builder()
                .without_heartbeat()
                .max_tenants(n)
                .tenant_metrics(mode)
                .build()
                .expect("a valid engine configuration");
            tokio::time::sleep(Duration::from_millis(10)).await;
            let before = resident_bytes();
            let profiler = profile.then(|| dhat::Profiler::builder().build());
            for i in 0..n {
                engine
                    .add_tenant(
                        &format!("tenant-{i}"),
                        vec![
                            CheckSpec::readiness(
                                "store",
                                check_fn(|| std::future::ready(Ok::<(), std::io::Error>(()))),
                            )
                            .period(Duration::from_secs(3600)),
                        ],
                    )
                    .expect("a valid tenant");
            }
            // Every tenant's first result (the last added runs last).
            while engine.tenant_ready(&format!("tenant-{}", n - 1)) != Some(true) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            let after = resident_bytes();
            // Dropped while the engine lives: the profile's "end" is the engine's steady state.
            drop(profiler);
            drop(engine);
            after.saturating_sub(before) / n as u64
        })
        .await
        .expect("within the deadline")
    })
}

/// Resident set size (Linux), in bytes.
fn resident_bytes() -> u64 {
    readiness_benches::resident_bytes().expect("Linux /proc")
}

/// Which part of the code an allocation belongs to, from its stack (innermost frame first):
/// the first frame that names a part decides.
fn part(frames: &[&str]) -> &'static str {
    const PARTS: &[(&[&str], &str)] = &[
        (
            &["metrics_exporter_prometheus", "metrics_util"],
            "recorder: its series (keys, labels, values, maps)",
        ),
        (
            &[
                "readiness_core::config::CheckSpec",
                "readiness_core::check::",
            ],
            "the tenant's `Check` (given by the caller)",
        ),
        (&["engine::watchdog"], "watchdog: deadline heap"),
        (
            &["engine::scheduler", "tokio::runtime::task", "JoinSet"],
            "scheduler: timer heap, lanes, runs in flight",
        ),
        (
            &["build_snapshot", "engine::record"],
            "snapshot (replaced on each change)",
        ),
        (&["::audit"], "audit log (bounded)"),
        (
            &[
                "ScopeCore",
                "insert_tenant",
                "add_tenant",
                "resolve_specs",
                "Interner",
            ],
            "tenant record: core, slots, states, id, map entry",
        ),
        (&["fleet::"], "the example's own (ids, specs)"),
    ];
    for f in frames {
        for (needles, name) in PARTS {
            if needles.iter().any(|n| f.contains(n)) {
                return name;
            }
        }
    }
    "other"
}

fn breakdown() {
    const N: usize = 100_000;
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    metrics::set_global_recorder(recorder).expect("the only recorder");
    let dir = std::env::temp_dir().join(format!("fleet-dhat-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    std::env::set_current_dir(&dir).expect("cd");
    measure(N, TenantMetricsMode::All, false, true);
    let json = std::fs::read_to_string(dir.join("dhat-heap.json")).expect("dhat's profile");
    let v: serde_json::Value = serde_json::from_str(&json).expect("dhat's JSON");
    let ftbl: Vec<&str> = v["ftbl"]
        .as_array()
        .expect("ftbl")
        .iter()
        .map(|f| f.as_str().unwrap_or(""))
        .collect();
    let mut parts: std::collections::BTreeMap<&str, (u64, u64)> = Default::default();
    for pp in v["pps"].as_array().expect("pps") {
        let bytes = pp["eb"].as_u64().unwrap_or(0);
        let blocks = pp["ebk"].as_u64().unwrap_or(0);
        if bytes == 0 {
            continue;
        }
        let frames: Vec<&str> = pp["fs"]
            .as_array()
            .expect("fs")
            .iter()
            .filter_map(|i| i.as_u64().and_then(|i| ftbl.get(i as usize).copied()))
            .collect();
        let e = parts.entry(part(&frames)).or_default();
        e.0 += bytes;
        e.1 += blocks;
    }
    let total: u64 = parts.values().map(|p| p.0).sum();
    println!(
        "heap bytes per tenant at {N} tenants, `All` mode, Prometheus recorder (dhat, live at the end):"
    );
    println!();
    println!("| part | bytes per tenant | blocks per tenant |");
    println!("|---|---|---|");
    let mut rows: Vec<_> = parts.into_iter().collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.1.0));
    for (name, (bytes, blocks)) in rows {
        println!(
            "| {name} | {} | {:.1} |",
            bytes / N as u64,
            blocks as f64 / N as f64
        );
    }
    println!("| total | {} | |", total / N as u64);
    if std::env::var_os("FLEET_KEEP").is_some() {
        println!("profile kept in {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
