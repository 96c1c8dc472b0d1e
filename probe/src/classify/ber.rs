//! Just enough ASN.1 BER/DER (X.690 §8.1) for the Kerberos and LDAP
//! classifiers: single-byte tags and definite lengths (short form, or long
//! form up to four bytes), read through [`Cursor`].

use super::cursor::{Cursor, Error, Result};

/// UNIVERSAL 16, constructed (X.690 §8.9).
pub(crate) const SEQUENCE: u8 = 0x30;
/// UNIVERSAL 2 (X.690 §8.3).
pub(crate) const INTEGER: u8 = 0x02;
/// UNIVERSAL 4 (X.690 §8.7).
pub(crate) const OCTET_STRING: u8 = 0x04;

/// A tag and its declared content length; the content itself may not be
/// there yet (a probe looks at the first bytes only).
pub(crate) fn header(c: &mut Cursor<'_>) -> Result<(u8, usize)> {
    let tag = c.u8()?;
    // High tag numbers (X.690 §8.1.2.4) are not used by these protocols.
    if tag & 0x1f == 0x1f {
        return Err(Error::Malformed);
    }
    let first = c.u8()?;
    let len = match first {
        0..=0x7f => usize::from(first),
        // X.690 §8.1.3.5; 0x80 is the indefinite form, not allowed in DER
        // and not used here.
        0x81..=0x84 => {
            let mut n = 0usize;
            for b in c.take(usize::from(first & 0x7f))? {
                n = (n << 8) | usize::from(*b);
            }
            n
        }
        _ => return Err(Error::Malformed),
    };
    Ok((tag, len))
}

/// A whole TLV: its tag and a cursor over its content.
pub(crate) fn read<'a>(c: &mut Cursor<'a>) -> Result<(u8, Cursor<'a>)> {
    let (tag, len) = header(c)?;
    Ok((tag, c.sub(len)?))
}

/// A TLV that must carry `tag`.
pub(crate) fn expect<'a>(c: &mut Cursor<'a>, tag: u8) -> Result<Cursor<'a>> {
    match read(c)? {
        (t, value) if t == tag => Ok(value),
        _ => Err(Error::Malformed),
    }
}

/// A non-negative INTEGER of at most 8 bytes (X.690 §8.3).
pub(crate) fn uint(c: &mut Cursor<'_>) -> Result<u64> {
    let mut v = expect(c, INTEGER)?;
    let bytes = v.rest();
    if bytes.is_empty() || bytes.first().is_some_and(|b| b & 0x80 != 0) {
        return Err(Error::Malformed);
    }
    let bytes = bytes.strip_prefix(&[0]).unwrap_or(bytes);
    if bytes.len() > 8 {
        return Err(Error::Malformed);
    }
    Ok(bytes.iter().fold(0u64, |n, b| (n << 8) | u64::from(*b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_read_in_short_and_long_form() {
        assert_eq!(header(&mut Cursor::new(&[0x30, 0x05])), Ok((0x30, 5)));
        assert_eq!(
            header(&mut Cursor::new(&[0x6a, 0x82, 0x01, 0x37])),
            Ok((0x6a, 0x137))
        );
        assert_eq!(
            header(&mut Cursor::new(&[0x30, 0x80])),
            Err(Error::Malformed)
        );
        assert_eq!(
            header(&mut Cursor::new(&[0x30, 0x82, 1])),
            Err(Error::Truncated)
        );
        assert_eq!(uint(&mut Cursor::new(&[2, 1, 5])), Ok(5));
        assert_eq!(uint(&mut Cursor::new(&[2, 1, 0x85])), Err(Error::Malformed));
        assert_eq!(
            read(&mut Cursor::new(&[4, 3, 1])).err(),
            Some(Error::Truncated)
        );
    }
}
