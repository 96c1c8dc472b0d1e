//! HTTP/1.x (RFC 9112) in both directions: the request line and headers
//! (method, target, version, Host, User-Agent, Content-Type, Authorization)
//! and the response status line and headers (status, Content-Type, Server),
//! with nDPI's HTTP risks ([`risks`]).
//!
//! - The probe looks at the first bytes only: a method name and a space, or
//!   `HTTP/1.`; a complete request line must end in ` HTTP/1.x` (so RTSP and
//!   SIP requests, which share methods, are left alone).
//! - Each direction is reassembled ([`Stream`], bounded by [`MAX_HEAD`]) until
//!   its message head ends (the empty line, RFC 9112 §2.1); only the first
//!   request and the first final response are read, then the first bytes of
//!   the response body (executable signatures). A flow may start with either.
//! - The Host header names the flow (`out.set_host`, port removed), so the
//!   application comes from the host name (`HTTP.Google`).

mod head;
mod risks;
mod url;

use super::stream::{Stream, StreamError};
use super::{Findings, Packet, Parse, Probe, Protocol, Transport};
use head::{Head, Kind};

pub(super) const TRANSPORTS: &[Transport] = &[Transport::Tcp];
pub(super) const PROTOCOL: Protocol = Protocol::Http;

/// Request methods (RFC 9110 §9, WebDAV's PROPFIND and REPORT, and the
/// RPC-over-HTTP verbs nDPI knows).
const METHODS: &[&[u8]] = &[
    b"GET",
    b"POST",
    b"HEAD",
    b"PUT",
    b"DELETE",
    b"OPTIONS",
    b"PATCH",
    b"CONNECT",
    b"TRACE",
    b"PROPFIND",
    b"REPORT",
    b"RPC_IN_DATA",
    b"RPC_OUT_DATA",
];

/// Longest message head buffered while waiting for its end: a longer head
/// (huge cookies) ends DPI for that direction.
pub(super) const MAX_HEAD: usize = 16 * 1024;

/// How far the probe looks for the end of the request line.
const MAX_REQUEST_LINE_PROBE: usize = 4096;

/// What the first bytes of a message say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Start {
    Request,
    Response,
    /// Too short to tell, but could be either.
    Maybe,
    No,
}

fn starts_with_ci(bytes: &[u8], prefix: &[u8]) -> bool {
    bytes
        .get(..prefix.len())
        .is_some_and(|b| b.eq_ignore_ascii_case(prefix))
}

/// Classifies the first bytes of a message (RFC 9112 §3 request line,
/// §4 status line).
fn start(p: &[u8]) -> Start {
    const VERSION: &[u8] = b"HTTP/1.";
    // First letters of `HTTP/1.` and of the methods: most payloads stop here.
    if p.first().is_some_and(|b| !b"CDGHOPRTcdghoprt".contains(b)) {
        return Start::No;
    }
    if p.len() < VERSION.len() && VERSION.get(..p.len()).is_some_and(|v| v == p) {
        return Start::Maybe;
    }
    if p.starts_with(VERSION) {
        return Start::Response;
    }
    let mut maybe = false;
    for m in METHODS {
        if p.len() <= m.len() {
            if m.get(..p.len()).is_some_and(|v| v.eq_ignore_ascii_case(p)) {
                maybe = true;
            }
            continue;
        }
        if starts_with_ci(p, m) && p.get(m.len()) == Some(&b' ') {
            return request_line(p, m.len() + 1);
        }
    }
    if maybe { Start::Maybe } else { Start::No }
}

/// Checks a request line from its target on: not RTSP or SIP, and ending in
/// ` HTTP/1.x` when the line is complete.
fn request_line(p: &[u8], target_at: usize) -> Start {
    let target = p.get(target_at..).unwrap_or_default();
    let spaces = target.iter().take_while(|b| **b == b' ').count();
    let target = target.get(spaces..).unwrap_or_default();
    if starts_with_ci(target, b"rtsp://") || starts_with_ci(target, b"sip:") {
        return Start::No;
    }
    let window = target
        .get(..MAX_REQUEST_LINE_PROBE.min(target.len()))
        .unwrap_or_default();
    let Some(eol) = window.iter().position(|b| *b == b'\n') else {
        return Start::Request;
    };
    let line = window.get(..eol).unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    match line.len().checked_sub(9).and_then(|at| line.get(at..)) {
        Some(tail) if starts_with_ci(tail, b" HTTP/1.") => Start::Request,
        _ => Start::No,
    }
}

pub(super) fn probe(pkt: &Packet<'_>) -> Probe {
    match start(pkt.payload) {
        Start::Request | Start::Response => Probe::Match,
        Start::Maybe => Probe::Unsure,
        Start::No => Probe::NoMatch,
    }
}

/// Where one direction's parse stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum State {
    /// Waiting for (the rest of) a message head.
    #[default]
    Head,
    /// A response head was read; its body's first bytes are wanted.
    Body,
    /// Nothing more is read in this direction.
    Done,
    /// The stream broke (gap, head too long).
    Failed,
}

#[derive(Debug)]
struct Direction {
    stream: Stream,
    state: State,
}

impl Default for Direction {
    fn default() -> Self {
        Self {
            stream: Stream::new(MAX_HEAD),
            state: State::Head,
        }
    }
}

/// What one message tells about the rest of the flow.
#[derive(Debug, Default)]
pub(super) struct Facts {
    pub(super) request: bool,
    pub(super) response: bool,
    /// The request was HEAD (its response has no body).
    pub(super) head_method: bool,
    pub(super) java_client: bool,
    pub(super) java_vm_content: bool,
    /// The response's body is expected to be human-readable text.
    pub(super) text_body: bool,
}

#[derive(Debug, Default)]
pub(super) struct Parser {
    dirs: [Direction; 2],
    facts: Facts,
}

/// The outcome of reading one direction's buffered bytes.
enum Step {
    /// More bytes are needed.
    Wait,
    /// The bytes are not HTTP.
    NotHttp,
    /// The direction moved on (a head read, a body sniffed).
    Progress,
}

impl Parser {
    pub(super) fn parse(&mut self, pkt: &Packet<'_>, out: &mut Findings) -> Parse {
        let Parser { dirs, facts } = self;
        let Some(dir) = dirs.get_mut(pkt.dir()) else {
            return Parse::Skip;
        };
        if matches!(dir.state, State::Head | State::Body) {
            let state = &mut dir.state;
            let fed = dir.stream.feed(pkt.tcp_seq, pkt.payload, |bytes| {
                read(bytes, state, facts, out)
            });
            match fed {
                Ok(Some(Step::NotHttp)) => {
                    if !facts.request && !facts.response {
                        return Parse::Invalid;
                    }
                    dir.state = State::Done;
                }
                Ok(Some(Step::Wait | Step::Progress) | None) => {}
                Err(StreamError::Gap | StreamError::TooLong) => dir.state = State::Failed,
            }
        }
        self.outcome()
    }

    fn outcome(&self) -> Parse {
        let [a, b] = &self.dirs;
        let settled = |d: &Direction| matches!(d.state, State::Done | State::Failed);
        if self.facts.request && self.facts.response && settled(a) && settled(b) {
            return Parse::Done;
        }
        if settled(a) && settled(b) {
            return Parse::Skip;
        }
        Parse::Incomplete
    }
}

/// Reads what one direction has buffered: a message head, or the first body
/// bytes after a response head. Returns the step and the bytes consumed.
fn read(bytes: &[u8], state: &mut State, facts: &mut Facts, out: &mut Findings) -> (Step, usize) {
    if *state == State::Body {
        if bytes.len() < 4 {
            // Too few bytes to judge yet: keep them for the next segment.
            return (Step::Wait, 0);
        }
        risks::body(bytes, facts, out);
        *state = State::Done;
        return (Step::Progress, bytes.len());
    }
    match start(bytes) {
        Start::No => return (Step::NotHttp, 0),
        Start::Maybe => return (Step::Wait, 0),
        Start::Request | Start::Response => {}
    }
    let Some(head_len) = head_end(bytes) else {
        return (Step::Wait, 0);
    };
    let Some(head) = bytes.get(..head_len).and_then(Head::parse) else {
        return (Step::NotHttp, 0);
    };
    let body = bytes.get(head_len..).unwrap_or_default();
    match head.kind {
        Kind::Request { .. } => {
            if !facts.request {
                head::record_request(&head, facts, out);
                risks::request(&head, out);
            }
            *state = State::Done;
            (Step::Progress, bytes.len())
        }
        Kind::Response { status, .. } if (100..200).contains(&status) => {
            // An interim response (100 Continue): the final one follows.
            (Step::Progress, head_len)
        }
        Kind::Response { status, .. } => {
            if facts.response {
                *state = State::Done;
                return (Step::Progress, bytes.len());
            }
            head::record_response(&head, facts, out);
            risks::response(&head, facts, out);
            let bodiless = facts.head_method
                || status == 204
                || status == 304
                || head.header(b"content-length").is_some_and(|v| v == b"0");
            if bodiless {
                *state = State::Done;
            } else if body.len() >= 4 {
                risks::body(body, facts, out);
                *state = State::Done;
            } else {
                *state = State::Body;
                return (Step::Progress, head_len);
            }
            (Step::Progress, bytes.len())
        }
    }
}

/// Length of the message head including its terminating empty line (CRLF
/// CRLF, or bare LF LF which RFC 9112 §2.2 lets recipients accept).
fn head_end(bytes: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(nl) = bytes.get(i..)?.iter().position(|b| *b == b'\n') {
        let at = i + nl + 1;
        match bytes.get(at) {
            Some(b'\n') => return Some(at + 1),
            Some(b'\r') if bytes.get(at + 1) == Some(&b'\n') => return Some(at + 2),
            Some(_) => i = at,
            None => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests;
