//! The two capture file formats, record by record.
//!
//! Classic pcap (<https://www.tcpdump.org/manpages/pcap-savefile.5.html>,
//! draft-ietf-opsawg-pcap): a 24-byte file header (magic, version, snapshot
//! length, link type), then records of a 16-byte header (seconds, fraction,
//! captured length, length on the wire) and the captured bytes. The magic
//! gives the byte order and the fraction's unit (micro- or nanoseconds);
//! Kuznetzov's modified pcap adds 8 bytes to each record header.
//!
//! pcapng (draft-ietf-opsawg-pcapng): blocks of type (4 bytes), total length
//! (4), body, total length again. A Section Header Block gives the byte order
//! of its section; Interface Description Blocks give each interface's link
//! type, snapshot length and time resolution/offset; Enhanced, Simple and
//! (obsolete) Packet Blocks carry packets; every other block is skipped.

mod pcap;
mod pcapng;

pub(super) use pcap::Pcap;
pub(super) use pcapng::PcapNg;

use super::{FileError, Input, MAX_PACKET};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Order {
    Little,
    Big,
}

impl Order {
    pub(super) fn u16(self, b: &[u8], at: usize) -> Option<u16> {
        let a = *b.get(at..)?.first_chunk::<2>()?;
        Some(match self {
            Order::Little => u16::from_le_bytes(a),
            Order::Big => u16::from_be_bytes(a),
        })
    }

    pub(super) fn u32(self, b: &[u8], at: usize) -> Option<u32> {
        let a = *b.get(at..)?.first_chunk::<4>()?;
        Some(match self {
            Order::Little => u32::from_le_bytes(a),
            Order::Big => u32::from_be_bytes(a),
        })
    }

    pub(super) fn u64(self, b: &[u8], at: usize) -> Option<u64> {
        let a = *b.get(at..)?.first_chunk::<8>()?;
        Some(match self {
            Order::Little => u64::from_le_bytes(a),
            Order::Big => u64::from_be_bytes(a),
        })
    }
}

pub(super) fn malformed(offset: u64, reason: impl Into<String>) -> FileError {
    FileError::Malformed {
        offset,
        reason: reason.into(),
    }
}

/// Ends a read that wanted `needed` bytes at the current position: the end
/// of the file if nothing is left, a truncation otherwise.
pub(super) fn short(input: &Input, what: &'static str, needed: usize) -> FileError {
    FileError::Truncated {
        what,
        offset: input.offset,
        needed: needed as u64,
        available: input.ahead().len() as u64,
    }
}

/// libpcap's rule for a file's snapshot length: 0 or more than the maximum
/// means the maximum.
pub(super) fn snapshot(snaplen: u32) -> u32 {
    if snaplen == 0 || snaplen > MAX_PACKET {
        MAX_PACKET
    } else {
        snaplen
    }
}

/// Seconds and microseconds to microseconds since the epoch; negative
/// values (a broken file) become 0, as for libpcap's packets.
pub(super) fn micros(sec: i64, usec: i64) -> u64 {
    crate::capture::micros(sec, usec)
}

/// Reads the file header and, for pcapng, the blocks up to the first
/// interface: the format reader and the link type (a pcap LINKTYPE value).
pub(super) fn open(input: &mut Input) -> Result<(super::Format, u32), FileError> {
    input.want(4)?;
    let magic = input.ahead().first_chunk::<4>().copied();
    match magic.map(u32::from_le_bytes) {
        Some(pcapng::SHB) => {
            let (ng, link) = PcapNg::open(input)?;
            Ok((super::Format::PcapNg(ng), link))
        }
        Some(m) if Pcap::magic(m).is_some() => {
            let (pcap, link) = Pcap::open(input)?;
            Ok((super::Format::Pcap(pcap), link))
        }
        _ => {
            let start: Vec<String> = input
                .ahead()
                .iter()
                .take(4)
                .map(|b| format!("{b:02x}"))
                .collect();
            let start = if start.is_empty() {
                "nothing: it is empty".to_owned()
            } else {
                start.join(" ")
            };
            Err(FileError::NotCapture { start })
        }
    }
}
