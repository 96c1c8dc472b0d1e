//! Zoom media over UDP, as nDPI's Zoom dissector reads it (after the
//! Princeton zoom-analysis work and Citizen Lab's report): on Zoom's media
//! ports 8801-8810 (Zoom's firewall guide), an SFU encapsulation whose first
//! bytes are `01 00 02|03` (client hello) or `02 00 02|03` (server), types 3
//! and 4 (weak: only from the fourth packet on), or type 5 carrying a media
//! encapsulation (type 13/30 screen share, 15 audio, 16 video, 33-35 RTCP)
//! around RTP/RTCP; and, on any port, the peer-to-peer opening message (type
//! 0x1f) whose length-value list (an address, a UUID) fills the datagram up
//! to four zero bytes.

use super::cursor::Cursor;
use super::rtp::{self, Kind};
use super::{Findings, Packet, Parse, Probe, Protocol, Transport};

pub(super) const TRANSPORTS: &[Transport] = &[Transport::Udp];
pub(super) const PROTOCOL: Protocol = Protocol::Zoom;

/// SFU encapsulation: type, sequence, 4 unknown bytes, direction.
const SFU_HEADER: usize = 8;
/// Media encapsulation: type, 8 unknown bytes, sequence, timestamp.
const MEDIA_HEADER: usize = 15;

fn zoom_port(pkt: &Packet<'_>) -> bool {
    (8801..=8810).contains(&pkt.client_port) || (8801..=8810).contains(&pkt.server_port)
}

/// A media encapsulation around RTP or RTCP (offsets as nDPI's).
fn media(p: &[u8]) -> bool {
    if p.len() <= MEDIA_HEADER {
        return false;
    }
    let inner = |at: usize| p.get(at..).and_then(rtp::classify);
    let is_rtp = |at: usize| matches!(inner(at), Some(Kind::Rtp { .. }));
    match p.first() {
        // Screen share: RTP may be missing at first.
        Some(13) => p.len() > 27,
        Some(30) => p.len() > 20 && is_rtp(20),
        Some(15) => p.len() > 19 && is_rtp(19),
        Some(16) => p.len() > 24 && is_rtp(24),
        Some(33..=35) => p.len() > 16 && inner(16) == Some(Kind::Rtcp),
        _ => false,
    }
}

/// The peer-to-peer opening: type 0x1f, a 24-byte header, two
/// length-prefixed values, four zero bytes.
fn p2p(p: &[u8]) -> bool {
    if p.len() <= 36 || !p.starts_with(&[0x1f, 0x02, 0x01]) || !p.ends_with(&[0; 4]) {
        return false;
    }
    let mut c = Cursor::new(p);
    let mut fits = || -> Option<bool> {
        c.skip(24).ok()?;
        let ip = c.u32().ok()? as usize;
        c.skip(ip).ok()?;
        let uuid = c.u32().ok()? as usize;
        c.skip(uuid).ok()?;
        Some(c.remaining() == 4)
    };
    fits().unwrap_or(false)
}

pub(super) fn probe(pkt: &Packet<'_>) -> Probe {
    let p = pkt.payload;
    if zoom_port(pkt) && p.len() > SFU_HEADER {
        let head = p.get(..3).unwrap_or_default();
        if matches!(head, [1 | 2, 0, 2 | 3]) {
            return Probe::Match;
        }
        if matches!(p.first(), Some(3 | 4)) {
            // nDPI: a weak check, so other classifiers go first.
            return if pkt.packet_no < 4 {
                Probe::Unsure
            } else {
                Probe::Match
            };
        }
        if p.first() == Some(&5)
            && p.len() > SFU_HEADER + MEDIA_HEADER
            && p.get(SFU_HEADER..).is_some_and(media)
        {
            return Probe::Match;
        }
    } else if p2p(p) {
        return Probe::Match;
    }
    if zoom_port(pkt) && pkt.packet_no < 4 {
        Probe::Unsure
    } else {
        Probe::NoMatch
    }
}

#[derive(Debug, Default)]
pub(super) struct Parser;

impl Parser {
    pub(super) fn parse(&mut self, pkt: &Packet<'_>, out: &mut Findings) -> Parse {
        // The encapsulation is the whole evidence; the media stays encrypted.
        if probe(pkt) == Probe::Match {
            out.protocol = Protocol::Zoom;
            Parse::Done
        } else {
            Parse::Invalid
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::super::Parse;
    use super::super::testing::OwnedPacket;
    use super::super::testing::{every_prefix, flows, l7_name, payloads};
    use super::super::{Kind as Classifier, Probe};
    use super::*;

    impl OwnedPacket {
        fn has_zoom_port(&self) -> bool {
            (8801..=8810).contains(&self.src_port) || (8801..=8810).contains(&self.dst_port)
        }
    }

    #[test]
    fn zoom_media_flows_are_zoom() {
        let names: Vec<String> = flows("zoom2.pcap")
            .iter()
            .filter(|f| f.ip_protocol == 17)
            .map(l7_name)
            .collect();
        assert!(
            names.len() >= 3 && names.iter().all(|n| n == "Zoom"),
            "{names:?}"
        );
    }

    #[test]
    fn stun_on_zoom_ports_is_left_to_stun() {
        for p in payloads("stun_zoom.pcapng") {
            assert_ne!(
                Classifier::Zoom.probe_for_test(&p.to_server()),
                Probe::Match
            );
        }
    }

    #[test]
    fn other_protocols_are_not_zoom() {
        for pcap in ["dns.pcap", "quic-29.pcap", "sip.pcap", "wireguard.pcap"] {
            for p in payloads(pcap) {
                let mut pkt = p.to_server();
                pkt.packet_no = 9;
                assert_ne!(
                    Classifier::Zoom.probe_for_test(&pkt),
                    Probe::Match,
                    "{pcap}"
                );
            }
        }
    }

    #[test]
    fn cut_zoom_payloads_never_panic() {
        for p in payloads("zoom2.pcap")
            .iter()
            .filter(|p| p.has_zoom_port())
            .take(12)
        {
            let verdicts = every_prefix(Classifier::Zoom, p, true);
            // Nothing shorter than the SFU header is claimed.
            assert!(
                verdicts
                    .iter()
                    .take(SFU_HEADER + 1)
                    .all(|v| *v == Parse::Invalid)
            );
        }
        for p in payloads("zoom2.pcap").iter().take(12) {
            for len in 0..=p.payload.len() {
                let cut = p.payload.get(..len).unwrap();
                let _ = media(cut);
                let _ = p2p(cut);
            }
        }
    }
}
