//! Google QUIC's cleartext handshake: the public header of Q024–Q043 and
//! the fixed long header of Q046 (Chromium's `QuicFramer`), the STREAM
//! frames of the crypto stream (stream 1), and the CHLO message whose tags
//! name the server (`SNI`), the client (`UAID`, its user agent) and the
//! version (`VER`). Q050 and T05x Initials are opened like IETF ones
//! ([`super::initial`]); their CHLO is read here too.

use super::super::Findings;
use super::super::Risk;
use super::super::cursor::{Cursor, Error, Result};
use super::frames::{CryptoStream, FrameEnd};

/// Public flags (Q024–Q043): a version follows the connection ID.
const FLAG_VERSION: u8 = 0x01;
/// Public flags: a reset packet.
const FLAG_RESET: u8 = 0x02;
/// Public flags: an 8-byte connection ID (clients set 0x0c, both bits of
/// the old two-bit length).
const FLAG_CID_8: u8 = 0x08;
/// The message authentication hash before cleartext frames (FNV-1a, 12
/// bytes).
const HASH_LEN: usize = 12;

/// Where the cleartext frames of a client's first gQUIC packet start:
/// after the public header (Q024–Q043) and the message hash, or after
/// Q046's long header and the hash. `None` when the header is not a
/// client's versioned packet.
pub(super) fn frames_offset(payload: &[u8], public_header_version: Option<u32>) -> Result<usize> {
    let mut c = Cursor::new(payload);
    let flags = c.u8()?;
    let pn_len = if let Some(number) = public_header_version {
        // Public header: flags, connection ID (8), version (4), packet
        // number (1, 2, 4 or 6 bytes by flags 0x30).
        if flags & (FLAG_VERSION | FLAG_CID_8) != FLAG_VERSION | FLAG_CID_8
            || flags & (FLAG_RESET | 0x80 | 0x40) != 0
        {
            return Err(Error::Malformed);
        }
        c.skip(8 + 4)?;
        let pn_len = [1, 2, 4, 6][usize::from((flags >> 4) & 0x03)];
        // Before Q034 a private flags byte followed the hash.
        pn_len + usize::from(number < 34)
    } else {
        // Q046: long header, fixed bit, Initial; connection ID lengths
        // byte 0x50 (an 8-byte destination ID, no source ID).
        if flags & 0xc0 != 0xc0 {
            return Err(Error::Malformed);
        }
        c.skip(4)?;
        if c.u8()? != 0x50 {
            return Err(Error::Malformed);
        }
        c.skip(8)?;
        usize::from(flags & 0x03) + 1
    };
    c.skip(pn_len + HASH_LEN)?;
    Ok(payload.len() - c.remaining())
}

/// Reads the STREAM frames of the crypto stream (stream ID 1) from a
/// cleartext gQUIC packet into `stream`. Frame type `1fdooos s`: FIN,
/// data length present, offset length (0 or 2–8 bytes), stream ID length
/// (1–4 bytes); integers little-endian before Q039, big-endian from then
/// on. Leading PADDING and one ACK frame (nDPI's heuristic: 0x40 is 6
/// bytes, 0x60 is 9) are stepped over; any other frame ends the walk.
pub(super) fn stream_frames(
    frames: &[u8],
    big_endian: bool,
    stream: &mut CryptoStream,
) -> Result<FrameEnd> {
    let mut c = Cursor::new(frames);
    while let Ok(ty) = c.peek_u8() {
        match ty {
            0x00 => {
                c.skip(1)?;
                continue;
            }
            0x40 => c.skip(6)?,
            0x60 => c.skip(9)?,
            _ if ty & 0x80 != 0 => {
                c.skip(1)?;
                let id_len = usize::from(ty & 0x03) + 1;
                let offset_len = match (ty >> 2) & 0x07 {
                    0 => 0,
                    n => usize::from(n) + 1,
                };
                let id = uint(c.take(id_len)?, big_endian);
                let offset = uint(c.take(offset_len)?, big_endian);
                let data = if ty & 0x20 != 0 {
                    let len = c.take(2)?;
                    c.take(uint(len, big_endian) as usize)?
                } else {
                    c.rest()
                };
                if id == 1 && stream.insert(offset, data).is_err() {
                    return Ok(FrameEnd::Limit);
                }
            }
            _ => break,
        }
    }
    Ok(FrameEnd::Read)
}

/// An unsigned integer of up to 8 bytes in the version's byte order.
fn uint(bytes: &[u8], big_endian: bool) -> u64 {
    let fold = |n: u64, b: &u8| (n << 8) | u64::from(*b);
    if big_endian {
        bytes.iter().fold(0, fold)
    } else {
        bytes.iter().rev().fold(0, fold)
    }
}

/// Most CHLO entries read (Chrome sends about 20).
const MAX_TAGS: usize = 64;

/// Reads a complete CHLO (tag `CHLO`, entry count, entries of tag and end
/// offset, values) and records the server name as the flow's host, the
/// user agent and the CHLO's version tag. A CHLO without `SNI` raises
/// "Missing SNI TLS Extn", as nDPI does.
pub(super) fn read_chlo(msg: &[u8], out: &mut Findings) -> Result<()> {
    let mut c = Cursor::new(msg);
    if c.take(4)? != b"CHLO" {
        return Err(Error::Malformed);
    }
    let entries = usize::from(c.u16_le()?);
    c.skip(2)?;
    let mut index = c.sub(entries.checked_mul(8).ok_or(Error::Malformed)?)?;
    let values = c.rest();
    let mut start = 0usize;
    let mut sni = false;
    for _ in 0..entries.min(MAX_TAGS) {
        let tag = index.array::<4>()?;
        let end = index.u32_le()? as usize;
        if end < start {
            return Err(Error::Malformed);
        }
        let value = values.get(start..end).ok_or(Error::Truncated)?;
        start = end;
        match &tag {
            b"SNI\0" => {
                out.set_host(value);
                out.tls().sni = super::super::findings::text(value);
                sni = true;
            }
            b"UAID" => {
                let http = out.http();
                if http.user_agent.is_empty() {
                    http.user_agent = super::super::findings::text(value);
                }
            }
            b"VER\0" => out.extra("quic.chlo_version", value),
            _ => {}
        }
    }
    if !sni {
        out.risk(Risk::TlsMissingSni);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

    use super::*;

    fn chlo(tags: &[(&[u8; 4], &[u8])]) -> Vec<u8> {
        let mut m = b"CHLO".to_vec();
        m.extend_from_slice(&(tags.len() as u16).to_le_bytes());
        m.extend_from_slice(&[0, 0]);
        let mut end = 0u32;
        for (tag, value) in tags {
            end += value.len() as u32;
            m.extend_from_slice(*tag);
            m.extend_from_slice(&end.to_le_bytes());
        }
        for (_, value) in tags {
            m.extend_from_slice(value);
        }
        m
    }

    #[test]
    fn a_chlo_gives_the_server_name_and_user_agent() {
        let m = chlo(&[
            (b"PAD\0", &[0u8; 10]),
            (b"SNI\0", b"www.Example.com"),
            (b"VER\0", b"Q043"),
            (b"UAID", b"Chrome/85"),
        ]);
        let mut out = Findings::default();
        read_chlo(&m, &mut out).unwrap();
        assert_eq!(out.host, "www.example.com");
        assert_eq!(out.l7.http.unwrap().user_agent, "Chrome/85");
        assert_eq!(out.l7.extra.get("quic.chlo_version").unwrap(), "Q043");
        assert!(out.risks.is_empty());
    }

    #[test]
    fn a_chlo_without_sni_is_a_risk_and_a_broken_one_an_error() {
        let mut out = Findings::default();
        read_chlo(&chlo(&[(b"UAID", b"x")]), &mut out).unwrap();
        assert!(!out.risks.is_empty());
        // Offsets going backwards.
        let mut m = chlo(&[(b"SNI\0", b"ab"), (b"UAID", b"c")]);
        m.get_mut(20..24)
            .unwrap()
            .copy_from_slice(&1u32.to_le_bytes());
        assert_eq!(
            read_chlo(&m, &mut Findings::default()),
            Err(Error::Malformed)
        );
        assert_eq!(
            read_chlo(b"SHLO\0\0\0\0", &mut Findings::default()),
            Err(Error::Malformed)
        );
        let m = chlo(&[(b"SNI\0", b"abc")]);
        for len in 0..m.len() {
            assert!(read_chlo(m.get(..len).unwrap(), &mut Findings::default()).is_err());
        }
    }

    #[test]
    fn stream_frames_of_stream_1_feed_the_crypto_stream() {
        let mut s = CryptoStream::default();
        // Stream frame, data length present, 1-byte ID 1, no offset, BE.
        let frames = [0x00, 0xa0, 0x01, 0x00, 0x04, b'C', b'H', b'L', b'O', 0x00];
        assert_eq!(stream_frames(&frames, true, &mut s), Ok(FrameEnd::Read));
        let mut s2 = CryptoStream::default();
        // Same, little-endian length, 2-byte offset 0x0002 (type 0xa4).
        let frames = [0xa4, 0x01, 0x02, 0x00, 0x02, 0x00, b'L', b'O'];
        assert_eq!(stream_frames(&frames, false, &mut s2), Ok(FrameEnd::Read));
        s2.insert(0, b"CH").unwrap();
        let m1 = format!("{s:?}");
        assert!(m1.contains("67, 72, 76, 79"), "{m1}");
        assert!(format!("{s2:?}").contains("67, 72, 76, 79"));
    }
}
