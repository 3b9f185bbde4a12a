//! Check and tenant id validation: `validate_name` agrees with the rule as DESIGN.md writes it
//! (`[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?`), and the engine takes a tenant id exactly when it
//! is valid and not reserved.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use readiness_core::{Engine, MAX_NAME_LEN, RESERVED_NAMES, validate_name};
use readiness_fuzz::World;

/// The rule, restated from the regular expression, independently of the implementation.
fn by_the_rule(name: &str) -> bool {
    let b = name.as_bytes();
    let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    match b {
        [] => false,
        [only] => alnum(only),
        [first, middle @ .., last] => {
            b.len() <= 63
                && alnum(first)
                && alnum(last)
                && middle
                    .iter()
                    .all(|c| alnum(c) || matches!(c, b'.' | b'_' | b'-'))
        }
    }
}

fn world() -> &'static World<Engine> {
    static WORLD: OnceLock<World<Engine>> = OnceLock::new();
    World::once(&WORLD, |runtime| {
        let _in = runtime.enter();
        Engine::builder()
            .without_heartbeat()
            .build()
            .expect("an engine")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(name) = std::str::from_utf8(data) else {
        return;
    };
    let valid = validate_name(name).is_ok();
    assert_eq!(valid, by_the_rule(name), "{name:?}");
    assert!(!valid || name.len() <= MAX_NAME_LEN);
    let w = world();
    let _in = w.runtime.enter();
    let added = w.state.add_tenant(name, vec![]).is_ok();
    assert_eq!(
        added,
        valid && !RESERVED_NAMES.contains(&name),
        "add_tenant({name:?})"
    );
    if added {
        assert!(w.state.tenant_ready(name).is_some(), "known once added");
        assert!(w.state.remove_tenant(name));
    }
});
