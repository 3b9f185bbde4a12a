//! The probe's query string: `verbose`, repeatable `exclude`, `format=json`.

use std::borrow::Cow;

/// What a probe request asked for. Parsing never fails: malformed pairs are ignored, as Go's
/// `url.URL.Query` (and so kube-apiserver) ignores them. Only the first [`MAX_PAIRS`] pairs and
/// [`MAX_QUERY_BYTES`] bytes are read, so any query costs bounded work; a pair that is not
/// `verbose`, `format` or `exclude` allocates nothing.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ProbeQuery {
    pub(crate) verbose: bool,
    pub(crate) json: bool,
    pub(crate) exclude: Vec<String>,
}

/// Bound on how many `exclude` values are honoured: the rest are ignored.
pub(crate) const MAX_EXCLUDES: usize = 32;

/// Bound on how many `&`-separated pairs are read; the rest of the query is ignored. Probes
/// are asked with a handful of pairs (kubelet sends none); a long query is not a probe's.
pub(crate) const MAX_PAIRS: usize = 32;

/// Bound on how many bytes of the query are read; a pair that crosses it is ignored, and so is
/// everything after it.
pub(crate) const MAX_QUERY_BYTES: usize = 4 * 1024;

impl ProbeQuery {
    pub(crate) fn parse(query: Option<&str>) -> Self {
        let mut q = ProbeQuery::default();
        let Some(query) = query else { return q };
        // Never look past the byte bound, not even to find the next `&`.
        let mut end = query.len().min(MAX_QUERY_BYTES);
        while !query.is_char_boundary(end) {
            end -= 1;
        }
        // Whether the last pair in view is cut short by the bound (then it is not read).
        let cut = end < query.len() && query.as_bytes()[end] != b'&';
        let bytes = &query.as_bytes()[..end];
        let mut start = 0;
        for _ in 0..MAX_PAIRS {
            if start > bytes.len() {
                break;
            }
            let len = bytes[start..]
                .iter()
                .position(|&b| b == b'&')
                .unwrap_or(bytes.len() - start);
            let stop = start + len;
            if cut && stop == bytes.len() {
                break;
            }
            // Only `verbose`, `format` and `exclude` matter, plain or percent-encoded: any
            // other pair is skipped on its first byte, with no decoding and no allocation.
            if matches!(bytes.get(start), Some(b'v' | b'f' | b'e' | b'%')) {
                q.read_pair(&query[start..stop]);
            }
            start = stop + 1;
        }
        q
    }

    fn read_pair(&mut self, pair: &str) {
        let (key, value) = match pair.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (pair, None),
        };
        match &*decode(key) {
            "verbose" => self.verbose = true,
            "format" if value.map(decode).as_deref() == Some("json") => self.json = true,
            "exclude" if self.exclude.len() < MAX_EXCLUDES => {
                self.exclude
                    .push(value.map(|v| decode(v).into_owned()).unwrap_or_default());
            }
            _ => {}
        }
    }
}

/// Percent-decode a query component (`+` is a space), leniently: a `%` not followed by two
/// hex digits stays as it is; bytes that are not UTF-8 become U+FFFD. Borrows when there is
/// nothing to decode.
fn decode(s: &str) -> Cow<'_, str> {
    if !s.bytes().any(|b| b == b'%' || b == b'+') {
        return Cow::Borrowed(s);
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
    // One allocation when the bytes are UTF-8 (the common case), two when they are not.
    Cow::Owned(
        String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
    )
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

    #[test]
    fn pairs_and_bytes_are_bounded() {
        // Past the pair bound: not read.
        let many = "a=b&".repeat(MAX_PAIRS) + "verbose";
        assert!(!ProbeQuery::parse(Some(&many)).verbose);
        let within = "a=b&".repeat(MAX_PAIRS - 1) + "verbose";
        assert!(ProbeQuery::parse(Some(&within)).verbose);
        assert!(
            ProbeQuery::parse(Some(
                &("%76erbose&".to_owned() + &"x&".repeat(MAX_PAIRS - 2) + "e%78clude=a")
            ))
            .verbose
        );
        // Past the byte bound: a pair that crosses it is not read.
        let pad = "x".repeat(MAX_QUERY_BYTES - "&verbose".len());
        assert!(ProbeQuery::parse(Some(&format!("{pad}&verbose"))).verbose);
        assert!(!ProbeQuery::parse(Some(&format!("{pad}x&verbose"))).verbose);
        assert_eq!(decode("plain"), Cow::Borrowed("plain"));
    }
}
