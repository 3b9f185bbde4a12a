//! What a check connects to, parsed once from its URL, and the URL as it is shown: scheme,
//! host, port and path only, never a user, a password or a query (which may carry a token).

use std::sync::Arc;

/// A URL a ready-made check cannot use.
///
/// A URL is echoed without its user, password and query.
///
/// ```
/// use readiness_checks::{CheckUrlError, HttpCheck};
/// let err = HttpCheck::new("ftp://files:21/").expect_err("not http");
/// assert!(matches!(err, CheckUrlError::UnsupportedScheme { .. }));
/// assert!(err.to_string().contains("expected http://"), "{err}");
/// let err = HttpCheck::new("http://h:0/x?token=SECRET").expect_err("port 0");
/// assert!(!err.to_string().contains("SECRET"), "{err}");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CheckUrlError {
    /// Not a URL of the form the check takes.
    Invalid {
        /// The URL given, without user, password or query.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A scheme the check does not take (or takes only with a feature that is off).
    UnsupportedScheme {
        /// The URL given, without user, password or query.
        url: String,
        /// Its scheme.
        scheme: String,
        /// The schemes it takes.
        expected: String,
    },
    /// `user:password@` in the URL: the check has no use for it and it would show in
    /// reasons. The URL is not kept, for the same reason.
    Credentials,
    /// The TLS settings for an `https://` or `grpcs://` URL cannot be used.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    Tls(crate::tls::TlsError),
}

impl CheckUrlError {
    pub(crate) fn invalid(url: &str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            url: redact(url),
            reason: reason.into(),
        }
    }
}

impl std::fmt::Display for CheckUrlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Invalid { url, reason } => write!(f, "invalid check URL {url:?}: {reason}"),
            Self::UnsupportedScheme {
                url,
                scheme,
                expected,
            } => write!(
                f,
                "unsupported scheme {scheme:?} in {url:?}: expected {expected}"
            ),
            Self::Credentials => f.write_str("credentials in a check URL are not supported"),
            #[cfg(feature = "tls")]
            Self::Tls(e) => write!(f, "tls: {e}"),
        }
    }
}

impl std::error::Error for CheckUrlError {}

/// A URL as reasons, logs and errors may show it: its user, password, query and fragment cut
/// out, whether or not it parses.
///
/// ```
/// use readiness_checks::redact_url;
/// assert_eq!(redact_url("https://app:SECRET@db.internal:8443/health?token=SECRET"), "https://db.internal:8443/health");
/// assert_eq!(redact_url("not a url?token=SECRET"), "not a url");
/// ```
pub fn redact_url(url: &str) -> String {
    redact(url)
}

pub(crate) fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            // Everything up to the last `@` goes, not only up to the first `/`: a password
            // with an unescaped `/`, `?`, `#` or `@` must not leak through a URL that did not
            // parse.
            let rest = rest.rsplit_once('@').map_or(rest, |(_, after)| after);
            let rest = rest.split(['?', '#']).next().unwrap_or("");
            format!("{scheme}://{rest}")
        }
        None => url.split(['?', '#']).next().unwrap_or("").to_owned(),
    }
}

/// Where a check connects and what it asks for, parsed once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) scheme: String,
    /// The host as written (an IPv6 literal keeps its brackets).
    pub(crate) host: String,
    pub(crate) port: u16,
    /// The path and query sent on the wire; never shown.
    pub(crate) path_and_query: String,
    /// `scheme://host:port/path`: what reasons, logs and `Debug` show.
    pub(crate) shown: Arc<str>,
}

impl Target {
    /// `url` of one of `schemes` (each with its default port); `form` says what was expected.
    #[cfg(any(feature = "http", feature = "grpc"))]
    pub(crate) fn parse(
        url: &str,
        schemes: &[(&str, u16)],
        form: &str,
    ) -> Result<Self, CheckUrlError> {
        let uri: http::Uri = url.parse().map_err(|e: http::uri::InvalidUri| {
            CheckUrlError::invalid(url, format!("{e}; expected {form}"))
        })?;
        let Some(scheme) = uri.scheme_str() else {
            return Err(CheckUrlError::invalid(url, format!("expected {form}")));
        };
        let Some(&(_, default_port)) = schemes.iter().find(|(s, _)| *s == scheme) else {
            return Err(CheckUrlError::UnsupportedScheme {
                url: redact(url),
                scheme: scheme.to_owned(),
                expected: form.to_owned(),
            });
        };
        let authority = match uri.authority() {
            Some(a) if a.as_str().contains('@') => return Err(CheckUrlError::Credentials),
            Some(a) if !a.host().is_empty() => a,
            _ => return Err(CheckUrlError::invalid(url, "no host")),
        };
        // `http::Uri` takes any port text and its `port_u16()` answers `None` for one that is
        // not a `u16`, which would read as "no port": refuse it instead.
        let port_text = authority.as_str()[authority.host().len()..].trim_start_matches(':');
        let port = if port_text.is_empty() {
            default_port
        } else {
            match port_text.parse::<u16>() {
                Ok(p) if p != 0 && port_text.bytes().all(|b| b.is_ascii_digit()) => p,
                _ => {
                    return Err(CheckUrlError::invalid(url, "the port is not in 1..=65535"));
                }
            }
        };
        Ok(Self::new(
            scheme,
            authority.host(),
            port,
            uri.path_and_query().map_or("/", |p| p.as_str()),
        ))
    }

    pub(crate) fn new(scheme: &str, host: &str, port: u16, path_and_query: &str) -> Self {
        let path = path_and_query.split('?').next().unwrap_or("");
        let path = if path.is_empty() { "/" } else { path };
        Self {
            scheme: scheme.to_owned(),
            host: host.to_owned(),
            port,
            path_and_query: if path_and_query.is_empty() {
                "/".to_owned()
            } else {
                path_and_query.to_owned()
            },
            shown: format!("{scheme}://{host}:{port}{path}").into(),
        }
    }

    /// The host without the brackets of an IPv6 literal: what is resolved, and the TLS
    /// server name.
    pub(crate) fn hostname(&self) -> &str {
        self.host.trim_start_matches('[').trim_end_matches(']')
    }

    /// `host:port`.
    #[cfg(any(feature = "http", feature = "grpc"))]
    pub(crate) fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

#[cfg(all(test, any(feature = "http", feature = "grpc")))]
mod tests {
    use super::*;

    const HTTP: &[(&str, u16)] = &[("http", 80), ("https", 443)];

    #[test]
    fn shown_urls_have_no_user_password_or_query() {
        let t =
            Target::parse("http://127.0.0.1:8080/healthz?token=SECRET#x", HTTP, "").expect("valid");
        assert_eq!(&*t.shown, "http://127.0.0.1:8080/healthz");
        assert_eq!(t.path_and_query, "/healthz?token=SECRET");
        let t = Target::parse("https://db.internal", HTTP, "").expect("valid");
        assert_eq!(&*t.shown, "https://db.internal:443/");
        let t = Target::parse("http://[::1]:9000/x", HTTP, "").expect("valid");
        assert_eq!(
            (t.hostname(), t.authority().as_str()),
            ("::1", "[::1]:9000")
        );
        for url in [
            "http://user:SECRET@h/x?token=SECRET",
            "grpc://u:SECRET@h:1",
            "http://h:0/?token=SECRET",
            "not a url ?token=SECRET",
            "postgres://app:SE/CRET@h/db",
            "postgres://app:SE?CRET@h/db",
            "postgres://app:SE#CRET@h/db",
            "redis://:SE@CRET@h:6379",
        ] {
            let shown = redact(url);
            assert!(
                !shown.contains("SECRET") && !shown.contains("CRET"),
                "{url}: {shown}"
            );
        }
        assert_eq!(
            Target::parse("http://user:SECRET@h/", HTTP, ""),
            Err(CheckUrlError::Credentials)
        );
    }

    #[test]
    fn a_port_out_of_range_is_refused_not_replaced_by_the_default() {
        for url in [
            "http://h:0/",
            "http://h:65536/",
            "http://h:abc/",
            "http://[::1]:0/",
        ] {
            assert!(
                matches!(
                    Target::parse(url, HTTP, ""),
                    Err(CheckUrlError::Invalid { .. })
                ),
                "{url}"
            );
        }
        for (url, port) in [
            ("http://h:/", 80),
            ("http://h:65535/", 65535),
            ("http://h:080/", 80),
        ] {
            assert_eq!(
                Target::parse(url, HTTP, "").map(|t| t.port),
                Ok(port),
                "{url}"
            );
        }
    }
}
