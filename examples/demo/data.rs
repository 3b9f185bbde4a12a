//! URL → check for the data checks: `postgres://` (and `postgresql://`), `mysql://`,
//! `redis://` and `rediss://`, each parsed by its check (a typed error naming what is wrong,
//! never the user or the password).

use std::sync::Arc;

use readiness_checks::{MysqlCheck, PostgresCheck, RedisCheck};
use readiness_core::Check;

/// The check `url` names when its scheme is a data scheme (`None` otherwise). An error is one
/// line naming `flag`; it shows the scheme, never the URL.
pub(crate) fn parse_data_check(flag: &str, url: &str) -> Option<Result<Arc<dyn Check>, String>> {
    let scheme = url.split_once("://")?.0.to_ascii_lowercase();
    let made = match scheme.as_str() {
        "postgres" | "postgresql" => {
            PostgresCheck::from_url(url).map(|c| Arc::new(c) as Arc<dyn Check>)
        }
        "mysql" => MysqlCheck::from_url(url).map(|c| Arc::new(c) as Arc<dyn Check>),
        "redis" | "rediss" => RedisCheck::from_url(url).map(|c| Arc::new(c) as Arc<dyn Check>),
        _ => return None,
    };
    Some(made.map_err(|e| format!("{flag}: invalid {scheme}:// URL: {e}")))
}

/// `text` as an error line may show it: for anything with `://`, the scheme and what follows
/// the last `@` up to a `?` or `#` (so no user, password, query or fragment, even one whose
/// password holds an unescaped `/`, `?`, `#` or `@`).
pub(crate) fn redact(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return text.to_owned();
    };
    let rest = rest.rsplit_once('@').map_or(rest, |(_, after)| after);
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    format!("{scheme}://{rest}")
}
