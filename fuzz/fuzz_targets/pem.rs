//! PEM input: a file of any bytes given to `TlsConfig::builder().ca_file`,
//! `CertificateCheck::new` and one run of the check (which parses each certificate's X.509
//! validity): never a panic, a typed error or a reason for what is not a certificate.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use readiness_checks::{CertificateCheck, TlsConfig};
use readiness_core::Check;

struct World {
    runtime: tokio::runtime::Runtime,
    file: PathBuf,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("readiness-fuzz-pem-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        World {
            runtime: readiness_fuzz::runtime(),
            file: dir.join("input.pem"),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let w = world();
    std::fs::write(&w.file, data).expect("write the input");
    let _ = TlsConfig::builder()
        .system_roots(false)
        .ca_file(&w.file)
        .and_then(|b| b.build());
    let Ok(check) = CertificateCheck::new(&w.file) else {
        return;
    };
    let result = w.runtime.block_on(check.check());
    if let Err(failure) = result {
        assert!(!failure.reason().is_empty());
    }
});
