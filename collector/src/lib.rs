//! sonde-collector: accepts probes over mutual TLS gRPC, deduplicates their
//! records, spools them while Elasticsearch is unreachable and indexes ECS
//! documents for Security Onion.
//!
//! This build holds the collector's configuration ([`config`]), the quick-start
//! certificate authority ([`certs`]) and the command line; the server, dedupe,
//! ECS mapping, spool and sinks arrive stage by stage (see the repository
//! README for the state of each).

pub mod certs;
pub mod check;
pub mod config;
pub mod documents;
pub mod enrich;
pub mod output;
pub mod run;
pub mod server;
pub mod sink;

use std::path::Path;

/// `sonde-collector --check-config FILE`: every problem of the file, exit code 0 or 2.
pub fn check_config(path: &Path) -> u8 {
    let outcome = sonde_common::config::check(path, config::check_io);
    sonde_common::config::report_check::<config::CollectorConfig>(path, &outcome)
}
