//! nDPI's HTTP risks, from the request (URL, Host, User-Agent, header names,
//! Authorization), the response (status, Content-Type, Server) and the first
//! body bytes (executable signatures, binary bytes where text was announced).
//!
//! The request target's own checks are in [`super::url`].

use super::super::cursor::{contains_ci, find};
use super::super::{Findings, Risk};
use super::Facts;
use super::head::{Head, Kind, host_name, mime};

/// Header names nDPI calls suspicious (malware check-ins, not browsers).
const SUSPICIOUS_HEADERS: &[&[u8]] = &[
    b"Arch",
    b"Cores",
    b"Mem",
    b"Os",
    b"Osname",
    b"Osversion",
    b"Root",
    b"S",
    b"TLS_version",
    b"Uuid",
    b"X-Hire-Me",
];

/// `application/...` types of executables (nDPI's binary MIME list).
const BINARY_MIMES: &[&[u8]] = &[
    b"application/exe",
    b"application/java-vm",
    b"application/vnd.ms-cab-compressed",
    b"application/vnd.microsoft.portable-executable",
    b"application/x-msdownload",
    b"application/x-dosexec",
];

/// File extensions of executables in a Content-Disposition file name.
const BINARY_EXTENSIONS: &[&[u8]] = &[b".exe", b".msi", b".cab", b".dll", b".scr"];

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    find(hay, needle).is_some()
}

/// Risks of a request head.
pub(super) fn request(head: &Head<'_>, out: &mut Findings) {
    let Kind::Request { target, .. } = head.kind else {
        return;
    };
    super::url::check(target, out);
    if let Some(host) = head.header(b"host") {
        let name = host_name(host);
        if !valid_host(name) {
            out.risk_with(
                Risk::InvalidCharacters,
                &format!("Invalid host {}", String::from_utf8_lossy(name)),
            );
            out.risk(Risk::PossibleExploit);
        }
    }
    match head.header(b"user-agent") {
        Some(ua) if !ua.is_empty() => user_agent(ua, out),
        _ => out.risk_with(Risk::HttpSuspiciousUserAgent, "Empty or missing User-Agent"),
    }
    let auth = head.header(b"authorization").unwrap_or_default();
    if contains_ci(auth, b"basic") || contains_ci(auth, b"digest") {
        out.risk_with(
            Risk::ClearTextCredentials,
            "Found credentials in HTTP Auth Line",
        );
    }
    for (name, value) in &head.fields {
        if SUSPICIOUS_HEADERS
            .iter()
            .any(|s| s.eq_ignore_ascii_case(name))
        {
            let line = [*name, b": ", *value].concat();
            out.risk_with(
                Risk::HttpSuspiciousHeader,
                &format!("Found {}", String::from_utf8_lossy(&line)),
            );
        }
        // Log4Shell (CVE-2021-44228) lookups in any header value.
        if contains_ci(value, b"${jndi:") {
            out.risk_with(Risk::PossibleExploit, "Suspicious Log4J");
        }
    }
}

/// Risks of a final response head.
pub(super) fn response(head: &Head<'_>, facts: &Facts, out: &mut Findings) {
    let Kind::Response { status } = head.kind else {
        return;
    };
    if (400..=509).contains(&status) {
        out.risk_with(Risk::ErrorCode, &format!("HTTP Error Code {status}"));
        let method = out
            .l7
            .http
            .as_ref()
            .map(|h| h.method.clone())
            .unwrap_or_default();
        let path = out
            .l7
            .http
            .as_ref()
            .map(|h| h.url.clone())
            .unwrap_or_default();
        if (method == "POST" && path.starts_with("/wp-admin/"))
            || (method == "GET" && path.starts_with("/wp-content/uploads/"))
        {
            out.risk_with(Risk::PossibleExploit, "Possible Wordpress Exploit");
        }
    }
    if let Some(server) = head.header(b"server") {
        server_risks(server, out);
    }
    let windows_update = out.host.ends_with(".windowsupdate.com");
    if let Some(ct) = head.header(b"content-type") {
        let m = mime(ct).to_ascii_lowercase();
        if !windows_update && BINARY_MIMES.contains(&m.as_slice()) {
            let sub = m.strip_prefix(b"application/").unwrap_or(&m);
            out.risk_with(
                Risk::BinaryApplicationTransfer,
                &format!("Found mime exe {}", String::from_utf8_lossy(sub)),
            );
        }
    }
    let cd = head.header(b"content-disposition").unwrap_or_default();
    if let Some(at) = find(&cd.to_ascii_lowercase(), b"filename") {
        let name = cd.get(at + 8..).unwrap_or_default();
        let name: Vec<u8> = name
            .iter()
            .copied()
            .filter(|b| !matches!(b, b'"' | b'=' | b' ' | b'*' | b'\''))
            .map(|b| b.to_ascii_lowercase())
            .collect();
        let ext = BINARY_EXTENSIONS.iter().find(|e| name.ends_with(e));
        if let Some(ext) = ext.filter(|_| !windows_update) {
            out.risk_with(
                Risk::BinaryApplicationTransfer,
                &format!(
                    "Found file extn {}",
                    String::from_utf8_lossy(ext.get(1..).unwrap_or(ext))
                ),
            );
        }
    }
    java_downloads_java(facts, out);
}

/// "Java downloads Java" (Corelight's Log4Shell heuristic, as nDPI): a
/// `Java/` client fetching `application/java-vm`.
fn java_downloads_java(facts: &Facts, out: &mut Findings) {
    if facts.java_client && facts.java_vm_content && out.risks.has(Risk::BinaryApplicationTransfer)
    {
        out.risk_with(Risk::PossibleExploit, "Suspicious Log4J");
    }
}

/// Risks of the first bytes of a response body: executables by their magic
/// numbers, and binary bytes where text was announced.
pub(super) fn body(bytes: &[u8], facts: &Facts, out: &mut Findings) {
    let found = if bytes.starts_with(b"MZ") {
        Some("Found Windows Exe")
    } else if bytes.starts_with(b"\x7fELF") || bytes.starts_with(&[0xcf, 0xfa, 0xed, 0xfe]) {
        Some("Found Linux Exe")
    } else if bytes.starts_with(b"#!/") {
        Some("Found Unix Script")
    } else if bytes.starts_with(b"dex\n035\0") {
        Some("Found Android Exe")
    } else {
        None
    };
    if let Some(found) = found.filter(|_| !out.host.ends_with(".windowsupdate.com")) {
        out.risk_with(Risk::BinaryApplicationTransfer, found);
    }
    if let Some(first) = bytes.get(..4).filter(|_| facts.text_body) {
        let printable = |b: &u8| b.is_ascii_graphic() || matches!(b, b' ' | b'\t' | b'\r' | b'\n');
        let gzip = first == [0x1f, 0x8b, 0x08, 0x00];
        if !first.iter().all(printable) && !gzip {
            let hex: String = first.iter().map(|b| format!("{b:02X}")).collect();
            out.risk_with(Risk::HttpSuspiciousContent, &format!("Susp content {hex}"));
        }
    }
    java_downloads_java(facts, out);
}

/// nDPI's User-Agent checks.
fn user_agent(ua: &[u8], out: &mut Findings) {
    let shown = || format!("UA {}", String::from_utf8_lossy(ua.get(..48).unwrap_or(ua)));
    // One long word, a fifth or more in capitals: random-looking.
    if ua.len() > 12 && ua.iter().all(u8::is_ascii_alphabetic) {
        let upper = ua.iter().filter(|b| b.is_ascii_uppercase()).count();
        if upper * 5 >= ua.len() {
            out.risk_with(Risk::HttpSuspiciousUserAgent, &shown());
        }
    }
    if ua.starts_with(b"<?") || ua.contains(&b'$') {
        out.risk_with(Risk::HttpSuspiciousUserAgent, &shown());
    }
    let scheme_end = find(ua, b"://").filter(|at| *at > 0);
    if scheme_end.is_some_and(|at| !matches!(ua.get(at - 1), Some(b'p' | b's'))) {
        out.risk_with(Risk::HttpSuspiciousUserAgent, &shown());
    }
    if ua.starts_with(b"jndi:ldap://") {
        out.risk_with(Risk::PossibleExploit, "Suspicious Log4J");
    } else if ua.len() < 4
        || ua.len() > 256
        || ua.starts_with(b"test")
        || ua.contains(&b'{')
        || ua.contains(&b'}')
    {
        out.risk_with(Risk::HttpSuspiciousUserAgent, "Suspicious Log4J");
    }
    if contains(ua, b"+http:")
        || contains(ua, b" http:")
        || contains_ci(ua, b"crawler")
        || contains_ci(ua, b"bot")
    {
        out.risk_with(Risk::HttpCrawlerBot, &shown());
    }
}

/// nDPI's Server checks: Apache before 2.4 and nginx before 1.22 are
/// obsolete; a non-printable server name is suspicious.
fn server_risks(server: &[u8], out: &mut Findings) {
    if server.len() <= 7 {
        return;
    }
    for (prefix, min, name) in [
        (&b"apache/"[..], (2, 4, 0), "Apache"),
        (&b"nginx/"[..], (1, 22, 0), "nginx"),
    ] {
        let Some(rest) = server
            .get(..prefix.len())
            .filter(|p| p.eq_ignore_ascii_case(prefix))
            .and(server.get(prefix.len()..))
        else {
            continue;
        };
        let digits: Vec<u8> = rest
            .iter()
            .copied()
            .take_while(|b| b.is_ascii_digit() || *b == b'.')
            .take(15)
            .collect();
        let mut parts = digits.split(|b| *b == b'.').map(|p| {
            std::str::from_utf8(p)
                .ok()
                .and_then(|s| s.parse::<u32>().ok())
        });
        let version = (parts.next(), parts.next(), parts.next());
        if let (Some(Some(a)), Some(Some(b)), Some(Some(c))) = version {
            if (a, b, c) >= min {
                continue;
            }
            out.risk_with(
                Risk::HttpObsoleteServer,
                &format!(
                    "Obsolete {name} server {}",
                    String::from_utf8_lossy(&digits)
                ),
            );
        }
    }
    if !server.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        out.risk_with(Risk::HttpSuspiciousHeader, "Suspicious Agent");
    }
}

/// nDPI's `ndpi_is_valid_hostname`: letters, digits and `-._:[]` only.
fn valid_host(host: &[u8]) -> bool {
    host.iter()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b':' | b'[' | b']'))
}
