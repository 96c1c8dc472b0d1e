//! Compiles `sonde/v1/*.proto` with protox (a pure-Rust protobuf compiler), so
//! the build needs no system `protoc`.

use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = ["sonde/v1/export.proto", "sonde/v1/records.proto"];
    for file in files {
        println!("cargo:rerun-if-changed={file}");
    }
    let descriptors = protox::compile(files, [Path::new(".")])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
