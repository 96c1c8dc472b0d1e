//! One consolidation group: the alerts of one signature from one attacker
//! within the consolidation window, and the `v1::Alert` it becomes.
//!
//! Bounds: victims (`max_victims`), ports, actions, Suricata flow ids and
//! waited-for 5-tuples are capped per group; strings taken from eve lines are
//! cut to [`TEXT_MAX`] characters.

use crate::suricata::eve::EveFlow;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use sonde_proto::v1;

use super::eve::EveEvent;
use crate::alert::build;

/// Longest string from an eve line kept in evidence.
pub(crate) const TEXT_MAX: usize = 256;
/// Destination ports listed per group.
const MAX_PORTS: usize = 16;
/// Suricata flow ids (for enrichment) and 5-tuples (for a late flow) per group.
pub(crate) const MAX_LINKS: usize = 4;

/// Facts from Suricata's flow, dns, tls and http events (or from the alert
/// line's own objects) worth showing with an alert.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Enrichment {
    pub(crate) app_proto: Option<String>,
    pub(crate) sni: Option<String>,
    pub(crate) ja3: Option<String>,
    pub(crate) http_host: Option<String>,
    pub(crate) url: Option<String>,
    pub(crate) user_agent: Option<String>,
    pub(crate) dns_query: Option<String>,
}

fn cut(s: &Option<String>) -> Option<String> {
    s.as_ref().map(|s| s.chars().take(TEXT_MAX).collect())
}

impl Enrichment {
    /// What an event tells; fields already known are kept.
    pub(crate) fn absorb(&mut self, e: &EveEvent) {
        let app = e.app_proto.as_ref().filter(|p| p.as_str() != "failed");
        fill(&mut self.app_proto, &cut(&app.cloned()));
        if let Some(t) = &e.tls {
            fill(&mut self.sni, &cut(&t.sni));
            fill(&mut self.ja3, &cut(&t.ja3));
        }
        if let Some(h) = &e.http {
            fill(&mut self.http_host, &cut(&h.hostname));
            fill(&mut self.url, &cut(&h.url));
            fill(&mut self.user_agent, &cut(&h.user_agent));
        }
        if let Some(d) = &e.dns {
            fill(&mut self.dns_query, &cut(&d.rrname));
        }
    }

    pub(crate) fn merge(&mut self, other: &Enrichment) {
        fill(&mut self.app_proto, &other.app_proto);
        fill(&mut self.sni, &other.sni);
        fill(&mut self.ja3, &other.ja3);
        fill(&mut self.http_host, &other.http_host);
        fill(&mut self.url, &other.url);
        fill(&mut self.user_agent, &other.user_agent);
        fill(&mut self.dns_query, &other.dns_query);
    }

    fn evidence(&self, alert: &mut v1::Alert) {
        let items = [
            ("app_proto", &self.app_proto),
            ("sni", &self.sni),
            ("ja3", &self.ja3),
            ("http_host", &self.http_host),
            ("url", &self.url),
            ("user_agent", &self.user_agent),
            ("dns_query", &self.dns_query),
        ];
        for (key, value) in items {
            if let Some(v) = value {
                build::evidence(alert, key, v);
            }
        }
    }
}

fn fill(slot: &mut Option<String>, value: &Option<String>) {
    if slot.is_none() {
        slot.clone_from(value);
    }
}

/// The consolidation of one signature's alerts from one attacker.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub(crate) sid: u64,
    pub(crate) attacker: IpAddr,
    gid: Option<u64>,
    rev: Option<u64>,
    signature: String,
    category: String,
    /// Suricata's severity (1 = highest); the highest seen wins.
    severity: Option<u32>,
    /// The first alert's time (in arrival order): the consolidation window
    /// and the wait for a flow run from here.
    pub(crate) window_start_us: u64,
    pub(crate) first_us: u64,
    pub(crate) last_us: u64,
    pub(crate) count: u64,
    /// Alerts per victim, at most `max_victims` victims.
    victims: BTreeMap<IpAddr, u64>,
    /// Alerts whose victim was not kept (the list was full).
    victims_untracked: u64,
    ports: BTreeSet<u16>,
    actions: BTreeSet<String>,
    interface: Option<String>,
    sensor: Option<String>,
    /// The first alert's 5-tuple as Suricata wrote it, for an alert without flow.
    first_tuple: Option<(IpAddr, IpAddr)>,
    /// Its ports (ICMP: type and code) and IP protocol.
    first_ports: (u16, u16),
    first_proto: Option<u8>,
    /// Suricata's counters of that flow at the first alert, and its app_proto.
    first_counters: Option<EveFlow>,
    first_app: Option<&'static str>,
    /// The probe's Community ID of the first alert's 5-tuple.
    pub(crate) entity: String,
    pub(crate) enrichment: Enrichment,
    pub(crate) suricata_flow_ids: Vec<u64>,
    pub(crate) flow: Option<v1::Flow>,
}

impl Group {
    pub(crate) fn new(event: &EveEvent, sid: u64, attacker: IpAddr, entity: String) -> Self {
        let a = event.alert.clone().unwrap_or_default();
        Self {
            sid,
            attacker,
            gid: a.gid,
            rev: a.rev,
            signature: a.signature.chars().take(TEXT_MAX).collect(),
            category: cut(&a.category).unwrap_or_default(),
            severity: a.severity,
            window_start_us: event.timestamp_us,
            first_us: event.timestamp_us,
            last_us: event.timestamp_us,
            count: 0,
            victims: BTreeMap::new(),
            victims_untracked: 0,
            ports: BTreeSet::new(),
            actions: BTreeSet::new(),
            interface: cut(&event.in_iface),
            sensor: cut(&event.host),
            first_tuple: event.src_ip.zip(event.dest_ip),
            first_ports: match (event.icmp_type, event.icmp_code) {
                (Some(t), Some(c)) => (u16::from(t), u16::from(c)),
                _ => (event.src_port.unwrap_or(0), event.dest_port.unwrap_or(0)),
            },
            first_proto: event.proto,
            first_counters: event.flow.clone(),
            first_app: event.app_proto.as_deref().and_then(ndpi_name),
            entity,
            enrichment: Enrichment::default(),
            suricata_flow_ids: Vec::new(),
            flow: None,
        }
    }

    /// Adds one alert event of this signature and attacker.
    pub(crate) fn add(&mut self, event: &EveEvent, victim: Option<IpAddr>, max_victims: usize) {
        self.count += 1;
        self.first_us = self.first_us.min(event.timestamp_us);
        self.last_us = self.last_us.max(event.timestamp_us);
        if let Some(v) = victim {
            let room = self.victims.len() < max_victims;
            match self.victims.get_mut(&v) {
                Some(n) => *n += 1,
                None if room => {
                    self.victims.insert(v, 1);
                }
                None => self.victims_untracked += 1,
            }
        }
        if let Some(a) = &event.alert {
            if let Some(s) = a.severity {
                self.severity = Some(self.severity.map_or(s, |old| old.min(s)));
            }
            if let Some(action) = &a.action {
                if self.actions.len() < 4 && !self.actions.contains(action) {
                    self.actions.insert(action.chars().take(32).collect());
                }
            }
        }
        if let Some(p) = event.dest_port {
            if self.ports.len() < MAX_PORTS {
                self.ports.insert(p);
            }
        }
        if let Some(id) = event.flow_id {
            if self.suricata_flow_ids.len() < MAX_LINKS && !self.suricata_flow_ids.contains(&id) {
                self.suricata_flow_ids.push(id);
            }
        }
        self.enrichment.absorb(event);
    }

    /// The alert this group becomes.
    pub(crate) fn into_alert(self) -> v1::Alert {
        let severity = so_severity(self.severity);
        let mut alert = v1::Alert {
            rule_key: self.sid.to_string(),
            rule_name: self.signature.clone(),
            rule_category: self.category.clone(),
            severity: severity as i32,
            score: score(severity),
            source: v1::AlertSource::Suricata as i32,
            entity: v1::EntityKind::Flow as i32,
            entity_value: self.entity.clone(),
            lifecycle: v1::Lifecycle::OneShot as i32,
            first_seen_us: self.first_us,
            last_seen_us: self.last_us,
            count: self.count,
            incident_id: build::incident_id(
                &format!("suricata:{}", self.sid),
                &self.attacker.to_string(),
                self.first_us,
            ),
            attacker_ip: build::ip_bytes(self.attacker),
            interface: self.interface.clone().unwrap_or_default(),
            signatures: vec![v1::SuricataSignature {
                signature_id: self.sid,
                signature: self.signature.clone(),
                category: self.category.clone(),
                severity: self.severity.unwrap_or(0),
                count: self.count,
            }],
            ..Default::default()
        };
        // The victim hit most often (the smallest address on a tie).
        let top = self
            .victims
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map(|(ip, _)| *ip)
            .or(self.first_tuple.map(|(_, d)| d));
        if let Some(v) = top {
            alert.victim_ip = build::ip_bytes(v);
        }
        if let Some(flow) = &self.flow {
            if !flow.interface.is_empty() {
                alert.interface.clone_from(&flow.interface);
            }
            if !flow.community_id.is_empty() {
                alert.entity_value.clone_from(&flow.community_id);
            }
        }
        alert.message = self.message(top);
        self.evidence(&mut alert);
        alert.flow = match self.flow {
            Some(flow) => Some(flow),
            // "flow_context: none" in the evidence says it is not a probe flow.
            None => self.tuple_flow(),
        };
        alert
    }

    /// Without a probe flow, the first alert's 5-tuple as a flow context of
    /// its own (endpoints, ports, protocol, Community ID; no counters), so the
    /// alert still has typed `source.port`, `network.transport`...
    fn tuple_flow(&self) -> Option<v1::Flow> {
        let (src, dest) = self.first_tuple?;
        let proto = self.first_proto?;
        let endpoint = |ip: IpAddr, port: u16| v1::Endpoint {
            ip: build::ip_bytes(ip),
            port: u32::from(port),
            mac: Vec::new(),
        };
        let direction = |packets: u64, bytes: u64| v1::Direction {
            packets,
            bytes,
            ..Default::default()
        };
        let counters = self.first_counters.as_ref();
        Some(v1::Flow {
            interface: self.interface.clone().unwrap_or_default(),
            ip_protocol: u32::from(proto),
            client: Some(endpoint(src, self.first_ports.0)),
            server: Some(endpoint(dest, self.first_ports.1)),
            client_to_server: counters.map(|f| direction(f.pkts_toserver, f.bytes_toserver)),
            server_to_client: counters.map(|f| direction(f.pkts_toclient, f.bytes_toclient)),
            first_seen_us: counters
                .and_then(|f| f.start_us)
                .map_or(self.first_us, |s| s.min(self.first_us)),
            last_seen_us: self.last_us,
            community_id: self.entity.clone(),
            l7: self.first_app.map(|protocol| {
                Box::new(v1::L7 {
                    protocol: protocol.to_owned(),
                    ..Default::default()
                })
            }),
            ..Default::default()
        })
    }

    fn message(&self, top: Option<IpAddr>) -> String {
        let mut m = format!("{} from {}", self.signature, self.attacker);
        let distinct = self.victims.len() as u64;
        if distinct > 1 || self.victims_untracked > 0 {
            let more = if self.victims_untracked > 0 { "+" } else { "" };
            m.push_str(&format!(" to {}{more} hosts", build::thousands(distinct)));
        } else if let Some(v) = top {
            m.push_str(&format!(" to {v}"));
        }
        if self.count > 1 {
            m.push_str(&format!(" ({})", build::plural(self.count, "alert")));
        }
        m
    }

    fn evidence(&self, alert: &mut v1::Alert) {
        let rule = format!(
            "{}:{}:{}",
            self.gid.unwrap_or(1),
            self.sid,
            self.rev.unwrap_or(0)
        );
        build::evidence(alert, "suricata_rule", rule);
        if let Some(s) = self.severity {
            build::evidence(alert, "suricata_severity", s);
        }
        if !self.actions.is_empty() {
            let actions: Vec<&str> = self.actions.iter().map(String::as_str).collect();
            build::evidence(alert, "action", actions.join(", "));
        }
        build::evidence(
            alert,
            "flow_context",
            if self.flow.is_some() {
                "probe flow"
            } else {
                // The eve 5-tuple stands in as the flow context.
                "none"
            },
        );
        self.enrichment.evidence(alert);
        let victims: Vec<String> = self.victims.keys().map(IpAddr::to_string).collect();
        if !victims.is_empty() {
            let more = if self.victims_untracked > 0 {
                format!(
                    " and {} more alerts",
                    build::thousands(self.victims_untracked)
                )
            } else {
                String::new()
            };
            build::evidence(alert, "victims", format!("{}{more}", victims.join(", ")));
        }
        if !self.ports.is_empty() {
            let ports: Vec<String> = self.ports.iter().map(u16::to_string).collect();
            build::evidence(alert, "destination_ports", ports.join(", "));
        }
        if let Some(s) = &self.sensor {
            build::evidence(alert, "sensor", s);
        }
    }
}

/// Suricata's severity on Security Onion's scale, as SO's ingest pipeline
/// maps it (`salt/elasticsearch/files/ingest/common.nids` in
/// Security-Onion-Solutions/securityonion: `rule.severity` 3 -> `event.severity`
/// 1, 2 -> 2, 1 -> 3). SO leaves other values unmapped; here 4 and above (and
/// a missing severity, which Suricata's default priority 3 would give) are low.
pub fn so_severity(suricata: Option<u32>) -> v1::Severity {
    match suricata {
        Some(1) => v1::Severity::High,
        Some(2) => v1::Severity::Medium,
        _ => v1::Severity::Low,
    }
}

/// The catalogue's scores per severity (see `alert::rules`).
fn score(severity: v1::Severity) -> u32 {
    match severity {
        v1::Severity::Critical => 150,
        v1::Severity::High => 100,
        v1::Severity::Medium => 50,
        v1::Severity::Low | v1::Severity::Unspecified => 10,
    }
}

/// nDPI's name of a Suricata `app_proto`, for the protocols both know.
fn ndpi_name(app_proto: &str) -> Option<&'static str> {
    Some(match app_proto {
        "tls" => "TLS",
        "http" | "http1" | "http2" => "HTTP",
        "dns" => "DNS",
        "ssh" => "SSH",
        "smb" => "SMB",
        "ftp" => "FTP_CONTROL",
        "smtp" => "SMTP",
        "imap" => "IMAP",
        "pop3" => "POP3",
        "dhcp" => "DHCP",
        "ntp" => "NTP",
        "snmp" => "SNMP",
        "sip" => "SIP",
        "krb5" => "Kerberos",
        "rdp" => "RDP",
        "mqtt" => "MQTT",
        "modbus" => "Modbus",
        "quic" => "QUIC",
        "tftp" => "TFTP",
        "telnet" => "Telnet",
        "ldap" => "LDAP",
        _ => return None,
    })
}
