//! SNMP messages (RFC 3416 §3, RFC 3412 §6): just enough BER (X.690 §8.1)
//! to read the version, the community (v1, v2c) and the PDU type.

use crate::classify::cursor::{Cursor, Error, Result};

/// What an SNMP message says about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Message<'a> {
    /// "1", "2c" or "3".
    pub(super) version: &'static str,
    /// v1 and v2c only.
    pub(super) community: Option<&'a [u8]>,
    /// The PDU's name (v1, v2c; v3 PDUs are usually encrypted).
    pub(super) pdu: Option<&'static str>,
}

/// A BER tag and its contents (definite lengths only, X.690 §8.1.3).
fn tlv<'a>(c: &mut Cursor<'a>) -> Result<(u8, Cursor<'a>)> {
    let tag = c.u8()?;
    let first = c.u8()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        // Indefinite (0x80) and lengths over 4 bytes are not SNMP's.
        if n == 0 || n > 4 {
            return Err(Error::Malformed);
        }
        let mut len = 0usize;
        for _ in 0..n {
            len = (len << 8) | usize::from(c.u8()?);
        }
        len
    };
    Ok((tag, c.sub(len)?))
}

/// Reads the message; `Truncated` when the datagram was cut, `Malformed`
/// when it is not SNMP.
pub(super) fn read(payload: &[u8]) -> Result<Message<'_>> {
    let mut outer = Cursor::new(payload);
    // Message ::= SEQUENCE { version INTEGER, ... } filling the datagram.
    let (tag, mut msg) = tlv(&mut outer)?;
    if tag != 0x30 || !outer.is_empty() {
        return Err(Error::Malformed);
    }
    let (tag, mut v) = tlv(&mut msg)?;
    if tag != 0x02 || v.remaining() != 1 {
        return Err(Error::Malformed);
    }
    let version = match v.u8()? {
        0 => "1",
        1 => "2c",
        3 => "3",
        _ => return Err(Error::Malformed),
    };
    if version == "3" {
        // RFC 3412 §6: msgGlobalData is a SEQUENCE.
        let (tag, _) = tlv(&mut msg)?;
        if tag != 0x30 {
            return Err(Error::Malformed);
        }
        return Ok(Message {
            version,
            community: None,
            pdu: None,
        });
    }
    let (tag, mut community) = tlv(&mut msg)?;
    if tag != 0x04 {
        return Err(Error::Malformed);
    }
    let community = community.rest();
    // RFC 3416 §3: the PDUs are context-specific constructed tags 0..8.
    let tag = msg.peek_u8()?;
    let pdu = match tag {
        0xa0 => "GetRequest",
        0xa1 => "GetNextRequest",
        0xa2 => "Response",
        0xa3 => "SetRequest",
        0xa4 => "Trap",
        0xa5 => "GetBulkRequest",
        0xa6 => "InformRequest",
        0xa7 => "SNMPv2-Trap",
        0xa8 => "Report",
        _ => return Err(Error::Malformed),
    };
    Ok(Message {
        version,
        community: Some(community),
        pdu: Some(pdu),
    })
}

#[cfg(test)]
/// A v2c GetRequest for sysDescr.0 with community "public".
pub(super) const GET: &[u8] = &[
    0x30, 0x29, 0x02, 0x01, 0x01, 0x04, 0x06, b'p', b'u', b'b', b'l', b'i', b'c', 0xa0, 0x1c, 0x02,
    0x04, 0x12, 0x34, 0x56, 0x78, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00, 0x30, 0x0e, 0x30, 0x0c, 0x06,
    0x08, 0x2b, 0x06, 0x01, 0x02, 0x01, 0x01, 0x01, 0x00, 0x05, 0x00,
];

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn a_v2c_get_request_gives_version_community_and_pdu() {
        let m = read(GET).unwrap();
        assert_eq!(m.version, "2c");
        assert_eq!(m.community, Some(&b"public"[..]));
        assert_eq!(m.pdu, Some("GetRequest"));
    }

    #[test]
    fn cut_or_padded_messages_are_refused() {
        for len in 0..GET.len() {
            assert!(read(&GET[..len]).is_err(), "cut at {len}");
        }
        let mut padded = GET.to_vec();
        padded.push(0);
        assert_eq!(read(&padded), Err(Error::Malformed));
    }
}
