//! URL → check for the data checks: `postgres://` (and `postgresql://`), `mysql://`,
//! `redis://` and `rediss://`, each parsed by its check (a typed error naming what is wrong,
//! never the user or the password).

use std::sync::Arc;

use readiness_checks::{MysqlCheck, PostgresCheck, RedisCheck, TlsConfig};
use readiness_core::Check;

/// The check `url` names when its scheme is a data scheme (`None` otherwise); `tls` (from the
/// `--ca-file`s) for `sslmode=require`/`verify-full` and `rediss://`, else the system's roots.
/// An error is one line naming `flag`; it shows the URL without user, password or query.
pub(crate) fn parse_data_check(
    flag: &str,
    url: &str,
    tls: Option<&TlsConfig>,
) -> Option<Result<Arc<dyn Check>, String>> {
    let scheme = url.split_once("://")?.0.to_ascii_lowercase();
    let made = match (scheme.as_str(), tls) {
        ("postgres" | "postgresql", None) => {
            PostgresCheck::from_url(url).map(|c| Arc::new(c) as Arc<dyn Check>)
        }
        ("postgres" | "postgresql", Some(tls)) => {
            PostgresCheck::from_url_with_tls(url, tls).map(|c| Arc::new(c) as Arc<dyn Check>)
        }
        ("mysql", _) => MysqlCheck::from_url(url).map(|c| Arc::new(c) as Arc<dyn Check>),
        ("redis" | "rediss", None) => {
            RedisCheck::from_url(url).map(|c| Arc::new(c) as Arc<dyn Check>)
        }
        ("redis" | "rediss", Some(tls)) => {
            RedisCheck::from_url_with_tls(url, tls).map(|c| Arc::new(c) as Arc<dyn Check>)
        }
        _ => return None,
    };
    Some(made.map_err(|e| format!("{flag}: invalid {scheme}:// URL: {e}")))
}
