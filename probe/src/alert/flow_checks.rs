//! Flow checks: one-shot alerts about single flow records (flow risks, low
//! goodput, blacklisted addresses and domains, remote-to-local insecure
//! protocols, elephant and long-lived flows, refused connections, zero
//! windows, unexpected DNS/NTP/DHCP/SMTP servers, DNS exfiltration).
//!
//! Every alert comes with its merge key, the conversation it is about
//! (client, server and server port, plus the risk name or queried domain
//! where the rule says so), for the engine's [`super::merge::Merger`].
//!
//! A long flow arrives as interim records (each with the counters of its
//! interval) and a last one. The checks see the flow's totals since its
//! start, and an alert raised on an interim record is not raised again on
//! the flow's later records. That memory is kept only for flows that sent
//! an interim record, at most `max_tracked_flows` of them; beyond it the
//! least recently updated is forgotten (counted in [`FlowChecks::evicted`]).

mod checks;
mod dns;
mod servers;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use sonde_proto::v1::{self, Severity};

use super::config::{self, AlertConfig, AllowedServers};
use super::lists::{Blacklists, LoadReport};
use super::{Rules, build};

/// Flows with interim records remembered by default.
pub const DEFAULT_MAX_TRACKED_FLOWS: usize = 65_536;

/// The servers allowed to offer each service; `None`: the service is not
/// checked (no list configured).
#[derive(Clone, Debug, Default)]
pub struct AllowedServerNets {
    pub dns: Option<Vec<IpNet>>,
    pub ntp: Option<Vec<IpNet>>,
    pub dhcp: Option<Vec<IpNet>>,
    pub smtp: Option<Vec<IpNet>>,
}

impl AllowedServerNets {
    /// Parsed from `[alert.allowed_servers]`; an empty list turns the check
    /// off, entries that do not parse are skipped (`--check-config` reports
    /// them).
    pub fn from_config(a: &AllowedServers) -> Self {
        let nets = |list: &[String]| {
            (!list.is_empty()).then(|| list.iter().filter_map(|s| config::parse_net(s)).collect())
        };
        Self {
            dns: nets(&a.dns),
            ntp: nets(&a.ntp),
            dhcp: nets(&a.dhcp),
            smtp: nets(&a.smtp),
        }
    }
}

#[derive(Clone, Debug)]
pub struct FlowCheckSettings {
    /// Flow risks at or above this severity become alerts.
    pub min_risk_severity: Severity,
    /// The local networks (remote-to-local checks, unexpected servers'
    /// clients).
    pub local_networks: Vec<IpNet>,
    pub allowed: AllowedServerNets,
    /// Flows with interim records whose totals and raised alerts are
    /// remembered.
    pub max_tracked_flows: usize,
}

impl Default for FlowCheckSettings {
    fn default() -> Self {
        Self::from_config(&AlertConfig::default())
    }
}

impl FlowCheckSettings {
    pub fn from_config(c: &AlertConfig) -> Self {
        Self {
            min_risk_severity: c.flow_risk_severity.into(),
            local_networks: c.local_networks(),
            allowed: AllowedServerNets::from_config(&c.allowed_servers),
            max_tracked_flows: DEFAULT_MAX_TRACKED_FLOWS,
        }
    }

    pub(crate) fn is_local(&self, ip: IpAddr) -> bool {
        self.local_networks.iter().any(|n| n.contains(&ip))
    }
}

/// A long flow's totals over its interim records, and what was raised.
#[derive(Clone, Debug, Default)]
struct Track {
    start_us: u64,
    last_us: u64,
    c2s_bytes: u64,
    s2c_bytes: u64,
    /// FNV-1a of each raised alert's rule and merge key.
    raised: Vec<u64>,
}

/// What the checks see of one record.
pub(crate) struct Ctx<'a> {
    pub(crate) flow: &'a v1::Flow,
    pub(crate) client: IpAddr,
    pub(crate) server: IpAddr,
    pub(crate) port: u32,
    /// The flow's start, over its interim records.
    pub(crate) start_us: u64,
    pub(crate) c2s_bytes: u64,
    pub(crate) s2c_bytes: u64,
    /// `client server:port`, the merge key of most rules.
    pub(crate) conversation: String,
}

impl Ctx<'_> {
    /// `10.0.0.1:80` or `[2001:db8::1]:80`.
    pub(crate) fn server_at(&self) -> String {
        at(self.server, self.port)
    }
}

pub(crate) fn at(ip: IpAddr, port: u32) -> String {
    match ip {
        IpAddr::V4(_) => format!("{ip}:{port}"),
        IpAddr::V6(_) => format!("[{ip}]:{port}"),
    }
}

/// The flow checks, with the blacklists they consult.
#[derive(Debug)]
pub struct FlowChecks {
    rules: Arc<Rules>,
    settings: FlowCheckSettings,
    blacklists: Blacklists,
    tracked: HashMap<u64, Track>,
    evicted: u64,
}

impl FlowChecks {
    pub fn new(rules: Arc<Rules>, settings: FlowCheckSettings, blacklists: Blacklists) -> Self {
        Self {
            rules,
            settings,
            blacklists,
            tracked: HashMap::new(),
            evicted: 0,
        }
    }

    /// Reloads the blacklist files that changed (call about once a second).
    pub fn reload_blacklists(&mut self) -> Option<LoadReport> {
        self.blacklists.reload_if_changed()
    }

    pub fn blacklists(&self) -> &Blacklists {
        &self.blacklists
    }

    /// Long flows forgotten because the table of tracked flows was full.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Long flows remembered now.
    pub fn tracked(&self) -> usize {
        self.tracked.len()
    }

    /// Runs every enabled check on one record; alerts and their merge keys
    /// go to `out`, in the catalogue's order.
    pub fn flow(&mut self, flow: &v1::Flow, out: &mut Vec<(v1::Alert, String)>) {
        let Some((client, server)) = build::endpoints(flow) else {
            return;
        };
        let c2s = flow.client_to_server.as_ref().map_or(0, |d| d.bytes);
        let s2c = flow.server_to_client.as_ref().map_or(0, |d| d.bytes);
        let previous = self
            .tracked
            .get(&flow.flow_id)
            .filter(|_| flow.flow_id != 0);
        let (start_us, c2s_bytes, s2c_bytes) = match previous {
            Some(t) => (
                t.start_us.min(flow.first_seen_us),
                t.c2s_bytes.saturating_add(c2s),
                t.s2c_bytes.saturating_add(s2c),
            ),
            None => (flow.first_seen_us, c2s, s2c),
        };
        let port = build::server_port(flow);
        let ctx = Ctx {
            flow,
            client,
            server,
            port,
            start_us,
            c2s_bytes,
            s2c_bytes,
            conversation: format!("{client} {}", at(server, port)),
        };
        let mut found = Vec::new();
        checks::run(
            &self.rules,
            &self.settings,
            &self.blacklists,
            &ctx,
            &mut found,
        );
        let raised_before = previous.map(|t| t.raised.as_slice()).unwrap_or_default();
        let mut raised_now = Vec::new();
        for (alert, key) in found {
            let tag = tag(&alert.rule_key, &key);
            if raised_before.contains(&tag) {
                continue;
            }
            raised_now.push(tag);
            out.push((alert, key));
        }
        if flow.flow_id == 0 {
            return;
        }
        if flow.interim {
            let track = Track {
                start_us,
                last_us: flow.last_seen_us,
                c2s_bytes,
                s2c_bytes,
                raised: Vec::new(),
            };
            if !self.tracked.contains_key(&flow.flow_id) {
                self.make_room();
            }
            let entry = self.tracked.entry(flow.flow_id).or_default();
            let mut raised = std::mem::take(&mut entry.raised);
            raised.extend(raised_now);
            *entry = Track { raised, ..track };
        } else {
            self.tracked.remove(&flow.flow_id);
        }
    }

    fn make_room(&mut self) {
        if self.tracked.len() < self.settings.max_tracked_flows.max(1) {
            return;
        }
        let oldest = self
            .tracked
            .iter()
            .min_by_key(|(id, t)| (t.last_us, **id))
            .map(|(id, _)| *id);
        if let Some(id) = oldest {
            self.tracked.remove(&id);
            self.evicted += 1;
        }
    }
}

/// FNV-1a of a rule key and a merge key.
fn tag(rule: &str, key: &str) -> u64 {
    super::build::fnv1a(&[rule.as_bytes(), key.as_bytes()])
}

#[cfg(test)]
mod capture_tests;
#[cfg(test)]
mod policy_tests;
#[cfg(test)]
mod tests;
