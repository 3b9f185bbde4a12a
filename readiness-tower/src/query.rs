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
        // As Go's `url.ParseQuery`: a pair with a `;`, or a bad escape in its key or value, is
        // dropped whole (kube-apiserver reads `r.URL.Query()`, which ignores the error).
        if pair.contains(';') {
            return;
        }
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let Some(key) = decode(key) else { return };
        if !matches!(&*key, "verbose" | "format" | "exclude") {
            return;
        }
        let Some(value) = decode(value) else { return };
        match &*key {
            "verbose" => self.verbose = true,
            "format" if value == "json" => self.json = true,
            "exclude" if self.exclude.len() < MAX_EXCLUDES => self.exclude.push(value.into_owned()),
            _ => {}
        }
    }
}

/// Percent-decode a query component (`+` is a space) as Go's `url.QueryUnescape` does:
/// `None` for a `%` not followed by two hex digits; bytes that are not UTF-8 become U+FFFD.
/// Borrows when there is nothing to decode.
fn decode(s: &str) -> Option<Cow<'_, str>> {
    if !s.bytes().any(|b| b == b'%' || b == b'+') {
        return Some(Cow::Borrowed(s));
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = hex(*b.get(i + 1)?)?;
                let lo = hex(*b.get(i + 2)?)?;
                out.push(hi * 16 + lo);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    // One allocation when the bytes are UTF-8 (the common case), two when they are not.
    Some(Cow::Owned(String::from_utf8(out).unwrap_or_else(|e| {
        String::from_utf8_lossy(e.as_bytes()).into_owned()
    })))
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
        assert_eq!(decode("a%2"), None, "a bad escape, as Go's");
        assert_eq!(decode("%zz"), None);
        assert_eq!(decode("a+b%41").as_deref(), Some("a bA"));
        assert_eq!(decode("%ff").as_deref(), Some("\u{fffd}"));
        assert_eq!(
            ProbeQuery::parse(Some("verbose=%zz")),
            ProbeQuery::default()
        );
        assert_eq!(
            ProbeQuery::parse(Some("exclude=a;b")),
            ProbeQuery::default()
        );
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
        assert_eq!(decode("plain"), Some(Cow::Borrowed("plain")));
    }

    #[test]
    fn the_docs_state_the_bounds_in_force() {
        let stated = format!("{MAX_PAIRS} pairs and {} KiB", MAX_QUERY_BYTES / 1024);
        let lib = include_str!("lib.rs").replace("\n//! ", " ");
        assert!(lib.contains(&stated), "lib.rs docs: {stated}");
        let readme = include_str!("../../README.md").replace('\n', " ");
        assert!(readme.contains(&stated), "README: {stated}");
    }
}
