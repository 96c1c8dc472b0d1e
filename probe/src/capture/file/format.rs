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

use super::{FileError, Input, MAX_PACKET, Record};

/// A parsed pcapng block may be this long: a packet of [`MAX_PACKET`] bytes
/// with room for its header and options.
const MAX_BLOCK: u32 = MAX_PACKET + 65_536;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Order {
    Little,
    Big,
}

impl Order {
    fn u16(self, b: &[u8], at: usize) -> Option<u16> {
        let a = *b.get(at..)?.first_chunk::<2>()?;
        Some(match self {
            Order::Little => u16::from_le_bytes(a),
            Order::Big => u16::from_be_bytes(a),
        })
    }

    fn u32(self, b: &[u8], at: usize) -> Option<u32> {
        let a = *b.get(at..)?.first_chunk::<4>()?;
        Some(match self {
            Order::Little => u32::from_le_bytes(a),
            Order::Big => u32::from_be_bytes(a),
        })
    }

    fn u64(self, b: &[u8], at: usize) -> Option<u64> {
        let a = *b.get(at..)?.first_chunk::<8>()?;
        Some(match self {
            Order::Little => u64::from_le_bytes(a),
            Order::Big => u64::from_be_bytes(a),
        })
    }
}

fn malformed(offset: u64, reason: impl Into<String>) -> FileError {
    FileError::Malformed {
        offset,
        reason: reason.into(),
    }
}

/// Ends a read that wanted `needed` bytes at the current position: the end
/// of the file if nothing is left, a truncation otherwise.
fn short(input: &Input, what: &'static str, needed: usize) -> FileError {
    FileError::Truncated {
        what,
        offset: input.offset,
        needed: needed as u64,
        available: input.ahead().len() as u64,
    }
}

/// libpcap's rule for a file's snapshot length: 0 or more than the maximum
/// means the maximum.
fn snapshot(snaplen: u32) -> u32 {
    if snaplen == 0 || snaplen > MAX_PACKET {
        MAX_PACKET
    } else {
        snaplen
    }
}

/// Seconds and microseconds to microseconds since the epoch; negative
/// values (a broken file) become 0, as for libpcap's packets.
fn micros(sec: i64, usec: i64) -> u64 {
    super::super::micros(sec, usec)
}

/// Reads the file header and, for pcapng, the blocks up to the first
/// interface: the format reader and the link type (a pcap LINKTYPE value).
pub(super) fn open(input: &mut Input) -> Result<(super::Format, u32), FileError> {
    input.want(4)?;
    let magic = input.ahead().first_chunk::<4>().copied();
    match magic.map(u32::from_le_bytes) {
        Some(PCAPNG_SHB) => {
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

/// A classic pcap file after its header.
#[derive(Debug)]
pub(super) struct Pcap {
    order: Order,
    nanos: bool,
    /// 16, or 24 for Kuznetzov's modified records.
    header: usize,
    snaplen: u32,
    swapped: Lengths,
}

/// Files before version 2.3 wrote the captured and the wire length the
/// other way round; 2.3 did either (libpcap's `lengths_swapped`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lengths {
    InOrder,
    Swapped,
    MaybeSwapped,
}

impl Pcap {
    /// Byte order, nanoseconds and record header length of a magic read
    /// little-endian.
    fn magic(m: u32) -> Option<(Order, bool, usize)> {
        Some(match m {
            0xa1b2_c3d4 => (Order::Little, false, 16),
            0xd4c3_b2a1 => (Order::Big, false, 16),
            0xa1b2_3c4d => (Order::Little, true, 16),
            0x4d3c_b2a1 => (Order::Big, true, 16),
            0xa1b2_cd34 => (Order::Little, false, 24),
            0x34cd_b2a1 => (Order::Big, false, 24),
            _ => return None,
        })
    }

    fn open(input: &mut Input) -> Result<(Self, u32), FileError> {
        const HEADER: usize = 24;
        if !input.want(HEADER)? {
            return Err(short(input, "pcap file header", HEADER));
        }
        let h = input.ahead();
        let fields = (|| {
            let (order, nanos, header) = Self::magic(Order::Little.u32(h, 0)?)?;
            let major = order.u16(h, 4)?;
            let minor = order.u16(h, 6)?;
            let snaplen = order.u32(h, 16)?;
            let link = order.u32(h, 20)?;
            Some((order, nanos, header, major, minor, snaplen, link))
        })();
        let Some((order, nanos, header, major, minor, snaplen, link)) = fields else {
            return Err(short(input, "pcap file header", HEADER));
        };
        let swapped = match (major, minor) {
            (2, 0..=2) | (543, 0) => Lengths::Swapped,
            (2, 3) => Lengths::MaybeSwapped,
            (2, _) => Lengths::InOrder,
            _ => {
                return Err(FileError::Version {
                    format: "pcap",
                    major,
                    minor,
                });
            }
        };
        input.consume(HEADER);
        let pcap = Self {
            order,
            nanos,
            header,
            snaplen: snapshot(snaplen),
            swapped,
        };
        // The top bits carry the FCS length (LT_FCS_LENGTH_PRESENT).
        Ok((pcap, link & 0x03ff_ffff))
    }

    /// The next record; `None` at the end of the file.
    pub(super) fn next(&mut self, input: &mut Input) -> Result<Option<Record>, FileError> {
        let header = self.header;
        if !input.want(header)? {
            return if input.ahead().is_empty() {
                Ok(None)
            } else {
                Err(short(input, "record header", header))
            };
        }
        // The four header fields in one load: seconds, fraction, captured
        // and wire length.
        let Some(&h) = input.ahead().first_chunk::<16>() else {
            return Err(short(input, "record header", header));
        };
        let h = u128::from_le_bytes(h);
        let field = |i: u32| {
            let v = (h >> (32 * i)) as u32;
            if self.order == Order::Big {
                v.swap_bytes()
            } else {
                v
            }
        };
        let (sec, frac, mut caplen, mut len) = (field(0), field(1), field(2), field(3));
        if self.swapped == Lengths::Swapped
            || (self.swapped == Lengths::MaybeSwapped && caplen > len)
        {
            std::mem::swap(&mut caplen, &mut len);
        }
        if caplen > MAX_PACKET {
            return Err(FileError::TooLarge {
                what: "packet record",
                offset: input.offset,
                len: caplen.into(),
                limit: MAX_PACKET.into(),
            });
        }
        // `caplen` <= MAX_PACKET fits any usize.
        let total = header + caplen as usize;
        if !input.want(total)? {
            return Err(short(input, "packet record", total));
        }
        let data = input.start + header;
        let kept = caplen.min(self.snaplen) as usize;
        input.consume(total);
        // libpcap's on-disk times are signed 32-bit; nanoseconds are cut to
        // microseconds, not rounded.
        let sec = i64::from(sec as i32);
        let frac = i64::from(frac as i32);
        let usec = if self.nanos { frac / 1000 } else { frac };
        Ok(Some(Record {
            ts_us: micros(sec, usec),
            wire_len: len,
            data: data..data + kept,
        }))
    }
}

/// Block types (draft-ietf-opsawg-pcapng §4).
const PCAPNG_SHB: u32 = 0x0a0d_0d0a;
const PCAPNG_IDB: u32 = 1;
const PCAPNG_PB: u32 = 2;
const PCAPNG_SPB: u32 = 3;
const PCAPNG_EPB: u32 = 6;
const BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;

/// What a pcapng interface says about its packets.
#[derive(Clone, Copy, Debug)]
struct Interface {
    snaplen: u32,
    /// Timestamp units per second (if_tsresol; 10^6 by default).
    units: u64,
    /// Seconds added to every timestamp (if_tsoffset).
    offset_s: i64,
}

/// A pcapng file, positioned at a block boundary.
#[derive(Debug)]
pub(super) struct PcapNg {
    order: Order,
    /// The current section's interfaces.
    interfaces: Vec<Interface>,
    /// The first interface's link type: the file's.
    link: Option<u32>,
    /// Interfaces described so far in the file (for error messages).
    described: usize,
}

/// What one block was.
enum Block {
    Packet(Record),
    Other,
}

impl PcapNg {
    fn open(input: &mut Input) -> Result<(Self, u32), FileError> {
        let mut ng = Self {
            order: Order::Little,
            interfaces: Vec::new(),
            link: None,
            described: 0,
        };
        loop {
            let at = input.offset;
            match ng.block(input)? {
                None => {
                    return Err(malformed(
                        at,
                        "the file ends before any interface is described",
                    ));
                }
                Some(Block::Packet(_)) => {
                    // A packet block needs an interface, so this cannot be
                    // reached; refuse rather than drop the packet.
                    return Err(malformed(at, "packet before any interface"));
                }
                Some(Block::Other) => {
                    if let Some(link) = ng.link {
                        return Ok((ng, link));
                    }
                }
            }
        }
    }

    /// The next packet; `None` at the end of the file.
    pub(super) fn next(&mut self, input: &mut Input) -> Result<Option<Record>, FileError> {
        loop {
            match self.block(input)? {
                None => return Ok(None),
                Some(Block::Packet(record)) => return Ok(Some(record)),
                Some(Block::Other) => {}
            }
        }
    }

    /// Reads one block; `None` at the end of the file.
    fn block(&mut self, input: &mut Input) -> Result<Option<Block>, FileError> {
        const HEAD: usize = 8;
        if !input.want(HEAD)? {
            return if input.ahead().is_empty() {
                Ok(None)
            } else {
                Err(short(input, "pcapng block header", HEAD))
            };
        }
        let at = input.offset;
        let kind = self.order.u32(input.ahead(), 0).unwrap_or(0);
        if kind == PCAPNG_SHB {
            // The byte-order magic after the length says how to read it.
            if !input.want(12)? {
                return Err(short(input, "section header", 12));
            }
            self.order = match Order::Little.u32(input.ahead(), 8) {
                Some(BYTE_ORDER_MAGIC) => Order::Little,
                Some(m) if m.swap_bytes() == BYTE_ORDER_MAGIC => Order::Big,
                _ => return Err(malformed(at, "section header without its byte-order magic")),
            };
        }
        let len = self.order.u32(input.ahead(), 4).unwrap_or(0);
        if len < 12 || len % 4 != 0 {
            return Err(malformed(
                at,
                format!("block length {len} (at least 12, a multiple of 4)"),
            ));
        }
        if !matches!(
            kind,
            PCAPNG_SHB | PCAPNG_IDB | PCAPNG_PB | PCAPNG_SPB | PCAPNG_EPB
        ) {
            if !input.skip(len.into())? {
                return Err(FileError::Truncated {
                    what: "pcapng block",
                    offset: at,
                    needed: len.into(),
                    available: input.offset - at,
                });
            }
            return Ok(Some(Block::Other));
        }
        if len > MAX_BLOCK {
            return Err(FileError::TooLarge {
                what: "pcapng block",
                offset: at,
                len: len.into(),
                limit: MAX_BLOCK.into(),
            });
        }
        // `len` <= MAX_BLOCK fits any usize.
        let len = len as usize;
        if !input.want(len)? {
            return Err(short(input, "pcapng block", len));
        }
        let body_start = input.start + HEAD;
        let body = input.ahead().get(HEAD..len - 4).unwrap_or_default();
        let block = match kind {
            PCAPNG_SHB => {
                self.section(body, at)?;
                Block::Other
            }
            PCAPNG_IDB => {
                self.interface(body, at)?;
                Block::Other
            }
            _ => Block::Packet(self.packet(kind, body, body_start, at)?),
        };
        input.consume(len);
        Ok(Some(block))
    }

    /// Section Header Block (§4.1): a new section forgets the interfaces.
    fn section(&mut self, body: &[u8], at: u64) -> Result<(), FileError> {
        let (Some(major), Some(minor)) = (self.order.u16(body, 4), self.order.u16(body, 6)) else {
            return Err(malformed(at, "section header too short"));
        };
        if major != 1 {
            return Err(FileError::Version {
                format: "pcapng",
                major,
                minor,
            });
        }
        self.interfaces.clear();
        Ok(())
    }

    /// Interface Description Block (§4.2): link type, snapshot length, and
    /// the if_tsresol and if_tsoffset options.
    fn interface(&mut self, body: &[u8], at: u64) -> Result<(), FileError> {
        let order = self.order;
        let (Some(link), Some(snaplen)) = (order.u16(body, 0), order.u32(body, 4)) else {
            return Err(malformed(at, "interface description too short"));
        };
        let link = u32::from(link);
        match self.link {
            None => self.link = Some(link),
            Some(first) if first != link => {
                return Err(FileError::MixedLinkTypes {
                    interface: self.described,
                    link,
                    first,
                });
            }
            Some(_) => {}
        }
        self.described += 1;
        let mut iface = Interface {
            snaplen: snapshot(snaplen),
            units: 1_000_000,
            offset_s: 0,
        };
        // Options (§3.5): code, length, value padded to 4 bytes; code 0 ends.
        let mut options = body.get(8..).unwrap_or_default();
        while let (Some(code), Some(olen)) = (order.u16(options, 0), order.u16(options, 2)) {
            let olen = usize::from(olen);
            let Some(value) = options.get(4..4 + olen) else {
                break;
            };
            match code {
                0 => break,
                9 => {
                    let Some(&res) = value.first() else {
                        return Err(malformed(at, "empty if_tsresol option"));
                    };
                    iface.units = if res & 0x80 != 0 {
                        1u64.checked_shl(u32::from(res & 0x7f))
                    } else {
                        10u64.checked_pow(u32::from(res))
                    }
                    .ok_or_else(|| {
                        malformed(at, format!("interface time resolution {res:#04x} too fine"))
                    })?;
                }
                14 => {
                    if let Some(secs) = order.u64(value, 0) {
                        iface.offset_s = secs as i64;
                    }
                }
                _ => {}
            }
            options = options
                .get(4 + olen.next_multiple_of(4)..)
                .unwrap_or_default();
        }
        self.interfaces.push(iface);
        Ok(())
    }

    /// Enhanced (§4.3), Simple (§4.4) or obsolete Packet Block (Appendix A).
    fn packet(
        &self,
        kind: u32,
        body: &[u8],
        body_start: usize,
        at: u64,
    ) -> Result<Record, FileError> {
        let order = self.order;
        let too_short = || malformed(at, "packet block too short");
        if kind == PCAPNG_SPB {
            // No timestamp, no captured length: the first interface's
            // snapshot length cuts the packet.
            let iface = self
                .interfaces
                .first()
                .ok_or_else(|| malformed(at, "simple packet block without an interface"))?;
            let len = order.u32(body, 0).ok_or_else(too_short)?;
            let room = u32::try_from(body.len() - 4).unwrap_or(u32::MAX);
            let kept = len.min(iface.snaplen).min(room) as usize;
            return Ok(Record {
                ts_us: 0,
                wire_len: len,
                data: body_start + 4..body_start + 4 + kept,
            });
        }
        let id = if kind == PCAPNG_EPB {
            order.u32(body, 0).ok_or_else(too_short)?
        } else {
            order.u16(body, 0).ok_or_else(too_short)?.into()
        };
        let (Some(high), Some(low), Some(caplen), Some(len)) = (
            order.u32(body, 4),
            order.u32(body, 8),
            order.u32(body, 12),
            order.u32(body, 16),
        ) else {
            return Err(too_short());
        };
        let iface = usize::try_from(id)
            .ok()
            .and_then(|i| self.interfaces.get(i))
            .ok_or_else(|| {
                malformed(
                    at,
                    format!(
                        "packet of interface {id}, the section describes {}",
                        self.interfaces.len()
                    ),
                )
            })?;
        if caplen > MAX_PACKET {
            return Err(FileError::TooLarge {
                what: "packet",
                offset: at,
                len: caplen.into(),
                limit: MAX_PACKET.into(),
            });
        }
        if caplen as usize > body.len() - 20 {
            return Err(malformed(
                at,
                format!(
                    "captured length {caplen} larger than its block ({} bytes of data)",
                    body.len() - 20
                ),
            ));
        }
        let ts = (u64::from(high) << 32) | u64::from(low);
        let units = iface.units;
        let sec = i64::try_from(ts / units)
            .unwrap_or(i64::MAX)
            .saturating_add(iface.offset_s);
        // Cut to microseconds, as libpcap does; < 10^6 fits any i64.
        let usec = (u128::from(ts % units) * 1_000_000 / u128::from(units)) as i64;
        let kept = caplen.min(iface.snaplen) as usize;
        Ok(Record {
            ts_us: micros(sec, usec),
            wire_len: len,
            data: body_start + 20..body_start + 20 + kept,
        })
    }
}
