//! Classic pcap (<https://www.tcpdump.org/manpages/pcap-savefile.5.html>,
//! draft-ietf-opsawg-pcap), record by record.

use super::super::{FileError, Input, MAX_PACKET, Record};
use super::{Order, micros, short, snapshot};

/// A classic pcap file after its header.
#[derive(Debug)]
pub(in crate::capture::file) struct Pcap {
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
    pub(super) fn magic(m: u32) -> Option<(Order, bool, usize)> {
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

    pub(super) fn open(input: &mut Input) -> Result<(Self, u32), FileError> {
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
    pub(in crate::capture::file) fn next(
        &mut self,
        input: &mut Input,
    ) -> Result<Option<Record>, FileError> {
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
