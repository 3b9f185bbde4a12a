//! [`CertificateCheck`]: the application's own certificate files, re-read every run.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use readiness_core::{Check, CheckFailure, CheckFuture};

use super::{TlsError, certificates, read_certificates, read_pem_file, validity};
use crate::bounded::Bounded;
use crate::reason;

/// The application's own certificate (a PEM file, as cert-manager writes it), read on every
/// run so that a certificate rotated on disk is seen at the next run.
///
/// It fails when a certificate in the file has expired, is not valid yet, or (with
/// [`min_validity`](Self::min_validity)) expires within that time; the reason names the file
/// and the date: `/etc/tls/tls.crt: certificate expired at 2026-11-30T00:00:00Z`. Every run
/// that reads the file records the earliest `notAfter` in it as
/// `readiness_certificate_expiry_timestamp_seconds`, so an alert fires long before a
/// certificate about to expire fails anything.
///
/// The file is read once when the check is built: a missing, unreadable or non-PEM file is a
/// [`TlsError`] then, not a check that fails (or passes) later. Reading happens on tokio's
/// blocking pool, at most one read in flight: a hung file system (or a FIFO nobody writes)
/// holds one thread, not one per run. At most 4 MiB is read: a larger file fails with
/// `larger than 4 MiB: not a PEM file`.
///
/// ```
/// use std::time::Duration;
/// use readiness_checks::CertificateCheck;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = std::env::temp_dir().join(format!("readiness-doc-cert-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// # let path = dir.join("tls.crt");
/// # let cert = rcgen::generate_simple_self_signed(vec!["app.internal".into()])?;
/// # std::fs::write(&path, cert.cert.pem())?;
/// let own = CertificateCheck::new(&path)?.min_validity(Duration::from_secs(24 * 3600));
/// # let _ = own;
/// assert!(CertificateCheck::new("/no/such/tls.crt").is_err());
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct CertificateCheck {
    path: Arc<Path>,
    min_validity: Duration,
    bounded: Bounded,
}

impl CertificateCheck {
    /// A check of the PEM certificates in the file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Result<Self, TlsError> {
        let path: PathBuf = path.into();
        read_certificates(&path)?;
        Ok(Self {
            path: path.into(),
            min_validity: Duration::ZERO,
            bounded: Bounded::new(),
        })
    }

    /// Also fail when a certificate expires within `min` (default: only once expired).
    pub fn min_validity(mut self, min: Duration) -> Self {
        self.min_validity = min;
        self
    }

    /// The file this check reads.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn run(&self) -> Result<(), String> {
        let shown = self.path.display().to_string();
        let path = self.path.clone();
        let bytes = self
            .bounded
            .run(&format!("read {shown}"), move || read_pem_file(&path))
            .await?
            .map_err(|e| format!("{shown}: {}", reason::io(&e)))?;
        let certs =
            certificates(&bytes).ok_or_else(|| format!("{shown}: no PEM certificate in it"))?;
        let mut dates = Vec::with_capacity(certs.len());
        for cert in &certs {
            dates.push(validity(cert).map_err(|e| format!("{shown}: {e}"))?);
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let earliest = dates
            .iter()
            .map(|&(_, after)| after)
            .min()
            .unwrap_or_default();
        readiness_core::metrics::record_certificate_expiry(UNIX_EPOCH + earliest);
        let date = |d: Duration| reason::rfc3339(d.as_secs() as i64);
        if let Some(&(before, _)) = dates.iter().find(|&&(before, _)| before > now) {
            return Err(format!(
                "{shown}: certificate not valid before {}",
                date(before)
            ));
        }
        if earliest <= now {
            return Err(format!(
                "{shown}: certificate expired at {}",
                date(earliest)
            ));
        }
        if earliest - now < self.min_validity {
            return Err(format!(
                "{shown}: certificate expires at {}, within the minimum validity of {}",
                date(earliest),
                days(self.min_validity)
            ));
        }
        Ok(())
    }
}

/// `14 days`, `36 hours`, `90 s`: a duration as a person would say it.
fn days(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 2 * 86_400 && s.is_multiple_of(86_400) {
        format!("{} days", s / 86_400)
    } else if s >= 3600 && s.is_multiple_of(3600) {
        format!("{} hours", s / 3600)
    } else {
        format!("{s} s")
    }
}

impl Check for CertificateCheck {
    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move { self.run().await.map_err(CheckFailure::new) })
    }
}
