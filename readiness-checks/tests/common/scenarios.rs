//! The scenarios the SQL checks' tests (`mysql.rs`, `postgres.rs`) run alike, each against its
//! own servers: a database the server does not have, a refused connection, a wrong password.
//! What tells the two servers apart (their URLs, their reasons) is written here, side by side;
//! a test file declares the scenarios' tests with [`shared_scenarios!`] and its own checks.

use readiness_core::Check;

use super::data::{fails_with, passes};
use super::servers::Server;

/// One check per adapter on a URL, named after the adapter.
pub type Checks = fn(&str) -> Vec<(&'static str, Box<dyn Check>)>;

/// The wrong password of [`wrong_password`]: it must show nowhere.
pub const WRONG: &str = "hunter2-wrong";

/// The SQL servers the shared scenarios run against.
#[derive(Clone, Copy, Debug)]
pub enum Sql {
    MariaDb,
    Postgres,
}

impl Sql {
    /// The URL of `database` on the loopback at `port` as `userinfo` (`user:password`), or
    /// without one as the superuser, whom the shared servers and the throwaway ones let in
    /// without a password.
    pub fn url(self, userinfo: Option<&str>, port: u16, database: &str) -> String {
        let (scheme, superuser) = match self {
            Sql::MariaDb => ("mysql", "root"),
            Sql::Postgres => ("postgres", "postgres"),
        };
        let userinfo = userinfo.unwrap_or(superuser);
        format!("{scheme}://{userinfo}@127.0.0.1:{port}/{database}")
    }

    /// The port of the shared server (`scripts/services.sh`).
    pub fn shared_port(self) -> u16 {
        match self {
            Sql::MariaDb => 3306,
            Sql::Postgres => 5432,
        }
    }

    /// A throwaway server, and the database its user `app` (password `app-secret`) opens.
    pub fn throwaway(self) -> (Server, &'static str) {
        match self {
            Sql::MariaDb => (Server::mariadb(), "test"),
            Sql::Postgres => (Server::postgres(), "app"),
        }
    }
}

/// A database the shared server does not have: every adapter fails with the server's own
/// reason, and `/readyz` shows it.
pub async fn unknown_database(db: Sql, checks: Checks) {
    let reason = match db {
        Sql::MariaDb => "mysql: unknown database (1049)",
        Sql::Postgres => "postgres: database does not exist (3D000)",
    };
    let url = db.url(None, db.shared_port(), "no_such_db");
    let body = fails_with(checks(&url), reason).await;
    assert!(body.contains(reason), "{body}");
}

/// Nothing listens at port 1: every adapter fails with `connect: connection refused`.
pub async fn refused(db: Sql, checks: Checks) {
    let url = db.url(None, 1, "test");
    fails_with(checks(&url), "connect: connection refused").await;
}

/// User `app` on a throwaway server with a wrong password: the URL adapter's check (`shown`, its
/// `{:?}` on a URL) shows neither the password nor the user, every adapter fails with the
/// server's reason, and `/readyz` does not show the password. The right password passes: the
/// reason was the password, nothing else.
pub async fn wrong_password(db: Sql, checks: Checks, shown: fn(&str) -> String) {
    // Where the database is called `app` too, the user would show as `app:`.
    let (user, reason) = match db {
        Sql::MariaDb => ("app", "mysql: access denied (1045)"),
        Sql::Postgres => ("app:", "postgres: password authentication failed (28P01)"),
    };
    let (server, database) = db.throwaway();
    let url = db.url(Some(&format!("app:{WRONG}")), server.port(), database);
    let shown = shown(&url);
    assert!(!shown.contains(WRONG) && !shown.contains(user), "{shown}");
    let body = fails_with(checks(&url), reason).await;
    assert!(!body.contains(WRONG), "{body}");

    let good = db.url(Some("app:app-secret"), server.port(), database);
    passes(checks(&good)).await;
}

/// Declares, in an SQL check's test file, one test per shared scenario on `$db` (an [`Sql`]),
/// with `$checks` (its [`Checks`]) and `$check`, the check type whose `from_url` the
/// wrong-password scenario reads. (Unused in the test files of other checks, which compile this
/// module too.)
#[allow(unused_macros)]
macro_rules! shared_scenarios {
    ($db:expr, $checks:expr, $check:ty) => {
        #[tokio::test]
        async fn an_unknown_database_fails_with_the_servers_reason() {
            $crate::common::scenarios::unknown_database($db, $checks).await;
        }

        #[tokio::test]
        async fn a_refused_connection_says_so() {
            $crate::common::scenarios::refused($db, $checks).await;
        }

        #[tokio::test]
        async fn a_wrong_password_fails_with_the_servers_reason_and_the_password_shows_nowhere() {
            let shown = |url: &str| format!("{:?}", <$check>::from_url(url).expect("url"));
            $crate::common::scenarios::wrong_password($db, $checks, shown).await;
        }
    };
}
#[allow(unused_imports)]
pub(crate) use shared_scenarios;
