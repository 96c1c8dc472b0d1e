//! TLS over TCP (RFC 8446, RFC 5246): recognised from a record header
//! carrying a ClientHello or ServerHello (type 22, version 3.x, handshake
//! type 1 or 2), an SSLv2-compatible ClientHello, or, for flows captured
//! mid-stream, an application-data record (type 23) as nDPI accepts them.
//!
//! Each direction is reassembled ([`Stream`], bounded) and read record by
//! record; handshake messages split over records are joined, so a
//! ClientHello or certificate chain split over segments is read whole. The
//! parser stops at the server's Certificate or ServerHelloDone, at a
//! ChangeCipherSpec or application data, and after a TLS 1.3 ServerHello
//! (the rest is encrypted); a gap in the stream ends it (`Skip`).
//!
//! Extracted: see [`hello`] (SNI, ALPN, versions, JA3/JA4/JA3S, cipher) and
//! [`cert`] (subject, issuer, validity, SHA-1, names). As nDPI does, TLS on
//! the mail ports is IMAPS (993), POPS (995) or SMTPS (465, 587), and a
//! random-looking `www.<name>.com|net` SNI marks Tor.
//!
//! A classifier that sees a protocol turn to TLS (SMTP, IMAP, POP3 after
//! STARTTLS) can feed the packets from then on to a [`Parser`] of its own:
//! each direction is read from its first record on.

pub(crate) mod cert;
pub(crate) mod ciphers;
pub(crate) mod fingerprint;
pub(crate) mod hello;
#[cfg(test)]
mod tests;
mod x509;

use super::cursor::Cursor;
use super::stream::Stream;
use super::{Findings, Packet, Parse, Probe, Protocol, Risk, Transport};
use hello::Carrier;

pub(super) const TRANSPORTS: &[Transport] = &[Transport::Tcp];
pub(super) const PROTOCOL: Protocol = Protocol::Tls;

/// Bytes buffered per direction for a record or handshake message that
/// continues in later segments (a certificate chain rarely passes 16 KiB).
const LIMIT: usize = 64 * 1024;
/// Longest record body (RFC 5246 §6.2.3: TLSCiphertext, 2^14 + 2048).
const MAX_RECORD: usize = 16_384 + 2_048;

// Record content types (RFC 8446 §5.1).
const CHANGE_CIPHER_SPEC: u8 = 20;
const ALERT: u8 = 21;
const HANDSHAKE: u8 = 22;
const APPLICATION_DATA: u8 = 23;
const HEARTBEAT: u8 = 24;

/// What the first bytes of a segment say about a record starting there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Start {
    /// A plausible record header (or SSLv2 ClientHello).
    Record,
    /// Too short to tell, and consistent so far.
    Short,
    No,
}

/// Checks a record header (RFC 8446 §5.1): a known content type in
/// `types`, version 3.0-3.4, a length a record may have; and for a
/// handshake record, the first message type in `hello_types`.
fn record_start(p: &[u8], types: &[u8], hello_types: &[u8]) -> Start {
    let Some(&kind) = p.first() else {
        return Start::Short;
    };
    if !types.contains(&kind) {
        return Start::No;
    }
    if p.get(1).is_some_and(|b| *b != 3) || p.get(2).is_some_and(|b| *b > 4) {
        return Start::No;
    }
    let (Some(&hi), Some(&lo)) = (p.get(3), p.get(4)) else {
        return Start::Short;
    };
    let len = usize::from(u16::from_be_bytes([hi, lo]));
    if len == 0 || len > MAX_RECORD {
        return Start::No;
    }
    if kind != HANDSHAKE || hello_types.is_empty() {
        return Start::Record;
    }
    match p.get(5) {
        None => Start::Short,
        Some(t) if hello_types.contains(t) => Start::Record,
        Some(_) => Start::No,
    }
}

/// An SSLv2-format ClientHello (RFC 6101 Appendix E.2; RFC 5246 Appendix
/// E.2): 2-byte length with the top bit set, message type 1, version 2.0 or
/// 3.x. Returns its length on the wire.
fn sslv2_hello(p: &[u8]) -> Option<usize> {
    let (&a, &b, &kind, &major) = (p.first()?, p.get(1)?, p.get(2)?, p.get(3)?);
    let ok = a & 0x80 != 0 && kind == 1 && (major == 3 || (major == 0 && p.get(4) == Some(&2)));
    let len = usize::from(u16::from_be_bytes([a & 0x7f, b]));
    (ok && len >= 9).then_some(len + 2)
}

pub(super) fn probe(pkt: &Packet<'_>) -> Probe {
    let p = pkt.payload;
    if pkt.from_client && sslv2_hello(p).is_some() {
        return Probe::Match;
    }
    match record_start(p, &[HANDSHAKE, APPLICATION_DATA], &[1, 2]) {
        Start::Record => Probe::Match,
        Start::Short => Probe::Unsure,
        Start::No => Probe::NoMatch,
    }
}

/// nDPI's master protocol for TLS on the mail ports (`ndpi_tls_refine_master_protocol`).
fn mail_protocol(pkt: &Packet<'_>) -> Option<Protocol> {
    if pkt.has_port(465) || pkt.has_port(587) {
        Some(Protocol::Smtps)
    } else if pkt.has_port(993) {
        Some(Protocol::Imaps)
    } else if pkt.has_port(995) {
        Some(Protocol::Pops)
    } else {
        None
    }
}

/// nDPI's Tor heuristic (tls.c, after the SNI): Tor clients send a random
/// `www.<random>.com` or `.net` name, which its DGA check finds
/// machine-made.
fn tor_like(sni: &str, dga: impl Fn(&str) -> bool) -> bool {
    sni.starts_with("www.") && (sni.ends_with(".com") || sni.ends_with(".net")) && dga(sni)
}

/// How reading a direction went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// Everything available was read; more is welcome.
    More,
    /// The cleartext handshake is over (or all that is wanted was read).
    Finished,
    /// Not TLS framing, or a message that does not parse.
    Broken,
}

#[derive(Debug, Default)]
struct Direction {
    /// `None` until a segment starting with a record arrives (a capture may
    /// begin mid-record).
    stream: Option<Stream>,
    /// Start of a handshake message continued in the next record.
    pending: Vec<u8>,
}

#[derive(Debug, Default)]
pub(super) struct Parser {
    dirs: [Direction; 2],
    started: bool,
    /// Complete, well-formed records read (both directions).
    records: u32,
    client_dir: Option<usize>,
    server_dir: Option<usize>,
}

impl Parser {
    pub(super) fn parse(&mut self, pkt: &Packet<'_>, out: &mut Findings) -> Parse {
        if !self.started {
            self.started = true;
            if let Some(p) = mail_protocol(pkt) {
                out.protocol = p;
            }
        }
        let dir = pkt.dir();
        let Some(d) = self.dirs.get_mut(dir) else {
            return Parse::Skip;
        };
        let mut stream = match d.stream.take() {
            Some(s) => s,
            None => {
                let p = pkt.payload;
                // A segment cut short inside the header still starts a
                // record if its bytes agree.
                let starts = (pkt.from_client && sslv2_hello(p).is_some())
                    || record_start(
                        p,
                        &[CHANGE_CIPHER_SPEC, ALERT, HANDSHAKE, APPLICATION_DATA],
                        &[],
                    ) != Start::No;
                if !starts {
                    return Parse::Incomplete;
                }
                Stream::new(LIMIT)
            }
        };
        let fed = stream.feed(pkt.tcp_seq, pkt.payload, |bytes| {
            self.records_of(dir, bytes, out)
        });
        if let Some(d) = self.dirs.get_mut(dir) {
            d.stream = Some(stream);
        }
        match fed {
            Ok(None | Some(Step::More)) => Parse::Incomplete,
            Ok(Some(Step::Finished)) => Parse::Done,
            Ok(Some(Step::Broken)) if self.records == 0 => Parse::Invalid,
            // The client's bytes are not needed once its hello is read: a
            // gap there still leaves the server's certificate to wait for.
            Err(_) if self.client_dir == Some(dir) && self.server_dir != Some(dir) => {
                Parse::Incomplete
            }
            Ok(Some(Step::Broken)) | Err(_) => Parse::Skip,
        }
    }

    /// Reads the complete records at the start of `bytes`; returns how it
    /// went and how many bytes were consumed (a record cut by the segment's
    /// end waits for the next one).
    fn records_of(&mut self, dir: usize, bytes: &[u8], out: &mut Findings) -> (Step, usize) {
        let mut c = Cursor::new(bytes);
        loop {
            let consumed = bytes.len() - c.remaining();
            let rest = c.peek_rest();
            if self.records == 0 {
                if let Some(len) = sslv2_hello(rest) {
                    // Legacy hello format: no extensions, so no SNI to read.
                    if c.skip(len).is_err() {
                        return (Step::More, consumed);
                    }
                    self.records += 1;
                    self.client_dir = Some(dir);
                    continue;
                }
            }
            let mut header = c;
            let (Ok(kind), Ok(version), Ok(len)) = (header.u8(), header.u16(), header.u16()) else {
                return (Step::More, consumed);
            };
            let len = usize::from(len);
            if !(CHANGE_CIPHER_SPEC..=HEARTBEAT).contains(&kind)
                || version >> 8 != 3
                || version & 0xff > 4
                || len > MAX_RECORD
            {
                return (Step::Broken, consumed);
            }
            let Ok(body) = header.take(len) else {
                return (Step::More, consumed);
            };
            c = header;
            self.records += 1;
            let step = match kind {
                HANDSHAKE => self.handshake(dir, body, out),
                ALERT => {
                    // RFC 8446 §6: a cleartext alert is 2 bytes, level 2 = fatal.
                    if body.len() == 2 && body.first() == Some(&2) {
                        let desc = body.get(1).copied().unwrap_or_default();
                        out.risk_with(Risk::TlsFatalAlert, &format!("Alert {desc}"));
                    }
                    Step::More
                }
                HEARTBEAT => Step::More,
                // ChangeCipherSpec or application data: from here on the
                // records are encrypted.
                _ => Step::Finished,
            };
            if step != Step::More {
                return (step, bytes.len() - c.remaining());
            }
        }
    }

    /// Feeds one handshake record's body: handshake messages may share a
    /// record or span several (RFC 5246 §6.2.1).
    fn handshake(&mut self, dir: usize, body: &[u8], out: &mut Findings) -> Step {
        let Some(d) = self.dirs.get_mut(dir) else {
            return Step::Broken;
        };
        if d.pending.is_empty() {
            let (step, used) = self.messages(dir, body, out);
            let rest = body.get(used..).unwrap_or_default();
            if step == Step::More && !rest.is_empty() {
                if let Some(d) = self.dirs.get_mut(dir) {
                    d.pending.extend_from_slice(rest);
                }
            }
            return step;
        }
        if d.pending.len() + body.len() > LIMIT {
            return Step::Broken;
        }
        let mut buf = std::mem::take(&mut d.pending);
        buf.extend_from_slice(body);
        let (step, used) = self.messages(dir, &buf, out);
        if step == Step::More {
            buf.drain(..used.min(buf.len()));
            if let Some(d) = self.dirs.get_mut(dir) {
                d.pending = buf;
            }
        }
        step
    }

    /// Reads the complete handshake messages at the start of `bytes`.
    fn messages(&mut self, dir: usize, bytes: &[u8], out: &mut Findings) -> (Step, usize) {
        let mut c = Cursor::new(bytes);
        loop {
            let consumed = bytes.len() - c.remaining();
            let start = c;
            // RFC 8446 §4: type (1 byte), length (3 bytes), body.
            let (Ok(kind), Ok(len)) = (c.u8(), c.u24()) else {
                return (Step::More, consumed);
            };
            let len = len as usize;
            if len > LIMIT {
                return (Step::Broken, consumed);
            }
            if c.skip(len).is_err() {
                return (Step::More, consumed);
            }
            let msg = start.peek_rest().get(..4 + len).unwrap_or_default();
            let step = self.message(dir, kind, msg, out);
            if step != Step::More {
                return (step, bytes.len() - c.remaining());
            }
        }
    }

    /// Handles one complete handshake message (RFC 8446 §4, RFC 5246 §7.4).
    fn message(&mut self, dir: usize, kind: u8, msg: &[u8], out: &mut Findings) -> Step {
        match kind {
            1 if self.client_dir.is_none() => {
                self.client_dir = Some(dir);
                if hello::parse_client_hello(msg, out, Carrier::Tcp).is_err() {
                    return Step::Broken;
                }
                let sni = out.l7.tls.as_ref().map(|t| t.sni.as_str()).unwrap_or("");
                if tor_like(sni, super::dns::dga::suspicious) {
                    out.application = Some("Tor");
                }
                Step::More
            }
            2 => {
                self.server_dir = Some(dir);
                match hello::parse_server_hello(msg, out, Carrier::Tcp) {
                    Ok(sh) if sh.tls13() => Step::Finished,
                    Ok(_) => Step::More,
                    Err(_) => Step::Broken,
                }
            }
            // The server's certificate chain; a client's (mutual TLS) comes
            // after the server's and is never reached.
            11 if self
                .server_dir
                .map_or(self.client_dir != Some(dir), |s| s == dir) =>
            {
                // A certificate that is not well-formed DER X.509 leaves its fields empty;
                // the handshake is read all the same.
                let _ = cert::parse_certificate(msg, out);
                Step::Finished
            }
            // ServerHelloDone: the server's cleartext flight is over.
            14 => Step::Finished,
            _ => Step::More,
        }
    }
}
