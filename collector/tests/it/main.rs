//! Integration tests of the sonde-collector binary and library.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a panic is a failed test"
)]

mod certs;
mod cli;
mod enrich;
mod es_faults;
mod kibana;
mod sink_ndjson;
mod sink_syslog;
