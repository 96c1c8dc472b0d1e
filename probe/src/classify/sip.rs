//! SIP (RFC 3261) over UDP and TCP: a request line (`INVITE sip:... SIP/2.0`,
//! RFC 3261 §7.1) or a status line (`SIP/2.0 200 OK`, §7.2) opens the first
//! message. From the headers (§20, compact forms of §7.3.3 too) it keeps
//! `sip.from`, `sip.to`, `sip.user_agent` (or the server's `Server`) and
//! `sip.method` in `extra`.
//!
//! Keep-alives (CRLF, RFC 5626 §3.5.1, or blanks) may come before the first
//! message; anything else is not SIP.

use super::cursor::Cursor;
use super::{Findings, Packet, Parse, Probe, Protocol, Transport};

pub(super) const TRANSPORTS: &[Transport] = &[Transport::Udp, Transport::Tcp];
pub(super) const PROTOCOL: Protocol = Protocol::Sip;

/// RFC 3261 §27.4 methods, and the common extensions (RFC 3262, 3265, 3311,
/// 3428, 3515, 3903, 6086).
const METHODS: [&[u8]; 14] = [
    b"INVITE ",
    b"ACK ",
    b"BYE ",
    b"CANCEL ",
    b"OPTIONS ",
    b"REGISTER ",
    b"PRACK ",
    b"SUBSCRIBE ",
    b"NOTIFY ",
    b"PUBLISH ",
    b"INFO ",
    b"REFER ",
    b"MESSAGE ",
    b"UPDATE ",
];
/// SIP messages read for headers before giving up on the missing ones.
const MAX_MESSAGES: u32 = 4;

/// The method of a request line, `Some(b"")` for a status line.
fn start_line(p: &[u8]) -> Option<&'static [u8]> {
    if p.starts_with(b"SIP/2.0 ") {
        return Some(b"");
    }
    let method = METHODS.iter().find(|m| p.starts_with(m))?;
    // RFC 3261 §19.1: a SIP or SIPS URI (tel: and others exist, rarely).
    let uri = p.get(method.len()..)?;
    let sip_uri = [&b"sip:"[..], b"sips:", b"tel:"].iter().any(|s| {
        uri.get(..s.len())
            .is_some_and(|u| u.eq_ignore_ascii_case(s))
    });
    sip_uri.then(|| method.get(..method.len() - 1).unwrap_or(method))
}

fn keep_alive(p: &[u8]) -> bool {
    p.iter().all(|b| matches!(b, b' ' | b'\r' | b'\n' | 0))
}

pub(super) fn probe(pkt: &Packet<'_>) -> Probe {
    let p = pkt.payload;
    if start_line(p).is_some() {
        Probe::Match
    } else if keep_alive(p) || (p.len() < 9 && METHODS.iter().any(|m| m.starts_with(p))) {
        Probe::Unsure
    } else {
        Probe::NoMatch
    }
}

#[derive(Debug, Default)]
pub(super) struct Parser {
    messages: u32,
}

impl Parser {
    pub(super) fn parse(&mut self, pkt: &Packet<'_>, out: &mut Findings) -> Parse {
        let Some(method) = start_line(pkt.payload) else {
            return if self.messages > 0 || keep_alive(pkt.payload) {
                Parse::Incomplete
            } else {
                Parse::Invalid
            };
        };
        self.messages += 1;
        if !method.is_empty() {
            out.extra("sip.method", method);
        }
        let mut c = Cursor::new(pkt.payload);
        let _ = c.until(b"\r\n");
        // RFC 3261 §7: headers end at an empty line (or the segment does).
        while let Some(line) = c.until(b"\r\n") {
            if line.is_empty() {
                break;
            }
            let Some(colon) = line.iter().position(|b| *b == b':') else {
                continue;
            };
            let (name, value) = line.split_at(colon);
            let value = value.get(1..).unwrap_or_default();
            let name = name.trim_ascii();
            let key = if name.eq_ignore_ascii_case(b"From") || name.eq_ignore_ascii_case(b"f") {
                "sip.from"
            } else if name.eq_ignore_ascii_case(b"To") || name.eq_ignore_ascii_case(b"t") {
                "sip.to"
            } else if name.eq_ignore_ascii_case(b"User-Agent")
                || name.eq_ignore_ascii_case(b"Server")
            {
                "sip.user_agent"
            } else {
                continue;
            };
            out.extra(key, value);
        }
        let extra = &out.l7.extra;
        let all = ["sip.from", "sip.to", "sip.user_agent"]
            .iter()
            .all(|k| extra.contains_key(*k));
        if all || self.messages >= MAX_MESSAGES {
            Parse::Done
        } else {
            Parse::Incomplete
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::super::stun::tests::findings_of;
    use super::super::testing::{every_prefix, flows, l7_name, payloads};
    use super::super::{Kind, Parse, Probe};
    use super::*;

    #[test]
    fn sip_flows_are_sip_with_their_parties_and_agent() {
        let names: Vec<String> = flows("sip.pcap")
            .iter()
            .filter(|f| f.server.as_ref().unwrap().port == 5060)
            .map(l7_name)
            .collect();
        assert!(
            !names.is_empty() && names.iter().all(|n| n == "SIP"),
            "{names:?}"
        );
        let f = findings_of("sip.pcap", 5060, 5060);
        assert_eq!(f.protocol, Protocol::Sip);
        let extra = &f.l7.extra;
        assert!(extra.get("sip.from").unwrap().contains("sip:"), "{extra:?}");
        assert!(extra.get("sip.to").unwrap().contains("sip:"), "{extra:?}");
        assert!(
            !extra.get("sip.user_agent").unwrap().is_empty(),
            "{extra:?}"
        );
        assert!(extra.contains_key("sip.method"));
    }

    #[test]
    fn cut_sip_messages_never_panic() {
        for p in payloads("sip.pcap")
            .iter()
            .filter(|p| p.src_port == 5060)
            .take(6)
        {
            let verdicts = every_prefix(Kind::Sip, p, true);
            // Too short for a start line: not claimed.
            assert!(
                verdicts
                    .iter()
                    .take(4)
                    .all(|v| *v == Parse::Invalid || *v == Parse::Incomplete)
            );
        }
    }

    #[test]
    fn other_protocols_are_not_sip() {
        for pcap in [
            "dns.pcap",
            "quic-29.pcap",
            "443-chrome.pcap",
            "http.pcapng",
            "stun.pcap",
        ] {
            for p in payloads(pcap) {
                assert_ne!(
                    Kind::Sip.probe_for_test(&p.to_server()),
                    Probe::Match,
                    "{pcap}"
                );
            }
        }
    }
}
