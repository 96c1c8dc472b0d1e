//! QUIC (UDP): the client's first handshake message, read from its
//! Initial packets, names the server.
//!
//! - IETF QUIC (v1, v2, drafts 23–32, mvfst) and gQUIC Q050/T05x: Initial
//!   packets (RFC 9000 §17.2.2) are opened with keys anyone can derive
//!   from the client's Destination Connection ID ([`initial`]); their
//!   CRYPTO frames are reassembled by offset across packets and coalesced
//!   packets ([`frames`]); the TLS ClientHello goes to the TLS parser
//!   (SNI as the flow's host, ALPN, JA3/JA4), a Q050 CHLO to [`gquic`].
//! - gQUIC Q024–Q046: the CHLO is cleartext after the public header
//!   ([`gquic`]): SNI, user agent (`UAID`), version tag.
//!
//! The version is recorded as `quic.version` in nDPI's spelling
//! ([`version::name`]). The probe wants a client Initial (at least 1200
//! bytes, RFC 9000 §14.1) of a known version, so DNS, STUN or RTP is not
//! claimed; an Initial whose AEAD tag fails is not QUIC (`Invalid`).

mod frames;
mod gquic;
mod initial;
mod version;

use super::cursor::{Cursor, Error};
use super::tls::hello::{Carrier, parse_client_hello};
use super::{Findings, Packet, Parse, Probe, Protocol, Transport};
use frames::{CryptoStream, FrameEnd, Framing};
use initial::{Keys, LongPacket};
use version::{Format, Protection};

pub(super) const TRANSPORTS: &[Transport] = &[Transport::Udp];
pub(super) const PROTOCOL: Protocol = Protocol::Quic;

/// RFC 9000 §14.1: a client's datagrams carrying Initial packets are at
/// least 1200 bytes (gQUIC pads its CHLO packets likewise).
const MIN_INITIAL_DATAGRAM: usize = 1200;
/// Client packets read before giving up on a complete first message.
const MAX_CLIENT_PACKETS: u8 = 8;

pub(super) fn probe(pkt: &Packet<'_>) -> Probe {
    let p = pkt.payload;
    if p.len() < 7 {
        return Probe::NoMatch;
    }
    let byte = |i: usize| p.get(i).copied().unwrap_or(0);
    let word = |i: usize| {
        p.get(i..i + 4)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u32::from_be_bytes)
    };
    let first = byte(0);
    let matched = if first & 0x80 != 0 {
        match version::long_header_format(word(1)) {
            // RFC 9000 §17.2: an Initial, connection IDs of at most 20 bytes.
            Some(Format::Protected(pr)) => {
                let dcid = usize::from(byte(5));
                if dcid > initial::MAX_CID || usize::from(byte(6 + dcid)) > initial::MAX_CID {
                    return Probe::NoMatch;
                }
                if (first >> 4) & 0x03 != pr.initial_type {
                    // 0-RTT or Handshake: the Initial may have been
                    // reordered behind it.
                    return Probe::Unsure;
                }
                p.len() >= MIN_INITIAL_DATAGRAM
            }
            // Q046: a long header with a 4-byte packet number, and the
            // connection ID lengths byte of a client's packet.
            Some(Format::Gquic46) => {
                p.len() >= MIN_INITIAL_DATAGRAM && first & 0x03 == 0x03 && byte(5) == 0x50
            }
            None => false,
        }
    } else {
        // gQUIC public header: version and 8-byte connection ID present,
        // no reset, no multipath bit, 1-byte packet number (nDPI's check).
        p.len() >= MIN_INITIAL_DATAGRAM
            && first & 0x09 == 0x09
            && first & 0x72 == 0
            && version::public_header_number(word(9)).is_some()
    };
    if matched {
        Probe::Match
    } else {
        Probe::NoMatch
    }
}

#[derive(Debug, Default)]
pub(super) struct Parser {
    /// The version of the first client packet read (0 before).
    version: u32,
    /// The client's Initial keys, with the version they are for.
    keys: Option<Box<(u32, Keys)>>,
    /// An Initial packet of this flow was opened (its tag verified).
    opened: bool,
    stream: CryptoStream,
    client_packets: u8,
}

impl Parser {
    pub(super) fn parse(&mut self, pkt: &Packet<'_>, out: &mut Findings) -> Parse {
        // Only the client's Initials carry its first handshake message.
        if !pkt.from_client {
            return Parse::Incomplete;
        }
        self.client_packets = self.client_packets.saturating_add(1);
        if self.client_packets > MAX_CLIENT_PACKETS {
            return Parse::Skip;
        }
        let p = pkt.payload;
        let mut c = Cursor::new(p);
        let Ok(first) = c.u8() else {
            return self.unreadable();
        };
        if first & 0x80 != 0 {
            let Ok(version) = c.u32() else {
                return self.unreadable();
            };
            match version::long_header_format(version) {
                Some(Format::Protected(pr)) => self.protected(p, version, &pr, out),
                Some(Format::Gquic46) => self.cleartext(p, version, None, out),
                None if self.version == 0 => Parse::Invalid,
                // A later packet of another version: nothing to read.
                None => Parse::Incomplete,
            }
        } else {
            // gQUIC public header with a version, at offset 9.
            let version = p
                .get(9..13)
                .and_then(|b| b.try_into().ok())
                .map_or(0, u32::from_be_bytes);
            match version::public_header_number(version) {
                Some(n) if first & 0x01 != 0 => self.cleartext(p, version, Some(n), out),
                // A short header (1-RTT, or gQUIC without version): the
                // handshake moved on.
                _ if self.version != 0 => Parse::Skip,
                _ => Parse::Invalid,
            }
        }
    }

    fn record_version(&mut self, version: u32, out: &mut Findings) {
        if self.version == 0 {
            self.version = version;
            out.protocol = Protocol::Quic;
            out.extra("quic.version", version::name(version).as_bytes());
        }
    }

    /// A packet that cannot even be parsed: not QUIC if it is the first.
    fn unreadable(&self) -> Parse {
        if self.version == 0 {
            Parse::Invalid
        } else {
            Parse::Skip
        }
    }

    /// The Initial packets of a datagram (coalesced, RFC 9000 §12.2).
    fn protected(&mut self, p: &[u8], version: u32, pr: &Protection, out: &mut Findings) -> Parse {
        let mut c = Cursor::new(p);
        let mut failure = None;
        while let Ok(first) = c.peek_u8() {
            // A short header packet (or datagram padding) ends the datagram.
            if first & 0x80 == 0 {
                break;
            }
            let long = match initial::long_packet(&mut c, pr.initial_type) {
                Ok(long) => long,
                Err(e) => {
                    failure.get_or_insert(e);
                    break;
                }
            };
            if long.version != version {
                break;
            }
            if long.packet_type() != pr.initial_type {
                continue;
            }
            let plain = match self.open(&long, version, pr) {
                Ok(plain) => plain,
                Err(e) => {
                    failure.get_or_insert(e);
                    continue;
                }
            };
            self.opened = true;
            let end = if pr.gquic_frames {
                frames::gquic_crypto_frames(&plain, &mut self.stream)
            } else {
                frames::ietf_frames(&plain, &mut self.stream)
            };
            match end {
                Ok(FrameEnd::Read) => {}
                // Authentic, but unreadable or closed: QUIC all the same.
                Ok(FrameEnd::Limit | FrameEnd::Closed) | Err(_) => return Parse::Skip,
            }
        }
        if !self.opened {
            return match failure {
                // A cut capture: the header said QUIC, the rest is missing.
                Some(Error::Truncated) => {
                    self.record_version(version, out);
                    Parse::Skip
                }
                // A tag that does not verify, or a broken header.
                Some(Error::Malformed) => Parse::Invalid,
                // Only 0-RTT or Handshake packets: the Initial was
                // reordered behind them.
                None => Parse::Incomplete,
            };
        }
        self.record_version(version, out);
        let framing = if pr.tls {
            Framing::TlsClientHello
        } else {
            Framing::GquicChlo
        };
        self.finish(framing, out)
    }

    /// Opens an Initial with the flow's keys, or with keys derived from its
    /// own Destination Connection ID (the first Initial, or the new one a
    /// Retry asked for, RFC 9001 §5.2).
    fn open(
        &mut self,
        long: &LongPacket<'_>,
        version: u32,
        pr: &Protection,
    ) -> Result<Vec<u8>, Error> {
        if let Some(keys) = self.keys.as_deref() {
            if keys.0 == version {
                match keys.1.open(long) {
                    Ok(plain) => return Ok(plain),
                    Err(e) if keys.1.dcid() == long.dcid => return Err(e),
                    Err(_) => {}
                }
            }
        }
        let keys = Keys::client(pr, long.dcid)?;
        let plain = keys.open(long)?;
        self.keys = Some(Box::new((version, keys)));
        Ok(plain)
    }

    /// gQUIC Q024–Q046: cleartext STREAM frames after the public header.
    fn cleartext(
        &mut self,
        p: &[u8],
        version: u32,
        public_number: Option<u32>,
        out: &mut Findings,
    ) -> Parse {
        let Ok(offset) = gquic::frames_offset(p, public_number) else {
            return self.unreadable();
        };
        self.record_version(version, out);
        let frames = p.get(offset..).unwrap_or(&[]);
        // Integers turned big-endian in Q039.
        let big_endian = public_number.is_none_or(|n| n >= 39);
        match gquic::stream_frames(frames, big_endian, &mut self.stream) {
            Ok(FrameEnd::Read) => self.finish(Framing::GquicChlo, out),
            Ok(_) => Parse::Skip,
            Err(_) => self.unreadable(),
        }
    }

    /// Reads the first handshake message once it is complete.
    fn finish(&self, framing: Framing, out: &mut Findings) -> Parse {
        match self.stream.message(framing) {
            Ok(Some(msg)) => {
                let read = match framing {
                    Framing::TlsClientHello => parse_client_hello(msg, out, Carrier::Quic),
                    Framing::GquicChlo => gquic::read_chlo(msg, out),
                };
                if read.is_ok() {
                    Parse::Done
                } else {
                    Parse::Skip
                }
            }
            Ok(None) => Parse::Incomplete,
            Err(_) => Parse::Skip,
        }
    }
}

#[cfg(test)]
mod tests;
