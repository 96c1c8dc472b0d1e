//! Capture files: classic pcap (either byte order, micro- or nanosecond
//! timestamps, Kuznetzov's modified records) and pcapng, read in Rust.
//!
//! Input: a file (or `-` for standard input). Output: its packets in file
//! order, each borrowed from the reader's buffer until the next call.
//!
//! Why not libpcap: it reads a savefile through glibc stdio with a 4 KiB
//! buffer, one `read(2)` per 4 KiB and two copies per packet, about a quarter
//! of a `read` run on a web capture; a larger stream buffer needs `unsafe`
//! FFI, which the house style forbids. Here the file is read in 1 MiB chunks
//! and a packet is a slice of the chunk. libpcap stays the live source, and
//! is the reference the tests compare this reader with, packet for packet.
//!
//! Invariants, as libpcap: timestamps to microseconds by truncation
//! (nanosecond and pcapng resolutions), a record's captured bytes cut to the
//! snapshot length, one link type per file (a pcapng interface with another
//! link type is an error). Not as libpcap: pcapng interfaces may have
//! different snapshot lengths (each packet is cut to its own interface's).
//!
//! Untrusted input: a record longer than [`MAX_PACKET`] is an error, not an
//! allocation; pcapng blocks that carry no packets (name resolution,
//! statistics, secrets, custom) are skipped without being buffered, whatever
//! length they claim; a file cut short keeps the packets before the cut and
//! then says where it ends.

mod format;
#[cfg(test)]
mod tests;

use std::io::{ErrorKind, Read};
use std::ops::Range;
use std::path::Path;

use super::{CaptureError, CaptureStats, Next, Packet, PacketSource};
use crate::decode::LinkType;

/// Bytes asked of the file per read: large enough that system calls and
/// the copy of a partial record to the buffer's front are noise.
const READ_CHUNK: usize = 1 << 20;

/// The longest packet a record may carry: libpcap's `MAXIMUM_SNAPLEN`. A
/// longer one is a damaged or hostile file.
pub const MAX_PACKET: u32 = 262_144;

/// Why a capture file could not be opened or read further.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("not a pcap or pcapng file (it starts with {start})")]
    NotCapture { start: String },
    #[error("unsupported {format} version {major}.{minor}")]
    Version {
        format: &'static str,
        major: u16,
        minor: u16,
    },
    #[error(
        "truncated capture file: the {what} at byte {offset} needs {needed} bytes, only {available} are left"
    )]
    Truncated {
        what: &'static str,
        offset: u64,
        needed: u64,
        available: u64,
    },
    #[error("the {what} at byte {offset} claims {len} bytes, the limit is {limit}")]
    TooLarge {
        what: &'static str,
        offset: u64,
        len: u64,
        limit: u64,
    },
    #[error("malformed capture file at byte {offset}: {reason}")]
    Malformed { offset: u64, reason: String },
    #[error(
        "pcapng interface {interface} has link type {link}, the file's first interface {first}: one file carries one link type"
    )]
    MixedLinkTypes {
        interface: usize,
        link: u32,
        first: u32,
    },
}

/// The file's bytes, read in large chunks; `buf[start..end]` is what has
/// been read and not yet consumed.
struct Input {
    reader: Box<dyn Read>,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// File offset of `buf[start]`.
    offset: u64,
    eof: bool,
}

impl Input {
    fn new(reader: Box<dyn Read>) -> Self {
        Self {
            reader,
            buf: vec![0; READ_CHUNK],
            start: 0,
            end: 0,
            offset: 0,
            eof: false,
        }
    }

    /// The buffered, unconsumed bytes.
    fn ahead(&self) -> &[u8] {
        self.buf.get(self.start..self.end).unwrap_or_default()
    }

    /// Buffers at least `n` bytes; `false` if the file ends first. Moves the
    /// unconsumed bytes to the front, so ranges handed out before are stale.
    #[inline]
    fn want(&mut self, n: usize) -> std::io::Result<bool> {
        if self.end - self.start >= n {
            return Ok(true);
        }
        self.fill(n)
    }

    /// [`Input::want`] when the buffer runs short: once per chunk.
    #[cold]
    fn fill(&mut self, n: usize) -> std::io::Result<bool> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() < n {
            self.buf.resize(n, 0);
        }
        while self.end < n && !self.eof {
            self.read_more()?;
        }
        Ok(self.end >= n)
    }

    /// One read into the free end of the buffer.
    fn read_more(&mut self) -> std::io::Result<()> {
        let Some(free) = self.buf.get_mut(self.end..) else {
            return Ok(());
        };
        loop {
            match self.reader.read(free) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Marks `n` buffered bytes as read.
    fn consume(&mut self, n: usize) {
        let n = n.min(self.end - self.start);
        self.start += n;
        self.offset += n as u64;
    }

    /// Steps over `n` bytes, buffered or not, without keeping them; `false`
    /// if the file ends first.
    fn skip(&mut self, mut n: u64) -> std::io::Result<bool> {
        loop {
            let have = (self.end - self.start) as u64;
            let take = have.min(n);
            // `take` <= `have`, a buffer length.
            self.consume(usize::try_from(take).unwrap_or(0));
            n -= take;
            if n == 0 {
                return Ok(true);
            }
            if self.eof {
                return Ok(false);
            }
            self.start = 0;
            self.end = 0;
            self.read_more()?;
        }
    }

    /// The bytes of a record that [`Input::want`] buffered and that was
    /// consumed since; empty if the range is stale.
    fn bytes(&self, range: Range<usize>) -> &[u8] {
        self.buf.get(range).unwrap_or_default()
    }
}

/// A packet found by a format reader: its bytes are `Input::bytes(data)`.
#[derive(Debug, PartialEq, Eq)]
struct Record {
    ts_us: u64,
    wire_len: u32,
    data: Range<usize>,
}

enum Format {
    Pcap(format::Pcap),
    PcapNg(format::PcapNg),
}

pub struct FileSource {
    input: Input,
    format: Format,
    link: LinkType,
    name: String,
}

impl FileSource {
    /// Opens a capture file (`-`: standard input); `name` goes on every
    /// record as the interface.
    pub fn open(path: &Path, name: &str) -> Result<Self, CaptureError> {
        let shown = path.display().to_string();
        let reader: Box<dyn Read> = if path.as_os_str() == "-" {
            Box::new(std::io::stdin())
        } else {
            match std::fs::File::open(path) {
                Ok(file) => Box::new(file),
                Err(e) => {
                    return Err(CaptureError::OpenFile {
                        path: shown,
                        source: e.into(),
                    });
                }
            }
        };
        Self::start(reader, name, shown)
    }

    /// A capture read from any byte stream (tests and fuzzing read memory);
    /// errors name it `name`.
    pub fn from_reader(reader: Box<dyn Read>, name: &str) -> Result<Self, CaptureError> {
        Self::start(reader, name, name.to_owned())
    }

    fn start(reader: Box<dyn Read>, name: &str, path: String) -> Result<Self, CaptureError> {
        let mut input = Input::new(reader);
        let (format, link) = match format::open(&mut input) {
            Ok(opened) => opened,
            Err(source) => return Err(CaptureError::OpenFile { path, source }),
        };
        let dlt = i32::try_from(link).unwrap_or(i32::MAX);
        let link = LinkType::from_dlt(dlt);
        if !link.is_supported() {
            return Err(CaptureError::LinkType(dlt));
        }
        Ok(Self {
            input,
            format,
            link,
            name: name.to_owned(),
        })
    }
}

impl std::fmt::Debug for FileSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSource")
            .field("name", &self.name)
            .field("link", &self.link)
            .field("offset", &self.input.offset)
            .finish_non_exhaustive()
    }
}

impl PacketSource for FileSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn link_type(&self) -> LinkType {
        self.link
    }

    fn next_packet(&mut self) -> Result<Next<'_>, CaptureError> {
        let record = match &mut self.format {
            Format::Pcap(pcap) => pcap.next(&mut self.input),
            Format::PcapNg(ng) => ng.next(&mut self.input),
        };
        match record {
            Ok(Some(r)) => Ok(Next::Packet(Packet {
                ts_us: r.ts_us,
                data: self.input.bytes(r.data),
                wire_len: r.wire_len,
            })),
            Ok(None) => Ok(Next::End),
            // A file cut short mid-record: what came before is kept.
            Err(error) => Err(CaptureError::ReadFile {
                source_name: self.name.clone(),
                error,
            }),
        }
    }

    fn stats(&mut self) -> Option<CaptureStats> {
        None
    }
}
