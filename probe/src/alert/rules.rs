//! The rule catalogue: every alert the probe can raise, with its stable key
//! (`rule.id`, and `rule.uuid` derived from it by the ECS mapping), human name,
//! category, default severity on Security Onion's scale, score, the kind of
//! entity it is about, and its thresholds with their defaults.
//!
//! [`Rules`] is the catalogue resolved against the `[alert.rules.KEY]` tables
//! of the config: enabled or not, severity override, threshold values.

use std::collections::BTreeMap;

use serde::Deserialize;
use sonde_common::config::Problems;
use sonde_proto::v1::{self, EntityKind, Severity};

/// A threshold of a rule: its config key, default value and what it counts.
#[derive(Clone, Copy, Debug)]
pub struct Threshold {
    pub name: &'static str,
    pub default: f64,
    pub help: &'static str,
}

const fn t(name: &'static str, default: f64, help: &'static str) -> Threshold {
    Threshold {
        name,
        default,
        help,
    }
}

macro_rules! rules {
    ($(
        $variant:ident = $key:literal, $name:literal, $category:literal,
        $severity:ident, $score:literal, $entity:ident, [$($threshold:expr),* $(,)?];
    )*) => {
        /// One rule of the catalogue.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Rule {
            $($variant,)*
        }

        impl Rule {
            pub const ALL: &'static [Rule] = &[$(Rule::$variant,)*];

            /// Stable key: `rule.id` in ECS, the config table's name.
            pub fn key(self) -> &'static str {
                match self {
                    $(Rule::$variant => $key,)*
                }
            }

            /// Human name: `rule.name`.
            pub fn name(self) -> &'static str {
                match self {
                    $(Rule::$variant => $name,)*
                }
            }

            /// `rule.category`.
            pub fn category(self) -> &'static str {
                match self {
                    $(Rule::$variant => $category,)*
                }
            }

            pub fn default_severity(self) -> Severity {
                match self {
                    $(Rule::$variant => Severity::$severity,)*
                }
            }

            /// The score an occurrence adds (`event.risk_score`).
            pub fn score(self) -> u32 {
                match self {
                    $(Rule::$variant => $score,)*
                }
            }

            pub fn entity(self) -> EntityKind {
                match self {
                    $(Rule::$variant => EntityKind::$entity,)*
                }
            }

            pub fn thresholds(self) -> &'static [Threshold] {
                match self {
                    $(Rule::$variant => {
                        const T: &[Threshold] = &[$($threshold),*];
                        T
                    })*
                }
            }
        }
    };
}

// Thresholds are per minute unless they say otherwise. The host checks'
// defaults start from ntopng's (docs/alerts.md cites them).
rules! {
    // ---- flow checks: one alert per flow (merged per conversation).
    FlowRisk = "flow_risk", "Flow Risk", "Flow Risk", Medium, 50, Flow, [];
    LowGoodput = "low_goodput", "Low Goodput Ratio", "Network Issue", Low, 10, Flow, [
        t("ratio", 0.1, "goodput ratio below which a flow is reported"),
        t("min_bytes", 100_000.0, "bytes a flow must carry before its ratio counts"),
    ];
    BlacklistedIp = "blacklisted_ip", "Blacklisted IP", "Threat Intelligence", High, 150, Flow, [];
    BlacklistedDomain = "blacklisted_domain", "Blacklisted Domain", "Threat Intelligence", High, 150, Flow, [];
    RemoteToLocalInsecure = "remote_to_local_insecure", "Remote to Local Insecure Protocol", "Policy Violation", High, 100, Flow, [];
    // 1 GiB per direction: the value ntopng's ElephantFlow check is shown
    // configured with (ntop/ntopng src/flow_checks/ElephantFlow.cpp,
    // loadConfiguration: l2r_bytes_value and r2l_bytes_value 1073741824).
    ElephantFlow = "elephant_flow", "Elephant Flow", "Network Issue", Low, 10, Flow, [
        t("bytes", 1_073_741_824.0, "bytes in one direction of one flow, over its interim records"),
    ];
    // 12 hours: sonde's choice; ntopng's LongLivedFlow is an ntopng Pro check
    // whose default is not in its public source.
    LongLivedFlow = "long_lived_flow", "Long-Lived Flow", "Network Issue", Low, 10, Flow, [
        t("seconds", 43_200.0, "flow duration from its first packet, over its interim records"),
    ];
    TcpConnectionRefused = "tcp_connection_refused", "TCP Connection Refused", "Network Issue", Low, 10, Flow, [];
    TcpZeroWindow = "tcp_zero_window", "TCP Zero Window", "Network Issue", Low, 10, Flow, [];
    UnexpectedDnsServer = "unexpected_dns_server", "Unexpected DNS Server", "Policy Violation", Medium, 50, Flow, [];
    UnexpectedNtpServer = "unexpected_ntp_server", "Unexpected NTP Server", "Policy Violation", Medium, 50, Flow, [];
    UnexpectedDhcpServer = "unexpected_dhcp_server", "Unexpected DHCP Server", "Policy Violation", Medium, 50, Flow, [];
    UnexpectedSmtpServer = "unexpected_smtp_server", "Unexpected SMTP Server", "Policy Violation", Medium, 50, Flow, [];
    // Labels longer than nDPI's 48-character "Long DNS host name" risk (which
    // the classifier reports as a medium flow risk); entropy over labels of
    // 20+ characters: legitimate ones measure 3.4-3.95 bits, random base32 /
    // base64 labels of 32 characters 4.2 / 4.6 on average.
    DnsExfiltration = "dns_exfiltration", "DNS Data Exfiltration", "Data Exfiltration", High, 100, Flow, [
        t("label_length", 52.0, "characters in one label of a queried name"),
        t("entropy", 4.0, "Shannon entropy (bits per character) of a label of 20+ characters"),
    ];

    // ---- host and network checks: one incident per condition, engaged -> released.
    // Per-minute windows of flow records; a host alerts at or above the
    // threshold. Sources: ntop/ntopng scripts/lua/modules/check_definitions/
    // host/*.lua (defaults) and src/host_checks/*.cpp (what they count).
    // ntopng: syn_scan > 256 SYNs/min (SYNs sent - SYN/ACKs received).
    SynScan = "syn_scan", "SYN Scan", "Network Scan", High, 100, Host, [
        t("attempts", 256.0, "SYNs sent per minute that never carried data (unanswered, refused or reset)"),
        t("ports", 16.0, "distinct destination ports those attempts reach (fewer is a flood, not a scan)"),
    ];
    // ntopng: syn_flood > 256 SYNs/s (SYNFlood.cpp compares 256 x 60 per
    // minute, all SYNs). sonde counts only SYNs to one port that never
    // completed: 1,024 a minute outruns a default Linux SYN backlog.
    SynFlood = "syn_flood", "SYN Flood", "Denial of Service", High, 100, Host, [
        t("syns", 1_024.0, "uncompleted SYNs per minute to one port (victim) or one host:port (attacker)"),
    ];
    // ntopng: rst_scan > 256 per minute (a RST without ACK is a normal answer
    // to a stray segment, so one is no evidence).
    // FIN without ACK, no flags, FIN+PSH+URG without ACK: no TCP stack sends
    // these (RFC 9293 §3.10.7: every segment after the SYN carries ACK), so
    // one such flow is already a crafted probe (nmap -sF, -sN, -sX); ntopng
    // counts FIN scans > 256/min over FIN packets that may carry ACK.
    FinScan = "fin_scan", "TCP FIN Scan", "Network Scan", High, 100, Host, [
        t("flows", 1.0, "flows of FIN without ACK sent per minute"),
    ];
    RstScan = "rst_scan", "TCP RST Scan", "Network Scan", Medium, 50, Host, [
        t("flows", 256.0, "RST-only flows sent per minute"),
    ];
    NullScan = "null_scan", "TCP NULL Scan", "Network Scan", High, 100, Host, [
        t("flows", 1.0, "flows without TCP flags sent per minute"),
    ];
    XmasScan = "xmas_scan", "TCP XMAS Scan", "Network Scan", High, 100, Host, [
        t("flows", 1.0, "FIN+PSH+URG flows without ACK sent per minute"),
    ];
    // ntopng scan_detection: > 32 flows; Slips: 5 hosts per time window.
    HorizontalPortScan = "horizontal_port_scan", "Horizontal Port Scan", "Network Scan", High, 100, Host, [
        t("hosts", 32.0, "distinct hosts probed on one port per minute (failed TCP or unanswered UDP)"),
    ];
    // ntopng: icmp_flood, flow_flood > 256 per second (peak second); sonde
    // sees records, not packets, and compares the minute: 256 x 60.
    IcmpFlood = "icmp_flood", "ICMP Flood", "Denial of Service", High, 100, Host, [
        t("packets", 15_360.0, "ICMP packets sent (attacker) or received (victim) per minute"),
    ];
    // Slips: 5 hosts per time window; ntopng scan_detection > 32.
    PingSweep = "ping_sweep", "Ping Sweep", "Network Scan", Medium, 50, Host, [
        t("hosts", 16.0, "distinct hosts sent an ICMP echo request per minute"),
    ];
    FlowFlood = "flow_flood", "Flow Flood", "Denial of Service", High, 100, Host, [
        t("flows", 15_360.0, "flows started (attacker) or received (victim) per minute"),
    ];
    // ntopng's DNS check counts bytes and has no default; the flood rate of
    // ntopng's other floods (256/s) is used.
    DnsFlood = "dns_flood", "DNS Flood", "Denial of Service", High, 100, Host, [
        t("queries", 15_360.0, "DNS queries sent (attacker) or received (victim) per minute"),
    ];
    // No ntopng host check. Zeek (detect-bruteforcing): 30 failed SSH logins
    // in 30 min, a login presumed successful above 5,500 bytes; sonde sees
    // sessions, not logins, hence a per-minute rate of short sessions.
    BruteForce = "brute_force", "Brute Force", "Brute Force", High, 100, Host, [
        t("sessions", 20.0, "short or failed sessions from one client to one server's login service per minute"),
        t("bytes", 16_384.0, "payload bytes (both directions) below which a session is short"),
    ];
    // ntopng: score_threshold > 5000 (client or server score).
    HostScore = "host_score", "High Host Score", "Flow Risk", Medium, 50, Host, [
        t("score", 5_000.0, "sum of the flow risk scores of a host as client or as server per minute"),
    ];
}

impl Rule {
    pub fn from_key(key: &str) -> Option<Rule> {
        Rule::ALL.iter().copied().find(|r| r.key() == key)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A severity as written in the config: `low`, `medium`, `high`, `critical`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SeverityName {
    Low,
    Medium,
    High,
    Critical,
}

impl From<SeverityName> for Severity {
    fn from(s: SeverityName) -> Self {
        match s {
            SeverityName::Low => Severity::Low,
            SeverityName::Medium => Severity::Medium,
            SeverityName::High => Severity::High,
            SeverityName::Critical => Severity::Critical,
        }
    }
}

/// `[alert.rules.KEY]`: `enabled`, `severity`, and the rule's thresholds by name.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct RuleConfig {
    pub enabled: Option<bool>,
    pub severity: Option<SeverityName>,
    #[serde(flatten)]
    pub thresholds: BTreeMap<String, f64>,
}

/// Reports unknown rule keys, unknown threshold names and bad values.
pub fn validate(config: &BTreeMap<String, RuleConfig>, p: &mut Problems) {
    for (key, rc) in config {
        let at = format!("alert.rules.{key}");
        let Some(rule) = Rule::from_key(key) else {
            p.push(at, "unknown rule (docs/alerts.md lists the rules)");
            continue;
        };
        for (name, value) in &rc.thresholds {
            if !rule.thresholds().iter().any(|t| t.name == *name) {
                let known: Vec<&str> = rule.thresholds().iter().map(|t| t.name).collect();
                let hint = if known.is_empty() {
                    "this rule has no thresholds".to_owned()
                } else {
                    format!("known: enabled, severity, {}", known.join(", "))
                };
                p.push(format!("{at}.{name}"), format!("unknown setting; {hint}"));
            } else if !value.is_finite() || *value < 0.0 {
                p.push(
                    format!("{at}.{name}"),
                    format!("must be a number >= 0 (got {value})"),
                );
            }
        }
    }
}

/// The catalogue resolved against the config.
#[derive(Clone, Debug)]
pub struct Rules {
    enabled: Vec<bool>,
    severity: Vec<Severity>,
    /// Whether the config set the severity (rules whose alerts take their
    /// severity from what they report, like `flow_risk`, honour only that).
    severity_set: Vec<bool>,
    thresholds: Vec<Vec<f64>>,
}

impl Default for Rules {
    fn default() -> Self {
        Self::new(&BTreeMap::new())
    }
}

impl Rules {
    /// Defaults overridden by `config`; unknown keys are ignored here
    /// ([`validate`] reports them).
    pub fn new(config: &BTreeMap<String, RuleConfig>) -> Self {
        let mut rules = Self {
            enabled: vec![true; Rule::ALL.len()],
            severity: Rule::ALL.iter().map(|r| r.default_severity()).collect(),
            severity_set: vec![false; Rule::ALL.len()],
            thresholds: Rule::ALL
                .iter()
                .map(|r| r.thresholds().iter().map(|t| t.default).collect())
                .collect(),
        };
        for (key, rc) in config {
            let Some(rule) = Rule::from_key(key) else {
                continue;
            };
            let i = rule.index();
            if let Some(enabled) = rc.enabled {
                rules.enabled[i] = enabled;
            }
            if let Some(severity) = rc.severity {
                rules.severity[i] = severity.into();
                rules.severity_set[i] = true;
            }
            for (name, value) in &rc.thresholds {
                if let Some(j) = rule.thresholds().iter().position(|t| t.name == *name)
                    && value.is_finite()
                    && *value >= 0.0
                {
                    rules.thresholds[i][j] = *value;
                }
            }
        }
        rules
    }

    pub fn enabled(&self, rule: Rule) -> bool {
        self.enabled[rule.index()]
    }

    pub fn set_enabled(&mut self, rule: Rule, enabled: bool) {
        self.enabled[rule.index()] = enabled;
    }

    pub fn severity(&self, rule: Rule) -> Severity {
        self.severity[rule.index()]
    }

    /// The severity the config set for `rule`, if it set one.
    pub fn severity_override(&self, rule: Rule) -> Option<Severity> {
        self.severity_set[rule.index()].then(|| self.severity[rule.index()])
    }

    /// The value of the threshold `name` of `rule`. A name the catalogue does
    /// not list is a programming error (a test checks every use): it reads as
    /// infinity, so the check never fires.
    pub fn threshold(&self, rule: Rule, name: &str) -> f64 {
        match rule.thresholds().iter().position(|t| t.name == name) {
            Some(j) => self.thresholds[rule.index()][j],
            None => {
                debug_assert!(false, "rule {} has no threshold {name}", rule.key());
                f64::INFINITY
            }
        }
    }

    /// A new alert of `rule` with the catalogue's fields filled in (key,
    /// name, category, severity, score, entity kind, source, one-shot, count
    /// 1); `None` when the rule is disabled.
    pub fn alert(&self, rule: Rule) -> Option<v1::Alert> {
        if !self.enabled(rule) {
            return None;
        }
        Some(v1::Alert {
            rule_key: rule.key().to_owned(),
            rule_name: rule.name().to_owned(),
            rule_category: rule.category().to_owned(),
            severity: self.severity(rule) as i32,
            score: rule.score(),
            source: v1::AlertSource::Sonde as i32,
            entity: rule.entity() as i32,
            lifecycle: v1::Lifecycle::OneShot as i32,
            count: 1,
            ..Default::default()
        })
    }
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
