//! `Accept` negotiation between kube-apiserver's text and JSON.

/// Whether the `Accept` headers prefer `application/json` to text: some `application/json`
/// range has a quality above 0 (`q=0` means "not acceptable"), and no explicit `text/plain`
/// range is preferred to it. Wildcards (`*/*`, `application/*`) never select JSON: text stays
/// the default, as kubelet sends `Accept: */*`. Bounded: at most 32 ranges are read.
pub(crate) fn prefers_json(headers: &http::HeaderMap) -> bool {
    let mut json: Option<u16> = None;
    let mut text: Option<u16> = None;
    let ranges = headers
        .get_all(http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|s| s.split(','))
        .take(32);
    for range in ranges {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim();
        let slot = if media.eq_ignore_ascii_case("application/json") {
            &mut json
        } else if media.eq_ignore_ascii_case("text/plain") {
            &mut text
        } else {
            continue;
        };
        let Some(q) = quality(parts) else { continue };
        *slot = Some(slot.map_or(q, |old| old.max(q)));
    }
    match (json, text) {
        (Some(j), Some(t)) => j > 0 && j >= t,
        (Some(j), None) => j > 0,
        _ => false,
    }
}

/// A range's quality in thousandths (RFC 9110 `qvalue`: `0` to `1` with at most three
/// decimals); 1000 when absent, `None` when malformed (the range is then ignored).
pub(crate) fn quality<'a>(params: impl Iterator<Item = &'a str>) -> Option<u16> {
    for p in params {
        let Some((k, v)) = p.split_once('=') else {
            continue;
        };
        if !k.trim().eq_ignore_ascii_case("q") {
            continue;
        }
        let v = v.trim();
        let (int, frac) = v.split_once('.').unwrap_or((v, ""));
        if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let frac_value = frac
            .bytes()
            .chain(std::iter::repeat(b'0'))
            .take(3)
            .fold(0u16, |acc, b| acc * 10 + u16::from(b - b'0'));
        return match int {
            "0" => Some(frac_value),
            "1" if frac_value == 0 => Some(1000),
            _ => None,
        };
    }
    Some(1000)
}

#[cfg(test)]
mod tests {
    use super::prefers_json;

    fn json(accept: &[&str]) -> bool {
        let mut h = http::HeaderMap::new();
        for a in accept {
            h.append(http::header::ACCEPT, a.parse().expect("header value"));
        }
        prefers_json(&h)
    }

    #[test]
    fn negotiation_honours_quality() {
        assert!(json(&["application/json"]));
        assert!(json(&["Application/JSON; charset=utf-8"]));
        assert!(json(&["text/html, application/json;q=0.9"]));
        assert!(!json(&["application/json;q=0"]));
        assert!(!json(&["application/json; q=0.000"]));
        assert!(!json(&["application/json;Q=0"]));
        assert!(!json(&["*/*"]), "kubelet's Accept stays text");
        assert!(!json(&["application/*"]));
        assert!(!json(&[]));
        assert!(!json(&["text/plain;q=1, application/json;q=0.5"]));
        assert!(json(&["text/plain;q=0.5, application/json"]));
        assert!(
            json(&["application/json, text/plain"]),
            "a tie goes to JSON"
        );
        assert!(json(&["application/json;q=0.001"]));
        assert!(!json(&["application/json;q=1.5"]), "malformed: ignored");
        assert!(!json(&["application/json;q=abc"]));
        assert!(json(&["application/json;q=0", "application/json;q=0.8"]));
        assert!(json(&["text/html", "application/json"]), "several headers");
    }
}
