//! Address classes for enrichment: which addresses are worth a GeoIP lookup
//! and which belong to the operator's own networks (`network.direction`).
//!
//! Input: addresses parsed from a document (untrusted, any family) and the
//! CIDRs of `enrich.local_networks`. Output: a yes/no per address, and the ECS
//! direction of a flow. Invariants: no allocation per call; IPv4-mapped IPv6
//! addresses (`::ffff:10.0.0.1`) count as their IPv4 address everywhere.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// The operator's networks; empty means "direction unknown".
#[derive(Clone, Debug, Default)]
pub(crate) struct LocalNetworks(Vec<IpNet>);

impl LocalNetworks {
    /// Parses every CIDR, or returns the index and text of the first bad one.
    pub(crate) fn parse(cidrs: &[String]) -> Result<Self, (usize, String)> {
        cidrs
            .iter()
            .enumerate()
            .map(|(i, cidr)| parse_cidr(cidr).ok_or_else(|| (i, cidr.clone())))
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// ECS `network.direction` of a flow from `source` (the originator) to
    /// `destination`; `None` when no local networks are configured.
    pub(crate) fn direction(&self, source: IpAddr, destination: IpAddr) -> Option<&'static str> {
        if self.is_empty() {
            return None;
        }
        Some(match (self.contains(source), self.contains(destination)) {
            (true, true) => "internal",
            (true, false) => "outbound",
            (false, true) => "inbound",
            (false, false) => "external",
        })
    }
}

/// A CIDR such as `10.0.0.0/8` or `fd00::/8`, surrounding blanks ignored.
/// Host bits (`10.1.2.3/8`) are accepted: the prefix is what counts.
pub(crate) fn parse_cidr(text: &str) -> Option<IpNet> {
    text.trim().parse::<IpNet>().ok().map(|net| net.trunc())
}

/// Whether a public GeoIP/ASN database can know `ip`: not private, loopback,
/// link-local, shared (CGNAT), multicast, broadcast or unspecified. Those are
/// skipped without a lookup: they are never in MaxMind's data, and skipping
/// them keeps the hot path short for the many internal flows.
pub(crate) fn is_globally_routed(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => is_global_v4(v4),
        IpAddr::V6(v6) => is_global_v6(v6),
    }
}

fn is_global_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    let shared = a == 100 && (b & 0xc0) == 64; // RFC 6598, 100.64.0.0/10
    let this_network = a == 0; // RFC 791, 0.0.0.0/8
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || shared
        || this_network)
}

fn is_global_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    let unique_local = (first & 0xfe00) == 0xfc00; // RFC 4193, fc00::/7
    let link_local = (first & 0xffc0) == 0xfe80; // RFC 4291, fe80::/10
    !(ip.is_unspecified() || ip.is_loopback() || ip.is_multicast() || unique_local || link_local)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn private_and_special_addresses_are_not_looked_up() {
        for s in [
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.251",
            "255.255.255.255",
            "::",
            "::1",
            "fd00::1",
            "fe80::1",
            "ff02::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_globally_routed(ip(s)), "{s}");
        }
        for s in [
            "89.160.20.112",
            "8.8.8.8",
            "100.128.0.1",
            "2001:218::1",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_globally_routed(ip(s)), "{s}");
        }
    }

    #[test]
    fn ipv4_mapped_addresses_match_ipv4_local_networks() {
        let local = LocalNetworks::parse(&["10.0.0.0/8".to_owned()]).unwrap();
        assert!(local.contains(ip("::ffff:10.1.2.3")));
        assert!(!local.contains(ip("::ffff:11.1.2.3")));
    }

    #[test]
    fn cidrs_with_host_bits_or_blanks_parse_to_their_prefix() {
        assert_eq!(parse_cidr(" 10.1.2.3/8 "), Some(ip_net("10.0.0.0/8")));
        assert_eq!(parse_cidr("10.0.0.1"), None);
        assert_eq!(parse_cidr("10.0.0.0/33"), None);
    }

    fn ip_net(s: &str) -> IpNet {
        s.parse().unwrap()
    }
}
