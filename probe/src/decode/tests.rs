//! Decoder tests on packets built with etherparse's PacketBuilder, plus
//! "never panics" properties over truncated and random frames.

use etherparse::PacketBuilder;
use proptest::prelude::*;

use super::*;

const MAC_A: [u8; 6] = [0x00, 0x11, 0x22, 0x33, 0x44, 0x55];
const MAC_B: [u8; 6] = [0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb];

fn tcp_syn_v4_vlan() -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2(MAC_A, MAC_B)
        .single_vlan(100.try_into().unwrap())
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .tcp(40000, 443, 1000, 64240)
        .syn()
        .write(&mut out, &[])
        .unwrap();
    out
}

#[test]
fn ethernet_vlan_ipv4_tcp_syn_is_decoded() {
    let frame = tcp_syn_v4_vlan();
    let p = decode(LinkType::Ethernet, &frame).unwrap();
    assert_eq!(p.vlan, 100);
    assert_eq!(p.src_mac, Some(MAC_A));
    assert_eq!(p.dst_mac, Some(MAC_B));
    assert_eq!(p.src, "10.0.0.1".parse::<IpAddr>().unwrap());
    assert_eq!((p.proto, p.src_port, p.dst_port), (proto::TCP, 40000, 443));
    assert_eq!(p.ip_len, 40);
    assert_eq!(p.payload_len, 0);
    let tcp = p.tcp.unwrap();
    assert_eq!(tcp.flags, tcp_flags::SYN);
    assert_eq!((tcp.seq, tcp.window), (1000, 64240));
    assert_eq!(p.fragment, Fragment::None);
}

#[test]
fn qinq_uses_the_outer_vlan_id() {
    let mut out = Vec::new();
    PacketBuilder::ethernet2(MAC_A, MAC_B)
        .double_vlan(10.try_into().unwrap(), 20.try_into().unwrap())
        .ipv4([1, 1, 1, 1], [2, 2, 2, 2], 64)
        .udp(53, 5353)
        .write(&mut out, b"abc")
        .unwrap();
    let p = decode(LinkType::Ethernet, &out).unwrap();
    assert_eq!(p.vlan, 10);
    assert_eq!(
        (p.proto, p.src_port, p.dst_port, p.payload_len),
        (proto::UDP, 53, 5353, 3)
    );
    assert_eq!(p.payload, b"abc");
}

#[test]
fn ipv6_udp_over_raw_ip_and_linux_cooked_captures() {
    let mut ip = Vec::new();
    PacketBuilder::ipv6(
        [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
        64,
    )
    .udp(1234, 53)
    .write(&mut ip, &[0u8; 12])
    .unwrap();
    let raw = decode(LinkType::RawIp, &ip).unwrap();
    assert_eq!(
        (
            raw.proto,
            raw.src_port,
            raw.dst_port,
            raw.payload_len,
            raw.ip_len
        ),
        (proto::UDP, 1234, 53, 12, 60)
    );
    assert!(raw.src.is_ipv6() && raw.src_mac.is_none());

    let mut sll = vec![0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x86, 0xdd];
    sll.extend_from_slice(&ip);
    assert_eq!(decode(LinkType::LinuxSll, &sll).unwrap(), raw);

    let mut sll2 = vec![
        0x86, 0xdd, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0,
    ];
    sll2.extend_from_slice(&ip);
    assert_eq!(decode(LinkType::LinuxSll2, &sll2).unwrap(), raw);

    let mut null = 30u32.to_le_bytes().to_vec();
    null.extend_from_slice(&ip);
    assert_eq!(decode(LinkType::Null, &null).unwrap(), raw);
    let mut lo = 24u32.to_be_bytes().to_vec();
    lo.extend_from_slice(&ip);
    assert_eq!(decode(LinkType::Loop, &lo).unwrap(), raw);
}

#[test]
fn icmp_type_and_code_stand_in_for_ports() {
    let mut out = Vec::new();
    PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .icmpv4_echo_request(7, 1)
        .write(&mut out, b"ping")
        .unwrap();
    let p = decode(LinkType::RawIp, &out).unwrap();
    assert_eq!((p.proto, p.src_port, p.dst_port), (proto::ICMP, 8, 0));
}

#[test]
fn non_ip_and_unsupported_frames_are_skipped_with_a_reason() {
    let mut arp = vec![0xff; 12];
    arp.extend_from_slice(&[0x08, 0x06]);
    arp.extend_from_slice(&[0; 28]);
    assert_eq!(decode(LinkType::Ethernet, &arp), Err(Skip::NotIp));
    assert_eq!(
        decode(LinkType::Ethernet, &[0; 10]),
        Err(Skip::TruncatedLink)
    );
    assert_eq!(
        decode(LinkType::Other(147), &[0; 64]),
        Err(Skip::UnsupportedLink)
    );
    let mut bad_version = tcp_syn_v4_vlan();
    bad_version[18] = 0x75; // IP version 7
    assert_eq!(
        decode(LinkType::Ethernet, &bad_version),
        Err(Skip::MalformedIp)
    );
}

#[test]
fn truncated_capture_keeps_wire_lengths() {
    let mut out = Vec::new();
    PacketBuilder::ethernet2(MAC_A, MAC_B)
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .tcp(40000, 80, 1, 1000)
        .write(&mut out, &[b'x'; 1000])
        .unwrap();
    out.truncate(96); // a 96-byte snaplen
    let p = decode(LinkType::Ethernet, &out).unwrap();
    assert_eq!(p.ip_len, 1040);
    assert_eq!(p.payload_len, 1000);
    assert_eq!(p.payload.len(), 96 - 14 - 40);
}

fn fragmented_udp() -> (Vec<u8>, Vec<u8>) {
    // One UDP datagram of 8 + 24 bytes split after 16 bytes of IP payload.
    let mut whole = Vec::new();
    PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .udp(5000, 6000)
        .write(&mut whole, &[7u8; 24])
        .unwrap();
    let header = &whole[..20];
    let mut first = header.to_vec();
    first.extend_from_slice(&whole[20..36]);
    first[2..4].copy_from_slice(&36u16.to_be_bytes());
    first[6] = 0x20; // MF, offset 0
    let mut later = header.to_vec();
    later.extend_from_slice(&whole[36..]);
    later[2..4].copy_from_slice(&((20 + whole.len() - 36) as u16).to_be_bytes());
    later[6] = 0x00;
    later[7] = 2; // offset 2 * 8 = 16 bytes
    for packet in [&mut first, &mut later] {
        packet[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
    }
    (first, later)
}

#[test]
fn first_fragment_has_ports_and_later_ones_are_attributed() {
    let (first, later) = fragmented_udp();
    let mut tracker = fragments::FragmentTracker::new(16, 30_000_000);
    let mut a = decode(LinkType::RawIp, &first).unwrap();
    assert_eq!(a.fragment, Fragment::First { id: 0x1234 });
    assert_eq!((a.src_port, a.dst_port), (5000, 6000));
    assert_eq!(tracker.observe(&mut a, 1), fragments::Attribution::Whole);

    let mut b = decode(LinkType::RawIp, &later).unwrap();
    assert_eq!(b.fragment, Fragment::Later { id: 0x1234 });
    assert_eq!((b.src_port, b.dst_port, b.payload_len), (0, 0, 16));
    assert_eq!(
        tracker.observe(&mut b, 2),
        fragments::Attribution::Attributed
    );
    assert_eq!((b.src_port, b.dst_port), (5000, 6000));

    let mut orphan = decode(LinkType::RawIp, &later).unwrap();
    let mut fresh = fragments::FragmentTracker::new(16, 30_000_000);
    assert_eq!(
        fresh.observe(&mut orphan, 2),
        fragments::Attribution::Unattributed
    );
}

#[test]
fn fragment_tracker_is_bounded_and_forgets_old_datagrams() {
    let (first, later) = fragmented_udp();
    let mut tracker = fragments::FragmentTracker::new(4, 30_000_000);
    for id in 0..10u16 {
        let mut f = first.clone();
        f[4..6].copy_from_slice(&id.to_be_bytes());
        let mut p = decode(LinkType::RawIp, &f).unwrap();
        tracker.observe(&mut p, u64::from(id));
    }
    assert_eq!(tracker.len(), 4);
    let mut p = decode(LinkType::RawIp, &later).unwrap();
    // id 0x1234 was never recorded; and after the timeout everything is gone.
    assert_eq!(
        tracker.observe(&mut p, 100_000_000),
        fragments::Attribution::Unattributed
    );
    assert!(tracker.is_empty());
}

#[test]
fn every_truncation_of_real_frames_decodes_or_skips_without_panic() {
    let (first, later) = fragmented_udp();
    for (link, frame) in [
        (LinkType::Ethernet, tcp_syn_v4_vlan()),
        (LinkType::RawIp, first),
        (LinkType::RawIp, later),
    ] {
        for len in 0..=frame.len() {
            let _ = decode(link, &frame[..len]);
        }
    }
}

proptest! {
    #[test]
    fn decode_never_panics_on_random_frames(bytes in proptest::collection::vec(any::<u8>(), 0..200), dlt in 0i32..300) {
        let _ = decode(LinkType::from_dlt(dlt), &bytes);
    }

    #[test]
    fn decode_never_panics_on_mutated_tcp_frames(flips in proptest::collection::vec((0usize..58, any::<u8>()), 1..8)) {
        let mut frame = tcp_syn_v4_vlan();
        for (at, value) in flips {
            if let Some(b) = frame.get_mut(at) { *b = value; }
        }
        let _ = decode(LinkType::Ethernet, &frame);
    }
}

#[test]
fn ipv6_extension_chains_cut_short_end_the_walk() {
    // A hop-by-hop header claiming 16 bytes with 4 present, then nothing.
    assert_eq!(ipv6_fragment(0, &[44, 1, 0, 0]), Fragment::None);
    assert_eq!(ipv6_fragment(0, &[]), Fragment::None);
    // Hop-by-hop (8 bytes), then a fragment header: offset 0, more fragments.
    let mut chain = vec![44, 0, 0, 0, 0, 0, 0, 0];
    chain.extend_from_slice(&[17, 0, 0, 1, 0, 0, 0x12, 0x34]);
    assert_eq!(ipv6_fragment(0, &chain), Fragment::First { id: 0x1234 });
    // Offset 8 (units of 8 bytes): a later fragment.
    assert_eq!(
        ipv6_fragment(44, &[17, 0, 0, 64, 0, 0, 0, 9]),
        Fragment::Later { id: 9 }
    );
}

#[test]
fn fuzzer_regressions_decode_without_panic() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("decode-")
        {
            let (&pick, frame) = data.split_first().unwrap();
            let links = [0, 1, 12, 101, 108, 113, 276, 147];
            let _ = decode(
                LinkType::from_dlt(links[usize::from(pick) % links.len()]),
                frame,
            );
            n += 1;
        }
    }
    assert!(n > 0);
}

/// An IPv6 UDP packet inside IPv4 (protocol 41), in Ethernet.
fn six_in_four(payload: &[u8]) -> Vec<u8> {
    let mut inner = Vec::new();
    PacketBuilder::ipv6([0x20; 16], [0x30; 16], 64)
        .udp(5000, 53)
        .write(&mut inner, payload)
        .unwrap();
    let mut out = Vec::new();
    PacketBuilder::ethernet2(MAC_A, MAC_B)
        .ipv4([192, 0, 2, 1], [198, 51, 100, 1], 64)
        .write(&mut out, etherparse::IpNumber(proto::IPV6_IN_IP), &inner)
        .unwrap();
    out
}

#[test]
fn six_in_four_tunnels_are_opened_to_the_inner_flow() {
    let frame = six_in_four(b"query");
    let p = decode(LinkType::Ethernet, &frame).unwrap();
    assert_eq!(p.src, IpAddr::from([0x20u8; 16]));
    assert_eq!(p.dst, IpAddr::from([0x30u8; 16]));
    assert_eq!((p.proto, p.src_port, p.dst_port), (proto::UDP, 5000, 53));
    assert_eq!(p.payload, b"query");
    assert_eq!(p.src_mac, Some(MAC_A));
    // A tunnel whose inner packet is broken stays an outer flow of protocol 41.
    let mut broken = frame.clone();
    let inner_version = 14 + 20;
    broken[inner_version] = 0x10;
    let p = decode(LinkType::Ethernet, &broken).unwrap();
    assert_eq!(p.proto, proto::IPV6_IN_IP);
    assert_eq!(p.src, "192.0.2.1".parse::<IpAddr>().unwrap());
}

#[test]
fn pppoe_sessions_carry_ip() {
    let mut ip = Vec::new();
    PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .udp(1234, 53)
        .write(&mut ip, b"x")
        .unwrap();
    let mut frame = Vec::new();
    frame.extend_from_slice(&MAC_B);
    frame.extend_from_slice(&MAC_A);
    frame.extend_from_slice(&[0x81, 0x00, 0x00, 0x07, 0x88, 0x64]); // VLAN 7, PPPoE
    frame.extend_from_slice(&[0x11, 0x00, 0x12, 0x34]); // ver/type, code, session
    frame.extend_from_slice(&(ip.len() as u16 + 2).to_be_bytes());
    frame.extend_from_slice(&[0x00, 0x21]); // PPP: IPv4
    frame.extend_from_slice(&ip);
    let p = decode(LinkType::Ethernet, &frame).unwrap();
    assert_eq!(p.vlan, 7);
    assert_eq!(
        (p.proto, p.dst_port, p.payload),
        (proto::UDP, 53, &b"x"[..])
    );
    // PPP control traffic (LCP, 0xc021) is not IP.
    let at = frame.len() - ip.len() - 2;
    frame[at..at + 2].copy_from_slice(&[0xc0, 0x21]);
    assert_eq!(decode(LinkType::Ethernet, &frame), Err(Skip::NotIp));
}

/// Where the hand-read IPv4 header takes a packet, etherparse's lax parser
/// gives the same addresses, lengths, fragment and payload.
fn same_as_lax(ip: &[u8]) -> bool {
    match plain_ipv4(ip) {
        Some(fast) => {
            assert_eq!(lax_ip(ip), Ok(fast), "{ip:02x?}");
            true
        }
        None => false,
    }
}

#[test]
fn the_hand_read_ipv4_header_agrees_with_etherparse_on_every_test_capture() {
    use crate::capture::{FileSource, Next, PacketSource};
    let root = crate::classify::testing::testdata("");
    let mut dirs = vec![root];
    let (mut compared, mut cuts) = (0, 0);
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if !path
                .extension()
                .is_some_and(|e| e == "pcap" || e == "pcapng")
            {
                continue;
            }
            let Ok(mut source) = FileSource::open(&path, "t") else {
                continue;
            };
            let link = source.link_type();
            while let Ok(Next::Packet(p)) = source.next_packet() {
                let Ok(l2) = link::parse(link, p.data) else {
                    continue;
                };
                if !same_as_lax(l2.ip) {
                    continue;
                }
                compared += 1;
                // Cut short, and with the length fields and the AH
                // protocol number changed: wherever the fast path still
                // answers, it answers as etherparse.
                for cut in 0..l2.ip.len().min(80) {
                    cuts += usize::from(same_as_lax(&l2.ip[..cut]));
                }
                let mut bent = l2.ip.to_vec();
                for (at, value) in [
                    (2, 0),
                    (3, 19),
                    (0, 0x44),
                    (0, 0x46),
                    (9, 51),
                    (6, 0x20),
                    (7, 1),
                ] {
                    let old = bent[at];
                    bent[at] = value;
                    same_as_lax(&bent);
                    bent[at] = old;
                }
            }
        }
    }
    assert!(compared > 4_000, "{compared}");
    assert!(cuts > 0);
}

proptest! {
    #[test]
    fn the_hand_read_ipv4_header_agrees_with_etherparse_on_random_headers(
        mut bytes in proptest::collection::vec(any::<u8>(), 0..120),
        ihl in 0u8..16,
    ) {
        if let Some(b) = bytes.first_mut() {
            *b = 0x40 | ihl;
        }
        same_as_lax(&bytes);
        if bytes.len() >= 4 {
            let total = u16::try_from(bytes.len()).unwrap();
            bytes[2..4].copy_from_slice(&total.to_be_bytes());
            same_as_lax(&bytes);
        }
    }
}
