//! The probe query parser (`?verbose&exclude=db&format=json`): any query, however long or
//! malformed, parses without a panic, within its bounds, and reads only what it holds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use readiness_tower::fuzzing::{MAX_EXCLUDES, probe_query};

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = probe_query(Some(query));
    let (verbose, json, exclude) = &parsed;
    assert!(exclude.len() <= MAX_EXCLUDES, "{} excludes", exclude.len());
    assert_eq!(probe_query(Some(query)), parsed, "deterministic");
    // A key that is not in the query, plainly or escaped, is not read.
    let escaped = query.contains('%');
    if !escaped {
        assert!(*verbose <= query.contains("verbose"));
        assert!(*json <= query.contains("format=json"));
        assert!(exclude.is_empty() || query.contains("exclude"));
    }
    // Without escapes, every excluded name is a piece of the query.
    if !escaped && !query.contains('+') {
        for name in exclude {
            assert!(query.contains(name.as_str()), "{name:?}");
        }
    }
});
