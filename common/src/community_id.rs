//! Community ID v1 (<https://github.com/corelight/community-id-spec>): a hash of a
//! flow's 5-tuple that Zeek, Suricata and sonde agree on, so an analyst can pivot
//! between their records (`network.community_id`).
//!
//! ```text
//! sha1( seed:u16be . saddr . daddr . proto:u8 . 0x00 . sport:u16be . dport:u16be )
//! "1:" + base64(digest)        (or "1:" + hex(digest) without base64)
//! ```
//! The endpoints are ordered so that the numerically smaller (address, port)
//! comes first, which makes both directions of a flow hash alike. ICMP and
//! ICMPv6 use type and code as ports, the Zeek way ([`icmp_ports`]); one-way ICMP
//! messages are hashed in packet direction. Protocols without ports hash only the
//! addresses and the protocol number.
//!
//! This runs once per flow, not per packet; it still avoids allocating more than
//! the returned string.

use std::fmt;
use std::net::IpAddr;

use base64::Engine as _;
use sha1::{Digest as _, Sha1};

/// IANA protocol numbers that carry ports in Community ID v1.
const TCP: u8 = 6;
const UDP: u8 = 17;
const SCTP: u8 = 132;
/// ICMP and ICMPv6: type/code stand in for ports.
const ICMP: u8 = 1;
const ICMPV6: u8 = 58;

/// How the digest is written after the `1:` prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Encoding {
    /// Standard base64 with padding (28 characters), the default everywhere.
    #[default]
    Base64,
    /// 40 lowercase hex digits.
    Hex,
}

/// A configured Community ID v1 hasher.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct CommunityId {
    seed: u16,
    encoding: Encoding,
}

/// A flow's endpoints as seen in one packet (or the flow's originator direction).
///
/// For ICMP and ICMPv6, `src_port`/`dst_port` must already hold the mapped
/// values from [`icmp_ports`]; [`FlowTuple::icmp`] does that.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowTuple {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: u8,
    pub src_port: u16,
    pub dst_port: u16,
    /// Hash in the given direction without ordering the endpoints (one-way ICMP).
    pub one_way: bool,
}

/// Why no Community ID can be computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("source and destination are of different IP versions")]
    MixedAddressFamilies,
}

impl FlowTuple {
    /// A tuple for TCP, UDP, SCTP or a port-less protocol (ports ignored there).
    pub fn new(src: IpAddr, dst: IpAddr, proto: u8, src_port: u16, dst_port: u16) -> Self {
        Self {
            src,
            dst,
            proto,
            src_port,
            dst_port,
            one_way: false,
        }
    }

    /// A tuple for an ICMP (IPv4) or ICMPv6 message of the given type and code.
    pub fn icmp(src: IpAddr, dst: IpAddr, icmp_type: u8, icmp_code: u8) -> Self {
        let v6 = src.is_ipv6();
        let (src_port, dst_port, one_way) = icmp_ports(v6, icmp_type, icmp_code);
        let proto = if v6 { ICMPV6 } else { ICMP };
        Self {
            src,
            dst,
            proto,
            src_port,
            dst_port,
            one_way,
        }
    }
}

/// Maps an ICMP type and code to Community ID "ports": `(sport, dport, one_way)`.
///
/// Request/response types pair with their counterpart so that both directions
/// hash alike; every other type is one-way with `sport = type, dport = code`.
/// The table is the spec's (and Zeek's `ICMP.cc`).
pub fn icmp_ports(v6: bool, icmp_type: u8, icmp_code: u8) -> (u16, u16, bool) {
    let counterpart = if v6 {
        match icmp_type {
            128 => Some(129), // echo request / reply
            129 => Some(128),
            130 => Some(131), // MLD query / report
            131 => Some(130),
            133 => Some(134), // router solicitation / advertisement
            134 => Some(133),
            135 => Some(136), // neighbor solicitation / advertisement
            136 => Some(135),
            139 => Some(140), // node information query / response
            140 => Some(139),
            144 => Some(145), // home agent address discovery request / reply
            145 => Some(144),
            _ => None,
        }
    } else {
        match icmp_type {
            8 => Some(0), // echo request / reply
            0 => Some(8),
            13 => Some(14), // timestamp
            14 => Some(13),
            15 => Some(16), // information
            16 => Some(15),
            10 => Some(9), // router solicitation / advertisement
            9 => Some(10),
            17 => Some(18), // address mask
            18 => Some(17),
            _ => None,
        }
    };
    match counterpart {
        Some(other) => (u16::from(icmp_type), other, false),
        None => (u16::from(icmp_type), u16::from(icmp_code), true),
    }
}

impl CommunityId {
    pub fn new(seed: u16, encoding: Encoding) -> Self {
        Self { seed, encoding }
    }

    pub fn seed(&self) -> u16 {
        self.seed
    }

    /// The Community ID of a flow, e.g. `1:wCb3OG7yAFWelaUydu0D+125CLM=`.
    pub fn compute(&self, tuple: &FlowTuple) -> Result<String, Error> {
        let digest = self.digest(tuple)?;
        let mut out = String::with_capacity(42);
        out.push_str("1:");
        match self.encoding {
            Encoding::Base64 => {
                base64::engine::general_purpose::STANDARD.encode_string(digest, &mut out)
            }
            Encoding::Hex => out.push_str(&hex::encode(digest)),
        }
        Ok(out)
    }

    fn digest(&self, t: &FlowTuple) -> Result<[u8; 20], Error> {
        let has_ports = matches!(t.proto, TCP | UDP | SCTP | ICMP | ICMPV6);
        let (mut src, mut dst) = ((t.src, t.src_port), (t.dst, t.dst_port));
        // Order by address, then port; one-way ICMP keeps packet direction.
        let flip = !t.one_way && {
            let (a, b) = (ip_octets(&src.0), ip_octets(&dst.0));
            a > b || (a == b && has_ports && src.1 > dst.1)
        };
        if flip {
            std::mem::swap(&mut src, &mut dst);
        }
        let mut h = Sha1::new();
        h.update(self.seed.to_be_bytes());
        match (src.0, dst.0) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                h.update(a.octets());
                h.update(b.octets());
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                h.update(a.octets());
                h.update(b.octets());
            }
            _ => return Err(Error::MixedAddressFamilies),
        }
        h.update([t.proto, 0]);
        if has_ports {
            h.update(src.1.to_be_bytes());
            h.update(dst.1.to_be_bytes());
        }
        Ok(h.finalize().into())
    }
}

/// Address bytes in network order, for ordering endpoints as the spec does.
fn ip_octets(ip: &IpAddr) -> IpOctets {
    match ip {
        IpAddr::V4(a) => IpOctets::V4(a.octets()),
        IpAddr::V6(a) => IpOctets::V6(a.octets()),
    }
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum IpOctets {
    V4([u8; 4]),
    V6([u8; 16]),
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Encoding::Base64 => "base64",
            Encoding::Hex => "hex",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn spec_worked_example_matches_in_both_directions() {
        let fwd = FlowTuple::new(ip("1.2.3.4"), ip("5.6.7.8"), TCP, 1122, 3344);
        let rev = FlowTuple::new(ip("5.6.7.8"), ip("1.2.3.4"), TCP, 3344, 1122);
        let default = CommunityId::default();
        assert_eq!(
            default.compute(&fwd).unwrap(),
            "1:wCb3OG7yAFWelaUydu0D+125CLM="
        );
        assert_eq!(
            default.compute(&rev).unwrap(),
            "1:wCb3OG7yAFWelaUydu0D+125CLM="
        );
        let seeded = CommunityId::new(1, Encoding::Base64);
        assert_eq!(
            seeded.compute(&fwd).unwrap(),
            "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk="
        );
        let hex = CommunityId::new(0, Encoding::Hex);
        assert_eq!(
            hex.compute(&rev).unwrap(),
            "1:c026f7386ef200559e95a53276ed03fb5db908b3"
        );
    }

    #[test]
    fn echo_request_and_reply_share_an_id_but_unreachable_is_one_way() {
        let id = CommunityId::default();
        let req = FlowTuple::icmp(ip("192.168.0.89"), ip("192.168.0.1"), 8, 0);
        let rep = FlowTuple::icmp(ip("192.168.0.1"), ip("192.168.0.89"), 0, 0);
        assert_eq!(id.compute(&req).unwrap(), id.compute(&rep).unwrap());
        let unreach_a = FlowTuple::icmp(ip("10.0.0.2"), ip("10.0.0.1"), 3, 1);
        let unreach_b = FlowTuple::icmp(ip("10.0.0.1"), ip("10.0.0.2"), 3, 1);
        assert!(unreach_a.one_way);
        assert_ne!(
            id.compute(&unreach_a).unwrap(),
            id.compute(&unreach_b).unwrap()
        );
    }

    #[test]
    fn mixed_address_families_are_an_error() {
        let t = FlowTuple::new(ip("1.2.3.4"), ip("::1"), UDP, 1, 2);
        assert_eq!(
            CommunityId::default().compute(&t),
            Err(Error::MixedAddressFamilies)
        );
    }
}
