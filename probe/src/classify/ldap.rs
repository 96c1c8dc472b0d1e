//! LDAP (RFC 4511) over TCP or UDP (CLDAP), on any port: a BER
//! LDAPMessage (§4.2) — a SEQUENCE holding a messageID INTEGER and a
//! protocolOp whose application tag is a request from the client or a
//! response from the server (§4.2 to §4.14).
//!
//! Extracted: `ldap.bind_dn` (BindRequest name, §4.2) and `ldap.base_dn`
//! (SearchRequest baseObject, §4.5.1; the path of a JNDI lookup such as
//! log4j's `ldap://host:1389/a`). Messages are read at the start of each
//! packet of the first few; DPI ends after them.

use super::ber::{self, INTEGER, OCTET_STRING, SEQUENCE};
use super::cursor::{Cursor, Error, Result};
use super::{Findings, Packet, Parse, Probe, Protocol, Transport};

pub(super) const TRANSPORTS: &[Transport] = &[Transport::Tcp, Transport::Udp];
pub(super) const PROTOCOL: Protocol = Protocol::Ldap;

/// Packets read for names before DPI ends.
const MAX_PACKETS: u8 = 4;
/// Largest message a probe believes in.
const MAX_MESSAGE: usize = 16 << 20;

const BIND_REQUEST: u8 = 0x60;
const SEARCH_REQUEST: u8 = 0x63;

/// protocolOp tags a client sends (§4.2 to §4.12): Bind, Unbind, Search,
/// Modify, Add, Del, ModifyDN, Compare, Abandon, Extended.
const REQUESTS: [u8; 10] = [0x60, 0x42, 0x63, 0x66, 0x68, 0x4a, 0x6c, 0x6e, 0x50, 0x77];
/// protocolOp tags a server sends: BindResponse, SearchResultEntry / Done /
/// Reference, Modify/Add/Del/ModDN/Compare/Extended responses, Intermediate.
const RESPONSES: [u8; 11] = [
    0x61, 0x64, 0x65, 0x73, 0x67, 0x69, 0x6b, 0x6d, 0x6f, 0x78, 0x79,
];

pub(super) fn probe(pkt: &Packet<'_>) -> Probe {
    match start(pkt.payload, pkt.from_client) {
        Ok(_) => Probe::Match,
        Err(Error::Truncated) if pkt.payload.len() < 16 => Probe::Unsure,
        Err(_) => Probe::NoMatch,
    }
}

/// The header of an LDAPMessage: its protocolOp tag and a cursor at the
/// protocolOp's content (possibly cut short).
fn start(p: &[u8], from_client: bool) -> Result<(u8, Cursor<'_>)> {
    let mut c = Cursor::new(p);
    let (tag, len) = ber::header(&mut c)?;
    if tag != SEQUENCE || len > MAX_MESSAGE {
        return Err(Error::Malformed);
    }
    let outer = len;
    let before = c.remaining();
    // messageID ::= INTEGER (0 .. maxInt), at most 4 bytes.
    let (id_tag, id_len) = ber::header(&mut c)?;
    if id_tag != INTEGER || !(1..=4).contains(&id_len) {
        return Err(Error::Malformed);
    }
    c.skip(id_len)?;
    let (op, op_len) = ber::header(&mut c)?;
    let ops: &[u8] = if from_client { &REQUESTS } else { &RESPONSES };
    if !ops.contains(&op) {
        return Err(Error::Malformed);
    }
    // The protocolOp lies inside the message.
    if before - c.remaining() + op_len > outer {
        return Err(Error::Malformed);
    }
    let content = c.peek_rest();
    Ok((
        op,
        Cursor::new(content.get(..op_len.min(content.len())).unwrap_or(content)),
    ))
}

#[derive(Debug, Default)]
pub(super) struct Parser {
    packets: u8,
}

impl Parser {
    pub(super) fn parse(&mut self, pkt: &Packet<'_>, out: &mut Findings) -> Parse {
        self.packets = self.packets.saturating_add(1);
        match start(pkt.payload, pkt.from_client) {
            Ok((op, content)) => {
                out.protocol = Protocol::Ldap;
                // Names are read when whole; a cut one is left out.
                let _ = names(op, content, out);
            }
            // The rest of a long message, or the peer's first packet.
            Err(_) if out.protocol != Protocol::Unknown => {}
            Err(_) => return Parse::Invalid,
        }
        if self.packets >= MAX_PACKETS {
            Parse::Done
        } else {
            Parse::Incomplete
        }
    }
}

fn names(op: u8, mut c: Cursor<'_>, out: &mut Findings) -> Result<()> {
    match op {
        // BindRequest: version INTEGER (1..127), name LDAPDN (§4.2).
        BIND_REQUEST => {
            let version = ber::uint(&mut c)?;
            if !(1..=127).contains(&version) {
                return Err(Error::Malformed);
            }
            let dn = ber::expect(&mut c, OCTET_STRING)?.rest();
            out.extra("ldap.bind_dn", dn);
        }
        // SearchRequest: baseObject LDAPDN first (§4.5.1).
        SEARCH_REQUEST => {
            let dn = ber::expect(&mut c, OCTET_STRING)?.rest();
            out.extra("ldap.base_dn", dn);
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::super::testing::{every_prefix, flows, l7_name, payloads};
    use super::super::{Kind, Probe};
    use super::*;

    #[test]
    fn log4j_jndi_lookups_on_port_1389_are_ldap_with_the_looked_up_path() {
        let flows = flows("log4j-webapp-exploit.pcap");
        let ldap: Vec<_> = flows
            .iter()
            .filter(|f| f.server.as_ref().unwrap().port == 1389)
            .collect();
        assert_eq!(ldap.len(), 2);
        for f in ldap {
            assert_eq!(l7_name(f), "LDAP");
            let risks: Vec<_> = f.risks.iter().map(|r| r.name.as_str()).collect();
            assert!(risks.contains(&"Known Proto on Non Std Port"), "{risks:?}");
            assert_eq!(f.l7.as_ref().unwrap().extra["ldap.base_dn"], "a");
        }
    }

    #[test]
    fn kerberos_pcap_ldap_flows_are_not_mistaken_for_anything_else() {
        // nDPI calls them LDAP by port only (their payload is sealed); sonde
        // must not call them something else.
        for f in flows("kerberos.pcap") {
            if f.server.as_ref().unwrap().port == 389 {
                let name = l7_name(&f);
                assert!(name == "LDAP" || name == "Unknown", "{name}");
            }
        }
    }

    #[test]
    fn a_cldap_ping_over_udp_is_ldap_with_its_base() {
        // RFC 4511 §4.5.1 SearchRequest, as an AD "LDAP ping" (MS-ADTS
        // §6.3.3): messageID 1, baseObject "", scope base, filter
        // (objectClass=*) as a present filter, no attributes.
        let msg = b"\x30\x25\x02\x01\x01\x63\x20\x04\x00\x0a\x01\x00\x0a\x01\x00\x02\x01\x00\x02\x01\x00\x01\x01\x00\x87\x0bobjectClass\x30\x00";
        let pkt = Packet {
            payload: msg,
            from_client: true,
            transport: Transport::Udp,
            client_port: 50_000,
            server_port: 389,
            tcp_seq: None,
            ts_us: 0,
            packet_no: 1,
        };
        assert_eq!(probe(&pkt), Probe::Match);
        let mut out = Findings::default();
        assert_eq!(Parser::default().parse(&pkt, &mut out), Parse::Incomplete);
        assert_eq!(out.protocol, Protocol::Ldap);
        // An empty base DN is not worth a field.
        assert!(!out.l7.extra.contains_key("ldap.base_dn"));
        // A response op from the client is not LDAP.
        assert_eq!(
            probe(&Packet {
                from_client: false,
                ..pkt
            }),
            Probe::NoMatch
        );
    }

    #[test]
    fn cut_messages_never_panic() {
        for p in payloads("log4j-webapp-exploit.pcap")
            .iter()
            .filter(|p| p.dst_port == 1389)
            .take(4)
        {
            let v = every_prefix(Kind::Ldap, p, true);
            assert!(v.iter().take(5).all(|v| *v == Parse::Invalid), "{v:?}");
        }
    }

    #[test]
    fn other_protocols_are_not_claimed() {
        for name in [
            "http.pcapng",
            "443-chrome.pcap",
            "dns.pcap",
            "smbv1.pcap",
            "ssh.pcap",
            "kerberos.pcap",
        ] {
            for p in payloads(name) {
                if p.dst_port == 389 || p.src_port == 389 {
                    continue;
                }
                for from_client in [true, false] {
                    assert_eq!(
                        Kind::Ldap.probe_for_test(&p.view(from_client)),
                        Probe::NoMatch,
                        "{name}"
                    );
                }
            }
        }
    }
}
