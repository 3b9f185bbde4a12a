//! `Accept` negotiation: any set of `Accept` headers gives an answer without a panic, the
//! same answer twice, and JSON only when some header names `application/json`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use readiness_tower::fuzzing::prefers_json;

fuzz_target!(|data: &[u8]| {
    let mut headers = http::HeaderMap::new();
    for value in data.split(|&b| b == b'\n').take(8) {
        if let Ok(v) = http::HeaderValue::from_bytes(value) {
            headers.append(http::header::ACCEPT, v);
        }
    }
    let json = prefers_json(&headers);
    assert_eq!(prefers_json(&headers), json, "deterministic");
    if json {
        let named = headers.get_all(http::header::ACCEPT).iter().any(|v| {
            v.as_bytes()
                .to_ascii_lowercase()
                .windows(16)
                .any(|w| w == b"application/json")
        });
        assert!(named, "JSON chosen without being asked: {headers:?}");
    }
});
