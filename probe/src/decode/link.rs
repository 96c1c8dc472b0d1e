//! Link layers: find the IP packet in a frame, with its VLAN and MAC addresses.
//!
//! Formats (tcpdump.org link-layer header types):
//! - `LINKTYPE_ETHERNET` (1): 14-byte header, then up to two VLAN tags
//!   (802.1Q 0x8100, 802.1ad 0x88a8, legacy 0x9100), each 4 bytes, then
//!   optionally a PPPoE session header (0x8864, RFC 2516 §4: 6 bytes) and the
//!   PPP protocol field (RFC 1661 §2: 0x0021 IPv4, 0x0057 IPv6), as on DSL
//!   uplinks of branch routers.
//! - `LINKTYPE_LINUX_SLL` (113): 16 bytes, protocol (an EtherType) at 14.
//! - `LINKTYPE_LINUX_SLL2` (276): 20 bytes, protocol at 0.
//! - `LINKTYPE_RAW` (101; also DLT 12 and 14 on some systems), `LINKTYPE_IPV4`
//!   (228), `LINKTYPE_IPV6` (229): the frame is the IP packet.
//! - `LINKTYPE_NULL` (0, host byte order) and `LINKTYPE_LOOP` (108, network
//!   order): a 4-byte address family (2 = IPv4; 24, 28, 30 = IPv6).

use super::Skip;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
const ETHERTYPE_QINQ_OLD: u16 = 0x9100;
const ETHERTYPE_PPPOE_SESSION: u16 = 0x8864;
const PPP_IPV4: u16 = 0x0021;
const PPP_IPV6: u16 = 0x0057;
/// VLAN tags followed at most; deeper stacks are not IP for us.
const MAX_VLAN_TAGS: usize = 2;

/// A capture's link-layer header type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkType {
    Ethernet,
    LinuxSll,
    LinuxSll2,
    RawIp,
    /// BSD loopback with the address family in host byte order.
    Null,
    /// OpenBSD loopback with the address family in network byte order.
    Loop,
    /// Anything else, with the DLT number for the error message.
    Other(i32),
}

impl LinkType {
    /// From a pcap DLT / LINKTYPE number.
    pub fn from_dlt(dlt: i32) -> Self {
        match dlt {
            1 => LinkType::Ethernet,
            113 => LinkType::LinuxSll,
            276 => LinkType::LinuxSll2,
            12 | 14 | 101 | 228 | 229 => LinkType::RawIp,
            0 => LinkType::Null,
            108 => LinkType::Loop,
            other => LinkType::Other(other),
        }
    }

    pub fn is_supported(self) -> bool {
        !matches!(self, LinkType::Other(_))
    }
}

/// The IP packet inside a frame and what the link layer said about it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct L2<'a> {
    pub(crate) ip: &'a [u8],
    pub(crate) vlan: u16,
    pub(crate) src_mac: Option<[u8; 6]>,
    pub(crate) dst_mac: Option<[u8; 6]>,
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at + 2).map(|x| u16::from_be_bytes([x[0], x[1]]))
}

fn mac(b: &[u8], at: usize) -> Option<[u8; 6]> {
    b.get(at..at + 6).and_then(|x| <[u8; 6]>::try_from(x).ok())
}

fn ip_ethertype(ethertype: u16) -> Result<(), Skip> {
    match ethertype {
        ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => Ok(()),
        _ => Err(Skip::NotIp),
    }
}

pub(crate) fn parse(link: LinkType, frame: &[u8]) -> Result<L2<'_>, Skip> {
    let plain = |ip| {
        Ok(L2 {
            ip,
            vlan: 0,
            src_mac: None,
            dst_mac: None,
        })
    };
    match link {
        LinkType::Ethernet => ethernet(frame),
        LinkType::LinuxSll => {
            ip_ethertype(be16(frame, 14).ok_or(Skip::TruncatedLink)?)?;
            plain(frame.get(16..).ok_or(Skip::TruncatedLink)?)
        }
        LinkType::LinuxSll2 => {
            ip_ethertype(be16(frame, 0).ok_or(Skip::TruncatedLink)?)?;
            plain(frame.get(20..).ok_or(Skip::TruncatedLink)?)
        }
        LinkType::RawIp => match frame.first().map(|b| b >> 4) {
            Some(4 | 6) => plain(frame),
            Some(_) => Err(Skip::NotIp),
            None => Err(Skip::TruncatedLink),
        },
        LinkType::Null | LinkType::Loop => {
            let raw: [u8; 4] = frame
                .get(..4)
                .and_then(|b| b.try_into().ok())
                .ok_or(Skip::TruncatedLink)?;
            let family = if link == LinkType::Loop {
                u32::from_be_bytes(raw)
            } else {
                // Host byte order of the capturing machine: accept either.
                let le = u32::from_le_bytes(raw);
                if le < 0x100 {
                    le
                } else {
                    u32::from_be_bytes(raw)
                }
            };
            match family {
                2 | 24 | 28 | 30 => plain(frame.get(4..).ok_or(Skip::TruncatedLink)?),
                _ => Err(Skip::NotIp),
            }
        }
        LinkType::Other(_) => Err(Skip::UnsupportedLink),
    }
}

/// IEEE 802.3 Ethernet II with optional 802.1Q / 802.1ad tags.
fn ethernet(frame: &[u8]) -> Result<L2<'_>, Skip> {
    let dst_mac = mac(frame, 0).ok_or(Skip::TruncatedLink)?;
    let src_mac = mac(frame, 6).ok_or(Skip::TruncatedLink)?;
    let mut ethertype = be16(frame, 12).ok_or(Skip::TruncatedLink)?;
    let mut at = 14;
    let mut vlan = 0;
    let mut tags = 0;
    while matches!(
        ethertype,
        ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD
    ) {
        if tags == MAX_VLAN_TAGS {
            return Err(Skip::NotIp);
        }
        // IEEE 802.1Q §9.6: TCI (PCP 3 bits, DEI 1 bit, VID 12 bits), then the EtherType.
        let tci = be16(frame, at).ok_or(Skip::TruncatedLink)?;
        if tags == 0 {
            vlan = tci & 0x0fff;
        }
        ethertype = be16(frame, at + 2).ok_or(Skip::TruncatedLink)?;
        at += 4;
        tags += 1;
    }
    if ethertype == ETHERTYPE_PPPOE_SESSION {
        // Version and type 1 (0x11), code 0 (session data).
        if frame.get(at..at + 2) != Some(&[0x11, 0x00][..]) {
            return Err(Skip::NotIp);
        }
        ethertype = match be16(frame, at + 6).ok_or(Skip::TruncatedLink)? {
            PPP_IPV4 => ETHERTYPE_IPV4,
            PPP_IPV6 => ETHERTYPE_IPV6,
            _ => return Err(Skip::NotIp),
        };
        at += 8;
    }
    ip_ethertype(ethertype)?;
    let ip = frame.get(at..).ok_or(Skip::TruncatedLink)?;
    Ok(L2 {
        ip,
        vlan,
        src_mac: Some(src_mac),
        dst_mac: Some(dst_mac),
    })
}
