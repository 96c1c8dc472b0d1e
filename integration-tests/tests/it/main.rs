//! End-to-end tests: real binaries, real Elasticsearch.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a panic is a failed test"
)]

mod config_reference;
mod dedupe;
mod elasticsearch;
mod es_output;
mod refusals;
mod transport;
