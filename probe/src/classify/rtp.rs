//! RTP and RTCP (RFC 3550) over UDP, the most lenient classifier (probed
//! last): version 2, then an RTP payload type (IANA: 0-34 static, 96-127
//! dynamic) with room for its CSRCs and extension header (§5.1, §5.3.1), or
//! an RTCP packet type 192-213 (SR 200, RR 201, SDES 202, BYE 203, APP 204
//! and the feedback types) whose length fits (§6.4).
//!
//! RTP has no magic number, so as nDPI a flow is RTP only after three RTP
//! packets, each direction keeping the SSRC it started with and the
//! sequence number moving; RTCP alone needs four packets. Until then the
//! claim is tentative (the flow stays unclassified). Well-known ports
//! (≤ 1023: DNS, QUIC on 443...), mDNS/LLMNR and QUIC long headers are never
//! RTP. It records
//! the payload type and the stream kind nDPI prints (`rtp.payload_type`,
//! `rtp.stream`: Audio or Video for the static types).

use super::cursor::Cursor;
use super::{Findings, Packet, Parse, Probe, Protocol, Transport};

pub(super) const TRANSPORTS: &[Transport] = &[Transport::Udp];
pub(super) const PROTOCOL: Protocol = Protocol::Rtp;

/// RFC 3550 §5.1: the fixed header.
const RTP_HEADER: usize = 12;
/// RFC 3550 §6.4.1: the smallest RTCP packet (an empty receiver report).
const RTCP_HEADER: usize = 8;
/// Packets a tentative claim is given.
const MAX_UNCONFIRMED: u32 = 8;

/// What a payload holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// RTP with its payload type, sequence number and SSRC.
    Rtp {
        pt: u8,
        seq: u16,
        ssrc: u32,
    },
    Rtcp,
}

/// nDPI's `is_rtp_or_rtcp`: RTP or RTCP at the start of `p`.
pub(super) fn classify(p: &[u8]) -> Option<Kind> {
    let mut c = Cursor::new(p);
    let first = c.u8().ok()?;
    let second = c.u8().ok()?;
    // §5.1: version 2.
    if first & 0xc0 != 0x80 {
        return None;
    }
    let pt = second & 0x7f;
    if (pt <= 34 || (96..=127).contains(&pt)) && p.len() >= RTP_HEADER {
        let seq = c.u16().ok()?;
        let _timestamp = c.u32().ok()?;
        let ssrc = c.u32().ok()?;
        c.skip(4 * usize::from(first & 0x0f)).ok()?;
        // §5.3.1: the extension header's length counts 32-bit words.
        if first & 0x10 != 0 {
            let _profile = c.u16().ok()?;
            let words = c.u16().ok()?;
            c.skip(4 * usize::from(words)).ok()?;
        }
        return Some(Kind::Rtp { pt, seq, ssrc });
    }
    if (192..=213).contains(&second) && p.len() >= RTCP_HEADER {
        // §6.4.1: length in 32-bit words minus one.
        let words = usize::from(c.u16().ok()?);
        return ((words + 1) * 4 <= p.len()).then_some(Kind::Rtcp);
    }
    None
}

/// A QUIC long header (RFC 9000 §17.2: form bit, then a 32-bit version) of a
/// known version: QUIC v1/v2 (RFC 9369), drafts (0xff0000xx), gQUIC
/// (`Q0xx`, `T0xx`). Its first byte can look like RTP's.
fn quic_long_header(p: &[u8]) -> bool {
    let mut c = Cursor::new(p);
    let (Ok(first), Ok(version)) = (c.u8(), c.u32()) else {
        return false;
    };
    let [a, b, ..] = version.to_be_bytes();
    first & 0x80 != 0
        && (matches!(version, 0x0000_0001 | 0x6b33_43cf | 0x709a_50c4)
            || version >> 8 == 0x00ff_0000
            || (matches!(a, b'Q' | b'T') && b == b'0'))
}

/// RFC 3551 §6: the media of the static payload types.
fn stream(pt: u8) -> Option<&'static str> {
    match pt {
        0..=18 => Some("Audio"),
        25 | 26 | 28 | 31 | 32 | 34 => Some("Video"),
        _ => None,
    }
}

pub(super) fn probe(pkt: &Packet<'_>) -> Probe {
    let (src, dst) = (pkt.src_port(), pkt.dst_port());
    // nDPI: Ethereum's port looks alike; mDNS, LLMNR, FINS and well-known
    // services are never RTP.
    // nDPI checks the destination only; a flow caught mid-way may show the
    // well-known port as the source, so both are checked here.
    if pkt.transport != Transport::Udp
        || src == 30303
        || matches!(dst, 30303 | 5353 | 5355 | 9600)
        || dst <= 1023
        || src <= 1023
    {
        return Probe::NoMatch;
    }
    if quic_long_header(pkt.payload) {
        return Probe::NoMatch;
    }
    if classify(pkt.payload).is_some() {
        Probe::Match
    } else if pkt.packet_no > 3 {
        Probe::NoMatch
    } else {
        Probe::Unsure
    }
}

#[derive(Debug, Default)]
pub(super) struct Parser {
    packets: u32,
    /// RTP packets seen before the claim; RTCP packets while no RTP came.
    rtp: u8,
    rtcp: u8,
    /// Per direction: the first sequence number and the SSRC.
    first: [Option<(u16, u32)>; 2],
}

impl Parser {
    pub(super) fn parse(&mut self, pkt: &Packet<'_>, out: &mut Findings) -> Parse {
        self.packets += 1;
        let verdict = match classify(pkt.payload) {
            Some(Kind::Rtp { pt, seq, ssrc }) => self.rtp(pkt.dir(), pt, seq, ssrc, out),
            Some(Kind::Rtcp) if self.rtp == 0 => {
                self.rtcp += 1;
                if self.rtcp >= 4 {
                    out.protocol = Protocol::Rtcp;
                    Parse::Done
                } else {
                    Parse::Tentative
                }
            }
            // RTCP beside RTP: keep counting RTP.
            Some(Kind::Rtcp) => Parse::Tentative,
            None => Parse::Invalid,
        };
        if verdict == Parse::Tentative && self.packets >= MAX_UNCONFIRMED {
            return Parse::Invalid;
        }
        verdict
    }

    fn rtp(&mut self, dir: usize, pt: u8, seq: u16, ssrc: u32, out: &mut Findings) -> Parse {
        let Some(first) = self.first.get_mut(dir) else {
            return Parse::Invalid;
        };
        match *first {
            None => *first = Some((seq, ssrc)),
            // §8: a source keeps its SSRC; a repeated sequence number is a
            // duplicate, not a stream (nDPI's check).
            Some((s, id)) if id != ssrc || s == seq => return Parse::Invalid,
            Some(_) => {}
        }
        self.rtp += 1;
        if self.rtp < 3 {
            return Parse::Tentative;
        }
        out.protocol = Protocol::Rtp;
        out.extra("rtp.payload_type", pt.to_string().as_bytes());
        if let Some(kind) = stream(pt) {
            out.extra("rtp.stream", kind.as_bytes());
        }
        Parse::Done
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::super::stun::tests::findings_of;
    use super::super::testing::{every_prefix, flows, l7_name, payloads};
    use super::super::{Kind as Classifier, Parse, Probe};
    use super::*;

    #[test]
    fn an_audio_stream_is_rtp_and_a_lone_rtcp_packet_is_unknown() {
        let f = findings_of("sip.pcap", 30000, 40392);
        assert_eq!(f.protocol, Protocol::Rtp);
        assert_eq!(f.l7.extra.get("rtp.stream").unwrap(), "Audio");
        assert_eq!(f.l7.extra.get("rtp.payload_type").unwrap(), "8");
        let names: Vec<(u32, String)> = flows("sip.pcap")
            .iter()
            .map(|f| (f.client.as_ref().unwrap().port, l7_name(f)))
            .collect();
        assert!(names.contains(&(30000, "RTP".to_owned())), "{names:?}");
        assert!(names.contains(&(30001, "Unknown".to_owned())), "{names:?}");
    }

    #[test]
    fn cut_rtp_packets_never_panic_nor_claim() {
        for p in payloads("sip.pcap")
            .iter()
            .filter(|p| p.src_port == 30000)
            .take(3)
        {
            let verdicts = every_prefix(Classifier::Rtp, p, true);
            assert!(
                verdicts
                    .iter()
                    .all(|v| matches!(v, Parse::Tentative | Parse::Invalid))
            );
        }
    }

    #[test]
    fn dns_quic_tls_stun_and_wireguard_are_not_rtp() {
        for pcap in [
            "dns.pcap",
            "quic-29.pcap",
            "quic_0RTT.pcap",
            "youtube_quic.pcap",
            "443-chrome.pcap",
            "wireguard.pcap",
            "whatsapp_voice_and_message.pcap",
        ] {
            for p in payloads(pcap) {
                assert_ne!(
                    Classifier::Rtp.probe_for_test(&p.to_server()),
                    Probe::Match,
                    "{pcap}: {:02x?}",
                    p.payload.get(..4)
                );
            }
        }
    }

    #[test]
    fn a_repeated_sequence_number_or_a_new_ssrc_is_not_a_stream() {
        let rtp = |seq: u16, ssrc: u32| {
            let mut p = vec![0x80, 0x00];
            p.extend_from_slice(&seq.to_be_bytes());
            p.extend_from_slice(&[0; 4]);
            p.extend_from_slice(&ssrc.to_be_bytes());
            p.extend_from_slice(&[0xd5; 160]);
            p
        };
        let feed = |payloads: &[Vec<u8>]| {
            let mut parser = Parser::default();
            let mut out = Findings::default();
            payloads
                .iter()
                .map(|p| {
                    let pkt = Packet {
                        payload: p,
                        from_client: true,
                        transport: Transport::Udp,
                        client_port: 30000,
                        server_port: 40000,
                        tcp_seq: None,
                        ts_us: 0,
                        packet_no: 1,
                    };
                    parser.parse(&pkt, &mut out)
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            feed(&[rtp(1, 7), rtp(2, 7), rtp(3, 7)]),
            [Parse::Tentative, Parse::Tentative, Parse::Done]
        );
        assert_eq!(
            feed(&[rtp(1, 7), rtp(1, 7)]),
            [Parse::Tentative, Parse::Invalid]
        );
        assert_eq!(
            feed(&[rtp(1, 7), rtp(2, 8)]),
            [Parse::Tentative, Parse::Invalid]
        );
    }
}
