//! The frames of a decrypted Initial packet (RFC 9000 §19: PADDING, PING,
//! ACK, CRYPTO, CONNECTION_CLOSE; gQUIC Q050/T05x CRYPTO frames) and the
//! reassembly of the CRYPTO stream by offset, so a ClientHello split over
//! several Initial packets (Chrome's are, and it also shuffles its CRYPTO
//! frames inside a packet) comes out whole.
//!
//! Invariant: the stream buffer never grows past [`MAX_STREAM`] bytes, and
//! at most [`MAX_RANGES`] separate byte ranges are tracked.

use super::super::cursor::{Cursor, Error, Result};

/// Largest handshake message reassembled (a post-quantum ClientHello is
/// about 2 KiB; 16 KiB leaves room for big session tickets).
pub(super) const MAX_STREAM: usize = 16 * 1024;
/// Separate byte ranges tracked while fragments arrive out of order.
const MAX_RANGES: usize = 32;

/// Why reassembly stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stop {
    /// Past [`MAX_STREAM`] or [`MAX_RANGES`]: the message is not read.
    Limit,
    /// The bytes are not what the stream should carry.
    Malformed,
}

/// How the message at the start of a CRYPTO stream says its length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Framing {
    /// A TLS handshake message (RFC 8446 §4: type, 24-bit length); the
    /// first one of a client is a ClientHello (type 1).
    TlsClientHello,
    /// A gQUIC handshake message: tag, entry count (u16 LE), padding, then
    /// entries of (tag, end offset u32 LE), then the values.
    GquicChlo,
}

/// The bytes of a CRYPTO stream received so far, by offset.
#[derive(Debug, Default)]
pub(super) struct CryptoStream {
    buf: Vec<u8>,
    /// Sorted, disjoint, non-adjacent `[start, end)` ranges received.
    ranges: Vec<(usize, usize)>,
}

impl CryptoStream {
    /// Stores `data` at stream offset `offset` (retransmitted or
    /// overlapping bytes are written again; QUIC guarantees they agree).
    pub(super) fn insert(&mut self, offset: u64, data: &[u8]) -> std::result::Result<(), Stop> {
        let start = usize::try_from(offset).map_err(|_| Stop::Limit)?;
        let end = start.checked_add(data.len()).ok_or(Stop::Limit)?;
        if end > MAX_STREAM {
            return Err(Stop::Limit);
        }
        if data.is_empty() {
            return Ok(());
        }
        if self.buf.len() < end {
            self.buf.resize(end, 0);
        }
        self.buf
            .get_mut(start..end)
            .ok_or(Stop::Limit)?
            .copy_from_slice(data);
        // Merge [start, end) into the ranges.
        let mut merged = (start, end);
        self.ranges.retain(|&(s, e)| {
            if e < merged.0 || s > merged.1 {
                true
            } else {
                merged = (merged.0.min(s), merged.1.max(e));
                false
            }
        });
        let at = self.ranges.partition_point(|&(s, _)| s < merged.0);
        self.ranges.insert(at, merged);
        if self.ranges.len() > MAX_RANGES {
            return Err(Stop::Limit);
        }
        Ok(())
    }

    /// The bytes received without a gap from offset 0.
    fn prefix(&self) -> &[u8] {
        match self.ranges.first() {
            Some(&(0, end)) => self.buf.get(..end).unwrap_or(&[]),
            _ => &[],
        }
    }

    /// The first message of the stream once all of it arrived; `Ok(None)`
    /// while bytes are missing.
    pub(super) fn message(&self, framing: Framing) -> std::result::Result<Option<&[u8]>, Stop> {
        let prefix = self.prefix();
        let len = match message_len(prefix, framing) {
            Ok(len) => len,
            Err(Error::Truncated) => return Ok(None),
            Err(Error::Malformed) => return Err(Stop::Malformed),
        };
        if len > MAX_STREAM {
            return Err(Stop::Limit);
        }
        Ok(prefix.get(..len))
    }
}

/// The length of the message at the start of `bytes`, from its header.
fn message_len(bytes: &[u8], framing: Framing) -> Result<usize> {
    let mut c = Cursor::new(bytes);
    match framing {
        Framing::TlsClientHello => {
            // RFC 8446 §4: HandshakeType msg_type (1 = client_hello), uint24.
            if c.u8()? != 1 {
                return Err(Error::Malformed);
            }
            Ok(4 + c.u24()? as usize)
        }
        Framing::GquicChlo => {
            if c.take(4)? != b"CHLO" {
                return Err(Error::Malformed);
            }
            let entries = usize::from(c.u16_le()?);
            c.skip(2)?;
            let index = 8 + 8 * entries;
            if entries == 0 {
                return Ok(index);
            }
            // The values end at the last entry's end offset.
            c.skip(8 * (entries - 1) + 4)?;
            Ok(index + c.u32_le()? as usize)
        }
    }
}

/// Walks the frames of a decrypted IETF Initial (RFC 9000 §19) and stores
/// their CRYPTO data. §17.2.2: an Initial carries only PADDING, PING, ACK,
/// CRYPTO and CONNECTION_CLOSE (type 0x1c); anything else is malformed.
pub(super) fn ietf_frames(plain: &[u8], stream: &mut CryptoStream) -> Result<FrameEnd> {
    let mut c = Cursor::new(plain);
    while !c.is_empty() {
        match c.varint()? {
            // §19.1 PADDING, §19.2 PING.
            0x00 | 0x01 => {}
            // §19.3 ACK: Largest, Delay, Range Count, First Range, ranges.
            ty @ (0x02 | 0x03) => {
                c.varint()?;
                c.varint()?;
                let count = c.varint()?;
                c.varint()?;
                // Each range is two varints of at least one byte.
                if count > c.remaining() as u64 / 2 {
                    return Err(Error::Malformed);
                }
                for _ in 0..count * 2 {
                    c.varint()?;
                }
                if ty == 0x03 {
                    // ECN counts.
                    for _ in 0..3 {
                        c.varint()?;
                    }
                }
            }
            // §19.6 CRYPTO: Offset, Length, Data.
            0x06 => {
                let offset = c.varint()?;
                let len = usize::try_from(c.varint()?).map_err(|_| Error::Malformed)?;
                let data = c.take(len)?;
                if stream.insert(offset, data).is_err() {
                    return Ok(FrameEnd::Limit);
                }
            }
            // §19.19 CONNECTION_CLOSE: the client gives up.
            0x1c => return Ok(FrameEnd::Closed),
            _ => return Err(Error::Malformed),
        }
    }
    Ok(FrameEnd::Read)
}

/// How a packet's frames ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum FrameEnd {
    /// Every frame was read.
    Read,
    /// The CRYPTO stream went past its limits.
    Limit,
    /// The client closed the connection.
    Closed,
}

/// Walks the frames of a decrypted gQUIC Q050/T05x Initial: PADDING (0x00)
/// and CRYPTO frames (type 0x08: offset and length as varints, RFC 9000
/// §16); as nDPI does, one leading ACK frame (0x40: 6 bytes, 0x60: 9
/// bytes) of a retransmitted CHLO is stepped over. Other frames end the
/// walk.
pub(super) fn gquic_crypto_frames(plain: &[u8], stream: &mut CryptoStream) -> Result<FrameEnd> {
    let mut c = Cursor::new(plain);
    let mut first = true;
    while let Ok(ty) = c.u8() {
        match ty {
            0x00 => {}
            0x40 if first => c.skip(5)?,
            0x60 if first => c.skip(8)?,
            0x08 => {
                let offset = c.varint()?;
                let len = usize::try_from(c.varint()?).map_err(|_| Error::Malformed)?;
                let data = c.take(len)?;
                if stream.insert(offset, data).is_err() {
                    return Ok(FrameEnd::Limit);
                }
            }
            _ => break,
        }
        first &= ty == 0x00;
    }
    Ok(FrameEnd::Read)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

    use super::*;

    fn hello(len: usize) -> Vec<u8> {
        let body = len - 4;
        let mut m = vec![1, 0, (body >> 8) as u8, body as u8];
        m.extend((0..body).map(|i| i as u8));
        m
    }

    #[test]
    fn fragments_in_any_order_reassemble_the_message() {
        let msg = hello(3000);
        let cuts = [(1800, 3000), (0, 700), (1200, 1800), (700, 1200)];
        let mut s = CryptoStream::default();
        for (i, (a, b)) in cuts.iter().enumerate() {
            assert_eq!(s.message(Framing::TlsClientHello), Ok(None), "step {i}");
            s.insert(*a as u64, msg.get(*a..*b).unwrap()).unwrap();
        }
        assert_eq!(s.message(Framing::TlsClientHello), Ok(Some(&msg[..])));
    }

    #[test]
    fn retransmitted_and_overlapping_fragments_are_harmless() {
        let msg = hello(500);
        let mut s = CryptoStream::default();
        s.insert(100, msg.get(100..300).unwrap()).unwrap();
        s.insert(100, msg.get(100..300).unwrap()).unwrap();
        s.insert(250, msg.get(250..500).unwrap()).unwrap();
        assert_eq!(s.message(Framing::TlsClientHello), Ok(None));
        s.insert(0, msg.get(0..120).unwrap()).unwrap();
        assert_eq!(s.message(Framing::TlsClientHello), Ok(Some(&msg[..])));
        assert_eq!(s.ranges, vec![(0, 500)]);
    }

    #[test]
    fn the_stream_is_bounded() {
        let mut s = CryptoStream::default();
        assert_eq!(s.insert(MAX_STREAM as u64, &[1]), Err(Stop::Limit));
        assert_eq!(s.insert(u64::MAX, &[1]), Err(Stop::Limit));
        assert!(s.buf.is_empty());
        let mut result = Ok(());
        for i in 0..=MAX_RANGES as u64 {
            result = s.insert(i * 10, &[1]);
        }
        assert_eq!(result, Err(Stop::Limit));
        // A message announcing more than the limit is not waited for.
        let mut s = CryptoStream::default();
        s.insert(0, &[1, 0x01, 0, 0]).unwrap();
        assert_eq!(s.message(Framing::TlsClientHello), Err(Stop::Limit));
    }

    #[test]
    fn a_stream_that_is_not_a_client_hello_is_malformed() {
        let mut s = CryptoStream::default();
        s.insert(0, &[2, 0, 0, 1, 0]).unwrap();
        assert_eq!(s.message(Framing::TlsClientHello), Err(Stop::Malformed));
        let mut s = CryptoStream::default();
        s.insert(0, b"SHLO\x00\x00\x00\x00").unwrap();
        assert_eq!(s.message(Framing::GquicChlo), Err(Stop::Malformed));
    }

    #[test]
    fn ietf_frames_feed_crypto_data_and_reject_stream_frames() {
        let mut s = CryptoStream::default();
        // PING, ACK (largest 5, delay 0, 1 range: gap 0 len 0 after first 1),
        // CRYPTO at 4 of "abc", PADDING.
        let frames = [
            0x01, 0x02, 0x05, 0x00, 0x01, 0x01, 0x00, 0x00, 0x06, 0x04, 0x03, b'a', b'b', b'c',
            0x00, 0x00,
        ];
        assert_eq!(ietf_frames(&frames, &mut s), Ok(FrameEnd::Read));
        assert_eq!(s.ranges, vec![(4, 7)]);
        // STREAM frames may not appear in an Initial.
        assert_eq!(ietf_frames(&[0x08, 0, 0], &mut s), Err(Error::Malformed));
        // A CRYPTO frame longer than the packet.
        assert_eq!(
            ietf_frames(&[0x06, 0x00, 0x10, 1], &mut s),
            Err(Error::Truncated)
        );
        // An ACK claiming more ranges than bytes.
        assert_eq!(
            ietf_frames(&[0x02, 0, 0, 0x3f, 0], &mut s),
            Err(Error::Malformed)
        );
        assert_eq!(ietf_frames(&[0x1c, 0], &mut s), Ok(FrameEnd::Closed));
    }

    #[test]
    fn gquic_frames_feed_crypto_data() {
        let mut s = CryptoStream::default();
        let frames = [0x00, 0x08, 0x00, 0x02, b'C', b'H', 0x00, 0x00];
        assert_eq!(gquic_crypto_frames(&frames, &mut s), Ok(FrameEnd::Read));
        assert_eq!(s.prefix(), b"CH");
    }
}
