//! iSCSI (RFC 7143) on port 3260: the initiator's Login Request (§11.12),
//! a 48-byte Basic Header Segment with opcode 0x03 (immediate bit allowed),
//! version 0 and a sane data segment, or the target's Login Response
//! (§11.13, opcode 0x23).
//!
//! Extracted from the login text (§13): `iscsi.initiator` (InitiatorName)
//! and `iscsi.target` (TargetName).

use super::super::cursor::{Cursor, Error, Result, find};
use super::super::{Findings, Packet, Parse, Probe, Protocol};

const PORT: u16 = 3260;
const LOGIN_REQUEST: u8 = 0x03;
const LOGIN_RESPONSE: u8 = 0x23;
/// A login PDU's data segment is at most 8 KiB (§13.12 default).
const MAX_DATA: usize = 64 * 1024;

pub(super) fn probe(pkt: &Packet<'_>) -> Probe {
    if !pkt.has_port(PORT) {
        return Probe::NoMatch;
    }
    match login(pkt.payload) {
        Ok(_) => Probe::Match,
        Err(Error::Truncated) if pkt.payload.len() < 48 => Probe::Unsure,
        Err(_) => Probe::NoMatch,
    }
}

pub(super) fn parse(pkt: &Packet<'_>, out: &mut Findings) -> Parse {
    let Ok(text) = login(pkt.payload) else {
        return Parse::Invalid;
    };
    out.protocol = Protocol::Iscsi;
    for (key, name) in [
        (&b"InitiatorName="[..], "iscsi.initiator"),
        (b"TargetName=", "iscsi.target"),
    ] {
        if let Some(value) = text_value(text, key) {
            out.extra(name, value);
        }
    }
    Parse::Done
}

/// A login PDU's BHS (§11.12.1): its data segment (as far as captured).
fn login(p: &[u8]) -> Result<&[u8]> {
    let mut c = Cursor::new(p);
    let opcode = c.u8()? & 0x3f;
    if opcode != LOGIN_REQUEST && opcode != LOGIN_RESPONSE & 0x3f {
        return Err(Error::Malformed);
    }
    let flags = c.u8()?;
    // CSG and NSG: 0, 1 or 3 (§11.12.3); Transit and Continue not both.
    if flags & 0x0c == 0x08 || flags & 0x03 == 0x02 || flags & 0xc0 == 0xc0 {
        return Err(Error::Malformed);
    }
    // Version-max and version-min in a request, version-max and -active in
    // a response: 0 (§11.12.4).
    if c.u8()? != 0 || c.u8()? != 0 {
        return Err(Error::Malformed);
    }
    let _ahs = c.u8()?;
    let data = c.u24()? as usize;
    if data > MAX_DATA {
        return Err(Error::Malformed);
    }
    c.skip(48 - 8)?;
    let rest = c.rest();
    Ok(rest.get(..data.min(rest.len())).unwrap_or(rest))
}

/// The value of `key=value\0` in login text (§6.1).
fn text_value<'a>(text: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let at = find(text, key)?;
    if at > 0 && text.get(at - 1) != Some(&0) {
        return None;
    }
    let value = text.get(at + key.len()..)?;
    let end = value.iter().position(|&b| b == 0).unwrap_or(value.len());
    value.get(..end)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn request() -> Vec<u8> {
        let text = b"InitiatorName=iqn.1991-05.com.microsoft:host\0SessionType=Normal\0TargetName=iqn.2004-04.com.qnap:disk\0";
        let mut p = vec![0x43, 0x87, 0, 0, 0, 0, 0, text.len() as u8];
        p.resize(48, 0);
        p.extend_from_slice(text);
        p
    }

    #[test]
    fn a_login_request_names_initiator_and_target() {
        let p = request();
        let text = login(&p).unwrap();
        assert_eq!(
            text_value(text, b"InitiatorName="),
            Some(&b"iqn.1991-05.com.microsoft:host"[..])
        );
        assert_eq!(
            text_value(text, b"TargetName="),
            Some(&b"iqn.2004-04.com.qnap:disk"[..])
        );
    }

    #[test]
    fn cut_logins_are_unsure_until_the_header_is_whole() {
        let p = request();
        for len in 0..48 {
            assert!(login(&p[..len]).is_err());
        }
        assert!(login(&p[..48]).is_ok());
    }

    #[test]
    fn other_protocols_are_not_iscsi() {
        super::super::tests::assert_not_claimed(probe, PORT);
    }
}
