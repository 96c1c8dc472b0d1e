//! Flow checks on synthetic records: flow risks, goodput, volume and
//! duration (with interim records), refused connections, zero windows.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is a failed test"
)]

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::*;
use crate::alert::rules::RuleConfig;
use crate::alert::{Rule, build};

const HOUR_US: u64 = 3_600_000_000;

pub(super) fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A finished TCP flow record from `client:cport` to `server:sport`.
pub(super) fn flow(client: &str, cport: u32, server: &str, sport: u32) -> v1::Flow {
    v1::Flow {
        interface: "eth0".into(),
        ip_protocol: 6,
        client: Some(v1::Endpoint {
            ip: build::ip_bytes(ip(client)),
            port: cport,
            ..Default::default()
        }),
        server: Some(v1::Endpoint {
            ip: build::ip_bytes(ip(server)),
            port: sport,
            ..Default::default()
        }),
        client_to_server: Some(v1::Direction {
            packets: 10,
            bytes: 1_000,
            ..Default::default()
        }),
        server_to_client: Some(v1::Direction {
            packets: 10,
            bytes: 2_000,
            ..Default::default()
        }),
        first_seen_us: 1_000_000,
        last_seen_us: 2_000_000,
        conn_state: "SF".into(),
        community_id: "1:test".into(),
        flow_id: 7,
        tcp: Some(v1::TcpAnalysis {
            goodput_ratio: 0.8,
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub(super) fn with_l7(mut f: v1::Flow, protocol: &str) -> v1::Flow {
    f.l7.get_or_insert_with(Default::default).protocol = protocol.into();
    f
}

pub(super) fn udp(mut f: v1::Flow) -> v1::Flow {
    f.ip_protocol = 17;
    f.tcp = None;
    f
}

pub(super) fn rules(toml_rules: &str) -> Arc<Rules> {
    let config: BTreeMap<String, RuleConfig> = toml::from_str(toml_rules).unwrap();
    Arc::new(Rules::new(&config))
}

pub(super) fn checks(toml_rules: &str, settings: FlowCheckSettings) -> FlowChecks {
    FlowChecks::new(rules(toml_rules), settings, Blacklists::default())
}

pub(super) fn run(c: &mut FlowChecks, f: &v1::Flow) -> Vec<(v1::Alert, String)> {
    let mut out = Vec::new();
    c.flow(f, &mut out);
    out
}

/// The alerts of `rule` for one record.
pub(super) fn of(c: &mut FlowChecks, f: &v1::Flow, rule: Rule) -> Vec<(v1::Alert, String)> {
    run(c, f)
        .into_iter()
        .filter(|(a, _)| a.rule_key == rule.key())
        .collect()
}

pub(super) fn evidence<'a>(a: &'a v1::Alert, key: &str) -> Option<&'a str> {
    a.evidence
        .iter()
        .find(|e| e.key == key)
        .map(|e| e.value.as_str())
}

pub(super) fn risk(name: &str, severity: Severity, score: u32) -> v1::FlowRisk {
    v1::FlowRisk {
        name: name.into(),
        severity: severity as i32,
        score,
        info: String::new(),
    }
}

#[test]
fn flow_risks_at_or_above_the_minimum_severity_become_alerts_named_after_the_risk() {
    let mut c = checks("", FlowCheckSettings::default());
    let mut f = with_l7(flow("10.0.0.1", 40000, "203.0.113.5", 443), "TLS");
    f.risks = vec![
        risk("Known Proto on Non Std Port", Severity::Medium, 50),
        risk("Self-signed Cert", Severity::High, 100),
        risk("XSS Attack", Severity::Critical, 150),
    ];
    f.risks[1].info = "CN=localhost".into();
    let out = of(&mut c, &f, Rule::FlowRisk);
    assert_eq!(out.len(), 2, "medium is below the default minimum (high)");
    let (a, key) = &out[0];
    assert_eq!(a.rule_key, "flow_risk");
    assert_eq!(a.rule_name, "Flow Risk: Self-signed Cert");
    assert_eq!(a.severity, Severity::High as i32);
    assert_eq!(a.score, 100);
    assert_eq!(
        a.message,
        "Self-signed Cert on a TLS flow from 10.0.0.1 to 203.0.113.5:443: CN=localhost"
    );
    assert_eq!(evidence(a, "risk"), Some("Self-signed Cert"));
    assert_eq!(evidence(a, "risk_info"), Some("CN=localhost"));
    assert_eq!(key, "10.0.0.1 203.0.113.5:443 Self-signed Cert");
    assert_eq!(a.entity_value, "1:test");
    assert_eq!(out[1].0.severity, Severity::Critical as i32);
    assert_eq!(out[1].0.score, 150);
    // At a medium minimum, the medium risk counts too.
    let settings = FlowCheckSettings {
        min_risk_severity: Severity::Medium,
        ..FlowCheckSettings::default()
    };
    let mut c = checks("", settings);
    assert_eq!(of(&mut c, &f, Rule::FlowRisk).len(), 3);
    // A severity set for the rule in the config wins over the risks' own.
    let mut c = checks(
        "[flow_risk]\nseverity = \"low\"\n",
        FlowCheckSettings::default(),
    );
    let out = of(&mut c, &f, Rule::FlowRisk);
    assert!(out.iter().all(|(a, _)| a.severity == Severity::Low as i32));
}

#[test]
fn low_goodput_fires_below_the_ratio_once_the_flow_has_enough_bytes() {
    let mut c = checks("", FlowCheckSettings::default());
    let case = |ratio: f64, bytes: u64| {
        let mut f = flow("10.0.0.1", 40000, "10.0.0.2", 80);
        f.tcp.as_mut().unwrap().goodput_ratio = ratio;
        f.client_to_server.as_mut().unwrap().bytes = bytes / 2;
        f.server_to_client.as_mut().unwrap().bytes = bytes - bytes / 2;
        f
    };
    // Default: ratio 0.1, 100,000 bytes.
    assert_eq!(of(&mut c, &case(0.05, 200_000), Rule::LowGoodput).len(), 1);
    assert!(of(&mut c, &case(0.1, 200_000), Rule::LowGoodput).is_empty());
    assert!(of(&mut c, &case(0.2, 200_000), Rule::LowGoodput).is_empty());
    assert!(of(&mut c, &case(0.05, 99_999), Rule::LowGoodput).is_empty());
    let out = of(&mut c, &case(0.05, 100_000), Rule::LowGoodput);
    assert_eq!(
        out[0].0.message,
        "Low goodput ratio 0.05 on a TCP flow from 10.0.0.1 to 10.0.0.2:80 (100,000 bytes)"
    );
    let mut c = checks("[low_goodput]\nratio = 0.5\n", FlowCheckSettings::default());
    assert_eq!(of(&mut c, &case(0.2, 200_000), Rule::LowGoodput).len(), 1);
}

#[test]
fn elephant_flow_fires_above_the_byte_threshold_in_either_direction() {
    let mut c = checks(
        "[elephant_flow]\nbytes = 1000000\n",
        FlowCheckSettings::default(),
    );
    let case = |c2s: u64, s2c: u64| {
        let mut f = flow("10.0.0.1", 40000, "198.51.100.1", 443);
        f.client_to_server.as_mut().unwrap().bytes = c2s;
        f.server_to_client.as_mut().unwrap().bytes = s2c;
        f
    };
    assert!(of(&mut c, &case(999_999, 1_000_000), Rule::ElephantFlow).is_empty());
    assert_eq!(of(&mut c, &case(1_000_001, 0), Rule::ElephantFlow).len(), 1);
    let out = of(&mut c, &case(10, 5_000_000), Rule::ElephantFlow);
    assert_eq!(
        out[0].0.message,
        "Elephant flow from 10.0.0.1 to 198.51.100.1:443: 10 bytes from the client, 5,000,000 from the server"
    );
    // The default threshold: 1 GiB.
    let mut c = checks("", FlowCheckSettings::default());
    assert!(of(&mut c, &case(1 << 30, 0), Rule::ElephantFlow).is_empty());
    assert_eq!(
        of(&mut c, &case((1 << 30) + 1, 0), Rule::ElephantFlow).len(),
        1
    );
}

#[test]
fn long_lived_flow_fires_above_the_duration() {
    let mut c = checks("", FlowCheckSettings::default());
    let case = |seconds: u64| {
        let mut f = flow("10.0.0.1", 40000, "10.0.0.2", 22);
        f.last_seen_us = f.first_seen_us + seconds * 1_000_000;
        f
    };
    // Default: 12 hours.
    assert!(of(&mut c, &case(43_199), Rule::LongLivedFlow).is_empty());
    assert!(of(&mut c, &case(43_200), Rule::LongLivedFlow).is_empty());
    let out = of(&mut c, &case(43_201 + 300), Rule::LongLivedFlow);
    assert_eq!(
        out[0].0.message,
        "Long-lived TCP flow from 10.0.0.1 to 10.0.0.2:22: open for 12h 05m"
    );
    assert_eq!(evidence(&out[0].0, "duration_s"), Some("43501"));
}

#[test]
fn a_long_flow_is_judged_on_its_totals_and_alerts_once_over_its_interim_records() {
    let mut c = checks(
        "[elephant_flow]\nbytes = 1000000\n",
        FlowCheckSettings::default(),
    );
    let start = 1_000_000;
    let mut alerts = Vec::new();
    // 14 interim records of one hour, 400,000 client bytes each, then the last.
    for i in 0..15u64 {
        let mut f = flow("10.0.0.1", 40000, "198.51.100.1", 443);
        f.interim = i < 14;
        f.first_seen_us = start + i * HOUR_US;
        f.last_seen_us = start + (i + 1) * HOUR_US;
        f.client_to_server.as_mut().unwrap().bytes = 400_000;
        for (a, _) in run(&mut c, &f) {
            alerts.push((i, a));
        }
    }
    let summary: Vec<(u64, &str)> = alerts
        .iter()
        .map(|(i, a)| (*i, a.rule_key.as_str()))
        .collect();
    // 1.2 MB after the third hour; 12 hours exceeded after the thirteenth.
    assert_eq!(summary, vec![(2, "elephant_flow"), (12, "long_lived_flow")]);
    assert_eq!(alerts[1].1.first_seen_us, start, "from the flow's start");
    assert_eq!(c.tracked(), 0, "the last record forgets the flow");
}

#[test]
fn the_memory_of_long_flows_is_bounded() {
    let settings = FlowCheckSettings {
        max_tracked_flows: 2,
        ..FlowCheckSettings::default()
    };
    let mut c = checks("", settings);
    for id in 1..=3 {
        let mut f = flow("10.0.0.1", 40000, "10.0.0.2", 22);
        f.interim = true;
        f.flow_id = id;
        f.last_seen_us += id;
        run(&mut c, &f);
    }
    assert_eq!(c.tracked(), 2);
    assert_eq!(c.evicted(), 1);
}

#[test]
fn a_syn_answered_by_rst_is_a_refused_connection() {
    let mut c = checks("", FlowCheckSettings::default());
    let mut f = flow("10.0.0.1", 40000, "10.0.0.2", 3389);
    f.conn_state = "REJ".into();
    f.history = "Sr".into();
    let out = of(&mut c, &f, Rule::TcpConnectionRefused);
    assert_eq!(
        out[0].0.message,
        "TCP connection from 10.0.0.1 to 10.0.0.2:3389 refused (SYN answered by RST)"
    );
    assert_eq!(out[0].1, "10.0.0.1 10.0.0.2:3389");
    f.conn_state = "RSTO".into();
    assert!(of(&mut c, &f, Rule::TcpConnectionRefused).is_empty());
}

#[test]
fn a_zero_window_from_either_side_is_reported() {
    let mut c = checks("", FlowCheckSettings::default());
    let mut f = flow("10.0.0.1", 40000, "10.0.0.2", 80);
    assert!(of(&mut c, &f, Rule::TcpZeroWindow).is_empty());
    f.tcp.as_mut().unwrap().server_zero_windows = 1;
    let out = of(&mut c, &f, Rule::TcpZeroWindow);
    assert_eq!(
        out[0].0.message,
        "TCP zero window on a TCP flow from 10.0.0.1 to 10.0.0.2:80 (server 1 time, client 0 times)"
    );
    f.tcp.as_mut().unwrap().server_zero_windows = 0;
    f.tcp.as_mut().unwrap().client_zero_windows = 3;
    assert_eq!(of(&mut c, &f, Rule::TcpZeroWindow).len(), 1);
}
