//! The end of a minute window: which hosts crossed which threshold, and the
//! details of those (focus port, top ports and peers), gathered in one pass
//! over the window's maps for all of them.
//!
//! Every comparison is `value >= threshold` with `value > 0`.

use std::net::IpAddr;

use hashbrown::HashMap;

use super::describe::{self, Detail, Finding};
use super::window::{FLAG_KINDS, HostStat, Kind, PortKind, Window};
use crate::alert::{Rule, Rules};

/// Whose side of a condition a host is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Role {
    Attacker,
    Victim,
}

const FLAG_RULES: [Rule; 4] = [Rule::FinScan, Rule::RstScan, Rule::NullScan, Rule::XmasScan];

/// The rules whose attacker-side finding is dropped when the victim-side
/// finding of the same rule covers its only victim (one flood, one alert).
const FLOODS: [Rule; 4] = [
    Rule::SynFlood,
    Rule::IcmpFlood,
    Rule::FlowFlood,
    Rule::DnsFlood,
];

fn at(value: u32, threshold: f64) -> bool {
    value > 0 && f64::from(value) >= threshold
}

/// The rules, roles and measured values a host's counters cross.
fn crossings(rules: &Rules, st: &HostStat, mut push: impl FnMut(Rule, Role)) {
    let th = |r: Rule, n: &str| rules.threshold(r, n);
    let on = |r: Rule| rules.enabled(r);
    if on(Rule::SynScan)
        && at(st.attempts_out, th(Rule::SynScan, "attempts"))
        && at(st.attempt_ports_out, th(Rule::SynScan, "ports"))
    {
        push(Rule::SynScan, Role::Attacker);
    }
    if on(Rule::SynFlood) {
        if at(st.flood_out_max, th(Rule::SynFlood, "syns")) {
            push(Rule::SynFlood, Role::Attacker);
        }
        if at(st.flood_in_max, th(Rule::SynFlood, "syns")) {
            push(Rule::SynFlood, Role::Victim);
        }
    }
    for (i, rule) in FLAG_RULES.iter().enumerate() {
        let n = st.flags_out.get(i).copied().unwrap_or(0);
        if on(*rule) && at(n, th(*rule, "flows")) {
            push(*rule, Role::Attacker);
        }
    }
    if on(Rule::HorizontalPortScan) && at(st.horizontal_max, th(Rule::HorizontalPortScan, "hosts"))
    {
        push(Rule::HorizontalPortScan, Role::Attacker);
    }
    let pairs = [
        (Rule::IcmpFlood, "packets", st.icmp_out, st.icmp_in),
        (Rule::FlowFlood, "flows", st.flows_out, st.flows_in),
        (Rule::DnsFlood, "queries", st.dns_out, st.dns_in),
        (Rule::HostScore, "score", st.score_out, st.score_in),
    ];
    for (rule, name, out, inc) in pairs {
        if on(rule) {
            if at(out, th(rule, name)) {
                push(rule, Role::Attacker);
            }
            if at(inc, th(rule, name)) {
                push(rule, Role::Victim);
            }
        }
    }
    if on(Rule::PingSweep) && at(st.echo_hosts_out, th(Rule::PingSweep, "hosts")) {
        push(Rule::PingSweep, Role::Attacker);
    }
    if on(Rule::BruteForce) && at(st.brute_max, th(Rule::BruteForce, "sessions")) {
        push(Rule::BruteForce, Role::Attacker);
    }
}

type Key = (Rule, Role, IpAddr);

/// Everything that crossed a threshold in `w`, sorted by rule, role, host.
pub(crate) fn findings(w: &Window, rules: &Rules, local: &dyn Fn(IpAddr) -> bool) -> Vec<Finding> {
    let mut cands: HashMap<Key, Detail> = HashMap::new();
    for (ip, st) in &w.hosts {
        crossings(rules, st, |rule, role| {
            cands.insert((rule, role, *ip), Detail::new(*st));
        });
    }
    if cands.is_empty() {
        return Vec::new();
    }
    focus_ports(w, &mut cands);
    let brute_min = rules.threshold(Rule::BruteForce, "sessions");
    for (t, n) in &w.triples {
        let n64 = u64::from(*n);
        match t.kind {
            Kind::Attempt => {
                if let Some(d) = cands.get_mut(&(Rule::SynScan, Role::Attacker, t.a)) {
                    d.add_port(t.port, n64);
                }
                feed(
                    &mut cands,
                    (Rule::SynFlood, Role::Attacker, t.a),
                    t.v,
                    Some(t.port),
                    n64,
                );
                if let Some(d) = cands.get_mut(&(Rule::SynFlood, Role::Victim, t.v))
                    && d.focus == Some((t.port, false))
                {
                    d.add(t.a, None, n64);
                }
                if let Some(d) = cands.get_mut(&(Rule::HorizontalPortScan, Role::Attacker, t.a))
                    && d.focus == Some((t.port, false))
                {
                    d.add(t.v, None, n64);
                }
            }
            Kind::AttemptHost => {
                if let Some(d) = cands.get_mut(&(Rule::SynScan, Role::Attacker, t.a)) {
                    d.add_peer(t.v, n64);
                }
            }
            Kind::NoReply => {
                if let Some(d) = cands.get_mut(&(Rule::HorizontalPortScan, Role::Attacker, t.a))
                    && d.focus == Some((t.port, true))
                {
                    d.add(t.v, None, n64);
                }
            }
            Kind::Fin | Kind::Rst | Kind::Null | Kind::Xmas => {
                let i = FLAG_KINDS.iter().position(|k| *k == t.kind).unwrap_or(0);
                let rule = FLAG_RULES.get(i).copied().unwrap_or(Rule::FinScan);
                feed(
                    &mut cands,
                    (rule, Role::Attacker, t.a),
                    t.v,
                    Some(t.port),
                    n64,
                );
            }
            Kind::Echo => feed(
                &mut cands,
                (Rule::PingSweep, Role::Attacker, t.a),
                t.v,
                None,
                n64,
            ),
            Kind::Brute => {
                if f64::from(*n) >= brute_min {
                    feed(
                        &mut cands,
                        (Rule::BruteForce, Role::Attacker, t.a),
                        t.v,
                        Some(t.port),
                        n64,
                    );
                }
            }
            Kind::FlowPeer | Kind::DnsPeer | Kind::IcmpPeer => {
                let rule = match t.kind {
                    Kind::FlowPeer => Rule::FlowFlood,
                    Kind::DnsPeer => Rule::DnsFlood,
                    _ => Rule::IcmpFlood,
                };
                let port = (t.kind != Kind::IcmpPeer).then_some(t.port);
                feed(&mut cands, (rule, Role::Attacker, t.a), t.v, port, n64);
                feed(&mut cands, (rule, Role::Victim, t.v), t.a, port, n64);
            }
        }
    }
    let mut out: Vec<Finding> = cands
        .into_iter()
        .filter_map(|((rule, role, ip), d)| describe::finding(rule, role, ip, d, rules, local))
        .collect();
    out.sort_by_key(|a| (a.rule, a.role, a.ip));
    // One flood, one alert: the victim's finding names its single attacker
    // and replaces that attacker's own finding.
    let covered: Vec<(Rule, IpAddr)> = out
        .iter()
        .filter(|f| f.role == Role::Victim && FLOODS.contains(&f.rule))
        .map(|f| (f.rule, f.ip))
        .collect();
    out.retain(|f| {
        !(f.role == Role::Attacker
            && FLOODS.contains(&f.rule)
            && f.victim.is_some_and(|v| covered.contains(&(f.rule, v))))
    });
    out
}

fn feed(
    cands: &mut HashMap<Key, Detail>,
    (rule, role, ip): Key,
    peer: IpAddr,
    port: Option<u16>,
    n: u64,
) {
    if let Some(d) = cands.get_mut(&(rule, role, ip)) {
        d.add(peer, port, n);
    }
}

/// The port a SYN flood victim receives the most on, and the port a
/// horizontal scanner probes the most hosts on (TCP, then UDP on ties).
fn focus_ports(w: &Window, cands: &mut HashMap<Key, Detail>) {
    for (k, ps) in &w.ports {
        let (key, value, udp) = match k.kind {
            PortKind::Received => ((Rule::SynFlood, Role::Victim, k.ip), ps.count, false),
            PortKind::Sent => (
                (Rule::HorizontalPortScan, Role::Attacker, k.ip),
                ps.distinct,
                false,
            ),
            PortKind::UdpSent => (
                (Rule::HorizontalPortScan, Role::Attacker, k.ip),
                ps.distinct,
                true,
            ),
        };
        if let Some(d) = cands.get_mut(&key) {
            let better = match d.focus {
                None => true,
                Some((port, was_udp)) => {
                    value > d.focus_value
                        || (value == d.focus_value && (udp, k.port) < (was_udp, port))
                }
            };
            if better {
                d.focus = Some((k.port, udp));
                d.focus_value = value;
                d.focus_distinct = ps.distinct;
            }
        }
    }
}
