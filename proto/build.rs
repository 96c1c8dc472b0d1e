//! Compiles `sonde/v1/*.proto` with protox (a pure-Rust protobuf compiler), so
//! the build needs no system `protoc`. Messages also derive `serde::Serialize`
//! (for `sonde-probe read --emit records`), with IP and MAC bytes written as
//! text and enums by name.

use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = ["sonde/v1/export.proto", "sonde/v1/records.proto"];
    for file in files {
        println!("cargo:rerun-if-changed={file}");
    }
    let descriptors = protox::compile(files, [Path::new(".")])?;
    let mut config = tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .type_attribute(".sonde.v1", "#[derive(serde::Serialize)]")
        // Maps in key order: `read --emit records` prints the same bytes
        // every run (a HashMap's order changes from run to run).
        .btree_map(".");
    for field in [
        ".sonde.v1.Endpoint.ip",
        ".sonde.v1.Alert.attacker_ip",
        ".sonde.v1.Alert.victim_ip",
    ] {
        config = config.field_attribute(field, "#[serde(serialize_with = \"crate::text::ip\")]");
    }
    config = config.field_attribute(
        ".sonde.v1.Endpoint.mac",
        "#[serde(serialize_with = \"crate::text::mac\")]",
    );
    for (field, kind) in [
        (".sonde.v1.Flow.end_reason", "EndReason"),
        (".sonde.v1.FlowRisk.severity", "Severity"),
        (".sonde.v1.Alert.severity", "Severity"),
        (".sonde.v1.Alert.source", "AlertSource"),
        (".sonde.v1.Alert.entity", "EntityKind"),
        (".sonde.v1.Alert.lifecycle", "Lifecycle"),
        (".sonde.v1.Nack.code", "NackCode"),
    ] {
        let attr = format!(
            "#[serde(serialize_with = \"crate::text::enum_name::<crate::v1::{kind}, _>\")]"
        );
        config = config.field_attribute(field, attr);
    }
    // A batch decodes into a Vec of records: boxed, a record is 16 bytes
    // instead of the size of its largest kind (about 1.4 KiB), so the Vec
    // grows without copying megabytes.
    // The layer-7 part (about 700 bytes, absent from most flows) is boxed
    // too, so a decoded flow is a third of the size.
    config = config
        .boxed(".sonde.v1.Record.kind.flow")
        .boxed(".sonde.v1.Record.kind.alert")
        .boxed(".sonde.v1.Flow.l7");
    config.compile_fds(descriptors)?;
    Ok(())
}
