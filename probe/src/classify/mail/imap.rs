//! An IMAP session (RFC 9051): LOGIN (clear-text user and password),
//! AUTHENTICATE PLAIN/LOGIN (§6.2.2), the tagged outcome (`OK` or `NO`,
//! §7.1), and STARTTLS (§6.2.1).

use super::super::Findings;
use super::{Sasl, Step, clear_text_user};

#[derive(Debug, Default)]
pub(super) struct Imap {
    sasl: Sasl,
    /// Tag of the LOGIN or AUTHENTICATE awaiting its outcome.
    login_tag: Option<Vec<u8>>,
    /// Tag of the STARTTLS awaiting its outcome.
    starttls_tag: Option<Vec<u8>>,
}

const USER_KEY: &str = "imap.user";
const MAX_TAG: usize = 32;

/// An IMAP astring (§4.3): an atom or a quoted string; literals (`{n}`) are
/// not read.
fn astring(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    if let Some(quoted) = bytes.strip_prefix(b"\"") {
        let end = quoted.iter().position(|b| *b == b'"')?;
        return Some((
            quoted.get(..end)?,
            quoted.get(end + 1..)?.trim_ascii_start(),
        ));
    }
    if bytes.first() == Some(&b'{') {
        return None;
    }
    let end = bytes.iter().position(|b| *b == b' ').unwrap_or(bytes.len());
    Some((bytes.get(..end)?, bytes.get(end..)?.trim_ascii_start()))
}

impl Imap {
    pub(super) fn line(&mut self, line: &[u8], from_server: bool, out: &mut Findings) -> Step {
        if from_server {
            return self.reply(line, out);
        }
        if self.sasl != Sasl::None {
            self.sasl = self.sasl.next(line, out, USER_KEY, "IMAP ");
            return Step::Continue;
        }
        let mut words = line.splitn(3, |b| *b == b' ');
        let (Some(tag), Some(command)) = (words.next(), words.next()) else {
            return Step::Continue;
        };
        let args = words.next().unwrap_or_default();
        let tag = tag.get(..MAX_TAG.min(tag.len())).unwrap_or(tag).to_vec();
        if command.eq_ignore_ascii_case(b"LOGIN") {
            if let Some((user, _password)) = astring(args) {
                clear_text_user(out, USER_KEY, "IMAP ", user);
            }
            self.login_tag = Some(tag);
        } else if command.eq_ignore_ascii_case(b"AUTHENTICATE") {
            self.sasl = Sasl::start(args, out, USER_KEY, "IMAP ");
            self.login_tag = Some(tag);
        } else if command.eq_ignore_ascii_case(b"STARTTLS") {
            self.starttls_tag = Some(tag);
        } else if command.eq_ignore_ascii_case(b"LOGOUT") {
            return Step::Done;
        }
        Step::Continue
    }

    /// Tagged responses (§7.1): `tag OK|NO|BAD text`.
    fn reply(&mut self, line: &[u8], out: &mut Findings) -> Step {
        let mut words = line.splitn(3, |b| *b == b' ');
        let (Some(tag), Some(status)) = (words.next(), words.next()) else {
            return Step::Continue;
        };
        let ok = status.eq_ignore_ascii_case(b"OK");
        let failed = status.eq_ignore_ascii_case(b"NO") || status.eq_ignore_ascii_case(b"BAD");
        if self.starttls_tag.as_deref() == Some(tag) && (ok || failed) {
            self.starttls_tag = None;
            if ok {
                return Step::Upgrade;
            }
        }
        if self.login_tag.as_deref() == Some(tag) && (ok || failed) {
            self.login_tag = None;
            self.sasl = Sasl::None;
            out.extra("imap.auth", if ok { b"succeeded" } else { b"failed" });
            return Step::Done;
        }
        Step::Continue
    }
}
