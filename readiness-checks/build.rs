//! Names the sets of features whose checks share code, so that the code says
//! `#[cfg(tls_client)]` once instead of listing the same features at every item (each set is
//! written here, once).
//!
//! With feature `grpc`, generates the `grpc.health.v1` client from the vendored upstream
//! `proto/grpc/health/v1/health.proto`, compiled in pure Rust (protox): no `protoc`. The
//! crate generates its own client rather than import `readiness-tower`'s: checks and the
//! layer both stand on `readiness-core`, neither on the other.

/// A name, and the features any one of which turns it on.
const FEATURE_SETS: &[(&str, &[&str])] = &[
    // Every check: what they all share (the bounded reads, the reasons).
    (
        "any_check",
        &[
            "tcp", "http", "grpc", "tls", "dns", "disk", "postgres", "mysql", "redis",
        ],
    ),
    // The checks whose failures can be an I/O error.
    (
        "io_reason",
        &[
            "tcp", "http", "grpc", "tls", "disk", "postgres", "mysql", "redis",
        ],
    ),
    // The checks that resolve a host name.
    (
        "resolving",
        &["tcp", "http", "grpc", "dns", "postgres", "mysql", "redis"],
    ),
    // The checks that open a TCP connection of their own.
    ("tcp_client", &["tcp", "http", "grpc", "postgres", "redis"]),
    // The checks configured by a URL.
    ("url_check", &["http", "grpc", "postgres", "mysql", "redis"]),
    // The checks that can speak TLS to their dependency.
    ("tls_client", &["http", "grpc", "postgres", "redis"]),
];

/// A name, and the features all of which turn it on.
const ALL_OF: &[(&str, &[&str])] = &[
    // Every kind: the crate's docs link each kind's check, and with one kind off a link has
    // nothing to resolve to (lib.rs allows that lint then, and only then).
    (
        "every_kind",
        &[
            "tcp", "service", "http", "grpc", "tls", "dns", "disk", "postgres", "mysql", "redis",
        ],
    ),
];

/// Whether `feature` is on in this build.
fn on(feature: &&str) -> bool {
    let var = format!("CARGO_FEATURE_{}", feature.to_uppercase().replace('-', "_"));
    std::env::var_os(var).is_some()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=proto");
    let any = FEATURE_SETS
        .iter()
        .map(|(name, f)| (name, f.iter().any(on)));
    let all = ALL_OF.iter().map(|(name, f)| (name, f.iter().all(on)));
    for (name, set) in any.chain(all) {
        println!("cargo::rustc-check-cfg=cfg({name})");
        if set {
            println!("cargo::rustc-cfg={name}");
        }
    }
    #[cfg(feature = "grpc")]
    {
        let files = protox::compile(["grpc/health/v1/health.proto"], ["proto"])?;
        tonic_prost_build::configure()
            .build_server(false)
            .build_client(true)
            .build_transport(false)
            .compile_fds(files)?;
    }
    Ok(())
}
