//! Fleet scale (issues 15 and 23): resident bytes per tenant, with `metrics-exporter-prometheus`'s
//! recorder installed, before and after a scrape of `/metrics` through the layer, and what the
//! scrape itself costs at its peak; and where the bytes go, from dhat's heap profile.
//!
//! ```text
//! cargo run --release -p readiness-benches --example fleet                 # the table
//! cargo run --release -p readiness-benches --example fleet -- breakdown    # by part (dhat)
//! ```
//!
//! Each figure comes from a fresh child process (this binary, `one N MODE RECORDER`), so one
//! measurement's freed memory never flatters the next: the resident set (`/proc/self/statm`)
//! is read once the engine is built, again once every tenant has had its first result, and
//! again after one `GET /metrics` through `ReadinessLayer` whose body is read frame by frame
//! and dropped, as a server writes it to its socket. The peak of the scrape is the kernel's
//! high-water mark of the resident set (`VmHWM`, reset through `/proc/self/clear_refs` just
//! before the scrape) less the resident set just before it. `RECORDER` is `prometheus`
//! (installed as the global recorder, as a binary would) or `none` (the engine alone, every
//! handle a no-op, no scrape). The breakdown runs the 100,000-tenant `All` case under dhat and
//! attributes the bytes still allocated at the end to the part of the code that allocated them.

use std::process::Command;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use http::Request;
use http_body_util::BodyExt;
use readiness_core::{Engine, TenantMetricsExport, TenantMetricsMode};
use readiness_tower::ReadinessLayer;
use tower::{ServiceBuilder, ServiceExt};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// The whole run gives up after this long.
const DEADLINE: Duration = Duration::from_secs(600);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["one", n, mode, recorder, export, encoding] => {
            let n: usize = n.parse().unwrap_or_else(|_| usage());
            let run = Run {
                n,
                mode: mode_of(mode),
                prometheus: recorder == "prometheus",
                export: export_of(export),
                gzip: encoding == "gzip",
            };
            let f = measure(&run, false);
            println!(
                "{} {} {} {} {} {}",
                f.per_tenant,
                f.per_tenant_after_scrape,
                f.scrape_peak,
                f.resident,
                f.body,
                f.frames
            );
        }
        ["breakdown"] => breakdown(),
        [] => table(),
        _ => usage(),
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: fleet [breakdown | one N all|not-ready-only prometheus|none collector|facade identity|gzip]"
    );
    std::process::exit(2);
}

fn mode_of(s: &str) -> TenantMetricsMode {
    match s {
        "all" => TenantMetricsMode::All,
        "not-ready-only" => TenantMetricsMode::NotReadyOnly,
        _ => usage(),
    }
}

fn export_of(s: &str) -> TenantMetricsExport {
    match s {
        "collector" => TenantMetricsExport::Collector,
        "facade" => TenantMetricsExport::Facade,
        _ => usage(),
    }
}

fn child(n: usize, mode: &str, recorder: &str, export: &str, encoding: &str) -> Vec<u64> {
    let me = std::env::current_exe().expect("this binary");
    let out = Command::new(me)
        .args(["one", &n.to_string(), mode, recorder, export, encoding])
        .output()
        .expect("run a measurement");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(|v| v.parse().expect("a figure"))
        .collect()
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn table() {
    println!(
        "| tenants | mode | per-tenant series | scrape | resident bytes per tenant | after a scrape | scrape peak growth | resident after the scrape | body |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let runs: &[(usize, &str, &str, &str, &str)] = &[
        (100_000, "all", "prometheus", "facade", "identity"),
        (100_000, "all", "prometheus", "collector", "identity"),
        (100_000, "all", "prometheus", "collector", "gzip"),
        (
            100_000,
            "not-ready-only",
            "prometheus",
            "facade",
            "identity",
        ),
        (
            100_000,
            "not-ready-only",
            "prometheus",
            "collector",
            "identity",
        ),
        (100_000, "all", "none", "collector", "identity"),
        (1_000_000, "all", "prometheus", "facade", "identity"),
        (1_000_000, "all", "prometheus", "collector", "identity"),
    ];
    for &(n, mode, recorder, export, encoding) in runs {
        let name = if mode == "all" {
            "`All`"
        } else {
            "`NotReadyOnly`"
        };
        let f = child(n, mode, recorder, export, encoding);
        if recorder == "none" {
            println!(
                "| {n} | {name} | (no recorder) | (none) | {} | | | {} | |",
                f[0],
                mib(f[3])
            );
        } else {
            println!(
                "| {n} | {name} | {export} | {encoding} | {} | **{}** | {} | {} | {} in {} frames |",
                f[0],
                f[1],
                mib(f[2]),
                mib(f[3]),
                mib(f[4]),
                f[5]
            );
        }
    }
}

/// One measurement's settings.
struct Run {
    n: usize,
    mode: TenantMetricsMode,
    prometheus: bool,
    export: TenantMetricsExport,
    gzip: bool,
}

/// What one measurement found.
struct Figures {
    /// Resident bytes per tenant once every tenant has had its first result.
    per_tenant: u64,
    /// The same, after one scrape.
    per_tenant_after_scrape: u64,
    /// How far the resident set rose above its level before the scrape, at the scrape's peak.
    scrape_peak: u64,
    /// The whole resident set after the scrape.
    resident: u64,
    /// Bytes of the scrape's body, and how many frames carried them.
    body: u64,
    frames: u64,
}

/// Resident bytes per tenant for `n` tenants with one check each, once every tenant has had
/// its first result, then the scrape's figures. With `profile`, dhat profiles from the first
/// tenant until the engine is ready, and the engine is dropped only after the profiler (see
/// [`breakdown`]).
fn measure(run: &Run, profile: bool) -> Figures {
    let Run {
        n,
        mode,
        prometheus,
        export,
        gzip,
    } = *run;
    let handle = prometheus.then(|| {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::set_global_recorder(recorder).expect("the only recorder");
        handle
    });
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
                .tenant_metrics_export(export)
                .build()
                .expect("a valid engine configuration");
            tokio::time::sleep(Duration::from_millis(10)).await;
            let before = resident_bytes();
            let profiler = profile.then(|| dhat::Profiler::builder().build());
            readiness_benches::add_store_tenants(&engine, n);
            // Every tenant's first result (the last added runs last).
            readiness_benches::until_tenants_ready(&engine, n).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
            let ready = resident_bytes();
            // Dropped while the engine lives: the profile's "end" is the engine's steady state.
            drop(profiler);
            let mut f = Figures {
                per_tenant: ready.saturating_sub(before) / n as u64,
                per_tenant_after_scrape: 0,
                scrape_peak: 0,
                resident: ready,
                body: 0,
                frames: 0,
            };
            if let Some(handle) = handle {
                let layer = ReadinessLayer::builder(engine.clone())
                    .metrics(handle)
                    .build()
                    .expect("a valid layer");
                let app = ServiceBuilder::new().layer(layer).service(Router::new());
                reset_peak();
                let start = resident_bytes();
                let mut req = Request::get("/metrics");
                if gzip {
                    req = req.header("accept-encoding", "gzip");
                }
                let res = app
                    .oneshot(req.body(Body::empty()).expect("a request"))
                    .await
                    .expect("infallible");
                assert_eq!(res.status(), 200);
                let mut body = res.into_body();
                while let Some(frame) = body.frame().await {
                    let frame = frame.expect("the body");
                    if let Some(data) = frame.data_ref() {
                        f.body += data.len() as u64;
                        f.frames += 1;
                    }
                }
                drop(body);
                f.scrape_peak = peak_bytes().saturating_sub(start);
                tokio::time::sleep(Duration::from_millis(100)).await;
                let after = resident_bytes();
                f.resident = after;
                f.per_tenant_after_scrape = after.saturating_sub(before) / n as u64;
            }
            drop(engine);
            f
        })
        .await
        .expect("within the deadline")
    })
}

/// Resident set size (Linux), in bytes.
fn resident_bytes() -> u64 {
    readiness_benches::resident_bytes().expect("Linux /proc")
}

/// Reset the kernel's high-water mark of the resident set (`VmHWM`) to the current resident set.
fn reset_peak() {
    std::fs::write("/proc/self/clear_refs", "5").expect("/proc/self/clear_refs (Linux 4.0+)");
}

/// The high-water mark of the resident set since [`reset_peak`], in bytes.
fn peak_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmHWM")
        * 1024
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
    let export = match std::env::var("FLEET_EXPORT").as_deref() {
        Ok("facade") => TenantMetricsExport::Facade,
        _ => TenantMetricsExport::Collector,
    };
    let run = Run {
        n: N,
        mode: TenantMetricsMode::All,
        prometheus: false,
        export,
        gzip: false,
    };
    measure(&run, true);
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
        "heap bytes per tenant at {N} tenants, `All` mode, {export:?}, Prometheus recorder (dhat, live at the end):"
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
