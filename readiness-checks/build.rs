//! With feature `grpc`, generates the `grpc.health.v1` client from the vendored upstream
//! `proto/grpc/health/v1/health.proto`, compiled in pure Rust (protox): no `protoc`. The
//! crate generates its own client rather than import `readiness-tower`'s: checks and the
//! layer both stand on `readiness-core`, neither on the other.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=proto");
    #[cfg(feature = "grpc")]
    {
        let files = protox::compile(["grpc/health/v1/health.proto"], ["proto"])?;
        tonic_prost_build::configure()
            .build_server(false)
            .build_client(true)
            .build_transport(false)
            .compile_fds(files)?;
    }
    Ok(())
}
