//! Conversions from record values to the forms ECS and Security Onion expect:
//! dates, addresses, protocol names, Zeek connection states, flag names. Each
//! returns `None` for input it cannot represent faithfully, so the caller
//! omits the field instead of indexing garbage.

use std::borrow::Cow;
use std::net::IpAddr;

use sonde_proto::v1::{EndReason, Severity};
use time::OffsetDateTime;

/// Largest value an Elasticsearch `long` holds; counters above it would get
/// the whole document rejected, so they are clamped.
pub(super) const LONG_MAX: u64 = i64::MAX as u64;

/// Clamps a counter to the range of an Elasticsearch `long`.
pub(super) fn long(value: u64) -> u64 {
    value.min(LONG_MAX)
}

/// Unix microseconds as RFC 3339 UTC with exactly six fraction digits
/// (`2026-11-25T10:00:00.123456Z`). `None` for 0 (unset) and for instants
/// past year 9999, which RFC 3339's four-digit year cannot express.
pub(super) fn rfc3339_us(us: u64) -> Option<String> {
    let mut text = Vec::with_capacity(27);
    write_rfc3339_us(us, &mut text).then(|| String::from_utf8_lossy(&text).into_owned())
}

/// The instant of `us` when RFC 3339 can write it: not 0 (unset), not past
/// year 9999.
pub(super) fn rfc3339_instant(us: u64) -> Option<OffsetDateTime> {
    if us == 0 {
        return None;
    }
    let nanos = i128::from(us).checked_mul(1000)?;
    let t = OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()?;
    (0..=9999).contains(&t.year()).then_some(t)
}

/// Appends [`rfc3339_us`]'s text to `out`; false (nothing written) where it
/// gives `None`. Digit by digit: this runs for every date of every document.
pub(super) fn write_rfc3339_us(us: u64, out: &mut Vec<u8>) -> bool {
    let Some(t) = rfc3339_instant(us) else {
        return false;
    };
    let mut digits = |value: u32, width: u32, after: u8| {
        for place in (0..width).rev() {
            let digit = (value / 10u32.pow(place)) % 10;
            out.push(b'0' + digit as u8);
        }
        out.push(after);
    };
    digits(t.year().unsigned_abs(), 4, b'-');
    digits(u32::from(u8::from(t.month())), 2, b'-');
    digits(u32::from(t.day()), 2, b'T');
    digits(u32::from(t.hour()), 2, b':');
    digits(u32::from(t.minute()), 2, b':');
    digits(u32::from(t.second()), 2, b'.');
    digits(t.microsecond(), 6, b'Z');
    true
}

/// Network-order address bytes: 4 for IPv4, 16 for IPv6, anything else invalid.
pub(super) fn ip(bytes: &[u8]) -> Option<IpAddr> {
    sonde_proto::ip_from_bytes(bytes)
}

/// A MAC address in ECS form: uppercase hex pairs joined by dashes
/// (`00-11-22-AA-BB-CC`, RFC 7042 notation as the ECS `mac` fields require).
pub(super) fn mac(bytes: &[u8]) -> Option<String> {
    let octets = <[u8; 6]>::try_from(bytes).ok()?;
    let parts: Vec<String> = octets.iter().map(|b| format!("{b:02X}")).collect();
    Some(parts.join("-"))
}

/// ECS `network.transport`: the IANA protocol keyword in lowercase
/// (`ipv6-icmp`, as ECS's own example), else the number itself. `None` for
/// 0 (unset in proto3) and for values that are not 8-bit protocol numbers.
pub(super) fn transport(ip_protocol: u32) -> Option<Cow<'static, str>> {
    let name = match ip_protocol {
        0 | 256.. => return None,
        1 => "icmp",
        2 => "igmp",
        4 => "ipv4",
        6 => "tcp",
        17 => "udp",
        41 => "ipv6",
        46 => "rsvp",
        47 => "gre",
        50 => "esp",
        51 => "ah",
        58 => "ipv6-icmp",
        88 => "eigrp",
        89 => "ospfigp",
        103 => "pim",
        112 => "vrrp",
        115 => "l2tp",
        132 => "sctp",
        136 => "udplite",
        other => return Some(Cow::Owned(other.to_string())),
    };
    Some(Cow::Borrowed(name))
}

/// Whether the protocol has ports (the only ones whose `Endpoint.port` is a port).
pub(super) fn has_ports(ip_protocol: u32) -> bool {
    matches!(ip_protocol, 6 | 17 | 132)
}

/// ICMP and ICMPv6 carry type and code in the endpoint ports (as Zeek does).
pub(super) fn is_icmp(ip_protocol: u32) -> bool {
    matches!(ip_protocol, 1 | 58)
}

/// Security Onion's description of a Zeek `conn_state`, word for word as its
/// zeek.conn ingest pipeline sets `connection.state_description`, so sonde
/// and Zeek documents group together on SO's dashboards.
pub(super) fn conn_state_description(state: &str) -> Option<&'static str> {
    Some(match state {
        "S0" => "Connection attempt seen, no reply",
        "S1" => "Connection established, not terminated",
        "S2" => {
            "Connection established and close attempt by originator seen (but no reply from responder)"
        }
        "S3" => {
            "Connection established and close attempt by responder seen (but no reply from originator)"
        }
        "SF" => "Normal SYN/FIN completion",
        "REJ" => "Connection attempt rejected",
        "RSTO" => "Connection established, originator aborted (sent a RST)",
        "RSTR" => "Established, responder aborted",
        "RSTOS0" => {
            "Originator sent a SYN followed by a RST, we never saw a SYN-ACK from the responder"
        }
        "RSTRH" => {
            "Responder sent a SYN ACK followed by a RST, we never saw a SYN from the (purported) originator"
        }
        "SH" => {
            "Originator sent a SYN followed by a FIN, we never saw a SYN ACK from the responder (hence the connection was 'half' open)"
        }
        "SHR" => {
            "Responder sent a SYN ACK followed by a FIN, we never saw a SYN from the originator"
        }
        "OTH" => {
            "No SYN seen, just midstream traffic (a 'partial connection' that was not later closed)"
        }
        _ => return None,
    })
}

/// Names of the TCP flags set in `flags` (RFC 9293 §3.1 bit order, FIN = 0x01
/// up to CWR = 0x80); bits above the eight flags are ignored.
pub(super) fn tcp_flags(flags: u32) -> Vec<&'static str> {
    const NAMES: [&str; 8] = ["FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"];
    NAMES
        .iter()
        .enumerate()
        .filter(|(bit, _)| flags & (1 << bit) != 0)
        .map(|(_, name)| *name)
        .collect()
}

/// The end reason as one lowercase word; `None` when unset or unknown.
pub(super) fn end_reason(raw: i32) -> Option<&'static str> {
    Some(match EndReason::try_from(raw).ok()? {
        EndReason::Unspecified => return None,
        EndReason::Idle => "idle",
        EndReason::ActiveTimeout => "active_timeout",
        EndReason::Fin => "fin",
        EndReason::Rst => "rst",
        EndReason::Evicted => "evicted",
        EndReason::Shutdown => "shutdown",
    })
}

/// SO's severity words; `None` when unset or unknown.
pub(super) fn severity(raw: i32) -> Option<&'static str> {
    Some(match Severity::try_from(raw).ok()? {
        Severity::Unspecified => return None,
        Severity::Low => "low",
        Severity::Medium => "medium",
        Severity::High => "high",
        Severity::Critical => "critical",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_six_fraction_digits_and_refuse_unrepresentable_instants() {
        assert_eq!(
            rfc3339_us(1_795_600_800_123_456).as_deref(),
            Some("2026-11-25T10:00:00.123456Z")
        );
        assert_eq!(
            rfc3339_us(1).as_deref(),
            Some("1970-01-01T00:00:00.000001Z")
        );
        assert_eq!(rfc3339_us(0), None);
        assert_eq!(rfc3339_us(u64::MAX), None);
        // 9999-12-31T23:59:59.999999Z is the last instant with a 4-digit year.
        assert!(rfc3339_us(253_402_300_799_999_999).is_some());
        assert_eq!(rfc3339_us(253_402_300_800_000_000), None);
    }

    #[test]
    fn addresses_need_exact_lengths() {
        assert_eq!(
            ip(&[10, 0, 0, 1]),
            Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)))
        );
        assert_eq!(
            ip(&[0; 16]),
            Some(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED))
        );
        assert_eq!(ip(&[1, 2, 3]), None);
        assert_eq!(ip(&[]), None);
        assert_eq!(
            mac(&[0x00, 0x11, 0x22, 0xaa, 0xbb, 0xcc]).as_deref(),
            Some("00-11-22-AA-BB-CC")
        );
        assert_eq!(mac(&[0; 8]), None);
    }

    #[test]
    fn transports_use_iana_keywords_else_the_number() {
        assert_eq!(transport(58).as_deref(), Some("ipv6-icmp"));
        assert_eq!(transport(253).as_deref(), Some("253"));
        assert_eq!(transport(0), None);
        assert_eq!(transport(256), None);
    }

    #[test]
    fn tcp_flags_are_named_in_bit_order() {
        assert_eq!(tcp_flags(0x12), ["SYN", "ACK"]);
        assert_eq!(tcp_flags(0xff).len(), 8);
        assert!(tcp_flags(0x100).is_empty());
    }

    #[test]
    fn every_zeek_state_has_a_description() {
        for state in [
            "S0", "S1", "SF", "REJ", "S2", "S3", "RSTO", "RSTR", "RSTOS0", "RSTRH", "SH", "SHR",
            "OTH",
        ] {
            assert!(conn_state_description(state).is_some(), "{state}");
        }
        assert_eq!(conn_state_description("sf"), None);
    }

    #[test]
    fn unknown_enum_values_are_dropped() {
        assert_eq!(end_reason(2), Some("active_timeout"));
        assert_eq!(end_reason(0), None);
        assert_eq!(end_reason(99), None);
        assert_eq!(severity(4), Some("critical"));
        assert_eq!(severity(-1), None);
    }
}
