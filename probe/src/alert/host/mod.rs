//! Host and network checks over per-minute windows of flow records: SYN
//! scan, SYN flood (attacker and victim), FIN / RST / NULL / XMAS scans,
//! horizontal port scan, ICMP flood, ping sweep, flow flood, DNS flood,
//! brute force against login services, and the host score.
//!
//! How:
//! - Records are counted into the window of the data time they arrive at
//!   (`window`, `observe`): windows are aligned minutes of packet time,
//!   closed by [`HostChecks::advance`] (or by a record from a later minute).
//!   A flow counts once, on its first record (interim records carry the
//!   counters of their interval; see `observe`).
//! - At a window's end `detect` compares every host's counters with the
//!   rules' thresholds and gathers the evidence of those that crossed one;
//!   `incident` turns that into one incident per (rule, role, host):
//!   engaged, updated at most once a minute while it holds, released after a
//!   minute in which it no longer holds, or at [`HostChecks::finish`].
//!
//! Bounds: the window's maps are capped (`window::MAX_*`, overflow counted),
//! at most `incident::MAX_INCIDENTS` incidents, and at most
//! [`MAX_CONTINUED`] flows remembered as having had an interim record.

mod describe;
mod detect;
mod incident;
mod observe;
mod window;

#[cfg(test)]
mod capture_tests;
#[cfg(test)]
mod lifecycle_tests;
#[cfg(test)]
mod tests;

use std::net::IpAddr;
use std::sync::Arc;

use hashbrown::HashSet;
use ipnet::IpNet;
use sonde_proto::v1;

use self::incident::Incidents;
use self::observe::Limits;
pub use self::window::Overflow;
use self::window::Window;
use crate::alert::{Rule, Rules};

const MINUTE_US: u64 = 60_000_000;

/// Flows remembered as having had an interim record (so their later records
/// do not count the flow again).
pub const MAX_CONTINUED: usize = 65_536;

/// Counters of what the checks could not keep.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostCheckStats {
    pub overflow: Overflow,
    /// New incidents not opened because the incident table was full.
    pub incidents_dropped: u64,
    /// Long flows not remembered (their next record counts the flow again).
    pub continued_dropped: u64,
}

/// The host and network checks.
#[derive(Debug)]
pub struct HostChecks {
    rules: Arc<Rules>,
    local_networks: Vec<IpNet>,
    limits: Limits,
    window: Window,
    /// Start of the current window (aligned minute); `None` before any data.
    window_start: Option<u64>,
    incidents: Incidents,
    continued: HashSet<u64>,
    continued_dropped: u64,
}

/// A share of a threshold, as a count (at least 1).
fn share(threshold: f64, divisor: f64) -> u32 {
    let v = (threshold / divisor).ceil();
    if v.is_finite() && v >= 1.0 {
        v.min(f64::from(u32::MAX)) as u32
    } else {
        1
    }
}

impl HostChecks {
    pub fn new(rules: Arc<Rules>, local_networks: Vec<IpNet>) -> Self {
        // Peers of busy hosts are recorded from an eighth of the threshold on:
        // enough for the top lists, without a map entry per conversation.
        let limits = Limits {
            flow_peers_from: share(rules.threshold(Rule::FlowFlood, "flows"), 8.0),
            dns_peers_from: share(rules.threshold(Rule::DnsFlood, "queries"), 8.0),
            icmp_peers_from: share(rules.threshold(Rule::IcmpFlood, "packets"), 8.0),
            brute_bytes: {
                let b = rules.threshold(Rule::BruteForce, "bytes");
                if b.is_finite() && b >= 0.0 {
                    b as u64
                } else {
                    0
                }
            },
        };
        Self {
            rules,
            local_networks,
            limits,
            window: Window::default(),
            window_start: None,
            incidents: Incidents::default(),
            continued: HashSet::new(),
            continued_dropped: 0,
        }
    }

    /// One flow record.
    pub fn flow(&mut self, flow: &v1::Flow, out: &mut Vec<v1::Alert>) {
        let t = flow.last_seen_us.max(flow.first_seen_us);
        match self.window_start {
            None => self.window_start = Some(t - t % MINUTE_US),
            Some(start) if t >= start.saturating_add(MINUTE_US) => self.advance(t, out),
            Some(_) => {}
        }
        let first = self.first_record(flow);
        observe::observe(&mut self.window, flow, first, &self.limits);
    }

    /// Data time moves on: close windows, update or release incidents.
    pub fn advance(&mut self, now_us: u64, out: &mut Vec<v1::Alert>) {
        let Some(start) = self.window_start else {
            self.window_start = Some(now_us - now_us % MINUTE_US);
            return;
        };
        if now_us < start.saturating_add(MINUTE_US) {
            return;
        }
        self.close(true, out);
        // A whole minute without data in between: whatever was engaged no
        // longer holds.
        if now_us >= start.saturating_add(2 * MINUTE_US) {
            self.close(true, out);
        }
        self.window_start = Some(now_us - now_us % MINUTE_US);
    }

    /// End of input, first step: the last window's findings engage or update
    /// their incidents now, so that alerts still on their way (Suricata's)
    /// can be linked to them before [`finish`](Self::finish) releases them.
    pub fn close_last_window(&mut self, out: &mut Vec<v1::Alert>) {
        if !self.window.is_empty() {
            self.close(true, out);
        }
    }

    /// End of input: release every engaged incident.
    pub fn finish(&mut self, out: &mut Vec<v1::Alert>) {
        // The last window may still engage; its updates go into the release.
        self.close(false, out);
        self.incidents.release_all(&self.rules, out);
        self.window_start = None;
        self.continued.clear();
    }

    /// The engaged incident (incident_id, rule key) where `ip` is the attacker, if any.
    pub fn incident_of_attacker(&self, ip: IpAddr) -> Option<(String, &'static str)> {
        self.incidents
            .map
            .iter()
            .find(|(_, inc)| inc.has_attacker(ip))
            .map(|((rule, _, _), inc)| (inc.id.clone(), rule.key()))
    }

    /// Adds a Suricata signature to an engaged incident's next update/release.
    pub fn attach_signature(&mut self, incident_id: &str, signature: v1::SuricataSignature) {
        self.incidents.attach(incident_id, signature);
    }

    pub fn stats(&self) -> HostCheckStats {
        HostCheckStats {
            overflow: self.window.overflow,
            incidents_dropped: self.incidents.dropped,
            continued_dropped: self.continued_dropped,
        }
    }

    fn close(&mut self, emit_updates: bool, out: &mut Vec<v1::Alert>) {
        let nets = &self.local_networks;
        let local = |ip: IpAddr| nets.iter().any(|n| n.contains(&ip));
        let findings = if self.window.is_empty() {
            Vec::new()
        } else {
            detect::findings(&self.window, &self.rules, &local)
        };
        self.window.clear();
        self.incidents
            .close(findings, &self.rules, emit_updates, out);
    }

    /// Whether `flow` is its flow's first record (interim records of one
    /// flow share its `flow_id`; the interface keeps sources apart).
    fn first_record(&mut self, flow: &v1::Flow) -> bool {
        if flow.flow_id == 0 {
            return true;
        }
        let key = flow_key(&flow.interface, flow.flow_id);
        if flow.interim {
            if self.continued.contains(&key) {
                return false;
            }
            if self.continued.len() < MAX_CONTINUED {
                self.continued.insert(key);
            } else {
                self.continued_dropped += 1;
            }
            true
        } else {
            !self.continued.remove(&key)
        }
    }
}

/// FNV-1a of the interface name, mixed with the flow id.
fn flow_key(interface: &str, flow_id: u64) -> u64 {
    crate::alert::build::fnv1a(&[interface.as_bytes()])
        ^ flow_id.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}
