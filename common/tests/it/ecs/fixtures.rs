//! Flow records for the ECS tests: realistic flows of several kinds (TLS with
//! risks and TCP analysis, DNS, ICMP, IPv6 HTTP, an interim SSH record) and
//! one full of invalid values.

use std::collections::BTreeMap;

use serde_json::Value;
use sonde_common::ecs::{Observer, flow_document};
use sonde_proto::v1::{
    DnsAnswer, DnsInfo, EndReason, Endpoint, Flow, FlowRisk, HttpInfo, L7, Severity, SshInfo,
    TcpAnalysis, TlsInfo,
};

/// 2026-11-25T10:00:00Z in microseconds.
pub(super) const T0: u64 = 1_795_600_800_000_000;

pub(super) fn observer() -> Observer {
    Observer {
        name: "probe-dc1".into(),
        hostname: Some("sensor1.example.net".into()),
    }
}

fn endpoint(ip: &[u8], port: u32, mac: &[u8]) -> Option<Endpoint> {
    Some(Endpoint {
        ip: ip.to_vec(),
        port,
        mac: mac.to_vec(),
    })
}

fn direction(
    packets: u64,
    bytes: u64,
    payload: u64,
    flags: u32,
) -> Option<sonde_proto::v1::Direction> {
    Some(sonde_proto::v1::Direction {
        packets,
        bytes,
        payload_bytes: payload,
        tcp_flags: flags,
    })
}

pub(super) fn tls_flow() -> Flow {
    Flow {
        interface: "eth1".into(),
        vlan_id: 100,
        ip_protocol: 6,
        client: endpoint(
            &[192, 168, 1, 10],
            51234,
            &[0x00, 0x11, 0x22, 0xaa, 0xbb, 0xcc],
        ),
        server: endpoint(
            &[93, 184, 216, 34],
            443,
            &[0x52, 0x54, 0x00, 0x12, 0x34, 0x56],
        ),
        client_to_server: direction(12, 1800, 1150, 0x1b),
        server_to_client: direction(10, 6400, 5900, 0x1b),
        first_seen_us: T0,
        last_seen_us: T0 + 2_123_456,
        conn_state: "SF".into(),
        history: "ShADadFf".into(),
        end_reason: EndReason::Fin.into(),
        interim: false,
        community_id: "1:LQU9qZlK+B5F3KDmev6m5PMibrg=".into(),
        flow_id: u64::MAX - 1,
        tcp: Some(TcpAnalysis {
            rtt_server_us: 11_000,
            rtt_client_us: 250,
            client_retransmissions: 1,
            goodput_ratio: 0.98,
            ..TcpAnalysis::default()
        }),
        l7: Some(Box::new(L7 {
            protocol: "TLS".into(),
            application: "Amazon".into(),
            category: "Web".into(),
            tls: Some(TlsInfo {
                sni: "www.amazon.com".into(),
                alpn: vec!["h2".into(), "http/1.1".into()],
                client_version: "1.2".into(),
                negotiated_version: "1.3".into(),
                cipher: "TLS_AES_128_GCM_SHA256".into(),
                ja3: "771,4865-4866-4867,0-23-65281,29-23-24,0".into(),
                ja4: "t13d1516h2_8daaf6152771_02713d6af862".into(),
                ja3s: "f4febc55ea12b31ae17cfb7e614afda8".into(),
                server_subject: "CN=www.amazon.com".into(),
                server_issuer: "CN=DigiCert Global CA G2,O=DigiCert Inc,C=US".into(),
                server_not_before_us: 1_767_225_600_000_000,
                server_not_after_us: 1_798_761_599_000_000,
                server_sha1: "9e393d93138888d288266c2d915214d1d1cceb2a".into(),
            }),
            extra: BTreeMap::from([("TLS.Grease".into(), "yes".into())]),
            ..L7::default()
        })),
        risks: vec![FlowRisk {
            name: "TLS Self-signed Certificate".into(),
            severity: Severity::High.into(),
            score: 100,
            info: "CN=www.amazon.com".into(),
        }],
        score: 100,
    }
}

pub(super) fn dns_flow() -> Flow {
    Flow {
        ip_protocol: 17,
        client: endpoint(&[10, 0, 0, 5], 53000, &[]),
        server: endpoint(&[10, 0, 0, 1], 53, &[]),
        client_to_server: direction(1, 72, 44, 0),
        server_to_client: direction(1, 104, 76, 0),
        first_seen_us: T0,
        last_seen_us: T0 + 1500,
        conn_state: "SF".into(),
        history: "Dd".into(),
        end_reason: EndReason::Idle.into(),
        l7: Some(Box::new(L7 {
            protocol: "DNS".into(),
            category: "Network".into(),
            dns: Some(DnsInfo {
                query: "example.com".into(),
                query_type: "A".into(),
                response_code: "NOERROR".into(),
                transaction_id: 62111,
                answers: vec![DnsAnswer {
                    name: "example.com".into(),
                    r#type: "A".into(),
                    data: "93.184.216.34".into(),
                    ttl: 300,
                }],
            }),
            ..L7::default()
        })),
        ..Flow::default()
    }
}

pub(super) fn icmp_flow() -> Flow {
    Flow {
        ip_protocol: 1,
        client: endpoint(&[10, 0, 0, 5], 8, &[]),
        server: endpoint(&[8, 8, 8, 8], 0, &[]),
        client_to_server: direction(4, 336, 224, 0),
        server_to_client: direction(4, 336, 224, 0),
        first_seen_us: T0,
        last_seen_us: T0 + 3_000_000,
        conn_state: "OTH".into(),
        end_reason: EndReason::Idle.into(),
        ..Flow::default()
    }
}

fn v6(last: u8) -> Vec<u8> {
    let mut ip = vec![0x20, 0x01, 0x0d, 0xb8];
    ip.resize(15, 0);
    ip.push(last);
    ip
}

pub(super) fn ipv6_http_flow() -> Flow {
    Flow {
        ip_protocol: 6,
        client: endpoint(&v6(1), 40000, &[]),
        server: endpoint(&v6(2), 8080, &[]),
        client_to_server: direction(5, 700, 300, 0x1a),
        server_to_client: direction(4, 1500, 1100, 0x1a),
        first_seen_us: T0,
        last_seen_us: T0 + 40_000,
        conn_state: "RSTO".into(),
        end_reason: EndReason::Rst.into(),
        l7: Some(Box::new(L7 {
            protocol: "HTTP".into(),
            http: Some(HttpInfo {
                method: "GET".into(),
                host: "[2001:db8::2]:8080".into(),
                url: "/index.html?lang=en".into(),
                user_agent: "curl/8.5.0".into(),
                status: 200,
                content_type: "text/html; charset=UTF-8".into(),
                version: "HTTP/1.1".into(),
            }),
            ..L7::default()
        })),
        ..Flow::default()
    }
}

pub(super) fn interim_ssh_flow() -> Flow {
    Flow {
        ip_protocol: 6,
        client: endpoint(&v6(1), 50022, &[]),
        server: endpoint(&v6(3), 22, &[]),
        client_to_server: direction(800, 90_000, 40_000, 0x18),
        server_to_client: direction(900, 1_200_000, 1_100_000, 0x18),
        first_seen_us: T0,
        last_seen_us: T0 + 300_000_000,
        conn_state: "S1".into(),
        end_reason: EndReason::ActiveTimeout.into(),
        interim: true,
        flow_id: 7,
        l7: Some(Box::new(L7 {
            protocol: "SSH".into(),
            ssh: Some(SshInfo {
                client_software: "SSH-2.0-OpenSSH_9.6".into(),
                server_software: "SSH-2.0-OpenSSH_8.9p1".into(),
            }),
            ..L7::default()
        })),
        ..Flow::default()
    }
}

pub(super) fn garbage_flow() -> Flow {
    Flow {
        ip_protocol: 6,
        client: endpoint(&[1, 2, 3], 70_000, &[1, 2, 3]),
        server: endpoint(&[0; 17], 80, &[0; 5]),
        first_seen_us: u64::MAX,
        last_seen_us: T0,
        vlan_id: 5000,
        end_reason: 42,
        tcp: Some(TcpAnalysis {
            goodput_ratio: f64::NAN,
            ..TcpAnalysis::default()
        }),
        l7: Some(Box::new(L7 {
            protocol: "Unknown".into(),
            tls: Some(TlsInfo {
                negotiated_version: " ".into(),
                server_not_before_us: u64::MAX,
                server_sha1: "not-hex".into(),
                ..TlsInfo::default()
            }),
            dns: Some(DnsInfo::default()),
            http: Some(HttpInfo {
                status: 70_000,
                ..HttpInfo::default()
            }),
            extra: BTreeMap::from([("..".into(), "x".into()), ("k".into(), String::new())]),
            ..L7::default()
        })),
        risks: vec![FlowRisk {
            severity: 99,
            ..FlowRisk::default()
        }],
        ..Flow::default()
    }
}

pub(super) fn realistic() -> Vec<(&'static str, Value)> {
    let o = observer();
    vec![
        ("tls", flow_document(&tls_flow(), &o)),
        ("dns", flow_document(&dns_flow(), &o)),
        ("icmp", flow_document(&icmp_flow(), &o)),
        ("ipv6 http", flow_document(&ipv6_http_flow(), &o)),
        ("interim ssh", flow_document(&interim_ssh_flow(), &o)),
    ]
}
