//! Risks of a request target, as nDPI raises them: its path checks (PHP
//! code, web shells, dot files), Log4Shell lookups, then each percent-decoded
//! query value, then `..` (directory traversal).
//!
//! nDPI checks query values with libinjection; this module applies a smaller,
//! principled pattern check instead: markup and script URLs (XSS), SQL
//! continuing after a closing quote, UNION SELECT, tautologies and SQL
//! functions (SQL injection), shell commands chained by `;`, `|`, `&&`, `$(`
//! or backquotes (RCE).

use std::sync::LazyLock;

use memchr::memmem::Finder;

use super::super::cursor::{contains_ci, find};
use super::super::{Findings, Risk};

/// Longest URL examined (bytes, before decoding).
const MAX_URL: usize = 4096;
/// Query parameters examined per URL.
const MAX_PARAMS: usize = 32;

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    find(hay, needle).is_some()
}

/// Searchers for a fixed pattern list, built once: every query value is
/// checked against a few dozen patterns, and a one-off search builds its
/// searcher each time.
struct Patterns(LazyLock<Vec<Finder<'static>>>);

macro_rules! patterns {
    ($($p:literal),+ $(,)?) => {
        Patterns(LazyLock::new(|| vec![$(Finder::new($p)),+]))
    };
}

impl Patterns {
    fn any_in(&self, hay: &[u8]) -> bool {
        self.0.iter().any(|f| f.find(hay).is_some())
    }
}

/// Risks of the request target: nDPI's path checks, then each decoded query
/// value (XSS, SQL injection, RCE), then `..` (directory traversal).
pub(super) fn check(target: &[u8], out: &mut Findings) {
    let target = target.get(..MAX_URL.min(target.len())).unwrap_or(target);
    // The path of an absolute-form target (a proxy request).
    let absolute = if target.starts_with(b"/") {
        None
    } else {
        find(target, b"://")
    };
    let path = match absolute {
        Some(at) => {
            let after = target.get(at + 3..).unwrap_or_default();
            after
                .iter()
                .position(|b| *b == b'/')
                .and_then(|p| after.get(p..))
                .unwrap_or_default()
        }
        None => target,
    };
    if contains(path, b"<php>") {
        out.risk_with(Risk::UrlPossibleRceInjection, "PHP code in URL");
    } else if path.starts_with(b"/shell?") {
        out.risk_with(Risk::UrlPossibleRceInjection, "Possible WebShell detected");
    } else if path.starts_with(b"/.") && !path.starts_with(b"/.well-known/") {
        out.risk_with(Risk::PossibleExploit, "URL starting with dot");
    }
    // A `$` after decoding was a `$` or an escape before: most paths have
    // neither and need no decoded copy.
    let may_hide = path.iter().any(|b| matches!(b, b'$' | b'%'));
    if may_hide && contains_ci(&decode(path, false), b"${jndi:") {
        out.risk_with(Risk::PossibleExploit, "Suspicious Log4J");
    }
    let mut found = None;
    if let Some(q) = path.iter().position(|b| *b == b'?') {
        let query = path.get(q + 1..).unwrap_or_default();
        for param in query.split(|b| *b == b'&').take(MAX_PARAMS) {
            let Some(eq) = param.iter().position(|b| *b == b'=') else {
                break;
            };
            let value = decode(param.get(eq + 1..).unwrap_or_default(), true).to_ascii_lowercase();
            found = if xss(&value) {
                Some((Risk::UrlPossibleXss, "XSS"))
            } else if sql_injection(&value) {
                Some((Risk::UrlPossibleSqlInjection, "SQL injection"))
            } else if rce(&value) {
                Some((Risk::UrlPossibleRceInjection, "RCE injection"))
            } else {
                None
            };
            if found.is_some() {
                break;
            }
        }
    }
    match found {
        Some((risk, info)) => out.risk_with(risk, info),
        None if contains(target, b"..") => {
            out.risk_with(Risk::HttpSuspiciousUrl, "Directory traversal");
        }
        None => {}
    }
}

/// Percent-decoding (RFC 3986 §2.1); `+` is a space in a query
/// (application/x-www-form-urlencoded). Malformed escapes stay as they are.
pub(super) fn decode(bytes: &[u8], plus_is_space: bool) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => match (
                bytes.get(i + 1).and_then(|h| hex(*h)),
                bytes.get(i + 2).and_then(|l| hex(*l)),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            _ => out.push(b),
        }
        i += 1;
    }
    out
}

/// Markup or script where a value belongs.
fn xss(v: &[u8]) -> bool {
    static PATTERNS: Patterns = patterns![
        b"<script",
        b"</script",
        b"javascript:",
        b"vbscript:",
        b"onerror=",
        b"onload=",
        b"onmouseover=",
        b"onfocus=",
        b"<img",
        b"<svg",
        b"<iframe",
        b"<body",
        b"<embed",
        b"<object",
        b"document.cookie",
        b"alert(",
        b"data:text/html",
    ];
    PATTERNS.any_in(v)
}

/// Words of SQL that continue a statement.
const SQL_CONTINUATIONS: &[&[u8]] = &[
    b"and ",
    b"or ",
    b"union",
    b"order by",
    b"group by",
    b"having",
    b"select",
    b";",
    b"--",
    b"#",
    b"/*",
    b"||",
    b"&&",
    b"waitfor",
];

/// SQL injected into a value: code after a closing quote, UNION SELECT,
/// tautologies, SQL functions and catalogues.
fn sql_injection(v: &[u8]) -> bool {
    static PATTERNS: Patterns = patterns![
        b"information_schema",
        b"@@version",
        b"sleep(",
        b"benchmark(",
        b"pg_sleep(",
        b"waitfor delay",
        b"load_file(",
        b"into outfile",
        b"xp_cmdshell",
        b"sysobjects",
    ];
    if PATTERNS.any_in(v) {
        return true;
    }
    let union = find(v, b"union");
    if union.is_some_and(|u| v.get(u + 5..).is_some_and(|rest| contains(rest, b"select"))) {
        return true;
    }
    // A quote closing the value, then more SQL.
    for (i, b) in v.iter().enumerate() {
        if matches!(b, b'\'' | b'"') {
            let after = v.get(i + 1..).unwrap_or_default();
            let after = after
                .get(
                    after
                        .iter()
                        .take_while(|c| matches!(c, b' ' | b')'))
                        .count()..,
                )
                .unwrap_or_default();
            if SQL_CONTINUATIONS.iter().any(|k| after.starts_with(k)) {
                return true;
            }
        }
    }
    tautology(v)
}

/// `or 1=1`, `and 'a'='a'` and the like.
fn tautology(v: &[u8]) -> bool {
    for kw in [&b" or "[..], b" and "] {
        let mut from = 0;
        while let Some(at) = v.get(from..).and_then(|s| find(s, kw)) {
            let rest = v.get(from + at + kw.len()..).unwrap_or_default();
            let operand = rest
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'\'' | b'"'))
                .count();
            if operand > 0
                && rest
                    .get(operand..)
                    .is_some_and(|r| r.trim_ascii_start().starts_with(b"="))
            {
                return true;
            }
            from += at + kw.len();
        }
    }
    false
}

/// Shell commands chained into a value.
fn rce(v: &[u8]) -> bool {
    static PATHS: Patterns = patterns![
        b"/etc/passwd",
        b"/etc/shadow",
        b"/bin/sh",
        b"/bin/bash",
        b"cmd.exe",
        b"powershell",
    ];
    const COMMANDS: &[&[u8]] = &[
        b"cat",
        b"ls",
        b"id",
        b"whoami",
        b"uname",
        b"wget",
        b"curl",
        b"nc",
        b"bash",
        b"sh",
        b"python",
        b"perl",
        b"rm",
        b"chmod",
        b"echo",
        b"ping",
        b"nslookup",
        b"ifconfig",
        b"net user",
    ];
    if PATHS.any_in(v) {
        return true;
    }
    for sep in [&b";"[..], b"|", b"&&", b"$(", b"`"] {
        let mut from = 0;
        while let Some(at) = v.get(from..).and_then(|s| find(s, sep)) {
            let rest = v
                .get(from + at + sep.len()..)
                .unwrap_or_default()
                .trim_ascii_start();
            if COMMANDS.iter().any(|c| {
                rest.starts_with(c) && rest.get(c.len()).is_none_or(|n| !n.is_ascii_alphanumeric())
            }) {
                return true;
            }
            from += at + sep.len();
        }
    }
    false
}
