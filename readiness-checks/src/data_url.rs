//! The URLs of the data checks (`postgres://`, `postgresql://`, `mysql://`, `redis://`,
//! `rediss://`): parsed once, when the check is built, into a [`Target`] (what is shown:
//! scheme, host, port and database) and the credentials, kept apart and never shown. Every
//! error is a [`CheckUrlError`] whose URL has no user, password or query.

use std::fmt;

use crate::target::{CheckUrlError, Target};

/// A password, never shown: `Debug` prints `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(String);

impl Secret {
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A data URL in parts. `Debug` shows the target only.
#[derive(Clone)]
pub(crate) struct DataUrl {
    /// Scheme, host (IPv6 in brackets), port and `/database`: what reasons and `Debug` show.
    pub(crate) target: Target,
    pub(crate) user: Option<String>,
    pub(crate) password: Option<Secret>,
    /// The path without its leading `/`, percent-decoded; empty when there is none.
    pub(crate) database: String,
    /// Query options, names and values percent-decoded, in order.
    pub(crate) options: Vec<(String, String)>,
}

impl fmt::Debug for DataUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataUrl")
            .field("target", &self.target.shown)
            .finish_non_exhaustive()
    }
}

const ESCAPE: &str =
    "the user or password has a character that must be percent-encoded (@ / ? # % :)";

impl DataUrl {
    /// Splits `url`, one of `schemes` (each with its default port); `form` says what was
    /// expected.
    pub(crate) fn parse(
        url: &str,
        schemes: &[(&str, u16)],
        form: &str,
    ) -> Result<Self, CheckUrlError> {
        let invalid = |why: &str| CheckUrlError::invalid(url, format!("{why}; expected {form}"));
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(invalid("no scheme"));
        };
        let scheme = scheme.to_ascii_lowercase();
        let Some(&(_, default_port)) = schemes.iter().find(|(s, _)| *s == scheme) else {
            return Err(CheckUrlError::UnsupportedScheme {
                url: crate::target::redact(url),
                scheme,
                expected: form.to_owned(),
            });
        };
        // The authority ends at the first `/`, `?` or `#`; an `@` after that point means a
        // user or password with one of those characters unescaped.
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        if userinfo.is_some_and(|u| u.contains('@')) || (userinfo.is_none() && tail.contains('@')) {
            return Err(invalid(ESCAPE));
        }
        let (user, password) = match userinfo {
            None => (None, None),
            Some(u) => {
                let (user, pass) = match u.split_once(':') {
                    Some((user, pass)) => (user, Some(pass)),
                    None => (u, None),
                };
                let user = decode(user).ok_or_else(|| invalid(ESCAPE))?;
                let pass = pass
                    .map(|p| decode(p).ok_or_else(|| invalid(ESCAPE)))
                    .transpose()?;
                ((!user.is_empty()).then_some(user), pass.map(Secret))
            }
        };
        let (host, port) = split_host_port(hostport).map_err(&invalid)?;
        if tail.contains('#') {
            return Err(invalid("a #fragment is not taken"));
        }
        let (path, query) = match tail.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (tail, None),
        };
        let database = decode(path.strip_prefix('/').unwrap_or(path))
            .filter(|db| !db.contains('/'))
            .ok_or_else(|| invalid("the path is not a database name"))?;
        let mut options = Vec::new();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match (decode(k), decode(v)) {
                (Some(k), Some(v)) => options.push((k, v)),
                _ => return Err(invalid("an option is not percent-encoded")),
            }
        }
        let shown_path = if database.is_empty() {
            String::new()
        } else {
            format!("/{database}")
        };
        Ok(Self {
            target: Target::new(&scheme, host, port.unwrap_or(default_port), &shown_path),
            user,
            password,
            database,
            options,
        })
    }

    /// Refuses any option not in `known` (the first unknown one is named, its value never).
    pub(crate) fn only_options(&self, url: &str, known: &[&str]) -> Result<(), CheckUrlError> {
        match self
            .options
            .iter()
            .find(|(k, _)| !known.contains(&k.as_str()))
        {
            Some((k, _)) => {
                let known = if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                };
                Err(CheckUrlError::invalid(
                    url,
                    format!("unknown option {k:?} (known: {known})"),
                ))
            }
            None => Ok(()),
        }
    }

    /// The last value of option `name`, if given.
    #[cfg(feature = "postgres")]
    pub(crate) fn option(&self, name: &str) -> Option<&str> {
        self.options
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The host as written (an IPv6 literal keeps its brackets) and the port, if any.
fn split_host_port(hostport: &str) -> Result<(&str, Option<u16>), &'static str> {
    let (host, port) = if hostport.starts_with('[') {
        let close = hostport.find(']').ok_or("no host")?;
        let (h, after) = hostport.split_at(close + 1);
        match after {
            "" => (h, None),
            p => (
                h,
                Some(p.strip_prefix(':').ok_or("the port is not in 1..=65535")?),
            ),
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if host.is_empty() || host == "[]" {
        return Err("no host");
    }
    if host.contains(['%', ' ', '\\']) {
        return Err("the host is not a name or an address");
    }
    let port = match port {
        None | Some("") => None,
        Some(p) => Some(
            Some(p)
                .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|p| p.parse::<u16>().ok())
                .filter(|p| *p != 0)
                .ok_or("the port is not in 1..=65535")?,
        ),
    };
    Ok((host, port))
}

/// Percent-decodes `s`; `None` when a `%` is not followed by two hex digits or the result is
/// not UTF-8.
fn decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PG: &[(&str, u16)] = &[("postgres", 5432), ("postgresql", 5432)];

    fn pg(url: &str) -> Result<DataUrl, CheckUrlError> {
        DataUrl::parse(url, PG, "postgres://")
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn parts() {
        let u = pg("postgres://app:s%40cret@db.local:6432/orders?sslmode=require").expect("parses");
        assert_eq!(u.user.as_deref(), Some("app"));
        assert_eq!(u.password.as_ref().map(Secret::expose), Some("s@cret"));
        assert_eq!((u.target.hostname(), u.target.port), ("db.local", 6432));
        assert_eq!(u.database, "orders");
        assert_eq!(u.option("sslmode"), Some("require"));
        assert_eq!(&*u.target.shown, "postgres://db.local:6432/orders");
        assert!(!format!("{u:?}").contains("cret"));
        let v6 = pg("postgresql://[::1]/x").expect("parses");
        assert_eq!(&*v6.target.shown, "postgresql://[::1]:5432/x");
        assert_eq!(v6.target.hostname(), "::1");
    }

    #[test]
    fn refusals_never_echo_the_user_or_password() {
        for (url, want) in [
            ("postgres://app:s3krit@/db", "no host"),
            ("postgres://app:s3krit@:5432/db", "no host"),
            ("postgres://app:s3@krit@h/db", "percent-encoded"),
            ("postgres://app:s3/krit@h/db", "percent-encoded"),
            ("postgres://app:s3?krit@h/db", "percent-encoded"),
            ("postgres://app:s3#krit@h/db", "percent-encoded"),
            ("postgres://app:s3%zzkrit@h/db", "percent-encoded"),
            ("postgres://app:s3krit@h:0/db", "port"),
            ("postgres://app:s3krit@h:99999/db", "port"),
            ("postgres://app:s3krit@h:+5432/db", "port"),
            ("postgres://app:s3krit@h:x/db", "port"),
            ("postgres://app:s3krit@h/db/x", "not a database name"),
            ("postgres://app:s3krit@h/db#frag", "fragment"),
            ("mysql://app:s3krit@h/db", "unsupported scheme"),
        ] {
            let err = pg(url).map(|_| ()).expect_err("refused").to_string();
            assert!(err.contains(want), "{url}: {err}");
            assert!(
                !err.contains("s3") && !err.contains("krit") && !err.contains("app"),
                "{url}: {err}"
            );
        }
        let url = "postgres://h/db?password=s3krit&x=1";
        let err = pg(url)
            .expect("parses")
            .only_options(url, &["sslmode"])
            .expect_err("unknown")
            .to_string();
        assert!(err.contains("unknown option \"password\""), "{err}");
        assert!(!err.contains("s3krit"), "{err}");
    }
}
