//! The demo's URL forms of issue 21 end to end, over real sockets: `https://` and `grpcs://`
//! dependencies served over rustls with a private CA made at test time (`--ca-file`),
//! `dns://`, `disk:` and `cert:`; and each bad value exits 2 with one line naming its flag.

mod common;
#[path = "../../readiness-checks/tests/common/servers.rs"]
#[allow(dead_code, unreachable_pub)]
mod servers;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use common::{Demo, http_get, run_demo};
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use servers::{ServerTls, test_certificates};
use tokio::net::TcpListener;

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("readiness-demo-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p.display().to_string()
}

/// A rustls server for `tls`'s certificate, offering `alpn`.
fn server_config(tls: &ServerTls, alpn: &[u8]) -> Arc<rustls::ServerConfig> {
    let mut c = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(
        vec![CertificateDer::from_pem_slice(tls.cert_pem.as_bytes()).expect("a certificate")],
        PrivateKeyDer::from_pem_slice(tls.key_pem.as_bytes()).expect("a key"),
    )
    .expect("config");
    c.alpn_protocols = vec![alpn.to_vec()];
    Arc::new(c)
}

/// HTTPS (HTTP/1.1, 200 `ok`) or, with `grpc`, grpc.health.v1 over TLS (HTTP/2).
async fn tls_server(config: Arc<rustls::ServerConfig>, grpc: bool) -> SocketAddr {
    let engine = readiness_core::Engine::builder()
        .without_heartbeat()
        .build()
        .expect("valid");
    engine.refresh().await.expect("runs");
    let routes = tonic::service::Routes::new(
        readiness_tower::grpc::HealthService::new(&engine).into_server(),
    );
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    tokio::spawn(async move {
        let _engine = engine;
        while let Ok((tcp, _)) = l.accept().await {
            let (acceptor, routes) = (acceptor.clone(), routes.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let io = TokioIo::new(tls);
                if grpc {
                    let svc = hyper_util::service::TowerToHyperService::new(routes);
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .http2_only()
                        .serve_connection(io, svc)
                        .await;
                } else {
                    let svc = hyper::service::service_fn(|_req| async {
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(
                            b"ok",
                        ))))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, svc)
                        .await;
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_new_url_form_checks_a_real_dependency() {
    let d = dir("forms");
    // A private CA, and a server certificate for `localhost` it signed.
    let (ca_pem, tls) = test_certificates();
    let ca = write(&d, "ca.pem", &ca_pem);
    let cert = write(&d, "tls.crt", &tls.cert_pem);
    let web = tls_server(server_config(&tls, b"http/1.1"), false).await;
    let rpc = tls_server(server_config(&tls, b"h2"), true).await;
    let tmp = std::env::temp_dir().display().to_string();
    let args = [
        "--show-details".to_owned(),
        "--period".to_owned(),
        "100ms".to_owned(),
        "--failure-threshold".to_owned(),
        "1".to_owned(),
        "--check".to_owned(),
        format!("web=https://localhost:{}/healthz?token=SECRET", web.port()),
        "--check".to_owned(),
        format!("rpc=grpcs://localhost:{}", rpc.port()),
        "--check".to_owned(),
        "resolver=dns://localhost".to_owned(),
        "--check".to_owned(),
        format!("space=disk:{tmp}?min_free=1KiB"),
        "--check".to_owned(),
        format!("own=cert:{cert}"),
        "--optional".to_owned(),
        format!("full=disk:{tmp}?min_free=1000TiB"),
        // After the checks that need it: it applies to every TLS check wherever it stands.
        "--ca-file".to_owned(),
        ca,
    ];
    let mut demo = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut demo = Demo::start(&args);
        demo.wait_for_line("instance readiness changed: ready");
        demo
    })
    .await
    .expect("the demo is ready");
    let addr = demo.addr;
    let (status, body) = tokio::task::spawn_blocking(move || {
        // The optional check's first failure is logged with its name (before or after ready).
        if !demo.log.iter().any(|l| l.contains("check=full")) {
            demo.wait_for_line("check=full");
        }
        let got = http_get(addr, "/readyz?verbose");
        drop(demo);
        got
    })
    .await
    .expect("asked");
    assert_eq!(status, 200, "{body}");
    for ok in ["web", "rpc", "resolver", "space", "own"] {
        assert!(body.contains(&format!("[+]{ok} ok\n")), "{ok}: {body}");
    }
    assert!(
        body.contains(&format!("[-]full failed (non-critical): disk {tmp}: "))
            && body.contains("below 1000.0 TiB"),
        "{body}"
    );
    assert!(!body.contains("SECRET"), "{body}");
}

#[test]
fn bad_values_of_the_new_forms_exit_2_with_one_line_naming_the_flag() {
    let d = dir("bad");
    let junk = write(&d, "junk.pem", "not a certificate\n");
    let missing = d.join("missing.pem").display().to_string();
    for (args, flag) in [
        (vec!["--ca-file", missing.as_str()], "--ca-file"),
        (vec!["--ca-file", junk.as_str()], "--ca-file"),
        (vec!["--check", "db=disk:/tmp?min_free=lots"], "--check"),
        (vec!["--check", "db=disk:?min_free=1MiB"], "--check"),
        (vec!["--check", "db=disk:/tmp?max=1"], "--check"),
        (vec!["--optional", "db=dns://"], "--optional"),
        (vec!["--check", "db=dns://a b"], "--check"),
        (vec!["--check", "db=grpcs://h"], "--check"),
        (vec!["--check", "db=https://h:0/?token=SECRET"], "--check"),
        (vec!["--check", "db=https://u:SECRET@h:1/"], "--check"),
        (
            vec!["--tenant-check", &format!("acme/db=cert:{missing}")],
            "--tenant-check",
        ),
        (vec!["--check", &format!("db=cert:{junk}")], "--check"),
    ] {
        let (status, _, err) = run_demo(&args);
        assert_eq!(status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with(&format!("demo: {flag}: ")), "{err}");
        assert!(!err.contains("SECRET"), "{err}");
    }
}
