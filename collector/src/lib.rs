//! sonde-collector: accepts probes over mutual TLS gRPC, deduplicates their
//! records, spools them while Elasticsearch is unreachable and indexes ECS
//! documents for Security Onion.
//!
//! The pipeline: [`server`] (probes' `Export` streams) → [`documents`] (ECS,
//! ids, [`enrich`]; [`dedupe`] across probes) → [`output`] (delivery, retries, the [`spool`]) → a
//! [`sink`] (Elasticsearch, NDJSON files or syslog). [`config`], [`check`] and
//! [`certs`] serve the command line.

pub mod certs;
pub mod check;
pub mod config;
pub mod dead_letters;
pub mod dedupe;
pub mod documents;
pub mod enrich;
pub mod output;
pub mod run;
pub mod server;
pub mod sink;
pub mod spool;

use std::path::Path;

/// `sonde-collector --check-config FILE`: every problem of the file, exit code 0 or 2.
pub fn check_config(path: &Path) -> u8 {
    let outcome = sonde_common::config::check(path, config::check_io);
    sonde_common::config::report_check::<config::CollectorConfig>(path, &outcome)
}
