#![allow(clippy::unwrap_used, reason = "tests")]

use sonde_proto::v1;

use super::*;
use crate::classify::Kind;
use crate::classify::testing::{OwnedPacket, every_prefix, flows, l7_name, payloads};

fn extra<'a>(f: &'a v1::Flow, key: &str) -> Option<&'a str> {
    f.l7.as_ref()?.extra.get(key).map(String::as_str)
}

fn count(all: &[v1::Flow], name: &str) -> usize {
    all.iter().filter(|f| l7_name(f) == name).count()
}

fn udp(payload: &[u8], src_port: u16, dst_port: u16) -> OwnedPacket {
    OwnedPacket {
        payload: payload.to_vec(),
        src_port,
        dst_port,
        transport: Transport::Udp,
        tcp_seq: None,
        ts_us: 0,
    }
}

fn parse(p: &OwnedPacket) -> (Parse, Findings) {
    let mut out = Findings::default();
    let r = Parser.parse(&p.view(true), &mut out);
    (r, out)
}

#[test]
fn ntpv4_is_ntp_with_version_and_mode() {
    let all = flows("NTPv4.pcap");
    assert_eq!(all.len(), 1);
    assert_eq!(l7_name(&all[0]), "NTP");
    assert_eq!(extra(&all[0], "ntp.version"), Some("4"));
    assert_eq!(extra(&all[0], "ntp.mode"), Some("client"));
}

#[test]
fn lan_discovery_of_whatsapp_login_chat_is_dropbox_and_spotify() {
    let all = flows("whatsapp_login_chat.pcap");
    assert_eq!(count(&all, "Dropbox"), 1);
    assert_eq!(count(&all, "Spotify"), 1);
    // tor.pcap's announcements are minutes apart: the flow may be cut in
    // several records, each Dropbox.
    let tor = flows("tor.pcap");
    let lan_sync = tor
        .iter()
        .filter(|f| f.server.as_ref().is_some_and(|s| s.port == 17500));
    assert!(lan_sync.clone().count() >= 1);
    assert!(lan_sync.into_iter().all(|f| l7_name(f) == "Dropbox"));
}

#[test]
fn an_m_search_on_another_port_is_ssdp() {
    let all = flows("ssdp-m-search.pcap");
    assert_eq!(all.len(), 1);
    assert_eq!(l7_name(&all[0]), "SSDP");
    assert_eq!(extra(&all[0], "ssdp.method"), Some("M-SEARCH"));
}

#[test]
fn a_notify_gives_target_and_server() {
    let p = udp(
        b"NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nNT: upnp:rootdevice\r\nSERVER: Linux/3.0 UPnP/1.0\r\n\r\n",
        1900,
        1900,
    );
    let (r, out) = parse(&p);
    assert_eq!(r, Parse::Done);
    assert_eq!(out.protocol, Protocol::Ssdp);
    assert_eq!(out.l7.extra["ssdp.target"], "upnp:rootdevice");
    assert_eq!(out.l7.extra["ssdp.user_agent"], "Linux/3.0 UPnP/1.0");
}

#[test]
fn snmp_gives_version_community_and_pdu() {
    let p = udp(snmp::GET, 40000, 161);
    assert_eq!(probe(&p.view(true)), Probe::Match);
    let (r, out) = parse(&p);
    assert_eq!(r, Parse::Done);
    assert_eq!(out.protocol, Protocol::Snmp);
    assert_eq!(out.l7.extra["snmp.version"], "2c");
    assert_eq!(out.l7.extra["snmp.community"], "public");
    assert_eq!(out.l7.extra["snmp.pdu"], "GetRequest");
}

#[test]
fn syslog_needs_a_valid_pri() {
    let p = udp(
        b"<34>1 2003-10-11T22:14:15.003Z host su - ID47 - msg",
        40000,
        514,
    );
    let (r, out) = parse(&p);
    assert_eq!(r, Parse::Done);
    assert_eq!(out.protocol, Protocol::Syslog);
    assert_eq!(out.l7.extra["syslog.facility"], "4");
    assert_eq!(out.l7.extra["syslog.severity"], "2");
    for bad in [&b"<192>x"[..], b"<01>x", b"<>x", b"<1234>", b"34>", b"<3"] {
        assert_eq!(syslog_pri(bad), None, "{bad:?}");
    }
    assert_eq!(syslog_pri(b"<0>x"), Some(0));
}

#[test]
fn every_cut_is_safe_and_a_cut_ntp_header_is_not_ntp() {
    let mut packets = payloads("NTPv4.pcap");
    packets.extend(payloads("ssdp-m-search.pcap").into_iter().take(1));
    packets.extend(
        payloads("whatsapp_login_chat.pcap")
            .into_iter()
            .filter(|p| p.dst_port == 17500 || p.dst_port == 57621),
    );
    packets.push(udp(snmp::GET, 40000, 161));
    assert!(packets.len() >= 5);
    for p in &packets {
        let results = every_prefix(Kind::MiscUdp, p, true);
        assert_eq!(results.last(), Some(&Parse::Done));
        if p.dst_port == 123 || p.dst_port == 161 {
            for r in &results[..results.len() - 1] {
                assert_eq!(*r, Parse::Invalid);
            }
        }
    }
}

#[test]
fn other_protocols_on_these_ports_are_not_claimed() {
    for name in [
        "dns.pcap",
        "sip.pcap",
        "stun.pcap",
        "quic-29.pcap",
        "bittorrent_utp.pcap",
    ] {
        for p in payloads(name).iter().take(40) {
            for port in [161, 514, 17500] {
                let moved = udp(&p.payload, 40000, port);
                assert_eq!(probe(&moved.view(true)), Probe::NoMatch, "{name} on {port}");
            }
        }
    }
}

#[test]
fn rtp_and_stun_on_the_ntp_port_are_mostly_not_ntp() {
    // NTP's header is loose (one byte checked): count, do not forbid.
    let mut claimed = 0;
    let mut total = 0;
    for name in ["sip.pcap", "stun.pcap"] {
        for p in payloads(name).iter().take(40) {
            total += 1;
            let moved = udp(&p.payload, 40000, 123);
            claimed += usize::from(probe(&moved.view(true)) == Probe::Match);
        }
    }
    assert!(claimed * 4 < total, "{claimed} of {total}");
}
