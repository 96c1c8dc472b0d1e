//! Decode: one captured frame in, one [`Decoded`] packet (addresses, ports,
//! lengths, TCP header fields, payload) or a [`Skip`] reason out.
//!
//! - Link layers ([`LinkType`]): Ethernet with 802.1Q/802.1ad VLAN tags (QinQ;
//!   the outer id is the flow's VLAN), Linux cooked capture v1 and v2, raw IP,
//!   BSD loopback/null. Link headers are parsed here with bounds checks, and
//!   so is the common IPv4 header (no AH, lengths consistent with the
//!   capture); every other IP packet (IPv6 extension headers, AH, lax
//!   lengths) by etherparse.
//! - Transport headers (TCP, UDP, ICMP, ICMPv6, SCTP ports) are read here from
//!   the IP payload, so the first fragment of a fragmented datagram still yields
//!   its ports. Later fragments carry no transport header: they are returned as
//!   [`Fragment::Later`] for the flow table to attribute (see [`fragments`]).
//! - Lengths come from the IP header (wire lengths), not from the captured
//!   bytes, so a snaplen-truncated capture still counts true bytes.
//! - IP-in-IP tunnels (6in4, RFC 4213; IPv4 in IP, RFC 2003) are opened: the
//!   flow is the inner packet's, as nDPI and Zeek see it. At most
//!   [`MAX_TUNNEL_DEPTH`] levels; an inner packet that does not decode leaves
//!   the outer one as it is (a flow of IP protocol 4 or 41).
//!
//! Hot path: no allocation, `Copy` error enum, every read bounds-checked.

pub mod fragments;
mod ip;
mod link;

use std::net::IpAddr;

#[cfg(test)]
use ip::ipv6_fragment;
use ip::{Ip, lax_ip, plain_ipv4};
pub use link::LinkType;

/// IANA protocol numbers the decoder knows.
pub mod proto {
    pub const ICMP: u8 = 1;
    /// IPv4 encapsulated in IP (RFC 2003).
    pub const IPV4_IN_IP: u8 = 4;
    /// IPv6 encapsulated in IPv4 (6in4, RFC 4213).
    pub const IPV6_IN_IP: u8 = 41;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const ICMPV6: u8 = 58;
    /// IP Authentication Header (RFC 4302).
    pub const AH: u8 = 51;
    pub const SCTP: u8 = 132;
}

/// TCP flag bits (RFC 9293 §3.1).
pub mod tcp_flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;
}

/// A decoded IP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoded<'a> {
    /// Outer VLAN id, 0 when untagged.
    pub vlan: u16,
    pub src_mac: Option<[u8; 6]>,
    pub dst_mac: Option<[u8; 6]>,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: u8,
    /// Ports for TCP/UDP/SCTP; ICMP type and code; 0 otherwise.
    pub src_port: u16,
    pub dst_port: u16,
    /// Bytes of the IP packet on the wire (header included).
    pub ip_len: u32,
    /// Bytes above the transport header, from the header lengths.
    pub payload_len: u32,
    pub tcp: Option<TcpHeader>,
    pub fragment: Fragment,
    /// The captured payload above the transport header (may be shorter than
    /// `payload_len` when the capture was truncated).
    pub payload: &'a [u8],
}

/// The TCP header fields the flow table needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpHeader {
    pub flags: u8,
    pub seq: u32,
    pub ack: u32,
    pub window: u16,
}

/// Where a packet stands in IP fragmentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fragment {
    /// A whole datagram.
    None,
    /// The first fragment: it has the transport header and the ports.
    First { id: u32 },
    /// A later fragment: no transport header; ports are unknown here.
    Later { id: u32 },
}

/// Why a frame was not decoded into an IP packet; each is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Skip {
    /// The link header is cut short.
    TruncatedLink,
    /// Not IP (ARP, LLDP, STP...): normal traffic we do not track.
    NotIp,
    /// The IP header is cut short.
    TruncatedIp,
    /// The IP header is invalid (bad version, bad length fields).
    MalformedIp,
    /// The transport header is cut short (e.g. a tiny snaplen).
    TruncatedTransport,
    /// A link type this build cannot decode.
    UnsupportedLink,
}

impl Skip {
    pub const ALL: [Skip; 6] = [
        Skip::TruncatedLink,
        Skip::NotIp,
        Skip::TruncatedIp,
        Skip::MalformedIp,
        Skip::TruncatedTransport,
        Skip::UnsupportedLink,
    ];

    /// Stable name for metrics and summaries.
    pub fn name(self) -> &'static str {
        match self {
            Skip::TruncatedLink => "truncated_link",
            Skip::NotIp => "not_ip",
            Skip::TruncatedIp => "truncated_ip",
            Skip::MalformedIp => "malformed_ip",
            Skip::TruncatedTransport => "truncated_transport",
            Skip::UnsupportedLink => "unsupported_link",
        }
    }
}

/// Decodes one frame of the given link type.
// Inlined into the per-packet path so the result is built in place, not
// returned through memory and copied (a store-forwarding stall per packet).
#[inline]
pub fn decode(link: LinkType, frame: &[u8]) -> Result<Decoded<'_>, Skip> {
    let mut packet = Decoded::empty();
    decode_into(link, frame, &mut packet)?;
    Ok(packet)
}

/// [`decode`] into a `Decoded` the caller holds (every field written). The
/// engine's per-packet path: a `Decoded` returned by value was copied out
/// right after its addresses were stored, in wider loads than the stores,
/// and those store-to-load forwarding stalls showed as hot spots.
pub fn decode_into<'a>(
    link: LinkType,
    frame: &'a [u8],
    packet: &mut Decoded<'a>,
) -> Result<(), Skip> {
    let l2 = link::parse(link, frame)?;
    *packet = Decoded {
        vlan: l2.vlan,
        src_mac: l2.src_mac,
        dst_mac: l2.dst_mac,
        ..Decoded::empty()
    };
    decode_ip_at(l2.ip, 0, packet)
}

impl Decoded<'_> {
    /// No packet: unspecified IPv4 addresses, zeros, no payload.
    pub fn empty() -> Self {
        Decoded {
            vlan: 0,
            src_mac: None,
            dst_mac: None,
            src: IpAddr::from([0, 0, 0, 0]),
            dst: IpAddr::from([0, 0, 0, 0]),
            proto: 0,
            src_port: 0,
            dst_port: 0,
            ip_len: 0,
            payload_len: 0,
            tcp: None,
            fragment: Fragment::None,
            payload: &[],
        }
    }
}

/// IP-in-IP tunnels opened inside one another at most.
const MAX_TUNNEL_DEPTH: u8 = 2;

/// Decodes an IP packet (the bytes after the link header) into `packet`'s
/// IP-level fields (all of them; the link-level ones are left alone). Written
/// in place rather than returned: a `Decoded` returned through memory from
/// this recursive (so not inlined) function was copied on every packet.
fn decode_ip_at<'a>(bytes: &'a [u8], depth: u8, packet: &mut Decoded<'a>) -> Result<(), Skip> {
    let Ip {
        src,
        dst,
        proto,
        ip_len,
        header_len,
        fragment,
        payload,
    } = match plain_ipv4(bytes) {
        Some(ip) => ip,
        None => lax_ip(bytes)?,
    };
    // A length field of 0 (TSO/GSO captures, jumbograms): trust the capture.
    let captured = header_len + payload.len() as u32;
    let ip_len = if ip_len <= header_len && captured > header_len {
        captured
    } else {
        ip_len
    };
    let l4_wire = ip_len.saturating_sub(header_len);

    packet.src = src;
    packet.dst = dst;
    packet.proto = proto;
    packet.src_port = 0;
    packet.dst_port = 0;
    packet.ip_len = ip_len;
    packet.payload_len = 0;
    packet.tcp = None;
    packet.fragment = fragment;
    packet.payload = &[];
    if let Fragment::Later { .. } = fragment {
        packet.payload_len = l4_wire;
        return Ok(());
    }
    if fragment == Fragment::None
        && matches!(proto, proto::IPV4_IN_IP | proto::IPV6_IN_IP)
        && depth < MAX_TUNNEL_DEPTH
    {
        // An inner packet that does not decode leaves the outer one.
        let outer = *packet;
        if decode_ip_at(payload, depth + 1, packet).is_ok() {
            return Ok(());
        }
        *packet = outer;
    }
    transport(packet, payload, l4_wire)
}

/// Reads the transport header at the start of `l4` (captured bytes) whose wire
/// length is `l4_wire`.
fn transport<'a>(p: &mut Decoded<'a>, l4: &'a [u8], l4_wire: u32) -> Result<(), Skip> {
    let u16_at = |at: usize| -> Result<u16, Skip> {
        l4.get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or(Skip::TruncatedTransport)
    };
    let u32_at = |at: usize| -> Result<u32, Skip> {
        l4.get(at..at + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or(Skip::TruncatedTransport)
    };
    let header_len: usize = match p.proto {
        // RFC 9293 §3.1: data offset in 32-bit words, at least 5.
        proto::TCP => {
            let offset_byte = *l4.get(12).ok_or(Skip::TruncatedTransport)?;
            let header_len = usize::from(offset_byte >> 4) * 4;
            if header_len < 20 {
                return Err(Skip::TruncatedTransport);
            }
            p.src_port = u16_at(0)?;
            p.dst_port = u16_at(2)?;
            p.tcp = Some(TcpHeader {
                seq: u32_at(4)?,
                ack: u32_at(8)?,
                flags: *l4.get(13).ok_or(Skip::TruncatedTransport)?,
                window: u16_at(14)?,
            });
            header_len
        }
        // RFC 768 (UDP) and RFC 9260 §3.1 (SCTP common header): ports first.
        proto::UDP | proto::SCTP => {
            p.src_port = u16_at(0)?;
            p.dst_port = u16_at(2)?;
            if p.proto == proto::UDP { 8 } else { 12 }
        }
        // RFC 792 / RFC 4443: type and code, then 2 bytes of checksum.
        proto::ICMP | proto::ICMPV6 => {
            p.src_port = u16::from(*l4.first().ok_or(Skip::TruncatedTransport)?);
            p.dst_port = u16::from(*l4.get(1).ok_or(Skip::TruncatedTransport)?);
            // The rest (identifier, sequence, quoted packet) is payload.
            4
        }
        _ => 0,
    };
    p.payload_len = l4_wire.saturating_sub(header_len as u32);
    p.payload = l4.get(header_len..).unwrap_or(&[]);
    Ok(())
}

#[cfg(test)]
mod tests;
