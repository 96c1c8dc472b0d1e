//! Policy checks on synthetic records: remote-to-local insecure protocols,
//! unexpected servers, blacklists, DNS exfiltration.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is a failed test"
)]

use std::path::PathBuf;

use super::tests::{checks, evidence, flow, ip, of, risk, rules, run, udp, with_l7};
use super::*;
use crate::alert::{Rule, build};

#[test]
fn an_insecure_protocol_from_a_remote_client_to_a_local_server_is_reported() {
    let mut c = checks("", FlowCheckSettings::default());
    let telnet = |client: &str, server: &str| with_l7(flow(client, 40000, server, 23), "Telnet");
    let out = of(
        &mut c,
        &telnet("198.51.100.9", "192.168.1.10"),
        Rule::RemoteToLocalInsecure,
    );
    assert_eq!(
        out[0].0.message,
        "Remote client 198.51.100.9 reached local server 192.168.1.10:23 over Telnet, an insecure protocol"
    );
    assert!(
        of(
            &mut c,
            &telnet("192.168.1.2", "192.168.1.10"),
            Rule::RemoteToLocalInsecure
        )
        .is_empty()
    );
    assert!(
        of(
            &mut c,
            &telnet("192.168.1.2", "198.51.100.9"),
            Rule::RemoteToLocalInsecure
        )
        .is_empty()
    );
    assert!(
        of(
            &mut c,
            &telnet("198.51.100.8", "198.51.100.9"),
            Rule::RemoteToLocalInsecure
        )
        .is_empty()
    );
    let https = with_l7(flow("198.51.100.9", 40000, "192.168.1.10", 443), "TLS");
    assert!(of(&mut c, &https, Rule::RemoteToLocalInsecure).is_empty());
    // The classifier's "Unsafe Protocol" risk counts whatever the name.
    let mut flagged = with_l7(flow("198.51.100.9", 40000, "192.168.1.10", 6667), "Unknown");
    flagged.risks = vec![risk("Unsafe Protocol", Severity::Low, 10)];
    assert_eq!(of(&mut c, &flagged, Rule::RemoteToLocalInsecure).len(), 1);
}

fn allowing(dns: &[&str], ntp: &[&str], dhcp: &[&str], smtp: &[&str]) -> FlowCheckSettings {
    let list = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect();
    FlowCheckSettings {
        allowed: AllowedServerNets::from_config(&AllowedServers {
            dns: list(dns),
            ntp: list(ntp),
            dhcp: list(dhcp),
            smtp: list(smtp),
        }),
        ..FlowCheckSettings::default()
    }
}

#[test]
fn a_server_outside_the_allowed_list_is_unexpected() {
    let dns = |server: &str, protocol: &str| {
        udp(with_l7(flow("192.168.1.20", 5353, server, 53), protocol))
    };
    // No list: not checked.
    let mut c = checks("", FlowCheckSettings::default());
    assert!(of(&mut c, &dns("8.8.8.8", "DNS"), Rule::UnexpectedDnsServer).is_empty());
    let mut c = checks(
        "",
        allowing(&["192.168.1.1", "10.53.0.0/16"], &[], &[], &[]),
    );
    assert!(
        of(
            &mut c,
            &dns("192.168.1.1", "DNS"),
            Rule::UnexpectedDnsServer
        )
        .is_empty()
    );
    assert!(of(&mut c, &dns("10.53.9.9", "DNS"), Rule::UnexpectedDnsServer).is_empty());
    let out = of(&mut c, &dns("8.8.8.8", "DNS"), Rule::UnexpectedDnsServer);
    let (a, key) = &out[0];
    assert_eq!(
        a.message,
        "192.168.1.20 used DNS server 8.8.8.8:53, which is not an allowed DNS server"
    );
    assert_eq!(build::ip(&a.attacker_ip), Some(ip("8.8.8.8")));
    assert_eq!(key, "192.168.1.20 8.8.8.8:53");
    // By port when the classifier named nothing; not when it named another protocol.
    assert_eq!(
        of(
            &mut c,
            &dns("8.8.8.8", "Unknown"),
            Rule::UnexpectedDnsServer
        )
        .len(),
        1
    );
    assert!(of(&mut c, &dns("8.8.8.8", "QUIC"), Rule::UnexpectedDnsServer).is_empty());
    // A remote client is not ours to police.
    let remote = udp(with_l7(flow("198.51.100.1", 5353, "8.8.8.8", 53), "DNS"));
    assert!(of(&mut c, &remote, Rule::UnexpectedDnsServer).is_empty());
    // An answer that opened the flow: the server is the endpoint on port 53.
    let answer = udp(with_l7(flow("8.8.8.8", 53, "192.168.1.20", 5353), "DNS"));
    let out = of(&mut c, &answer, Rule::UnexpectedDnsServer);
    assert_eq!(out[0].1, "192.168.1.20 8.8.8.8:53");
}

#[test]
fn ntp_smtp_and_dhcp_servers_are_checked_against_their_own_lists() {
    let mut c = checks(
        "",
        allowing(&[], &["192.168.1.1"], &["192.168.1.1"], &["192.168.1.25"]),
    );
    let ntp = udp(with_l7(
        flow("192.168.1.20", 123, "162.159.200.1", 123),
        "NTP",
    ));
    assert_eq!(of(&mut c, &ntp, Rule::UnexpectedNtpServer).len(), 1);
    let smtp = with_l7(flow("192.168.1.20", 40000, "203.0.113.25", 587), "SMTPS");
    assert_eq!(of(&mut c, &smtp, Rule::UnexpectedSmtpServer).len(), 1);
    let allowed_smtp = with_l7(flow("192.168.1.20", 40000, "192.168.1.25", 25), "SMTP");
    assert!(of(&mut c, &allowed_smtp, Rule::UnexpectedSmtpServer).is_empty());
    // A discover to the broadcast address names no server.
    let discover = udp(with_l7(flow("0.0.0.0", 68, "255.255.255.255", 67), "DHCP"));
    assert!(of(&mut c, &discover, Rule::UnexpectedDhcpServer).is_empty());
    // A rogue server's offer opening the flow.
    let offer = udp(with_l7(
        flow("192.168.1.66", 67, "255.255.255.255", 68),
        "DHCP",
    ));
    let out = of(&mut c, &offer, Rule::UnexpectedDhcpServer);
    assert_eq!(build::ip(&out[0].0.attacker_ip), Some(ip("192.168.1.66")));
    let allowed = udp(with_l7(flow("192.168.1.1", 67, "192.168.1.20", 68), "DHCP"));
    assert!(of(&mut c, &allowed, Rule::UnexpectedDhcpServer).is_empty());
}

fn with_lists(text: &str) -> (FlowChecks, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("bad.txt");
    std::fs::write(&path, text).unwrap();
    let (lists, _) = Blacklists::load(&[path]);
    (
        FlowChecks::new(rules(""), FlowCheckSettings::default(), lists),
        dir,
    )
}

#[test]
fn a_blacklisted_server_or_client_address_is_reported_with_its_list() {
    let (mut c, _dir) = with_lists("203.0.113.0/24\n2001:db8:bad::/48\n");
    let out = of(
        &mut c,
        &flow("10.0.0.1", 40000, "203.0.113.7", 443),
        Rule::BlacklistedIp,
    );
    let (a, key) = &out[0];
    assert_eq!(
        a.message,
        "10.0.0.1 contacted blacklisted 203.0.113.7:443 (list bad.txt)"
    );
    assert_eq!(build::ip(&a.attacker_ip), Some(ip("203.0.113.7")));
    assert_eq!(evidence(a, "list"), Some("bad.txt"));
    assert_eq!(key, "10.0.0.1 203.0.113.7:443");
    let inbound = flow("2001:db8:bad::1", 40000, "2001:db8:1::1", 22);
    let out = of(&mut c, &inbound, Rule::BlacklistedIp);
    assert_eq!(
        out[0].0.message,
        "Blacklisted 2001:db8:bad::1 contacted [2001:db8:1::1]:22 (list bad.txt)"
    );
    assert!(
        of(
            &mut c,
            &flow("10.0.0.1", 40000, "203.0.114.7", 443),
            Rule::BlacklistedIp
        )
        .is_empty()
    );
}

#[test]
fn a_blacklisted_domain_in_a_query_sni_or_host_is_reported() {
    let (mut c, _dir) = with_lists("evil.test\n");
    let mut tls = with_l7(flow("10.0.0.1", 40000, "198.51.100.1", 443), "TLS");
    tls.l7.as_mut().unwrap().tls = Some(v1::TlsInfo {
        sni: "cdn.EVIL.test".into(),
        ..Default::default()
    });
    let out = of(&mut c, &tls, Rule::BlacklistedDomain);
    assert_eq!(
        out[0].0.message,
        "Blacklisted domain cdn.EVIL.test in the TLS SNI of a flow from 10.0.0.1 to 198.51.100.1:443 (list bad.txt)"
    );
    assert_eq!(out[0].1, "10.0.0.1 198.51.100.1:443 evil.test");
    let mut http = with_l7(flow("10.0.0.1", 40000, "198.51.100.1", 8080), "HTTP");
    http.l7.as_mut().unwrap().http = Some(v1::HttpInfo {
        host: "evil.test:8080".into(),
        ..Default::default()
    });
    assert_eq!(of(&mut c, &http, Rule::BlacklistedDomain).len(), 1);
    let mut dns = udp(with_l7(flow("10.0.0.1", 5353, "10.0.0.53", 53), "DNS"));
    dns.l7.as_mut().unwrap().dns = Some(v1::DnsInfo {
        query: "notevil.test".into(),
        ..Default::default()
    });
    assert!(of(&mut c, &dns, Rule::BlacklistedDomain).is_empty());
}

fn query(name: &str) -> v1::Flow {
    let mut f = udp(with_l7(flow("10.0.0.1", 5353, "10.0.0.53", 53), "DNS"));
    f.l7.as_mut().unwrap().dns = Some(v1::DnsInfo {
        query: name.into(),
        ..Default::default()
    });
    f
}

#[test]
fn dns_exfiltration_fires_on_a_label_longer_than_the_threshold() {
    let mut c = checks("", FlowCheckSettings::default());
    // Default: 52 characters; a low-entropy label is judged by length only.
    let label = |n: usize| "ab".repeat(n).chars().take(n).collect::<String>();
    assert!(
        of(
            &mut c,
            &query(&format!("{}.t.example.com", label(51))),
            Rule::DnsExfiltration
        )
        .is_empty()
    );
    assert!(
        of(
            &mut c,
            &query(&format!("{}.t.example.com", label(52))),
            Rule::DnsExfiltration
        )
        .is_empty()
    );
    let out = of(
        &mut c,
        &query(&format!("{}.t.example.com", label(53))),
        Rule::DnsExfiltration,
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].1, "10.0.0.1 10.0.0.53:53 t.example.com");
    assert_eq!(evidence(&out[0].0, "reason"), Some("long label"));
}

#[test]
fn dns_exfiltration_fires_on_a_long_enough_label_with_high_entropy() {
    let mut c = checks("", FlowCheckSettings::default());
    // 20 distinct characters: entropy log2(20) = 4.32 bits, above 4.0.
    let random20 = "k3x9q2m7v1b8z4n6w5hj";
    assert!(dns::entropy(random20) > 4.0);
    let out = of(
        &mut c,
        &query(&format!("{random20}.tunnel.test")),
        Rule::DnsExfiltration,
    );
    assert_eq!(evidence(&out[0].0, "reason"), Some("high-entropy label"));
    // 19 characters: too short to judge by entropy.
    assert!(
        of(
            &mut c,
            &query(&format!("{}.tunnel.test", &random20[..19])),
            Rule::DnsExfiltration
        )
        .is_empty()
    );
    // 20 characters of 16 symbols: entropy 4.0 at most, not above.
    let hex = "0123456789abcdef0123";
    assert!(dns::entropy(hex) <= 4.0);
    assert!(
        of(
            &mut c,
            &query(&format!("{hex}.tunnel.test")),
            Rule::DnsExfiltration
        )
        .is_empty()
    );
    // A higher threshold lets the random label pass.
    let mut c = checks(
        "[dns_exfiltration]\nentropy = 4.4\n",
        FlowCheckSettings::default(),
    );
    assert!(
        of(
            &mut c,
            &query(&format!("{random20}.tunnel.test")),
            Rule::DnsExfiltration
        )
        .is_empty()
    );
    // Exempt services carry hashes by design.
    let mut c = checks("", FlowCheckSettings::default());
    assert!(
        of(
            &mut c,
            &query(&format!("{random20}.multi.surbl.org")),
            Rule::DnsExfiltration
        )
        .is_empty()
    );
}

#[test]
fn a_disabled_rule_raises_nothing() {
    let mut c = checks(
        "[tcp_connection_refused]\nenabled = false\n",
        FlowCheckSettings::default(),
    );
    let mut f = flow("10.0.0.1", 40000, "10.0.0.2", 3389);
    f.conn_state = "REJ".into();
    assert!(run(&mut c, &f).is_empty());
}

#[test]
fn durations_are_written_for_people() {
    assert_eq!(checks::human_duration(59), "0m 59s");
    assert_eq!(checks::human_duration(3_725), "1h 02m");
    assert_eq!(checks::human_duration(90_000), "1d 01h");
}
