//! With feature `grpc`, generates the `grpc.health.v1` server and client from the vendored
//! upstream `proto/grpc/health/v1/health.proto`, compiled in pure Rust (protox): no `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=proto");
    #[cfg(feature = "grpc")]
    {
        let files = protox::compile(["grpc/health/v1/health.proto"], ["proto"])?;
        tonic_prost_build::configure()
            .build_server(true)
            .build_client(true)
            .build_transport(false)
            // prost's codec with buffers sized for health messages (src/grpc/codec.rs).
            .codec_path("crate::grpc::codec::HealthCodec")
            .compile_fds(files)?;
    }
    Ok(())
}
