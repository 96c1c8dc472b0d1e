#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is a failed test"
)]

use std::collections::HashMap;
use std::net::IpAddr;

use super::*;
use crate::alert::build;
use crate::classify::testing::{flows, flows_of, testdata};
use crate::flow::FlowSettings;
use crate::suricata::eve::parse_line;

const SEC: u64 = 1_000_000;
const SCAN: u64 = 2_010_935;
const SCAN_NAME: &str = "ET SCAN Suspicious inbound to MSSQL port 1433";

type End = (IpAddr, u16);

/// Suricata's timestamp form for Unix µs (UTC).
fn ts(us: u64) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]+0000"
    );
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
        .unwrap()
        .format(&format)
        .unwrap()
}

/// An eve alert line in Suricata's form (as in the Slips sample), parsed by
/// the real parser; `extra` adds top-level fields (`,"community_id":...`).
fn alert(src: End, dst: End, t: u64, sid: u64, name: &str, severity: u32, extra: &str) -> EveEvent {
    let line = format!(
        r#"{{"timestamp":"{}","flow_id":{},"in_iface":"eth1","event_type":"alert","src_ip":"{}","src_port":{},"dest_ip":"{}","dest_port":{},"proto":"TCP"{extra},"alert":{{"action":"allowed","gid":1,"signature_id":{sid},"rev":3,"signature":"{name}","category":"Potentially Bad Traffic","severity":{severity}}},"host":"sensor1"}}"#,
        ts(t),
        u64::from(src.1) * 65_536 + u64::from(dst.1),
        src.0,
        src.1,
        dst.0,
        dst.1,
    );
    parse_line(line.as_bytes(), 1 << 20).unwrap()
}

fn ends(flow: &v1::Flow) -> (End, End) {
    let (c, s) = build::endpoints(flow).unwrap();
    let port = |e: &Option<v1::Endpoint>| u16::try_from(e.as_ref().unwrap().port).unwrap();
    ((c, port(&flow.client)), (s, port(&flow.server)))
}

fn settings() -> CorrelatorSettings {
    CorrelatorSettings::default()
}

fn evidence<'a>(a: &'a v1::Alert, key: &str) -> Option<&'a str> {
    a.evidence
        .iter()
        .find(|e| e.key == key)
        .map(|e| e.value.as_str())
}

/// The TLS flow of Suricata's community-id-ipv4 test and the Community ID
/// Suricata wrote for it with seed 7 (its test.yaml).
fn google_tls_flow() -> (v1::Flow, &'static str) {
    let flows = flows_of(
        &testdata("community-id/suricata-verify/community-id-ipv4/input.pcap"),
        FlowSettings::default(),
    );
    let flow = flows
        .into_iter()
        .find(|f| ends(f).0 == ("172.26.0.39".parse().unwrap(), 35958))
        .unwrap();
    (flow, "1:IwiTNfuO7aCaamMijl+7/X9uLx0=")
}

#[test]
fn an_alert_waits_for_its_late_flow_and_takes_its_context() {
    let (flow, suricata_cid) = google_tls_flow();
    let (client, server) = ends(&flow);
    let t = flow.first_seen_us + 1000;
    let ev = alert(
        client,
        server,
        t,
        2_024_833,
        "ET POLICY Observed IP Lookup Domain",
        1,
        &format!(
            r#","community_id":"{suricata_cid}","app_proto":"tls","tls":{{"sni":"ipv4.google.com","version":"TLS 1.3"}}"#
        ),
    );
    // Our Community ID with Suricata's seed is the one Suricata wrote.
    let seven = sonde_common::community_id::CommunityId::new(
        7,
        sonde_common::community_id::Encoding::Base64,
    );
    assert_eq!(ev.community_id_with(&seven).as_deref(), Some(suricata_cid));
    let mut c = Correlator::new(CorrelatorSettings {
        community_id_seed: 7,
        ..settings()
    });
    let mut out = Vec::new();
    c.event(ev, &mut out);
    c.advance(t + 59 * SEC, &mut out);
    assert!(out.is_empty(), "the window is still open");
    // The flow ends later and is reported then.
    c.flow(&flow, &mut out);
    c.advance(t + 60 * SEC, &mut out);
    assert_eq!(out.len(), 1);
    let a = &out[0];
    assert_eq!(a.flow.as_ref(), Some(&flow));
    assert_eq!(a.entity_value, flow.community_id);
    assert_eq!((a.rule_key.as_str(), a.count), ("2024833", 1));
    assert_eq!(a.severity, v1::Severity::High as i32);
    assert_eq!(a.source, v1::AlertSource::Suricata as i32);
    assert_eq!(a.entity, v1::EntityKind::Flow as i32);
    assert_eq!(build::ip(&a.attacker_ip), Some(client.0));
    assert_eq!(build::ip(&a.victim_ip), Some(server.0));
    assert_eq!(a.interface, flow.interface);
    assert_eq!(
        a.message,
        "ET POLICY Observed IP Lookup Domain from 172.26.0.39 to 172.217.14.206"
    );
    assert_eq!(evidence(a, "sni"), Some("ipv4.google.com"));
    assert_eq!(evidence(a, "app_proto"), Some("tls"));
    assert_eq!(evidence(a, "flow_context"), Some("probe flow"));
    assert_eq!(evidence(a, "suricata_rule"), Some("1:2024833:3"));
    assert_eq!(a.signatures.len(), 1);
    assert_eq!((a.signatures[0].severity, a.signatures[0].count), (1, 1));
    assert_eq!(c.counters().community_id_mismatch, 0);
    assert_eq!(c.counters().emitted_with_flow, 1);
    assert_eq!(c.pending(), 0);
}

#[test]
fn a_flow_seen_before_the_alert_matches_by_5_tuple_and_time_only() {
    let (flow, _) = google_tls_flow();
    let (client, server) = ends(&flow);
    let mut c = Correlator::new(settings());
    let mut out = Vec::new();
    c.flow(&flow, &mut out);
    // No community_id on the line (Suricata's default), reversed direction
    // (a response alert): the same flow.
    let during = alert(server, client, flow.last_seen_us, 1, "response", 2, "");
    // Long after the flow: another connection for all we know.
    let late = flow.last_seen_us + 121 * SEC;
    let after = alert(client, server, late, 2, "later", 2, "");
    c.event(during, &mut out);
    c.event(after, &mut out);
    c.advance(late + 121 * SEC, &mut out);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].flow.as_ref(), Some(&flow));
    assert_eq!(build::ip(&out[0].attacker_ip), Some(server.0));
    assert!(probe_flow(&out[1]).is_none());
    assert_eq!(
        out[1].entity_value, flow.community_id,
        "the probe's Community ID of the 5-tuple"
    );
}

#[test]
fn a_wrong_seed_is_counted_and_the_5_tuple_still_matches() {
    let (flow, suricata_cid) = google_tls_flow();
    let (client, server) = ends(&flow);
    let mut c = Correlator::new(settings());
    let mut out = Vec::new();
    c.flow(&flow, &mut out);
    let ev = alert(
        client,
        server,
        flow.first_seen_us,
        1,
        "x",
        2,
        &format!(r#","community_id":"{suricata_cid}""#),
    );
    c.event(ev, &mut out);
    c.finish(&mut out);
    assert_eq!(c.counters().community_id_mismatch, 1);
    assert_eq!(out[0].flow.as_ref(), Some(&flow));
}

#[test]
fn an_alert_without_flow_goes_out_when_the_correlation_window_ends() {
    let attacker: End = ("198.51.100.7".parse().unwrap(), 40_000);
    let victim: End = ("10.0.0.9".parse().unwrap(), 1433);
    let t = 1_622_988_000 * SEC;
    let mut c = Correlator::new(settings());
    let mut out = Vec::new();
    c.event(alert(attacker, victim, t, SCAN, SCAN_NAME, 2, ""), &mut out);
    c.advance(t + 120 * SEC - 1, &mut out);
    assert!(out.is_empty(), "still waiting for a flow");
    c.advance(t + 120 * SEC, &mut out);
    assert_eq!(out.len(), 1);
    let a = &out[0];
    assert!(probe_flow(a).is_none());
    let tuple = a.flow.as_ref().expect("the eve 5-tuple as context");
    assert!(tuple.client_to_server.is_none() && tuple.client.is_some());
    assert_eq!(build::ip(&a.attacker_ip), Some(attacker.0));
    assert_eq!(build::ip(&a.victim_ip), Some(victim.0));
    assert_eq!(a.severity, v1::Severity::Medium as i32);
    assert_eq!(evidence(a, "flow_context"), Some("none"));
    assert_eq!(a.interface, "eth1");
    let probe = sonde_common::community_id::CommunityId::default();
    let tuple =
        sonde_common::community_id::FlowTuple::new(attacker.0, victim.0, 6, attacker.1, victim.1);
    assert_eq!(a.entity_value, probe.compute(&tuple).unwrap());
    assert_eq!(c.counters().emitted_without_flow, 1);
    // A flow that comes after the alert went out changes nothing.
    c.finish(&mut out);
    assert_eq!(out.len(), 1);
}

#[test]
fn a_burst_of_one_signature_from_one_attacker_becomes_one_alert_with_its_flows() {
    let all = flows("synscan.pcap");
    // The scanner: the client of the most flows.
    let mut per_client: HashMap<IpAddr, Vec<&v1::Flow>> = HashMap::new();
    for f in &all {
        per_client.entry(ends(f).0.0).or_default().push(f);
    }
    let (scanner, mut scanned) = per_client.into_iter().max_by_key(|(_, v)| v.len()).unwrap();
    scanned.sort_by_key(|f| f.first_seen_us);
    let burst: Vec<&v1::Flow> = scanned.into_iter().take(40).collect();
    let n = burst.len() as u64;
    assert!(n >= 20, "synscan.pcap has a scan");
    let start = burst[0].first_seen_us;
    let end = burst.iter().map(|f| f.first_seen_us).max().unwrap();
    let window = end - start + SEC;
    let mut c = Correlator::new(CorrelatorSettings {
        consolidation_window_us: window,
        ..settings()
    });
    let mut out = Vec::new();
    for (i, f) in burst.iter().enumerate() {
        let (client, server) = ends(f);
        c.event(
            alert(client, server, f.first_seen_us, SCAN, SCAN_NAME, 2, ""),
            &mut out,
        );
        if i % 10 == 0 {
            c.event(
                alert(
                    client,
                    server,
                    f.first_seen_us,
                    2_002_910,
                    "ET SCAN Potential VNC Scan",
                    3,
                    "",
                ),
                &mut out,
            );
        }
    }
    assert!(out.is_empty());
    // The flows end after their alerts.
    for f in &burst {
        c.flow(f, &mut out);
    }
    c.advance(start + window, &mut out);
    assert_eq!(
        out.len(),
        2,
        "{:#?}",
        out.iter().map(|a| &a.message).collect::<Vec<_>>()
    );
    let scan = out.iter().find(|a| a.rule_key == SCAN.to_string()).unwrap();
    let vnc = out.iter().find(|a| a.rule_key == "2002910").unwrap();
    assert_eq!(scan.count, n);
    assert_eq!(vnc.count, n.div_ceil(10));
    assert_eq!(scan.signatures[0].count, n);
    assert_eq!(vnc.severity, v1::Severity::Low as i32);
    assert_eq!(build::ip(&scan.attacker_ip), Some(scanner));
    assert_eq!((scan.first_seen_us, scan.last_seen_us), (start, end));
    assert!(probe_flow(scan).is_some());
    let victims: std::collections::BTreeSet<IpAddr> = burst.iter().map(|f| ends(f).1.0).collect();
    let to = if victims.len() == 1 {
        victims.iter().next().unwrap().to_string()
    } else {
        format!("{} hosts", victims.len())
    };
    assert_eq!(
        scan.message,
        format!("{SCAN_NAME} from {scanner} to {to} ({n} alerts)")
    );
    assert!(
        evidence(scan, "destination_ports")
            .unwrap()
            .split(", ")
            .count()
            <= 16
    );
    assert_eq!(c.pending(), 0);
}

#[test]
fn alerts_beyond_the_consolidation_window_start_a_new_alert() {
    let attacker: End = ("198.51.100.7".parse().unwrap(), 40_000);
    let victim: End = ("10.0.0.9".parse().unwrap(), 1433);
    let t = 1_622_988_000 * SEC;
    let mut c = Correlator::new(settings());
    let mut out = Vec::new();
    for dt in [0, 30, 59, 60, 61, 119] {
        c.event(
            alert(attacker, victim, t + dt * SEC, SCAN, SCAN_NAME, 2, ""),
            &mut out,
        );
    }
    // Another attacker is another alert.
    let other: End = ("198.51.100.8".parse().unwrap(), 40_000);
    c.event(alert(other, victim, t, SCAN, SCAN_NAME, 2, ""), &mut out);
    c.finish(&mut out);
    let counts: Vec<(u64, String)> = out
        .iter()
        .map(|a| (a.count, build::ip(&a.attacker_ip).unwrap().to_string()))
        .collect();
    assert_eq!(
        counts,
        [
            (3, "198.51.100.7".to_owned()),
            (1, "198.51.100.8".to_owned()),
            (3, "198.51.100.7".to_owned())
        ]
    );
    assert_eq!(
        out[0].message,
        format!("{SCAN_NAME} from 198.51.100.7 to 10.0.0.9 (3 alerts)")
    );
    assert_ne!(out[0].incident_id, out[2].incident_id);
}

#[test]
fn suricata_severities_map_to_security_onions_scale() {
    assert_eq!(so_severity(Some(1)), v1::Severity::High);
    assert_eq!(so_severity(Some(2)), v1::Severity::Medium);
    assert_eq!(so_severity(Some(3)), v1::Severity::Low);
    assert_eq!(so_severity(Some(4)), v1::Severity::Low);
    assert_eq!(so_severity(Some(255)), v1::Severity::Low);
    assert_eq!(so_severity(None), v1::Severity::Low);
}

#[test]
fn alert_source_and_target_set_attacker_and_victim() {
    // Suricata 6.0's sample: a response from the server, with the rule's
    // target keyword naming the client as the target.
    let line = std::fs::read_to_string(testdata("suricata/elastic-integrations/test-eve-6-0.log"))
        .unwrap();
    let line = line.trim().replace(
        r#""severity":2,"#,
        r#""severity":2,"source":{"ip":"175.16.199.1","port":80},"target":{"ip":"10.31.64.240","port":47592},"#,
    );
    let mut ev = parse_line(line.as_bytes(), 1 << 20).unwrap();
    let mut c = Correlator::new(settings());
    let mut out = Vec::new();
    c.event(ev.clone(), &mut out);
    // Swapped roles by the rule: attacker is alert.source even though it is dest.
    if let Some(a) = ev.alert.as_mut() {
        a.source = Some(("10.31.64.240".parse().unwrap(), Some(47592)));
        a.target = Some(("175.16.199.1".parse().unwrap(), Some(80)));
    }
    c.event(ev, &mut out);
    c.finish(&mut out);
    let roles: Vec<(String, String)> = out
        .iter()
        .map(|a| {
            (
                build::ip(&a.attacker_ip).unwrap().to_string(),
                build::ip(&a.victim_ip).unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        roles,
        [
            ("10.31.64.240".to_owned(), "175.16.199.1".to_owned()),
            ("175.16.199.1".to_owned(), "10.31.64.240".to_owned()),
        ]
    );
    assert_eq!(evidence(&out[0], "http_host"), Some("testmynids.org"));
    assert_eq!(
        out[0].rule_name,
        "GPL ATTACK_RESPONSE id check returned root"
    );
}

#[test]
fn http_and_dns_events_of_the_same_suricata_flow_enrich_the_alert() {
    let lines: Vec<String> =
        std::fs::read_to_string(testdata("suricata/elastic-integrations/test-eve-small.log"))
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
    let http = parse_line(lines[2].as_bytes(), 1 << 20).unwrap();
    let dns = parse_line(lines[4].as_bytes(), 1 << 20).unwrap();
    let mut c = Correlator::new(settings());
    let mut out = Vec::new();
    c.event(http.clone(), &mut out);
    c.event(dns.clone(), &mut out);
    for (ev, sid) in [(&http, 1), (&dns, 2)] {
        let mut a = alert(
            (ev.src_ip.unwrap(), ev.src_port.unwrap()),
            (ev.dest_ip.unwrap(), ev.dest_port.unwrap()),
            ev.timestamp_us,
            sid,
            "x",
            3,
            "",
        );
        a.flow_id = ev.flow_id;
        c.event(a, &mut out);
    }
    c.finish(&mut out);
    assert_eq!(evidence(&out[0], "http_host"), Some("192.168.86.28"));
    assert_eq!(evidence(&out[0], "url"), Some("/dd.xml"));
    assert!(
        evidence(&out[0], "user_agent")
            .unwrap()
            .starts_with("Mozilla/5.0")
    );
    assert_eq!(evidence(&out[1], "dns_query"), Some("clients.l.google.com"));
}

#[test]
fn memory_stays_bounded_and_evicted_groups_are_emitted_not_lost() {
    let all = flows("synscan.pcap");
    let mut c = Correlator::new(CorrelatorSettings {
        max_pending: 4,
        max_flows: 8,
        max_enrichment: 8,
        max_victims: 2,
        ..settings()
    });
    let mut out = Vec::new();
    let used: Vec<&v1::Flow> = all.iter().take(50).collect();
    for (i, f) in used.iter().enumerate() {
        c.flow(f, &mut out);
        let (_, server) = ends(f);
        let attacker: End = (IpAddr::from([203, 0, 113, u8::try_from(i).unwrap()]), 1000);
        let mut ev = alert(attacker, server, f.first_seen_us, SCAN, SCAN_NAME, 2, "");
        ev.flow_id = Some(i as u64);
        let mut dns = ev.clone();
        dns.alert = None;
        dns.dns = Some(crate::suricata::eve::EveDns {
            rrname: Some("example.org".into()),
            ..Default::default()
        });
        c.event(dns, &mut out);
        c.event(ev, &mut out);
        assert!(c.pending() <= 4);
    }
    c.finish(&mut out);
    let k = c.counters();
    assert_eq!(k.evicted_groups, 46);
    assert_eq!(k.evicted_flows, used.len() as u64 - 8);
    assert_eq!(k.evicted_enrichment, 42);
    assert_eq!(out.len(), 50);
    assert_eq!(out.iter().map(|a| a.count).sum::<u64>(), 50);
    // Victims are capped per alert.
    let one = ("198.51.100.1".parse().unwrap(), 1);
    for last in 0..5u8 {
        c.event(
            alert(
                one,
                (IpAddr::from([10, 0, 0, last]), 80),
                2_000_000_000 * SEC,
                7,
                "v",
                2,
                "",
            ),
            &mut out,
        );
    }
    c.finish(&mut out);
    let capped = out.last().unwrap();
    assert_eq!(
        evidence(capped, "victims"),
        Some("10.0.0.0, 10.0.0.1 and 3 more alerts")
    );
    assert!(
        capped.message.ends_with("to 2+ hosts (5 alerts)"),
        "{}",
        capped.message
    );
}

#[test]
fn the_slips_eve_file_gives_one_alert_per_signature_attacker_and_window() {
    let lines = crate::suricata::eve::tests::slips_full_lines();
    let window = settings().consolidation_window_us;
    let mut c = Correlator::new(settings());
    let mut out = Vec::new();
    // Independently: windows per (sid, src_ip) in file order, each opened by
    // the first alert that does not fit the current one.
    let mut start: HashMap<(u64, IpAddr), u64> = HashMap::new();
    let mut windows = 0;
    let mut alerts = 0;
    for line in &lines {
        let ev = parse_line(line.as_bytes(), 1 << 20).unwrap();
        if let Some(a) = &ev.alert {
            alerts += 1;
            let t = ev.timestamp_us;
            let key = (a.signature_id, ev.src_ip.unwrap());
            match start.get(&key) {
                Some(&s) if t < s + window && t + window > s => {}
                _ => {
                    start.insert(key, t);
                    windows += 1;
                }
            }
        }
        c.event(ev, &mut out);
    }
    c.finish(&mut out);
    assert_eq!(alerts, 745);
    assert_eq!(out.len(), windows);
    // A recount of the file in Python gives the same: 659 windows over 380
    // distinct (signature, source) pairs.
    assert_eq!(windows, 659);
    let pairs: std::collections::BTreeSet<(String, Vec<u8>)> = out
        .iter()
        .map(|a| (a.rule_key.clone(), a.attacker_ip.clone()))
        .collect();
    assert_eq!(pairs.len(), 380);
    assert_eq!(out.iter().map(|a| a.count).sum::<u64>(), 745);
    assert!(
        out.len() < 745,
        "bursts were consolidated: {} alerts",
        out.len()
    );
    assert!(
        out.windows(2)
            .all(|w| w[0].first_seen_us <= w[1].first_seen_us)
    );
    assert!(
        out.iter()
            .all(|a| !a.attacker_ip.is_empty() && probe_flow(a).is_none())
    );
    let most = out.iter().max_by_key(|a| a.count).unwrap();
    eprintln!(
        "slips: 745 alerts -> {} consolidated; largest: {} ({})",
        out.len(),
        most.message,
        most.count
    );
}

#[test]
fn settings_come_from_the_suricata_section_of_the_config() {
    let config: crate::alert::config::SuricataConfig = toml::from_str(
        "community_id_seed = 7\ncorrelation_window = \"90s\"\nconsolidation_window = \"5m\"\nmax_line = \"64 KiB\"",
    )
    .unwrap();
    let probe =
        sonde_common::community_id::CommunityId::new(3, sonde_common::community_id::Encoding::Hex);
    let s = CorrelatorSettings::from_config(&config, probe);
    assert_eq!(s.community_id_seed, 7);
    assert_eq!(s.probe_community_id, probe);
    assert_eq!(
        (s.correlation_window_us, s.consolidation_window_us),
        (90 * SEC, 300 * SEC)
    );
    let f = crate::suricata::FollowSettings::from_config(&config);
    assert_eq!(f.max_line, 64 * 1024);
    let d = CorrelatorSettings::from_config(&Default::default(), Default::default());
    assert_eq!(
        (d.correlation_window_us, d.consolidation_window_us),
        (120 * SEC, 60 * SEC)
    );
}

#[test]
fn an_icmp_alert_matches_its_icmp_flow_without_ports() {
    let all = flows_of(
        &testdata("pcaps/slips/test12-icmp-portscan.pcap"),
        FlowSettings::default(),
    );
    let flow = all.iter().find(|f| f.ip_protocol == 1).unwrap();
    let (client, server) = build::endpoints(flow).unwrap();
    let line = format!(
        r#"{{"timestamp":"{}","event_type":"alert","src_ip":"{client}","dest_ip":"{server}","proto":"ICMP","icmp_type":8,"icmp_code":0,"alert":{{"signature_id":2100384,"signature":"GPL ICMP_INFO PING","category":"Misc activity","severity":3}}}}"#,
        ts(flow.first_seen_us)
    );
    let mut c = Correlator::new(settings());
    let mut out = Vec::new();
    c.flow(flow, &mut out);
    c.event(parse_line(line.as_bytes(), 1 << 20).unwrap(), &mut out);
    c.finish(&mut out);
    assert_eq!(out[0].flow.as_ref(), Some(flow));
    assert_eq!(
        out[0].message,
        format!("GPL ICMP_INFO PING from {client} to {server}")
    );
    assert_eq!(out[0].severity, v1::Severity::Low as i32);
}

#[test]
fn eve_before_flows_flows_before_eve_and_interleaved_give_the_same_alerts() {
    let all = flows("synscan.pcap");
    let used: Vec<&v1::Flow> = all.iter().take(300).collect();
    let events: Vec<EveEvent> = used
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let (client, server) = ends(f);
            // Three signatures, so several groups per attacker.
            let sid = 1 + (i % 3) as u64;
            alert(client, server, f.first_seen_us, sid, "ET SCAN test", 2, "")
        })
        .collect();
    let summary = |out: &[v1::Alert]| -> Vec<(String, u64, u64, u64, String, bool)> {
        out.iter()
            .map(|a| {
                (
                    a.rule_key.clone(),
                    a.count,
                    a.first_seen_us,
                    a.last_seen_us,
                    a.message.clone(),
                    probe_flow(a).is_some(),
                )
            })
            .collect()
    };
    let run = |order: &str| {
        let mut c = Correlator::new(settings());
        let mut out = Vec::new();
        match order {
            "eve first" => {
                events.iter().for_each(|e| c.event(e.clone(), &mut out));
                used.iter().for_each(|f| c.flow(f, &mut out));
            }
            "flows first" => {
                used.iter().for_each(|f| c.flow(f, &mut out));
                events.iter().for_each(|e| c.event(e.clone(), &mut out));
            }
            _ => {
                // By time: each flow when it ends, each alert when it is raised.
                let mut items: Vec<(u64, usize, bool)> = used
                    .iter()
                    .enumerate()
                    .map(|(i, f)| (f.last_seen_us, i, true))
                    .chain(
                        events
                            .iter()
                            .enumerate()
                            .map(|(i, e)| (e.timestamp_us, i, false)),
                    )
                    .collect();
                items.sort();
                for (_, i, is_flow) in items {
                    if is_flow {
                        c.flow(used[i], &mut out);
                    } else {
                        c.event(events[i].clone(), &mut out);
                    }
                }
            }
        }
        c.finish(&mut out);
        let mut s = summary(&out);
        s.sort();
        s
    };
    let eve_first = run("eve first");
    assert_eq!(
        eve_first.iter().map(|s| s.1).sum::<u64>(),
        used.len() as u64
    );
    assert!(eve_first.iter().all(|s| s.5), "every group found a flow");
    assert_eq!(run("flows first"), eve_first);
    assert_eq!(run("interleaved"), eve_first);
}

/// The probe flow an alert was matched to; not the eve 5-tuple context an
/// unmatched alert carries.
fn probe_flow(a: &v1::Alert) -> Option<&v1::Flow> {
    let unmatched = evidence(a, "flow_context") != Some("probe flow");
    a.flow.as_ref().filter(|_| !unmatched)
}
