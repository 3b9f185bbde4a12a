//! Helpers shared by the data checks' integration tests: throwaway servers and an engine with
//! `/readyz` through the real layer.
#![allow(dead_code, unreachable_pub)]

pub mod data;
pub mod servers;
