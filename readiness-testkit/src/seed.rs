//! Seeds for random plans: replayed from the environment or derived fresh, printed either way.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::rng;

/// The environment variable that [`chaos_seed`] reads to replay a run:
/// `READINESS_CHAOS_SEED`, a decimal or `0x`-prefixed hexadecimal `u64`.
pub const SEED_ENV: &str = "READINESS_CHAOS_SEED";

/// A seed for random plans, printed to stderr so that any run can be replayed.
///
/// Reads [`SEED_ENV`] (`READINESS_CHAOS_SEED`, decimal or `0x`-hex) when it is set and not
/// blank; otherwise derives a fresh seed from the system time, the process id and a counter.
/// Either way it prints
///
/// ```text
/// readiness chaos seed: N (replay with READINESS_CHAOS_SEED=N)
/// ```
///
/// to stderr. Inside `cargo test` the line is captured with the test's output and shown when
/// the test fails, which is when it is needed.
///
/// # Panics
///
/// When `READINESS_CHAOS_SEED` is set but is not a seed: this is test-helper code, and a
/// replay that silently used another seed would be worse. Use [`try_chaos_seed`] to handle
/// the error instead.
///
/// ```
/// let seed = readiness_testkit::chaos_seed();
/// let plan = readiness_testkit::FaultPlan::random(seed, 0.1)?;
/// # let _ = plan;
/// # Ok::<(), readiness_testkit::PlanError>(())
/// ```
pub fn chaos_seed() -> u64 {
    match try_chaos_seed() {
        Ok(seed) => seed,
        Err(e) => panic!("{e}"),
    }
}

/// Like [`chaos_seed`], but returns an invalid `READINESS_CHAOS_SEED` as an error instead of
/// panicking. Prints the seed on success only.
///
/// # Errors
///
/// [`SeedError`] when the variable is set, not blank, and not a decimal or `0x`-hex `u64`
/// (or not valid Unicode).
pub fn try_chaos_seed() -> Result<u64, SeedError> {
    let seed = match std::env::var_os(SEED_ENV) {
        Some(value) => match value.into_string() {
            Ok(text) if text.trim().is_empty() => fresh_seed(),
            Ok(text) => parse_seed(&text)?,
            Err(raw) => {
                return Err(SeedError {
                    value: raw.to_string_lossy().into_owned(),
                    problem: "not valid Unicode".to_owned(),
                });
            }
        },
        None => fresh_seed(),
    };
    eprintln!("readiness chaos seed: {seed} (replay with {SEED_ENV}={seed})");
    Ok(seed)
}

/// Parse a seed written in decimal (`12345`) or hexadecimal with a `0x` or `0X` prefix
/// (`0x3039`). Surrounding whitespace is ignored.
///
/// # Errors
///
/// [`SeedError`] for anything else, including an empty string and values above `u64::MAX`.
///
/// ```
/// use readiness_testkit::parse_seed;
/// assert_eq!(parse_seed("12345"), Ok(12345));
/// assert_eq!(parse_seed("0x3039"), Ok(12345));
/// assert!(parse_seed("-1").is_err());
/// ```
pub fn parse_seed(text: &str) -> Result<u64, SeedError> {
    let trimmed = text.trim();
    let parsed = match trimmed
        .strip_prefix("0x")
        .or_else(|| trimmed.strip_prefix("0X"))
    {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => trimmed.parse::<u64>(),
    };
    parsed.map_err(|e| SeedError {
        value: text.to_owned(),
        problem: e.to_string(),
    })
}

/// A fresh seed: the time, the process id and a per-process counter, mixed.
fn fresh_seed() -> u64 {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let pid = u64::from(std::process::id());
    let call = CALLS.fetch_add(1, Ordering::Relaxed);
    rng::draw(nanos ^ pid.rotate_left(32), call)
}

/// A `READINESS_CHAOS_SEED` value (or a string given to [`parse_seed`]) that is not a seed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedError {
    value: String,
    problem: String,
}

impl SeedError {
    /// The rejected value, as given (lossily converted when it was not Unicode).
    pub fn value(&self) -> &str {
        &self.value
    }
}

impl fmt::Display for SeedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{SEED_ENV}={:?} is not a seed ({}): expected a decimal or 0x-prefixed hexadecimal u64",
            self.value, self.problem
        )
    }
}

impl std::error::Error for SeedError {}
