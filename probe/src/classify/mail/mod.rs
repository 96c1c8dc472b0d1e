//! Clear-text mail and file-transfer control sessions: SMTP (RFC 5321),
//! POP3 (RFC 1939), IMAP (RFC 9051) and FTP (RFC 959), each its own protocol
//! in nDPI's names (`SMTP`, `POP3`, `IMAP`, `FTP_CONTROL`).
//!
//! - The probe reads the first line of either direction (a capture may start
//!   with either end): a server greeting (`220`, `+OK`, `* OK`) or a client
//!   command (`EHLO`, `USER`, `a1 LOGIN`...). A `220` greeting or a `USER`
//!   command is shared by two protocols: the greeting's words, then the ports,
//!   then the next lines decide.
//! - Lines are reassembled per direction ([`Stream`], [`MAX_LINE`]); each
//!   protocol's session ([`smtp`], [`pop3`], [`imap`], [`ftp`]) reads them and
//!   records the user name (never the password), the outcome of the login,
//!   and "Clear-Text Credentials" when a password or SASL PLAIN/LOGIN
//!   exchange crosses in clear.
//! - STARTTLS (`STARTTLS`, `STLS`): once the server agrees, the protocol
//!   becomes its TLS form (SMTPS, POPS, IMAPS, as nDPI names them), the
//!   client's ClientHello goes to the TLS parser (its SNI replaces the
//!   greeting's host name, as in nDPI) and DPI ends.

mod ftp;
mod imap;
mod pop3;
mod sasl;
mod smtp;
mod starttls;

use super::cursor::contains_ci;
use super::stream::Stream;
use super::{Findings, Packet, Parse, Probe, Protocol, Transport};
use sasl::{Sasl, clear_text_user};
#[cfg(test)]
use sasl::{base64, sasl_plain_user};

pub(super) const TRANSPORTS: &[Transport] = &[Transport::Tcp];
/// Set by the parser once it knows which of the four protocols it reads.
pub(super) const PROTOCOL: Protocol = Protocol::Unknown;

/// Longest line buffered while waiting for its end (RFC 5321 §4.5.3.1.6
/// allows 1000 bytes per line; IMAP lines can be longer, and are skipped).
const MAX_LINE: usize = 2048;
/// Lines kept while the protocol is undecided.
const MAX_PENDING: usize = 4;

/// Which protocol a line points to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Guess {
    Smtp,
    Pop3,
    Imap,
    Ftp,
    /// A `220` greeting without a telling word.
    SmtpOrFtp,
    /// A `USER name` command.
    Pop3OrFtp,
}

/// Who sent a line, by its form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Server,
    Client,
}

fn starts_with_ci(bytes: &[u8], prefix: &[u8]) -> bool {
    bytes
        .get(..prefix.len())
        .is_some_and(|b| b.eq_ignore_ascii_case(prefix))
}

/// The first line of a payload, without its line end (`None` when the line
/// does not end in this payload).
/// Greetings and opening commands are short: the probe looks no further.
const MAX_FIRST_LINE: usize = 512;

fn first_line(p: &[u8]) -> Option<&[u8]> {
    let window = p.get(..MAX_FIRST_LINE.min(p.len()))?;
    let end = window.iter().position(|b| *b == b'\n')?;
    let line = p.get(..end)?;
    Some(line.strip_suffix(b"\r").unwrap_or(line))
}

/// IMAP commands a client opens with (RFC 9051 §6).
const IMAP_COMMANDS: &[&[u8]] = &[
    b"CAPABILITY",
    b"LOGIN",
    b"AUTHENTICATE",
    b"STARTTLS",
    b"SELECT",
    b"EXAMINE",
    b"LIST",
    b"LSUB",
    b"NOOP",
    b"ID",
    b"LOGOUT",
    b"ENABLE",
];

/// POP3 commands that only POP3 has (RFC 1939 §5-7, RFC 2449, RFC 2595).
const POP3_COMMANDS: &[&[u8]] = &[b"CAPA", b"STLS", b"APOP ", b"UIDL", b"STAT", b"TOP "];

/// FTP commands that only FTP has (RFC 959 §4.1, RFC 2228, RFC 2428).
const FTP_COMMANDS: &[&[u8]] = &[
    b"SYST",
    b"FEAT",
    b"PASV",
    b"EPSV",
    b"PWD",
    b"CWD ",
    b"TYPE ",
    b"PORT ",
    b"EPRT ",
    b"AUTH TLS",
    b"AUTH SSL",
    b"OPTS ",
];

/// What a line says about the protocol and its sender.
fn classify_line(line: &[u8], pkt: &Packet<'_>) -> Option<(Guess, Side)> {
    use Guess::*;
    if line.len() >= 4
        && line.iter().take(3).all(u8::is_ascii_digit)
        && matches!(line.get(3), Some(b' ' | b'-'))
        && line.starts_with(b"220")
    {
        let guess = if contains_ci(line, b"ftp") {
            Ftp
        } else if contains_ci(line, b"smtp") || contains_ci(line, b"mail") {
            Smtp
        } else if [21, 990].iter().any(|p| pkt.has_port(*p)) {
            Ftp
        } else if [25, 465, 587, 2525].iter().any(|p| pkt.has_port(*p)) {
            Smtp
        } else {
            SmtpOrFtp
        };
        return Some((guess, Side::Server));
    }
    if line.starts_with(b"+OK") {
        return Some((Pop3, Side::Server));
    }
    if line.starts_with(b"* OK") || line.starts_with(b"* PREAUTH") {
        return Some((Imap, Side::Server));
    }
    if starts_with_ci(line, b"EHLO ") || starts_with_ci(line, b"HELO ") {
        return Some((Smtp, Side::Client));
    }
    if starts_with_ci(line, b"USER ") {
        // POP3 and FTP name one user; IRC's USER has four parameters.
        let name = line.get(5..).unwrap_or_default();
        if name.is_empty() || name.contains(&b' ') {
            return None;
        }
        let guess = if pkt.has_port(110) {
            Pop3
        } else if pkt.has_port(21) {
            Ftp
        } else {
            Pop3OrFtp
        };
        return Some((guess, Side::Client));
    }
    if POP3_COMMANDS.iter().any(|c| starts_with_ci(line, c)) {
        return Some((Pop3, Side::Client));
    }
    if FTP_COMMANDS.iter().any(|c| starts_with_ci(line, c)) {
        return Some((Ftp, Side::Client));
    }
    // IMAP: tag SP command (RFC 9051 §2.2.1); a tag is letters and digits.
    let sp = line.iter().position(|b| *b == b' ')?;
    let tag = line.get(..sp)?;
    let command = line.get(sp + 1..)?;
    let command = command.split(|b| *b == b' ').next().unwrap_or_default();
    if !tag.is_empty()
        && tag.len() <= 16
        && tag.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'.')
        && IMAP_COMMANDS
            .iter()
            .any(|c| c.eq_ignore_ascii_case(command))
    {
        return Some((Imap, Side::Client));
    }
    None
}

pub(super) fn probe(pkt: &Packet<'_>) -> Probe {
    // Every greeting and command opens with a letter, a digit, `+` or `*`.
    let opening = pkt.payload.first();
    if !opening.is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'*')) {
        return Probe::NoMatch;
    }
    match first_line(pkt.payload) {
        Some(line) if classify_line(line, pkt).is_some() => Probe::Match,
        Some(_) => Probe::NoMatch,
        // A line cut short: a few bytes may still become a greeting.
        None if pkt.payload.len() < 8 => Probe::Unsure,
        None => Probe::NoMatch,
    }
}

/// What a session makes of one line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Step {
    Continue,
    /// Everything wanted was read.
    Done,
    /// The server agreed to STARTTLS: TLS follows.
    Upgrade,
}

#[derive(Debug)]
enum Session {
    Undecided {
        guess: Guess,
        /// Lines seen before the protocol was known (sender is server, line).
        pending: Vec<(bool, Vec<u8>)>,
    },
    Smtp(smtp::Smtp),
    Pop3(pop3::Pop3),
    Imap(imap::Imap),
    Ftp(ftp::Ftp),
    /// After STARTTLS: the ClientHello is wanted.
    Tls(starttls::Hello),
}

impl Default for Session {
    fn default() -> Self {
        Session::Undecided {
            guess: Guess::SmtpOrFtp,
            pending: Vec::new(),
        }
    }
}

#[derive(Debug)]
pub(super) struct Parser {
    lines: [Stream; 2],
    /// Direction index (0 client, 1 server) of the packets the server sent,
    /// by what they say; `None` until a line tells.
    server_dir: Option<usize>,
    session: Session,
}

impl Default for Parser {
    fn default() -> Self {
        Self {
            lines: [Stream::new(MAX_LINE), Stream::new(MAX_LINE)],
            server_dir: None,
            session: Session::default(),
        }
    }
}

impl Parser {
    pub(super) fn parse(&mut self, pkt: &Packet<'_>, out: &mut Findings) -> Parse {
        if let Session::Tls(hello) = &mut self.session {
            let from_server = self.server_dir.map_or(!pkt.from_client, |d| d == pkt.dir());
            return hello.feed(pkt, from_server, out);
        }
        if self.server_dir.is_none() {
            match first_line(pkt.payload).and_then(|l| classify_line(l, pkt)) {
                Some((guess, side)) => {
                    let dir = pkt.dir();
                    self.server_dir = Some(if side == Side::Server { dir } else { 1 - dir });
                    self.session = Session::Undecided {
                        guess,
                        pending: Vec::new(),
                    };
                    decide(&mut self.session, guess, out);
                }
                None => return Parse::Invalid,
            }
        }
        let from_server = self.server_dir == Some(pkt.dir());
        let Parser { lines, session, .. } = self;
        let Some(stream) = lines.get_mut(pkt.dir()) else {
            return Parse::Skip;
        };
        let fed = stream.feed(pkt.tcp_seq, pkt.payload, |bytes| {
            let mut step = Step::Continue;
            let mut consumed = 0;
            while let Some(end) = bytes
                .get(consumed..)
                .and_then(|b| b.iter().position(|c| *c == b'\n'))
            {
                let raw = bytes.get(consumed..consumed + end).unwrap_or_default();
                let line = raw.strip_suffix(b"\r").unwrap_or(raw);
                consumed += end + 1;
                step = dispatch(session, line, from_server, pkt, out);
                if step != Step::Continue {
                    break;
                }
            }
            (step, consumed)
        });
        match fed {
            Ok(Some(Step::Done)) => Parse::Done,
            Ok(Some(Step::Upgrade)) => {
                self.session = Session::Tls(starttls::Hello::default());
                out.protocol = match out.protocol {
                    Protocol::Smtp => Protocol::Smtps,
                    Protocol::Pop3 => Protocol::Pops,
                    Protocol::Imap => Protocol::Imaps,
                    // FTP's AUTH TLS keeps the FTP_CONTROL name.
                    _ => return Parse::Skip,
                };
                Parse::Incomplete
            }
            Ok(Some(Step::Continue) | None) => Parse::Incomplete,
            // A gap or an overlong line: what follows cannot be read.
            Err(_) if out.protocol == Protocol::Unknown => Parse::Invalid,
            Err(_) => Parse::Skip,
        }
    }
}

/// Starts the session a guess names, when it names one protocol.
fn decide(session: &mut Session, guess: Guess, out: &mut Findings) {
    let (next, protocol) = match guess {
        Guess::Smtp => (Session::Smtp(smtp::Smtp::default()), Protocol::Smtp),
        Guess::Pop3 => (Session::Pop3(pop3::Pop3::default()), Protocol::Pop3),
        Guess::Imap => (Session::Imap(imap::Imap::default()), Protocol::Imap),
        Guess::Ftp => (Session::Ftp(ftp::Ftp::default()), Protocol::Ftp),
        Guess::SmtpOrFtp | Guess::Pop3OrFtp => return,
    };
    out.protocol = protocol;
    *session = next;
}

/// Hands a line to the session, deciding the protocol first if needed.
fn dispatch(
    session: &mut Session,
    line: &[u8],
    from_server: bool,
    pkt: &Packet<'_>,
    out: &mut Findings,
) -> Step {
    match session {
        Session::Smtp(s) => s.line(line, from_server, out),
        Session::Pop3(s) => s.line(line, from_server, out),
        Session::Imap(s) => s.line(line, from_server, out),
        Session::Ftp(s) => s.line(line, from_server, out),
        Session::Tls(_) => Step::Continue,
        Session::Undecided { guess, pending } => {
            let resolved = resolve(*guess, line, from_server, pkt);
            if resolved == *guess {
                if pending.len() < MAX_PENDING {
                    pending.push((
                        from_server,
                        line.get(..MAX_LINE.min(line.len()))
                            .unwrap_or(line)
                            .to_vec(),
                    ));
                }
                return Step::Continue;
            }
            let earlier = std::mem::take(pending);
            decide(session, resolved, out);
            for (server, old) in &earlier {
                let step = dispatch(session, old, *server, pkt, out);
                if step != Step::Continue {
                    return step;
                }
            }
            dispatch(session, line, from_server, pkt, out)
        }
    }
}

/// Narrows an ambiguous guess with one more line.
fn resolve(guess: Guess, line: &[u8], from_server: bool, pkt: &Packet<'_>) -> Guess {
    if let Some((g, _)) = classify_line(line, pkt) {
        match (guess, g) {
            (Guess::SmtpOrFtp, Guess::Smtp | Guess::Ftp)
            | (Guess::Pop3OrFtp, Guess::Pop3 | Guess::Ftp) => return g,
            (Guess::SmtpOrFtp, Guess::Pop3OrFtp) => return Guess::Ftp,
            _ => {}
        }
    }
    if from_server && guess == Guess::Pop3OrFtp {
        // FTP answers USER with 331 (or 230/530), POP3 with +OK or -ERR.
        if line.starts_with(b"-ERR") {
            return Guess::Pop3;
        }
        if line.first().is_some_and(u8::is_ascii_digit) {
            return Guess::Ftp;
        }
    }
    if !from_server && guess == Guess::SmtpOrFtp {
        for c in [
            &b"MAIL FROM"[..],
            b"RCPT TO",
            b"AUTH LOGIN",
            b"AUTH PLAIN",
            b"STARTTLS",
        ] {
            if starts_with_ci(line, c) {
                return Guess::Smtp;
            }
        }
    }
    guess
}

/// The word after a command (`USER name` -> `name`), trimmed.
pub(super) fn argument(line: &[u8], command_len: usize) -> &[u8] {
    line.get(command_len..).unwrap_or_default().trim_ascii()
}

#[cfg(test)]
mod tests;
