//! The reason vocabulary every check shares: short, lower-case words a person can act on
//! (`connection refused`, `tls: certificate expired at 2026-11-30T00:00:00Z`), never a body or
//! a credential.

#[cfg(any(
    feature = "tcp",
    feature = "http",
    feature = "grpc",
    feature = "tls",
    feature = "disk",
    feature = "postgres",
    feature = "mysql",
    feature = "redis"
))]
/// An I/O error in a few words: `connection refused`, `timed out`, … (the OS's own text for
/// the rarer kinds).
pub(crate) fn io(e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    let short = match e.kind() {
        ConnectionRefused => "connection refused",
        ConnectionReset => "connection reset",
        ConnectionAborted => "connection aborted",
        NotConnected => "not connected",
        AddrNotAvailable => "address not available",
        TimedOut => "timed out",
        NotFound => "not found",
        PermissionDenied => "permission denied",
        UnexpectedEof => "connection closed early",
        BrokenPipe => "connection closed (broken pipe)",
        _ => return e.to_string(),
    };
    short.to_owned()
}

#[cfg(feature = "tls")]
/// A unix time as RFC 3339 in UTC, to the second: `2026-11-30T00:00:00Z`.
pub(crate) fn rfc3339(unix_secs: i64) -> String {
    let days = unix_secs.div_euclid(86_400);
    let secs = unix_secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(any(feature = "postgres", feature = "mysql", feature = "redis"))]
/// The first `io::Error` in an error's chain (a client library's error that wraps one).
pub(crate) fn io_source<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a std::io::Error> {
    let mut next = Some(e);
    while let Some(err) = next {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        next = err.source();
    }
    None
}

#[cfg(any(
    feature = "tcp",
    feature = "http",
    feature = "grpc",
    feature = "postgres",
    feature = "redis"
))]
/// A step of a run bounded by the engine's deadline for the run, so that a step that runs
/// out of time says which it was (`{step} timed out`) before the engine's own
/// `timed out after …` would. Outside an engine's run the step is unbounded.
pub(crate) async fn step<T>(
    step: &str,
    _started: tokio::time::Instant,
    fut: impl std::future::Future<Output = Result<T, String>>,
) -> Result<T, String> {
    match readiness_core::run_deadline() {
        Some(deadline) => match tokio::time::timeout_at(deadline, fut).await {
            Ok(r) => r,
            // The time taken is the run's, which the caller words.
            Err(_) => Err(format!("{step} timed out")),
        },
        None => fut.await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "tls")]
    #[test]
    fn dates_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_796_083_200), "2026-12-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_996_800), "2026-11-30T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }

    #[cfg(feature = "tcp")]
    #[test]
    fn io_errors_are_a_few_words() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(io(&refused), "connection refused");
    }
}
