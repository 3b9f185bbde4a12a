//! TLS, certificates, DNS and disk against real servers on loopback: a hyper (HTTP/1.1) and a
//! tonic (gRPC) server over tokio-rustls with certificates made at test time with rcgen, the
//! system resolver, and the temp dir's real file system. No mocks.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::net::{BOUND, engine_with, loopback, refresh, run, silent_server, temp_dir, write};
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, Issuer, KeyPair, date_time_ymd,
};
use readiness_checks::{
    CertificateCheck, CheckUrlError, DiskSpaceCheck, DnsCheck, GrpcCheck, HttpCheck, TlsConfig,
    TlsError,
};
use readiness_core::metrics::CERTIFICATE_EXPIRY_TIMESTAMP_SECONDS;
use readiness_core::{CheckSpec, Engine};
use readiness_testkit::MetricsCapture;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A fresh directory for this test's files.
fn dir(name: &str) -> PathBuf {
    temp_dir("readiness-tls", name)
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(rcgen::DnType::CommonName, name);
    CertifiedIssuer::self_signed(p, KeyPair::generate().expect("key")).expect("CA")
}

fn intermediate(name: &str, issuer: &Issuer<'_, KeyPair>) -> CertifiedIssuer<'static, KeyPair> {
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(rcgen::DnType::CommonName, name);
    CertifiedIssuer::signed_by(p, KeyPair::generate().expect("key"), issuer).expect("intermediate")
}

/// A leaf for `names`, valid from `from` to `until` (years), signed by `issuer`.
struct Leaf {
    cert: CertificateDer<'static>,
    pem: String,
    key: KeyPair,
}

fn leaf(names: &[&str], from: i32, until: (i32, u8, u8), issuer: &Issuer<'_, KeyPair>) -> Leaf {
    let mut p = CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
        .expect("params");
    p.not_before = date_time_ymd(from, 1, 1);
    p.not_after = date_time_ymd(until.0, until.1, until.2);
    let key = KeyPair::generate().expect("key");
    let cert = p.signed_by(&key, issuer).expect("leaf");
    Leaf {
        pem: cert.pem(),
        cert: cert.der().clone(),
        key,
    }
}

fn self_signed(names: &[&str]) -> Leaf {
    let key = KeyPair::generate().expect("key");
    let p = CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
        .expect("params");
    let cert = p.self_signed(&key).expect("cert");
    Leaf {
        pem: cert.pem(),
        cert: cert.der().clone(),
        key,
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn key_der(key: &KeyPair) -> PrivateKeyDer<'static> {
    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()))
}

/// A server config presenting `chain` (leaf first), requiring a client certificate signed by
/// `client_ca` if given.
fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: &KeyPair,
    client_ca: Option<&CertificateDer<'static>>,
    alpn: &[u8],
) -> Arc<rustls::ServerConfig> {
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions");
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(ca.clone()).expect("root");
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                roots.into(),
                provider(),
            )
            .build()
            .expect("verifier");
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(chain, key_der(key))
        .expect("config");
    config.alpn_protocols = vec![alpn.to_vec()];
    Arc::new(config)
}

/// An HTTPS server on loopback answering 200 `ok` to every request.
async fn https_server(config: Arc<rustls::ServerConfig>) -> SocketAddr {
    let (l, addr) = loopback().await;
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = l.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = hyper::service::service_fn(|_req| async {
                    Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(b"ok"))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    addr
}

fn private_ca_tls(ca: &CertifiedIssuer<'static, KeyPair>, dir: &Path) -> TlsConfig {
    let file = write(dir, "ca.pem", &ca.pem());
    TlsConfig::builder()
        .ca_file(file)
        .expect("CA file")
        .build()
        .expect("config")
}

/// A private root CA of this test's own, and the client configuration that trusts it.
fn trusted_root(test: &str) -> (CertifiedIssuer<'static, KeyPair>, TlsConfig) {
    let root = ca("root");
    let tls = private_ca_tls(&root, &dir(test));
    (root, tls)
}

#[tokio::test]
async fn a_private_ca_chain_passes_only_with_its_ca_file() {
    let d = dir("chain");
    let root = ca("root");
    let mid = intermediate("mid", &root);
    let l = leaf(&["localhost"], 2020, (2099, 1, 1), &mid);
    let chain = vec![l.cert.clone(), mid.der().clone()];
    let addr = https_server(server_config(chain, &l.key, None, b"http/1.1")).await;
    let url = format!("https://localhost:{}/healthz?token=SECRET", addr.port());
    let ok = HttpCheck::with_tls(&url, &private_ca_tls(&root, &d)).expect("valid");
    assert_eq!(run(&ok).await, Ok(()));
    // The system's roots do not know our CA.
    let system = HttpCheck::new(&url).expect("valid");
    let reason = run(&system).await.expect_err("unknown issuer");
    assert!(
        reason.starts_with(&format!(
            "GET https://localhost:{}/healthz: tls: certificate signed by an unknown issuer after ",
            addr.port()
        )),
        "{reason}"
    );
    assert!(!reason.contains("SECRET"), "{reason}");
}

#[tokio::test]
async fn each_certificate_failure_has_its_own_reason() {
    let (root, tls) = trusted_root("failures");
    let reason_for = |chain: Vec<CertificateDer<'static>>, key: KeyPair, host: &'static str| {
        let tls = tls.clone();
        async move {
            let addr = https_server(server_config(chain, &key, None, b"http/1.1")).await;
            let check = HttpCheck::with_tls(&format!("https://{host}:{}/", addr.port()), &tls)
                .expect("valid");
            run(&check).await.expect_err("fails")
        }
    };
    let expired = leaf(&["localhost"], 2019, (2020, 1, 1), &root);
    let r = reason_for(vec![expired.cert.clone()], expired.key, "localhost").await;
    assert!(
        r.contains(": tls: certificate expired at 2020-01-01T00:00:00Z after "),
        "{r}"
    );

    let early = leaf(&["localhost"], 2099, (2100, 1, 1), &root);
    let r = reason_for(vec![early.cert.clone()], early.key, "localhost").await;
    assert!(
        r.contains(": tls: certificate not valid before 2099-01-01T00:00:00Z after "),
        "{r}"
    );

    let other = leaf(&["db.internal"], 2020, (2099, 1, 1), &root);
    let r = reason_for(vec![other.cert.clone()], other.key, "localhost").await;
    assert!(
        r.contains(": tls: certificate not valid for host name \"localhost\" after "),
        "{r}"
    );

    let own = self_signed(&["localhost"]);
    let r = reason_for(vec![own.cert.clone()], own.key, "localhost").await;
    assert!(
        r.contains(": tls: certificate signed by an unknown issuer after "),
        "{r}"
    );

    // The server forgets its intermediate: the chain does not reach the CA we trust.
    let mid = intermediate("mid", &root);
    let orphan = leaf(&["localhost"], 2020, (2099, 1, 1), &mid);
    let r = reason_for(vec![orphan.cert.clone()], orphan.key, "localhost").await;
    assert!(
        r.contains(": tls: certificate signed by an unknown issuer after "),
        "{r}"
    );
}

#[tokio::test]
async fn a_server_that_requires_a_client_certificate() {
    let d = dir("mtls");
    let root = ca("root");
    let clients = ca("clients");
    let server = leaf(&["localhost"], 2020, (2099, 1, 1), &root);
    let addr = https_server(server_config(
        vec![server.cert.clone()],
        &server.key,
        Some(clients.der()),
        b"http/1.1",
    ))
    .await;
    let url = format!("https://localhost:{}/", addr.port());
    let without = HttpCheck::with_tls(&url, &private_ca_tls(&root, &d)).expect("valid");
    let reason = run(&without).await.expect_err("no client certificate");
    assert!(
        reason.contains(": tls: the server requires a client certificate after "),
        "{reason}"
    );

    let me = leaf(&["app"], 2020, (2099, 1, 1), &clients);
    let cert = write(&d, "client.pem", &me.pem);
    let key = write(&d, "client.key", &me.key.serialize_pem());
    let tls = TlsConfig::builder()
        .ca_file(write(&d, "ca.pem", &root.pem()))
        .expect("CA")
        .client_cert_files(&cert, &key)
        .expect("client certificate")
        .build()
        .expect("config");
    let with = HttpCheck::with_tls(&url, &tls).expect("valid");
    assert_eq!(run(&with).await, Ok(()));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_handshake_that_never_finishes_ends_at_the_timeout_and_says_so() {
    // Accepts TCP and never answers the ClientHello.
    let addr = silent_server().await;
    let d = dir("hang");
    let tls = private_ca_tls(&ca("root"), &d);
    let check = HttpCheck::with_tls(&format!("https://{addr}/"), &tls).expect("valid");
    let engine = engine_with([CheckSpec::readiness("api", check).timeout(Duration::from_secs(1))]);
    tokio::time::timeout(BOUND, engine.refresh())
        .await
        .expect("the timeout ends the run")
        .expect("the engine runs");
    let snap = engine.snapshot();
    let reason = snap.check("api").and_then(|c| c.reason()).expect("failing");
    assert_eq!(
        reason,
        format!("GET https://{addr}/: tls: handshake timed out after 1000 ms")
    );
}

#[tokio::test]
async fn a_plain_http_server_behind_https() {
    let (l, addr) = loopback().await;
    tokio::spawn(async move {
        while let Ok((tcp, _)) = l.accept().await {
            let svc = hyper::service::service_fn(|_req| async {
                Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(b"ok"))))
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tcp), svc),
            );
        }
    });
    let d = dir("plain");
    let check = HttpCheck::with_tls(
        &format!("https://{addr}/"),
        &private_ca_tls(&ca("root"), &d),
    )
    .expect("valid");
    let reason = run(&check).await.expect_err("not TLS");
    assert!(
        reason.contains(": tls: the server answered in plain text, not TLS"),
        "{reason}"
    );
}

/// A gRPC health server (the layer's own, following an engine) over TLS, or plain.
async fn grpc_server(tls: Option<Arc<rustls::ServerConfig>>) -> SocketAddr {
    let engine = Engine::builder()
        .without_heartbeat()
        .build()
        .expect("valid");
    engine.refresh().await.expect("runs");
    let health = readiness_tower::grpc::HealthService::new(&engine).into_server();
    let routes = tonic::service::Routes::new(health);
    let (l, addr) = loopback().await;
    tokio::spawn(async move {
        let _engine = engine;
        while let Ok((tcp, _)) = l.accept().await {
            let (routes, tls) = (routes.clone(), tls.clone());
            tokio::spawn(async move {
                let svc = hyper_util::service::TowerToHyperService::new(routes);
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                match tls {
                    Some(config) => {
                        let Ok(s) = tokio_rustls::TlsAcceptor::from(config).accept(tcp).await
                        else {
                            return;
                        };
                        let _ = builder
                            .http2_only()
                            .serve_connection(TokioIo::new(s), svc)
                            .await;
                    }
                    None => {
                        let _ = builder
                            .http2_only()
                            .serve_connection(TokioIo::new(tcp), svc)
                            .await;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn grpc_over_tls_both_ways() {
    let (root, tls) = trusted_root("grpc");
    let l = leaf(&["localhost"], 2020, (2099, 1, 1), &root);
    let secure = grpc_server(Some(server_config(
        vec![l.cert.clone()],
        &l.key,
        None,
        b"h2",
    )))
    .await;
    let plain = grpc_server(None).await;

    let ok =
        GrpcCheck::with_tls(&format!("https://localhost:{}", secure.port()), &tls).expect("valid");
    assert_eq!(run(&ok).await, Ok(()), "TLS to TLS");
    let ok = GrpcCheck::new(&format!("http://localhost:{}", plain.port())).expect("valid");
    assert_eq!(run(&ok).await, Ok(()), "plain to plain");

    let system = GrpcCheck::new(&format!("https://localhost:{}", secure.port())).expect("valid");
    let reason = run(&system).await.expect_err("unknown issuer");
    assert!(
        reason.contains(": tls: certificate signed by an unknown issuer after "),
        "{reason}"
    );
    let to_plain =
        GrpcCheck::with_tls(&format!("https://localhost:{}", plain.port()), &tls).expect("valid");
    assert!(
        run(&to_plain)
            .await
            .expect_err("plain server")
            .contains(": tls: ")
    );
    let to_tls = GrpcCheck::new(&format!("http://localhost:{}", secure.port())).expect("valid");
    assert!(run(&to_tls).await.is_err(), "plain HTTP/2 to a TLS server");
}

/// Runs every check of `engine` once with `capture` as the thread's recorder (a check writes
/// the certificate gauge during its run); the gauge's value for `check` then.
async fn refresh_gauge(capture: &MetricsCapture, engine: &Engine, check: &str) -> Option<f64> {
    let _guard = capture.set_default();
    refresh(engine).await;
    capture
        .exposition()
        .expect("a valid exposition")
        .value(CERTIFICATE_EXPIRY_TIMESTAMP_SECONDS, &[("check", check)])
}

#[tokio::test(flavor = "current_thread")]
async fn the_gauge_is_the_earliest_not_after_the_server_presented() {
    let d = dir("gauge");
    let root = ca("root");
    let mid = intermediate("mid", &root);
    // The leaf expires first: 2031-05-17T00:00:00Z.
    let l = leaf(&["localhost"], 2020, (2031, 5, 17), &mid);
    let addr = https_server(server_config(
        vec![l.cert.clone(), mid.der().clone()],
        &l.key,
        None,
        b"http/1.1",
    ))
    .await;
    let check = HttpCheck::with_tls(
        &format!("https://localhost:{}/", addr.port()),
        &private_ca_tls(&root, &d),
    )
    .expect("valid");
    let engine = engine_with([CheckSpec::readiness("payments-api", check).timeout(BOUND)]);
    let capture = MetricsCapture::new();
    let gauge = refresh_gauge(&capture, &engine, "payments-api").await;
    assert!(engine.is_ready());
    assert_eq!(gauge, Some(1_936_742_400.0), "{}", capture.render());
}

#[tokio::test(flavor = "current_thread")]
async fn a_certificate_file_replaced_between_two_runs_is_seen() {
    let d = dir("rotate");
    let root = ca("root");
    let good = leaf(&["app"], 2020, (2098, 3, 1), &root);
    let path = write(&d, "tls.crt", &good.pem);
    let check = CertificateCheck::new(&path).expect("readable");
    let engine = engine_with([CheckSpec::readiness("own-cert", check)
        .timeout(BOUND)
        .failure_threshold(1)]);
    let capture = MetricsCapture::new();
    let gauge = refresh_gauge(&capture, &engine, "own-cert").await;
    assert!(engine.is_ready());
    assert_eq!(gauge, Some(4_044_470_400.0));

    // cert-manager writes an expired one (as a test would): seen at the next run.
    let expired = leaf(&["app"], 2019, (2020, 1, 1), &root);
    write(&d, "tls.crt", &expired.pem);
    let gauge = refresh_gauge(&capture, &engine, "own-cert").await;
    let snap = engine.snapshot();
    let reason = snap
        .check("own-cert")
        .and_then(|c| c.reason())
        .expect("failing");
    assert_eq!(
        reason,
        format!(
            "{}: certificate expired at 2020-01-01T00:00:00Z",
            path.display()
        )
    );
    assert_eq!(gauge, Some(1_577_836_800.0));

    // Within a minimum validity: fails before it expires.
    write(&d, "tls.crt", &good.pem);
    let soon = CertificateCheck::new(&path)
        .expect("readable")
        .min_validity(Duration::from_secs(100 * 365 * 86_400));
    let reason = run(&soon).await.expect_err("inside the minimum validity");
    assert!(
        reason.contains("within the minimum validity of 36500 days"),
        "{reason}"
    );
}

#[test]
fn bad_tls_input_is_a_typed_error_when_built() {
    let d = dir("bad");
    let missing = d.join("missing.pem");
    assert!(matches!(
        TlsConfig::builder().ca_file(&missing),
        Err(TlsError::Read { .. })
    ));
    let junk = write(&d, "junk.pem", "not a certificate\n");
    assert_eq!(
        TlsConfig::builder().ca_file(&junk).map(drop),
        Err(TlsError::NotPem { path: junk.clone() })
    );
    let root = ca("root");
    let a = leaf(&["app"], 2020, (2099, 1, 1), &root);
    let b = leaf(&["app"], 2020, (2099, 1, 1), &root);
    let cert = write(&d, "a.pem", &a.pem);
    let other_key = write(&d, "b.key", &b.key.serialize_pem());
    let mismatch = TlsConfig::builder()
        .client_cert_files(&cert, &other_key)
        .and_then(|b| b.build());
    assert_eq!(
        mismatch.map(drop),
        Err(TlsError::KeyMismatch {
            cert: cert.clone(),
            key: other_key
        })
    );
    assert!(matches!(
        CertificateCheck::new(&missing),
        Err(TlsError::Read { .. })
    ));
    assert!(matches!(
        CertificateCheck::new(&junk),
        Err(TlsError::NotPem { .. })
    ));
    assert!(matches!(
        CertificateCheck::new(&d),
        Err(TlsError::Read { .. })
    ));
    // A malformed URL, whatever the scheme.
    for url in ["https://", "https://h:0/", "grpcs-ish://h:1"] {
        assert!(HttpCheck::new(url).is_err(), "{url}");
    }
    assert!(matches!(
        HttpCheck::new("https://user:pw@h/"),
        Err(CheckUrlError::Credentials)
    ));
}

#[tokio::test]
async fn dns_localhost_resolves_and_a_name_under_invalid_fails_with_a_reason() {
    assert_eq!(run(&DnsCheck::new("localhost")).await, Ok(()));
    assert_eq!(
        run(&DnsCheck::new("localhost").expect_addresses(["127.0.0.1".parse().expect("ip")])).await,
        Ok(())
    );
    let reason = run(&DnsCheck::new("no-such-host.invalid"))
        .await
        .expect_err("RFC 6761");
    assert!(reason.starts_with("dns no-such-host.invalid: "), "{reason}");
    let reason =
        run(&DnsCheck::new("localhost").expect_addresses(["192.0.2.1".parse().expect("ip")]))
            .await
            .expect_err("not that address");
    assert!(reason.contains("192.0.2.1 not among"), "{reason}");
}

#[tokio::test]
async fn disk_thresholds_above_and_below_the_real_free_space() {
    let tmp = std::env::temp_dir();
    let free = fs4::available_space(&tmp).expect("statvfs");
    assert_eq!(
        run(&DiskSpaceCheck::new(&tmp).min_free(free / 2)).await,
        Ok(())
    );
    let reason = run(&DiskSpaceCheck::new(&tmp).min_free(free.saturating_mul(2).max(1 << 40)))
        .await
        .expect_err("more than there is");
    assert!(
        reason.starts_with(&format!("disk {}: ", tmp.display())),
        "{reason}"
    );
    assert!(reason.contains(" free, below "), "{reason}");
    let reason = run(&DiskSpaceCheck::new("/no/such/dir"))
        .await
        .expect_err("missing");
    assert_eq!(reason, "disk /no/such/dir: not found");
}

/// A server's certificate resolver that records the name each ClientHello asked for (SNI).
#[derive(Debug)]
struct RecordsSni {
    key: Arc<rustls::sign::CertifiedKey>,
    seen: std::sync::Mutex<Vec<Option<String>>>,
}

impl rustls::server::ResolvesServerCert for RecordsSni {
    fn resolve(
        &self,
        hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        let name = hello.server_name().map(str::to_owned);
        self.seen.lock().expect("not poisoned").push(name);
        Some(self.key.clone())
    }
}

/// The names the server was told (SNI) while one run of a check on `url` (`PORT` replaced by
/// the server's) passed against a server presenting `leaf`: an HTTPS server, or a gRPC one.
async fn sni_seen(leaf: &Leaf, grpc: bool, url: &str, tls: &TlsConfig) -> Vec<Option<String>> {
    let signing = provider()
        .key_provider
        .load_private_key(key_der(&leaf.key))
        .expect("key");
    let resolver = Arc::new(RecordsSni {
        key: Arc::new(rustls::sign::CertifiedKey::new(
            vec![leaf.cert.clone()],
            signing,
        )),
        seen: std::sync::Mutex::default(),
    });
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_cert_resolver(resolver.clone());
    config.alpn_protocols = vec![if grpc {
        b"h2".to_vec()
    } else {
        b"http/1.1".to_vec()
    }];
    let config = Arc::new(config);
    let addr = if grpc {
        grpc_server(Some(config)).await
    } else {
        https_server(config).await
    };
    let url = url.replace("PORT", &addr.port().to_string());
    let outcome = if grpc {
        run(&GrpcCheck::with_tls(&url, tls).expect("valid")).await
    } else {
        run(&HttpCheck::with_tls(&url, tls).expect("valid")).await
    };
    assert_eq!(outcome, Ok(()), "{url}");
    resolver.seen.lock().expect("not poisoned").clone()
}

/// SNI: the server is told the host name of the URL (HTTPS and gRPC alike), and no name for
/// an IP literal (RFC 6066 §3: "Literal IPv4 and IPv6 addresses are not permitted").
#[tokio::test]
async fn the_server_is_told_the_host_name_and_no_name_for_an_ip_literal() {
    let (root, tls) = trusted_root("sni");
    let by_name = leaf(&["localhost"], 2020, (2099, 1, 1), &root);
    let by_ip = leaf(&["127.0.0.1"], 2020, (2099, 1, 1), &root);
    let localhost = vec![Some("localhost".to_owned())];
    let url = "https://localhost:PORT/";
    assert_eq!(sni_seen(&by_name, false, url, &tls).await, localhost);
    let url = "https://localhost:PORT";
    assert_eq!(sni_seen(&by_name, true, url, &tls).await, localhost);
    let url = "https://127.0.0.1:PORT/";
    assert_eq!(sni_seen(&by_ip, false, url, &tls).await, [None]);
}
