#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use sonde_proto::v1;

use super::*;
use crate::classify::testing::{OwnedPacket, every_prefix, flows, l7_name, payloads};
use crate::classify::{Kind, Parse};

fn risks(f: &v1::Flow) -> Vec<&str> {
    f.risks.iter().map(|r| r.name.as_str()).collect()
}

fn dns(f: &v1::Flow) -> &v1::DnsInfo {
    f.l7.as_ref()
        .and_then(|l| l.dns.as_ref())
        .expect("dns metadata")
}

/// The flow whose DNS query is `name`.
fn flow_of<'a>(all: &'a [v1::Flow], name: &str) -> &'a v1::Flow {
    all.iter()
        .find(|f| {
            f.l7.as_ref()
                .and_then(|l| l.dns.as_ref())
                .is_some_and(|d| d.query == name)
        })
        .unwrap_or_else(|| panic!("no flow for {name}"))
}

fn master(f: &v1::Flow) -> &str {
    f.l7.as_ref().map_or("", |l| l.protocol.as_str())
}

#[test]
fn dns_pcap_gives_the_query_names_and_google() {
    // (The capture's other flow, e7.whatsapp.net, is in QinQ + PPPoE, which
    // the decoder does not read yet.)
    let all = flows("dns.pcap");
    // The query was missed: the response alone tells.
    let google = flow_of(&all, "www.l.google.com");
    assert_eq!(l7_name(google), "DNS.Google");
    assert_eq!(dns(google).query_type, "AAAA");
    assert!(google.risks.is_empty());
}

#[test]
fn nxdomain_is_an_error_code() {
    let all = flows("dns_long_domainname.pcap");
    let f = flow_of(&all, "gmr02c.16.0.fhkfhsdkfhsk.tunnel.example.com");
    assert_eq!(l7_name(f), "DNS");
    assert_eq!(dns(f).response_code, "NXDOMAIN");
    assert_eq!(risks(f), ["Error Code"]);
    assert_eq!(f.risks[0].info, "DNS Error Code NXDOMAIN");
}

#[test]
fn fragmented_responses_are_large_and_fragmented() {
    let all = flows("dns_fragmented.pcap");
    let dns_flows: Vec<_> = all.iter().filter(|f| master(f) == "DNS").collect();
    assert_eq!(dns_flows.len(), 21, "every flow is DNS");
    let mut fragmented = 0;
    let mut large = 0;
    for f in &dns_flows {
        let r = risks(f);
        fragmented += usize::from(r.contains(&"Fragmented DNS Message"));
        large += usize::from(r.contains(&"Large DNS Packet (512+ bytes)"));
        assert!(!r.contains(&"Malformed Packet"), "{:?}", dns(f).query);
    }
    assert_eq!((fragmented, large), (7, 9));
    // Over TCP, the length-prefixed messages are reassembled.
    let tcp: Vec<_> = dns_flows.iter().filter(|f| f.ip_protocol == 6).collect();
    assert_eq!(tcp.len(), 2);
    for f in tcp {
        let d = dns(f);
        assert_eq!(d.query, "weberlab.de");
        assert_eq!(d.response_code, "NOERROR");
        assert!(!d.answers.is_empty());
    }
    let servfail = flow_of(&all, "sigfail.verteiltesysteme.net");
    assert_eq!(servfail.risks[0].info, "DNS Error Code SERVFAIL");
}

#[test]
fn a_malformed_response_is_flagged_not_fragmented() {
    let all = flows("malformed_dns.pcap");
    assert_eq!(all.len(), 1);
    let f = &all[0];
    assert_eq!(l7_name(f), "DNS");
    assert_eq!(dns(f).query, "www.xt.com");
    let r = risks(f);
    assert!(r.contains(&"Malformed Packet"), "{r:?}");
    assert!(r.contains(&"Large DNS Packet (512+ bytes)"), "{r:?}");
    assert!(!r.contains(&"Fragmented DNS Message"), "{r:?}");
}

#[test]
fn mdns_queries_are_mdns_with_the_service_name() {
    let all = flows("whatsapp_login_chat.pcap");
    let mdns: Vec<_> = all.iter().filter(|f| master(f) == "MDNS").collect();
    assert_eq!(mdns.len(), 2);
    for f in mdns {
        assert_eq!(dns(f).query, "_raop._tcp.local");
        assert_eq!(dns(f).query_type, "PTR");
    }
    let wa = flow_of(&all, "e12.whatsapp.net");
    assert_eq!(master(wa), "DNS");
    let d = dns(wa);
    assert_eq!(
        (d.query_type.as_str(), d.response_code.as_str()),
        ("A", "NOERROR")
    );
    assert_eq!(d.answers.len(), 8);
    assert!(
        d.answers
            .iter()
            .any(|a| a.data == "184.173.179.47" && a.r#type == "A")
    );
}

fn dns_packets(name: &str) -> Vec<OwnedPacket> {
    payloads(name)
        .into_iter()
        .filter(|p| p.src_port == 53 || p.dst_port == 53 || p.src_port == 5353)
        .collect()
}

#[test]
fn every_cut_of_a_query_or_response_is_safe() {
    for name in [
        "dns.pcap",
        "dns_long_domainname.pcap",
        "malformed_dns.pcap",
        "whatsapp_login_chat.pcap",
        "dns_fragmented.pcap",
    ] {
        for p in dns_packets(name).iter().take(12) {
            let from_client = p.dst_port == 53 || p.dst_port == 5353;
            let results = every_prefix(Kind::Dns, p, from_client);
            let is_tcp = p.transport == Transport::Tcp;
            for (len, r) in results.iter().enumerate() {
                if len + 1 == results.len() {
                    continue;
                }
                if is_tcp {
                    // A cut TCP message waits for the rest.
                    assert_ne!(*r, Parse::Done, "{name}: cut at {len}");
                    continue;
                }
                // A cut header or question is never taken for a message.
                if len < HEADER_LEN + 5 {
                    assert_eq!(*r, Parse::Invalid, "{name}: cut at {len}");
                }
            }
        }
    }
}

#[test]
fn a_cut_response_keeps_what_it_read_and_says_fragmented() {
    let p = dns_packets("whatsapp_login_chat.pcap")
        .into_iter()
        .find(|p| p.src_port == 53)
        .unwrap();
    // Cut inside the first answer (header and question are 34 bytes long).
    let cut = OwnedPacket {
        payload: p.payload[..40].to_vec(),
        ..p.clone()
    };
    let mut out = Findings::default();
    let mut parser = Parser::default();
    assert_eq!(parser.parse(&cut.view(false), &mut out), Parse::Done);
    assert!(out.risks.has(Risk::DnsFragmented));
    assert_eq!(out.host, "e12.whatsapp.net");
    assert!(out.l7.dns.as_ref().unwrap().answers.is_empty());
}

#[test]
fn other_protocols_on_port_53_are_not_claimed() {
    // RTP, STUN, QUIC and TLS payloads sent to port 53.
    for name in [
        "sip.pcap",
        "stun.pcap",
        "quic-29.pcap",
        "443-chrome.pcap",
        "wireguard.pcap",
        "bittorrent_utp.pcap",
    ] {
        for p in payloads(name).iter().take(40) {
            let moved = OwnedPacket {
                dst_port: 53,
                src_port: 40000,
                ..p.clone()
            };
            assert_ne!(
                probe(&moved.view(true)),
                Probe::Match,
                "{name}: {:02x?}",
                &p.payload[..p.payload.len().min(16)]
            );
        }
    }
    // And DNS elsewhere than on its ports is not DNS to this probe.
    let p = &dns_packets("dns.pcap")[0];
    let moved = OwnedPacket {
        dst_port: 40001,
        src_port: 40000,
        ..p.clone()
    };
    assert_eq!(probe(&moved.view(true)), Probe::NoMatch);
}

#[test]
fn a_long_first_label_is_suspicious_traffic() {
    let mut msg = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    msg.push(60);
    msg.extend_from_slice(&[b'a'; 60]);
    msg.extend_from_slice(b"\x07example\x03com\x00\x00\x10\x00\x01");
    let p = OwnedPacket {
        payload: msg,
        src_port: 40000,
        dst_port: 53,
        transport: Transport::Udp,
        tcp_seq: None,
        ts_us: 0,
    };
    assert_eq!(probe(&p.view(true)), Probe::Match);
    let mut out = Findings::default();
    assert_eq!(
        Parser::default().parse(&p.view(true), &mut out),
        Parse::Incomplete
    );
    assert!(out.risks.has(Risk::DnsSuspiciousTraffic));
    assert_eq!(out.l7.dns.as_ref().unwrap().query_type, "TXT");
}

fn query(name: &[u8], qtype: u16, flags: u16) -> Vec<u8> {
    let mut msg = vec![0xab, 0xcd];
    msg.extend_from_slice(&flags.to_be_bytes());
    msg.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split(|&b| b == b'.') {
        msg.push(label.len() as u8);
        msg.extend_from_slice(label);
    }
    msg.push(0);
    msg.extend_from_slice(&qtype.to_be_bytes());
    msg.extend_from_slice(&[0, 1]);
    msg
}

#[test]
fn llmnr_queries_are_llmnr() {
    let p = OwnedPacket {
        payload: query(b"wpad", 1, 0),
        src_port: 50000,
        dst_port: 5355,
        transport: Transport::Udp,
        tcp_seq: None,
        ts_us: 0,
    };
    assert_eq!(probe(&p.view(true)), Probe::Match);
    let mut out = Findings::default();
    assert_eq!(
        Parser::default().parse(&p.view(true), &mut out),
        Parse::Done
    );
    assert_eq!(out.protocol, Protocol::Llmnr);
    assert_eq!(out.host, "wpad");
}

#[test]
fn an_mdns_announcement_is_named_by_its_first_record() {
    // A response without a question: one PTR record.
    let mut msg = vec![0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0];
    msg.extend_from_slice(b"\x05_raop\x04_tcp\x05local\x00\x00\x0c\x00\x01\x00\x00\x11\x94");
    msg.extend_from_slice(b"\x00\x07\x04host\xc0\x0c");
    let p = OwnedPacket {
        payload: msg,
        src_port: 5353,
        dst_port: 5353,
        transport: Transport::Udp,
        tcp_seq: None,
        ts_us: 0,
    };
    assert_eq!(probe(&p.view(true)), Probe::Match);
    let mut out = Findings::default();
    assert_eq!(
        Parser::default().parse(&p.view(true), &mut out),
        Parse::Done
    );
    assert_eq!(out.protocol, Protocol::Mdns);
    assert_eq!(out.host, "_raop._tcp.local");
    let answers = &out.l7.dns.as_ref().unwrap().answers;
    assert_eq!(answers[0].data, "host._raop._tcp.local");
    assert_eq!(answers[0].r#type, "PTR");
}

#[test]
fn a_tcp_query_split_over_segments_is_reassembled() {
    let msg = query(b"www.example.org", 65, 0x0100);
    let mut framed = (msg.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&msg);
    let (a, b) = framed.split_at(20);
    let seg = |payload: &[u8], seq: u32| OwnedPacket {
        payload: payload.to_vec(),
        src_port: 50000,
        dst_port: 53,
        transport: Transport::Tcp,
        tcp_seq: Some(seq),
        ts_us: 0,
    };
    let (first, second) = (seg(a, 1000), seg(b, 1020));
    assert_eq!(probe(&first.view(true)), Probe::Match);
    let mut parser = Parser::default();
    let mut out = Findings::default();
    assert_eq!(parser.parse(&first.view(true), &mut out), Parse::Incomplete);
    assert!(out.host.is_empty());
    assert_eq!(
        parser.parse(&second.view(true), &mut out),
        Parse::Incomplete
    );
    assert_eq!(out.host, "www.example.org");
    assert_eq!(out.l7.dns.as_ref().unwrap().query_type, "HTTPS");
    // A segment after a gap ends DPI with what was read.
    assert_eq!(
        parser.parse(&seg(b"xx", 9000).view(true), &mut out),
        Parse::Skip
    );
    assert_eq!(out.host, "www.example.org");
}
