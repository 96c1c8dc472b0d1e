//! STUN and TURN (RFC 8489, RFC 8656; classic STUN, RFC 3489), over UDP and
//! TCP (RFC 4571 framing, RFC 6062), as nDPI recognises them: a 20-byte header
//! whose length field matches the message, a known method, then the magic
//! cookie or (classic STUN) attributes that tile the message exactly; and
//! nDPI's legacy `RSP/x.y STUN_` text replies.
//!
//! From the attributes it takes the addresses nDPI reports (`stun.mapped_address`,
//! `stun.peer_address`, `stun.relayed_address`, `stun.response_origin`,
//! `stun.other_address` in `extra`, the first of each in the flow), the REALM
//! as the flow's host, and the application nDPI derives from STUN itself:
//! WhatsAppCall (methods 0x800-0x805, attributes 0x4000-0x4007), Zoom
//! (0x0101, 0x0103), Skype_TeamsCall (Microsoft's 0x8054, 0x8055, 0x8070...),
//! GoogleCall (0xff03, a google.com realm), FacebookVoip (a facebook realm).
//!
//! A STUN flow often goes on as DTLS (RFC 7983 demultiplexing by first byte):
//! then, as nDPI, the flow becomes DTLS, keeps the application, and the DTLS
//! handshake is read by [`super::dtls`]. TURN channel data (RFC 8656 §12.4) and
//! DATA attributes are opened to look at the STUN inside.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::cursor::Cursor;
use super::{Findings, Packet, Parse, Probe, Protocol, Transport, dtls};

pub(super) const TRANSPORTS: &[Transport] = &[Transport::Tcp, Transport::Udp];
pub(super) const PROTOCOL: Protocol = Protocol::Stun;

/// RFC 8489 §5: the header of every message.
const HEADER: usize = 20;
/// RFC 8489 §5: the magic cookie (absent in classic STUN).
const MAGIC: u32 = 0x2112_a442;
/// Packets read after the one that claimed the flow (nDPI's default
/// `stun.max_packets_extra_dissection`), so the metadata is nDPI's.
const EXTRA_PACKETS: u32 = 6;
/// More packets for a DTLS handshake (retransmissions, fragments), as nDPI.
const EXTRA_DTLS_PACKETS: u32 = 10;
/// nDPI's WhatsApp call methods (outside RFC 8489's method space).
const WHATSAPP_TYPES: [u16; 5] = [0x0800, 0x0801, 0x0802, 0x0804, 0x0805];

/// A legacy text reply nDPI still takes for STUN (`RSP/x.y STUN_...`).
fn legacy(p: &[u8]) -> bool {
    p.starts_with(b"RSP/") && p.get(7..13) == Some(b" STUN_")
}

pub(super) fn probe(pkt: &Packet<'_>) -> Probe {
    if message(pkt.payload, pkt.transport).is_some() || legacy(pkt.payload) {
        Probe::Match
    } else if pkt.packet_no > 5 {
        // nDPI gives STUN the first five packets of a flow.
        Probe::NoMatch
    } else {
        Probe::Unsure
    }
}

#[derive(Debug, Default)]
pub(super) struct Parser {
    packets: u32,
    /// Extra packets granted for a DTLS handshake.
    dtls_extra: u32,
    /// A TURN method was seen: channel data may follow (RFC 8656 §12).
    turn: bool,
    /// The flow went on as DTLS.
    dtls: Option<dtls::Parser>,
}

impl Parser {
    pub(super) fn parse(&mut self, pkt: &Packet<'_>, out: &mut Findings) -> Parse {
        self.packets += 1;
        if let Some(dtls) = self.dtls.as_mut() {
            // After the switch, STUN checks (consent freshness) still come.
            if message(pkt.payload, pkt.transport).is_some() {
                self.read(pkt.payload, pkt, out, 0);
                return self.budget();
            }
            return match dtls.parse(pkt, out) {
                Parse::Invalid | Parse::Incomplete | Parse::Tentative => self.budget(),
                other => other,
            };
        }
        let first = pkt.payload.first().copied().unwrap_or(0);
        // RFC 7983 §7: 20-63 is DTLS.
        if (20..=63).contains(&first) && dtls::is_dtls(pkt.payload) {
            out.protocol = Protocol::Dtls;
            self.dtls_extra = EXTRA_DTLS_PACKETS;
            let mut parser = dtls::Parser::default();
            let verdict = parser.parse(pkt, out);
            self.dtls = Some(parser);
            return match verdict {
                Parse::Invalid | Parse::Incomplete | Parse::Tentative => self.budget(),
                other => other,
            };
        }
        self.read(pkt.payload, pkt, out, 0);
        self.budget()
    }

    fn budget(&self) -> Parse {
        if self.packets > EXTRA_PACKETS + self.dtls_extra {
            Parse::Done
        } else {
            Parse::Incomplete
        }
    }

    /// Reads one datagram (or segment, or the payload of a TURN channel or
    /// DATA attribute when `depth` > 0).
    fn read(&mut self, payload: &[u8], pkt: &Packet<'_>, out: &mut Findings, depth: u8) {
        if depth > 2 {
            return;
        }
        if let Some(msg) = message(payload, pkt.transport) {
            self.turn |= msg.is_turn();
            if let Some(app) = self.attributes(&msg, pkt, out, depth) {
                out.application = Some(app);
            }
            return;
        }
        // RFC 8656 §12.4: ChannelData, channel numbers 0x4000-0x4fff.
        let mut c = Cursor::new(payload);
        if self.turn && (64..=79).contains(&payload.first().copied().unwrap_or(0)) {
            let (Ok(_channel), Ok(len)) = (c.u16(), c.u16()) else {
                return;
            };
            if let Ok(inner) = c.take(usize::from(len)) {
                self.read(inner, pkt, out, depth + 1);
            }
        }
    }

    /// Walks the attributes (RFC 8489 §14), recording what nDPI reports;
    /// returns the application they point to, the last one winning as in
    /// nDPI.
    fn attributes(
        &mut self,
        msg: &Message<'_>,
        pkt: &Packet<'_>,
        out: &mut Findings,
        depth: u8,
    ) -> Option<&'static str> {
        if WHATSAPP_TYPES.contains(&msg.msg_type) {
            return Some("WhatsAppCall");
        }
        let mut app = None;
        // nDPI: Signal's relays listen on port 10000; a weak hint, so only
        // once other applications had their chance.
        if pkt.packet_no > 4 && !self.turn && out.application.is_none() && pkt.has_port(10000) {
            app = Some("SignalVoip");
        }
        let mut c = Cursor::new(msg.attrs);
        while c.remaining() > 4 {
            let (Ok(kind), Ok(len)) = (c.u16(), c.u16()) else {
                break;
            };
            // RFC 8489 §14: values are padded to four bytes.
            let padded = (usize::from(len) + 3) & !3;
            let Ok(value) = c.take(padded.min(c.remaining())) else {
                break;
            };
            let value = value.get(..usize::from(len)).unwrap_or(value);
            match kind {
                0x0001 => address(out, "stun.mapped_address", value, None),
                0x802b => address(out, "stun.response_origin", value, None),
                0x802c => address(out, "stun.other_address", value, None),
                0x0012 => address(out, "stun.peer_address", value, Some(msg)),
                0x0020 => address(out, "stun.mapped_address", value, Some(msg)),
                0x0016 => address(out, "stun.relayed_address", value, Some(msg)),
                // Zoom's own attributes: nDPI stops there.
                0x0101 | 0x0103 => return Some("Zoom"),
                0x4000..=0x4004 | 0x4007 => app = Some("WhatsAppCall"),
                // RFC 8489 §14.9 REALM.
                0x0014 if out.host.is_empty() => {
                    if let Some(found) = realm(out, value) {
                        app = Some(found);
                    }
                }
                // [MS-TURN], [MS-ICE2]: Microsoft's attributes (Teams, Skype).
                0x8054 | 0x24df | 0x3802 | 0x8036 | 0x8095 | 0x0800 | 0x8006 | 0x8070 | 0x8055 => {
                    app = Some("Skype_TeamsCall")
                }
                0xff03 => app = Some("GoogleCall"),
                // RFC 8656 §18.4 DATA: the peer's datagram, maybe STUN again.
                0x0013 => self.read(value, pkt, out, depth + 1),
                _ => {}
            }
        }
        app
    }
}

/// REALM as the flow's host (nDPI ignores realms with `?`), and the
/// application the realm names.
fn realm(out: &mut Findings, value: &[u8]) -> Option<&'static str> {
    if value.contains(&b'?') {
        return None;
    }
    out.set_host(value);
    let host = out.host.as_str();
    [
        ("google.com", "GoogleCall"),
        ("whispersystems.org", "SignalVoip"),
        ("signal.org", "SignalVoip"),
        ("facebook", "FacebookVoip"),
        ("stripcdn.com", "AdultContent"),
        ("telegram", "TelegramVoip"),
        ("viber", "ViberVoip"),
    ]
    .iter()
    .find(|(needle, _)| host.contains(needle))
    .map(|(_, app)| *app)
}

/// A (XOR-)MAPPED-ADDRESS-shaped attribute (RFC 8489 §14.1, §14.2): reserved
/// byte, family, port, address; XOR-ed with the cookie and transaction id
/// when `xor` carries the message.
fn address(out: &mut Findings, key: &str, value: &[u8], xor: Option<&Message<'_>>) {
    if out.l7.extra.contains_key(key) {
        return;
    }
    let mut c = Cursor::new(value);
    let (Ok(_), Ok(family), Ok(port)) = (c.u8(), c.u8(), c.u16()) else {
        return;
    };
    let mut mask = [0u8; 16];
    let mut port_mask = 0;
    if let Some(msg) = xor {
        mask[..4].copy_from_slice(&msg.cookie.to_be_bytes());
        mask[4..].copy_from_slice(&msg.txid);
        port_mask = (msg.cookie >> 16) as u16;
    }
    let ip = match (family, c.remaining()) {
        (1, 4) => match c.array::<4>() {
            Ok(a) => IpAddr::V4(Ipv4Addr::from(std::array::from_fn::<u8, 4, _>(|i| {
                a[i] ^ mask[i]
            }))),
            Err(_) => return,
        },
        (2, 16) => match c.array::<16>() {
            Ok(a) => IpAddr::V6(Ipv6Addr::from(std::array::from_fn::<u8, 16, _>(|i| {
                a[i] ^ mask[i]
            }))),
            Err(_) => return,
        },
        _ => return,
    };
    let port = port ^ port_mask;
    let text = match ip {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    };
    out.extra(key, text.as_bytes());
}

/// One STUN message, as found in a datagram or TCP segment.
#[derive(Debug)]
struct Message<'a> {
    msg_type: u16,
    cookie: u32,
    txid: [u8; 12],
    attrs: &'a [u8],
}

impl Message<'_> {
    /// RFC 8489 §5: the method is the type without its class bits.
    fn method(&self) -> u16 {
        let t = self.msg_type;
        (t & 0x000f) | ((t & 0x00e0) >> 1) | ((t & 0x3e00) >> 2)
    }

    /// RFC 8656 §17, RFC 6062 §6.1: TURN's methods (Allocate to
    /// ConnectionAttempt; 5 is the old Data Indication).
    fn is_turn(&self) -> bool {
        (3..=12).contains(&self.method())
    }
}

/// The STUN message a payload holds, if it holds one (nDPI's `is_stun`
/// header checks).
fn message(payload: &[u8], transport: Transport) -> Option<Message<'_>> {
    let mut bytes = payload;
    if bytes.len() < HEADER {
        return None;
    }
    // RFC 4571 framing over TCP (one message per segment).
    let framed = Cursor::new(bytes).u16().ok()?;
    if transport == Transport::Tcp
        && bytes.len() >= HEADER + 2
        && usize::from(framed) + 2 == bytes.len()
    {
        bytes = bytes.get(2..)?;
    }
    // [MS-TURN] §2.2.3: multiplexed TURN, a 12-byte prefix.
    let mut c = Cursor::new(bytes);
    if bytes.len() >= HEADER + 12
        && c.u16().ok()? == 0xff10
        && usize::from(c.u16().ok()?) + 4 == bytes.len()
    {
        bytes = bytes.get(12..)?;
    }
    let mut c = Cursor::new(bytes);
    let msg_type = c.u16().ok()?;
    let len = usize::from(c.u16().ok()?);
    let cookie = c.u32().ok()?;
    let txid = c.array::<12>().ok()?;
    if transport == Transport::Tcp {
        // Several messages may share a segment: read the first.
        if cookie != MAGIC || HEADER + len > bytes.len() {
            return None;
        }
    } else if HEADER + len != bytes.len() {
        return None;
    }
    let attrs = c.take(len).ok()?;
    // IANA STUN methods (up to 0x00b) and WhatsApp's own.
    if msg_type == 0 || ((msg_type & 0x3eef) > 0x000b && !WHATSAPP_TYPES.contains(&msg_type)) {
        return None;
    }
    if cookie != MAGIC && !classic(msg_type, attrs) {
        return None;
    }
    Some(Message {
        msg_type,
        cookie,
        txid,
        attrs,
    })
}

/// RFC 3489 §11.1: a classic STUN message type, and attributes that tile the
/// message exactly.
fn classic(msg_type: u16, attrs: &[u8]) -> bool {
    const TYPES: [u16; 16] = [
        0x0001, 0x0101, 0x0111, 0x0002, 0x0102, 0x0112, 0x0003, 0x0103, 0x0113, 0x0004, 0x0104,
        0x0114, 0x0115, 0x0006, 0x0106, 0x0116,
    ];
    if !TYPES.contains(&msg_type) {
        return false;
    }
    let mut c = Cursor::new(attrs);
    while c.remaining() > 4 {
        let (Ok(_), Ok(len)) = (c.u16(), c.u16()) else {
            return false;
        };
        if c.skip((usize::from(len) + 3) & !3).is_err() {
            return false;
        }
    }
    c.is_empty()
}

#[cfg(test)]
pub(crate) mod tests;
