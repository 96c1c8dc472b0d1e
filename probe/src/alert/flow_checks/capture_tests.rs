//! The flow checks on the flows of real captures (nDPI's test pcaps).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is a failed test"
)]

use super::*;
use crate::classify::testing::flows;

fn alerts(name: &str, settings: FlowCheckSettings) -> Vec<(v1::Alert, String)> {
    let mut c = FlowChecks::new(Arc::new(Rules::default()), settings, Blacklists::default());
    let mut out = Vec::new();
    for f in flows(name) {
        c.flow(&f, &mut out);
    }
    out
}

fn keyed<'a>(out: &'a [(v1::Alert, String)], rule: &str) -> Vec<&'a v1::Alert> {
    out.iter()
        .filter(|(a, _)| a.rule_key == rule)
        .map(|(a, _)| a)
        .collect()
}

fn local(nets: &[&str]) -> FlowCheckSettings {
    FlowCheckSettings {
        local_networks: nets.iter().map(|n| n.parse().unwrap()).collect(),
        ..FlowCheckSettings::default()
    }
}

#[test]
fn a_self_signed_expired_certificate_gives_flow_risk_alerts_at_high() {
    let out = alerts("selfsigned.pcap", FlowCheckSettings::default());
    let names: Vec<&str> = keyed(&out, "flow_risk")
        .iter()
        .map(|a| a.rule_name.as_str())
        .collect();
    // The medium "Known Proto on Non Std Port" stays below the minimum.
    assert_eq!(
        names,
        vec!["Flow Risk: Self-signed Cert", "Flow Risk: TLS Cert Expired"]
    );
    let a = keyed(&out, "flow_risk")[0];
    assert_eq!(a.severity, Severity::High as i32);
    assert!(a.flow.is_some());
    assert!(
        a.message
            .starts_with("Self-signed Cert on a TLS flow from 127.0.0.1 to 127.0.0.1:3001"),
        "{}",
        a.message
    );
}

#[test]
fn the_refused_connections_of_a_port_scan_are_reported() {
    let out = alerts("tcp_scan.pcapng", FlowCheckSettings::default());
    let refused = keyed(&out, "tcp_connection_refused");
    let ports: Vec<u32> = refused
        .iter()
        .map(|a| build::server_port(a.flow.as_ref().unwrap()))
        .collect();
    // The scan's REJ flows (Zeek: SYN answered by RST); the others were
    // answered and reset later.
    assert_eq!(ports, vec![445, 3389]);
}

#[test]
fn ordinary_dns_queries_raise_no_exfiltration_alert() {
    for capture in ["dns.pcap", "dns_long_domainname.pcap", "malformed_dns.pcap"] {
        let out = alerts(capture, FlowCheckSettings::default());
        assert!(keyed(&out, "dns_exfiltration").is_empty(), "{capture}");
    }
}

#[test]
fn an_insecure_protocol_from_a_remote_client_to_a_local_server_is_reported_on_captures() {
    // FTP over IPv6 to a server on the configured local network.
    let out = alerts("ftp_failed.pcap", local(&["2a00:800:1010::/48"]));
    let found = keyed(&out, "remote_to_local_insecure");
    assert_eq!(found.len(), 1);
    assert!(
        found[0].message.contains("over FTP_CONTROL"),
        "{}",
        found[0].message
    );
    // IMAP between two hosts of 10.0.0.0/8 (default local networks): local
    // to local, nothing; with only the server's /24 local, reported.
    let out = alerts("imap.pcap", FlowCheckSettings::default());
    assert!(keyed(&out, "remote_to_local_insecure").is_empty());
    let out = alerts("imap.pcap", local(&["10.40.3.0/24"]));
    assert_eq!(keyed(&out, "remote_to_local_insecure").len(), 1);
}

#[test]
fn servers_of_captures_outside_the_allowed_lists_are_unexpected() {
    let mut settings = local(&["194.7.248.0/24", "85.22.62.0/24"]);
    settings.allowed = AllowedServerNets::from_config(&AllowedServers {
        smtp: vec!["192.0.2.25".into()],
        ntp: vec!["192.0.2.123".into()],
        dhcp: vec!["192.0.2.67".into()],
        ..Default::default()
    });
    let out = alerts("smtp.pcap", settings.clone());
    assert_eq!(keyed(&out, "unexpected_smtp_server").len(), 1);
    let out = alerts("NTPv4.pcap", settings.clone());
    assert_eq!(keyed(&out, "unexpected_ntp_server").len(), 1);
    // A DHCP discover to the broadcast address names no server.
    let out = alerts("dhcp-fuzz.pcapng", settings);
    assert!(keyed(&out, "unexpected_dhcp_server").is_empty());
}
