//! Telnet and IRC classifier tests: irc.pcap, segments, login typing,
//! probes, other protocols, every prefix and every real payload.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use super::super::testing::{OwnedPacket, every_prefix, flows, l7_name, payloads};
use super::super::{Findings, Kind};
use super::*;

fn run(server_port: u16, packets: &[(&[u8], bool)]) -> (Parse, Findings) {
    let mut parser = Parser::default();
    crate::classify::testing::feed_tcp(server_port, packets, |p, out| parser.parse(p, out))
}

#[test]
fn irc_pcap_is_irc_with_the_user_name() {
    let flows = flows("irc.pcap");
    let f = flows
        .iter()
        .find(|f| l7_name(f) == "IRC")
        .expect("an IRC flow");
    let extra = &f.l7.as_ref().unwrap().extra;
    assert_eq!(extra.get("irc.user").map(String::as_str), Some("xxxxx"));
    assert_eq!(
        extra.get("irc.nick").map(String::as_str),
        Some("molochtest")
    );
    let names: Vec<_> = f.risks.iter().map(|r| r.name.as_str()).collect();
    for r in [
        "Known Proto on Non Std Port",
        "Unsafe Protocol",
        "Clear-Text Credentials",
    ] {
        assert!(names.contains(&r), "{r} missing: {names:?}");
    }
    let info = f
        .risks
        .iter()
        .find(|r| r.name == "Clear-Text Credentials")
        .unwrap();
    assert_eq!(info.info, "Found IRC username (xxxxx)");
}

#[test]
fn irc_lines_split_over_segments_are_read() {
    let (parse, out) = run(
        6667,
        &[
            (b"NICK al", true),
            (b"ice\r\nUSER alice 0 * :Alice\r\n", true),
            (b":irc.example 001 alice :Welcome\r\n", false),
        ],
    );
    assert_eq!(parse, Parse::Done);
    assert_eq!(out.protocol, Protocol::Irc);
    assert_eq!(
        out.l7.extra.get("irc.nick").map(String::as_str),
        Some("alice")
    );
    assert_eq!(
        out.l7.extra.get("irc.user").map(String::as_str),
        Some("alice")
    );
}

#[test]
fn telnet_login_names_the_user_typed_one_key_at_a_time() {
    let mut packets: Vec<(&[u8], bool)> = vec![
        (b"\xff\xfd\x18\xff\xfd\x20\xff\xfd\x23\xff\xfd\x27", false),
        (b"\xff\xfb\x18\xff\xfb\x20", true),
        (b"\r\nUbuntu 22.04 LTS\r\nhost login: ", false),
    ];
    for key in [&b"r"[..], b"o", b"o", b"t"] {
        packets.push((key, true));
        packets.push((key, false)); // the echo
    }
    packets.push((b"\r\x00", true));
    let (parse, out) = run(23, &packets);
    assert_eq!(parse, Parse::Done);
    assert_eq!(out.protocol, Protocol::Telnet);
    assert_eq!(
        out.l7.extra.get("telnet.user").map(String::as_str),
        Some("root")
    );
    assert_eq!(
        out.risks.info(Risk::ClearTextCredentials),
        Some("Found Telnet username (root)")
    );
}

#[test]
fn telnet_data_skips_negotiation() {
    assert_eq!(
        telnet_data(b"\xff\xfb\x01ab\xff\xffc\xff\xfa\x18\x01\xff\xf0d"),
        b"ab\xffcd"
    );
}

fn probe_of(bytes: &[u8]) -> Probe {
    let p = OwnedPacket::tcp(bytes, true, 6667, 0);
    probe(&p.view(true))
}

#[test]
fn the_probe_wants_negotiation_or_irc_registration() {
    assert_eq!(probe_of(b"\xff\xfd\x18\xff\xfd\x20"), Probe::Match);
    assert_eq!(probe_of(b"\xff"), Probe::Unsure);
    assert_eq!(probe_of(b"NICK bob\r\n"), Probe::Match);
    assert_eq!(
        probe_of(b"USER xxxxx +iw xxxxx :Xxxxxx Xxxx\r\n"),
        Probe::Match
    );
    assert_eq!(
        probe_of(b":card.freenode.net NOTICE * :*** Looking up\r\n"),
        Probe::Match
    );
    assert_eq!(probe_of(b":server 001 bob :Welcome\r\n"), Probe::Match);
    assert_eq!(probe_of(b"PASS secret\r\n"), Probe::Unsure);
    assert_eq!(probe_of(b"USER bob\r\n"), Probe::NoMatch);
    assert_eq!(probe_of(b"GET / HTTP/1.1\r\n"), Probe::NoMatch);
    assert_eq!(probe_of(b"220 mail ESMTP\r\n"), Probe::NoMatch);
}

#[test]
fn other_protocols_are_not_claimed() {
    crate::classify::testing::assert_not_claimed(
        probe,
        &[
            "dns.pcap",
            "443-chrome.pcap",
            "ssh.pcap",
            "http.pcapng",
            "smtp.pcap",
            "pop3.pcap",
            "imap.pcap",
            "ftp_failed.pcap",
            "quic-29.pcap",
        ],
    );
}

#[test]
fn no_real_payload_makes_a_text_parser_panic() {
    let dir = super::super::testing::testdata("ndpi/pcap");
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        for kind in [Kind::Http, Kind::Mail, Kind::TextTcp] {
            let mut parser = kind.start_for_test();
            let mut out = Findings::default();
            for p in payloads(&name)
                .iter()
                .filter(|p| p.transport == Transport::Tcp)
            {
                for from_client in [true, false] {
                    let _ = kind.probe_for_test(&p.view(from_client));
                }
                if parser.parse(&p.to_server(), &mut out) != Parse::Incomplete {
                    parser = kind.start_for_test();
                    out = Findings::default();
                }
            }
        }
    }
}

#[test]
fn every_prefix_of_irc_lines_is_safe() {
    for p in payloads("irc.pcap").iter().take(10) {
        for from_client in [true, false] {
            for (len, parse) in every_prefix(Kind::TextTcp, p, from_client)
                .into_iter()
                .enumerate()
            {
                let cut = p.payload.get(..len).unwrap();
                if !cut.contains(&b'\n') {
                    assert_ne!(parse, Parse::Done, "cut at {len}");
                }
            }
        }
    }
}
