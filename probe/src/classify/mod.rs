//! Classify (DPI): the payload of a flow's first packets in, the flow's
//! layer-7 verdict out, in nDPI's names (`TLS.Amazon`, category `Web`), with
//! the metadata analysts search for and nDPI-style flow risks.
//!
//! Design note:
//! - One classifier per protocol (a module with `probe` and a `Parser`, see
//!   [`registry`]); the registry dispatches over a closed enum, so adding a
//!   protocol is one file plus one line.
//! - A flow pays for DPI only on its first `max_packets` packets (both
//!   directions, default 32 like nDPI). Until a classifier claims the flow,
//!   every candidate for its transport is probed on each payload packet
//!   (`Match` claims, `NoMatch` drops the candidate for good, `Unsure` keeps
//!   it). The claiming parser then reads packets until it is `Done`, gives up
//!   (`Skip`), or finds the bytes are not its protocol (`Invalid`: the flow
//!   goes back to the remaining candidates). When DPI ends, its working state
//!   (candidates, parser, reassembly buffers) is dropped; only the verdict
//!   stays with the flow.
//! - Flows that never carry payload allocate nothing here: their verdict
//!   (ICMP, or Unknown) and risks (TCP scans, refusals) are derived from the
//!   flow's counters when its record is built ([`verdict`]).
//! - Time is packet time; nothing here reads a clock, so a replay classifies
//!   the same way every run.

#[cfg(test)]
mod agreement;
pub mod apps;
mod ber;
pub(crate) mod cursor;
mod findings;
pub mod fuzzing;
pub(crate) mod protocol;
mod registry;
pub(crate) mod risk;
pub(crate) mod stream;
#[cfg(test)]
pub(crate) mod testing;
mod verdict;

// Classifiers, one per protocol family (listed in `registry`).
mod bittorrent;
mod dhcp;
pub(crate) mod dns;
mod dtls;
mod http;
mod kerberos;
mod ldap;
mod mail;
mod misc_tcp;
mod misc_udp;
mod netbios;
mod quic;
mod rtp;
mod sip;
mod smb;
mod ssh;
mod stun;
mod text_tcp;
mod tls;
mod vpn;
mod zoom;

use std::sync::Arc;

pub(crate) use findings::Findings;
pub(crate) use protocol::{Protocol, Transport};
pub(crate) use registry::Kind;
pub(crate) use risk::{Risk, Risks};
pub use verdict::FlowFacts;

use registry::{Candidates, Parser};

/// Packets of a flow (both directions) that DPI looks at, as nDPI's default.
pub const DEFAULT_MAX_PACKETS: u32 = 32;

/// DPI settings shared by every flow of a table.
#[derive(Clone, Debug)]
pub struct DpiSettings {
    pub enabled: bool,
    /// Packets per flow (both directions) that DPI looks at.
    pub max_packets: u32,
    /// Host names and address ranges of applications (`TLS.Amazon`).
    pub apps: Arc<apps::Applications>,
    /// A certificate expiring within this many microseconds of the flow raises
    /// "TLS Cert About To Expire".
    pub cert_expiry_warning_us: u64,
}

impl Default for DpiSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            max_packets: DEFAULT_MAX_PACKETS,
            apps: Arc::new(apps::Applications::builtin()),
            cert_expiry_warning_us: 30 * 86_400 * 1_000_000,
        }
    }
}

/// What a classifier sees of one packet.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Packet<'a> {
    /// The captured transport payload (may be shorter than on the wire when
    /// the capture was truncated).
    pub(crate) payload: &'a [u8],
    /// Sent by the flow's client (originator).
    pub(crate) from_client: bool,
    pub(crate) transport: Transport,
    pub(crate) client_port: u16,
    pub(crate) server_port: u16,
    /// TCP sequence number of the segment's first payload byte.
    pub(crate) tcp_seq: Option<u32>,
    #[allow(
        dead_code,
        reason = "packet time for parsers that age their state; none does yet"
    )]
    pub(crate) ts_us: u64,
    /// 1 for the flow's first packet, both directions counted.
    pub(crate) packet_no: u32,
}

impl Packet<'_> {
    pub(crate) fn src_port(&self) -> u16 {
        if self.from_client {
            self.client_port
        } else {
            self.server_port
        }
    }

    pub(crate) fn dst_port(&self) -> u16 {
        if self.from_client {
            self.server_port
        } else {
            self.client_port
        }
    }

    /// Either end uses `port`.
    pub(crate) fn has_port(&self, port: u16) -> bool {
        self.client_port == port || self.server_port == port
    }

    /// Index of the direction: 0 client to server, 1 server to client.
    pub(crate) fn dir(&self) -> usize {
        usize::from(!self.from_client)
    }
}

/// A classifier's first look at a packet: is this flow mine?
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Probe {
    /// Yes: the classifier's parser takes the flow from this packet on.
    Match,
    /// Cannot tell yet (too short, or the other direction will tell).
    Unsure,
    /// No, and it never will be.
    NoMatch,
}

/// A parser's verdict after one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Parse {
    /// A normal outcome: more packets are needed (or welcome).
    Incomplete,
    /// Maybe this protocol, but nothing proves it yet (RTP, WireGuard data,
    /// OpenVPN resets: formats without a magic number): the parser keeps the
    /// flow and wants more packets, yet the flow stays unclassified until a
    /// later packet confirms it (`Incomplete`/`Done`) or refutes it (`Invalid`).
    Tentative,
    /// Everything wanted was read; DPI for this flow ends.
    Done,
    /// The protocol stands, but nothing more can be read (encrypted from here,
    /// a gap in the stream, a limit); DPI ends.
    Skip,
    /// The bytes are not this protocol after all, or broken beyond use.
    Invalid,
}

/// DPI state and verdict of one flow, allocated at its first payload packet.
/// The findings (most of the size: the metadata messages) are allocated only
/// when a classifier claims the flow, so the many flows nothing recognises
/// cost a few dozen bytes while DPI runs, and nothing after.
#[derive(Debug)]
pub(crate) struct FlowDpi {
    findings: Option<Box<Findings>>,
    /// `None` once DPI ended for the flow.
    work: Option<Box<Work>>,
}

#[derive(Debug)]
struct Work {
    candidates: Candidates,
    parser: Option<(Kind, Parser)>,
}

impl FlowDpi {
    fn new(transport: Transport) -> Self {
        Self {
            findings: None,
            work: Some(Box::new(Work {
                candidates: Candidates::for_transport(transport),
                parser: None,
            })),
        }
    }

    /// What the classifiers found; `None` when none claimed the flow.
    pub(crate) fn findings(&self) -> Option<&Findings> {
        self.findings.as_deref()
    }

    /// DPI still runs for this flow.
    pub(crate) fn active(&self) -> bool {
        self.work.is_some()
    }
}

/// Feeds one packet of a flow to DPI (the caller stops after
/// `settings.max_packets`). `dpi` is the flow's slot, allocated here at the
/// first payload packet.
pub(crate) fn on_packet(dpi: &mut Option<Box<FlowDpi>>, pkt: &Packet<'_>, settings: &DpiSettings) {
    if !settings.enabled {
        return;
    }
    if pkt.payload.is_empty() || pkt.transport == Transport::Other {
        return;
    }
    let flow = dpi.get_or_insert_with(|| Box::new(FlowDpi::new(pkt.transport)));
    let Some(work) = flow.work.as_mut() else {
        return;
    };
    if work.parser.is_none() {
        work.parser = work.candidates.probe(pkt);
        if work.parser.is_none() {
            if work.candidates.is_empty() {
                flow.work = None;
            }
            return;
        }
    }
    let findings = flow.findings.get_or_insert_with(Box::default);
    let Some((kind, parser)) = work.parser.as_mut() else {
        return;
    };
    match parser.parse(pkt, findings) {
        Parse::Incomplete => {
            if findings.protocol == Protocol::Unknown {
                findings.protocol = kind.protocol();
            }
        }
        Parse::Tentative => {}
        Parse::Done | Parse::Skip => {
            if findings.protocol == Protocol::Unknown {
                findings.protocol = kind.protocol();
            }
            flow.work = None;
        }
        Parse::Invalid => {
            // Not this protocol after all: back to the other candidates, and
            // forget everything the parser wrote (its protocol, host,
            // metadata and risks describe a protocol the flow is not).
            let kind = *kind;
            work.parser = None;
            work.candidates.remove(kind);
            flow.findings = None;
            if work.candidates.is_empty() {
                flow.work = None;
            }
        }
    }
}

/// Ends DPI for a flow (its record is final): drops the working state.
pub(crate) fn finish(dpi: &mut Option<Box<FlowDpi>>) {
    if let Some(d) = dpi.as_mut() {
        d.work = None;
    }
}

pub(crate) use verdict::verdict;

#[cfg(test)]
mod tests {
    use super::*;

    /// A parser that claimed a flow finds the next packet is not its
    /// protocol (`Invalid`): nothing it wrote may stay with the flow.
    #[test]
    fn a_refuted_claim_leaves_no_findings_behind() {
        let settings = DpiSettings::default();
        let mut flow = FlowDpi::new(Transport::Udp);
        // What the claim had written by now.
        let findings = flow.findings.get_or_insert_with(Box::default);
        findings.protocol = Protocol::Sip;
        findings.set_host(b"sip.example.com");
        findings.extra("sip.method", b"INVITE");
        if let Some(work) = flow.work.as_mut() {
            work.parser = Some((Kind::Sip, Kind::Sip.start_for_test()));
        }
        let mut dpi = Some(Box::new(flow));
        let garbage = Packet {
            payload: b"\x80\x00\x12\x34 certainly not SIP",
            from_client: true,
            transport: Transport::Udp,
            client_port: 40_000,
            server_port: 5_060,
            tcp_seq: None,
            ts_us: 0,
            packet_no: 2,
        };
        on_packet(&mut dpi, &garbage, &settings);
        let flow = dpi.as_deref().unwrap_or_else(|| unreachable!());
        if let Some(f) = flow.findings() {
            // Another classifier may claim the flow, with findings of its own.
            assert_ne!(f.protocol, Protocol::Sip, "{f:?}");
            assert!(f.host.is_empty() && f.l7.extra.is_empty(), "{f:?}");
        }
    }
}
