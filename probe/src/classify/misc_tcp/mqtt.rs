//! MQTT (OASIS MQTT 3.1.1 and 5.0): the client's CONNECT packet (§3.1):
//! fixed header 0x10, remaining length (§2.2.3), protocol name `MQTT` (or
//! `MQIsdp` for 3.1), a protocol level of 3, 4 or 5 and a reserved flag of
//! 0. Those checks hold on any port.
//!
//! Extracted: `mqtt.client_id` and `mqtt.username` (when the flags say one
//! is there).

use super::super::cursor::{Cursor, Error, Result};
use super::super::{Findings, Packet, Parse, Probe, Protocol};

const CONNECT: u8 = 0x10;

pub(super) fn probe(pkt: &Packet<'_>) -> Probe {
    if !pkt.from_client {
        return Probe::NoMatch;
    }
    match connect(pkt.payload) {
        Ok(_) => Probe::Match,
        Err(Error::Truncated)
            if pkt.payload.first() == Some(&CONNECT) && pkt.payload.len() < 12 =>
        {
            Probe::Unsure
        }
        Err(_) => Probe::NoMatch,
    }
}

pub(super) fn parse(pkt: &Packet<'_>, out: &mut Findings) -> Parse {
    let Ok(connect) = connect(pkt.payload) else {
        return Parse::Invalid;
    };
    out.protocol = Protocol::Mqtt;
    if let Some(id) = connect.client_id.filter(|id| !id.is_empty()) {
        out.extra("mqtt.client_id", id);
    }
    if let Some(user) = connect.username {
        out.extra("mqtt.username", user);
    }
    Parse::Done
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Connect<'a> {
    client_id: Option<&'a [u8]>,
    username: Option<&'a [u8]>,
}

/// §2.2.3: 1 to 4 bytes, 7 bits each, least significant first.
fn remaining_length(c: &mut Cursor<'_>) -> Result<usize> {
    let mut n = 0usize;
    for i in 0..4 {
        let b = c.u8()?;
        n |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(n);
        }
    }
    Err(Error::Malformed)
}

/// A CONNECT packet; its header is checked even when the payload (client
/// id, will, user name) is cut.
fn connect(p: &[u8]) -> Result<Connect<'_>> {
    let mut c = Cursor::new(p);
    if c.u8()? != CONNECT {
        return Err(Error::Malformed);
    }
    let len = remaining_length(&mut c)?;
    if len < 12 || len > c.remaining() + 64 * 1024 {
        return Err(Error::Malformed);
    }
    // §3.1.2.1 protocol name, §3.1.2.2 level, §3.1.2.3 flags.
    let name = c.vec_u16()?.rest();
    let level = c.u8()?;
    let flags = c.u8()?;
    let valid = match name {
        b"MQTT" => matches!(level, 4 | 5),
        b"MQIsdp" => level == 3,
        _ => false,
    };
    // Reserved bit 0 (§3.1.2.3); will QoS < 3, and will QoS and retain 0
    // without a will (§3.1.2.6, §3.1.2.7); in 3.1.1 no password without a
    // user name (§3.1.2.9).
    let will = flags & 0x04 != 0;
    if !valid
        || flags & 0x01 != 0
        || (flags >> 3) & 3 == 3
        || (!will && flags & 0x38 != 0)
        || (level == 4 && flags & 0xc0 == 0x40)
    {
        return Err(Error::Malformed);
    }
    let _keep_alive = c.u16()?;
    let mut out = Connect::default();
    let mut body = c;
    let _ = read_payload(&mut body, level, flags, &mut out);
    Ok(out)
}

/// §3.1.3: client id, will (topic, message), user name, password.
fn read_payload<'a>(c: &mut Cursor<'a>, level: u8, flags: u8, out: &mut Connect<'a>) -> Result<()> {
    if level == 5 {
        // MQTT 5 §3.1.2.11: properties.
        let n = remaining_length(c)?;
        c.skip(n)?;
    }
    out.client_id = Some(c.vec_u16()?.rest());
    if flags & 0x04 != 0 {
        if level == 5 {
            let n = remaining_length(c)?;
            c.skip(n)?;
        }
        c.vec_u16()?;
        c.vec_u16()?;
    }
    if flags & 0x80 != 0 {
        out.username = Some(c.vec_u16()?.rest());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::super::super::testing::{every_prefix, flows, l7_name, payloads};
    use super::super::super::{Kind, Parse};
    use super::*;

    #[test]
    fn mqtt_pcap_flows_are_mqtt_with_their_client_ids() {
        let flows = flows("mqtt.pcap");
        assert_eq!(flows.len(), 2);
        for f in &flows {
            assert_eq!(l7_name(f), "MQTT");
        }
        let ids: Vec<_> = flows
            .iter()
            .map(|f| {
                f.l7.as_ref()
                    .unwrap()
                    .extra
                    .get("mqtt.client_id")
                    .cloned()
                    .unwrap_or_default()
            })
            .collect();
        assert!(
            ids.contains(&"cbaabcbabacbbbbbaaaaab".to_owned()),
            "{ids:?}"
        );
    }

    #[test]
    fn cut_connects_are_never_done_before_their_header() {
        for p in payloads("mqtt.pcap")
            .iter()
            .filter(|p| p.payload.first() == Some(&CONNECT))
        {
            let v = every_prefix(Kind::MiscTcp, p, true);
            // Fixed header, protocol name, level, flags, keep-alive.
            assert!(v.iter().take(12).all(|v| *v == Parse::Invalid), "{v:?}");
        }
    }

    #[test]
    fn other_protocols_are_not_mqtt() {
        super::super::tests::assert_not_claimed(probe, 1883);
    }
}
