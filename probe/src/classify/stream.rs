//! Just enough TCP reassembly for DPI: one direction's bytes in sequence
//! order, so a parser can read a message (a TLS ClientHello, a certificate
//! chain, HTTP headers) split over several segments.
//!
//! - In-order segments are parsed straight from the packet (no copy); only
//!   the unconsumed tail of a message that continues in the next segment is
//!   buffered.
//! - Retransmitted bytes (at or before the next expected sequence number) are
//!   trimmed; a segment after a gap ends the stream ([`Gap`]): what was lost
//!   cannot be parsed, and guessing would misread the rest.
//! - The buffer is bounded ([`Stream::new`]'s limit): a peer announcing a huge
//!   record cannot make the probe hold it.

/// Why a stream can no longer be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StreamError {
    /// Bytes are missing (lost, or not captured) before this segment.
    Gap,
    /// The unfinished message outgrew the buffer's limit.
    TooLong,
}

/// One direction of a TCP flow, as seen by one parser.
#[derive(Debug, Default)]
pub(crate) struct Stream {
    /// Sequence number of the next byte expected.
    next: Option<u32>,
    /// Bytes received but not consumed by the parser yet.
    buf: Vec<u8>,
    limit: usize,
    failed: Option<StreamError>,
}

/// `a` before `b` in sequence space (RFC 9293 §3.4).
fn before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

impl Stream {
    /// A stream that buffers at most `limit` bytes of an unfinished message.
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit,
            ..Self::default()
        }
    }

    /// Adds a segment starting at `seq` (`None` for datagrams: each is whole)
    /// and calls `parse` with every contiguous byte not consumed yet; `parse`
    /// returns its result and how many bytes it consumed. The rest is kept
    /// for the next segment. `Ok(None)`: nothing new to parse (a
    /// retransmission).
    pub(crate) fn feed<R>(
        &mut self,
        seq: Option<u32>,
        payload: &[u8],
        parse: impl FnOnce(&[u8]) -> (R, usize),
    ) -> Result<Option<R>, StreamError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let Some(seq) = seq else {
            return Ok(Some(parse(payload).0));
        };
        let mut new = payload;
        if let Some(next) = self.next {
            if before(next, seq) {
                return Err(self.fail(StreamError::Gap));
            }
            // Skip what was already received.
            let old = next.wrapping_sub(seq) as usize;
            if old >= new.len() {
                return Ok(None);
            }
            new = new.get(old..).unwrap_or_default();
        }
        self.next = Some(seq.wrapping_add(payload.len() as u32));
        if self.buf.is_empty() {
            let (result, consumed) = parse(new);
            let rest = new.get(consumed.min(new.len())..).unwrap_or_default();
            self.keep(rest)?;
            return Ok(Some(result));
        }
        if self.buf.len() + new.len() > self.limit {
            return Err(self.fail(StreamError::TooLong));
        }
        self.buf.extend_from_slice(new);
        let (result, consumed) = parse(&self.buf);
        // The rest moves to the front of the same buffer: its allocation is
        // reused for the stream's life instead of one per segment.
        self.buf.drain(..consumed.min(self.buf.len()));
        if self.buf.len() > self.limit {
            return Err(self.fail(StreamError::TooLong));
        }
        Ok(Some(result))
    }

    /// Bytes waiting for the rest of their message.
    #[cfg(test)]
    pub(crate) fn buffered(&self) -> usize {
        self.buf.len()
    }

    fn keep(&mut self, rest: &[u8]) -> Result<(), StreamError> {
        if rest.len() > self.limit {
            return Err(self.fail(StreamError::TooLong));
        }
        self.buf.clear();
        self.buf.extend_from_slice(rest);
        Ok(())
    }

    fn fail(&mut self, e: StreamError) -> StreamError {
        self.failed = Some(e);
        self.buf = Vec::new();
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A parser of 4-byte messages: consumes whole messages, returns them.
    fn messages(data: &[u8]) -> (Vec<Vec<u8>>, usize) {
        let whole = data.len() / 4 * 4;
        let out = data
            .get(..whole)
            .unwrap_or_default()
            .chunks(4)
            .map(<[u8]>::to_vec)
            .collect();
        (out, whole)
    }

    #[test]
    fn a_message_split_over_segments_is_parsed_whole() {
        let mut s = Stream::new(64);
        assert_eq!(
            s.feed(Some(100), b"abcdef", messages),
            Ok(Some(vec![b"abcd".to_vec()]))
        );
        assert_eq!(s.buffered(), 2);
        assert_eq!(
            s.feed(Some(106), b"gh", messages),
            Ok(Some(vec![b"efgh".to_vec()]))
        );
        assert_eq!(s.buffered(), 0);
    }

    #[test]
    fn retransmissions_are_trimmed() {
        let mut s = Stream::new(64);
        s.feed(Some(0), b"abc", messages).unwrap();
        assert_eq!(s.feed(Some(0), b"abc", messages), Ok(None));
        assert_eq!(
            s.feed(Some(1), b"bcde", messages),
            Ok(Some(vec![b"abcd".to_vec()]))
        );
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut s = Stream::new(64);
        s.feed(Some(u32::MAX - 1), b"ab", messages).unwrap();
        assert_eq!(
            s.feed(Some(0), b"cd", messages),
            Ok(Some(vec![b"abcd".to_vec()]))
        );
    }

    #[test]
    fn a_gap_ends_the_stream() {
        let mut s = Stream::new(64);
        s.feed(Some(0), b"ab", messages).unwrap();
        assert_eq!(s.feed(Some(10), b"cd", messages), Err(StreamError::Gap));
        assert_eq!(s.feed(Some(2), b"cd", messages), Err(StreamError::Gap));
    }

    #[test]
    fn the_buffer_is_bounded() {
        let mut s = Stream::new(8);
        let never = |_: &[u8]| ((), 0);
        s.feed(Some(0), b"abcdef", never).unwrap();
        assert_eq!(s.feed(Some(6), b"ghij", never), Err(StreamError::TooLong));
        assert_eq!(s.buffered(), 0);
    }

    #[test]
    fn datagrams_are_parsed_as_they_come() {
        let mut s = Stream::new(8);
        assert_eq!(
            s.feed(None, b"abcd", messages),
            Ok(Some(vec![b"abcd".to_vec()]))
        );
        assert_eq!(s.buffered(), 0);
    }
}
