//! URL → check: the one place that turns a dependency URL into a [`Check`], shared by every
//! flag that takes one (`--check`, `--optional`, `--tenant-check`) and by anything else that
//! lists checks the same way.

use std::path::PathBuf;
use std::sync::Arc;

use readiness_checks::{
    CertificateCheck, DiskSpaceCheck, DnsCheck, GrpcCheck, HttpCheck, TcpCheck, TlsConfig,
    redact_url,
};
use readiness_core::Check;

/// The URL forms a dependency flag takes.
pub(crate) const URL_FORMS: &str = "tcp://HOST:PORT, http(s)://HOST:PORT/PATH, \
     grpc(s)://HOST:PORT[/SERVICE], postgres://USER[:PASSWORD]@HOST:PORT/DB (also postgresql://), \
     mysql://USER[:PASSWORD]@HOST:PORT/DB, redis(s)://[:PASSWORD@]HOST:PORT[/DB], dns://NAME, \
     disk:PATH?min_free=SIZE or cert:PATH";

/// What every check built from a URL shares (set by flags that apply to every check).
#[derive(Clone, Debug, Default)]
pub(crate) struct CheckOptions {
    /// The TLS settings made from the `--ca-file`s (see [`CheckOptions::with_ca_files`]);
    /// `None`: the system's roots, loaded when a TLS URL needs them.
    tls: Option<TlsConfig>,
}

impl CheckOptions {
    /// The options with these CA files read and checked; an error is one line naming
    /// `--ca-file`.
    pub(crate) fn with_ca_files(ca_files: &[PathBuf]) -> Result<Self, String> {
        if ca_files.is_empty() {
            return Ok(Self::default());
        }
        let mut b = TlsConfig::builder();
        for f in ca_files {
            b = b.ca_file(f).map_err(|e| format!("--ca-file: {e}"))?;
        }
        let tls = b.build().map_err(|e| format!("--ca-file: {e}"))?;
        Ok(Self { tls: Some(tls) })
    }

    fn tls(&self, flag: &str) -> Result<TlsConfig, String> {
        match &self.tls {
            Some(t) => Ok(t.clone()),
            None => TlsConfig::system().map_err(|e| format!("{flag}: tls: {e}")),
        }
    }
}

/// The check a URL names. An error is one line naming `flag` (the flag, or whatever the URL
/// came from), never a password or a query from the URL.
pub(crate) fn parse_check(
    flag: &str,
    url: &str,
    opts: &CheckOptions,
) -> Result<Arc<dyn Check>, String> {
    if let Some(check) = crate::data::parse_data_check(flag, url, opts.tls.as_ref()) {
        return check;
    }
    let shown = redact_url(url);
    let bad = |why: &str| format!("{flag}: invalid URL {shown:?}: {why}");
    let host_port = |addr: &str| match addr.rsplit_once(':') {
        Some((host, port)) => {
            !host.is_empty() && !host.contains('@') && port.parse::<u16>().is_ok_and(|p| p != 0)
        }
        None => false,
    };
    if let Some(rest) = url.strip_prefix("disk:") {
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        if path.is_empty() {
            return Err(bad("expected disk:PATH?min_free=SIZE"));
        }
        let mut check = DiskSpaceCheck::new(path);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("min_free", size)) => {
                    let bytes = parse_size(size).ok_or_else(|| {
                        bad(&format!(
                            "min_free: invalid size {size:?} (use 10MiB, 1GB, 4096)"
                        ))
                    })?;
                    check = check.min_free(bytes);
                }
                _ => return Err(bad("expected disk:PATH?min_free=SIZE")),
            }
        }
        return Ok(Arc::new(check));
    }
    if let Some(path) = url.strip_prefix("cert:") {
        if path.is_empty() {
            return Err(bad("expected cert:PATH"));
        }
        return CertificateCheck::new(path)
            .map(|c| Arc::new(c) as Arc<dyn Check>)
            .map_err(|e| format!("{flag}: {e}"));
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(bad(&format!("expected {URL_FORMS}")));
    };
    match scheme {
        "tcp" if host_port(rest) => Ok(Arc::new(TcpCheck::new(rest))),
        "tcp" => Err(bad("expected tcp://HOST:PORT")),
        "http" => HttpCheck::new(url)
            .map(|c| Arc::new(c) as Arc<dyn Check>)
            .map_err(|e| format!("{flag}: {e}")),
        "https" => HttpCheck::with_tls(url, &opts.tls(flag)?)
            .map(|c| Arc::new(c) as Arc<dyn Check>)
            .map_err(|e| format!("{flag}: {e}")),
        "grpc" | "grpcs" => {
            // Before anything is split off: a password may hold a `/` (and what precedes it
            // could then pass as HOST:PORT, and be shown).
            if rest.contains('@') {
                return Err(bad("credentials in a check URL are not supported"));
            }
            let (addr, service) = rest.split_once('/').unwrap_or((rest, ""));
            if !host_port(addr) {
                return Err(bad(&format!("expected {scheme}://HOST:PORT[/SERVICE]")));
            }
            let check = if scheme == "grpcs" {
                GrpcCheck::with_tls(&format!("https://{addr}"), &opts.tls(flag)?)
            } else {
                GrpcCheck::new(&format!("http://{addr}"))
            };
            check
                .map(|c| Arc::new(c.service(service)) as Arc<dyn Check>)
                .map_err(|e| format!("{flag}: {e}"))
        }
        "dns" => {
            let valid = !rest.is_empty()
                && rest.len() <= 253
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
            if !valid {
                return Err(bad("expected dns://NAME (a host name)"));
            }
            Ok(Arc::new(DnsCheck::new(rest)))
        }
        other => Err(bad(&format!(
            "unsupported scheme {other:?}: expected {URL_FORMS}"
        ))),
    }
}

/// `4096`, `512B`, `10KB` / `10MB` / `1GB` / `1TB` (powers of 1000), `10KiB` / `10MiB` /
/// `1GiB` / `1TiB` (powers of 1024).
pub(crate) fn parse_size(v: &str) -> Option<u64> {
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: u64 = num.parse().ok()?;
    let scale: u64 = match unit {
        "" | "B" => 1,
        "KB" => 1000,
        "MB" => 1000 * 1000,
        "GB" => 1000 * 1000 * 1000,
        "TB" => 1000 * 1000 * 1000 * 1000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(scale)
}
