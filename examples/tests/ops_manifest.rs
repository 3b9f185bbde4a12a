//! The Kubernetes manifest (`ops/kubernetes/demo.yaml`) and the demo agree (issue 14): the
//! container's args are flags the built demo accepts; the drain delay (the `--drain-delay`
//! arg, or the demo's default read from `--help`) covers the readiness probe's
//! `periodSeconds x failureThreshold` plus endpoint propagation; the demo's own default
//! covers Kubernetes' default probe the same way; `terminationGracePeriodSeconds` covers the
//! `preStop` sleep, the drain delay and the longest request; the `--listen` port is the
//! container port that the probes, the scrape annotations and the Service use; the probe and
//! scrape paths, and every path the header lists (`/metrics/slis`, Kubernetes' health SLIs,
//! included), are answered by the running demo; and `ReadinessDrainStuck` waits longer than
//! any drain can last.
//!
//! The `ops/` parsing these checks share with the other `ops_*` tests is in `ops/`.

mod common;
mod ops;

use std::time::Duration;

use serde_yaml_ng::Value as Yaml;

use ops::checks::assert_no_problems;
use ops::collect::{Collected, scalar};
use ops::files::{OpsFiles, ops_dir};

/// What the drain delay must cover beyond the readiness probe: endpoint propagation to
/// kube-proxy, ingress controllers and load balancers (the manifest's header).
const PROPAGATION: Duration = Duration::from_secs(5);
/// Kubernetes' health SLIs (DEMO.md): served by the demo, listed in the manifest's header.
const SLIS_PATH: &str = "/metrics/slis";
/// The longest request the demo serves: `GET /slow?ms=60000` (DEMO.md).
const LONGEST_REQUEST: Duration = Duration::from_secs(60);
/// Kubernetes' defaults: probe `periodSeconds`, `failureThreshold`, and the pod's
/// `terminationGracePeriodSeconds`.
const K8S_PERIOD_SECONDS: u64 = 10;
const K8S_FAILURE_THRESHOLD: u64 = 3;
const K8S_GRACE_SECONDS: u64 = 30;

/// The demo's defaults, as its `--help` states them.
struct DemoDefaults {
    drain_delay: Duration,
}

impl DemoDefaults {
    fn from_help(help: &str) -> Self {
        let default_of = |flag: &str| -> String {
            let start = help
                .find(&format!("  {flag} "))
                .unwrap_or_else(|| panic!("--help lists no {flag}:\n{help}"));
            let entry = &help[start + 2..];
            let entry = &entry[..entry.find("\n  --").unwrap_or(entry.len())];
            let after = entry
                .split_once("(default ")
                .unwrap_or_else(|| panic!("no `(default …)` for {flag}: {entry}"))
                .1;
            after
                .split(|c: char| c.is_whitespace() || c == ')')
                .next()
                .unwrap_or_default()
                .trim_end_matches([':', ','])
                .to_owned()
        };
        let delay = default_of("--drain-delay");
        Self {
            drain_delay: duration(&delay)
                .unwrap_or_else(|| panic!("--help: bad --drain-delay default {delay:?}")),
        }
    }
}

/// `250ms`, `15s`, `1m`, `2h`: the demo's flag durations and Prometheus' `for:`.
fn duration(v: &str) -> Option<Duration> {
    let split = v.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = v.split_at(split);
    let n: u64 = n.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => Some(Duration::from_secs(n * 60)),
        "h" => Some(Duration::from_secs(n * 3600)),
        _ => None,
    }
}

/// The parts of `ops/kubernetes/demo.yaml` the checks read.
struct Manifest {
    /// The demo container's args.
    args: Vec<String>,
    /// `(path, port)` of the startup, liveness and readiness probes, and the scrape.
    paths: Vec<(&'static str, String)>,
}

/// The container's `--flag VALUE` or `--flag=VALUE`.
fn arg_value<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    args.iter().enumerate().find_map(|(i, a)| {
        if a == flag {
            args.get(i + 1).map(String::as_str)
        } else {
            a.strip_prefix(flag).and_then(|v| v.strip_prefix('='))
        }
    })
}

/// Problems with the manifest's numbers, checked against the demo's defaults and the stuck-drain
/// alert's `for`.
fn check_manifest(
    text: &str,
    demo: &DemoDefaults,
    stuck_drain_for: Duration,
) -> (Vec<String>, Manifest) {
    let mut problems = Vec::new();
    let docs: Vec<Yaml> = text
        .split("\n---\n")
        .map(|d| serde_yaml_ng::from_str(d).expect("valid YAML document"))
        .collect();
    let kind = |k: &str| {
        docs.iter()
            .find(|d| d.get("kind").and_then(Yaml::as_str) == Some(k))
    };
    let deployment = kind("Deployment").expect("a Deployment");
    let pod = &deployment["spec"]["template"];
    let container = &pod["spec"]["containers"][0];
    let num = |v: &Yaml, default: u64| v.as_u64().unwrap_or(default);
    let args: Vec<String> = container["args"]
        .as_sequence()
        .map(|s| s.iter().filter_map(scalar).collect())
        .unwrap_or_default();

    // Ports: --listen, the container port, the probes, the scrape annotations, the Service.
    let listen_port = arg_value(&args, "--listen")
        .and_then(|a| a.rsplit_once(':'))
        .and_then(|(_, p)| p.parse::<u64>().ok())
        .unwrap_or(3000);
    let ports = container["ports"]
        .as_sequence()
        .cloned()
        .unwrap_or_default();
    let resolve = |port: &Yaml| -> Option<u64> {
        port.as_u64().or_else(|| {
            let name = port.as_str()?;
            ports
                .iter()
                .find(|p| p["name"].as_str() == Some(name))
                .and_then(|p| p["containerPort"].as_u64())
        })
    };
    if !ports
        .iter()
        .any(|p| p["containerPort"].as_u64() == Some(listen_port))
    {
        problems.push(format!(
            "no containerPort is the --listen port {listen_port}"
        ));
    }
    let annotations = &pod["metadata"]["annotations"];
    let scrape_port = annotations["prometheus.io/port"]
        .as_str()
        .and_then(|p| p.parse().ok());
    if scrape_port != Some(listen_port) {
        problems.push(format!(
            "prometheus.io/port is {scrape_port:?}, the demo listens on {listen_port}"
        ));
    }
    if let Some(service) = kind("Service") {
        for port in service["spec"]["ports"].as_sequence().into_iter().flatten() {
            if resolve(&port["targetPort"]) != Some(listen_port) {
                problems.push(format!(
                    "Service targetPort {:?} is not the --listen port {listen_port}",
                    port["targetPort"]
                ));
            }
        }
    }

    let mut paths = Vec::new();
    let mut probe = |name: &'static str| -> Option<&Yaml> {
        let probe = container.get(name)?;
        let get = &probe["httpGet"];
        if resolve(&get["port"]) != Some(listen_port) {
            problems.push(format!(
                "{name} port {:?} is not the --listen port {listen_port}",
                get["port"]
            ));
        }
        paths.push((name, get["path"].as_str().unwrap_or("/").to_owned()));
        Some(probe)
    };
    let readiness = probe("readinessProbe");
    probe("livenessProbe");
    probe("startupProbe");
    paths.push((
        "prometheus.io/path",
        annotations["prometheus.io/path"]
            .as_str()
            .unwrap_or("/metrics")
            .to_owned(),
    ));
    // The paths the header lists (`#   /path   what it is`): the demo answers each.
    for line in text.lines().take_while(|l| l.starts_with('#')) {
        if let Some(path) = line.strip_prefix("#   /") {
            let path = path.split_whitespace().next().unwrap_or_default();
            paths.push(("header", format!("/{path}")));
        }
    }
    if !paths.iter().any(|(_, p)| p == SLIS_PATH) {
        problems.push(format!(
            "the header does not list {SLIS_PATH} (Kubernetes' health SLIs, a second scrape job)"
        ));
    }
    for (name, want) in [
        ("readinessProbe", "/readyz"),
        ("livenessProbe", "/livez"),
        ("startupProbe", "/startupz"),
    ] {
        match paths.iter().find(|(n, _)| *n == name) {
            Some((_, path)) if path == want => {}
            Some((_, path)) => problems.push(format!("{name} probes {path}, not {want}")),
            None => problems.push(format!("no {name}")),
        }
    }

    // The drain delay covers the readiness probe plus propagation.
    let drain_delay = match arg_value(&args, "--drain-delay") {
        Some(v) => duration(v).unwrap_or_else(|| {
            problems.push(format!("--drain-delay {v:?} is not a duration"));
            Duration::ZERO
        }),
        None => demo.drain_delay,
    };
    let (period, threshold) = readiness.map_or((K8S_PERIOD_SECONDS, K8S_FAILURE_THRESHOLD), |p| {
        (
            num(&p["periodSeconds"], K8S_PERIOD_SECONDS),
            num(&p["failureThreshold"], K8S_FAILURE_THRESHOLD),
        )
    });
    let needed = Duration::from_secs(period * threshold) + PROPAGATION;
    if drain_delay < needed {
        problems.push(format!(
            "drain delay {drain_delay:?} < readiness periodSeconds x failureThreshold \
             ({period}s x {threshold}) + propagation ({PROPAGATION:?}) = {needed:?}"
        ));
    }
    let k8s_needed = Duration::from_secs(K8S_PERIOD_SECONDS * K8S_FAILURE_THRESHOLD) + PROPAGATION;
    if demo.drain_delay < k8s_needed {
        problems.push(format!(
            "the demo's default drain delay {:?} < Kubernetes' default readiness probe \
             ({K8S_PERIOD_SECONDS}s x {K8S_FAILURE_THRESHOLD}) + propagation = {k8s_needed:?}",
            demo.drain_delay
        ));
    }

    // The grace period covers preStop, the drain delay and the longest request.
    let pre_stop = &container["lifecycle"]["preStop"];
    let pre_stop_sleep = if pre_stop.is_null() {
        Duration::ZERO
    } else if let Some(s) = pre_stop["sleep"]["seconds"].as_u64() {
        Duration::from_secs(s)
    } else {
        problems.push("a preStop hook other than `sleep` cannot be sized: use `sleep`".into());
        Duration::ZERO
    };
    let grace = Duration::from_secs(num(
        &pod["spec"]["terminationGracePeriodSeconds"],
        K8S_GRACE_SECONDS,
    ));
    let grace_needed = pre_stop_sleep + drain_delay + LONGEST_REQUEST;
    if grace < grace_needed {
        problems.push(format!(
            "terminationGracePeriodSeconds {grace:?} < preStop {pre_stop_sleep:?} + drain delay \
             {drain_delay:?} + longest request {LONGEST_REQUEST:?} = {grace_needed:?}"
        ));
    }

    // No drain outlasts the grace period (then the kubelet kills the pod) or, outside
    // Kubernetes, the demo's default delay and its longest request.
    let longest_drain = grace.max(demo.drain_delay + LONGEST_REQUEST);
    if stuck_drain_for <= longest_drain {
        problems.push(format!(
            "ReadinessDrainStuck fires after {stuck_drain_for:?}, within a normal drain ({longest_drain:?})"
        ));
    }
    (problems, Manifest { args, paths })
}

fn manifest_text() -> String {
    let path = ops_dir().join("kubernetes/demo.yaml");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn stuck_drain_for(files: &OpsFiles) -> Duration {
    let c = Collected::from_files(files);
    let alert = c
        .alerts
        .iter()
        .find(|a| a.name == "ReadinessDrainStuck")
        .expect("a ReadinessDrainStuck alert");
    let v = alert.rule["for"]
        .as_str()
        .expect("ReadinessDrainStuck has a `for`");
    duration(v).unwrap_or_else(|| panic!("bad `for` {v:?}"))
}

fn demo_defaults() -> DemoDefaults {
    let (status, help, stderr) = common::run_demo(&["--help"]);
    assert!(status.success(), "demo --help: {status}: {stderr}");
    DemoDefaults::from_help(&help)
}

#[test]
fn the_manifest_and_the_demo_agree_on_periods_delays_grace_ports_and_paths() {
    let demo = demo_defaults();
    let (problems, manifest) =
        check_manifest(&manifest_text(), &demo, stuck_drain_for(&OpsFiles::load()));
    assert_no_problems("ops/kubernetes/demo.yaml and the demo disagree", &problems);

    // The container's args are flags the demo accepts (it reads them all before `--help`).
    let mut args: Vec<&str> = manifest.args.iter().map(String::as_str).collect();
    args.push("--help");
    let (status, _, stderr) = common::run_demo(&args);
    assert!(status.success(), "demo {args:?}: {status}: {stderr}");

    // Every probe and the scrape path are answered by the demo run with those args (on a
    // loopback port instead of the manifest's 0.0.0.0:3000).
    let mut args = manifest.args.clone();
    if let Some(i) = args.iter().position(|a| a == "--listen") {
        args.drain(i..(i + 2).min(args.len()));
    }
    args.retain(|a| !a.starts_with("--listen="));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let demo = common::Demo::start(&args);
    // Probes first (the list starts with them), so the health SLIs have series to show.
    for (what, path) in &manifest.paths {
        let (status, body) = common::http_get(demo.addr, path);
        if path == SLIS_PATH {
            assert_eq!(status, 200, "{what} {path}: {body}");
            for family in [
                "# TYPE kubernetes_healthcheck gauge",
                "# TYPE kubernetes_healthchecks_total counter",
            ] {
                assert!(
                    body.contains(family),
                    "{what} {path} has no {family:?}: {body}"
                );
            }
            for probe in ["readyz", "livez"] {
                assert!(
                    body.contains(&format!("type=\"{probe}\"")),
                    "{what} {path}: the {probe} probe was observed: {body}"
                );
            }
            assert!(
                !body.contains("type=\"startupz\"") && !body.contains("tenant"),
                "{what} {path}: only the root probes, never a tenant: {body}"
            );
        } else if *what == "prometheus.io/path" || path.starts_with("/metrics") {
            assert_eq!(status, 200, "{what} {path}: {body}");
            assert!(
                body.contains("# TYPE readiness_draining gauge"),
                "{what} {path} has no readiness_draining: {body}"
            );
        } else {
            assert!(
                status == 200 || status == 503,
                "{what} {path} answers {status}: {body}"
            );
            assert!(
                body == "ok"
                    || body.ends_with("check passed\n")
                    || body.ends_with("check failed\n"),
                "{what} {path} is not a probe answer: {body:?}"
            );
        }
    }
}

#[test]
fn the_demo_default_drain_delay_covers_kubernetes_default_probe() {
    let demo = demo_defaults();
    let needed = Duration::from_secs(K8S_PERIOD_SECONDS * K8S_FAILURE_THRESHOLD) + PROPAGATION;
    assert!(
        demo.drain_delay >= needed,
        "the demo's default --drain-delay {:?} < {needed:?}",
        demo.drain_delay
    );
}

#[test]
fn manifest_numbers_that_disagree_are_reported() {
    let demo = DemoDefaults {
        drain_delay: Duration::from_secs(35),
    };
    let text = manifest_text();
    let stuck = Duration::from_secs(15 * 60);
    let (ok, _) = check_manifest(&text, &demo, stuck);
    assert_no_problems("the shipped manifest", &ok);
    let problems_with = |from: &str, to: &str, demo: &DemoDefaults, stuck: Duration| {
        assert!(text.contains(from), "{from:?} is in the manifest");
        check_manifest(&text.replacen(from, to, 1), demo, stuck).0
    };
    let expect_one = |problems: Vec<String>, needle: &str| {
        assert_eq!(problems.len(), 1, "{needle}: {problems:#?}");
        assert!(problems[0].contains(needle), "{needle}: {problems:#?}");
    };
    // A drain delay shorter than the readiness probe (2 s x 3) + 5 s.
    expect_one(
        problems_with("- 15s #", "- 10s #", &demo, stuck),
        "drain delay 10s < readiness periodSeconds x failureThreshold (2s x 3) + propagation (5s) = 11s",
    );
    // A slower readiness probe without a longer drain.
    expect_one(
        problems_with(
            "periodSeconds: 2 # with failureThreshold 3",
            "periodSeconds: 10 #",
            &demo,
            stuck,
        ),
        "(10s x 3)",
    );
    // A grace period that the drain delay and the longest request do not fit in.
    expect_one(
        problems_with(
            "terminationGracePeriodSeconds: 75",
            "terminationGracePeriodSeconds: 30",
            &demo,
            stuck,
        ),
        "terminationGracePeriodSeconds 30s < preStop 0ns + drain delay 15s + longest request 60s = 75s",
    );
    // A preStop sleep counts against the grace period.
    expect_one(
        problems_with(
            "      containers:\n        - name: demo\n",
            "      containers:\n        - name: demo\n          lifecycle:\n            preStop:\n              sleep:\n                seconds: 10\n",
            &demo,
            stuck,
        ),
        "preStop 10s",
    );
    // Ports and paths.
    expect_one(
        problems_with(
            "prometheus.io/port: \"3000\"",
            "prometheus.io/port: \"9090\"",
            &demo,
            stuck,
        ),
        "prometheus.io/port",
    );
    expect_one(
        problems_with("path: /readyz", "path: /ready", &demo, stuck),
        "readinessProbe probes /ready",
    );
    // The demo's own default too short for Kubernetes' default probe (the old 5 s).
    let old = DemoDefaults {
        drain_delay: Duration::from_secs(5),
    };
    expect_one(
        check_manifest(&text, &old, stuck).0,
        "the demo's default drain delay 5s",
    );
    // A stuck-drain alert that would fire during a normal drain.
    expect_one(
        check_manifest(&text, &demo, Duration::from_secs(60)).0,
        "ReadinessDrainStuck fires after 60s",
    );
}

#[test]
fn help_defaults_and_durations_parse() {
    let help = "  --drain-delay DUR   on SIGTERM: 503\n                      more (default 35s: Kubernetes')\n  --show-details  x";
    assert_eq!(
        DemoDefaults::from_help(help).drain_delay,
        Duration::from_secs(35)
    );
    assert_eq!(duration("250ms"), Some(Duration::from_millis(250)));
    assert_eq!(duration("15m"), Some(Duration::from_secs(900)));
    assert_eq!(duration("15"), None);
    assert_eq!(duration("1d"), None);
    let args: Vec<String> = ["--listen", "0.0.0.0:3000", "--drain-delay=15s"]
        .map(String::from)
        .into();
    assert_eq!(arg_value(&args, "--listen"), Some("0.0.0.0:3000"));
    assert_eq!(arg_value(&args, "--drain-delay"), Some("15s"));
    assert_eq!(arg_value(&args, "--period"), None);
}
