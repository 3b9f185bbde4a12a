//! Criterion benches for `readiness`, and what the measuring examples share.

/// The resident set size of this process from `/proc/self/statm`, in bytes; `None` where there
/// is no `/proc` (not Linux).
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}
