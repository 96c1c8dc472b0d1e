//! The QUIC classifier on nDPI's captures: decryption of real Initials,
//! gQUIC CHLOs, whole flows through the pipeline, cuts at every offset,
//! and other protocols' UDP payloads.

#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

use super::*;
use crate::classify::testing::{every_prefix, flows, l7_name, payloads};

#[test]
fn a_draft_29_initial_of_a_real_capture_decrypts_to_its_client_hello() {
    let packets = payloads("quic-29.pcap");
    let (parser, out, verdict, read) = run(&packets, 36588);
    assert_eq!((verdict, read), (Parse::Done, 1));
    assert_eq!(extra(&out, "quic.version"), "Draft-29");
    let hello = client_hello(&parser);
    assert!(contains(hello, b"localhost"));
    assert!(contains(hello, b"h3-29"));
}

#[test]
fn a_chrome_initial_behind_0rtt_packets_and_a_draft_28_initial_are_read() {
    let packets = payloads("quic_0RTT.pcap");
    let (parser, out, verdict, read) = run(&packets, 51972);
    // Two 0-RTT packets were captured before the Initial (nDPI: 3 DPI packets).
    assert_eq!((verdict, read), (Parse::Done, 3));
    assert_eq!(extra(&out, "quic.version"), "V-1");
    assert!(contains(client_hello(&parser), b"ssl.gstatic.com"));
    // A draft-28 Initial of the same capture (draft-23 salt).
    let (parser, out, verdict, _) = run(&packets, 60459);
    assert_eq!(verdict, Parse::Done);
    assert_eq!(extra(&out, "quic.version"), "Draft-28");
    assert!(contains(client_hello(&parser), b"abcd"));
}

#[test]
fn a_q050_initial_is_decrypted_to_its_chlo() {
    let packets = payloads("gquic.pcap");
    let (_, out, verdict, read) = run(&packets, 61097);
    assert_eq!((verdict, read), (Parse::Done, 1));
    assert_eq!(out.protocol, Protocol::Quic);
    assert_eq!(extra(&out, "quic.version"), "Q050");
    assert_eq!(out.host, "www.gstatic.com");
    assert_eq!(
        out.l7.http.as_ref().unwrap().user_agent,
        "canary Chrome/85.0.4169.0 Windows NT 10.0; Win64; x64"
    );
}

#[test]
fn q035_chlos_give_server_names_and_user_agents() {
    let packets = payloads("youtube_quic.pcap");
    for (port, host) in [
        (56074, "yt3.ggpht.com"),
        (53859, "googleads.g.doubleclick.net"),
        (54997, "pagead2.googlesyndication.com"),
    ] {
        let (_, out, verdict, read) = run(&packets, port);
        assert_eq!((verdict, read), (Parse::Done, 1), "{host}");
        assert_eq!(extra(&out, "quic.version"), "Q035");
        assert_eq!(out.host, host);
        assert_eq!(out.l7.tls.as_ref().unwrap().sni, host);
        assert_eq!(
            out.l7.http.as_ref().unwrap().user_agent,
            "beta Chrome/57.0.2987.98 Intel Mac OS X 10_12_3"
        );
    }
}

/// The verdict and server name of each QUIC flow of a capture.
fn quic_flows(name: &str) -> Vec<(String, String)> {
    flows(name)
        .iter()
        .filter(|f| f.l7.as_ref().is_some_and(|l7| l7.protocol == "QUIC"))
        .map(|f| {
            let sni =
                f.l7.as_ref()
                    .and_then(|l7| l7.tls.as_ref())
                    .map_or(String::new(), |t| t.sni.clone());
            (l7_name(f), sni)
        })
        .collect()
}

#[test]
fn gquic_flows_of_real_captures_are_quic_with_their_server_names() {
    let mut gquic = quic_flows("gquic.pcap");
    gquic.sort();
    assert_eq!(gquic.len(), 1);
    // nDPI: QUIC.Google (the application comes from the host name).
    assert_eq!(
        gquic.first().unwrap(),
        &("QUIC.Google".to_owned(), "www.gstatic.com".to_owned())
    );
    let mut youtube: Vec<String> = quic_flows("youtube_quic.pcap")
        .into_iter()
        .map(|(_, sni)| sni)
        .collect();
    youtube.sort();
    assert_eq!(
        youtube,
        [
            "googleads.g.doubleclick.net",
            "pagead2.googlesyndication.com",
            "yt3.ggpht.com"
        ]
    );
}

#[test]
fn ietf_quic_flows_of_real_captures_are_named_by_their_sni() {
    let mut found = quic_flows("quic-29.pcap");
    found.extend(quic_flows("quic_0RTT.pcap"));
    let mut snis: Vec<&str> = found.iter().map(|(_, sni)| sni.as_str()).collect();
    snis.sort_unstable();
    assert_eq!(snis, ["abcd", "localhost", "ssl.gstatic.com"]);
    let names: Vec<&str> = found.iter().map(|(name, _)| name.as_str()).collect();
    assert!(names.contains(&"QUIC.Google"), "{names:?}");
}

#[test]
fn real_initials_cut_at_every_offset_never_panic_nor_finish() {
    for (name, port) in [
        ("quic-29.pcap", 36588),
        ("quic_0RTT.pcap", 60459),
        ("quic_0RTT.pcap", 51972),
        ("gquic.pcap", 61097),
        ("youtube_quic.pcap", 56074),
    ] {
        let packets = payloads(name);
        let (_, out, _, _) = run(&packets, port);
        let first = packets
            .iter()
            .find(|p| p.src_port == port && probe(&p.view(true)) == Probe::Match)
            .unwrap();
        // Where the message is whole: the end of the (protected) Initial,
        // or of the server name in a cleartext CHLO.
        let whole = if first.payload.first().is_some_and(|b| b & 0x80 != 0)
            && extra(&out, "quic.version") != "Q046"
        {
            let mut c = Cursor::new(&first.payload);
            initial::long_packet(&mut c, 0).unwrap();
            first.payload.len() - c.remaining()
        } else {
            let at = crate::classify::cursor::find(&first.payload, out.host.as_bytes()).unwrap();
            at + out.host.len()
        };
        let verdicts = every_prefix(Kind::Quic, first, true);
        let done = verdicts.iter().position(|v| *v == Parse::Done).unwrap();
        assert!(
            done >= whole,
            "{name}: done at {done}, message ends at {whole}"
        );
        assert!(
            verdicts.iter().skip(done).all(|v| *v == Parse::Done),
            "{name}"
        );
    }
}

#[test]
fn other_protocols_payloads_are_not_claimed() {
    let mut seen = 0;
    for name in [
        "dns.pcap",
        "dns_fragmented.pcap",
        "stun.pcap",
        "sip.pcap",
        "NTPv4.pcap",
        "wireguard.pcap",
        "zoom2.pcap",
        "bittorrent_utp.pcap",
        "whatsapp_voice_and_message.pcap",
        "openvpn-tlscrypt.pcap",
    ] {
        for p in payloads(name)
            .iter()
            .filter(|p| p.transport == Transport::Udp)
        {
            seen += 1;
            for from_client in [true, false] {
                let view = p.view(from_client);
                assert_eq!(
                    probe(&view),
                    Probe::NoMatch,
                    "{name}: {:02x?}",
                    p.payload.get(..8)
                );
                let parsed = Parser::default().parse(&view, &mut Findings::default());
                assert!(
                    matches!(parsed, Parse::Invalid | Parse::Incomplete),
                    "{name}: {parsed:?}"
                );
            }
        }
    }
    assert!(seen > 100, "only {seen} UDP payloads");
}

#[test]
fn server_packets_and_short_headers_end_nothing_early() {
    // A server packet before anything: wait for the client.
    let mut parser = Parser::default();
    let mut out = Findings::default();
    let server = Packet {
        from_client: false,
        ..client(RFC9001_CLIENT_INITIAL)
    };
    assert_eq!(parser.parse(&server, &mut out), Parse::Incomplete);
    // A 1-RTT packet after a version was read: the handshake moved on.
    let packets = payloads("quic-29.pcap");
    let (mut parser, mut out, _, _) = run(&packets, 36588);
    let short = [0x40u8; 60];
    assert_eq!(parser.parse(&client(&short), &mut out), Parse::Skip);
}
