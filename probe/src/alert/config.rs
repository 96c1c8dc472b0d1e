//! `[alert]`, `[suricata]` and `[routing]` of `probe.toml`: which checks run
//! and with which thresholds, where Suricata's eve.json comes from, and what
//! leaves the probe. Every key is documented in docs/configuration.md.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use ipnet::IpNet;
use serde::Deserialize;
use sonde_common::config::{ByteSize, Duration, Problems};

use super::rules::{self, RuleConfig, SeverityName};

/// `[alert]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct AlertConfig {
    pub enabled: bool,
    /// Repeats of one rule about one entity within this window are one alert.
    pub merge_window: Duration,
    /// Flow risks at or above this severity become flow alerts.
    pub flow_risk_severity: SeverityName,
    /// The networks that are "local" (remote-to-local checks, host checks'
    /// roles). Default: RFC 1918, link-local, ULA.
    pub local_networks: Vec<String>,
    /// Files of blacklisted IPs, CIDRs and domains, one per line; reloaded
    /// when they change.
    pub blacklists: Vec<PathBuf>,
    /// Servers allowed to offer DNS, NTP, DHCP and SMTP; a service with no
    /// list is not checked.
    pub allowed_servers: AllowedServers,
    /// Per-rule settings: `[alert.rules.syn_scan] attempts = 500`.
    pub rules: BTreeMap<String, RuleConfig>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct AllowedServers {
    pub dns: Vec<String>,
    pub ntp: Vec<String>,
    pub dhcp: Vec<String>,
    pub smtp: Vec<String>,
}

impl Default for AlertConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            merge_window: Duration::from_secs(60),
            flow_risk_severity: SeverityName::High,
            local_networks: DEFAULT_LOCAL_NETWORKS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            blacklists: Vec::new(),
            allowed_servers: AllowedServers::default(),
            rules: BTreeMap::new(),
        }
    }
}

pub const DEFAULT_LOCAL_NETWORKS: &[&str] = &[
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "169.254.0.0/16",
    "fc00::/7",
    "fe80::/10",
];

/// `[suricata]`: Suricata's eve.json, followed as a file or read from a unix
/// socket Suricata writes to.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct SuricataConfig {
    /// eve.json, followed across rotation and truncation.
    pub eve: Option<PathBuf>,
    /// A unix stream socket the probe listens on (Suricata's
    /// `filetype: unix_stream`).
    pub socket: Option<PathBuf>,
    /// Community ID seed Suricata uses (`community-id-seed`).
    pub community_id_seed: u16,
    /// How long an alert waits for its flow's record, and how far apart in
    /// time an alert and a flow may be to match by 5-tuple.
    pub correlation_window: Duration,
    /// Alerts of one signature from one attacker within this window are one alert.
    pub consolidation_window: Duration,
    /// Longer lines are counted and skipped.
    pub max_line: ByteSize,
}

impl Default for SuricataConfig {
    fn default() -> Self {
        Self {
            eve: None,
            socket: None,
            community_id_seed: 0,
            correlation_window: Duration::from_secs(120),
            consolidation_window: Duration::from_secs(60),
            max_line: ByteSize::mib(1),
        }
    }
}

/// Which flow records leave the probe.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlowExport {
    #[default]
    All,
    None,
    /// Only flows with at least one risk.
    Risky,
    /// One flow in `flow_sample`, chosen by its Community ID (so every probe
    /// and every run picks the same ones), plus every flow with a risk.
    Sampled,
}

/// `[routing]`: the export policy, like ntopng's recipients.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct RoutingConfig {
    pub min_severity: SeverityName,
    /// Rule keys to export only (empty: all); `suricata` names every Suricata alert.
    pub include_rules: Vec<String>,
    pub exclude_rules: Vec<String>,
    /// Export alerts and flows of these interfaces only (empty: all).
    pub interfaces: Vec<String>,
    pub flows: FlowExport,
    pub flow_sample: u32,
    /// Host pools with their own policy; the first pool that holds an alert's
    /// attacker or victim (a flow's client or server) decides.
    pub pools: Vec<PoolConfig>,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        Self {
            min_severity: SeverityName::Low,
            include_rules: Vec::new(),
            exclude_rules: Vec::new(),
            interfaces: Vec::new(),
            flows: FlowExport::All,
            flow_sample: 10,
            pools: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct PoolConfig {
    pub name: String,
    pub networks: Vec<String>,
    pub min_severity: Option<SeverityName>,
    pub include_rules: Option<Vec<String>>,
    pub exclude_rules: Option<Vec<String>>,
    pub flows: Option<FlowExport>,
}

/// An address or CIDR from the config.
pub fn parse_net(s: &str) -> Option<IpNet> {
    let s = s.trim();
    s.parse::<IpNet>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
}

fn validate_nets(key: &str, nets: &[String], p: &mut Problems) {
    for (i, net) in nets.iter().enumerate() {
        p.require(parse_net(net).is_some(), &format!("{key}[{i}]"), || {
            format!("not an address or CIDR: \"{net}\"")
        });
    }
}

fn validate_rule_names(key: &str, names: &[String], p: &mut Problems) {
    for name in names {
        p.require(
            name == "suricata" || rules::Rule::from_key(name).is_some() || is_suricata_sid(name),
            key,
            || {
                format!(
                    "unknown rule \"{name}\" (a sonde rule key, \"suricata\" or \"suricata:SID\")"
                )
            },
        );
    }
}

/// `suricata:2013504`: one Suricata signature.
fn is_suricata_sid(name: &str) -> bool {
    name.strip_prefix("suricata:")
        .is_some_and(|sid| !sid.is_empty() && sid.bytes().all(|b| b.is_ascii_digit()))
}

impl AlertConfig {
    pub fn validate(&self, p: &mut Problems) {
        p.require(
            self.merge_window.get() <= std::time::Duration::from_secs(3600),
            "alert.merge_window",
            || format!("must be at most 1h (got \"{}\")", self.merge_window),
        );
        validate_nets("alert.local_networks", &self.local_networks, p);
        let a = &self.allowed_servers;
        for (name, list) in [
            ("dns", &a.dns),
            ("ntp", &a.ntp),
            ("dhcp", &a.dhcp),
            ("smtp", &a.smtp),
        ] {
            validate_nets(&format!("alert.allowed_servers.{name}"), list, p);
        }
        rules::validate(&self.rules, p);
    }

    pub fn local_networks(&self) -> Vec<IpNet> {
        self.local_networks
            .iter()
            .filter_map(|s| parse_net(s))
            .collect()
    }
}

impl SuricataConfig {
    pub fn validate(&self, p: &mut Problems) {
        p.require(
            !(self.eve.is_some() && self.socket.is_some()),
            "suricata",
            || "set eve or socket, not both".to_owned(),
        );
        p.require(
            self.max_line >= ByteSize::kib(4) && self.max_line <= ByteSize::mib(64),
            "suricata.max_line",
            || format!("must be between 4KiB and 64MiB (got {})", self.max_line),
        );
        for (key, d) in [
            ("suricata.correlation_window", self.correlation_window),
            ("suricata.consolidation_window", self.consolidation_window),
        ] {
            p.require(d.get() <= std::time::Duration::from_secs(3600), key, || {
                format!("must be at most 1h (got \"{d}\")")
            });
        }
    }
}

impl RoutingConfig {
    pub fn validate(&self, p: &mut Problems) {
        validate_rule_names("routing.include_rules", &self.include_rules, p);
        validate_rule_names("routing.exclude_rules", &self.exclude_rules, p);
        p.require(self.flow_sample >= 1, "routing.flow_sample", || {
            "must be at least 1 (1 = every flow)".to_owned()
        });
        let mut names = std::collections::HashSet::new();
        for (i, pool) in self.pools.iter().enumerate() {
            let key = |k: &str| format!("routing.pools[{i}].{k}");
            p.require(!pool.name.trim().is_empty(), &key("name"), || {
                "must not be empty".to_owned()
            });
            p.require(names.insert(pool.name.as_str()), &key("name"), || {
                format!("\"{}\" is used twice", pool.name)
            });
            p.require(!pool.networks.is_empty(), &key("networks"), || {
                "must list at least one address or CIDR".to_owned()
            });
            validate_nets(&key("networks"), &pool.networks, p);
            if let Some(r) = &pool.include_rules {
                validate_rule_names(&key("include_rules"), r, p);
            }
            if let Some(r) = &pool.exclude_rules {
                validate_rule_names(&key("exclude_rules"), r, p);
            }
        }
    }
}
