//! sonde-probe: captures traffic, builds flow records, classifies them, raises
//! alerts and streams everything to a sonde collector over mutual TLS.
//!
//! Stages: [`capture`] (files, live interfaces) -> [`decode`] -> [`flow`]
//! (flow table, TCP analysis), wired per source by [`engine`]; [`read`] runs
//! them offline on a capture file. DPI, alerts and export arrive stage by stage
//! (see the repository README for the state of each).

pub mod alert;
pub mod capture;
pub mod check;
pub mod classify;
pub mod config;
pub mod decode;
pub mod engine;
pub mod export;
pub mod flow;
pub mod live;
pub mod read;
pub mod run;
pub mod suricata;

use std::path::Path;

/// `sonde-probe --check-config FILE`: every problem of the file, exit code 0 or 2.
pub fn check_config(path: &Path) -> u8 {
    let outcome = sonde_common::config::check(path, config::check_io);
    sonde_common::config::report_check::<config::ProbeConfig>(path, &outcome)
}
