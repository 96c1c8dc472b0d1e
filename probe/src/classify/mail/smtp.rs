//! An SMTP session (RFC 5321): the greeting's host name (as nDPI takes it),
//! HELO/EHLO, AUTH (RFC 4954, PLAIN and LOGIN carry the credentials in
//! clear), MAIL FROM / RCPT TO, and STARTTLS (RFC 3207).

use super::super::Findings;
use super::{Sasl, Step, argument, starts_with_ci};

#[derive(Debug, Default)]
pub(super) struct Smtp {
    greeted: bool,
    sasl: Sasl,
    /// An AUTH exchange is under way (its outcome is the next 235 or 535).
    authenticating: bool,
    starttls: bool,
}

const USER_KEY: &str = "smtp.user";

/// The host name of a `220` greeting, as nDPI reads it: the word after the
/// code, when more text follows it and it is not a comment.
fn greeting_host(line: &[u8]) -> Option<&[u8]> {
    let text = line.get(4..)?;
    if text.first() == Some(&b'(') {
        return None;
    }
    let end = text.iter().position(|b| *b == b' ')?;
    let host = text.get(..end)?;
    let rest = text.get(end + 1..)?;
    (!host.is_empty() && !rest.is_empty()).then_some(host)
}

impl Smtp {
    pub(super) fn line(&mut self, line: &[u8], from_server: bool, out: &mut Findings) -> Step {
        if from_server {
            self.reply(line, out)
        } else {
            self.command(line, out)
        }
    }

    /// RFC 5321 §4.2: three digits, then SP (last line) or `-`.
    fn reply(&mut self, line: &[u8], out: &mut Findings) -> Step {
        let code = line.get(..3).unwrap_or_default();
        let last = line.get(3) != Some(&b'-');
        match code {
            b"220" if self.starttls && last => return Step::Upgrade,
            b"220" if !self.greeted => {
                self.greeted = true;
                if let Some(host) = greeting_host(line) {
                    out.set_host(host);
                    out.extra("smtp.host", host);
                }
            }
            b"235" if self.authenticating => {
                self.authenticating = false;
                out.extra("smtp.auth", b"succeeded");
            }
            b"535" | b"534" | b"454" if self.authenticating => {
                self.authenticating = false;
                self.sasl = Sasl::None;
                out.extra("smtp.auth", b"failed");
            }
            _ => {}
        }
        if self.starttls && code != b"220" && last {
            self.starttls = false; // Refused.
        }
        Step::Continue
    }

    fn command(&mut self, line: &[u8], out: &mut Findings) -> Step {
        if self.sasl != Sasl::None {
            self.sasl = self.sasl.next(line, out, USER_KEY, "SMTP ");
            return Step::Continue;
        }
        if starts_with_ci(line, b"EHLO ") || starts_with_ci(line, b"HELO ") {
            out.extra("smtp.helo", argument(line, 5));
        } else if starts_with_ci(line, b"AUTH ") {
            self.authenticating = true;
            self.sasl = Sasl::start(argument(line, 5), out, USER_KEY, "SMTP ");
        } else if starts_with_ci(line, b"MAIL FROM:") {
            out.extra("smtp.mail_from", argument(line, 10));
        } else if starts_with_ci(line, b"RCPT TO:") {
            out.extra("smtp.rcpt_to", argument(line, 8));
        } else if starts_with_ci(line, b"DATA") || starts_with_ci(line, b"BDAT ") {
            // The message follows: its lines are not commands.
            return Step::Done;
        } else if starts_with_ci(line, b"STARTTLS") {
            self.starttls = true;
        } else if starts_with_ci(line, b"QUIT") {
            return Step::Done;
        }
        Step::Continue
    }
}
