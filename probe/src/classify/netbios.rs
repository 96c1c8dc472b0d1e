//! NetBIOS over UDP (RFC 1002): the name service (port 137, §4.2) and the
//! datagram service (port 138, §4.4), in nDPI's names: `NetBIOS`, and
//! `NetBIOS.SMBv1` for a datagram carrying SMB (browser announcements).
//!
//! Recognised by the port plus a header that must be consistent: the name
//! service's DNS-like counts and a first-level encoded name (32 letters
//! `A`..`P`, §4.1) with type NB or NBSTAT; the datagram service's message
//! type and length. The name (the sender's, for datagrams) becomes the
//! flow's host name, as nDPI shows it. The NetBIOS session service (TCP 139)
//! is read by [`super::smb`].

use super::cursor::{Cursor, Error, Result};
use super::{Findings, Packet, Parse, Probe, Protocol, Risk, Transport};

pub(super) const TRANSPORTS: &[Transport] = &[Transport::Udp];
pub(super) const PROTOCOL: Protocol = Protocol::NetBios;

const NAME_SERVICE: u16 = 137;
const DATAGRAM_SERVICE: u16 = 138;

pub(super) fn probe(pkt: &Packet<'_>) -> Probe {
    let ok = if pkt.has_port(NAME_SERVICE) {
        name_packet(pkt.payload).is_ok()
    } else if pkt.has_port(DATAGRAM_SERVICE) {
        datagram(pkt.payload).is_ok()
    } else {
        false
    };
    if ok { Probe::Match } else { Probe::NoMatch }
}

#[derive(Debug, Default)]
pub(super) struct Parser;

impl Parser {
    pub(super) fn parse(&mut self, pkt: &Packet<'_>, out: &mut Findings) -> Parse {
        let read = if pkt.has_port(NAME_SERVICE) {
            name_packet(pkt.payload).map(|name| (name, false))
        } else {
            datagram(pkt.payload)
        };
        let Ok((name, smb)) = read else {
            return Parse::Invalid;
        };
        out.protocol = Protocol::NetBios;
        let name = name.text();
        if !name.is_empty() {
            out.set_host(name);
        }
        if smb {
            out.sub_protocol = Some(Protocol::SmbV1);
            out.risk(Risk::UnsafeProtocol);
        }
        Parse::Done
    }
}

/// A NetBIOS name (RFC 1001 §14.1): 15 characters and a suffix byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Name([u8; 16]);

impl Name {
    /// Reads a first-level encoded name and its scope (RFC 1002 §4.1): a
    /// 32-byte label of letters `A`..`P`, then scope labels, then 0.
    pub(super) fn read(c: &mut Cursor<'_>) -> Result<Name> {
        if c.u8()? != 32 {
            return Err(Error::Malformed);
        }
        let encoded = c.take(32)?;
        let mut name = [0u8; 16];
        for (out, pair) in name.iter_mut().zip(encoded.chunks_exact(2)) {
            let [hi, lo] = [pair.first(), pair.get(1)].map(|b| b.copied().unwrap_or(0));
            if !(b'A'..=b'P').contains(&hi) || !(b'A'..=b'P').contains(&lo) {
                return Err(Error::Malformed);
            }
            *out = ((hi - b'A') << 4) | (lo - b'A');
        }
        // Scope labels (rare), up to the root label.
        for _ in 0..16 {
            let len = c.u8()?;
            if len == 0 {
                return Ok(Name(name));
            }
            if len > 63 {
                return Err(Error::Malformed);
            }
            c.skip(usize::from(len))?;
        }
        Err(Error::Malformed)
    }

    /// The name without its suffix byte and padding spaces.
    pub(super) fn text(&self) -> &[u8] {
        let name = self.0.get(..15).unwrap_or_default();
        let end = name
            .iter()
            .rposition(|&b| b != b' ' && b != 0)
            .map_or(0, |i| i + 1);
        name.get(..end).unwrap_or_default()
    }
}

/// A name service packet (RFC 1002 §4.2.1): its first name (question or
/// resource record).
fn name_packet(p: &[u8]) -> Result<Name> {
    let mut c = Cursor::new(p);
    let _id = c.u16()?;
    let flags = c.u16()?;
    let counts = [c.u16()?, c.u16()?, c.u16()?, c.u16()?];
    // OPCODE: query 0, registration 5, release 6, WACK 7, refresh 8/9,
    // multi-homed registration 15.
    let opcode = (flags >> 11) & 0xf;
    if !matches!(opcode, 0 | 5..=9 | 15) {
        return Err(Error::Malformed);
    }
    if counts.iter().any(|&n| n > 1) || counts.iter().all(|&n| n == 0) {
        return Err(Error::Malformed);
    }
    let name = Name::read(&mut c)?;
    // NB (0x20) or NBSTAT (0x21), class IN; NULL (0x0a) and NS (0x02) in
    // negative and redirect responses.
    let rr_type = c.u16()?;
    let class = c.u16()?;
    if !matches!(rr_type, 0x20 | 0x21 | 0x0a | 0x02) || class != 1 {
        return Err(Error::Malformed);
    }
    Ok(name)
}

/// A datagram service packet (RFC 1002 §4.4): the source name (or the
/// queried name) and whether the user data is SMB.
fn datagram(p: &[u8]) -> Result<(Name, bool)> {
    let mut c = Cursor::new(p);
    let msg_type = c.u8()?;
    let _flags = c.u8()?;
    let _id = c.u16()?;
    let _source_ip = c.u32()?;
    let _source_port = c.u16()?;
    match msg_type {
        // DIRECT_UNIQUE, DIRECT_GROUP, BROADCAST: length, offset, names, data.
        0x10..=0x12 => {
            let len = c.u16()?;
            let _offset = c.u16()?;
            if usize::from(len) != c.remaining() {
                return Err(Error::Malformed);
            }
            let source = Name::read(&mut c)?;
            let _destination = Name::read(&mut c)?;
            Ok((source, c.peek_rest().starts_with(b"\xffSMB")))
        }
        // QUERY REQUEST, POSITIVE / NEGATIVE QUERY RESPONSE.
        0x14..=0x16 => Ok((Name::read(&mut c)?, false)),
        _ => Err(Error::Malformed),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::super::testing::{every_prefix, flows, l7_name, payloads};
    use super::super::{Kind, Parse, Probe};
    use super::*;

    fn ports(f: &sonde_proto::v1::Flow) -> (u32, u32) {
        let c = f.client.as_ref().map_or(0, |e| e.port);
        let s = f.server.as_ref().map_or(0, |e| e.port);
        (c, s)
    }

    #[test]
    fn win98_name_service_and_browser_datagrams_are_named_like_ndpi() {
        let flows = flows("dos_win98_smb_netbeui.pcap");
        let ns: Vec<_> = flows.iter().filter(|f| ports(f) == (137, 137)).collect();
        // Both name service flows (split by the UDP idle timeout here).
        assert!(ns.len() >= 2);
        for f in ns {
            assert_eq!(l7_name(f), "NetBIOS");
        }
        let dgm = flows.iter().find(|f| ports(f) == (138, 138)).unwrap();
        assert_eq!(l7_name(dgm), "NetBIOS.SMBv1");
        let risks: Vec<_> = dgm.risks.iter().map(|r| r.name.as_str()).collect();
        assert!(risks.contains(&"Unsafe Protocol"), "{risks:?}");
    }

    #[test]
    fn names_decode_to_the_hosts_ndpi_shows() {
        let p = payloads("dos_win98_smb_netbeui.pcap");
        let ns = p.iter().find(|p| p.dst_port == 137).unwrap();
        assert_eq!(name_packet(&ns.payload).unwrap().text(), b"MDJR98");
        let dgm = p.iter().find(|p| p.dst_port == 138).unwrap();
        let (name, smb) = datagram(&dgm.payload).unwrap();
        assert_eq!((name.text(), smb), (&b"MDJR98"[..], true));
        let tor = payloads("tor.pcap");
        let dgm = tor.iter().find(|p| p.dst_port == 138).unwrap();
        let mut f = Findings::default();
        assert_eq!(Parser.parse(&dgm.view(true), &mut f), Parse::Done);
        assert_eq!(f.host, "endian-pc");
        assert_eq!(f.sub_protocol, Some(Protocol::SmbV1));
    }

    #[test]
    fn cut_packets_are_never_done() {
        let p = payloads("dos_win98_smb_netbeui.pcap");
        for pkt in p
            .iter()
            .filter(|p| p.dst_port == 137 || p.dst_port == 138)
            .take(4)
        {
            let verdicts = every_prefix(Kind::NetBios, pkt, true);
            let whole = pkt.payload.len();
            for (len, v) in verdicts.iter().enumerate() {
                // Name packets may end after their first name; a datagram
                // must be whole (its length field says so).
                if pkt.dst_port == 138 && len < whole {
                    assert_eq!(*v, Parse::Invalid, "at {len}");
                }
                if len < 50 {
                    assert_eq!(*v, Parse::Invalid, "at {len}");
                }
            }
            assert_eq!(verdicts.last(), Some(&Parse::Done));
        }
    }

    #[test]
    fn dns_and_other_udp_on_the_same_ports_are_not_claimed() {
        for name in ["dns.pcap", "NTPv4.pcap", "dhcp-fuzz.pcapng"] {
            for p in payloads(name) {
                let mut on_137 = p.clone();
                on_137.dst_port = 137;
                let mut on_138 = p.clone();
                on_138.dst_port = 138;
                assert_eq!(
                    Kind::NetBios.probe_for_test(&on_137.view(true)),
                    Probe::NoMatch
                );
                assert_eq!(
                    Kind::NetBios.probe_for_test(&on_138.view(true)),
                    Probe::NoMatch
                );
            }
        }
    }
}
