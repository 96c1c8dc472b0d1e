//! One HTTP/1.x message head (RFC 9112 §2.1): the start line and the header
//! fields, borrowed from the reassembled bytes, and what the flow keeps of
//! them (`HttpInfo`, the host name, `http.*` extras).

use super::super::Findings;
use super::super::cursor::{Cursor, find};
use super::super::findings::text;
use super::Facts;

/// Header fields read per message; the rest are ignored.
const MAX_FIELDS: usize = 64;

#[derive(Debug)]
pub(super) enum Kind<'a> {
    Request { method: &'a [u8], target: &'a [u8] },
    Response { status: u16 },
}

#[derive(Debug)]
pub(super) struct Head<'a> {
    pub(super) kind: Kind<'a>,
    /// `1.0` or `1.1`.
    pub(super) version: &'a [u8],
    pub(super) fields: Vec<(&'a [u8], &'a [u8])>,
}

/// The next line without its CRLF (or bare LF).
fn line<'a>(c: &mut Cursor<'a>) -> Option<&'a [u8]> {
    let l = c.until(b"\n")?;
    Some(l.strip_suffix(b"\r").unwrap_or(l))
}

fn trim(mut b: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = b {
        b = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = b {
        b = rest;
    }
    b
}

impl<'a> Head<'a> {
    /// Parses a complete head (ending with its empty line); `None` when the
    /// start line is not HTTP/1.x.
    pub(super) fn parse(bytes: &'a [u8]) -> Option<Head<'a>> {
        let mut c = Cursor::new(bytes);
        let start = line(&mut c)?;
        let (kind, version) = if let Some(rest) = start.strip_prefix(b"HTTP/") {
            // RFC 9112 §4: HTTP-version SP status-code SP [ reason-phrase ]
            let mut parts = rest.splitn(3, |b| *b == b' ');
            let version = parts.next()?;
            let code = parts.next()?;
            if code.len() != 3 || !code.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let status = code.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
            (Kind::Response { status }, version)
        } else {
            // RFC 9112 §3: method SP request-target SP HTTP-version
            let sp = start.iter().position(|b| *b == b' ')?;
            let method = start.get(..sp)?;
            let rest = trim(start.get(sp + 1..)?);
            let vsp = rest.iter().rposition(|b| *b == b' ')?;
            let target = trim(rest.get(..vsp)?);
            let version = rest.get(vsp + 1..)?;
            let version = version
                .get(..5)
                .filter(|v| v.eq_ignore_ascii_case(b"HTTP/"))
                .and(version.get(5..))?;
            (Kind::Request { method, target }, version)
        };
        let mut fields = Vec::new();
        while let Some(l) = line(&mut c) {
            if l.is_empty() {
                break;
            }
            if fields.len() == MAX_FIELDS {
                continue;
            }
            // RFC 9112 §5.1: field-name ":" OWS field-value OWS
            if let Some(colon) = l.iter().position(|b| *b == b':') {
                let name = l.get(..colon).unwrap_or_default();
                let value = trim(l.get(colon + 1..).unwrap_or_default());
                fields.push((name, value));
            }
        }
        Some(Head {
            kind,
            version,
            fields,
        })
    }

    /// The first value of a header field (names are case-insensitive).
    pub(super) fn header(&self, name: &[u8]) -> Option<&'a [u8]> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

/// The host name of a Host header value: without the port, without the
/// brackets of an IPv6 literal (RFC 9110 §7.2, RFC 3986 §3.2.2).
pub(super) fn host_name(value: &[u8]) -> &[u8] {
    if let Some(inner) = value.strip_prefix(b"[") {
        return inner
            .iter()
            .position(|b| *b == b']')
            .and_then(|end| inner.get(..end))
            .unwrap_or(inner);
    }
    match value.iter().rposition(|b| *b == b':') {
        Some(colon) if value.iter().filter(|b| **b == b':').count() == 1 => {
            value.get(..colon).unwrap_or(value)
        }
        _ => value,
    }
}

/// Records a request's metadata (the first request of the flow).
pub(super) fn record_request(head: &Head<'_>, facts: &mut Facts, out: &mut Findings) {
    let Kind::Request { method, target } = head.kind else {
        return;
    };
    facts.request = true;
    facts.head_method = method.eq_ignore_ascii_case(b"HEAD");
    let host = head.header(b"host");
    if let Some(host) = host {
        out.set_host(host_name(host));
    }
    let user_agent = head.header(b"user-agent");
    facts.java_client = user_agent.is_some_and(|ua| ua.starts_with(b"Java/"));
    let http = out.http();
    http.method = text(method);
    http.url = text(target);
    http.version = text(head.version);
    if let Some(host) = host {
        http.host = text(host);
    }
    if let Some(ua) = user_agent {
        http.user_agent = text(ua);
    }
    if let Some(ct) = head.header(b"content-type") {
        out.extra("http.request_content_type", ct);
    }
}

/// Records a final response's metadata (the first of the flow).
pub(super) fn record_response(head: &Head<'_>, facts: &mut Facts, out: &mut Findings) {
    let Kind::Response { status } = head.kind else {
        return;
    };
    facts.response = true;
    let content_type = head.header(b"content-type");
    let encoded = head.header(b"content-encoding").is_some();
    if let Some(ct) = content_type {
        let lower = ct.to_ascii_lowercase();
        let has = |needle: &[u8]| find(&lower, needle).is_some();
        facts.java_vm_content = mime(&lower) == b"application/java-vm";
        facts.text_body =
            !encoded && (has(b"text/") || has(b"/json") || has(b"x-www-form-urlencoded"));
    }
    let http = out.http();
    // nDPI keeps status codes 100-509 only.
    if (100..=509).contains(&status) {
        http.status = u32::from(status);
    }
    if http.version.is_empty() {
        http.version = text(head.version);
    }
    if let Some(ct) = content_type {
        http.content_type = text(ct);
    }
    if let Some(server) = head.header(b"server") {
        out.extra("http.server", server);
    }
}

/// The media type of a Content-Type value, without parameters (RFC 9110
/// §8.3.1).
pub(super) fn mime(value: &[u8]) -> &[u8] {
    let end = value.iter().position(|b| *b == b';').unwrap_or(value.len());
    trim(value.get(..end).unwrap_or(value))
}
