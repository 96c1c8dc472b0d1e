//! BitTorrent, as nDPI recognises it:
//! - the peer wire handshake (BEP 3): `\x13BitTorrent protocol`, 8 reserved
//!   bytes, the 20-byte info hash (`extra["bittorrent.hash"]`, hex) and the
//!   peer id, over TCP or inside uTP;
//! - DHT (BEP 5) KRPC messages over UDP: bencoded dictionaries that open with
//!   a query's `d1:ad2:id20:` or a response's `d1:rd2:id20:`;
//! - local service discovery (BEP 14): `BT-SEARCH * HTTP/1.1` datagrams;
//! - the UDP tracker protocol (BEP 15): a connect request, 16 bytes opening
//!   with the protocol id 0x41727101980 and action 0;
//! - uTP (BEP 29) over UDP: a 20-byte header, type 0-4 with version 1 and a
//!   known extension. uTP has no magic, so only a connection's ST_SYN starts
//!   a claim, a tentative one; the flow is BitTorrent once a second header
//!   carries the same connection id (the peer answers on it, the initiator
//!   sends on id + 1).

use super::cursor::{Cursor, find};
use super::{Findings, Packet, Parse, Probe, Protocol, Transport};

pub(super) const TRANSPORTS: &[Transport] = &[Transport::Tcp, Transport::Udp];
pub(super) const PROTOCOL: Protocol = Protocol::BitTorrent;

/// BEP 3: the protocol string, behind its length byte.
const HANDSHAKE: &[u8] = b"\x13BitTorrent protocol";
/// BEP 15: the protocol id of a UDP tracker connect request.
const TRACKER_MAGIC: [u8; 8] = 0x0417_2710_1980_u64.to_be_bytes();
/// BEP 29: the uTP header.
const UTP_HEADER: usize = 20;
/// Packets a tentative uTP flow is given.
const MAX_UNCONFIRMED: u32 = 6;

pub(super) fn probe(pkt: &Packet<'_>) -> Probe {
    let p = pkt.payload;
    if p.starts_with(HANDSHAKE) {
        return Probe::Match;
    }
    if pkt.transport == Transport::Udp
        && (krpc(p) || p.starts_with(b"BT-SEARCH * HTTP/1.1") || tracker_connect(p))
    {
        return Probe::Match;
    }
    if pkt.transport == Transport::Udp && utp_syn(p) {
        return Probe::Match;
    }
    if p.len() < HANDSHAKE.len() && HANDSHAKE.starts_with(p) {
        Probe::Unsure
    } else {
        Probe::NoMatch
    }
}

/// BEP 5: a KRPC query (`a`) or response (`r`) dictionary with a node id.
fn krpc(p: &[u8]) -> bool {
    p.starts_with(b"d1:ad2:id20:") || p.starts_with(b"d1:rd2:id20:")
}

/// BEP 15: a connect request (protocol id, action 0, transaction id).
fn tracker_connect(p: &[u8]) -> bool {
    p.len() == 16 && p.starts_with(&TRACKER_MAGIC) && p.get(8..12) == Some(&[0, 0, 0, 0])
}

/// BEP 29: the connection id of a uTP header, if `p` starts with one.
fn utp(p: &[u8]) -> Option<u16> {
    let mut c = Cursor::new(p);
    let type_ver = c.u8().ok()?;
    let extension = c.u8().ok()?;
    let connection = c.u16().ok()?;
    // type (ST_DATA..ST_SYN) in the high nibble, version 1 in the low one.
    if type_ver >> 4 > 4 || type_ver & 0x0f != 1 || extension > 2 || p.len() < UTP_HEADER {
        return None;
    }
    // ST_SYN carries no payload and acknowledges nothing yet.
    if type_ver >> 4 == 4 && extension == 0 && p.len() != UTP_HEADER {
        return None;
    }
    Some(connection)
}

/// BEP 29: ST_SYN, how a uTP connection opens: no timestamp difference yet,
/// nothing acknowledged (other uTP packets look too much like STUN or RTP to
/// open a claim).
fn utp_syn(p: &[u8]) -> bool {
    let mut c = Cursor::new(p);
    let (Ok(0x41), Ok(0), Ok(_), Ok(_), Ok(0), Ok(_), Ok(_), Ok(0)) = (
        c.u8(),
        c.u8(),
        c.u16(),
        c.u32(),
        c.u32(),
        c.u32(),
        c.u16(),
        c.u16(),
    ) else {
        return false;
    };
    c.is_empty()
}

/// The info hash of a handshake at the start of `p`, as lowercase hex.
fn info_hash(p: &[u8]) -> Option<String> {
    let mut c = Cursor::new(p);
    c.skip(HANDSHAKE.len() + 8).ok()?;
    let hash = c.take(20).ok()?;
    Some(hex::encode(hash))
}

#[derive(Debug, Default)]
pub(super) struct Parser {
    packets: u32,
    /// The connection id of the first uTP header, while unconfirmed.
    utp: Option<u16>,
}

impl Parser {
    pub(super) fn parse(&mut self, pkt: &Packet<'_>, out: &mut Findings) -> Parse {
        self.packets += 1;
        let p = pkt.payload;
        if p.starts_with(HANDSHAKE) {
            return match info_hash(p) {
                Some(hash) => {
                    out.extra("bittorrent.hash", hash.as_bytes());
                    Parse::Done
                }
                None if pkt.transport == Transport::Tcp => Parse::Incomplete,
                None => Parse::Done,
            };
        }
        if pkt.transport == Transport::Tcp {
            // A handshake cut by the segment: wait for the rest, once.
            return if p.len() < HANDSHAKE.len() && HANDSHAKE.starts_with(p) && self.packets == 1 {
                Parse::Tentative
            } else {
                Parse::Invalid
            };
        }
        if krpc(p) || p.starts_with(b"BT-SEARCH * HTTP/1.1") || tracker_connect(p) {
            return Parse::Done;
        }
        let Some(id) = utp(p) else {
            return if self.utp.is_some() && self.packets < MAX_UNCONFIRMED {
                Parse::Tentative
            } else {
                Parse::Invalid
            };
        };
        match self.utp {
            None => {
                self.utp = Some(id);
                Parse::Tentative
            }
            Some(first) if id.abs_diff(first) <= 1 => {
                // A handshake inside uTP data gives the hash too.
                if let Some(hash) = p.get(UTP_HEADER..).and_then(|d| {
                    find(d, HANDSHAKE)
                        .filter(|at| *at == 0)
                        .and_then(|_| info_hash(d))
                }) {
                    out.extra("bittorrent.hash", hash.as_bytes());
                }
                out.protocol = Protocol::BitTorrent;
                Parse::Done
            }
            Some(_) if self.packets < MAX_UNCONFIRMED => Parse::Tentative,
            Some(_) => Parse::Invalid,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::super::stun::tests::findings_of;
    use super::super::testing::{OwnedPacket, every_prefix, flows, l7_name, payloads};
    use super::super::{Kind, Parse, Probe};
    use super::*;

    #[test]
    fn dht_utp_and_local_discovery_flows_are_bittorrent() {
        for pcap in ["bittorrent_utp.pcap", "bt_search.pcap"] {
            let names: Vec<String> = flows(pcap).iter().map(l7_name).collect();
            assert!(
                !names.is_empty() && names.iter().all(|n| n == "BitTorrent"),
                "{pcap}: {names:?}"
            );
        }
        // The uTP-only flow needs its second header.
        let f = findings_of("bittorrent_utp.pcap", 49861, 33333);
        assert_eq!(f.protocol, Protocol::BitTorrent);
    }

    #[test]
    fn a_tcp_handshake_gives_the_info_hash() {
        let mut hs = HANDSHAKE.to_vec();
        hs.extend_from_slice(&[0; 8]);
        hs.extend((0u8..20).map(|i| i * 11));
        hs.extend_from_slice(b"-qB4250-abcdefghijkl");
        let pkt = OwnedPacket {
            payload: hs,
            src_port: 50000,
            dst_port: 6881,
            transport: Transport::Tcp,
            tcp_seq: Some(1),
            ts_us: 0,
        };
        assert_eq!(
            Kind::BitTorrent.probe_for_test(&pkt.view(true)),
            Probe::Match
        );
        let mut out = Findings::default();
        let verdict = Parser::default().parse(&pkt.view(true), &mut out);
        assert_eq!(verdict, Parse::Done);
        assert_eq!(
            out.l7.extra.get("bittorrent.hash").unwrap(),
            "000b16212c37424d58636e79848f9aa5b0bbc6d1"
        );
        for (len, v) in every_prefix(Kind::BitTorrent, &pkt, true)
            .iter()
            .enumerate()
        {
            if len < HANDSHAKE.len() + 28 {
                assert_ne!(*v, Parse::Done, "cut at {len}");
            }
        }
    }

    #[test]
    fn a_udp_tracker_connect_request_is_bittorrent() {
        let mut req = TRACKER_MAGIC.to_vec();
        req.extend_from_slice(&[0, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef]);
        let pkt = OwnedPacket {
            payload: req,
            src_port: 50000,
            dst_port: 6969,
            transport: Transport::Udp,
            tcp_seq: None,
            ts_us: 0,
        };
        assert_eq!(
            Kind::BitTorrent.probe_for_test(&pkt.view(true)),
            Probe::Match
        );
        let verdicts = every_prefix(Kind::BitTorrent, &pkt, true);
        assert_eq!(verdicts.last(), Some(&Parse::Done));
        assert!(verdicts.iter().rev().skip(1).all(|v| *v != Parse::Done));
    }

    #[test]
    fn cut_utp_and_dht_payloads_never_panic() {
        let utp = payloads("bittorrent_utp.pcap");
        for p in utp
            .iter()
            .filter(|p| p.payload.first() != Some(&b'd'))
            .take(12)
        {
            for (len, v) in every_prefix(Kind::BitTorrent, p, true).iter().enumerate() {
                if len < UTP_HEADER {
                    assert_ne!(*v, Parse::Done, "cut at {len}");
                }
            }
        }
    }

    #[test]
    fn other_protocols_are_not_bittorrent() {
        for pcap in [
            "dns.pcap",
            "quic-29.pcap",
            "443-chrome.pcap",
            "http.pcapng",
            "stun.pcap",
            "sip.pcap",
            "wireguard.pcap",
            "zoom2.pcap",
            "ssdp-m-search.pcap",
        ] {
            for p in payloads(pcap) {
                assert_ne!(
                    Kind::BitTorrent.probe_for_test(&p.to_server()),
                    Probe::Match,
                    "{pcap}: {:02x?}",
                    p.payload.get(..8)
                );
            }
        }
    }
}
