//! WhatsApp's chat protocol (TCP 443 or 5222), the way nDPI recognises it:
//! the client's first bytes are `WA` and a version (FunXMPP, the old
//! clients: `WA\x01\x05`, then a frame whose 16-bit length fits), or the
//! Noise-based header `ED\x00\x01` of the current clients followed by one of
//! the two prologues nDPI knows. Nothing is readable after it.

use super::super::cursor::{Cursor, Error, Result};
use super::super::{Findings, Packet, Parse, Probe, Protocol};

/// The Noise header and the prologue tails nDPI matches after it.
const NOISE: &[u8] = b"ED\x00\x01";
const NOISE_TAILS: [&[u8]; 2] = [b"\x00\x00\x04\x08", b"\x00\x00\x02\x08"];

pub(super) fn probe(pkt: &Packet<'_>) -> Probe {
    if !pkt.from_client {
        return Probe::NoMatch;
    }
    match hello(pkt.payload) {
        Ok(()) => Probe::Match,
        Err(Error::Truncated) => Probe::Unsure,
        Err(Error::Malformed) => Probe::NoMatch,
    }
}

pub(super) fn parse(pkt: &Packet<'_>, out: &mut Findings) -> Parse {
    if hello(pkt.payload).is_err() {
        return Parse::Invalid;
    }
    out.protocol = Protocol::WhatsApp;
    Parse::Done
}

fn hello(p: &[u8]) -> Result<()> {
    let mut c = Cursor::new(p);
    match c.array::<2>() {
        Ok([b'W', b'A']) => {
            // Version major 1 or 2, then a frame: flags, 16-bit length.
            let major = c.u8()?;
            let _minor = c.u8()?;
            let flags = c.u8()?;
            let len = usize::from(c.u16()?);
            if !(1..=2).contains(&major) || flags & 0x7f != 0 || len == 0 || len > c.remaining() {
                return Err(Error::Malformed);
            }
            Ok(())
        }
        Ok([b'E', b'D']) => {
            let head = p.get(..NOISE.len()).unwrap_or(p);
            if !NOISE.starts_with(head) {
                return Err(Error::Malformed);
            }
            let tail = p.get(NOISE.len()..).ok_or(Error::Truncated)?;
            let tail = tail.get(..4).unwrap_or(tail);
            if !NOISE_TAILS.iter().any(|t| t.starts_with(tail)) {
                return Err(Error::Malformed);
            }
            // The header alone (or part of the prologue): the next segment
            // would tell; a whole match claims.
            if tail.len() < 4 && p.len() > NOISE.len() {
                return Err(Error::Truncated);
            }
            Ok(())
        }
        Ok(_) => Err(Error::Malformed),
        Err(_) if b"WA".starts_with(p) || b"ED".starts_with(p) => Err(Error::Truncated),
        Err(_) => Err(Error::Malformed),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::super::super::testing::{every_prefix, flows, l7_name, payloads};
    use super::super::super::{Kind, Parse};
    use super::*;

    #[test]
    fn whatsapp_chat_flows_are_whatsapp() {
        for (name, n) in [
            ("whatsapp_login_chat.pcap", 1),
            ("whatsapp_voice_and_message.pcap", 5),
        ] {
            let wa: Vec<_> = flows(name)
                .into_iter()
                .filter(|f| l7_name(f) == "WhatsApp")
                .collect();
            assert_eq!(wa.len(), n, "{name}");
            for f in wa {
                let port = f.server.as_ref().unwrap().port;
                assert!(port == 443 || port == 5222, "{port}");
            }
        }
    }

    #[test]
    fn the_noise_header_is_matched_as_ndpi_does() {
        assert_eq!(hello(b"ED\x00\x01\x00\x00\x04\x08rest"), Ok(()));
        assert_eq!(hello(b"ED\x00\x01"), Ok(()));
        assert_eq!(hello(b"ED\x00\x01\x00\x00"), Err(Error::Truncated));
        assert_eq!(hello(b"ED\x00\x02"), Err(Error::Malformed));
        assert_eq!(hello(b"EDIT"), Err(Error::Malformed));
    }

    #[test]
    fn cut_hellos_are_never_done_before_the_frame_header() {
        let p = payloads("whatsapp_voice_and_message.pcap");
        let hello = p.iter().find(|p| p.payload.starts_with(b"WA")).unwrap();
        let v = every_prefix(Kind::MiscTcp, hello, true);
        assert!(v.iter().take(7).all(|v| *v == Parse::Invalid), "{v:?}");
    }

    #[test]
    fn other_protocols_are_not_whatsapp() {
        super::super::tests::assert_not_claimed(probe, 443);
    }
}
