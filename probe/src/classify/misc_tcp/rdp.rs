//! RDP (MS-RDPBCGR): the X.224 Connection Request (client) or Confirm
//! (server) in a TPKT (RFC 1006 §6; ITU-T X.224 §13.3 and §13.4), as
//! MS-RDPBCGR §2.2.1.1 and §2.2.1.2 shape them: after the fixed X.224
//! header only a cookie (`Cookie: mstshash=user`), a routing token and an
//! RDP negotiation structure may follow. Other users of X.224 over TPKT
//! (ISO-TSAP, S7comm) carry TSAP parameters there, so they are not claimed.
//!
//! Sets nDPI's "Desktop/File Sharing" risk ("Found RDP") and extracts the
//! cookie's user name as `rdp.cookie`.

use super::super::cursor::{Cursor, Error, Result, find};
use super::super::{Findings, Packet, Parse, Probe, Protocol, Risk};

const CONNECTION_REQUEST: u8 = 0xe0;
const CONNECTION_CONFIRM: u8 = 0xd0;

pub(super) fn probe(pkt: &Packet<'_>) -> Probe {
    match pdu(pkt.payload) {
        Ok(_) => Probe::Match,
        Err(Error::Truncated) if pkt.payload.first() == Some(&3) && pkt.payload.len() < 11 => {
            Probe::Unsure
        }
        Err(_) => Probe::NoMatch,
    }
}

pub(super) fn parse(pkt: &Packet<'_>, out: &mut Findings) -> Parse {
    let Ok(cookie) = pdu(pkt.payload) else {
        return Parse::Invalid;
    };
    out.protocol = Protocol::Rdp;
    out.risk_with(Risk::DesktopOrFileSharing, "Found RDP");
    if let Some(user) = cookie {
        out.extra("rdp.cookie", user);
    }
    Parse::Done
}

/// A TPKT with an X.224 CR or CC as RDP sends them: the cookie's user name,
/// if any.
fn pdu(p: &[u8]) -> Result<Option<&[u8]>> {
    let mut c = Cursor::new(p);
    // TPKT: version 3, reserved, length of the whole PDU.
    if c.u8()? != 3 || c.u8()? != 0 {
        return Err(Error::Malformed);
    }
    let len = usize::from(c.u16()?);
    if len != p.len() {
        return Err(Error::Malformed);
    }
    // X.224: length indicator (the rest of the PDU here), code, DST-REF,
    // SRC-REF, class and options.
    let li = usize::from(c.u8()?);
    if li + 5 != len {
        return Err(Error::Malformed);
    }
    let code = c.u8()?;
    if code != CONNECTION_REQUEST && code != CONNECTION_CONFIRM {
        return Err(Error::Malformed);
    }
    c.skip(5)?;
    let mut cookie = None;
    if code == CONNECTION_REQUEST && c.peek_rest().starts_with(b"Cookie: ") {
        // MS-RDPBCGR §2.2.1.1: cookie or routing token, ended by CR LF.
        let line = c.until(b"\r\n").ok_or(Error::Malformed)?;
        if let Some(at) = find(line, b"mstshash=") {
            cookie = line.get(at + 9..);
        }
    }
    if c.is_empty() {
        return Ok(cookie);
    }
    // RDP_NEG_REQ (1), RDP_NEG_RSP (2) or RDP_NEG_FAILURE (3): type, flags,
    // length 8 (little-endian), then 4 bytes.
    let kind = c.u8()?;
    let _flags = c.u8()?;
    let neg_len = c.u16_le()?;
    let want = if code == CONNECTION_REQUEST {
        1..=1
    } else {
        2..=3
    };
    // An RDP correlation info (type 6) may follow a request's 8 bytes.
    if !want.contains(&kind) || neg_len != 8 || !matches!(c.remaining(), 4 | 40) {
        return Err(Error::Malformed);
    }
    Ok(cookie)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::super::super::testing::{every_prefix, flows, l7_name, payloads};
    use super::super::super::{Kind, Parse};
    use super::*;

    #[test]
    fn rdp_pcap_is_rdp_with_the_desktop_sharing_risk() {
        let flows = flows("rdp.pcap");
        assert_eq!(flows.len(), 1);
        assert_eq!(l7_name(&flows[0]), "RDP");
        let r = &flows[0].risks;
        assert!(
            r.iter()
                .any(|r| r.name == "Desktop/File Sharing" && r.info == "Found RDP")
        );
    }

    #[test]
    fn a_cookie_names_the_user() {
        let mut p = b"\x03\x00\x00\x2a\x25\xe0\x00\x00\x00\x00\x00Cookie: mstshash=alice\r\n\x01\x00\x08\x00\x03\x00\x00\x00".to_vec();
        p[3] = p.len() as u8;
        p[4] = p.len() as u8 - 5;
        assert_eq!(pdu(&p), Ok(Some(&b"alice"[..])));
    }

    #[test]
    fn cut_requests_are_never_done() {
        let p = payloads("rdp.pcap");
        let cr = p.first().unwrap();
        let v = every_prefix(Kind::MiscTcp, cr, true);
        assert!(
            v.iter()
                .take(cr.payload.len())
                .all(|v| *v == Parse::Invalid)
        );
        assert_eq!(v.last(), Some(&Parse::Done));
    }

    #[test]
    fn s7comm_connection_requests_are_not_rdp() {
        // TPKT + X.224 CR with TSAP parameters (c1, c2, c0), as S7comm sends.
        let s7 = b"\x03\x00\x00\x16\x11\xe0\x00\x00\x00\x01\x00\xc1\x02\x01\x00\xc2\x02\x01\x02\xc0\x01\x0a";
        assert_eq!(pdu(s7), Err(Error::Malformed));
        super::super::tests::assert_not_claimed(probe, 3389);
    }
}
