//! VPN tunnels: WireGuard and OpenVPN.
//!
//! WireGuard (whitepaper §5.4) over UDP: a message type 1-4 followed by three
//! reserved zero bytes, at the exact size of its type (initiation 148,
//! response 92, cookie reply 64; transport data a multiple of 16, at least
//! 32). Handshake messages claim the flow at once; transport data only once
//! a second packet of the same direction repeats the receiver index with a
//! higher counter (they have no other constant to check).
//!
//! OpenVPN (openvpn's ssl_pkt.h, "Protocol" doc) over UDP, and over TCP behind
//! a 2-byte length: an opcode (high 5 bits) and key id (low 3) then the
//! sender's 8-byte session id. The client's first packet is a hard reset
//! (P_CONTROL_HARD_RESET_CLIENT_V1/V2/V3 with key id 0); the flow is OpenVPN
//! once the server answers with P_CONTROL_HARD_RESET_SERVER_V1/V2 or the
//! client sends another control packet with the same session id. Over TCP the
//! first byte is the length's high byte (0-5 for a hard reset), never a TLS
//! record type (20-23), so the TLS and OpenVPN probes cannot both match.

use super::cursor::Cursor;
use super::{Findings, Packet, Parse, Probe, Protocol, Transport};

pub(super) const TRANSPORTS: &[Transport] = &[Transport::Tcp, Transport::Udp];
pub(super) const PROTOCOL: Protocol = Protocol::OpenVpn;

/// Packets an unconfirmed OpenVPN or WireGuard flow is given.
const MAX_UNCONFIRMED: u32 = 6;

// OpenVPN opcodes (ssl_pkt.h).
const HARD_RESET_CLIENT_V1: u8 = 1;
const HARD_RESET_SERVER_V1: u8 = 2;
const CONTROL_V1: u8 = 4;
const ACK_V1: u8 = 5;
const HARD_RESET_CLIENT_V2: u8 = 7;
const HARD_RESET_SERVER_V2: u8 = 8;
const HARD_RESET_CLIENT_V3: u8 = 10;
const CONTROL_WKC_V1: u8 = 11;

pub(super) fn probe(pkt: &Packet<'_>) -> Probe {
    if pkt.transport == Transport::Udp && wireguard(pkt.payload).is_some() {
        return Probe::Match;
    }
    // A hard reset is small: over TCP its length's high byte stays far
    // below a TLS record type.
    let small = pkt.transport == Transport::Udp || pkt.payload.first().is_some_and(|b| *b <= 5);
    if small
        && pkt.from_client
        && openvpn(pkt).is_some_and(|(op, key, _)| is_client_reset(op) && key == 0)
    {
        return Probe::Match;
    }
    if pkt.payload.len() < 4 {
        Probe::Unsure
    } else {
        Probe::NoMatch
    }
}

/// A WireGuard message: its type and the index (sender's for type 1, the
/// receiver's otherwise) and, for transport data, the counter.
fn wireguard(payload: &[u8]) -> Option<(u8, u32, u64)> {
    let mut c = Cursor::new(payload);
    let kind = c.u8().ok()?;
    if c.take(3).ok()? != [0, 0, 0] {
        return None;
    }
    let index = c.u32_le().ok()?;
    let size_ok = match kind {
        1 => payload.len() == 148,
        2 => payload.len() == 92,
        3 => payload.len() == 64,
        4 => payload.len() >= 32 && payload.len() % 16 == 0,
        _ => false,
    };
    if !size_ok {
        return None;
    }
    // §5.4.6: the counter follows the receiver index in transport data.
    let counter = if kind == 4 {
        c.u64().ok()?.swap_bytes()
    } else {
        0
    };
    Some((kind, index, counter))
}

/// An OpenVPN packet: opcode, key id and the 8 bytes after them (the
/// session id of control packets).
fn openvpn(pkt: &Packet<'_>) -> Option<(u8, u8, [u8; 8])> {
    let mut c = Cursor::new(pkt.payload);
    if pkt.transport == Transport::Tcp {
        // The 2-byte length of the first packet of a segment.
        let len = usize::from(c.u16().ok()?);
        if len > c.remaining() || len < 9 {
            return None;
        }
    } else if pkt.payload.len() < 22 {
        return None;
    }
    let first = c.u8().ok()?;
    let session = c.array::<8>().ok()?;
    Some((first >> 3, first & 0x07, session))
}

fn is_client_reset(op: u8) -> bool {
    matches!(
        op,
        HARD_RESET_CLIENT_V1 | HARD_RESET_CLIENT_V2 | HARD_RESET_CLIENT_V3
    )
}

#[derive(Debug, Default)]
pub(super) struct Parser {
    packets: u32,
    state: State,
}

#[derive(Debug, Default)]
enum State {
    #[default]
    Start,
    /// Transport data seen: the receiver index and counter per direction.
    WireGuardData([Option<(u32, u64)>; 2]),
    WireGuard,
    /// The client's session id from its hard reset.
    OpenVpn([u8; 8]),
}

impl Parser {
    pub(super) fn parse(&mut self, pkt: &Packet<'_>, out: &mut Findings) -> Parse {
        self.packets += 1;
        match &mut self.state {
            State::Start => self.start(pkt, out),
            State::WireGuard => Parse::Done,
            State::WireGuardData(seen) => {
                let Some((4, index, counter)) = wireguard(pkt.payload) else {
                    return Parse::Invalid;
                };
                let dir = pkt.dir();
                match seen.get(dir).copied().flatten() {
                    Some((i, n)) if i == index && counter > n => {
                        out.protocol = Protocol::WireGuard;
                        self.state = State::WireGuard;
                        Parse::Done
                    }
                    _ if self.packets >= MAX_UNCONFIRMED => Parse::Invalid,
                    _ => {
                        if let Some(slot) = seen.get_mut(dir) {
                            *slot = Some((index, counter));
                        }
                        Parse::Tentative
                    }
                }
            }
            State::OpenVpn(session) => {
                let Some((op, key, sid)) = openvpn(pkt) else {
                    return Parse::Invalid;
                };
                let confirmed = if pkt.from_client {
                    sid == *session && matches!(op, CONTROL_V1 | ACK_V1 | CONTROL_WKC_V1)
                } else {
                    key == 0 && matches!(op, HARD_RESET_SERVER_V1 | HARD_RESET_SERVER_V2)
                };
                if confirmed {
                    out.protocol = Protocol::OpenVpn;
                    Parse::Done
                } else if !pkt.from_client || self.packets >= MAX_UNCONFIRMED {
                    Parse::Invalid
                } else {
                    Parse::Tentative
                }
            }
        }
    }

    fn start(&mut self, pkt: &Packet<'_>, out: &mut Findings) -> Parse {
        if pkt.transport == Transport::Udp {
            if let Some((kind, index, counter)) = wireguard(pkt.payload) {
                if kind == 4 {
                    let mut seen = [None, None];
                    if let Some(slot) = seen.get_mut(pkt.dir()) {
                        *slot = Some((index, counter));
                    }
                    self.state = State::WireGuardData(seen);
                    return Parse::Tentative;
                }
                out.protocol = Protocol::WireGuard;
                self.state = State::WireGuard;
                return Parse::Done;
            }
        }
        match openvpn(pkt) {
            Some((op, 0, sid)) if pkt.from_client && is_client_reset(op) => {
                self.state = State::OpenVpn(sid);
                Parse::Tentative
            }
            _ => Parse::Invalid,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::super::stun::tests::findings_of;
    use super::super::testing::{every_prefix, flows, l7_name, payloads};
    use super::super::{Kind, Parse, Probe};
    use super::*;

    #[test]
    fn wireguard_flows_are_wireguard_from_handshake_or_data() {
        // The long flow may give several records (idle gaps): all agree.
        let names: Vec<String> = flows("wireguard.pcap").iter().map(l7_name).collect();
        assert!(
            names.len() >= 2 && names.iter().all(|n| n == "WireGuard"),
            "{names:?}"
        );
        assert_eq!(
            findings_of("wireguard.pcap", 36116, 51820).protocol,
            Protocol::WireGuard
        );
    }

    #[test]
    fn openvpn_over_udp_with_tls_crypt_and_over_tcp_is_openvpn() {
        for pcap in ["openvpn-tlscrypt.pcap", "443-opvn.pcap"] {
            let names: Vec<String> = flows(pcap).iter().map(l7_name).collect();
            assert_eq!(names, ["OpenVPN"], "{pcap}");
        }
    }

    #[test]
    fn a_lone_client_reset_claims_nothing() {
        let pkts = payloads("443-opvn.pcap");
        let first = pkts.first().unwrap();
        assert_eq!(Kind::Vpn.probe_for_test(&first.view(true)), Probe::Match);
        let verdicts = every_prefix(Kind::Vpn, first, true);
        assert_eq!(verdicts.last(), Some(&Parse::Tentative));
        assert!(
            verdicts
                .iter()
                .all(|v| matches!(v, Parse::Tentative | Parse::Invalid))
        );
    }

    #[test]
    fn cut_wireguard_messages_are_never_claimed() {
        for p in payloads("wireguard.pcap").iter().take(6) {
            for (len, verdict) in every_prefix(Kind::Vpn, p, true).iter().enumerate() {
                if len < p.payload.len() && len % 16 != 0 {
                    assert_eq!(*verdict, Parse::Invalid, "cut at {len}");
                }
            }
        }
    }

    #[test]
    fn tls_dns_quic_and_stun_are_not_vpn() {
        for pcap in [
            "443-chrome.pcap",
            "dns.pcap",
            "quic-29.pcap",
            "stun.pcap",
            "http.pcapng",
            "sip.pcap",
            "zoom2.pcap",
            "bittorrent_utp.pcap",
        ] {
            for p in payloads(pcap) {
                assert_ne!(
                    Kind::Vpn.probe_for_test(&p.to_server()),
                    Probe::Match,
                    "{pcap}: {:02x?}",
                    p.payload.get(..8)
                );
            }
        }
    }

    #[test]
    fn openvpn_and_tls_record_headers_cannot_both_match() {
        // A TLS record's first byte is its type (20-23); an OpenVPN-over-TCP
        // hard reset starts with its length's high byte.
        let mut tls = vec![0x16, 0x03, 0x01, 0x00, 0x2a, 0x38];
        tls.resize(44, 0);
        let pkt = Packet {
            payload: &tls,
            from_client: true,
            transport: Transport::Tcp,
            client_port: 50000,
            server_port: 443,
            tcp_seq: None,
            ts_us: 0,
            packet_no: 1,
        };
        assert_eq!(probe(&pkt), Probe::NoMatch);
        // Nor does a huge "hard reset" whose length starts like a record.
        let mut big = vec![0x16, 0x03, 0x38];
        big.resize(0x1603 + 2, 0);
        let pkt = Packet {
            payload: &big,
            ..pkt
        };
        assert_eq!(probe(&pkt), Probe::NoMatch);
    }
}
