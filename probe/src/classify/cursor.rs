//! A bounds-checked reader over untrusted bytes: every read either returns
//! the bytes asked for or an error, never a panic and never a slice index.
//! Classifiers parse through it, the way rustls' codec does.

/// Why a read failed. Whose fault it is decides the classifier's verdict:
/// `Truncated` usually means "wait for more bytes", `Malformed` means "not
/// this protocol, or broken".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Error {
    /// The bytes end before the field does.
    Truncated,
    /// A field holds a value the format does not allow.
    Malformed,
}

pub(crate) type Result<T> = std::result::Result<T, Error>;

/// Reads big-endian integers and byte runs from a slice, front to back.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    /// Bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Everything not read yet; the cursor ends up empty.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.bytes)
    }

    /// The unread bytes, without consuming them.
    pub(crate) fn peek_rest(&self) -> &'a [u8] {
        self.bytes
    }

    /// The next `n` bytes.
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.bytes.len() {
            return Err(Error::Truncated);
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    /// A cursor over the next `n` bytes (a length-delimited field).
    pub(crate) fn sub(&mut self, n: usize) -> Result<Cursor<'a>> {
        self.take(n).map(Cursor::new)
    }

    pub(crate) fn skip(&mut self, n: usize) -> Result<()> {
        self.take(n).map(|_| ())
    }

    /// The next `N` bytes as an array.
    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let bytes = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8> {
        self.array::<1>().map(|[b]| b)
    }

    pub(crate) fn u16(&mut self) -> Result<u16> {
        self.array().map(u16::from_be_bytes)
    }

    /// A 24-bit big-endian integer (TLS handshake lengths).
    pub(crate) fn u24(&mut self) -> Result<u32> {
        self.array::<3>()
            .map(|[a, b, c]| u32::from_be_bytes([0, a, b, c]))
    }

    pub(crate) fn u32(&mut self) -> Result<u32> {
        self.array().map(u32::from_be_bytes)
    }

    pub(crate) fn u64(&mut self) -> Result<u64> {
        self.array().map(u64::from_be_bytes)
    }

    pub(crate) fn u16_le(&mut self) -> Result<u16> {
        self.array().map(u16::from_le_bytes)
    }

    pub(crate) fn u32_le(&mut self) -> Result<u32> {
        self.array().map(u32::from_le_bytes)
    }

    /// The next byte without consuming it.
    pub(crate) fn peek_u8(&self) -> Result<u8> {
        self.bytes.first().copied().ok_or(Error::Truncated)
    }

    /// A QUIC variable-length integer (RFC 9000 §16).
    pub(crate) fn varint(&mut self) -> Result<u64> {
        let first = self.peek_u8()?;
        let len = 1usize << (first >> 6);
        let bytes = self.take(len)?;
        let mut value = u64::from(first & 0x3f);
        for b in bytes.iter().skip(1) {
            value = (value << 8) | u64::from(*b);
        }
        Ok(value)
    }

    /// A field prefixed by its length in one byte.
    pub(crate) fn vec_u8(&mut self) -> Result<Cursor<'a>> {
        let n = self.u8()?;
        self.sub(usize::from(n))
    }

    /// A field prefixed by its length in two bytes.
    pub(crate) fn vec_u16(&mut self) -> Result<Cursor<'a>> {
        let n = self.u16()?;
        self.sub(usize::from(n))
    }

    /// A field prefixed by its length in three bytes.
    pub(crate) fn vec_u24(&mut self) -> Result<Cursor<'a>> {
        let n = self.u24()?;
        self.sub(n as usize)
    }

    /// The bytes up to (not including) `delim`, consuming the delimiter too;
    /// `None` when the delimiter does not occur (nothing consumed).
    pub(crate) fn until(&mut self, delim: &[u8]) -> Option<&'a [u8]> {
        let at = find(self.bytes, delim)?;
        let head = self.bytes.get(..at)?;
        self.bytes = self.bytes.get(at + delim.len()..)?;
        Some(head)
    }
}

/// Position of `needle` in `haystack`.
/// Short needles (the `\r\n` of every header line, `"host_int"`) are found
/// with memchr on their first byte and a compare at each hit: memmem builds
/// a searcher on every call, which cost more than the search.
pub(crate) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let Some((&first, rest)) = needle.split_first() else {
        return Some(0);
    };
    if needle.len() > 16 {
        return memchr::memmem::find(haystack, needle);
    }
    memchr::memchr_iter(first, haystack).find(|&at| {
        haystack
            .get(at + 1..at + needle.len())
            .is_some_and(|w| w == rest)
    })
}

/// Whether `s` is an IP address written out (`192.0.2.1`, `2001:db8::1`).
/// Text with a byte no address has (a host name's letters past `f`, a
/// hyphen) is turned down before the standard parser runs.
pub(crate) fn is_ip_text(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_hexdigit() || b == b'.' || b == b':')
        && s.parse::<std::net::IpAddr>().is_ok()
}

/// Whether `needle` occurs in `haystack`, ASCII case ignored. Only the
/// places where the needle's first byte occurs (either case, found with
/// memchr) are compared: header values and User-Agents are checked for
/// several needles each, and comparing at every offset was most of it.
pub(crate) fn contains_ci(haystack: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    let (lower, upper) = (first.to_ascii_lowercase(), first.to_ascii_uppercase());
    memchr::memchr2_iter(lower, upper, haystack).any(|at| {
        haystack
            .get(at + 1..at + needle.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(rest))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_agrees_with_memmem() {
        let hay = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n\"host_int\" xx\r";
        for needle in [
            &b""[..],
            b"\r\n",
            b"\r\n\r\n",
            b"\r",
            b"G",
            b"\"host_int\"",
            b"nope",
            b"xx\r",
            b"xx\r\n",
            b"HTTP/1.1\r\nHost: a\r\n\r",
        ] {
            for start in 0..hay.len() {
                let h = &hay[start..];
                assert_eq!(find(h, needle), memchr::memmem::find(h, needle));
            }
        }
    }

    #[test]
    fn is_ip_text_agrees_with_the_parser() {
        for s in [
            "",
            "1.2.3.4",
            "::1",
            "::ffff:1.2.3.4",
            "fe80::1",
            "1.2.3",
            "abc",
            "a.b",
            "example.com",
            "2001:db8::g",
            "1.2.3.4:80",
            "[::1]",
        ] {
            assert_eq!(is_ip_text(s), s.parse::<std::net::IpAddr>().is_ok(), "{s}");
        }
    }

    #[test]
    fn contains_ci_agrees_with_comparing_every_window() {
        let slow = |h: &[u8], n: &[u8]| {
            n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
        };
        let hays: [&[u8]; 6] = [
            b"",
            b"a",
            b"xX${JnDi:ldap",
            b"Googlebot/2.1",
            b"${jndi",
            b"bbBot",
        ];
        let needles: [&[u8]; 6] = [b"", b"${jndi:", b"bot", b"B", b"xx$", b"ldap!"];
        for h in hays {
            for n in needles {
                assert_eq!(contains_ci(h, n), slow(h, n), "{h:?} {n:?}");
            }
        }
    }

    #[test]
    fn reads_past_the_end_are_truncated_not_panics() {
        let mut c = Cursor::new(&[1, 2, 3]);
        assert_eq!(c.u16(), Ok(0x0102));
        assert_eq!(c.u16(), Err(Error::Truncated));
        assert_eq!(c.u8(), Ok(3));
        assert_eq!(c.u8(), Err(Error::Truncated));
        assert!(c.take(1).is_err());
        assert!(c.take(0).is_ok());
    }

    #[test]
    fn length_prefixed_fields_stay_inside_their_bounds() {
        let mut c = Cursor::new(&[0, 2, 0xaa, 0xbb, 0xcc]);
        let mut inner = c.vec_u16().unwrap();
        assert_eq!(inner.remaining(), 2);
        assert_eq!(inner.u16(), Ok(0xaabb));
        assert_eq!(inner.u8(), Err(Error::Truncated));
        assert_eq!(c.u8(), Ok(0xcc));
        assert!(Cursor::new(&[0, 9, 1]).vec_u16().is_err());
    }

    #[test]
    fn quic_varints_decode_as_rfc_9000_appendix_a_says() {
        // RFC 9000 §A.1 examples.
        let cases: [(&[u8], u64); 4] = [
            (
                &[0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c],
                151_288_809_941_952_652,
            ),
            (&[0x9d, 0x7f, 0x3e, 0x7d], 494_878_333),
            (&[0x7b, 0xbd], 15_293),
            (&[0x25], 37),
        ];
        for (bytes, value) in cases {
            assert_eq!(Cursor::new(bytes).varint(), Ok(value));
        }
        assert_eq!(Cursor::new(&[0x7b]).varint(), Err(Error::Truncated));
    }

    #[test]
    fn until_splits_on_a_delimiter() {
        let mut c = Cursor::new(b"GET / HTTP/1.1\r\nHost: a\r\n");
        assert_eq!(c.until(b"\r\n"), Some(&b"GET / HTTP/1.1"[..]));
        assert_eq!(c.until(b"\r\n"), Some(&b"Host: a"[..]));
        assert_eq!(c.until(b"\r\n"), None);
    }
}
