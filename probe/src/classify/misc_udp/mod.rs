//! Infrastructure and LAN-discovery protocols over UDP, each told by its
//! first datagram:
//! - NTP (RFC 5905 §7.3) on port 123: version 1-4, a known mode, the 48-byte
//!   header (12 bytes for control messages, mode 6; 8 for mode 7);
//!   `ntp.version`, `ntp.mode`, `ntp.stratum`.
//! - SNMP (RFC 3416, RFC 3412) on 161/162: a BER message filling the
//!   datagram ([`snmp`]); `snmp.version`, `snmp.community`, `snmp.pdu`.
//! - SSDP (UPnP Device Architecture §1.3): `M-SEARCH * HTTP/1.1` or
//!   `NOTIFY * HTTP/1.1` on any port (Plex uses its own), `HTTP/1.1 200` from
//!   or to 1900; `ssdp.method`, `ssdp.target` (ST/NT), `ssdp.user_agent`.
//! - Syslog (RFC 5424 §6.2.1, RFC 3164 §4.1.1) on 514: `<PRI>` with PRI up to
//!   191; `syslog.facility`, `syslog.severity`.
//! - Dropbox LAN sync on 17500: a JSON announcement with `"host_int"`.
//! - Spotify LAN discovery: the `SpotUdp0` magic (nDPI's check; on 57621).
//!
//! DPI ends after the first datagram.

mod snmp;

use super::cursor::Cursor;
use super::{Findings, Packet, Parse, Probe, Protocol, Transport};

pub(super) const TRANSPORTS: &[Transport] = &[Transport::Udp];
/// The parser always sets the precise protocol.
pub(super) const PROTOCOL: Protocol = Protocol::Unknown;

const NTP_PORT: u16 = 123;
const SNMP_PORTS: [u16; 2] = [161, 162];
const SSDP_PORT: u16 = 1900;
const SYSLOG_PORT: u16 = 514;
const DROPBOX_PORT: u16 = 17500;

/// Which protocol a datagram is, if any of this module's.
fn which(pkt: &Packet<'_>) -> Option<Protocol> {
    let p = pkt.payload;
    if p.starts_with(b"SpotUdp0") {
        return Some(Protocol::Spotify);
    }
    if p.starts_with(b"M-SEARCH * HTTP/1.")
        || p.starts_with(b"NOTIFY * HTTP/1.")
        || p.starts_with(b"HTTP/1.1 200") && pkt.has_port(SSDP_PORT)
    {
        return Some(Protocol::Ssdp);
    }
    if pkt.has_port(DROPBOX_PORT) && p.starts_with(b"{") && dropbox(p) {
        return Some(Protocol::Dropbox);
    }
    if pkt.has_port(NTP_PORT) && ntp(p).is_some() {
        return Some(Protocol::Ntp);
    }
    if SNMP_PORTS.iter().any(|&port| pkt.has_port(port)) && snmp::read(p).is_ok() {
        return Some(Protocol::Snmp);
    }
    if pkt.has_port(SYSLOG_PORT) && syslog_pri(p).is_some() {
        return Some(Protocol::Syslog);
    }
    None
}

pub(super) fn probe(pkt: &Packet<'_>) -> Probe {
    if which(pkt).is_some() {
        Probe::Match
    } else {
        Probe::NoMatch
    }
}

#[derive(Debug, Default)]
pub(super) struct Parser;

impl Parser {
    pub(super) fn parse(&mut self, pkt: &Packet<'_>, out: &mut Findings) -> Parse {
        let Some(protocol) = which(pkt) else {
            return Parse::Invalid;
        };
        out.protocol = protocol;
        let p = pkt.payload;
        match protocol {
            Protocol::Ntp => {
                if let Some(h) = ntp(p) {
                    out.extra("ntp.version", h.version.to_string().as_bytes());
                    out.extra("ntp.mode", h.mode.as_bytes());
                    if let Some(stratum) = h.stratum {
                        out.extra("ntp.stratum", stratum.to_string().as_bytes());
                    }
                }
            }
            Protocol::Snmp => {
                if let Ok(m) = snmp::read(p) {
                    out.extra("snmp.version", m.version.as_bytes());
                    if let Some(c) = m.community {
                        out.extra("snmp.community", c);
                    }
                    if let Some(pdu) = m.pdu {
                        out.extra("snmp.pdu", pdu.as_bytes());
                    }
                }
            }
            Protocol::Ssdp => ssdp(p, out),
            Protocol::Syslog => {
                if let Some(pri) = syslog_pri(p) {
                    // RFC 5424 §6.2.1: PRI = facility * 8 + severity.
                    out.extra("syslog.facility", (pri / 8).to_string().as_bytes());
                    out.extra("syslog.severity", (pri % 8).to_string().as_bytes());
                }
            }
            _ => {}
        }
        Parse::Done
    }
}

/// The NTP header fields worth keeping.
struct Ntp {
    version: u8,
    mode: &'static str,
    /// Modes 1-5 only.
    stratum: Option<u8>,
}

/// RFC 5905 §7.3 (modes 1-5), RFC 1305 appendix B (6), ntpd's mode 7.
fn ntp(p: &[u8]) -> Option<Ntp> {
    let mut c = Cursor::new(p);
    let first = c.u8().ok()?;
    let version = (first >> 3) & 0x07;
    let mode = first & 0x07;
    if !(1..=4).contains(&version) {
        return None;
    }
    let (name, min_len) = match mode {
        1 => ("symmetric active", 48),
        2 => ("symmetric passive", 48),
        3 => ("client", 48),
        4 => ("server", 48),
        5 => ("broadcast", 48),
        6 => ("control", 12),
        7 => ("private", 8),
        _ => return None,
    };
    if p.len() < min_len {
        return None;
    }
    let stratum = (mode <= 5).then(|| c.u8().ok()).flatten();
    // Strata above 16 are reserved (§7.3).
    if stratum.is_some_and(|s| s > 16) {
        return None;
    }
    Some(Ntp {
        version,
        mode: name,
        stratum,
    })
}

/// `<PRI>` at the start of a syslog message: 1-3 digits, at most 191, and
/// no leading zero but in `<0>` (RFC 5424 §6.2.1).
fn syslog_pri(p: &[u8]) -> Option<u8> {
    let mut c = Cursor::new(p);
    if c.u8().ok()? != b'<' {
        return None;
    }
    let mut pri: u16 = 0;
    for i in 0..4 {
        let b = c.u8().ok()?;
        match b {
            b'>' if i > 0 => return u8::try_from(pri).ok().filter(|&v| v <= 191),
            b'0'..=b'9' if i < 3 && !(i == 1 && pri == 0) => {
                pri = pri * 10 + u16::from(b - b'0');
            }
            _ => return None,
        }
    }
    None
}

/// nDPI's Dropbox LAN sync check: the announcement names `"host_int"`.
fn dropbox(p: &[u8]) -> bool {
    let head = p.get(..p.len().min(64)).unwrap_or_default();
    super::cursor::find(head, b"\"host_int\"").is_some()
}

/// The start line and the headers analysts read (UPnP DA §1.3.2, §1.2.2).
fn ssdp(p: &[u8], out: &mut Findings) {
    let mut c = Cursor::new(p);
    let Some(line) = c.until(b"\r\n") else {
        return;
    };
    if let Some(method) = line.split(|&b| b == b' ').next() {
        out.extra("ssdp.method", method);
    }
    for _ in 0..32 {
        let Some(line) = c.until(b"\r\n") else {
            break;
        };
        if line.is_empty() {
            break;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = line.split_at(colon);
        let value = value.get(1..).unwrap_or_default();
        if name.eq_ignore_ascii_case(b"ST") || name.eq_ignore_ascii_case(b"NT") {
            out.extra("ssdp.target", value);
        } else if name.eq_ignore_ascii_case(b"USER-AGENT") || name.eq_ignore_ascii_case(b"SERVER") {
            out.extra("ssdp.user_agent", value);
        }
    }
}

#[cfg(test)]
mod tests;
