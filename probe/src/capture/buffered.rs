//! A capture file handed to libpcap through a stdio stream with a 64 KiB
//! buffer, instead of the `fopen` inside `pcap_open_offline`.
//!
//! Why: libpcap reads a savefile with `fread`, and glibc gives a stream a
//! buffer of the file system's block size (4 KiB): one `read(2)` per 4 KiB,
//! each with its page-cache lookup and copy. On a ~470-byte-per-packet
//! capture that was a fifth of `sonde-probe read`'s time; with 64 KiB (larger
//! measured no better: the buffer then leaves the L2 cache) libpcap alone
//! reads the 250 MB web capture in 52 ms instead of 74 ms (docs/benchmarks.md).
//! An `mmap` + `fmemopen` would save another 10 ms, but a file truncated
//! while mapped kills the process with SIGBUS, and the mapped file would
//! count in the process's RSS.
//!
//! This is the probe's only `unsafe` (the workspace lint is `deny`, not
//! `forbid`, for this module alone): libc's `fdopen`/`setvbuf`/`fclose` and
//! libpcap's `pcap_fopen_offline`. Anything unusual (stdin as `-`, a file
//! that is not a capture) returns `None`, and the caller opens the path the
//! ordinary way, so what it accepts and its error messages stay libpcap's.
#![allow(
    unsafe_code,
    reason = "libc stdio and libpcap FFI to give libpcap a larger read buffer; see the module docs"
)]

use std::ffi::{c_char, c_void};
use std::fs::File;
use std::os::fd::IntoRawFd;
use std::path::Path;
use std::ptr::NonNull;

/// The stream's buffer.
const BUFFER_LEN: usize = 64 * 1024;

/// libpcap's `PCAP_ERRBUF_SIZE`.
const ERRBUF_LEN: usize = 256;

unsafe extern "C" {
    /// `pcap_t *pcap_fopen_offline(FILE *fp, char *errbuf)` (pcap/pcap.h).
    /// libpcap itself is linked by the `pcap` crate. On success the handle
    /// owns `fp` (`pcap_close` closes it); on failure the caller still does.
    fn pcap_fopen_offline(fp: *mut libc::FILE, errbuf: *mut c_char) -> *mut c_void;
}

/// An offline capture, and the stream buffer it reads through when it has one.
pub(super) struct Savefile {
    /// Declared before `buffer`: dropped first, so the stream is closed
    /// (`pcap_close` -> `fclose`) before its buffer is freed.
    pub(super) capture: pcap::Capture<pcap::Offline>,
    #[allow(dead_code, reason = "owned for the stream's lifetime, never read")]
    buffer: Option<Box<[u8]>>,
}

impl Savefile {
    /// Opens `path` (or stdin for `-`): through a large buffer when it can,
    /// else as `pcap::Capture::from_file` does, whose error is the one
    /// returned.
    pub(super) fn open(path: &Path) -> Result<Self, pcap::Error> {
        if let Some(savefile) = Self::buffered(path) {
            return Ok(savefile);
        }
        Ok(Self {
            capture: pcap::Capture::from_file(path)?,
            buffer: None,
        })
    }

    /// `path` with a large stdio buffer; `None` when that route does not
    /// apply or fails.
    fn buffered(path: &Path) -> Option<Self> {
        // libpcap reads stdin for "-".
        if path.as_os_str() == "-" {
            return None;
        }
        let fd = File::open(path).ok()?.into_raw_fd();
        let mut buffer = vec![0u8; BUFFER_LEN].into_boxed_slice();
        // SAFETY: `fd` is an open descriptor that nothing else owns
        // (`into_raw_fd` released it); on success the stream owns it.
        let stream = unsafe { libc::fdopen(fd, c"rb".as_ptr()) };
        if stream.is_null() {
            // SAFETY: fdopen failed, so `fd` is still ours and open.
            unsafe { libc::close(fd) };
            return None;
        }
        // SAFETY: `stream` is valid and nothing has been read from it yet
        // (setvbuf must come first). The buffer lives in the returned value,
        // which closes the stream before freeing it (field order; on the
        // failure path below the stream is closed before `buffer` drops).
        // glibc never frees a caller's buffer. A failure leaves the default
        // buffer, which is only slower.
        unsafe {
            libc::setvbuf(
                stream,
                buffer.as_mut_ptr().cast::<c_char>(),
                libc::_IOFBF,
                BUFFER_LEN,
            );
        }
        let mut errbuf = [0 as c_char; ERRBUF_LEN];
        // SAFETY: `stream` is a valid read stream, `errbuf` has libpcap's
        // PCAP_ERRBUF_SIZE bytes.
        let handle = unsafe { pcap_fopen_offline(stream, errbuf.as_mut_ptr()) };
        let Some(handle) = NonNull::new(handle) else {
            // SAFETY: libpcap did not take the stream on failure; closed once.
            unsafe { libc::fclose(stream) };
            return None;
        };
        // The pcap crate takes ownership of a live `pcap_t` (and closes it
        // on drop); its handle type is private, hence the cast.
        let capture = pcap::Capture::from(handle.cast());
        Some(Self {
            capture,
            buffer: Some(buffer),
        })
    }

    /// The buffer's length, 0 without one (tests: which route was taken).
    #[cfg(test)]
    fn buffer_len(&self) -> usize {
        self.buffer.as_ref().map_or(0, |b| b.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::testing::testdata;

    /// (seconds, microseconds, captured length, first bytes) of every packet.
    fn packets(mut capture: pcap::Capture<pcap::Offline>) -> Vec<(i64, i64, u32, Vec<u8>)> {
        let mut all = Vec::new();
        while let Ok(p) = capture.next_packet() {
            #[allow(
                clippy::unnecessary_cast,
                reason = "time_t and suseconds_t differ by platform"
            )]
            let (sec, usec) = (p.header.ts.tv_sec as i64, p.header.ts.tv_usec as i64);
            all.push((sec, usec, p.header.caplen, p.data.to_vec()));
        }
        all
    }

    fn same_as_libpcap_open(rel: &str) {
        let path = testdata(rel);
        let savefile = Savefile::open(&path).unwrap();
        assert_eq!(savefile.buffer_len(), BUFFER_LEN);
        let ours = packets(savefile.capture);
        let theirs = packets(pcap::Capture::from_file(&path).unwrap());
        assert!(!ours.is_empty(), "{rel}");
        assert_eq!(ours, theirs, "{rel}");
    }

    #[test]
    fn buffered_pcap_reads_the_same_packets_as_libpcap_open() {
        same_as_libpcap_open("ndpi/pcap/google_ssl.pcap");
    }

    #[test]
    fn buffered_pcapng_reads_the_same_packets_as_libpcap_open() {
        same_as_libpcap_open("ndpi/pcap/http.pcapng");
    }

    #[test]
    fn buffered_nanosecond_pcap_gives_microseconds_like_libpcap_open() {
        same_as_libpcap_open("ndpi/pcap/fuzz-2021-10-13.pcap");
    }

    /// The error of `pcap::Capture::from_file`, as text.
    fn libpcap_error(path: &Path) -> String {
        match pcap::Capture::from_file(path) {
            Ok(_) => panic!("{} opened", path.display()),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn unusable_files_give_libpcaps_own_errors() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("garbage.pcap");
        std::fs::write(&garbage, b"this is not a capture file at all").unwrap();
        let empty = dir.path().join("empty.pcap");
        std::fs::write(&empty, b"").unwrap();
        for path in [Path::new("/nonexistent.pcap"), &garbage, &empty, dir.path()] {
            assert!(Savefile::buffered(path).is_none(), "{}", path.display());
            match Savefile::open(path) {
                Ok(_) => panic!("{} opened", path.display()),
                Err(e) => assert_eq!(e.to_string(), libpcap_error(path)),
            }
        }
    }

    #[test]
    fn stdin_is_left_to_libpcap() {
        assert!(Savefile::buffered(Path::new("-")).is_none());
    }
}
