//! What a crossed threshold says: the one-sentence message, the attacker and
//! victim, and the evidence (counts, distinct ports and hosts, rate, top
//! ports and peers, thresholds) of one host in one window.

use std::fmt::Display;
use std::net::IpAddr;

use hashbrown::HashMap;

use super::detect::Role;
use super::window::HostStat;
use crate::alert::build::{plural, thousands};
use crate::alert::{Rule, Rules};

/// Entries in the evidence's top lists.
const TOP: usize = 5;

/// What the end-of-window pass gathered about one host crossing one rule.
#[derive(Debug)]
pub(crate) struct Detail {
    pub(crate) st: HostStat,
    /// The port (and whether UDP) the condition is about, with its value and
    /// distinct peers.
    pub(crate) focus: Option<(u16, bool)>,
    pub(crate) focus_value: u32,
    pub(crate) focus_distinct: u32,
    ports: HashMap<u16, u64>,
    peers: HashMap<IpAddr, u64>,
    /// The (peer, port) pair with the most occurrences.
    top_pair: Option<(u64, IpAddr, u16)>,
}

impl Detail {
    pub(crate) fn new(st: HostStat) -> Self {
        Self {
            st,
            focus: None,
            focus_value: 0,
            focus_distinct: 0,
            ports: HashMap::new(),
            peers: HashMap::new(),
            top_pair: None,
        }
    }

    pub(crate) fn add_port(&mut self, port: u16, n: u64) {
        *self.ports.entry(port).or_default() += n;
    }

    pub(crate) fn add_peer(&mut self, peer: IpAddr, n: u64) {
        *self.peers.entry(peer).or_default() += n;
    }

    pub(crate) fn add(&mut self, peer: IpAddr, port: Option<u16>, n: u64) {
        self.add_peer(peer, n);
        if let Some(p) = port {
            self.add_port(p, n);
            let better = match self.top_pair {
                None => true,
                Some((m, ip, q)) => n > m || (n == m && (peer, p) < (ip, q)),
            };
            if better {
                self.top_pair = Some((n, peer, p));
            }
        }
    }

    fn single_peer(&self) -> Option<IpAddr> {
        if self.peers.len() == 1 {
            self.peers.keys().next().copied()
        } else {
            None
        }
    }

    fn top_port(&self) -> Option<u16> {
        top(&self.ports).first().map(|(p, _)| *p)
    }
}

/// One host crossing one rule in one window.
#[derive(Clone, Debug)]
pub(crate) struct Finding {
    pub(crate) rule: Rule,
    pub(crate) role: Role,
    pub(crate) ip: IpAddr,
    pub(crate) count: u64,
    pub(crate) first_us: u64,
    pub(crate) last_us: u64,
    pub(crate) attacker: Option<IpAddr>,
    pub(crate) victim: Option<IpAddr>,
    /// A victim's top sources (a flood from several attackers).
    pub(crate) sources: Vec<IpAddr>,
    pub(crate) message: String,
    pub(crate) evidence: Vec<(&'static str, String)>,
}

/// The `TOP` largest entries, largest first, ties by key.
fn top<K: Copy + Ord>(m: &HashMap<K, u64>) -> Vec<(K, u64)> {
    let mut v: Vec<(K, u64)> = m.iter().map(|(k, n)| (*k, *n)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.truncate(TOP);
    v
}

fn list<K: Copy + Ord + Display>(m: &HashMap<K, u64>) -> String {
    top(m)
        .iter()
        .map(|(k, n)| format!("{k} ({})", thousands(*n)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn service(port: u16) -> String {
    match port {
        21 => "FTP".to_owned(),
        22 => "SSH".to_owned(),
        23 => "Telnet".to_owned(),
        513 => "rlogin".to_owned(),
        3389 => "RDP".to_owned(),
        5900 => "VNC".to_owned(),
        p => format!("port {p}"),
    }
}

fn threshold_text(v: f64) -> String {
    if v.fract() == 0.0 && (0.0..1e15).contains(&v) {
        thousands(v as u64)
    } else {
        format!("{v}")
    }
}

/// The finding of `rule` for `ip` in `role`; `None` if the details do not
/// support it (a map was full and the pass found nothing).
pub(crate) fn finding(
    rule: Rule,
    role: Role,
    ip: IpAddr,
    d: Detail,
    rules: &Rules,
    local: &dyn Fn(IpAddr) -> bool,
) -> Option<Finding> {
    let st = d.st;
    let mut ev: Vec<(&'static str, String)> = Vec::new();
    let (mut attacker, mut victim) = match role {
        Role::Attacker => (Some(ip), None),
        Role::Victim => (None, Some(ip)),
    };
    let (count, message) = match (rule, role) {
        (Rule::SynScan, _) => {
            let (ports, hosts) = (
                u64::from(st.attempt_ports_out),
                u64::from(st.attempt_hosts_out),
            );
            victim = (hosts == 1).then(|| d.single_peer()).flatten();
            ev.push(("attempts", st.attempts_out.to_string()));
            ev.push(("distinct_ports", ports.to_string()));
            ev.push(("distinct_hosts", hosts.to_string()));
            ev.push(("top_ports", list(&d.ports)));
            ev.push(("top_victims", list(&d.peers)));
            let on = victim.map_or_else(|| plural(hosts, "host"), |v| v.to_string());
            let text = format!("SYN scan from {ip} to {} on {on}", plural(ports, "port"));
            (u64::from(st.attempts_out), text)
        }
        (Rule::SynFlood, Role::Victim) => {
            let (port, _) = d.focus?;
            let sources = u64::from(d.focus_distinct);
            attacker = (sources == 1).then(|| d.single_peer()).flatten();
            ev.push(("syns", d.focus_value.to_string()));
            ev.push(("port", port.to_string()));
            ev.push(("distinct_sources", sources.to_string()));
            ev.push(("top_sources", list(&d.peers)));
            ev.push(("syns_received_all_ports", st.attempts_in.to_string()));
            let text = format!(
                "SYN flood against {ip}:{port} from {}",
                plural(sources, "source")
            );
            (u64::from(d.focus_value), text)
        }
        (Rule::SynFlood, Role::Attacker) => {
            let (n, v, port) = d.top_pair?;
            victim = Some(v);
            ev.push(("syns", n.to_string()));
            ev.push(("target", format!("{v}:{port}")));
            ev.push(("attempts_all_targets", st.attempts_out.to_string()));
            ev.push(("top_ports", list(&d.ports)));
            ev.push(("top_victims", list(&d.peers)));
            (n, format!("SYN flood from {ip} against {v}:{port}"))
        }
        (Rule::FinScan | Rule::RstScan | Rule::NullScan | Rule::XmasScan, _) => {
            let (i, label) = match rule {
                Rule::FinScan => (0, "TCP FIN scan"),
                Rule::RstScan => (1, "TCP RST scan"),
                Rule::NullScan => (2, "TCP NULL scan"),
                _ => (3, "TCP XMAS scan"),
            };
            let flows = u64::from(st.flags_out.get(i).copied().unwrap_or(0));
            let (ports, hosts) = (d.ports.len() as u64, d.peers.len() as u64);
            victim = d.single_peer();
            ev.push(("flows", flows.to_string()));
            ev.push(("distinct_ports", ports.to_string()));
            ev.push(("distinct_hosts", hosts.to_string()));
            ev.push(("top_ports", list(&d.ports)));
            ev.push(("top_victims", list(&d.peers)));
            let on = victim.map_or_else(|| plural(hosts, "host"), |v| v.to_string());
            (
                flows,
                format!("{label} from {ip} to {} on {on}", plural(ports, "port")),
            )
        }
        (Rule::HorizontalPortScan, _) => {
            let (port, udp) = d.focus?;
            let hosts = u64::from(d.focus_value);
            let probes: u64 = d.peers.values().sum();
            let transport = if udp { "udp" } else { "tcp" };
            ev.push(("distinct_hosts", hosts.to_string()));
            ev.push(("port", port.to_string()));
            ev.push(("transport", transport.to_owned()));
            ev.push(("probes", probes.to_string()));
            ev.push(("top_victims", list(&d.peers)));
            let text = format!(
                "Horizontal port scan from {ip} to port {port}/{transport} on {}",
                plural(hosts, "host")
            );
            (probes.max(hosts), text)
        }
        (Rule::PingSweep, _) => {
            let hosts = u64::from(st.echo_hosts_out);
            ev.push(("echo_requests", st.echo_out.to_string()));
            ev.push(("distinct_hosts", hosts.to_string()));
            ev.push(("top_targets", list(&d.peers)));
            (
                u64::from(st.echo_out),
                format!("Ping sweep from {ip} to {}", plural(hosts, "host")),
            )
        }
        (Rule::IcmpFlood | Rule::FlowFlood | Rule::DnsFlood, _) => {
            let (label, unit, out, inc) = match rule {
                Rule::IcmpFlood => ("ICMP flood", "packet", st.icmp_out, st.icmp_in),
                Rule::FlowFlood => ("Flow flood", "flow", st.flows_out, st.flows_in),
                _ => ("DNS flood", "query", st.dns_out, st.dns_in),
            };
            let units = if unit == "query" { "queries" } else { "" };
            let amount = |n: u64| {
                if units.is_empty() {
                    plural(n, unit)
                } else if n == 1 {
                    "1 query".to_owned()
                } else {
                    format!("{} {units}", thousands(n))
                }
            };
            let n = u64::from(if role == Role::Attacker { out } else { inc });
            let key = match rule {
                Rule::IcmpFlood => "packets",
                Rule::FlowFlood => "flows",
                _ => "queries",
            };
            ev.push((key, n.to_string()));
            ev.push(("distinct_peers_seen", d.peers.len().to_string()));
            if !d.ports.is_empty() {
                ev.push(("top_ports", list(&d.ports)));
            }
            let peer = d.single_peer();
            let text = match role {
                Role::Attacker => {
                    victim = peer;
                    ev.push(("top_victims", list(&d.peers)));
                    match peer {
                        Some(v) => {
                            format!("{label} from {ip} against {v}: {} in a minute", amount(n))
                        }
                        None => format!("{label} from {ip}: {} in a minute", amount(n)),
                    }
                }
                Role::Victim => {
                    attacker = peer;
                    ev.push(("top_sources", list(&d.peers)));
                    let port = match (rule, d.top_port()) {
                        (Rule::FlowFlood, Some(p)) if d.ports.len() == 1 => format!(":{p}"),
                        _ => String::new(),
                    };
                    format!(
                        "{label} against {ip}{port} from {}: {} in a minute",
                        plural(d.peers.len() as u64, "source"),
                        amount(n)
                    )
                }
            };
            (n, text)
        }
        (Rule::BruteForce, _) => {
            let sessions: u64 = d.peers.values().sum();
            let svc = service(d.top_port()?);
            victim = d.single_peer();
            ev.push(("short_sessions", sessions.to_string()));
            ev.push(("servers", d.peers.len().to_string()));
            ev.push(("top_ports", list(&d.ports)));
            ev.push(("top_victims", list(&d.peers)));
            ev.push(("short_sessions_all_servers", st.brute_out.to_string()));
            let text = match victim {
                Some(v) => format!(
                    "Brute force against {svc} on {v} from {ip}: {} in a minute",
                    plural(sessions, "short session")
                ),
                None => format!(
                    "Brute force from {ip} against {svc} on {}: {} in a minute",
                    plural(d.peers.len() as u64, "server"),
                    plural(sessions, "short session")
                ),
            };
            (sessions, text)
        }
        (Rule::HostScore, _) => {
            let (score, flows, side) = match role {
                Role::Attacker => (st.score_out, st.flows_out, "client"),
                Role::Victim => (st.score_in, st.flows_in, "server"),
            };
            ev.push(("score", score.to_string()));
            ev.push(("flows", flows.to_string()));
            let text = format!(
                "Score of {ip} as a {side} reached {} in a minute over {}",
                thousands(u64::from(score)),
                plural(u64::from(flows), "flow")
            );
            (u64::from(score), text)
        }
        _ => return None,
    };
    let sources = match role {
        Role::Victim if rule != Rule::HostScore => {
            top(&d.peers).into_iter().map(|(ip, _)| ip).collect()
        }
        _ => Vec::new(),
    };
    let secs = (st.last_us.saturating_sub(st.first_us) as f64 / 1e6).max(1.0);
    ev.push(("rate_per_s", format!("{:.1}", count as f64 / secs)));
    for t in rule.thresholds() {
        let key: &'static str = match t.name {
            "attempts" => "threshold_attempts",
            "ports" => "threshold_ports",
            "bytes" => "threshold_bytes",
            _ => "threshold",
        };
        ev.push((key, threshold_text(rules.threshold(rule, t.name))));
    }
    ev.push((
        "role",
        if role == Role::Attacker {
            "attacker"
        } else {
            "victim"
        }
        .to_owned(),
    ));
    ev.push((
        "network",
        if local(ip) { "local" } else { "remote" }.to_owned(),
    ));
    Some(Finding {
        rule,
        role,
        ip,
        count,
        first_us: st.first_us,
        last_us: st.last_us,
        attacker,
        victim,
        sources,
        message,
        evidence: ev,
    })
}
