//! The IP layer of a packet: addresses, protocol, lengths, fragment and
//! payload, from the common IPv4 header read by hand or from etherparse's
//! lax slices for everything else.

use std::net::IpAddr;

use etherparse::LaxIpSlice;

use super::{Fragment, Skip, proto};

/// What the IP layer says: addresses, protocol, wire length, header length,
/// fragment, and the payload (the captured bytes after the header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Ip<'a> {
    pub(super) src: IpAddr,
    pub(super) dst: IpAddr,
    pub(super) proto: u8,
    pub(super) ip_len: u32,
    pub(super) header_len: u32,
    pub(super) fragment: Fragment,
    pub(super) payload: &'a [u8],
}

/// The common case read by hand (RFC 791 §3.1): IPv4 without an
/// authentication header whose total length covers its header and fits the
/// captured bytes. Every other packet (IPv6, AH, short or inconsistent
/// lengths, a bad version or header length) goes to etherparse's lax
/// parser, which gives the same answer for the packets taken here (a test
/// compares both on every test capture). Calling etherparse per packet cost
/// a large result returned through memory and a store-forwarding stall.
#[inline]
pub(super) fn plain_ipv4(bytes: &[u8]) -> Option<Ip<'_>> {
    let h = bytes.first_chunk::<20>()?;
    let header_len = usize::from(h[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([h[2], h[3]]));
    let proto = h[9];
    if h[0] >> 4 != 4 || header_len < 20 || total < header_len || proto == proto::AH {
        return None;
    }
    let payload = bytes.get(header_len..total)?;
    let id = u32::from(u16::from_be_bytes([h[4], h[5]]));
    let flags_offset = u16::from_be_bytes([h[6], h[7]]);
    let fragment = match (flags_offset & 0x1fff, flags_offset & 0x2000 != 0) {
        (0, false) => Fragment::None,
        (0, true) => Fragment::First { id },
        _ => Fragment::Later { id },
    };
    Some(Ip {
        src: IpAddr::from([h[12], h[13], h[14], h[15]]),
        dst: IpAddr::from([h[16], h[17], h[18], h[19]]),
        proto,
        ip_len: total as u32,
        header_len: header_len as u32,
        fragment,
        payload,
    })
}

/// Any IP packet, through etherparse's lax slices (IPv4 options and AH,
/// IPv6 extension headers, lengths that disagree with the capture).
pub(super) fn lax_ip(bytes: &[u8]) -> Result<Ip<'_>, Skip> {
    use etherparse::err::ip::LaxHeaderSliceError;

    let (ip, _ext_err) = LaxIpSlice::from_slice(bytes).map_err(|e| match e {
        LaxHeaderSliceError::Len(_) => Skip::TruncatedIp,
        LaxHeaderSliceError::Content(_) => Skip::MalformedIp,
    })?;
    let (ip_len, fragment) = match &ip {
        LaxIpSlice::Ipv4(v4) => {
            let h = v4.header();
            let id = u32::from(h.identification());
            let fragment = match (h.fragments_offset().value(), h.more_fragments()) {
                (0, false) => Fragment::None,
                (0, true) => Fragment::First { id },
                _ => Fragment::Later { id },
            };
            (u32::from(h.total_len()), fragment)
        }
        LaxIpSlice::Ipv6(v6) => {
            // Walked here rather than with etherparse's extension iterator,
            // which reads out of bounds on a chain cut short (found by the
            // `decode` fuzz target, etherparse 0.21.0).
            let fragment = ipv6_fragment(v6.header().next_header().0, v6.extensions().slice());
            (40 + u32::from(v6.header().payload_length()), fragment)
        }
    };
    let payload = ip.payload();
    let header_len = match &ip {
        LaxIpSlice::Ipv4(v4) => u32::from(v4.header().ihl()) * 4,
        LaxIpSlice::Ipv6(v6) => 40 + v6.extensions().slice().len() as u32,
    };
    Ok(Ip {
        src: ip.source_addr(),
        dst: ip.destination_addr(),
        proto: payload.ip_number.0,
        ip_len,
        header_len,
        fragment,
        payload: payload.payload,
    })
}

/// The fragment header in an IPv6 extension chain, if any (RFC 8200 §4):
/// hop-by-hop (0), routing (43) and destination options (60) are
/// `(len + 1) * 8` bytes, fragment (44) is 8 bytes, authentication (51) is
/// `(len + 2) * 4` bytes. A chain cut short ends the walk.
pub(super) fn ipv6_fragment(mut next: u8, mut chain: &[u8]) -> Fragment {
    loop {
        let len = match next {
            0 | 43 | 60 => chain.get(1).map(|&l| (usize::from(l) + 1) * 8),
            44 => {
                let Some(h) = chain.get(..8) else {
                    return Fragment::None;
                };
                let offset = u16::from_be_bytes([h[2], h[3]]) >> 3;
                let more = h[3] & 1 == 1;
                let id = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
                return match (offset, more) {
                    (0, false) => Fragment::None,
                    (0, true) => Fragment::First { id },
                    _ => Fragment::Later { id },
                };
            }
            51 => chain.get(1).map(|&l| (usize::from(l) + 2) * 4),
            _ => return Fragment::None,
        };
        let Some(len) = len else {
            return Fragment::None;
        };
        let Some(&following) = chain.first() else {
            return Fragment::None;
        };
        let Some(rest) = chain.get(len..) else {
            return Fragment::None;
        };
        next = following;
        chain = rest;
    }
}
