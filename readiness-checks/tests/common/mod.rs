//! Helpers shared by the checks' integration tests: loopback servers, bounded runs and an engine
//! around ready-made checks ([`net`]); throwaway database servers ([`servers`]); an engine around
//! a data check with `/readyz` through the real layer ([`data`]); the scenarios the SQL checks
//! run alike ([`scenarios`]); hostile runs measured for leaks ([`attack`]).
#![allow(dead_code, unreachable_pub)]

pub mod attack;
pub mod data;
pub mod net;
pub mod scenarios;
pub mod servers;
