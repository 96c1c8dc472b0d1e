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
use crate::classify::testing::{OwnedPacket, every_prefix};

pub(super) fn client(payload: &[u8]) -> Packet<'_> {
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
pub(super) fn run(packets: &[OwnedPacket], client_port: u16) -> (Parser, Findings, Parse, usize) {
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
pub(super) fn client_hello(parser: &Parser) -> &[u8] {
    parser
        .stream
        .message(Framing::TlsClientHello)
        .unwrap()
        .expect("a complete ClientHello")
}

pub(super) fn contains(hay: &[u8], needle: &[u8]) -> bool {
    super::super::cursor::find(hay, needle).is_some()
}

pub(super) fn extra<'a>(out: &'a Findings, key: &str) -> &'a str {
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
    let hello = sample_client_hello(3000);
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

/// A CHLO with the given tags (values in order).
fn chlo(tags: &[(&[u8; 4], &[u8])]) -> Vec<u8> {
    let mut m = b"CHLO".to_vec();
    m.extend_from_slice(&(tags.len() as u16).to_le_bytes());
    m.extend_from_slice(&[0, 0]);
    let mut end = 0u32;
    for (tag, value) in tags {
        end += value.len() as u32;
        m.extend_from_slice(*tag);
        m.extend_from_slice(&end.to_le_bytes());
    }
    for (_, value) in tags {
        m.extend_from_slice(value);
    }
    m
}

#[test]
fn a_q046_packet_gives_its_chlo() {
    let msg = chlo(&[(b"SNI\0", b"q46.example"), (b"UAID", b"Chrome/70")]);
    // Long header, 4-byte packet number; version; CID lengths 0x50; an
    // 8-byte connection ID; packet number; message hash.
    let mut p = vec![0xc3];
    p.extend_from_slice(b"Q046");
    p.push(0x50);
    p.extend_from_slice(&[1u8; 8]);
    p.extend_from_slice(&[0, 0, 0, 1]);
    p.extend_from_slice(&[0xaa; 12]);
    // STREAM frame: data length present, 1-byte stream ID 1, no offset;
    // big-endian length (Q039 on).
    p.extend_from_slice(&[0xa0, 0x01]);
    p.extend_from_slice(&(msg.len() as u16).to_be_bytes());
    p.extend_from_slice(&msg);
    p.resize(1350, 0);
    assert_eq!(probe(&client(&p)), Probe::Match);
    let mut out = Findings::default();
    assert_eq!(Parser::default().parse(&client(&p), &mut out), Parse::Done);
    assert_eq!(extra(&out, "quic.version"), "Q046");
    assert_eq!(out.host, "q46.example");
    assert_eq!(out.l7.http.unwrap().user_agent, "Chrome/70");
    // The same with a wrong connection ID lengths byte is not Q046.
    *p.get_mut(5).unwrap() = 0x88;
    assert_eq!(probe(&client(&p)), Probe::NoMatch);
}

#[test]
fn a_t051_initial_carries_a_tls_client_hello_in_gquic_crypto_frames() {
    use super::initial::tests::seal_initial;
    let hello = sample_client_hello(300);
    // gQUIC CRYPTO frame (0x08), offset 0, length, data; then PADDING.
    let mut frames = vec![0x08, 0x00, 0x41, 0x2c];
    frames.extend_from_slice(&hello);
    frames.resize(1200, 0);
    let packet = seal_initial(0x5430_3531, &[3u8; 8], &[3u8; 8], 1, &frames);
    assert_eq!(probe(&client(&packet)), Probe::Match);
    let mut parser = Parser::default();
    let mut out = Findings::default();
    assert_eq!(parser.parse(&client(&packet), &mut out), Parse::Done);
    assert_eq!(extra(&out, "quic.version"), "T051");
    assert_eq!(client_hello(&parser), hello);
}

/// The ClientHello of RFC 9001 §A.2 (SNI example.com), grown to `len`
/// bytes with a padding extension (RFC 7685) so it stays valid TLS.
fn sample_client_hello(len: usize) -> Vec<u8> {
    let mut parser = Parser::default();
    parser.parse(&client(RFC9001_CLIENT_INITIAL), &mut Findings::default());
    let mut hello = client_hello(&parser).to_vec();
    let pad = len - hello.len() - 4;
    hello.extend_from_slice(&[0x00, 0x15]);
    hello.extend_from_slice(&(pad as u16).to_be_bytes());
    hello.resize(len, 0);
    // Handshake length (RFC 8446 §4) and extensions length (§4.1.2):
    // type, length, version, random, session ID, cipher suites,
    // compression methods, then the extensions.
    let body = (len - 4) as u32;
    hello
        .get_mut(1..4)
        .unwrap()
        .copy_from_slice(&body.to_be_bytes()[1..]);
    let mut at = 4 + 2 + 32;
    at += 1 + usize::from(hello[at]);
    at += 2 + usize::from(u16::from_be_bytes([hello[at], hello[at + 1]]));
    at += 1 + usize::from(hello[at]);
    let ext = (len - at - 2) as u16;
    hello
        .get_mut(at..at + 2)
        .unwrap()
        .copy_from_slice(&ext.to_be_bytes());
    hello
}

#[test]
fn the_grown_sample_client_hello_is_consistent() {
    let hello = sample_client_hello(3000);
    assert_eq!(hello.len(), 3000);
    let mut stream = CryptoStream::default();
    stream.insert(0, &hello).unwrap();
    assert_eq!(
        stream.message(Framing::TlsClientHello),
        Ok(Some(&hello[..]))
    );
    assert!(contains(&hello, b"example.com"));
}

#[path = "tests_captures.rs"]
mod captures;
