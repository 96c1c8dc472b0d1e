//! Unit tests of the host checks with synthetic flow records: every rule
//! below, at and above its default threshold, and the incident lifecycle.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is a failed test"
)]

use std::net::IpAddr;
use std::sync::Arc;

use sonde_proto::v1;

use super::HostChecks;
use super::capture_tests::rules_with;
use crate::alert::build;
use crate::alert::{Rule, Rules};

/// 2024-01-01T00:00:00Z: a minute boundary.
pub(super) const T0: u64 = 1_704_067_200_000_000;
pub(super) const S: u64 = 1_000_000;
pub(super) const MIN: u64 = 60 * S;
pub(super) const A: &str = "10.0.0.5";
pub(super) const V: &str = "10.0.0.9";

const SYN: u32 = 0x02;
const ACK: u32 = 0x10;
const RST: u32 = 0x04;

pub(super) fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A host number `i` of 10.1.0.0/16 (or 10.2.., 10.3.. past 65,535).
pub(super) fn host(i: u32) -> String {
    format!("10.{}.{}.{}", 1 + i / 65_536, (i / 256) % 256, i % 256)
}

fn ep(a: &str, port: u32) -> Option<v1::Endpoint> {
    Some(v1::Endpoint {
        ip: build::ip_bytes(ip(a)),
        port,
        mac: Vec::new(),
    })
}

pub(super) fn dir(packets: u64, payload: u64, flags: u32) -> Option<v1::Direction> {
    Some(v1::Direction {
        packets,
        bytes: packets * 40 + payload,
        payload_bytes: payload,
        tcp_flags: flags,
    })
}

/// A record of `proto` from `c` to `s:sport` at `t`, one packet out.
pub(super) fn rec(proto: u32, c: &str, cport: u32, s: &str, sport: u32, t: u64) -> v1::Flow {
    v1::Flow {
        interface: "eth0".to_owned(),
        ip_protocol: proto,
        client: ep(c, cport),
        server: ep(s, sport),
        client_to_server: dir(1, 0, 0),
        server_to_client: dir(0, 0, 0),
        first_seen_us: t,
        last_seen_us: t + 1000,
        end_reason: v1::EndReason::Idle as i32,
        ..Default::default()
    }
}

/// An unanswered SYN.
pub(super) fn syn(c: &str, s: &str, port: u32, t: u64) -> v1::Flow {
    let mut f = rec(6, c, 40_000, s, port, t);
    f.client_to_server = dir(1, 0, SYN);
    f.conn_state = "S0".to_owned();
    f.history = "S".to_owned();
    f
}

/// A TCP probe with these client flags, answered by RST.
fn probe(c: &str, s: &str, port: u32, flags: u32, t: u64) -> v1::Flow {
    let mut f = rec(6, c, 40_000, s, port, t);
    f.client_to_server = dir(1, 0, flags);
    f.server_to_client = dir(1, 0, RST | ACK);
    f.conn_state = "RSTR".to_owned();
    f
}

/// A completed TCP session with `payload` bytes each way.
pub(super) fn session(c: &str, s: &str, port: u32, payload: u64, t: u64) -> v1::Flow {
    let mut f = rec(6, c, 40_000, s, port, t);
    f.client_to_server = dir(10, payload, SYN | ACK | 0x01 | 0x08);
    f.server_to_client = dir(10, payload, SYN | ACK | 0x01 | 0x08);
    f.conn_state = "SF".to_owned();
    f.history = "ShADadFf".to_owned();
    f
}

/// `packets` ICMP echo requests from `c` to `s` over `secs`, answered.
pub(super) fn ping(c: &str, s: &str, packets: u64, t: u64, secs: u64) -> v1::Flow {
    let mut f = rec(1, c, 8, s, 0, t);
    f.client_to_server = dir(packets, 56 * packets, 0);
    f.server_to_client = dir(packets, 56 * packets, 0);
    f.last_seen_us = t + secs * S;
    f
}

/// The alerts of `flows` (the clock advanced to each record's end), then
/// `finish`.
pub(super) fn run(rules: Rules, flows: &[v1::Flow]) -> Vec<v1::Alert> {
    let mut checks = HostChecks::new(Arc::new(rules), vec!["10.0.0.0/8".parse().unwrap()]);
    let mut out = Vec::new();
    for f in flows {
        checks.flow(f, &mut out);
        checks.advance(f.last_seen_us, &mut out);
    }
    checks.finish(&mut out);
    out
}

pub(super) fn of<'a>(alerts: &'a [v1::Alert], rule: &str) -> Vec<&'a v1::Alert> {
    alerts.iter().filter(|a| a.rule_key == rule).collect()
}

pub(super) fn evidence(a: &v1::Alert, key: &str) -> String {
    a.evidence
        .iter()
        .find(|e| e.key == key)
        .map_or_else(String::new, |e| e.value.clone())
}

pub(super) const ENGAGED: i32 = v1::Lifecycle::Engaged as i32;
pub(super) const RELEASED: i32 = v1::Lifecycle::Released as i32;

/// `n` events of the rule's kind within one minute.
type Make = fn(u32) -> Vec<v1::Flow>;
type MakeBox = Box<dyn Fn(u32) -> Vec<v1::Flow>>;

pub(super) fn spread(i: u32, n: u32) -> u64 {
    T0 + S + u64::from(i) * 50 * S / u64::from(n.max(1))
}

pub(super) fn make_syn_scan(n: u32) -> Vec<v1::Flow> {
    (0..n).map(|i| syn(A, V, 1 + i, spread(i, n))).collect()
}

fn make_syn_flood(n: u32) -> Vec<v1::Flow> {
    (0..n).map(|i| syn(&host(i), V, 80, spread(i, n))).collect()
}

fn make_flags(flags: u32) -> impl Fn(u32) -> Vec<v1::Flow> {
    move |n| {
        (0..n)
            .map(|i| probe(A, V, 1 + i, flags, spread(i, n)))
            .collect()
    }
}

fn make_horizontal(n: u32) -> Vec<v1::Flow> {
    (0..n).map(|i| syn(A, &host(i), 22, spread(i, n))).collect()
}

fn make_icmp_flood(n: u32) -> Vec<v1::Flow> {
    vec![ping(A, V, u64::from(n), T0 + S, 30)]
}

fn make_ping_sweep(n: u32) -> Vec<v1::Flow> {
    (0..n)
        .map(|i| ping(A, &host(i), 1, spread(i, n), 0))
        .collect()
}

fn make_flow_flood(n: u32) -> Vec<v1::Flow> {
    (0..n)
        .map(|i| {
            let mut f = rec(17, A, 10_000 + i % 50_000, V, 9999, spread(i, n));
            f.server_to_client = dir(1, 10, 0);
            f
        })
        .collect()
}

fn make_dns_flood(n: u32) -> Vec<v1::Flow> {
    let mut f = rec(17, A, 5353, V, 53, T0 + S);
    f.client_to_server = dir(u64::from(n), 40 * u64::from(n), 0);
    f.server_to_client = dir(u64::from(n), 80 * u64::from(n), 0);
    f.last_seen_us = T0 + 30 * S;
    vec![f]
}

fn make_brute_force(n: u32) -> Vec<v1::Flow> {
    (0..n)
        .map(|i| session(A, V, 22, 1500, spread(i, n)))
        .collect()
}

fn make_host_score(n: u32) -> Vec<v1::Flow> {
    let mut f = session(A, V, 443, 100_000, T0 + S);
    f.score = n;
    vec![f]
}

#[test]
fn every_rule_fires_at_and_above_its_default_threshold_and_not_below() {
    let flags = |f: u32| -> MakeBox { Box::new(make_flags(f)) };
    let cases: Vec<(Rule, &str, MakeBox)> = vec![
        (Rule::SynScan, "attempts", Box::new(make_syn_scan as Make)),
        (Rule::SynFlood, "syns", Box::new(make_syn_flood as Make)),
        (Rule::FinScan, "flows", flags(0x01)),
        (Rule::RstScan, "flows", flags(0x04)),
        (Rule::NullScan, "flows", flags(0x00)),
        (Rule::XmasScan, "flows", flags(0x29)),
        (
            Rule::HorizontalPortScan,
            "hosts",
            Box::new(make_horizontal as Make),
        ),
        (
            Rule::IcmpFlood,
            "packets",
            Box::new(make_icmp_flood as Make),
        ),
        (Rule::PingSweep, "hosts", Box::new(make_ping_sweep as Make)),
        (Rule::FlowFlood, "flows", Box::new(make_flow_flood as Make)),
        (Rule::DnsFlood, "queries", Box::new(make_dns_flood as Make)),
        (
            Rule::BruteForce,
            "sessions",
            Box::new(make_brute_force as Make),
        ),
        (Rule::HostScore, "score", Box::new(make_host_score as Make)),
    ];
    let rules = Rules::default();
    for (rule, name, make) in &cases {
        let at = rules.threshold(*rule, name) as u32;
        let below = run(Rules::default(), &make(at - 1));
        assert!(
            of(&below, rule.key()).is_empty(),
            "{rule:?} below: {below:#?}"
        );
        for n in [at, at + 1] {
            let alerts = run(Rules::default(), &make(n));
            let mine = of(&alerts, rule.key());
            assert!(!mine.is_empty(), "{rule:?} at {n}: {alerts:#?}");
            // Each incident: engaged once, then released with the same id.
            for e in mine.iter().filter(|a| a.lifecycle == ENGAGED) {
                let ids: Vec<i32> = mine
                    .iter()
                    .filter(|a| a.incident_id == e.incident_id)
                    .map(|a| a.lifecycle)
                    .collect();
                assert_eq!(ids, vec![ENGAGED, RELEASED], "{rule:?}: {mine:#?}");
                assert_eq!(e.entity, v1::EntityKind::Host as i32);
                assert!(
                    !e.message.is_empty() && !e.message.contains('{'),
                    "{}",
                    e.message
                );
            }
        }
    }
}

#[test]
fn a_scan_reaches_many_ports_and_a_flood_hammers_one() {
    // 2,000 SYNs to one port: a flood, not a scan.
    let flood: Vec<_> = (0..2000).map(|i| syn(A, V, 80, spread(i, 2000))).collect();
    let alerts = run(Rules::default(), &flood);
    assert!(of(&alerts, "syn_scan").is_empty(), "{alerts:#?}");
    let f = of(&alerts, "syn_flood");
    assert_eq!(f.len(), 2, "{alerts:#?}");
    // One flood, one incident: the victim's, naming its single attacker.
    assert_eq!(f[1].message, "SYN flood against 10.0.0.9:80 from 1 source");
    assert_eq!(build::ip(&f[1].attacker_ip), Some(ip(A)));
    assert_eq!(build::ip(&f[1].victim_ip), Some(ip(V)));
    assert_eq!(f[1].entity_value, V);
    // 300 SYNs to 15 ports: below the scan's port threshold (16).
    let few: Vec<_> = (0..300)
        .map(|i| syn(A, V, 1 + i % 15, spread(i, 300)))
        .collect();
    assert!(run(Rules::default(), &few).is_empty());
}

#[test]
fn a_distributed_syn_flood_names_the_victim_port_and_counts_sources() {
    let alerts = run(Rules::default(), &make_syn_flood(1200));
    assert_eq!(alerts.len(), 2, "{alerts:#?}");
    let r = &alerts[1];
    assert_eq!(
        r.message,
        "SYN flood against 10.0.0.9:80 from 1,200 sources"
    );
    assert_eq!(evidence(r, "distinct_sources"), "1200");
    assert!(r.attacker_ip.is_empty());
    assert_eq!(evidence(r, "top_sources").split(", ").count(), 5);
}

#[test]
fn messages_are_one_sentence_with_numbers_for_people() {
    let alerts = run(Rules::default(), &make_ping_sweep(40));
    assert_eq!(alerts[0].message, "Ping sweep from 10.0.0.5 to 40 hosts");
    assert!(alerts[0].victim_ip.is_empty());
    let alerts = run(Rules::default(), &make_horizontal(40));
    assert_eq!(
        alerts[0].message,
        "Horizontal port scan from 10.0.0.5 to port 22/tcp on 40 hosts"
    );
    let alerts = run(Rules::default(), &make_brute_force(25));
    assert_eq!(
        alerts[0].message,
        "Brute force against SSH on 10.0.0.9 from 10.0.0.5: 25 short sessions in a minute"
    );
    let alerts = run(Rules::default(), &make_syn_scan(1994));
    assert_eq!(
        alerts[0].message,
        "SYN scan from 10.0.0.5 to 1,994 ports on 10.0.0.9"
    );
    assert_eq!(evidence(&alerts[0], "threshold_attempts"), "256");
    assert_eq!(evidence(&alerts[0], "network"), "local");
}

#[test]
fn long_sessions_to_a_login_service_are_not_brute_force() {
    let flows: Vec<_> = (0..50)
        .map(|i| session(A, V, 22, 20_000, spread(i, 50)))
        .collect();
    assert!(run(Rules::default(), &flows).is_empty());
    // Refused ones are, however small the threshold on bytes.
    let rules = rules_with(&[("brute_force", "bytes", 0.0)]);
    let flows: Vec<_> = (0..25)
        .map(|i| {
            let mut f = probe(A, V, 3389, SYN, spread(i, 25));
            f.conn_state = "REJ".to_owned();
            f
        })
        .collect();
    let alerts = run(rules, &flows);
    assert_eq!(of(&alerts, "brute_force").len(), 2, "{alerts:#?}");
}

#[test]
fn unanswered_udp_to_one_port_on_many_hosts_is_a_horizontal_scan() {
    let flows: Vec<_> = (0..40)
        .map(|i| rec(17, A, 40_000, &host(i), 161, spread(i, 40)))
        .collect();
    let alerts = run(Rules::default(), &flows);
    assert_eq!(alerts.len(), 2, "{alerts:#?}");
    assert_eq!(
        alerts[0].message,
        "Horizontal port scan from 10.0.0.5 to port 161/udp on 40 hosts"
    );
    // Answered, it is ordinary traffic; to a multicast group, it is one.
    let mut answered = flows;
    for f in &mut answered {
        f.server_to_client = dir(1, 50, 0);
    }
    assert!(run(Rules::default(), &answered).is_empty());
    let group: Vec<_> = (0..40)
        .map(|i| rec(17, &host(i), 1900, "239.255.255.250", 1900, spread(i, 40)))
        .collect();
    assert!(run(Rules::default(), &group).is_empty());
}

#[test]
fn an_icmpv6_ping_sweep_is_a_ping_sweep() {
    let flows: Vec<_> = (0..20u32)
        .map(|i| {
            let mut f = ping(
                "2001:db8::5",
                &format!("2001:db8::1:{i:x}"),
                1,
                spread(i, 20),
                0,
            );
            f.ip_protocol = 58;
            f.client.as_mut().unwrap().port = 128;
            f
        })
        .collect();
    let alerts = run(Rules::default(), &flows);
    assert_eq!(alerts.len(), 2, "{alerts:#?}");
    assert_eq!(alerts[1].message, "Ping sweep from 2001:db8::5 to 20 hosts");
    assert_eq!(evidence(&alerts[1], "network"), "remote");
}
