//! DHCP (RFC 2131/2132, over BOOTP, UDP 67/68) and DHCPv6 (RFC 8415, UDP
//! 546/547).
//!
//! - DHCP: a BOOTP header (op 1 or 2, a sane hardware address length) and
//!   the magic cookie 99.130.83.99 (RFC 2131 §3), on the DHCP ports. The
//!   options give the message type (53), the client's host name (12: the
//!   flow's host, `dhcp.hostname`), the vendor class (60,
//!   `dhcp.vendor_class`) and the parameter request list (55), which nDPI
//!   prints as the DHCP fingerprint (`1,3,6,15`, `dhcp.fingerprint`).
//! - DHCPv6: a known message type (RFC 8415 §7.3) whose options (§21) fill
//!   the datagram exactly; the client FQDN (RFC 4704) and vendor class
//!   (§21.16) are kept the same way.
//!
//! One message says it all: DPI ends after it. Fuzzed options (a length past
//! the end) end the walk; what was read stays.

use std::fmt::Write as _;

use super::cursor::Cursor;
use super::{Findings, Packet, Parse, Probe, Protocol, Transport};

pub(super) const TRANSPORTS: &[Transport] = &[Transport::Udp];
pub(super) const PROTOCOL: Protocol = Protocol::Dhcp;

const SERVER: u16 = 67;
const CLIENT: u16 = 68;
const V6_CLIENT: u16 = 546;
const V6_SERVER: u16 = 547;
/// RFC 2131 §3: the first four octets of the options field.
const MAGIC: [u8; 4] = [99, 130, 83, 99];
/// The fixed BOOTP fields before the options (RFC 2131 §2, figure 1).
const BOOTP_LEN: usize = 236;

fn v4_ports(pkt: &Packet<'_>) -> bool {
    let (a, b) = (pkt.client_port, pkt.server_port);
    matches!((a, b), (SERVER | CLIENT, SERVER) | (SERVER, CLIENT))
}

fn v6_ports(pkt: &Packet<'_>) -> bool {
    pkt.has_port(V6_CLIENT) && pkt.has_port(V6_SERVER)
        || pkt.has_port(V6_SERVER) && pkt.client_port == pkt.server_port
}

pub(super) fn probe(pkt: &Packet<'_>) -> Probe {
    if v4_ports(pkt) {
        if bootp(pkt.payload).is_some() {
            Probe::Match
        } else {
            Probe::NoMatch
        }
    } else if v6_ports(pkt) && v6_message(pkt.payload).is_some() {
        Probe::Match
    } else {
        Probe::NoMatch
    }
}

/// The options of a DHCP message, after the BOOTP header and cookie.
fn bootp(payload: &[u8]) -> Option<&[u8]> {
    let mut c = Cursor::new(payload);
    let op = c.u8().ok()?;
    let _htype = c.u8().ok()?;
    let hlen = c.u8().ok()?;
    // RFC 2131 §2: op 1 BOOTREQUEST, 2 BOOTREPLY; chaddr is 16 bytes.
    if !matches!(op, 1 | 2) || hlen > 16 {
        return None;
    }
    c.skip(BOOTP_LEN - 3).ok()?;
    (c.array::<4>().ok()? == MAGIC).then(|| c.rest())
}

/// DHCPv6 message type and options, if the datagram is one (RFC 8415 §8, §9).
fn v6_message(payload: &[u8]) -> Option<(u8, &[u8])> {
    let mut c = Cursor::new(payload);
    let kind = c.u8().ok()?;
    match kind {
        // SOLICIT .. INFORMATION-REQUEST: a 3-byte transaction id.
        1..=11 => c.skip(3).ok()?,
        // RELAY-FORW, RELAY-REPL: hop count, link and peer addresses.
        12 | 13 => c.skip(33).ok()?,
        _ => return None,
    }
    let options = c.peek_rest();
    // §21.1: options are code, length, data, and fill the message exactly.
    while !c.is_empty() {
        c.skip(2).ok()?;
        c.vec_u16().ok()?;
    }
    Some((kind, options))
}

#[derive(Debug, Default)]
pub(super) struct Parser;

impl Parser {
    pub(super) fn parse(&mut self, pkt: &Packet<'_>, out: &mut Findings) -> Parse {
        if v4_ports(pkt) {
            let Some(options) = bootp(pkt.payload) else {
                return Parse::Invalid;
            };
            v4_options(options, out);
            return Parse::Done;
        }
        let Some((kind, options)) = v6_message(pkt.payload) else {
            return Parse::Invalid;
        };
        out.protocol = Protocol::Dhcpv6;
        out.extra("dhcp.message_type", v6_type_name(kind).as_bytes());
        v6_options(options, out);
        Parse::Done
    }
}

/// RFC 2132: the options of interest, until End or the data runs out.
fn v4_options(options: &[u8], out: &mut Findings) {
    let mut c = Cursor::new(options);
    while let Ok(code) = c.u8() {
        match code {
            0 => continue, // §3.1 Pad
            255 => break,  // §3.2 End
            _ => {}
        }
        let Ok(mut value) = c.vec_u8() else {
            break;
        };
        match code {
            // §9.6 DHCP Message Type
            53 => {
                if let Some(name) = value.u8().ok().and_then(v4_type_name) {
                    out.extra("dhcp.message_type", name.as_bytes());
                }
            }
            // §3.14 Host Name
            12 => {
                let name = value.rest();
                out.set_host(name);
                out.extra("dhcp.hostname", name);
            }
            // §9.13 Vendor class identifier
            60 => out.extra("dhcp.vendor_class", value.rest()),
            // §9.8 Parameter Request List: nDPI's fingerprint.
            55 => {
                let mut fp = String::new();
                for (i, b) in value.rest().iter().enumerate() {
                    let sep = if i == 0 { "" } else { "," };
                    let _ = write!(fp, "{sep}{b}");
                }
                out.extra("dhcp.fingerprint", fp.as_bytes());
            }
            _ => {}
        }
    }
}

/// RFC 2132 §9.6, RFC 3203, RFC 4388, RFC 6926.
fn v4_type_name(t: u8) -> Option<&'static str> {
    Some(match t {
        1 => "DISCOVER",
        2 => "OFFER",
        3 => "REQUEST",
        4 => "DECLINE",
        5 => "ACK",
        6 => "NAK",
        7 => "RELEASE",
        8 => "INFORM",
        9 => "FORCERENEW",
        10 => "LEASEQUERY",
        11 => "LEASEUNASSIGNED",
        12 => "LEASEUNKNOWN",
        13 => "LEASEACTIVE",
        _ => return None,
    })
}

/// RFC 8415 §7.3.
fn v6_type_name(t: u8) -> &'static str {
    match t {
        1 => "SOLICIT",
        2 => "ADVERTISE",
        3 => "REQUEST",
        4 => "CONFIRM",
        5 => "RENEW",
        6 => "REBIND",
        7 => "REPLY",
        8 => "RELEASE",
        9 => "DECLINE",
        10 => "RECONFIGURE",
        11 => "INFORMATION-REQUEST",
        12 => "RELAY-FORW",
        _ => "RELAY-REPL",
    }
}

/// RFC 8415 §21: client FQDN (RFC 4704 §4) and vendor class (§21.16).
fn v6_options(options: &[u8], out: &mut Findings) {
    let mut c = Cursor::new(options);
    while let (Ok(code), Ok(mut value)) = (c.u16(), c.vec_u16()) {
        match code {
            39 => {
                // Flags, then a domain name in wire form (possibly partial).
                let _flags = value.u8();
                let mut name = Vec::new();
                while let Ok(mut label) = value.vec_u8() {
                    if label.is_empty() {
                        break;
                    }
                    if !name.is_empty() {
                        name.push(b'.');
                    }
                    name.extend_from_slice(label.rest());
                }
                out.set_host(&name);
                out.extra("dhcp.hostname", &name);
            }
            // Enterprise number, then length-prefixed class data.
            16 => {
                if let (Ok(()), Ok(mut class)) = (value.skip(4), value.vec_u16()) {
                    out.extra("dhcp.vendor_class", class.rest());
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use sonde_proto::v1;

    use super::*;
    use crate::classify::Kind;
    use crate::classify::testing::{OwnedPacket, every_prefix, flows, l7_name, payloads};

    fn extra<'a>(f: &'a v1::Flow, key: &str) -> Option<&'a str> {
        f.l7.as_ref()?.extra.get(key).map(String::as_str)
    }

    fn by_l7<'a>(all: &'a [v1::Flow], name: &str) -> Vec<&'a v1::Flow> {
        all.iter().filter(|f| l7_name(f) == name).collect()
    }

    #[test]
    fn a_discover_gives_host_name_fingerprint_and_vendor_class() {
        let all = flows("whatsapp_login_chat.pcap");
        let dhcp = by_l7(&all, "DHCP");
        assert_eq!(dhcp.len(), 1);
        let f = dhcp[0];
        assert_eq!(extra(f, "dhcp.hostname"), Some("Lucas-iMac"));
        assert_eq!(
            extra(f, "dhcp.fingerprint"),
            Some("1,3,6,15,119,95,252,44,46")
        );
        assert_eq!(extra(f, "dhcp.message_type"), Some("DISCOVER"));
    }

    #[test]
    fn a_fuzzed_message_is_still_dhcp_and_keeps_what_it_read() {
        let all = flows("dhcp-fuzz.pcapng");
        assert_eq!(all.len(), 1);
        let f = &all[0];
        assert_eq!(l7_name(f), "DHCP");
        assert_eq!(extra(f, "dhcp.hostname"), Some("MK03862"));
        // Message type 106 does not exist: not reported.
        assert_eq!(extra(f, "dhcp.message_type"), None);
    }

    #[test]
    fn a_dhcpv6_solicit_is_dhcpv6() {
        let all = flows("tor.pcap");
        let v6 = by_l7(&all, "DHCPV6");
        assert_eq!(v6.len(), 1);
        let f = v6[0];
        assert_eq!(extra(f, "dhcp.message_type"), Some("SOLICIT"));
        assert_eq!(extra(f, "dhcp.hostname"), Some("Endian-PC"));
        assert_eq!(extra(f, "dhcp.vendor_class"), Some("MSFT 5.0"));
    }

    fn dhcp_packets() -> Vec<OwnedPacket> {
        let mut all = payloads("whatsapp_login_chat.pcap");
        all.extend(payloads("dhcp-fuzz.pcapng"));
        all.extend(payloads("tor.pcap"));
        all.into_iter()
            .filter(|p| matches!(p.dst_port, 67 | 547))
            .collect()
    }

    #[test]
    fn every_cut_is_safe_and_a_cut_header_is_not_dhcp() {
        let packets = dhcp_packets();
        assert!(packets.len() >= 3);
        for p in &packets {
            let results = every_prefix(Kind::Dhcp, p, true);
            let header = if p.dst_port == 67 { BOOTP_LEN + 4 } else { 4 };
            for r in results.iter().take(header) {
                assert_eq!(*r, Parse::Invalid);
            }
        }
    }

    #[test]
    fn other_udp_payloads_on_dhcp_ports_are_not_claimed() {
        for name in [
            "dns.pcap",
            "sip.pcap",
            "stun.pcap",
            "quic-29.pcap",
            "NTPv4.pcap",
        ] {
            for p in payloads(name).iter().take(30) {
                for (src, dst) in [(68, 67), (546, 547)] {
                    let moved = OwnedPacket {
                        src_port: src,
                        dst_port: dst,
                        ..p.clone()
                    };
                    assert_eq!(probe(&moved.view(true)), Probe::NoMatch, "{name}");
                }
            }
        }
    }
}
