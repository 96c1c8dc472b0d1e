#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use super::super::testing::{OwnedPacket, every_prefix, flows, l7_name, payloads};
use super::super::{DpiSettings, Findings, FlowDpi, Kind, Parse, Probe, Protocol, on_packet};
use super::*;

/// The findings of the packets of `pcap` between ports `a` and `b`, fed to
/// the DPI driver in capture order (the first sender is the client).
pub(crate) fn findings_of(pcap: &str, a: u16, b: u16) -> Findings {
    let pkts: Vec<OwnedPacket> = payloads(pcap)
        .into_iter()
        .filter(|p| (p.src_port, p.dst_port) == (a, b) || (p.src_port, p.dst_port) == (b, a))
        .collect();
    let client = pkts.first().expect("no such flow").src_port;
    let mut dpi: Option<Box<FlowDpi>> = None;
    for (i, p) in pkts.iter().enumerate() {
        let mut view = p.view(p.src_port == client);
        view.packet_no = u32::try_from(i + 1).unwrap();
        if i < 32 {
            on_packet(&mut dpi, &view, &DpiSettings::default());
        }
    }
    let dpi = dpi.expect("no payload");
    let f = dpi.findings().expect("not claimed");
    Findings {
        protocol: f.protocol,
        sub_protocol: f.sub_protocol,
        application: f.application,
        host: f.host.clone(),
        l7: f.l7.clone(),
        risks: f.risks.clone(),
    }
}

fn extra<'a>(f: &'a Findings, key: &str) -> &'a str {
    f.l7.extra.get(key).map_or("", String::as_str)
}

#[test]
fn a_facebook_turn_realm_gives_facebook_voip_and_the_turn_addresses() {
    let f = findings_of("stun.pcap", 38123, 40003);
    assert_eq!(f.protocol, Protocol::Stun);
    assert_eq!(f.application, Some("FacebookVoip"));
    assert_eq!(f.host, "turner.facebook");
    assert_eq!(extra(&f, "stun.mapped_address"), "93.47.226.1:11162");
    assert_eq!(extra(&f, "stun.peer_address"), "192.168.0.102:44459");
    assert_eq!(extra(&f, "stun.relayed_address"), "31.13.86.54:53789");
}

#[test]
fn a_google_realm_gives_google_call() {
    let f = findings_of("stun.pcap", 43016, 3478);
    assert_eq!(f.application, Some("GoogleCall"));
    assert_eq!(f.host, "turn.l.google.com");
    assert_eq!(extra(&f, "stun.mapped_address"), "93.47.225.225:23616");
    assert_eq!(extra(&f, "stun.relayed_address"), "10.2.0.86:44908");
}

#[test]
fn stun_over_tcp_with_microsoft_attributes_is_skype_teams_call() {
    let f = findings_of("stun.pcap", 41588, 42000);
    assert_eq!(f.protocol, Protocol::Stun);
    assert_eq!(f.application, Some("Skype_TeamsCall"));
    assert_eq!(extra(&f, "stun.mapped_address"), "10.77.110.51:41588");
}

#[test]
fn stun_over_tcp_without_framing_keeps_its_realm() {
    let f = findings_of("stun.pcap", 37257, 3478);
    assert_eq!(f.protocol, Protocol::Stun);
    assert_eq!(f.application, None);
    assert_eq!(f.host, "apps-host.com");
    assert_eq!(extra(&f, "stun.mapped_address"), "5.37.217.126:37257");
    assert_eq!(extra(&f, "stun.relayed_address"), "66.55.92.16:40576");
}

#[test]
fn ipv6_binding_responses_give_the_plain_and_other_addresses() {
    let f = findings_of("stun.pcap", 56880, 3478);
    assert_eq!(f.protocol, Protocol::Stun);
    assert_eq!(
        extra(&f, "stun.mapped_address"),
        "[2001:1670:c:eb04:70af:f67f:8e49:f603]:56880"
    );
    let f = findings_of("stun.pcap", 3478, 48094);
    assert_eq!(f.protocol, Protocol::Stun);
    assert_eq!(
        extra(&f, "stun.mapped_address"),
        "[2001:b07:a3d:c112:48a1:1094:1227:281e]:48094"
    );
    assert_eq!(
        extra(&f, "stun.response_origin"),
        "[2600:1900:4160:5999:0:19::]:3478"
    );
    assert_eq!(
        extra(&f, "stun.other_address"),
        "[2600:1900:4160:5999:0:19::]:80"
    );
}

#[test]
fn stun_followed_by_dtls_becomes_dtls() {
    let f = findings_of("stun.pcap", 49153, 3478);
    assert_eq!(f.protocol, Protocol::Dtls);
    assert_eq!(extra(&f, "stun.mapped_address"), "93.47.225.70:12165");
    assert_eq!(f.l7.tls.as_ref().unwrap().negotiated_version, "1.2");
    let f = findings_of("stun_zoom.pcapng", 53065, 8801);
    assert_eq!(f.protocol, Protocol::Dtls);
    assert_eq!(extra(&f, "stun.mapped_address"), "93.33.105.111:8466");
    assert_eq!(f.host, "");
}

#[test]
fn a_dtls_server_certificate_in_fragments_names_the_server() {
    // nDPI: DTLS.Zoom from the certificate's names (no SNI in WebRTC).
    let f = findings_of("stun_zoom.pcapng", 48854, 8801);
    assert_eq!(f.protocol, Protocol::Dtls);
    assert_eq!(extra(&f, "tls.server_names"), "*.cloud.zoom.us");
    assert_eq!(f.host, "cloud.zoom.us");
    // Google's WebRTC certificate has only a subject CN.
    let f = findings_of("stun.pcap", 49153, 3478);
    assert_eq!(extra(&f, "tls.server_names"), "hangouts");
}

#[test]
fn whatsapp_attributes_give_whatsapp_call() {
    let f = findings_of("whatsapp_voice_and_message.pcap", 53620, 3478);
    assert_eq!(f.protocol, Protocol::Stun);
    assert_eq!(f.application, Some("WhatsAppCall"));
    assert!(extra(&f, "stun.mapped_address").starts_with("191.162.107.92:"));
}

#[test]
fn captures_give_the_master_protocols_ndpi_gives() {
    let names = |pcap: &str| -> Vec<(u32, u32, String)> {
        flows(pcap)
            .iter()
            .map(|f| {
                let c = f.client.as_ref().unwrap().port;
                let s = f.server.as_ref().unwrap().port;
                (c.min(s), c.max(s), l7_name(f))
            })
            .collect()
    };
    let stun = names("stun.pcap");
    let master = |ports: (u32, u32)| {
        stun.iter()
            .find(|(a, b, _)| (*a, *b) == ports)
            .map(|(_, _, n)| n.split('.').next().unwrap().to_owned())
            .unwrap()
    };
    assert_eq!(master((38123, 40003)), "STUN");
    assert_eq!(master((3478, 49153)), "DTLS");
    assert_eq!(master((3478, 56880)), "STUN");
    assert_eq!(master((3478, 37257)), "STUN");
    assert_eq!(master((41588, 42000)), "STUN");
    assert_eq!(master((3478, 43016)), "STUN");
    assert_eq!(master((8801, 48854)), "DTLS");
    assert_eq!(master((3478, 48094)), "STUN");
    for (_, _, name) in names("whatsapp_voice_and_message.pcap")
        .iter()
        .filter(|(a, b, _)| (*a, *b) == (3478, 53620))
    {
        assert!(name.starts_with("STUN"), "{name}");
    }
}

#[test]
fn cut_stun_messages_never_panic_nor_finish() {
    for pcap in ["stun.pcap", "whatsapp_voice_and_message.pcap"] {
        for p in payloads(pcap)
            .iter()
            .filter(|p| p.payload.first() <= Some(&1))
        {
            for (len, verdict) in every_prefix(Kind::Stun, p, true).iter().enumerate() {
                if len < p.payload.len() {
                    assert_ne!(*verdict, Parse::Done, "{pcap}: cut at {len}");
                }
            }
            // Over UDP the header's length must match: a cut message is
            // never taken for STUN.
            if p.transport == Transport::Udp {
                for len in 0..p.payload.len() {
                    let cut = OwnedPacket {
                        payload: p.payload.get(..len).unwrap().to_vec(),
                        ..p.clone()
                    };
                    assert_ne!(probe(&cut.view(true)), Probe::Match, "{pcap}: cut at {len}");
                }
            }
        }
    }
}

#[test]
fn other_protocols_are_not_stun() {
    for pcap in [
        "dns.pcap",
        "quic-29.pcap",
        "443-chrome.pcap",
        "http.pcapng",
        "sip.pcap",
        "wireguard.pcap",
        "zoom2.pcap",
        "bittorrent_utp.pcap",
        "NTPv4.pcap",
    ] {
        for p in payloads(pcap) {
            assert_ne!(
                Kind::Stun.probe_for_test(&p.to_server()),
                Probe::Match,
                "{pcap}: {:02x?}",
                p.payload.get(..8)
            );
        }
    }
}

#[test]
fn a_legacy_text_reply_is_stun_without_metadata() {
    let pkt = OwnedPacket {
        payload: b"RSP/1.0 STUN_OK\r\n".to_vec(),
        src_port: 3478,
        dst_port: 40000,
        transport: Transport::Udp,
        tcp_seq: None,
        ts_us: 0,
    };
    assert_eq!(probe(&pkt.view(true)), Probe::Match);
    let mut out = Findings::default();
    assert_eq!(
        Parser::default().parse(&pkt.view(true), &mut out),
        Parse::Incomplete
    );
    assert!(out.l7.extra.is_empty() && out.application.is_none());
}

#[test]
fn classic_stun_needs_attributes_that_tile_the_message() {
    // RFC 3489 Binding Request with a CHANGE-REQUEST attribute, no cookie.
    let mut msg = vec![0x00, 0x01, 0x00, 0x08];
    msg.extend_from_slice(&[7; 16]);
    msg.extend_from_slice(&[0x00, 0x03, 0x00, 0x04, 0, 0, 0, 0]);
    assert!(message(&msg, Transport::Udp).is_some());
    let last = msg.len() - 1;
    msg[last - 5] = 0x05; // attribute length 5: overruns the message
    assert!(message(&msg, Transport::Udp).is_none());
}

mod never_panic {
    use proptest::prelude::*;

    use super::super::super::testing::OwnedPacket;
    use super::super::super::{Findings, Kind, Transport};

    /// Openings of the formats these classifiers read, so random tails reach
    /// past the first checks.
    const PREFIXES: [&[u8]; 9] = [
        b"",
        &[0x00, 0x01, 0x00, 0x10, 0x21, 0x12, 0xa4, 0x42],
        &[0x16, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x20, 0x0b],
        b"INVITE sip:a@b SIP/2.0\r\nFrom: ",
        &[0x80, 0x08, 0x00, 0x01],
        b"\x13BitTorrent protocol",
        &[0x04, 0, 0, 0],
        &[0x00, 0x2a, 0x38],
        &[0x05, 0x00, 0x01, 0x00, 0x4f, 0x83, 0x78, 0x00, 0x0f],
    ];
    const KINDS: [Kind; 7] = [
        Kind::Stun,
        Kind::Dtls,
        Kind::Vpn,
        Kind::BitTorrent,
        Kind::Sip,
        Kind::Rtp,
        Kind::Zoom,
    ];

    proptest! {
        #[test]
        fn random_payloads_never_panic_any_real_time_or_vpn_classifier(
            prefix in 0..PREFIXES.len(),
            tails in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..96), 1..4),
            tcp in any::<bool>(),
            port in prop_oneof![Just(3478u16), Just(8801), Just(5060), Just(1194), any::<u16>()],
        ) {
            for kind in KINDS {
                let mut parser = kind.start_for_test();
                let mut out = Findings::default();
                for (i, tail) in tails.iter().enumerate() {
                    let mut payload = PREFIXES[prefix].to_vec();
                    payload.extend_from_slice(tail);
                    let pkt = OwnedPacket {
                        payload,
                        src_port: 40000,
                        dst_port: port,
                        transport: if tcp { Transport::Tcp } else { Transport::Udp },
                        tcp_seq: tcp.then_some(1),
                        ts_us: 0,
                    };
                    let view = pkt.view(i % 2 == 0);
                    let _ = kind.probe_for_test(&view);
                    let _ = parser.parse(&view, &mut out);
                }
            }
        }
    }
}
