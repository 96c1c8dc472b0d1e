//! Reading Suricata's eve.json: a file followed across rotation and
//! truncation ([`follow_file`]), a unix stream socket Suricata connects to
//! ([`listen_socket`], Suricata's `filetype: unix_stream`), or a whole file
//! once ([`read_file`], for `sonde-probe read --suricata-eve`).
//!
//! How: blocking readers for a thread of their own. Bytes go through
//! [`Lines`], which splits them at newlines and keeps a partial last line
//! until it is completed; each complete line is parsed by [`parse_line`] and
//! the event handed to a sink (`FnMut(EveEvent) -> bool`, false = stop;
//! [`channel_sink`] wraps an `mpsc::SyncSender`). The followers poll (no
//! inotify) and stop when their `AtomicBool` is set.
//! Bounds: a line is buffered up to `max_line` bytes; a longer one is
//! counted as oversize and skipped up to its newline without being kept; the
//! socket listener serves at most [`MAX_CONNECTIONS`] clients at once.
//! Problems opening or reading the file are logged once per change of state
//! and retried every poll.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek as _, SeekFrom};
use std::os::unix::fs::{FileExt as _, MetadataExt as _};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::time::Duration;

use metrics::counter;
use sonde_common::telemetry::names;

use super::eve::{EveEvent, parse_line};
use crate::alert::config::SuricataConfig;

/// Clients the socket listener serves at once; more are refused.
pub const MAX_CONNECTIONS: usize = 8;
/// Bytes read per system call.
const CHUNK: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub struct FollowSettings {
    /// Longer lines are counted as oversize and skipped.
    pub max_line: usize,
    /// How often the file (or socket) is checked for new data.
    pub poll: Duration,
    /// Read a file that exists at start from its beginning (default: from its
    /// end, like `tail -F`). Files that appear later (rotation, creation) are
    /// always read from their beginning.
    pub from_start: bool,
}

impl Default for FollowSettings {
    fn default() -> Self {
        Self {
            max_line: 1 << 20,
            poll: Duration::from_millis(250),
            from_start: false,
        }
    }
}

impl FollowSettings {
    /// `[suricata]` of probe.toml (`max_line`); polling every 250 ms, from
    /// the end of a file that exists at start.
    pub fn from_config(config: &SuricataConfig) -> Self {
        Self {
            max_line: usize::try_from(config.max_line.bytes()).unwrap_or(usize::MAX),
            ..Self::default()
        }
    }
}

/// What a reader saw. `lines` counts every complete line (oversize and
/// malformed ones included, blank ones not).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EveCounters {
    pub lines: u64,
    pub events: u64,
    pub oversize: u64,
    /// Malformed lines by [`super::EveError::reason`]; `partial` is a last
    /// line cut off by a rotation, a truncation or a closed connection.
    pub malformed: BTreeMap<&'static str, u64>,
    pub rotations: u64,
    pub truncations: u64,
    /// Socket connections accepted.
    pub connections: u64,
    /// Problems with the file logged (once per change of state, not per poll).
    pub problems_logged: u64,
}

impl EveCounters {
    pub fn malformed_total(&self) -> u64 {
        self.malformed.values().sum()
    }
}

/// A sink that sends events into a bounded channel (blocking while it is
/// full) and stops the reader when the receiver is gone.
pub fn channel_sink(tx: SyncSender<EveEvent>) -> impl FnMut(EveEvent) -> bool {
    move |event| tx.send(event).is_ok()
}

/// A complete line, or the news that one was too long.
enum Line<'a> {
    Complete(&'a [u8]),
    Oversize,
}

/// Splits a byte stream into lines of at most `max_line` bytes.
#[derive(Debug)]
struct Lines {
    buf: Vec<u8>,
    /// Inside an oversize line: drop bytes up to the next newline.
    skipping: bool,
    max_line: usize,
}

impl Lines {
    fn new(max_line: usize) -> Self {
        Self {
            buf: Vec::new(),
            skipping: false,
            max_line,
        }
    }

    fn feed(&mut self, mut data: &[u8], on: &mut dyn FnMut(Line<'_>)) {
        while !data.is_empty() {
            let Some(nl) = memchr::memchr(b'\n', data) else {
                if !self.skipping {
                    if self.buf.len().saturating_add(data.len()) > self.max_line {
                        self.buf.clear();
                        self.skipping = true;
                        on(Line::Oversize);
                    } else {
                        self.buf.extend_from_slice(data);
                    }
                }
                return;
            };
            let (head, rest) = data.split_at(nl);
            data = rest.get(1..).unwrap_or_default();
            if self.skipping {
                self.skipping = false;
            } else if self.buf.len().saturating_add(head.len()) > self.max_line {
                self.buf.clear();
                on(Line::Oversize);
            } else if self.buf.is_empty() {
                on(Line::Complete(head));
            } else {
                self.buf.extend_from_slice(head);
                on(Line::Complete(&self.buf));
                self.buf.clear();
            }
        }
    }

    /// Drops everything up to the next newline (a line begun before us).
    fn skip_to_newline(&mut self, skip: bool) {
        self.buf.clear();
        self.skipping = skip;
    }

    /// Forgets a partial line; true when there was one.
    fn reset(&mut self) -> bool {
        let had = !self.buf.is_empty() || self.skipping;
        self.buf.clear();
        self.skipping = false;
        had
    }
}

/// Parses lines, counts them and hands events to the sink.
struct Handler<'a> {
    counters: EveCounters,
    sink: &'a mut dyn FnMut(EveEvent) -> bool,
    max_line: usize,
    /// The sink said stop.
    done: bool,
}

impl<'a> Handler<'a> {
    fn new(sink: &'a mut dyn FnMut(EveEvent) -> bool, max_line: usize) -> Self {
        Self {
            counters: EveCounters::default(),
            sink,
            max_line,
            done: false,
        }
    }

    fn line(&mut self, line: Line<'_>) {
        match line {
            Line::Oversize => {
                self.counters.lines += 1;
                self.counters.oversize += 1;
                counter!(names::PROBE_EVE_LINES).increment(1);
                counter!(names::PROBE_EVE_OVERSIZE).increment(1);
            }
            Line::Complete(bytes) if bytes.trim_ascii().is_empty() => {}
            Line::Complete(bytes) => {
                self.counters.lines += 1;
                counter!(names::PROBE_EVE_LINES).increment(1);
                match parse_line(bytes, self.max_line) {
                    Ok(event) => {
                        self.counters.events += 1;
                        counter!(names::PROBE_EVE_EVENTS).increment(1);
                        if !self.done && !(self.sink)(event) {
                            self.done = true;
                        }
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "eve line skipped");
                        self.malformed(e.reason());
                    }
                }
            }
        }
    }

    fn malformed(&mut self, reason: &'static str) {
        *self.counters.malformed.entry(reason).or_default() += 1;
        counter!(names::PROBE_EVE_MALFORMED, "reason" => reason).increment(1);
    }

    fn feed(&mut self, lines: &mut Lines, data: &[u8]) {
        lines.feed(data, &mut |line| self.line(line));
    }

    /// A partial line that will never be completed.
    fn drop_partial(&mut self, lines: &mut Lines) {
        if lines.reset() {
            self.malformed("partial");
        }
    }
}

/// Reads a whole eve file once; a last line without newline is parsed too.
pub fn read_file(path: &Path, max_line: usize) -> io::Result<(Vec<EveEvent>, EveCounters)> {
    let mut events = Vec::new();
    let counters = read_stream(File::open(path)?, max_line, &mut |e| {
        events.push(e);
        true
    })?;
    Ok((events, counters))
}

/// Reads eve lines from `input` to its end (or until the sink says stop).
pub fn read_stream(
    mut input: impl Read,
    max_line: usize,
    sink: &mut dyn FnMut(EveEvent) -> bool,
) -> io::Result<EveCounters> {
    let mut lines = Lines::new(max_line);
    let mut handler = Handler::new(sink, max_line);
    let mut buf = vec![0u8; CHUNK];
    while !handler.done {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        handler.feed(&mut lines, buf.get(..n).unwrap_or_default());
    }
    if !handler.done && !lines.skipping && !lines.buf.is_empty() {
        let last = std::mem::take(&mut lines.buf);
        handler.line(Line::Complete(&last));
    }
    Ok(handler.counters)
}

/// Sleeps `total` in short steps; false when `stop` was set meanwhile.
fn nap(total: Duration, stop: &AtomicBool) -> bool {
    let step = Duration::from_millis(25);
    let mut left = total;
    while !left.is_zero() {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        let d = left.min(step);
        std::thread::sleep(d);
        left = left.saturating_sub(d);
    }
    !stop.load(Ordering::Relaxed)
}

/// Logs a problem once per change of state (not once per poll).
#[derive(Default)]
struct Problem(Option<String>);

impl Problem {
    /// Logs `what` unless it is the problem already logged; true when logged.
    fn set(&mut self, path: &Path, what: String) -> bool {
        if self.0.as_deref() == Some(what.as_str()) {
            return false;
        }
        tracing::warn!(path = %path.display(), "{what}; retrying");
        self.0 = Some(what);
        true
    }

    fn clear(&mut self, path: &Path) {
        if self.0.take().is_some() {
            tracing::info!(path = %path.display(), "eve file readable again");
        }
    }
}

struct OpenFile {
    file: File,
    /// (device, inode): a rotation makes the path name another file.
    id: (u64, u64),
    offset: u64,
    /// Opened in the middle of a line.
    mid_line: bool,
}

/// Follows `path` until `stop` is set or the sink says stop; returns what it
/// counted. Never gives up on a missing or unreadable file.
pub fn follow_file(
    path: &Path,
    settings: &FollowSettings,
    stop: &AtomicBool,
    sink: &mut dyn FnMut(EveEvent) -> bool,
) -> EveCounters {
    let mut lines = Lines::new(settings.max_line);
    let mut handler = Handler::new(sink, settings.max_line);
    let mut buf = vec![0u8; CHUNK];
    let mut problem = Problem::default();
    let mut open: Option<OpenFile> = None;
    let mut at_start = true;
    while !stop.load(Ordering::Relaxed) && !handler.done {
        let Some(f) = open.as_mut() else {
            match open_file(path, at_start && !settings.from_start) {
                Ok(f) => {
                    problem.clear(path);
                    lines.skip_to_newline(f.mid_line);
                    tracing::info!(path = %path.display(), offset = f.offset, "following eve file");
                    open = Some(f);
                }
                Err(e) => {
                    let what = format!("eve file cannot be opened: {e}");
                    handler.counters.problems_logged += u64::from(problem.set(path, what));
                    if !nap(settings.poll, stop) {
                        break;
                    }
                }
            }
            at_start = false;
            continue;
        };
        // Everything there is now.
        let mut failed = false;
        loop {
            match f.file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    f.offset += n as u64;
                    handler.feed(&mut lines, buf.get(..n).unwrap_or_default());
                    if stop.load(Ordering::Relaxed) || handler.done {
                        return handler.counters;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let what = format!("eve file cannot be read: {e}");
                    handler.counters.problems_logged += u64::from(problem.set(path, what));
                    failed = true;
                    break;
                }
            }
        }
        if failed {
            handler.drop_partial(&mut lines);
            open = None;
            if !nap(settings.poll, stop) {
                break;
            }
            continue;
        }
        // Truncated under us (copytruncate): start again at 0.
        if f.file.metadata().is_ok_and(|m| m.len() < f.offset) {
            handler.drop_partial(&mut lines);
            handler.counters.truncations += 1;
            counter!(names::PROBE_EVE_REOPENED, "reason" => "truncated").increment(1);
            tracing::info!(path = %path.display(), "eve file truncated; reading from its start");
            if f.file.seek(SeekFrom::Start(0)).is_err() {
                open = None;
            } else {
                f.offset = 0;
            }
            continue;
        }
        // Rotated: the old file is finished; the path names a new one (a
        // new inode, or the same number reused after our file was deleted).
        let unlinked = f.file.metadata().is_ok_and(|m| m.nlink() == 0);
        match std::fs::metadata(path) {
            Ok(m) if (m.dev(), m.ino()) != f.id || unlinked => {
                handler.drop_partial(&mut lines);
                handler.counters.rotations += 1;
                counter!(names::PROBE_EVE_REOPENED, "reason" => "rotated").increment(1);
                tracing::info!(path = %path.display(), "eve file rotated; opening the new one");
                open = None;
                continue;
            }
            Ok(_) => problem.clear(path),
            Err(e) => {
                let what = format!("eve file is gone ({e}), waiting for a new one");
                handler.counters.problems_logged += u64::from(problem.set(path, what));
            }
        }
        if !nap(settings.poll, stop) {
            break;
        }
    }
    handler.counters
}

fn open_file(path: &Path, at_end: bool) -> io::Result<OpenFile> {
    let mut file = File::open(path)?;
    let meta = file.metadata()?;
    if meta.is_dir() {
        return Err(io::Error::other("it is a directory"));
    }
    let offset = if at_end { meta.len() } else { 0 };
    file.seek(SeekFrom::Start(offset))?;
    // Starting at the end of a line being written: its rest is no line.
    let mut last = [0u8; 1];
    let mid_line = offset > 0
        && file
            .read_at(&mut last, offset - 1)
            .is_ok_and(|n| n == 1 && last != *b"\n");
    Ok(OpenFile {
        file,
        id: (meta.dev(), meta.ino()),
        offset,
        mid_line,
    })
}

#[path = "follow_socket.rs"]
mod socket;
pub use socket::listen_socket;

#[cfg(test)]
#[path = "follow_tests.rs"]
mod tests;
