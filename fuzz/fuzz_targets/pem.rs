//! PEM input: a file of any bytes given to `TlsConfig::builder().ca_file`,
//! `CertificateCheck::new` and one run of the check (which parses each certificate's X.509
//! validity): never a panic, a typed error or a reason for what is not a certificate.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use readiness_checks::{CertificateCheck, TlsConfig};
use readiness_core::Check;
use readiness_fuzz::World;

/// A runtime, and the file each input is written to.
fn world() -> &'static World<PathBuf> {
    static WORLD: OnceLock<World<PathBuf>> = OnceLock::new();
    World::once(&WORLD, |_| {
        let dir = std::env::temp_dir().join(format!("readiness-fuzz-pem-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        dir.join("input.pem")
    })
}

fuzz_target!(|data: &[u8]| {
    let w = world();
    std::fs::write(&w.state, data).expect("write the input");
    let _ = TlsConfig::builder()
        .system_roots(false)
        .ca_file(&w.state)
        .and_then(|b| b.build());
    let Ok(check) = CertificateCheck::new(&w.state) else {
        return;
    };
    let result = w.runtime.block_on(check.check());
    if let Err(failure) = result {
        assert!(!failure.reason().is_empty());
    }
});
