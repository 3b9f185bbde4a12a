//! Check URLs: readiness-checks' URL constructors (`HttpCheck::new`, `GrpcCheck::new`,
//! `PostgresCheck::from_url`, `MysqlCheck::from_url`, `RedisCheck::from_url`, `redact_url`)
//! and the demo's `parse_check` (every form its flags take), on any input: never a panic, and
//! never a password or a query in what they show (an error's text, a check's `Debug`).
//!
//! The input's first byte picks a scheme and a shape; the rest is cut at the first `\u{1}`
//! into a password tail and the rest of the URL. The URL is then
//! `SCHEME://u:S3CRET<tail>@<rest>?t=Q7SECRET` (the markers taken out of the fuzzed parts
//! first), or, for odd first bytes, the input as it is (no panic is all that is asked then).
#![no_main]
#![allow(dead_code)]

#[path = "../../examples/demo/data.rs"]
mod data;
#[path = "../../examples/demo/checks.rs"]
mod checks;

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use readiness_checks::{GrpcCheck, HttpCheck, MysqlCheck, PostgresCheck, RedisCheck, redact_url};
use readiness_fuzz::World;

const SCHEMES: [&str; 14] = [
    "http", "https", "grpc", "grpcs", "tcp", "postgres", "postgresql", "mysql", "redis",
    "rediss", "dns", "disk", "cert", "ftp",
];
const PASSWORD: &str = "S3CRET";
const QUERY: &str = "Q7SECRET";

/// What every check built from a URL shares.
fn world() -> &'static World<checks::CheckOptions> {
    static WORLD: OnceLock<World<checks::CheckOptions>> = OnceLock::new();
    // One CA file read once: a TLS URL does not load the system's roots at every input.
    World::once(&WORLD, |_| {
        checks::CheckOptions::with_ca_files(&["/etc/ssl/certs/ca-certificates.crt".into()])
            .unwrap_or_default()
    })
}

fn shown<T: std::fmt::Debug, E: std::fmt::Display>(r: Result<T, E>) -> String {
    match r {
        Ok(v) => format!("{v:?}"),
        Err(e) => e.to_string(),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest).into_owned();
    let scheme = SCHEMES[usize::from(pick / 2) % SCHEMES.len()];
    // `cert:` and `disk:` take a path, where `//u:...@` is just more path: no oracle there.
    let raw = pick % 2 == 1 || matches!(scheme, "cert" | "disk");
    let url = if pick % 2 == 1 {
        text
    } else {
        // Until none is left: taking one out can join two halves into another.
        let mut clean = text;
        while clean.contains("S3CR") || clean.contains("Q7SE") {
            clean = clean.replace("S3CR", "").replace("Q7SE", "");
        }
        let (tail, rest) = clean.split_once('\u{1}').unwrap_or(("", &clean));
        format!("{scheme}://u:{PASSWORD}{tail}@{rest}?t={QUERY}")
    };
    // The demo's cert: and disk: forms touch the file system: only under a directory that
    // does not exist, and never upwards.
    if url.contains("..") && (url.starts_with("cert:") || url.starts_with("disk:")) {
        return;
    }
    let url = match url.strip_prefix("cert:") {
        Some(path) => format!("cert:/nonexistent-readiness-fuzz/{path}"),
        None => url,
    };
    let w = world();
    let _in = w.runtime.enter();
    let mut out = vec![
        redact_url(&url),
        shown(HttpCheck::new(&url)),
        shown(GrpcCheck::new(&url)),
        shown(PostgresCheck::from_url(&url)),
        shown(MysqlCheck::from_url(&url)),
        shown(RedisCheck::from_url(&url)),
    ];
    out.push(match checks::parse_check("--check", &url, &w.state) {
        Ok(_check) => String::new(),
        Err(e) => e,
    });
    if !raw {
        for o in &out {
            assert!(
                !o.contains(PASSWORD) && !o.contains(QUERY),
                "{url:?} shows a secret: {o:?}"
            );
        }
    }
});
