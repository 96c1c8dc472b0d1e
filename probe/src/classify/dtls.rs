//! DTLS (RFC 6347, RFC 9147 §4): TLS records over UDP, each with a 13-byte
//! header (content type 20-25, version 0xfeff DTLS 1.0 / 0xfefd 1.2 / 0xfefc
//! 1.3, epoch, 48-bit sequence number, length). A flow is claimed on a
//! handshake record of epoch 0 that fits the datagram; WebRTC flows reach
//! here through [`super::stun`] too.
//!
//! The ClientHello (unfragmented, with its 12-byte DTLS header) goes to the
//! TLS classifier's shared parser (SNI, ALPN, JA3/JA4 with DTLS as carrier);
//! the ServerHello gives the negotiated version; the server's Certificate,
//! reassembled from its fragments (RFC 6347 §4.2.3, in order, at most
//! [`MAX_CERTIFICATE`] bytes), gives the leaf's DNS names: without a SNI the
//! first one becomes the flow's host, as nDPI looks the application up by
//! the certificate's names (WebRTC servers such as Zoom's). Reading stops at
//! the first encrypted record.

use super::cursor::Cursor;
use super::tls::hello::{self, Carrier};
use super::{Findings, Packet, Parse, Probe, Protocol, Transport};

pub(super) const TRANSPORTS: &[Transport] = &[Transport::Udp];
pub(super) const PROTOCOL: Protocol = Protocol::Dtls;

/// RFC 6347 §4.1: the record header.
const RECORD_HEADER: usize = 13;
/// RFC 6347 §4.2.2: the handshake header (with message_seq and fragment).
const HANDSHAKE_HEADER: usize = 12;
/// Datagrams after which a handshake is no longer worth waiting for.
const MAX_PACKETS: u32 = 16;
/// The largest Certificate message reassembled.
const MAX_CERTIFICATE: usize = 32 * 1024;

const CHANGE_CIPHER_SPEC: u8 = 20;
const HANDSHAKE: u8 = 22;
const APPLICATION_DATA: u8 = 23;

/// A DTLS record header that fits the datagram starts `payload` (nDPI's
/// `is_dtls`).
pub(super) fn is_dtls(payload: &[u8]) -> bool {
    record_header(&mut Cursor::new(payload)).is_some()
}

/// Content type, epoch and body of the next record.
fn record_header<'a>(c: &mut Cursor<'a>) -> Option<(u8, u16, &'a [u8])> {
    let kind = c.u8().ok()?;
    let version = c.u16().ok()?;
    let epoch = c.u16().ok()?;
    c.skip(6).ok()?;
    let len = c.u16().ok()?;
    let known_type = (20..=25).contains(&kind);
    let known_version = matches!(version, 0xfeff | 0xfefd | 0xfefc | 0x0100);
    if !known_type || !known_version {
        return None;
    }
    Some((kind, epoch, c.take(usize::from(len)).ok()?))
}

pub(super) fn probe(pkt: &Packet<'_>) -> Probe {
    let mut c = Cursor::new(pkt.payload);
    match record_header(&mut c) {
        Some((HANDSHAKE, 0, body)) if body.len() >= HANDSHAKE_HEADER => Probe::Match,
        Some(_) => Probe::Unsure,
        None if pkt.payload.len() < RECORD_HEADER => Probe::Unsure,
        None => Probe::NoMatch,
    }
}

#[derive(Debug, Default)]
pub(super) struct Parser {
    packets: u32,
    client_hello: bool,
    server_hello: bool,
    /// The server's Certificate message: its length and the bytes from
    /// offset 0 received so far; `None` once read (or given up).
    certificate: Option<(usize, Vec<u8>)>,
    certificate_done: bool,
}

impl Parser {
    pub(super) fn parse(&mut self, pkt: &Packet<'_>, out: &mut Findings) -> Parse {
        self.packets += 1;
        let mut c = Cursor::new(pkt.payload);
        let mut records = 0;
        // RFC 6347 §4.1.1: several records may share a datagram.
        while !c.is_empty() {
            let Some((kind, epoch, body)) = record_header(&mut c) else {
                break;
            };
            records += 1;
            match kind {
                HANDSHAKE if epoch == 0 => self.handshake(body, out),
                CHANGE_CIPHER_SPEC | APPLICATION_DATA => return Parse::Done,
                _ => {}
            }
        }
        if records == 0 {
            // Not DTLS (a STUN check or RTP of a WebRTC flow): keep waiting.
            return if self.packets >= MAX_PACKETS {
                Parse::Skip
            } else if self.client_hello || self.server_hello {
                Parse::Incomplete
            } else {
                Parse::Invalid
            };
        }
        if (self.client_hello && self.server_hello && self.certificate_done)
            || self.packets >= MAX_PACKETS
        {
            Parse::Done
        } else {
            Parse::Incomplete
        }
    }

    /// One handshake record: RFC 6347 §4.2.2 message headers.
    fn handshake(&mut self, body: &[u8], out: &mut Findings) {
        let mut c = Cursor::new(body);
        while c.remaining() >= HANDSHAKE_HEADER {
            let whole_msg = c.peek_rest();
            let (Ok(msg_type), Ok(len), Ok(_seq), Ok(offset), Ok(frag_len)) =
                (c.u8(), c.u24(), c.u16(), c.u24(), c.u24())
            else {
                return;
            };
            let Ok(fragment) = c.take(frag_len as usize) else {
                return;
            };
            let with_header = whole_msg
                .get(..HANDSHAKE_HEADER + fragment.len())
                .unwrap_or_default();
            // Only whole messages are read (a fragmented one is skipped).
            let whole = offset == 0 && frag_len == len;
            match msg_type {
                1 if whole && !self.client_hello => {
                    self.client_hello = true;
                    // A malformed hello still leaves the flow DTLS.
                    let _ = hello::parse_client_hello(with_header, out, Carrier::Dtls);
                }
                11 if !self.certificate_done => {
                    self.certificate_fragment(len as usize, offset as usize, fragment, out);
                }
                2 if !self.server_hello => {
                    self.server_hello = true;
                    // RFC 6347 §4.2.1: server_version first.
                    if let Ok(version) = Cursor::new(fragment).u16() {
                        let name = match version {
                            0xfeff => "1.0",
                            0xfefd => "1.2",
                            0xfefc => "1.3",
                            _ => "",
                        };
                        if !name.is_empty() && out.tls().negotiated_version.is_empty() {
                            out.tls().negotiated_version = name.to_owned();
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

impl Parser {
    /// Adds a fragment of the server's Certificate (fragments arrive in
    /// order; a retransmitted one overlaps what is there) and reads the
    /// message once whole.
    fn certificate_fragment(
        &mut self,
        len: usize,
        offset: usize,
        fragment: &[u8],
        out: &mut Findings,
    ) {
        if len > MAX_CERTIFICATE {
            self.certificate_done = true;
            return;
        }
        let (total, buf) = self
            .certificate
            .get_or_insert_with(|| (len, Vec::with_capacity(len)));
        if *total != len || offset > buf.len() {
            return;
        }
        let skip = buf.len() - offset;
        if let Some(new) = fragment.get(skip..) {
            let room = *total - buf.len();
            buf.extend_from_slice(new.get(..room.min(new.len())).unwrap_or_default());
        }
        if buf.len() == *total {
            let msg = std::mem::take(buf);
            self.certificate = None;
            self.certificate_done = true;
            certificate_names(&msg, out);
        }
    }
}

/// RFC 5246 §7.4.2 (RFC 6347 keeps it): the certificate_list's first entry,
/// the leaf; its subjectAltName DNS names (or subject CN) name the server.
fn certificate_names(body: &[u8], out: &mut Findings) {
    let mut c = Cursor::new(body);
    let Ok(mut list) = c.vec_u24() else {
        return;
    };
    let Ok(leaf) = list.vec_u24() else {
        return;
    };
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(leaf.peek_rest()) else {
        return;
    };
    let mut names: Vec<&str> = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(n) = name {
                if names.len() < 8 {
                    names.push(n);
                }
            }
        }
    }
    let cn = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok());
    if names.is_empty() {
        names.extend(cn);
    }
    if !names.is_empty() {
        out.extra("tls.server_names", names.join(",").as_bytes());
    }
    let sni_given = out.l7.tls.as_ref().is_some_and(|t| !t.sni.is_empty());
    if let Some(first) = names.first().filter(|_| !sni_given) {
        out.set_host(first.trim_start_matches("*.").as_bytes());
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::super::testing::{every_prefix, payloads};
    use super::super::{Kind, Parse, Probe};

    #[test]
    fn a_dtls_client_hello_is_claimed_and_its_cuts_never_finish() {
        let pkts = payloads("stun.pcap");
        let hello = pkts
            .iter()
            .find(|p| p.payload.starts_with(&[0x16, 0xfe, 0xff]))
            .unwrap();
        assert_eq!(Kind::Dtls.probe_for_test(&hello.view(true)), Probe::Match);
        for (len, verdict) in every_prefix(Kind::Dtls, hello, true).iter().enumerate() {
            if len < hello.payload.len() {
                assert_ne!(*verdict, Parse::Done, "cut at {len}");
            }
        }
    }

    #[test]
    fn a_webrtc_handshake_without_its_stun_is_dtls_with_the_server_names() {
        use super::super::{DpiSettings, FlowDpi, Protocol, on_packet};
        let mut dpi: Option<Box<FlowDpi>> = None;
        let flow = payloads("stun.pcap").into_iter().filter(|p| {
            (p.src_port == 49153 || p.dst_port == 49153)
                && (20..=63).contains(&p.payload.first().copied().unwrap_or(0))
        });
        for (i, p) in flow.enumerate() {
            let mut view = p.view(p.src_port == 49153);
            view.packet_no = u32::try_from(i + 1).unwrap();
            on_packet(&mut dpi, &view, &DpiSettings::default());
        }
        let dpi = dpi.unwrap();
        let f = dpi.findings().unwrap();
        assert_eq!(f.protocol, Protocol::Dtls);
        assert_eq!(f.l7.tls.as_ref().unwrap().negotiated_version, "1.2");
        assert_eq!(f.l7.extra.get("tls.server_names").unwrap(), "hangouts");
        assert_eq!(f.host, "hangouts");
        assert!(!dpi.active(), "the handshake was read to its end");
    }

    #[test]
    fn stun_and_rtp_are_not_dtls() {
        for p in payloads("stun.pcap") {
            let first = p.payload.first().copied().unwrap_or(0);
            if first <= 3 || first >= 128 {
                assert_ne!(Kind::Dtls.probe_for_test(&p.to_server()), Probe::Match);
            }
        }
    }
}
