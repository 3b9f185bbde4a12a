//! URL → check: the one place that turns a dependency URL into a [`Check`], shared by every
//! flag that takes one (`--check`, `--optional`, `--tenant-check`) and by anything else that
//! lists checks the same way.

use std::sync::Arc;

use readiness_checks::{GrpcCheck, HttpCheck, TcpCheck};
use readiness_core::Check;

/// The URL forms a dependency flag takes.
pub(crate) const URL_FORMS: &str =
    "tcp://HOST:PORT, http://HOST:PORT/PATH or grpc://HOST:PORT[/SERVICE]";

/// What every check built from a URL shares (set by flags that apply to every check).
#[derive(Clone, Debug, Default)]
pub(crate) struct CheckOptions {}

/// The check a URL names. An error is one line naming `flag` (the flag, or whatever the URL
/// came from), never a password from the URL.
pub(crate) fn parse_check(
    flag: &str,
    url: &str,
    _opts: &CheckOptions,
) -> Result<Arc<dyn Check>, String> {
    let bad = |why: &str| format!("{flag}: invalid URL {url:?}: {why}");
    let host_port = |addr: &str| match addr.rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p != 0),
        None => false,
    };
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(bad(&format!("expected {URL_FORMS}")));
    };
    match scheme {
        "tcp" if host_port(rest) => Ok(Arc::new(TcpCheck::new(rest))),
        "tcp" => Err(bad("expected tcp://HOST:PORT")),
        "http" => HttpCheck::new(url)
            .map(|c| Arc::new(c) as Arc<dyn Check>)
            .map_err(|e| format!("{flag}: {e}")),
        "grpc" => {
            let (addr, service) = rest.split_once('/').unwrap_or((rest, ""));
            if !host_port(addr) {
                return Err(bad("expected grpc://HOST:PORT[/SERVICE]"));
            }
            GrpcCheck::new(&format!("http://{addr}"))
                .map(|c| Arc::new(c.service(service)) as Arc<dyn Check>)
                .map_err(|e| format!("{flag}: {e}"))
        }
        "https" | "grpcs" => Err(bad("TLS is not supported yet")),
        other => Err(bad(&format!(
            "unsupported scheme {other:?}: expected {URL_FORMS}"
        ))),
    }
}
