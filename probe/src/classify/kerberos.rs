//! Kerberos V5 (RFC 4120) over UDP and TCP: a message whose ASN.1
//! application tag is AS-REQ (10), AS-REP (11), TGS-REQ (12), TGS-REP (13)
//! or KRB-ERROR (30) (§5.4.1, §5.4.2, §5.9.1), with protocol version 5; over
//! TCP each message follows a 4-byte length (§7.2.2).
//!
//! Extracted, as nDPI prints them (`realm\name`, lowercase):
//! `kerberos.realm` and `kerberos.cname` (a host's `NAME$` account without
//! its `$`), plus
//! `kerberos.sname` (the service asked for) and `kerberos.error_code`.
//! DPI ends at the first reply (or error) from the KDC.

use super::ber::{self, SEQUENCE};
use super::cursor::{Cursor, Error, Result};
use super::stream::Stream;
use super::{Findings, Packet, Parse, Probe, Protocol, Transport};

pub(super) const TRANSPORTS: &[Transport] = &[Transport::Tcp, Transport::Udp];
pub(super) const PROTOCOL: Protocol = Protocol::Kerberos;

/// Largest TCP message buffered (tickets with a PAC run to a few KiB).
const MAX_MESSAGE: usize = 64 * 1024;
/// Packets read before giving up on seeing the KDC's answer.
const MAX_PACKETS: u8 = 8;

const AS_REQ: u8 = 10;
const AS_REP: u8 = 11;
const TGS_REQ: u8 = 12;
const TGS_REP: u8 = 13;
const KRB_ERROR: u8 = 30;

pub(super) fn probe(pkt: &Packet<'_>) -> Probe {
    match start(pkt.payload, pkt.transport == Transport::Tcp) {
        Ok(_) => Probe::Match,
        Err(Error::Truncated) if pkt.payload.len() < 16 => Probe::Unsure,
        Err(_) => Probe::NoMatch,
    }
}

/// The first bytes of a message, up to its protocol version: the message
/// type. Over TCP the record length must match the message's.
fn start(p: &[u8], tcp: bool) -> Result<u8> {
    let mut c = Cursor::new(p);
    let record = if tcp {
        // §7.2.2: the high bit is reserved (0); lengths are modest, so the
        // first byte is 0 (said before the other three are there).
        if c.peek_u8()? != 0 {
            return Err(Error::Malformed);
        }
        let n = c.u32()? as usize;
        if n > MAX_MESSAGE {
            return Err(Error::Malformed);
        }
        Some(n)
    } else {
        None
    };
    let before = c.remaining();
    let (tag, len) = ber::header(&mut c)?;
    let msg_type = match tag {
        0x60..=0x7f => tag & 0x1f,
        _ => return Err(Error::Malformed),
    };
    if !matches!(msg_type, AS_REQ | AS_REP | TGS_REQ | TGS_REP | KRB_ERROR) {
        return Err(Error::Malformed);
    }
    let total = before - c.remaining() + len;
    match record {
        Some(n) if n != total => return Err(Error::Malformed),
        None if total != p.len() => return Err(Error::Malformed),
        _ => {}
    }
    let (seq, _) = ber::header(&mut c)?;
    // pvno is [1] in requests (§5.4.1), [0] in replies and errors.
    let (pvno_tag, _) = ber::header(&mut c)?;
    let want = if matches!(msg_type, AS_REQ | TGS_REQ) {
        0xa1
    } else {
        0xa0
    };
    if seq != SEQUENCE || pvno_tag != want || ber::uint(&mut c)? != 5 {
        return Err(Error::Malformed);
    }
    Ok(msg_type)
}

#[derive(Debug)]
pub(super) struct Parser {
    streams: [Stream; 2],
    packets: u8,
}

impl Default for Parser {
    fn default() -> Self {
        Self {
            streams: [Stream::new(MAX_MESSAGE), Stream::new(MAX_MESSAGE)],
            packets: 0,
        }
    }
}

impl Parser {
    pub(super) fn parse(&mut self, pkt: &Packet<'_>, out: &mut Findings) -> Parse {
        self.packets = self.packets.saturating_add(1);
        let tcp = pkt.transport == Transport::Tcp;
        let Some(stream) = self.streams.get_mut(pkt.dir()) else {
            return Parse::Skip;
        };
        let claimed = out.protocol != Protocol::Unknown;
        let fed = stream.feed(pkt.tcp_seq, pkt.payload, |bytes| {
            let mut c = Cursor::new(bytes);
            if tcp {
                let Ok(n) = c.u32() else {
                    return (Ok(None), 0);
                };
                let Ok(body) = c.sub(n as usize) else {
                    return (Ok(None), 0);
                };
                c = body;
            }
            (message(c, out).map(Some), bytes.len())
        });
        match fed {
            // A whole message, request or reply.
            Ok(Some(Ok(Some(msg_type)))) => {
                out.protocol = Protocol::Kerberos;
                if matches!(msg_type, AS_REP | TGS_REP | KRB_ERROR) {
                    return Parse::Done;
                }
            }
            // Waiting for the rest of a message, or a retransmission.
            Ok(Some(Ok(None)) | None) => {}
            Ok(Some(Err(_))) if !claimed => return Parse::Invalid,
            Ok(Some(Err(_))) | Err(_) => return Parse::Skip,
        }
        if self.packets >= MAX_PACKETS {
            Parse::Skip
        } else {
            Parse::Incomplete
        }
    }
}

/// One whole message: its type, with its names extracted.
fn message(mut c: Cursor<'_>, out: &mut Findings) -> Result<u8> {
    let msg_type = start(c.peek_rest(), false)?;
    let (_, mut body) = ber::read(&mut c)?;
    let mut seq = ber::expect(&mut body, SEQUENCE)?;
    while !seq.is_empty() {
        let (tag, mut field) = ber::read(&mut seq)?;
        match (msg_type, tag) {
            // KDC-REQ (§5.4.1): req-body [4].
            (AS_REQ | TGS_REQ, 0xa4) => {
                req_body(ber::expect(&mut field, SEQUENCE)?, out)?;
            }
            // KDC-REP (§5.4.2): crealm [3], cname [4].
            (AS_REP | TGS_REP, 0xa3) | (KRB_ERROR, 0xa7) => realm(field, out)?,
            (AS_REP | TGS_REP, 0xa4) | (KRB_ERROR, 0xa8) => {
                principal(field, "kerberos.cname", out)?
            }
            // KRB-ERROR (§5.9.1): error-code [6], realm [9].
            (KRB_ERROR, 0xa6) => {
                let code = ber::uint(&mut field)?;
                out.extra("kerberos.error_code", code.to_string().as_bytes());
            }
            (KRB_ERROR, 0xa9) => realm(field, out)?,
            _ => {}
        }
    }
    Ok(msg_type)
}

/// KDC-REQ-BODY (§5.4.1): cname [1], realm [2], sname [3].
fn req_body(mut body: Cursor<'_>, out: &mut Findings) -> Result<()> {
    while !body.is_empty() {
        let (tag, field) = ber::read(&mut body)?;
        match tag {
            0xa1 => principal(field, "kerberos.cname", out)?,
            0xa2 => realm(field, out)?,
            0xa3 => principal(field, "kerberos.sname", out)?,
            0xa4.. => break,
            _ => {}
        }
    }
    Ok(())
}

/// Realm ::= KerberosString (GeneralString, §5.2.1).
fn realm(mut field: Cursor<'_>, out: &mut Findings) -> Result<()> {
    let name = ber::expect(&mut field, 0x1b)?.rest();
    out.extra("kerberos.realm", &name.to_ascii_lowercase());
    Ok(())
}

/// PrincipalName (§5.2.2): name-type [0], name-string [1] SEQUENCE OF
/// KerberosString; the components joined by `/` (`krbtgt/REALM`).
fn principal(mut field: Cursor<'_>, key: &str, out: &mut Findings) -> Result<()> {
    let mut seq = ber::expect(&mut field, SEQUENCE)?;
    let _name_type = ber::expect(&mut seq, 0xa0)?;
    let mut names = ber::expect(&mut ber::expect(&mut seq, 0xa1)?, SEQUENCE)?;
    let mut joined = Vec::new();
    for _ in 0..8 {
        if names.is_empty() {
            break;
        }
        if !joined.is_empty() {
            joined.push(b'/');
        }
        joined.extend_from_slice(ber::expect(&mut names, 0x1b)?.rest());
    }
    // nDPI shows a machine account (`HOST$`) as the host's name, and client
    // names in lowercase.
    let mut shown = joined.strip_suffix(b"$").unwrap_or(&joined).to_vec();
    if key == "kerberos.cname" {
        shown.make_ascii_lowercase();
    }
    out.extra(key, &shown);
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::super::testing::{every_prefix, flows, l7_name, payloads};
    use super::super::{Kind, Probe};
    use super::*;

    fn extra<'a>(f: &'a sonde_proto::v1::Flow, key: &str) -> &'a str {
        f.l7.as_ref()
            .and_then(|l| l.extra.get(key))
            .map_or("", String::as_str)
    }

    #[test]
    fn kerberos_pcap_as_and_tgs_exchanges_give_realm_and_name() {
        let flows = flows("kerberos.pcap");
        let port = |f: &sonde_proto::v1::Flow, p| f.client.as_ref().unwrap().port == p;
        // nDPI: [happycraft.org\johnson-pc]
        let a = flows.iter().find(|f| port(f, 49157)).unwrap();
        assert_eq!(l7_name(a), "Kerberos");
        assert_eq!(extra(a, "kerberos.realm"), "happycraft.org");
        assert_eq!(extra(a, "kerberos.cname"), "johnson-pc");
        assert_eq!(extra(a, "kerberos.sname"), "krbtgt/happycraft.org");
        // The KDC asked for pre-authentication (KDC_ERR_PREAUTH_REQUIRED).
        assert_eq!(extra(a, "kerberos.error_code"), "25");
        // nDPI: [happycraft\theresa.johnson]
        let b = flows.iter().find(|f| port(f, 49188)).unwrap();
        assert_eq!(l7_name(b), "Kerberos");
        assert_eq!(extra(b, "kerberos.cname"), "theresa.johnson");
        assert_eq!(extra(b, "kerberos.realm"), "happycraft");
        // nDPI: [happycraft.org\johnson-pc] from HAPPYCRAFT.ORG / JOHNSON-PC$.
        let c = flows.iter().find(|f| port(f, 49171)).unwrap();
        assert_eq!(extra(c, "kerberos.realm"), "happycraft.org");
        assert_eq!(extra(c, "kerberos.cname"), "johnson-pc");
        // Every flow nDPI found by DPI (its first message is a request).
        for p in [
            49171, 49160, 49176, 49157, 49166, 49181, 49187, 49158, 49167, 49182,
        ] {
            let f = flows.iter().find(|f| port(f, p)).unwrap();
            assert_eq!(l7_name(f), "Kerberos", "port {p}");
        }
    }

    #[test]
    fn the_same_messages_over_udp_need_no_length_prefix() {
        let p = payloads("kerberos.pcap");
        let (req, rep) = (&p[0], &p[1]);
        let mut udp = req.clone();
        udp.transport = Transport::Udp;
        udp.tcp_seq = None;
        udp.payload = req.payload[4..].to_vec();
        assert_eq!(probe(&udp.view(true)), Probe::Match);
        let mut parser = Parser::default();
        let mut out = Findings::default();
        assert_eq!(parser.parse(&udp.view(true), &mut out), Parse::Incomplete);
        let mut reply = rep.clone();
        reply.transport = Transport::Udp;
        reply.tcp_seq = None;
        reply.payload = rep.payload[4..].to_vec();
        assert_eq!(parser.parse(&reply.view(false), &mut out), Parse::Done);
        assert_eq!(out.l7.extra["kerberos.cname"], "johnson-pc");
        // The TCP framing is required over TCP, and absent over UDP.
        assert_eq!(probe(&req.view(true)), Probe::Match);
        let mut framed_udp = req.clone();
        framed_udp.transport = Transport::Udp;
        assert_eq!(probe(&framed_udp.view(true)), Probe::NoMatch);
    }

    #[test]
    fn cut_messages_are_never_done() {
        let p = payloads("kerberos.pcap");
        for pkt in p.iter().filter(|p| p.dst_port == 88).take(3) {
            let v = every_prefix(Kind::Kerberos, pkt, true);
            let whole = pkt.payload.len();
            for (len, verdict) in v.iter().enumerate().take(whole) {
                assert_ne!(*verdict, Parse::Done, "at {len}");
            }
        }
    }

    #[test]
    fn other_protocols_are_not_claimed() {
        for name in [
            "http.pcapng",
            "443-chrome.pcap",
            "dns.pcap",
            "smbv1.pcap",
            "log4j-webapp-exploit.pcap",
        ] {
            for p in payloads(name) {
                let mut on_88 = p.clone();
                on_88.dst_port = 88;
                assert_eq!(
                    Kind::Kerberos.probe_for_test(&on_88.view(true)),
                    Probe::NoMatch,
                    "{name}"
                );
            }
        }
    }
}
