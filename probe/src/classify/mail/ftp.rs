//! An FTP control session (RFC 959): USER/PASS in clear, the login's
//! outcome (230, or 530 "Not logged in", which nDPI shows as
//! `[Auth Failed]`), and AUTH TLS (RFC 4217), after which nothing is
//! readable.

use super::super::Findings;
use super::{Step, argument, clear_text_user, starts_with_ci};

#[derive(Debug, Default)]
pub(super) struct Ftp {
    /// USER was sent: the login's outcome is pending.
    login: bool,
    auth_tls: bool,
}

const USER_KEY: &str = "ftp.user";

impl Ftp {
    pub(super) fn line(&mut self, line: &[u8], from_server: bool, out: &mut Findings) -> Step {
        if from_server {
            // RFC 959 §4.2: three digits, then SP (last line) or `-`.
            let code = line.get(..3).unwrap_or_default();
            match code {
                b"234" if self.auth_tls => return Step::Upgrade,
                b"230" if self.login => {
                    out.extra("ftp.auth", b"succeeded");
                    return Step::Done;
                }
                b"530" if self.login => {
                    self.login = false;
                    out.extra("ftp.auth", b"failed");
                }
                _ => {}
            }
            return Step::Continue;
        }
        if starts_with_ci(line, b"USER ") {
            clear_text_user(out, USER_KEY, "FTP ", argument(line, 5));
            self.login = true;
        } else if starts_with_ci(line, b"PASS") {
            self.login = true;
        } else if starts_with_ci(line, b"AUTH TLS") || starts_with_ci(line, b"AUTH SSL") {
            self.auth_tls = true;
        } else if starts_with_ci(line, b"QUIT") {
            return Step::Done;
        }
        Step::Continue
    }
}
