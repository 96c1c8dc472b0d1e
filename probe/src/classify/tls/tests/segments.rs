//! Messages split over segments, cut at every offset, and other protocols'
//! payloads.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use super::*;

#[test]
fn a_client_hello_split_over_segments_is_read_whole() {
    let (hello, _) = git_handshake();
    let seq = hello.tcp_seq.unwrap();
    let cuts = [0, 3, 100, 350, hello.payload.len()];
    let parts: Vec<OwnedPacket> = cuts
        .windows(2)
        .map(|w| OwnedPacket {
            payload: hello.payload[w[0]..w[1]].to_vec(),
            tcp_seq: Some(seq.wrapping_add(w[0] as u32)),
            ..hello.clone()
        })
        .collect();
    let seen: Vec<_> = parts.iter().map(|p| (p, true)).collect();
    let (verdicts, out) = run(&seen);
    assert!(
        verdicts.iter().all(|v| *v == Parse::Incomplete),
        "{verdicts:?}"
    );
    assert_eq!(out.host, "github.com");
    assert_eq!(
        out.l7.tls.as_ref().unwrap().ja3,
        "2a26b1a62e40d25d4de3babc9d532f30"
    );
    // A retransmitted first segment changes nothing.
    let (_, again) = run(&[
        (&parts[0], true),
        (&parts[0], true),
        (&parts[1], true),
        (&parts[2], true),
        (&parts[3], true),
    ]);
    assert_eq!(again.host, "github.com");
}

#[test]
fn the_server_flight_over_three_segments_ends_dpi_at_the_certificate() {
    let (hello, server) = git_handshake();
    let mut seen = vec![(&hello, true)];
    seen.extend(server.iter().map(|p| (p, false)));
    let (verdicts, out) = run(&seen);
    assert_eq!(
        verdicts,
        [
            Parse::Incomplete,
            Parse::Incomplete,
            Parse::Incomplete,
            Parse::Done
        ]
    );
    let t = out.l7.tls.unwrap();
    assert_eq!(t.server_sha1, "ca06f56b258b7a0d4f2b05470939478651151984");
    // A gap (the middle segment lost) ends DPI without a certificate.
    let (verdicts, out) = run(&[(&hello, true), (&server[0], false), (&server[2], false)]);
    assert_eq!(
        verdicts,
        [Parse::Incomplete, Parse::Incomplete, Parse::Skip]
    );
    assert!(out.l7.tls.unwrap().server_sha1.is_empty());
    // A gap on the client's side after its hello does not end DPI.
    let later = OwnedPacket {
        tcp_seq: Some(hello.tcp_seq.unwrap().wrapping_add(10_000)),
        ..hello.clone()
    };
    let mut seen = vec![(&hello, true), (&later, true)];
    seen.extend(server.iter().map(|p| (p, false)));
    let (verdicts, out) = run(&seen);
    assert_eq!(
        verdicts,
        [
            Parse::Incomplete,
            Parse::Incomplete,
            Parse::Incomplete,
            Parse::Incomplete,
            Parse::Done
        ]
    );
    assert!(!out.l7.tls.unwrap().server_sha1.is_empty());
}

/// Every prefix of `packet` (one direction's bytes): never a panic, and a
/// parser that says Done has read the field `done_means`.
fn check_prefixes(packet: &OwnedPacket, from_client: bool, done_means: impl Fn(&Findings) -> bool) {
    for v in every_prefix(Kind::Tls, packet, from_client) {
        assert_ne!(
            v,
            Parse::Invalid,
            "a cut TLS record is not another protocol"
        );
    }
    for len in 0..=packet.payload.len() {
        let cut = OwnedPacket {
            payload: packet.payload[..len].to_vec(),
            ..packet.clone()
        };
        let (v, out) = run(&[(&cut, from_client)]);
        if v[0] == Parse::Done {
            assert!(done_means(&out), "Done at {len} without the field");
        }
    }
}

#[test]
fn a_client_hello_cut_anywhere_never_panics_nor_finishes() {
    let (hello, _) = git_handshake();
    check_prefixes(&hello, true, |_| false);
    for len in 0..hello.payload.len() {
        let cut = OwnedPacket {
            payload: hello.payload[..len].to_vec(),
            ..hello.clone()
        };
        let (_, out) = run(&[(&cut, true)]);
        assert!(
            out.host.is_empty() && out.l7.tls.is_none(),
            "fields from a cut hello at {len}"
        );
    }
}

#[test]
fn a_server_hello_cut_anywhere_never_panics() {
    let sh = payloads("tls_multiple_synack_different_seq.pcapng")
        .into_iter()
        .find(|p| p.src_port == 443 && p.payload.get(5) == Some(&2))
        .unwrap();
    check_prefixes(&sh, false, |_| false);
    let (v, out) = run(&[(&sh, false)]);
    assert_eq!(v, [Parse::Incomplete]);
    assert_eq!(out.l7.tls.unwrap().ja3s, "704239182a9091e4453fdbfe0fd17586");
}

#[test]
fn a_certificate_cut_anywhere_never_panics_nor_finishes_early() {
    // The server's first flight as one payload: ServerHello, Certificate,
    // ServerHelloDone.
    let (_, server) = git_handshake();
    let flight = OwnedPacket {
        payload: server.iter().flat_map(|p| p.payload.clone()).collect(),
        ..server[0].clone()
    };
    check_prefixes(&flight, false, |out| {
        out.l7
            .tls
            .as_ref()
            .is_some_and(|t| t.server_sha1 == "ca06f56b258b7a0d4f2b05470939478651151984")
    });
}

#[test]
fn other_protocols_are_not_claimed() {
    // The first payload of each TCP flow (RDP, for one, turns to TLS later).
    for capture in [
        "http.pcapng",
        "ssh.pcap",
        "smtp.pcap",
        "imap.pcap",
        "pop3.pcap",
        "irc.pcap",
        "mqtt.pcap",
        "443-opvn.pcap",
        "smbv1.pcap",
        "rdp.pcap",
    ] {
        let mut seen = std::collections::HashSet::new();
        for p in payloads(capture)
            .iter()
            .filter(|p| p.transport == Transport::Tcp)
        {
            if !seen.insert((p.src_port.min(p.dst_port), p.src_port.max(p.dst_port))) {
                continue;
            }
            assert_ne!(
                tls::probe(&p.to_server()),
                Probe::Match,
                "{capture}: {:02x?}",
                &p.payload[..p.payload.len().min(8)]
            );
        }
    }
    for p in payloads("dns.pcap").iter().take(20) {
        assert_ne!(tls::probe(&p.to_server()), Probe::Match, "dns.pcap");
    }
}

#[test]
fn a_record_with_a_broken_hello_ends_dpi_without_fields() {
    let pkt = OwnedPacket {
        payload: vec![0x16, 3, 1, 0, 5, 1, 0, 0, 1, 0],
        src_port: 40_000,
        dst_port: 443,
        transport: Transport::Tcp,
        tcp_seq: Some(7),
        ts_us: 0,
    };
    // A complete record whose ClientHello is cut short inside it: TLS
    // framing, but nothing to read.
    let (v, out) = run(&[(&pkt, true)]);
    assert_eq!(v, [Parse::Skip]);
    assert!(out.host.is_empty() && out.l7.tls.is_none());
    assert!(!out.risks.has(Risk::TlsMissingSni));
}

#[test]
fn a_header_start_that_turns_out_wrong_is_not_tls() {
    let short = OwnedPacket {
        payload: vec![0x16, 3],
        src_port: 40_000,
        dst_port: 443,
        transport: Transport::Tcp,
        tcp_seq: Some(7),
        ts_us: 0,
    };
    let rest = OwnedPacket {
        payload: vec![9, 9, 9, 9, 9, 9],
        tcp_seq: Some(9),
        ..short
    };
    let (v, _) = run(&[(&short, true), (&rest, true)]);
    assert_eq!(v, [Parse::Incomplete, Parse::Invalid]);
}
