//! The probe's query string: `verbose`, repeatable `exclude`, `format=json`.

/// What a probe request asked for. Parsing never fails: malformed pairs are ignored, as Go's
/// `url.URL.Query` (and so kube-apiserver) ignores them.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ProbeQuery {
    pub(crate) verbose: bool,
    pub(crate) json: bool,
    pub(crate) exclude: Vec<String>,
}

/// Bound on how many `exclude` values are honoured: the rest are ignored, so a query of any
/// length costs bounded work.
pub(crate) const MAX_EXCLUDES: usize = 64;

impl ProbeQuery {
    pub(crate) fn parse(query: Option<&str>) -> Self {
        let mut q = ProbeQuery::default();
        let Some(query) = query else { return q };
        for pair in query.split('&') {
            let (key, value) = match pair.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (pair, None),
            };
            match &*decode(key) {
                "verbose" => q.verbose = true,
                "format" if value.map(decode).as_deref() == Some("json") => q.json = true,
                "exclude" if q.exclude.len() < MAX_EXCLUDES => {
                    q.exclude.push(value.map(decode).unwrap_or_default());
                }
                _ => {}
            }
        }
        q
    }
}

/// Percent-decode a query component (`+` is a space), leniently: a `%` not followed by two
/// hex digits stays as it is; bytes that are not UTF-8 become U+FFFD.
fn decode(s: &str) -> String {
    if !s.bytes().any(|b| b == b'%' || b == b'+') {
        return s.to_owned();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() && hex(b[i + 1]).is_some() && hex(b[i + 2]).is_some() => {
                out.push(hex(b[i + 1]).unwrap_or(0) * 16 + hex(b[i + 2]).unwrap_or(0));
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_go() {
        let q = ProbeQuery::parse(Some("verbose&exclude=a&exclude=b%2Cc&format=json&x=%zz"));
        assert!(q.verbose && q.json);
        assert_eq!(q.exclude, ["a", "b,c"]);
        assert!(
            ProbeQuery::parse(Some("verbose=false")).verbose,
            "presence counts, as in Go"
        );
        assert_eq!(ProbeQuery::parse(None), ProbeQuery::default());
        assert_eq!(decode("a%2"), "a%2");
        assert_eq!(decode("a+b%41"), "a bA");
        assert_eq!(decode("%ff"), "\u{fffd}");
    }

    #[test]
    fn excludes_are_bounded() {
        let long = "exclude=x&".repeat(10_000);
        assert_eq!(ProbeQuery::parse(Some(&long)).exclude.len(), MAX_EXCLUDES);
    }
}
