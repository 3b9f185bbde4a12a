//! The URLs of the data checks (`postgres://`, `postgresql://`, `mysql://`, `redis://`,
//! `rediss://`): parsed once, when the check is built, into parts; the password is kept apart
//! and never shown. Every error names what is wrong without echoing the user or password.

use std::fmt;

/// Why a data check's URL was refused when the check was built.
///
/// Its message names the part that is wrong (and an option's name), never the user or the
/// password.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DataUrlError {
    /// The scheme is not one this check takes.
    Scheme {
        /// What the check takes, e.g. `postgres:// or postgresql://`.
        expected: &'static str,
    },
    /// No host after `scheme://` (or after `user@`).
    MissingHost,
    /// The port is not a number in 1..=65535.
    BadPort,
    /// The user or password holds a character that must be percent-encoded (`@`, `/`, `?`,
    /// `#`, `%`, `:` in the user), or a `%` that is not followed by two hex digits.
    UserInfoNeedsEscaping,
    /// The path is not a database this check takes (e.g. a Redis database that is not a number,
    /// or a path with more than one segment).
    BadDatabase,
    /// A query option this check does not know (only its name is shown).
    UnknownOption(String),
    /// A known option with a value it does not take.
    BadOptionValue {
        /// The option's name.
        option: &'static str,
        /// What it takes.
        expected: &'static str,
    },
    /// A `#fragment`: no data URL takes one.
    Fragment,
}

impl fmt::Display for DataUrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Scheme { expected } => write!(f, "unsupported scheme: expected {expected}"),
            Self::MissingHost => f.write_str("no host"),
            Self::BadPort => f.write_str("the port is not a number in 1..=65535"),
            Self::UserInfoNeedsEscaping => f.write_str(
                "the user or password has a character that must be percent-encoded (@ / ? # % and : in the user)",
            ),
            Self::BadDatabase => f.write_str("the path is not a database name"),
            Self::UnknownOption(name) => write!(f, "unknown option {name:?}"),
            Self::BadOptionValue { option, expected } => {
                write!(f, "option {option}: expected {expected}")
            }
            Self::Fragment => f.write_str("a #fragment is not taken"),
        }
    }
}

impl std::error::Error for DataUrlError {}

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

/// A data URL in parts. `Debug` shows no user and no password.
#[derive(Clone)]
pub(crate) struct DataUrl {
    pub(crate) scheme: String,
    pub(crate) user: Option<String>,
    pub(crate) password: Option<Secret>,
    pub(crate) host: String,
    pub(crate) port: Option<u16>,
    /// The path without its leading `/`, percent-decoded; empty when there is none.
    pub(crate) path: String,
    /// Query options, names and values percent-decoded, in order.
    pub(crate) options: Vec<(String, String)>,
}

impl fmt::Debug for DataUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataUrl")
            .field("scheme", &self.scheme)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl DataUrl {
    /// Splits `url` into parts; `schemes` are the schemes the check takes, `expected` says so in
    /// the error.
    pub(crate) fn parse(
        url: &str,
        schemes: &[&str],
        expected: &'static str,
    ) -> Result<Self, DataUrlError> {
        let (scheme, rest) = url
            .split_once("://")
            .filter(|(s, _)| schemes.iter().any(|k| s.eq_ignore_ascii_case(k)))
            .ok_or(DataUrlError::Scheme { expected })?;
        // The authority ends at the first `/`, `?` or `#`; an `@` after that point means a
        // user or password with one of those characters unescaped.
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        if userinfo.is_some_and(|u| u.contains('@')) || (tail.contains('@') && userinfo.is_none()) {
            return Err(DataUrlError::UserInfoNeedsEscaping);
        }
        let (user, password) = match userinfo {
            None => (None, None),
            Some(u) => {
                let (user, pass) = match u.split_once(':') {
                    Some((user, pass)) => (user, Some(pass)),
                    None => (u, None),
                };
                let user = decode(user).ok_or(DataUrlError::UserInfoNeedsEscaping)?;
                let pass = pass
                    .map(|p| decode(p).ok_or(DataUrlError::UserInfoNeedsEscaping))
                    .transpose()?;
                ((!user.is_empty()).then_some(user), pass.map(Secret))
            }
        };
        let (host, port) = split_host_port(hostport)?;
        let (path_and_query, fragment) = match tail.split_once('#') {
            Some((p, f)) => (p, Some(f)),
            None => (tail, None),
        };
        if fragment.is_some() {
            return Err(DataUrlError::Fragment);
        }
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path_and_query, None),
        };
        let path = path.strip_prefix('/').unwrap_or(path);
        let path = decode(path).ok_or(DataUrlError::BadDatabase)?;
        if path.contains('/') {
            return Err(DataUrlError::BadDatabase);
        }
        let mut options = Vec::new();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let k = decode(k).ok_or_else(|| DataUrlError::UnknownOption(k.to_owned()))?;
            let v = decode(v).ok_or(DataUrlError::BadOptionValue {
                option: "?",
                expected: "a percent-encoded value",
            })?;
            options.push((k, v));
        }
        Ok(Self {
            scheme: scheme.to_ascii_lowercase(),
            user,
            password,
            host,
            port,
            path,
            options,
        })
    }

    /// Refuses any option not in `known` (the first unknown one is named).
    pub(crate) fn only_options(&self, known: &[&str]) -> Result<(), DataUrlError> {
        match self
            .options
            .iter()
            .find(|(k, _)| !known.contains(&k.as_str()))
        {
            Some((k, _)) => Err(DataUrlError::UnknownOption(k.clone())),
            None => Ok(()),
        }
    }

    /// The last value of option `name`, if given.
    pub(crate) fn option(&self, name: &str) -> Option<&str> {
        self.options
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The URL as shown: scheme, host, port and path only.
    pub(crate) fn shown(&self, default_port: u16) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let port = self.port.unwrap_or(default_port);
        if self.path.is_empty() {
            format!("{}://{host}:{port}", self.scheme)
        } else {
            format!("{}://{host}:{port}/{}", self.scheme, self.path)
        }
    }
}

fn split_host_port(hostport: &str) -> Result<(String, Option<u16>), DataUrlError> {
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or(DataUrlError::MissingHost)?;
        match after {
            "" => (h, None),
            p => (h, Some(p.strip_prefix(':').ok_or(DataUrlError::BadPort)?)),
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        return Err(DataUrlError::MissingHost);
    }
    if host.contains(['%', ' ', '\\']) {
        return Err(DataUrlError::MissingHost);
    }
    let port = port
        .map(|p| {
            Some(p)
                .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|p| p.parse::<u16>().ok())
                .filter(|p| *p != 0)
                .ok_or(DataUrlError::BadPort)
        })
        .transpose()?;
    Ok((host.to_owned(), port))
}

/// Percent-decodes `s`; `None` when a `%` is not followed by two hex digits or the result is
/// not UTF-8.
fn decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
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

    const PG: &[&str] = &["postgres", "postgresql"];

    fn pg(url: &str) -> Result<DataUrl, DataUrlError> {
        DataUrl::parse(url, PG, "postgres://")
    }

    #[test]
    fn parts() {
        let u = pg("postgres://app:s%40cret@db.local:6432/orders?sslmode=require").expect("parses");
        assert_eq!(u.user.as_deref(), Some("app"));
        assert_eq!(u.password.as_ref().map(Secret::expose), Some("s@cret"));
        assert_eq!((u.host.as_str(), u.port), ("db.local", Some(6432)));
        assert_eq!(u.path, "orders");
        assert_eq!(u.option("sslmode"), Some("require"));
        assert_eq!(u.shown(5432), "postgres://db.local:6432/orders");
        assert!(!format!("{u:?}").contains("cret"));
        let v6 = pg("postgresql://[::1]/x").expect("parses");
        assert_eq!(v6.shown(5432), "postgresql://[::1]:5432/x");
    }

    #[test]
    fn refusals_never_echo_the_password() {
        for (url, want) in [
            ("postgres://app:s3krit@/db", DataUrlError::MissingHost),
            ("postgres://app:s3krit@:5432/db", DataUrlError::MissingHost),
            (
                "postgres://app:s3@krit@h/db",
                DataUrlError::UserInfoNeedsEscaping,
            ),
            (
                "postgres://app:s3/krit@h/db",
                DataUrlError::UserInfoNeedsEscaping,
            ),
            (
                "postgres://app:s3?krit@h/db",
                DataUrlError::UserInfoNeedsEscaping,
            ),
            (
                "postgres://app:s3#krit@h/db",
                DataUrlError::UserInfoNeedsEscaping,
            ),
            (
                "postgres://app:s3%zzkrit@h/db",
                DataUrlError::UserInfoNeedsEscaping,
            ),
            ("postgres://app:s3krit@h:0/db", DataUrlError::BadPort),
            ("postgres://app:s3krit@h:99999/db", DataUrlError::BadPort),
            ("postgres://app:s3krit@h:+5432/db", DataUrlError::BadPort),
            ("postgres://app:s3krit@h:x/db", DataUrlError::BadPort),
            ("postgres://app:s3krit@h/db/x", DataUrlError::BadDatabase),
            ("postgres://app:s3krit@h/db#frag", DataUrlError::Fragment),
            (
                "mysql://app:s3krit@h/db",
                DataUrlError::Scheme {
                    expected: "postgres://",
                },
            ),
        ] {
            let err = pg(url).map(|_| ()).expect_err("refused");
            assert_eq!(err, want, "{url}");
            let shown = err.to_string();
            assert!(
                !shown.contains("s3") && !shown.contains("krit") && !shown.contains("app"),
                "{url}: {shown}"
            );
        }
        let u = pg("postgres://h/db?password=pw&x=1").expect("parses");
        let err = u.only_options(&["sslmode"]).expect_err("refused");
        assert_eq!(err.to_string(), "unknown option \"password\"");
    }
}
