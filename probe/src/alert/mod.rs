//! Alerts: checks over the flow records (one-shot flow alerts, merged per
//! conversation), host and network checks over per-minute windows (one
//! incident per condition, engaged -> released), Suricata's alerts correlated
//! with the probe's flows and consolidated, and the export policy deciding
//! what leaves the probe.
//!
//! Time is the records' time (packet time), never a clock, so a replayed file
//! raises the same alerts every run; a live probe also advances the engine
//! with the wall clock when its interfaces are quiet.

pub mod build;
pub mod config;
pub mod host;
pub mod merge;
pub mod rules;

pub use rules::{Rule, Rules};
