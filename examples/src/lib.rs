//! Examples for `readiness`; see the `examples/` directory.
