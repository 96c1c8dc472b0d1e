//! Modbus/TCP (Modbus Messaging on TCP/IP Implementation Guide v1.0b
//! §3.1.3): an MBAP header (transaction id, protocol id 0, length, unit id)
//! and a public or user-defined function code (Modbus Application Protocol
//! v1.1b3 §5), on port 502 only: seven bytes of header are too weak a sign
//! anywhere else.
//!
//! Extracted: `modbus.function`, the first function code (decimal).

use super::super::cursor::{Cursor, Error, Result};
use super::super::{Findings, Packet, Parse, Probe, Protocol};

const PORT: u16 = 502;

pub(super) fn probe(pkt: &Packet<'_>) -> Probe {
    if !pkt.has_port(PORT) {
        return Probe::NoMatch;
    }
    match frame(pkt.payload, pkt.from_client) {
        Ok(_) => Probe::Match,
        Err(Error::Truncated) if pkt.payload.len() < 8 => Probe::Unsure,
        Err(_) => Probe::NoMatch,
    }
}

pub(super) fn parse(pkt: &Packet<'_>, out: &mut Findings) -> Parse {
    let Ok(function) = frame(pkt.payload, pkt.from_client) else {
        return Parse::Invalid;
    };
    out.protocol = Protocol::Modbus;
    out.extra("modbus.function", function.to_string().as_bytes());
    Parse::Done
}

/// The function code of the first frame (with the exception bit from a
/// server). The frames must fill the payload exactly: an MBAP header alone
/// is weak evidence.
fn frame(p: &[u8], from_client: bool) -> Result<u8> {
    let mut c = Cursor::new(p);
    let first = one(&mut c, from_client)?;
    for _ in 0..8 {
        if c.is_empty() {
            return Ok(first);
        }
        one(&mut c, from_client)?;
    }
    Err(Error::Malformed)
}

fn one(c: &mut Cursor<'_>, from_client: bool) -> Result<u8> {
    let _transaction = c.u16()?;
    if c.u16()? != 0 {
        return Err(Error::Malformed);
    }
    // Unit id and PDU: at most 253 bytes of PDU.
    let len = usize::from(c.u16()?);
    if !(2..=254).contains(&len) {
        return Err(Error::Malformed);
    }
    let mut pdu = c.sub(len)?;
    let _unit = pdu.u8()?;
    let function = pdu.u8()?;
    let code = if from_client {
        function
    } else {
        function & 0x7f
    };
    let known = matches!(code, 1..=8 | 11 | 12 | 15..=17 | 20..=24 | 43 | 65..=72 | 100..=110);
    if !known || !sane_length(function, from_client, len, pdu.peek_u8().ok()) {
        return Err(Error::Malformed);
    }
    Ok(function)
}

/// The PDU length the common functions dictate (Modbus Application
/// Protocol v1.1b3 §6.1 to §6.12); `len` counts the unit id too, `next` is
/// the byte after the function code.
fn sane_length(function: u8, from_client: bool, len: usize, next: Option<u8>) -> bool {
    let count = next.map_or(0, usize::from);
    match (function, from_client) {
        // Exception response: unit, function, exception code.
        (0x80.., false) => len == 3,
        // Read coils / inputs / registers, write single coil / register:
        // address and quantity (or value).
        (1..=6, true) | (5 | 6 | 15 | 16, false) => len == 6,
        // Read responses: byte count, then the data.
        (1..=4, false) => len == 3 + count,
        // Write multiple: address, quantity, byte count, data.
        (15 | 16, true) => len >= 7 && next.is_some(),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::super::super::testing::{every_prefix, flows, l7_name, payloads};
    use super::super::super::{Kind, Parse};
    use super::*;

    #[test]
    fn modbus_pcap_is_modbus_reading_registers() {
        let flows = flows("modbus.pcap");
        assert_eq!(flows.len(), 1);
        assert_eq!(l7_name(&flows[0]), "Modbus");
        assert_eq!(flows[0].l7.as_ref().unwrap().extra["modbus.function"], "3");
    }

    #[test]
    fn cut_frames_are_never_done() {
        let p = payloads("modbus.pcap");
        let v = every_prefix(Kind::MiscTcp, &p[0], true);
        assert!(
            v.iter()
                .take(p[0].payload.len())
                .all(|v| *v == Parse::Invalid),
            "{v:?}"
        );
    }

    #[test]
    fn other_protocols_are_not_modbus_even_on_502() {
        super::super::tests::assert_not_claimed(probe, 502);
    }
}
