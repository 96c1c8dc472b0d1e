//! Telnet (RFC 854) and IRC (RFC 2812), two clear-text TCP protocols.
//!
//! - Telnet: the first bytes are option negotiation (IAC, then DO, DONT, WILL,
//!   WONT or SB, and an option; RFC 854 §"Telnet command structure"). After
//!   the server's `login:` prompt, the characters the client types up to
//!   the end of line are the user name ("Clear-Text Credentials", as nDPI).
//! - IRC: a client registration command (`NICK`, `USER` with its four
//!   parameters, `CAP LS`) or a server line (`:prefix NOTICE`, a three-digit
//!   numeric reply). `USER` names the user (nDPI's "Found IRC username");
//!   the welcome reply (001) ends DPI.

use super::findings::text;
use super::stream::Stream;
use super::{Findings, Packet, Parse, Probe, Protocol, Risk, Transport};

pub(super) const TRANSPORTS: &[Transport] = &[Transport::Tcp];
/// Set by the parser: Telnet or IRC.
pub(super) const PROTOCOL: Protocol = Protocol::Unknown;

/// Telnet commands (RFC 854): interpret as command, and the option verbs.
const IAC: u8 = 255;
const SB: u8 = 250;
const SE: u8 = 240;
const WILL_WONT_DO_DONT: std::ops::RangeInclusive<u8> = 251..=254;

/// Longest IRC line buffered (RFC 2812 §2.3: 512 bytes with CRLF).
const MAX_IRC_LINE: usize = 1024;
/// Longest Telnet user name kept.
const MAX_USER: usize = 32;

fn starts_with_ci(bytes: &[u8], prefix: &[u8]) -> bool {
    bytes
        .get(..prefix.len())
        .is_some_and(|b| b.eq_ignore_ascii_case(prefix))
}

/// Option negotiation from the first byte: IAC, a verb, an option.
fn telnet_start(p: &[u8]) -> Option<bool> {
    let (&first, &verb) = (p.first()?, p.get(1)?);
    Some(first == IAC && (WILL_WONT_DO_DONT.contains(&verb) || verb == SB) && p.len() >= 3)
}

/// What an IRC line says: `Some(true)` a sure IRC line, `Some(false)` maybe.
fn irc_line(line: &[u8]) -> Option<bool> {
    if let Some(rest) = line.strip_prefix(b":") {
        // :prefix SP command (RFC 2812 §2.3.1)
        let mut words = rest.split(|b| *b == b' ');
        let _prefix = words.next()?;
        let command = words.next()?;
        let numeric = command.len() == 3 && command.iter().all(u8::is_ascii_digit);
        let known = [
            &b"NOTICE"[..],
            b"PRIVMSG",
            b"JOIN",
            b"MODE",
            b"PING",
            b"CAP",
        ];
        return (numeric || known.iter().any(|k| k.eq_ignore_ascii_case(command))).then_some(true);
    }
    if starts_with_ci(line, b"NICK ")
        || starts_with_ci(line, b"CAP LS")
        || starts_with_ci(line, b"CAP REQ")
    {
        return Some(true);
    }
    if starts_with_ci(line, b"USER ") {
        // USER user mode unused :realname (§3.1.3)
        let params = line.get(5..).unwrap_or_default();
        let trailing = params.windows(2).position(|w| w == b" :")?;
        let words = params
            .get(..trailing)
            .unwrap_or_default()
            .split(|b| *b == b' ')
            .filter(|w| !w.is_empty())
            .count();
        return (words == 3).then_some(true);
    }
    if starts_with_ci(line, b"PASS ") || starts_with_ci(line, b"PING :") {
        return Some(false);
    }
    None
}

/// A registration command whose line may continue in the next segment.
fn irc_opening(p: &[u8]) -> bool {
    (starts_with_ci(p, b"NICK ") && p.len() > 5)
        || starts_with_ci(p, b"CAP LS")
        || starts_with_ci(p, b"CAP REQ")
}

fn first_line(p: &[u8]) -> Option<&[u8]> {
    let window = p.get(..MAX_IRC_LINE.min(p.len()))?;
    let end = window.iter().position(|b| *b == b'\n')?;
    let line = p.get(..end)?;
    Some(line.strip_suffix(b"\r").unwrap_or(line))
}

pub(super) fn probe(pkt: &Packet<'_>) -> Probe {
    let p = pkt.payload;
    if !p
        .first()
        .is_some_and(|b| *b == IAC || *b == b':' || b.is_ascii_alphabetic())
    {
        return Probe::NoMatch;
    }
    match telnet_start(p) {
        Some(true) => return Probe::Match,
        None if p.first() == Some(&IAC) => return Probe::Unsure,
        _ => {}
    }
    match first_line(p).map(irc_line) {
        Some(Some(true)) => Probe::Match,
        Some(Some(false)) => Probe::Unsure,
        Some(None) => Probe::NoMatch,
        None if irc_opening(p) => Probe::Match,
        None if p.len() < 8 => Probe::Unsure,
        None => Probe::NoMatch,
    }
}

#[derive(Debug, Default)]
pub(super) enum Parser {
    #[default]
    Start,
    Telnet(Telnet),
    Irc(Irc),
}

impl Parser {
    pub(super) fn parse(&mut self, pkt: &Packet<'_>, out: &mut Findings) -> Parse {
        if let Parser::Start = self {
            if telnet_start(pkt.payload) == Some(true) {
                out.protocol = Protocol::Telnet;
                *self = Parser::Telnet(Telnet::default());
            } else if first_line(pkt.payload)
                .map_or(irc_opening(pkt.payload), |l| irc_line(l) == Some(true))
            {
                out.protocol = Protocol::Irc;
                *self = Parser::Irc(Irc::default());
            } else {
                return Parse::Invalid;
            }
        }
        match self {
            Parser::Start => Parse::Invalid,
            Parser::Telnet(t) => t.packet(pkt, out),
            Parser::Irc(i) => i.packet(pkt, out),
        }
    }
}

/// Telnet: waiting for the login prompt, then reading the typed user name.
#[derive(Debug, Default)]
pub(super) struct Telnet {
    prompted: bool,
    user: Vec<u8>,
}

/// The data bytes of a Telnet segment, without IAC sequences (RFC 854; a
/// doubled IAC is a data byte 255).
fn telnet_data(p: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(p.len());
    let mut i = 0;
    let mut in_sb = false;
    while let Some(&b) = p.get(i) {
        if b == IAC {
            match p.get(i + 1) {
                Some(&IAC) if !in_sb => out.push(IAC),
                Some(&SB) => in_sb = true,
                Some(&SE) => in_sb = false,
                Some(v) if WILL_WONT_DO_DONT.contains(v) => i += 1,
                _ => {}
            }
            i += 2;
            continue;
        }
        if !in_sb {
            out.push(b);
        }
        i += 1;
    }
    out
}

impl Telnet {
    fn packet(&mut self, pkt: &Packet<'_>, out: &mut Findings) -> Parse {
        let data = telnet_data(pkt.payload);
        if !pkt.from_client {
            let lower = data.to_ascii_lowercase();
            if super::cursor::find(&lower, b"login:").is_some() {
                self.prompted = true;
                self.user.clear();
            }
            return Parse::Incomplete;
        }
        if !self.prompted {
            return Parse::Incomplete;
        }
        for b in data {
            if b == b'\r' || b == b'\n' || b == 0 {
                if self.user.is_empty() {
                    continue;
                }
                out.extra("telnet.user", &self.user);
                let shown = text(&self.user);
                out.risk_with(
                    Risk::ClearTextCredentials,
                    &format!("Found Telnet username ({shown})"),
                );
                return Parse::Done;
            }
            if self.user.len() < MAX_USER {
                self.user.push(if b.is_ascii_graphic() { b } else { b'?' });
            }
        }
        Parse::Incomplete
    }
}

/// IRC: registration lines in both directions until the welcome reply.
#[derive(Debug)]
pub(super) struct Irc {
    lines: [Stream; 2],
}

impl Default for Irc {
    fn default() -> Self {
        Self {
            lines: [Stream::new(MAX_IRC_LINE), Stream::new(MAX_IRC_LINE)],
        }
    }
}

impl Irc {
    fn packet(&mut self, pkt: &Packet<'_>, out: &mut Findings) -> Parse {
        let Some(stream) = self.lines.get_mut(pkt.dir()) else {
            return Parse::Skip;
        };
        let fed = stream.feed(pkt.tcp_seq, pkt.payload, |bytes| {
            let mut consumed = 0;
            let mut done = false;
            while let Some(end) = bytes
                .get(consumed..)
                .and_then(|b| b.iter().position(|c| *c == b'\n'))
            {
                let raw = bytes.get(consumed..consumed + end).unwrap_or_default();
                consumed += end + 1;
                done |= irc_read(raw.strip_suffix(b"\r").unwrap_or(raw), out);
            }
            (done, consumed)
        });
        match fed {
            Ok(Some(true)) => Parse::Done,
            Ok(_) => Parse::Incomplete,
            Err(_) => Parse::Skip,
        }
    }
}

/// Reads one IRC line; true at the welcome reply (RFC 2812 §5.1, 001).
fn irc_read(line: &[u8], out: &mut Findings) -> bool {
    if let Some(rest) = line.strip_prefix(b":") {
        let mut words = rest.split(|b| *b == b' ');
        let _prefix = words.next();
        return words.next() == Some(b"001");
    }
    let param = |len: usize| {
        let rest = line.get(len..).unwrap_or_default();
        rest.split(|b| *b == b' ').next().unwrap_or_default()
    };
    if starts_with_ci(line, b"NICK ") {
        out.extra("irc.nick", param(5));
    } else if starts_with_ci(line, b"USER ") {
        let user = param(5);
        out.extra("irc.user", user);
        let shown = text(user.get(..MAX_USER.min(user.len())).unwrap_or(user));
        out.risk_with(
            Risk::ClearTextCredentials,
            &format!("Found IRC username ({shown})"),
        );
    }
    false
}

#[cfg(test)]
mod tests;
