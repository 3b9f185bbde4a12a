//! What the fuzz targets share.

/// A current-thread runtime with time and I/O, for the targets' engines and services.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}
