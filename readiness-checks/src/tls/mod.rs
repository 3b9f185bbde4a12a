//! TLS for the checks: rustls with the `ring` provider, verification always on.
//!
//! ```text
//! TlsConfig::builder().ca_file("/etc/ssl/private-ca.pem")?.build()?
//! ```
//!
//! Verification is never off: the chain up to a trusted root, the host name (SNI is sent),
//! and the validity dates. The roots are the system's (`rustls-native-certs`: `SSL_CERT_FILE`
//! first, then the distribution's bundle) plus any CA file in PEM; a client certificate and
//! its key make it mutual TLS. There is no switch that trusts any server: a check that trusts
//! any server proves nothing.
//!
//! Each failure has its own reason: `tls: certificate expired at 2026-11-30T00:00:00Z`,
//! `tls: certificate not valid before …`, `tls: certificate signed by an unknown issuer`,
//! `tls: certificate not valid for host name "db.internal"`, `tls: handshake timed out`,
//! `tls: the server answered in plain text, not TLS`, `tls: the server requires a client
//! certificate`. Every successful handshake records the earliest `notAfter` among the
//! certificates the server presented as `readiness_certificate_expiry_timestamp_seconds`.

mod certificate;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
#[cfg(tls_client)]
use std::time::{SystemTime, UNIX_EPOCH};

#[cfg(tls_client)]
use rustls::pki_types::ServerName;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};
#[cfg(tls_client)]
use tokio::net::TcpStream;
#[cfg(tls_client)]
use tokio::time::Instant;
#[cfg(tls_client)]
use tokio_rustls::client::TlsStream;

pub use certificate::CertificateCheck;

use crate::reason;

/// A TLS setting that cannot be used: a typed error when the check is built, never at run
/// time and never a check that passes by default.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read (missing, a directory, no permission).
    Read {
        /// The file.
        path: PathBuf,
        /// Why, in a few words.
        reason: String,
    },
    /// A file holds no PEM certificate (`-----BEGIN CERTIFICATE-----`), or a broken one.
    NotPem {
        /// The file.
        path: PathBuf,
    },
    /// A key file holds no PEM private key.
    NoKey {
        /// The file.
        path: PathBuf,
    },
    /// The client key does not belong to the client certificate.
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// Nothing to trust: the system has no root certificates and no CA file was given.
    NoRoots,
    /// rustls refused the settings.
    Config(String),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read { path, reason } => write!(f, "cannot read {}: {reason}", path.display()),
            Self::NotPem { path } => write!(f, "{}: no PEM certificate in it", path.display()),
            Self::NoKey { path } => write!(f, "{}: no PEM private key in it", path.display()),
            Self::KeyMismatch { cert, key } => write!(
                f,
                "the key {} does not belong to the certificate {}",
                key.display(),
                cert.display()
            ),
            Self::NoRoots => f.write_str(
                "no trusted root certificates: the system has none (set SSL_CERT_FILE) and no CA file was given",
            ),
            Self::Config(e) => write!(f, "invalid TLS settings: {e}"),
        }
    }
}

impl std::error::Error for TlsError {}

/// The TLS settings of the checks that speak TLS (`HttpCheck` for `https://`, `GrpcCheck` for
/// `grpcs://`): whom to trust and, for mutual TLS, who we are. Cheap to clone; build it once
/// and hand it to every check.
///
/// ```
/// use readiness_checks::TlsConfig;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = std::env::temp_dir().join(format!("readiness-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// # let ca = dir.join("ca.pem");
/// # let cert = rcgen::generate_simple_self_signed(vec!["ca.internal".into()])?;
/// # std::fs::write(&ca, cert.cert.pem())?;
/// let tls = TlsConfig::builder()
///     .ca_file(&ca)? // besides the system's roots
///     .build()?;
/// # let _ = tls;
/// assert!(TlsConfig::builder().ca_file("/no/such/ca.pem").is_err());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TlsConfig {
    base: Arc<ClientConfig>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field(
                "client_auth",
                &self.base.client_auth_cert_resolver.has_certs(),
            )
            .finish_non_exhaustive()
    }
}

impl TlsConfig {
    /// The system's roots only, no client certificate.
    pub fn system() -> Result<Self, TlsError> {
        Self::builder().build()
    }

    /// Settings to build: the system's roots by default.
    pub fn builder() -> TlsConfigBuilder {
        TlsConfigBuilder {
            system_roots: true,
            roots: Vec::new(),
            client: None,
        }
    }

    #[cfg(tls_client)]
    /// The client configuration with this ALPN protocol (`h2`, `http/1.1`; none when empty).
    pub(crate) fn client(&self, alpn: &[u8]) -> Arc<ClientConfig> {
        let mut config = (*self.base).clone();
        config.alpn_protocols = if alpn.is_empty() {
            Vec::new()
        } else {
            vec![alpn.to_vec()]
        };
        Arc::new(config)
    }
}

/// Builds a [`TlsConfig`]; each file is read (and checked) when it is given.
#[derive(Debug)]
pub struct TlsConfigBuilder {
    system_roots: bool,
    roots: Vec<CertificateDer<'static>>,
    client: Option<(
        Vec<CertificateDer<'static>>,
        PrivateKeyDer<'static>,
        PathBuf,
        PathBuf,
    )>,
}

impl TlsConfigBuilder {
    /// Also trust the CA certificates in this PEM file.
    pub fn ca_file(mut self, path: impl AsRef<Path>) -> Result<Self, TlsError> {
        let certs = read_certificates(path.as_ref())?;
        self.roots.extend(certs);
        Ok(self)
    }

    /// Whether to trust the system's roots too (default `true`): `false` trusts the CA files
    /// only.
    pub fn system_roots(mut self, trust: bool) -> Self {
        self.system_roots = trust;
        self
    }

    /// Present this client certificate (PEM, the chain's leaf first) with its private key
    /// (PEM: PKCS#8, PKCS#1 or SEC1): mutual TLS. A key that does not belong to the
    /// certificate is refused here.
    pub fn client_cert_files(
        mut self,
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<Self, TlsError> {
        let (cert, key) = (cert.as_ref(), key.as_ref());
        let chain = read_certificates(cert)?;
        let bytes = read(key)?;
        let der = PrivateKeyDer::from_pem_slice(&bytes).map_err(|_| TlsError::NoKey {
            path: key.to_owned(),
        })?;
        self.client = Some((chain, der, cert.to_owned(), key.to_owned()));
        Ok(self)
    }

    /// The settings, or why they cannot be used.
    pub fn build(self) -> Result<TlsConfig, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        if self.system_roots {
            // Unreadable system certificates are skipped: the CA files may be all we need,
            // and an empty store is refused below.
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
        for cert in self.roots {
            roots
                .add(cert)
                .map_err(|e| TlsError::Config(format!("a CA certificate: {e}")))?;
        }
        if roots.is_empty() {
            return Err(TlsError::NoRoots);
        }
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_root_certificates(roots);
        let config = match self.client {
            None => builder.with_no_client_auth(),
            Some((chain, key, cert_path, key_path)) => {
                let mismatch = || TlsError::KeyMismatch {
                    cert: cert_path.clone(),
                    key: key_path.clone(),
                };
                let signing = provider
                    .key_provider
                    .load_private_key(key.clone_key())
                    .map_err(|_| mismatch())?;
                rustls::sign::CertifiedKey::new(chain.clone(), signing)
                    .keys_match()
                    .map_err(|_| mismatch())?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|_| mismatch())?
            }
        };
        Ok(TlsConfig {
            base: Arc::new(config),
        })
    }
}

/// The largest PEM file read: a chain of certificates (or a CA bundle, the system's is about
/// 200 KiB) fits many times over. A larger file (a path pointing at a log, a disk image, a
/// device) is refused after reading this much, instead of read whole at every run.
pub(crate) const MAX_PEM_FILE: u64 = 4 << 20;

/// A PEM file's bytes, at most [`MAX_PEM_FILE`] of them.
pub(crate) fn read_pem_file(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_PEM_FILE + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_PEM_FILE {
        return Err(std::io::Error::other(format!(
            "larger than {} MiB: not a PEM file",
            MAX_PEM_FILE >> 20
        )));
    }
    Ok(bytes)
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    read_pem_file(path).map_err(|e| TlsError::Read {
        path: path.to_owned(),
        reason: reason::io(&e),
    })
}

/// Every certificate in a PEM file; none (or a broken one) is an error.
pub(crate) fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    certificates(&read(path)?).ok_or_else(|| TlsError::NotPem {
        path: path.to_owned(),
    })
}

/// Every certificate in PEM text, or `None` for none or a broken one.
pub(crate) fn certificates(pem: &[u8]) -> Option<Vec<CertificateDer<'static>>> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .ok()?;
    (!certs.is_empty()).then_some(certs)
}

/// A certificate's validity: `notBefore` and `notAfter` as unix times.
pub(crate) fn validity(der: &[u8]) -> Result<(Duration, Duration), String> {
    use x509_cert::der::Decode;
    let cert = x509_cert::Certificate::from_der(der).map_err(|e| format!("not X.509: {e}"))?;
    let v = &cert.tbs_certificate.validity;
    Ok((
        v.not_before.to_unix_duration(),
        v.not_after.to_unix_duration(),
    ))
}

#[cfg(tls_client)]
/// The earliest `notAfter` among `certs` (those that parse).
pub(crate) fn earliest_not_after(certs: &[CertificateDer<'_>]) -> Option<SystemTime> {
    certs
        .iter()
        .filter_map(|c| validity(c).ok())
        .map(|(_, not_after)| UNIX_EPOCH + not_after)
        .min()
}

#[cfg(tls_client)]
/// A TLS handshake over `tcp` with `host` (SNI and the name verified), bounded by the run's
/// deadline; records the server's earliest `notAfter`.
pub(crate) async fn handshake(
    config: Arc<ClientConfig>,
    host: &str,
    tcp: TcpStream,
    started: Instant,
) -> Result<TlsStream<TcpStream>, String> {
    let name = ServerName::try_from(host.to_owned())
        .map_err(|_| format!("tls: {host:?} is not a valid server name"))?;
    let connector = tokio_rustls::TlsConnector::from(config);
    let tls = reason::step("tls: handshake", started, async {
        connector
            .connect(name, tcp)
            .await
            .map_err(|e| describe(&e, host).unwrap_or_else(|| format!("tls: {}", reason::io(&e))))
    })
    .await?;
    if let Some(not_after) = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(earliest_not_after)
    {
        readiness_core::metrics::record_certificate_expiry(not_after);
    }
    Ok(tls)
}

#[cfg(tls_client)]
/// The reason for a TLS failure anywhere in an error's chain (an `io::Error` holding a
/// `rustls::Error`, a hyper or tonic error holding one), or `None` if there is none.
pub(crate) fn describe(e: &(dyn std::error::Error + 'static), host: &str) -> Option<String> {
    let mut next = Some(e);
    while let Some(e) = next {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls_reason(tls, host));
        }
        if let Some(inner) = e
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            .and_then(|i| i.downcast_ref::<rustls::Error>())
        {
            return Some(tls_reason(inner, host));
        }
        next = e.source();
    }
    None
}

#[cfg(tls_client)]
fn tls_reason(e: &rustls::Error, host: &str) -> String {
    use rustls::{AlertDescription, CertificateError, Error, InvalidMessage};
    match e {
        Error::InvalidCertificate(c) => match c {
            CertificateError::ExpiredContext { not_after, .. } => format!(
                "tls: certificate expired at {}",
                reason::rfc3339(not_after.as_secs() as i64)
            ),
            CertificateError::Expired => "tls: certificate expired".to_owned(),
            CertificateError::NotValidYetContext { not_before, .. } => format!(
                "tls: certificate not valid before {}",
                reason::rfc3339(not_before.as_secs() as i64)
            ),
            CertificateError::NotValidYet => "tls: certificate not yet valid".to_owned(),
            CertificateError::UnknownIssuer => {
                "tls: certificate signed by an unknown issuer".to_owned()
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!("tls: certificate not valid for host name {host:?}")
            }
            other => format!("tls: invalid certificate ({other:?})"),
        },
        Error::InvalidMessage(InvalidMessage::InvalidContentType)
        | Error::InvalidMessage(InvalidMessage::UnknownProtocolVersion) => {
            "tls: the server answered in plain text, not TLS (a plain HTTP server behind https://?)"
                .to_owned()
        }
        Error::AlertReceived(AlertDescription::CertificateRequired) => {
            "tls: the server requires a client certificate".to_owned()
        }
        Error::AlertReceived(alert) => format!("tls: the server refused the handshake ({alert:?})"),
        other => format!("tls: {other}"),
    }
}
