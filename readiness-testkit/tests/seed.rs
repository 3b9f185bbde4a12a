//! `chaos_seed` reads `READINESS_CHAOS_SEED` and prints the seed.
//!
//! Setting an environment variable in a running test process is `unsafe` (and racy), so each
//! case runs this test binary again as a child with the variable set, and checks its output.
#![cfg(feature = "chaos")]

use std::process::{Command, Output};

use readiness_testkit::{SEED_ENV, chaos_seed, try_chaos_seed};

/// Set in the child only: the `child_*` tests do nothing without it.
const CHILD: &str = "READINESS_TESTKIT_SEED_CHILD";

fn run_child(test: &str, seed: Option<&str>) -> Output {
    let exe = std::env::current_exe().expect("test binary path");
    let mut cmd = Command::new(exe);
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1");
    match seed {
        Some(value) => cmd.env(SEED_ENV, value),
        None => cmd.env_remove(SEED_ENV),
    };
    cmd.output().expect("run the test binary")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn child_print_seed() {
    if std::env::var_os(CHILD).is_some() {
        println!("seed = {}", chaos_seed());
    }
}

#[test]
fn child_try_seed() {
    if std::env::var_os(CHILD).is_some() {
        match try_chaos_seed() {
            Ok(seed) => println!("ok {seed}"),
            Err(e) => println!("error {e}"),
        }
    }
}

#[test]
fn a_seed_in_the_environment_is_replayed_and_printed() {
    for value in ["42", "0x2a", " 42 "] {
        let out = run_child("child_print_seed", Some(value));
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert!(out.status.success(), "{stdout}\n{stderr}");
        assert!(stdout.contains("seed = 42\n"), "{stdout}");
        assert!(
            stderr.contains("readiness chaos seed: 42 (replay with READINESS_CHAOS_SEED=42)\n"),
            "{stderr}"
        );
    }
}

#[test]
fn without_a_seed_a_fresh_one_is_derived_and_printed() {
    for seed in [None, Some(""), Some("  ")] {
        let out = run_child("child_print_seed", seed);
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert!(out.status.success(), "{stdout}\n{stderr}");
        let printed: u64 = stdout
            .lines()
            // libtest prints `test child_print_seed ... ` before the child's output.
            .find_map(|l| l.split_once("seed = ").map(|(_, n)| n))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no seed in {stdout}"));
        assert!(
            stderr.contains(&format!(
                "readiness chaos seed: {printed} (replay with READINESS_CHAOS_SEED={printed})"
            )),
            "{stderr}"
        );
    }
}

#[test]
fn a_bad_seed_is_an_error_or_a_clear_panic() {
    let out = run_child("child_try_seed", Some("forty-two"));
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "try_chaos_seed does not panic");
    assert!(
        stdout.contains("error READINESS_CHAOS_SEED=\"forty-two\" is not a seed"),
        "{stdout}"
    );

    let out = run_child("child_print_seed", Some("forty-two"));
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "chaos_seed panics");
    assert!(
        stderr.contains("READINESS_CHAOS_SEED=\"forty-two\" is not a seed"),
        "{stderr}"
    );
    assert!(!stderr.contains("readiness chaos seed:"), "{stderr}");
}
