//! pcapng (draft-ietf-opsawg-pcapng), block by block.

use super::super::{FileError, Input, MAX_PACKET, Record};
use super::{Order, malformed, micros, short, snapshot};

/// A parsed pcapng block may be this long: a packet of [`MAX_PACKET`] bytes
/// with room for its header and options.
const MAX_BLOCK: u32 = MAX_PACKET + 65_536;

/// Block types (draft-ietf-opsawg-pcapng §4).
pub(super) const SHB: u32 = 0x0a0d_0d0a;
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
pub(in crate::capture::file) struct PcapNg {
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
    pub(super) fn open(input: &mut Input) -> Result<(Self, u32), FileError> {
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
    pub(in crate::capture::file) fn next(
        &mut self,
        input: &mut Input,
    ) -> Result<Option<Record>, FileError> {
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
        if kind == SHB {
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
        if !matches!(kind, SHB | PCAPNG_IDB | PCAPNG_PB | PCAPNG_SPB | PCAPNG_EPB) {
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
            SHB => {
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
