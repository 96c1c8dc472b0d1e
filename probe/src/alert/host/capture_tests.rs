//! The host checks on real captures: the flow records of a capture (the
//! probe's engine with default flow settings), fed as they come out, with
//! the data clock advanced at every packet and `finish` at the end.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is a failed test"
)]

use std::collections::BTreeMap;
use std::sync::Arc;

use sonde_proto::v1;

use super::HostChecks;
use crate::alert::config::AlertConfig;
use crate::alert::rules::RuleConfig;
use crate::alert::{Rule, Rules};
use crate::capture::{FileSource, Next, PacketSource};
use crate::classify::testing::testdata;
use crate::engine::Engine;
use crate::flow::FlowSettings;

/// Every host alert of a capture (`rel` under the shared test data).
pub(super) fn alerts_of(rel: &str, rules: Rules) -> Vec<v1::Alert> {
    let path = testdata(rel);
    let mut source = FileSource::open(&path, "test").unwrap();
    let mut engine = Engine::new(source.link_type(), "test", FlowSettings::default());
    let nets = AlertConfig::default().local_networks();
    let mut checks = HostChecks::new(Arc::new(rules), nets);
    let mut records = Vec::new();
    let mut alerts = Vec::new();
    loop {
        match source.next_packet() {
            Ok(Next::Packet(p)) => {
                let ts = p.ts_us;
                engine.packet(&p, &mut records);
                for r in records.drain(..) {
                    checks.flow(&r, &mut alerts);
                }
                checks.advance(ts, &mut alerts);
            }
            Ok(Next::Idle) => {}
            Ok(Next::End) | Err(_) => break,
        }
    }
    engine.finish(&mut records);
    for r in records.drain(..) {
        checks.flow(&r, &mut alerts);
    }
    checks.finish(&mut alerts);
    alerts
}

/// Rules with some thresholds lowered: `[("null_scan", "flows", 1.0)]`.
pub(super) fn rules_with(settings: &[(&str, &str, f64)]) -> Rules {
    let mut config: BTreeMap<String, RuleConfig> = BTreeMap::new();
    for (rule, name, value) in settings {
        config
            .entry((*rule).to_owned())
            .or_default()
            .thresholds
            .insert((*name).to_owned(), *value);
    }
    Rules::new(&config)
}

fn evidence<'a>(a: &'a v1::Alert, key: &str) -> &'a str {
    a.evidence
        .iter()
        .find(|e| e.key == key)
        .map_or("", |e| e.value.as_str())
}

fn lifecycles(alerts: &[v1::Alert], rule: &str) -> Vec<i32> {
    alerts
        .iter()
        .filter(|a| a.rule_key == rule)
        .map(|a| a.lifecycle)
        .collect()
}

const ENGAGED: i32 = v1::Lifecycle::Engaged as i32;
const RELEASED: i32 = v1::Lifecycle::Released as i32;

#[test]
fn an_nmap_syn_scan_is_one_incident_engaged_then_released() {
    let alerts = alerts_of("ndpi/pcap/synscan.pcap", Rules::default());
    for a in &alerts {
        eprintln!("{:?} {} {:?}", a.lifecycle, a.message, a.evidence);
    }
    assert_eq!(lifecycles(&alerts, "syn_scan"), vec![ENGAGED, RELEASED]);
    let (engaged, released) = (&alerts[0], &alerts[1]);
    assert_eq!(engaged.incident_id, released.incident_id);
    assert_eq!(released.entity_value, "172.16.0.8");
    assert_eq!(released.entity, v1::EntityKind::Host as i32);
    assert_eq!(
        released.message,
        "SYN scan from 172.16.0.8 to 1,000 ports on 64.13.134.52"
    );
    assert_eq!(evidence(released, "attempts"), "1994");
    assert_eq!(evidence(released, "distinct_ports"), "1000");
    assert_eq!(evidence(released, "distinct_hosts"), "1");
    assert!(evidence(released, "top_victims").starts_with("64.13.134.52 (1,994)"));
    assert_eq!(released.count, 1994);
    assert_eq!(
        super::super::build::ip(&released.attacker_ip),
        Some("172.16.0.8".parse().unwrap())
    );
    assert_eq!(
        super::super::build::ip(&released.victim_ip),
        Some("64.13.134.52".parse().unwrap())
    );
    // Nothing else: the victim of a scan to 1,000 ports is not flooded.
    assert_eq!(alerts.len(), 2, "{alerts:#?}");
}

#[test]
fn the_slips_ping_sweep_is_a_ping_sweep() {
    let alerts = alerts_of("pcaps/slips/test12-icmp-portscan.pcap", Rules::default());
    for a in &alerts {
        eprintln!("{:?} {} {:?}", a.lifecycle, a.message, a.evidence);
    }
    assert_eq!(lifecycles(&alerts, "ping_sweep"), vec![ENGAGED, RELEASED]);
    let released = &alerts[1];
    assert_eq!(
        released.message,
        "Ping sweep from 192.168.1.109 to 18 hosts"
    );
    assert_eq!(evidence(released, "distinct_hosts"), "18");
    assert!(released.victim_ip.is_empty());
    assert_eq!(alerts.len(), 2, "{alerts:#?}");
}

#[test]
fn the_ndpi_tcp_scan_gives_each_scan_kind_with_lowered_thresholds() {
    // The capture holds four connects to four ports (two refused, two reset
    // by the scanner after the handshake) and one NULL, one FIN and one XMAS
    // probe: far below any sensible default, so the thresholds are lowered
    // to what it holds.
    let rules = rules_with(&[
        ("syn_scan", "attempts", 4.0),
        ("syn_scan", "ports", 4.0),
        ("null_scan", "flows", 1.0),
        ("fin_scan", "flows", 1.0),
        ("xmas_scan", "flows", 1.0),
    ]);
    let alerts = alerts_of("ndpi/pcap/tcp_scan.pcapng", rules);
    for a in &alerts {
        eprintln!("{:?} {} {:?}", a.lifecycle, a.message, a.evidence);
    }
    let released = |rule: &str| {
        alerts
            .iter()
            .find(|a| a.rule_key == rule && a.lifecycle == RELEASED)
            .unwrap_or_else(|| panic!("no {rule} in {alerts:#?}"))
    };
    assert_eq!(
        released("syn_scan").message,
        "SYN scan from 192.168.1.178 to 4 ports on 192.168.1.2"
    );
    assert_eq!(
        released("null_scan").message,
        "TCP NULL scan from 192.168.1.178 to 1 port on 192.168.1.2"
    );
    assert_eq!(evidence(released("null_scan"), "top_ports"), "3391 (1)");
    assert_eq!(
        released("fin_scan").message,
        "TCP FIN scan from 192.168.1.178 to 1 port on 192.168.1.2"
    );
    assert_eq!(
        released("xmas_scan").message,
        "TCP XMAS scan from 192.168.1.178 to 1 port on 192.168.1.2"
    );
    for rule in ["syn_scan", "null_scan", "fin_scan", "xmas_scan"] {
        assert_eq!(lifecycles(&alerts, rule), vec![ENGAGED, RELEASED], "{rule}");
    }
    assert_eq!(alerts.len(), 8, "{alerts:#?}");
    // With the defaults: its crafted NULL, FIN and XMAS probes are scans at
    // once (no TCP stack sends them); 4 SYN attempts are not a SYN scan.
    let defaults = alerts_of("ndpi/pcap/tcp_scan.pcapng", Rules::default());
    let rules: std::collections::BTreeSet<&str> =
        defaults.iter().map(|a| a.rule_key.as_str()).collect();
    assert_eq!(
        rules.into_iter().collect::<Vec<_>>(),
        vec!["fin_scan", "null_scan", "xmas_scan"],
        "{defaults:#?}"
    );
    for rule in ["null_scan", "fin_scan", "xmas_scan"] {
        assert_eq!(
            lifecycles(&defaults, rule),
            vec![ENGAGED, RELEASED],
            "{rule}"
        );
    }
}

/// The attack captures; every other capture of the test data is ordinary
/// traffic (web, mail, DNS, VoIP, P2P, VPN, TLS, odd and malformed packets).
const ATTACKS: &[&str] = &[
    "ndpi/pcap/synscan.pcap",
    "ndpi/pcap/tcp_scan.pcapng",
    "pcaps/slips/test12-icmp-portscan.pcap",
];

/// Every capture under these folders of the test data, sorted.
fn captures(dirs: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for dir in dirs {
        for e in std::fs::read_dir(testdata(dir)).unwrap() {
            let name = e.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".pcap") || name.ends_with(".pcapng") {
                out.push(format!("{dir}/{name}"));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn captures_without_an_attack_give_no_host_alerts() {
    let files = captures(&[
        "ndpi/pcap",
        "pcaps/zeek",
        "pcaps/slips",
        "community-id/pcaps",
        "community-id/zeek/pcaps",
    ]);
    // nDPI's 56, Zeek's 7, Slips' 1, the Community ID baselines' 18.
    assert!(files.len() >= 80, "{}", files.len());
    let mut checked = 0;
    for f in files.iter().filter(|f| !ATTACKS.contains(&f.as_str())) {
        let alerts = alerts_of(f, Rules::default());
        assert!(alerts.is_empty(), "{f}: {alerts:#?}");
        checked += 1;
    }
    assert_eq!(checked, files.len() - ATTACKS.len());
}

#[test]
fn every_host_rule_has_the_thresholds_the_checks_read() {
    let rules = Rules::default();
    for (rule, names) in [
        (Rule::SynScan, &["attempts", "ports"][..]),
        (Rule::SynFlood, &["syns"][..]),
        (Rule::FinScan, &["flows"][..]),
        (Rule::RstScan, &["flows"][..]),
        (Rule::NullScan, &["flows"][..]),
        (Rule::XmasScan, &["flows"][..]),
        (Rule::HorizontalPortScan, &["hosts"][..]),
        (Rule::IcmpFlood, &["packets"][..]),
        (Rule::PingSweep, &["hosts"][..]),
        (Rule::FlowFlood, &["flows"][..]),
        (Rule::DnsFlood, &["queries"][..]),
        (Rule::BruteForce, &["sessions", "bytes"][..]),
        (Rule::HostScore, &["score"][..]),
    ] {
        for name in names {
            assert!(rules.threshold(rule, name).is_finite(), "{rule:?} {name}");
        }
        assert_eq!(rule.entity(), v1::EntityKind::Host);
    }
}
