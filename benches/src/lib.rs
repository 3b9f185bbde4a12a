//! Criterion benches for `readiness`.
