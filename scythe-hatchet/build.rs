//! Compiles Scythe's own Hatchet `.proto` files into tonic clients with protox (pure Rust, no `protoc`).

use std::error::Error;

const PROTOS: [&str; 4] = ["dispatcher.proto", "workflows.proto", "events.proto", "v1/admin.proto"];

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed=proto");
    let descriptors = protox::compile(PROTOS, ["proto"])?;
    tonic_prost_build::configure().build_server(false).build_transport(false).compile_fds(descriptors)?;
    Ok(())
}
