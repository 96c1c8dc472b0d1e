//! QUIC classifier tests: the RFC sample packets through the parser, real
//! captures (decryption, reassembly, gQUIC CHLOs), cuts at every offset,
//! and other protocols' payloads.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a failed test"
)]

use super::initial::tests::{RFC9001_CLIENT_INITIAL, RFC9369_CLIENT_INITIAL};
use super::*;
use crate::classify::Kind;
use crate::classify::testing::{OwnedPacket, every_prefix, flows, l7_name, payloads};

fn client(payload: &[u8]) -> Packet<'_> {
    Packet {
        payload,
        from_client: true,
        transport: Transport::Udp,
        client_port: 50000,
        server_port: 443,
        tcp_seq: None,
        ts_us: 0,
        packet_no: 1,
    }
}

/// Feeds the client packets of one capture flow (by client port) to a
/// parser until it stops; returns the parser, the findings, the verdict
/// and how many client packets it read.
fn run(packets: &[OwnedPacket], client_port: u16) -> (Parser, Findings, Parse, usize) {
    let mut parser = Parser::default();
    let mut out = Findings::default();
    let mut verdict = Parse::Incomplete;
    let mut read = 0;
    for p in packets.iter().filter(|p| p.src_port == client_port) {
        read += 1;
        verdict = parser.parse(&p.view(true), &mut out);
        if verdict != Parse::Incomplete {
            break;
        }
    }
    (parser, out, verdict, read)
}

/// The reassembled ClientHello of a parser that finished.
fn client_hello(parser: &Parser) -> &[u8] {
    parser
        .stream
        .message(Framing::TlsClientHello)
        .unwrap()
        .expect("a complete ClientHello")
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    super::super::cursor::find(hay, needle).is_some()
}

fn extra<'a>(out: &'a Findings, key: &str) -> &'a str {
    out.l7.extra.get(key).map_or("", String::as_str)
}

#[test]
fn the_rfc_9001_sample_initial_is_read_to_its_client_hello() {
    let pkt = client(RFC9001_CLIENT_INITIAL);
    assert_eq!(probe(&pkt), Probe::Match);
    let mut parser = Parser::default();
    let mut out = Findings::default();
    assert_eq!(parser.parse(&pkt, &mut out), Parse::Done);
    assert_eq!(out.protocol, Protocol::Quic);
    assert_eq!(extra(&out, "quic.version"), "V-1");
    let hello = client_hello(&parser);
    assert_eq!(hello.first(), Some(&1));
    assert_eq!(hello.len(), 4 + 0xed);
    assert!(contains(hello, b"example.com"));
}

#[test]
fn the_rfc_9369_sample_initial_is_read_as_quic_v2() {
    let pkt = client(RFC9369_CLIENT_INITIAL);
    assert_eq!(probe(&pkt), Probe::Match);
    let mut parser = Parser::default();
    let mut out = Findings::default();
    assert_eq!(parser.parse(&pkt, &mut out), Parse::Done);
    assert_eq!(extra(&out, "quic.version"), "V-2");
    assert!(contains(client_hello(&parser), b"example.com"));
}

#[test]
fn an_initial_with_a_bad_tag_or_an_unknown_version_is_invalid() {
    let mut bad = RFC9001_CLIENT_INITIAL.to_vec();
    *bad.get_mut(700).unwrap() ^= 0x80;
    let mut out = Findings::default();
    assert_eq!(
        Parser::default().parse(&client(&bad), &mut out),
        Parse::Invalid
    );
    assert_eq!(out.protocol, Protocol::Unknown);
    assert!(out.l7.extra.is_empty());
    for version in [0x0a1a_2a3a_u32, 0xff00_0010, 0x5130_3939, 0] {
        let mut other = RFC9001_CLIENT_INITIAL.to_vec();
        other
            .get_mut(1..5)
            .unwrap()
            .copy_from_slice(&version.to_be_bytes());
        assert_eq!(probe(&client(&other)), Probe::NoMatch, "{version:#x}");
        let parsed = Parser::default().parse(&client(&other), &mut Findings::default());
        assert_eq!(parsed, Parse::Invalid, "{version:#x}");
    }
    // A v1 packet relabelled as v2 fails v2's tag.
    let mut relabelled = RFC9001_CLIENT_INITIAL.to_vec();
    relabelled
        .get_mut(0..5)
        .unwrap()
        .copy_from_slice(&[0xd0, 0x6b, 0x33, 0x43, 0xcf]);
    let parsed = Parser::default().parse(&client(&relabelled), &mut Findings::default());
    assert_eq!(parsed, Parse::Invalid);
}

#[test]
fn the_sample_initial_cut_at_every_offset_is_never_done() {
    let pkt = OwnedPacket {
        payload: RFC9001_CLIENT_INITIAL.to_vec(),
        src_port: 50000,
        dst_port: 443,
        transport: Transport::Udp,
        tcp_seq: None,
        ts_us: 0,
    };
    let verdicts = every_prefix(Kind::Quic, &pkt, true);
    let (last, cuts) = verdicts.split_last().unwrap();
    assert_eq!(*last, Parse::Done);
    assert!(cuts.iter().all(|v| *v != Parse::Done));
}

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
fn a_chrome_client_hello_split_over_initials_is_reassembled() {
    let packets = payloads("quic_0RTT.pcap");
    let (parser, out, verdict, read) = run(&packets, 51972);
    assert_eq!(verdict, Parse::Done);
    eprintln!("quic_0RTT v1 flow: ClientHello complete after {read} client packets");
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
    assert_eq!(gquic.first().unwrap().1, "www.gstatic.com");
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
#[ignore = "needs the TLS ClientHello parser (merged by the lead)"]
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
            let at = super::super::cursor::find(&first.payload, out.host.as_bytes()).unwrap();
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

/// A CRYPTO frame (RFC 9000 §19.6) with 2-byte varints.
fn crypto_frame(offset: usize, data: &[u8]) -> Vec<u8> {
    let mut f = vec![0x06];
    f.extend_from_slice(&(0x4000 | offset as u16).to_be_bytes());
    f.extend_from_slice(&(0x4000 | data.len() as u16).to_be_bytes());
    f.extend_from_slice(data);
    f
}

#[test]
fn a_client_hello_split_over_shuffled_frames_and_coalesced_initials_is_reassembled() {
    use super::initial::tests::seal_initial;
    // A 3000-byte "ClientHello": type 1, length, then filler naming a host.
    let mut hello = vec![1, 0, 0x0b, 0xb4];
    hello.extend(b"split.example".iter().cycle().take(2996));
    let part = |a: usize, b: usize| hello.get(a..b).unwrap();
    let dcid = [7u8; 8];
    // Datagram 1: frames out of order, with PING and PADDING, padded.
    let mut frames = crypto_frame(1500, part(1500, 2000));
    frames.push(0x01);
    frames.extend(crypto_frame(0, part(0, 600)));
    frames.resize(1250, 0);
    let first = seal_initial(version::V1, &dcid, &dcid, 0, &frames);
    // Datagram 2: two coalesced Initials (RFC 9000 §12.2), the second
    // under the DCID the server chose, still with the first DCID's keys.
    let mut second = seal_initial(
        version::V1,
        &dcid,
        &dcid,
        1,
        &crypto_frame(600, part(600, 1500)),
    );
    second.extend(seal_initial(
        version::V1,
        &[9u8; 5],
        &dcid,
        2,
        &crypto_frame(2000, part(2000, 3000)),
    ));
    let mut parser = Parser::default();
    let mut out = Findings::default();
    assert_eq!(probe(&client(&first)), Probe::Match);
    assert_eq!(parser.parse(&client(&first), &mut out), Parse::Incomplete);
    assert_eq!(parser.parse(&client(&second), &mut out), Parse::Done);
    assert_eq!(client_hello(&parser), hello);
    assert_eq!(extra(&out, "quic.version"), "V-1");
}

#[test]
fn a_client_hello_that_never_completes_is_given_up() {
    use super::initial::tests::seal_initial;
    let mut hello = vec![1, 0, 0x0b, 0xb4];
    hello.resize(3000, 0x41);
    let dcid = [7u8; 8];
    let mut frames = crypto_frame(0, hello.get(..1000).unwrap());
    frames.resize(1200, 0);
    let packet = seal_initial(version::V1, &dcid, &dcid, 0, &frames);
    let mut parser = Parser::default();
    let mut out = Findings::default();
    let verdicts: Vec<Parse> = (0..=MAX_CLIENT_PACKETS)
        .map(|_| parser.parse(&client(&packet), &mut out))
        .collect();
    assert_eq!(verdicts.last(), Some(&Parse::Skip));
    assert!(
        verdicts
            .iter()
            .rev()
            .skip(1)
            .all(|v| *v == Parse::Incomplete)
    );
    // A CRYPTO frame past the 16 KiB bound stops the reading.
    let far = crypto_frame(0x3fff, b"xy");
    let packet = seal_initial(version::V1, &dcid, &dcid, 0, &far);
    let parsed = Parser::default().parse(&client(&packet), &mut Findings::default());
    assert_eq!(parsed, Parse::Skip);
}
