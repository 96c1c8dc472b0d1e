//! A POP3 session (RFC 1939): USER/PASS (clear-text), APOP (a digest: the
//! user only), AUTH (RFC 5034, PLAIN and LOGIN in clear), the login's
//! outcome (`+OK` or `-ERR`), and STLS (RFC 2595).

use super::super::Findings;
use super::{Sasl, Step, argument, clear_text_user, starts_with_ci};

#[derive(Debug, Default)]
pub(super) struct Pop3 {
    sasl: Sasl,
    /// A login (PASS, APOP or AUTH) awaits the server's answer.
    login: bool,
    stls: bool,
}

const USER_KEY: &str = "pop3.user";

impl Pop3 {
    pub(super) fn line(&mut self, line: &[u8], from_server: bool, out: &mut Findings) -> Step {
        if from_server {
            self.reply(line, out)
        } else {
            self.command(line, out)
        }
    }

    /// RFC 1939 §3: `+OK` or `-ERR`; AUTH's challenges start with `+ `.
    fn reply(&mut self, line: &[u8], out: &mut Findings) -> Step {
        let ok = line.starts_with(b"+OK");
        let err = line.starts_with(b"-ERR");
        if self.stls && (ok || err) {
            self.stls = false;
            if ok {
                return Step::Upgrade;
            }
        }
        if self.login && (ok || err) && self.sasl == Sasl::None {
            self.login = false;
            out.extra("pop3.auth", if ok { b"succeeded" } else { b"failed" });
            return Step::Done;
        }
        Step::Continue
    }

    fn command(&mut self, line: &[u8], out: &mut Findings) -> Step {
        if self.sasl != Sasl::None {
            self.sasl = self.sasl.next(line, out, USER_KEY, "");
            return Step::Continue;
        }
        if starts_with_ci(line, b"USER ") {
            clear_text_user(out, USER_KEY, "", argument(line, 5));
        } else if starts_with_ci(line, b"PASS ") {
            self.login = true;
        } else if starts_with_ci(line, b"APOP ") {
            let args = argument(line, 5);
            let user = args.split(|b| *b == b' ').next().unwrap_or_default();
            out.extra(USER_KEY, user);
            self.login = true;
        } else if starts_with_ci(line, b"AUTH ") {
            // AUTH with a mechanism starts a login (a bare AUTH only lists
            // the mechanisms, RFC 5034 §4).
            self.sasl = Sasl::start(argument(line, 5), out, USER_KEY, "");
            self.login = true;
        } else if starts_with_ci(line, b"STLS") {
            self.stls = true;
        } else if starts_with_ci(line, b"QUIT") {
            return Step::Done;
        }
        Step::Continue
    }
}
