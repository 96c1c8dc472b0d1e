//! DNS (RFC 1035) over UDP and TCP, mDNS (RFC 6762, UDP 5353) and LLMNR
//! (RFC 4795, 5355).
//!
//! - Probe: one of the three ports, a plausible header (known opcode,
//!   bounded counts) and a first question (or record) that decodes. The
//!   port alone claims nothing: RTP, STUN or QUIC on port 53 fail the header.
//! - Parse: the query gives the host name (nDPI's application by query name,
//!   `DNS.Google`), the query type and the transaction id; the response in
//!   the other direction gives the response code and up to 16 answers.
//!   Over TCP each message has a 2-byte length prefix (RFC 1035 §4.2.2) and
//!   is reassembled with [`Stream`]. DPI ends after the response, after the
//!   first mDNS/LLMNR message (their answers come in other flows), or after a
//!   few packets without a response.
//! - Risks as nDPI raises them: Large DNS Packet (UDP payload over 512
//!   bytes), Fragmented DNS Message (a UDP response whose records run past
//!   the end of the packet: the rest of the datagram is in IP fragments),
//!   Malformed Packet (names over 255 octets, pointer loops), Error Code
//!   (any rcode but NOERROR), Susp DNS Traffic (obsolete record types, a
//!   first label over 48 characters), Minor Issues (zero TTL), and
//!   non-printable characters in a query name.

pub(crate) mod dga;
mod message;

use sonde_proto::v1;

use super::cursor::{Cursor, Error};
use super::findings::text;
use super::stream::Stream;
use super::{Findings, Packet, Parse, Probe, Protocol, Risk, Transport};
use message::{HEADER_LEN, Header};

pub(super) const TRANSPORTS: &[Transport] = &[Transport::Udp, Transport::Tcp];
pub(super) const PROTOCOL: Protocol = Protocol::Dns;

const DNS_PORT: u16 = 53;
const MDNS_PORT: u16 = 5353;
const LLMNR_PORT: u16 = 5355;
/// RFC 1035 §4.2.1: the classic limit of a UDP message.
const LARGE_UDP: usize = 512;
/// Answers kept per flow.
const MAX_ANSWERS: usize = 16;
/// Packets of a flow read before giving up on a response.
const MAX_PACKETS: u32 = 6;
/// A TCP message longer than this is not buffered whole.
const TCP_LIMIT: usize = 16 * 1024;
/// nDPI's "Long DNS host name": a first label longer than this.
const LONG_LABEL: usize = 48;
/// Services whose names legitimately carry long first labels (DNS block
/// lists, CDNs, cloud storage), as nDPI exempts them.
pub(crate) const LONG_LABEL_OK: &[&str] = &[
    "multi.surbl.org",
    "spamhaus.org",
    "rackcdn.com",
    "akamaiedge.net",
    "mx-verification.google.com",
    "amazonaws.com",
];

/// Which of the three the flow is, by its ports.
fn flavour(pkt: &Packet<'_>) -> Option<Protocol> {
    if pkt.has_port(MDNS_PORT) && pkt.transport == Transport::Udp {
        Some(Protocol::Mdns)
    } else if pkt.has_port(LLMNR_PORT) {
        Some(Protocol::Llmnr)
    } else if pkt.has_port(DNS_PORT) {
        Some(Protocol::Dns)
    } else {
        None
    }
}

pub(super) fn probe(pkt: &Packet<'_>) -> Probe {
    if flavour(pkt).is_none() {
        return Probe::NoMatch;
    }
    let msg = match pkt.transport {
        Transport::Udp => pkt.payload,
        _ => {
            let mut c = Cursor::new(pkt.payload);
            match c.u16() {
                Ok(len) if usize::from(len) >= HEADER_LEN => c.rest(),
                Ok(_) => return Probe::NoMatch,
                Err(_) => return Probe::Unsure,
            }
        }
    };
    let Ok(header) = Header::read(&mut Cursor::new(msg)) else {
        return if pkt.transport == Transport::Udp {
            Probe::NoMatch
        } else {
            Probe::Unsure
        };
    };
    if !header.plausible() {
        return Probe::NoMatch;
    }
    let first = if header.qdcount > 0 {
        message::read_question(msg, HEADER_LEN).map(|_| ())
    } else {
        message::read_record(msg, HEADER_LEN).map(|_| ())
    };
    match first {
        Ok(()) => Probe::Match,
        // Over TCP the rest of the message follows in the next segments,
        // which a probe (stateless) could not recognise on their own.
        Err(Error::Truncated) if pkt.transport == Transport::Tcp => Probe::Match,
        Err(Error::Truncated) => Probe::Unsure,
        Err(Error::Malformed) => Probe::NoMatch,
    }
}

#[derive(Debug, Default)]
pub(super) struct Parser {
    /// TCP only: one reassembly stream per direction.
    streams: Option<Box<[Stream; 2]>>,
    state: State,
}

#[derive(Debug, Default)]
struct State {
    packets: u32,
    /// A message with a question was read (the host is set).
    asked: bool,
}

impl Parser {
    pub(super) fn parse(&mut self, pkt: &Packet<'_>, out: &mut Findings) -> Parse {
        self.state.packets += 1;
        let flavour = flavour(pkt).unwrap_or(Protocol::Dns);
        let result = if pkt.transport == Transport::Udp {
            self.state.message(pkt.payload, flavour, true, out)
        } else {
            let streams = self
                .streams
                .get_or_insert_with(|| Box::new([Stream::new(TCP_LIMIT), Stream::new(TCP_LIMIT)]));
            let Some(stream) = streams.get_mut(pkt.dir()) else {
                return Parse::Skip;
            };
            let state = &mut self.state;
            // RFC 1035 §4.2.2: a 2-byte length, then the message.
            let fed = stream.feed(pkt.tcp_seq, pkt.payload, |buf| {
                let mut c = Cursor::new(buf);
                let Ok(len) = c.u16() else {
                    return (None, 0);
                };
                match c.take(usize::from(len)) {
                    Ok(msg) => (Some(state.message(msg, flavour, false, out)), 2 + msg.len()),
                    Err(_) => (None, 0),
                }
            });
            match fed {
                Ok(Some(Some(result))) => result,
                Ok(_) => Parse::Incomplete,
                Err(_) if self.state.asked => return Parse::Skip,
                Err(_) => return Parse::Invalid,
            }
        };
        if result == Parse::Incomplete && self.state.packets >= MAX_PACKETS {
            return if self.state.asked {
                Parse::Done
            } else {
                Parse::Invalid
            };
        }
        result
    }
}

impl State {
    /// Reads one whole message (`udp`: it may be the first fragment of a
    /// longer datagram).
    fn message(&mut self, msg: &[u8], flavour: Protocol, udp: bool, out: &mut Findings) -> Parse {
        let Ok(header) = Header::read(&mut Cursor::new(msg)) else {
            return self.broken(out, "Invalid DNS Header");
        };
        if !header.plausible() {
            return self.broken(out, "Invalid DNS Header");
        }
        // RFC 1035 §4.1.2: the question section.
        let mut at = HEADER_LEN;
        let mut malformed = false;
        for i in 0..header.qdcount {
            match message::read_question(msg, at) {
                Ok((q, end)) => {
                    if i == 0 && !self.asked {
                        self.asked = true;
                        set_query(out, flavour, &q, &header);
                    }
                    at = end;
                }
                Err(_) if i == 0 && !self.asked => return Parse::Invalid,
                Err(_) => {
                    // nDPI's wording, kept so that verdicts read the same.
                    out.risk_with(Risk::MalformedPacket, "Invalid DNS Query Lenght");
                    malformed = true;
                    break;
                }
            }
        }
        if flavour == Protocol::Mdns || flavour == Protocol::Llmnr {
            out.protocol = flavour;
        }
        if udp && flavour == Protocol::Dns && msg.len() > LARGE_UDP {
            out.risk_with(
                Risk::DnsLargePacket,
                &format!("{} Bytes DNS Packet", msg.len()),
            );
        }
        if header.response && !malformed {
            self.records(msg, at, &header, flavour, udp, out);
        }
        if header.response {
            let dns = out.dns();
            if dns.response_code.is_empty() {
                dns.response_code = message::rcode_name(header.rcode);
                dns.transaction_id = u32::from(header.id);
            }
            if header.rcode != 0 {
                let info = format!("DNS Error Code {}", message::rcode_name(header.rcode));
                out.risk_with(Risk::ErrorCode, &info);
            }
            return Parse::Done;
        }
        if flavour == Protocol::Dns {
            Parse::Incomplete
        } else {
            Parse::Done
        }
    }

    /// A header or question that cannot be read: not DNS, unless the flow
    /// was already shown to be DNS.
    fn broken(&self, out: &mut Findings, why: &str) -> Parse {
        if self.asked {
            out.risk_with(Risk::MalformedPacket, why);
            Parse::Done
        } else {
            Parse::Invalid
        }
    }

    /// RFC 1035 §4.1.3: the answer, authority and additional sections.
    fn records(
        &mut self,
        msg: &[u8],
        mut at: usize,
        header: &Header,
        flavour: Protocol,
        udp: bool,
        out: &mut Findings,
    ) {
        let total =
            u32::from(header.ancount) + u32::from(header.nscount) + u32::from(header.arcount);
        for i in 0..total {
            let announcement = i == 0 && header.qdcount == 0 && !self.asked;
            // Authority and additional records are only checked and stepped
            // over: nothing is kept from them, so their names are not built.
            let read = if announcement || i < u32::from(header.ancount) {
                message::read_record(msg, at).map(|(r, end)| (Some(r), end))
            } else {
                message::skip_record(msg, at).map(|end| (None, end))
            };
            match read {
                Ok((r, end)) => {
                    if let Some(r) = r {
                        if announcement {
                            // An announcement (mDNS): the first record names it.
                            self.asked = true;
                            out.set_host(&host_name(&r.name.bytes, flavour));
                        }
                        if i < u32::from(header.ancount) {
                            answer(msg, &r, flavour, out);
                        }
                    }
                    at = end;
                }
                Err(Error::Truncated) => {
                    if udp && flavour == Protocol::Dns {
                        out.risk(Risk::DnsFragmented);
                    }
                    return;
                }
                Err(Error::Malformed) => {
                    out.risk_with(Risk::MalformedPacket, "Invalid DNS Record");
                    return;
                }
            }
        }
    }
}

/// Records the first question: host, query name and type, transaction id.
fn set_query(out: &mut Findings, flavour: Protocol, q: &message::Question, header: &Header) {
    let host = host_name(&q.name.bytes, flavour);
    out.set_host(&host);
    let dns = out.dns();
    dns.query = text(&host).to_ascii_lowercase();
    dns.query_type = message::type_name(q.qtype);
    dns.transaction_id = u32::from(header.id);
    if flavour == Protocol::Mdns {
        return;
    }
    if flavour == Protocol::Dns && host.contains(&b'?') {
        out.risk_with(
            Risk::InvalidCharacters,
            "Invalid chars detected in domain name",
        );
    }
    let reverse = host.windows(9).any(|w| w == b".in-addr.");
    let name = String::from_utf8_lossy(&host).to_ascii_lowercase();
    if q.name.first_label > LONG_LABEL
        && !reverse
        && !LONG_LABEL_OK.iter().any(|s| name.ends_with(s))
    {
        out.risk_with(Risk::DnsSuspiciousTraffic, "Long DNS host name");
    }
}

/// The name as nDPI shows it: DNS names keep letters, digits, `-`, `_` and
/// dots; other printable bytes become `_`, the rest `?`. mDNS names (service
/// instances with spaces, UTF-8) are kept as they are.
fn host_name(bytes: &[u8], flavour: Protocol) -> Vec<u8> {
    if flavour == Protocol::Mdns {
        return bytes.to_vec();
    }
    bytes
        .iter()
        .map(|&b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => b,
            0x21..=0x7e => b'_',
            _ => b'?',
        })
        .collect()
}

/// One answer into the metadata, and the risks it carries.
fn answer(msg: &[u8], r: &message::Record<'_>, flavour: Protocol, out: &mut Findings) {
    if message::obsolete_type(r.rtype) {
        out.risk_with(Risk::DnsSuspiciousTraffic, "Obsolete DNS record type");
    }
    if r.ttl == 0 && flavour == Protocol::Dns {
        out.risk_with(Risk::MinorIssues, "DNS Record with zero TTL");
    }
    let dns = out.dns();
    if dns.answers.len() < MAX_ANSWERS {
        dns.answers.push(v1::DnsAnswer {
            name: text(&r.name.bytes),
            r#type: message::type_name(r.rtype),
            data: text(message::data_text(msg, r).as_bytes()),
            ttl: r.ttl,
        });
    }
}

#[cfg(test)]
mod tests;
