//! Capture: where packets come from. A [`PacketSource`] is either a capture
//! file (pcap or pcapng, read by sonde's own reader in large chunks, see
//! [`file`]) or a live interface (libpcap with a BPF filter, snaplen,
//! promiscuous mode, kernel buffer size, immediate mode). Every packet
//! carries its capture timestamp, which is the only clock the flow table
//! knows.
//!
//! libpcap's `unsafe` stays inside the `pcap` crate.

pub mod file;
mod live;

pub use file::{FileError, FileSource};
pub use live::LiveSource;

use crate::decode::LinkType;

/// libpcap says "permission denied" or "Operation not permitted" when the
/// process lacks the capability: name it.
fn permission_hint(e: &pcap::Error) -> &'static str {
    let text = e.to_string().to_ascii_lowercase();
    if text.contains("permission") || text.contains("not permitted") {
        " (capturing needs CAP_NET_RAW: run as root or grant it, e.g. with the systemd unit)"
    } else {
        ""
    }
}

/// One captured frame.
#[derive(Clone, Copy, Debug)]
pub struct Packet<'a> {
    /// Capture time, microseconds since the Unix epoch.
    pub ts_us: u64,
    pub data: &'a [u8],
    /// Length on the wire (may exceed `data.len()` with a snaplen).
    pub wire_len: u32,
}

/// What a source produced.
#[derive(Debug)]
pub enum Next<'a> {
    Packet(Packet<'a>),
    /// A live source's read timeout passed without packets.
    Idle,
    /// A file is exhausted.
    End,
}

/// Counters of a live capture, as libpcap reports them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaptureStats {
    pub received: u64,
    pub dropped_kernel: u64,
    pub dropped_interface: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("cannot open capture file {path}: {source}")]
    OpenFile { path: String, source: FileError },
    #[error("cannot open interface {interface}: {source}{}", permission_hint(.source))]
    OpenLive {
        interface: String,
        source: pcap::Error,
    },
    #[error("invalid BPF filter \"{filter}\" on {interface}: {source}")]
    Filter {
        interface: String,
        filter: String,
        source: pcap::Error,
    },
    #[error(
        "capture link type {0} is not supported (Ethernet, Linux cooked v1/v2, raw IP and loopback are)"
    )]
    LinkType(i32),
    #[error("reading packets from {source_name}: {error}")]
    ReadFile {
        source_name: String,
        error: FileError,
    },
    #[error("reading packets from {source_name}: {error}")]
    Read {
        source_name: String,
        error: pcap::Error,
    },
}

/// A source of timestamped frames.
pub trait PacketSource {
    /// Name carried on every record (`observer.ingress.interface.name`).
    fn name(&self) -> &str;
    fn link_type(&self) -> LinkType;
    fn next_packet(&mut self) -> Result<Next<'_>, CaptureError>;
    /// libpcap's counters; `None` for files.
    fn stats(&mut self) -> Option<CaptureStats>;
}

/// A frame from libpcap, its time in microseconds since the epoch; negative
/// times (a broken capture file) become 0.
fn packet<'a>(p: &pcap::Packet<'a>) -> Packet<'a> {
    #[allow(
        clippy::unnecessary_cast,
        reason = "time_t and suseconds_t differ by platform"
    )]
    let (sec, usec) = (p.header.ts.tv_sec as i64, p.header.ts.tv_usec as i64);
    Packet {
        ts_us: micros(sec, usec),
        data: p.data,
        wire_len: p.header.len,
    }
}

/// Seconds and microseconds since the epoch as microseconds; negative values
/// (a broken capture file) become 0, microseconds past 999,999 stay in their
/// second.
fn micros(sec: i64, usec: i64) -> u64 {
    let secs = u64::try_from(sec).unwrap_or(0);
    let usecs = u64::try_from(usec).unwrap_or(0).min(999_999);
    secs.saturating_mul(1_000_000).saturating_add(usecs)
}
