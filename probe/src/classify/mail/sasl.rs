//! Credentials in clear: the user names of USER and LOGIN commands and of
//! SASL PLAIN and LOGIN exchanges (base64, RFC 4648), recorded with nDPI's
//! "Clear-Text Credentials" risk. Passwords are never kept.

use super::super::findings::text;
use super::super::{Findings, Risk};

/// Records a user name sent in clear and raises "Clear-Text Credentials"
/// with nDPI's explanation (`Found FTP username (x)`).
pub(super) fn clear_text_user(out: &mut Findings, key: &str, label: &str, user: &[u8]) {
    out.extra(key, user);
    let shown = text(user.get(..64.min(user.len())).unwrap_or(user));
    out.risk_with(
        Risk::ClearTextCredentials,
        &format!("Found {label}username ({shown})"),
    );
}

/// A standard base64 decoding (RFC 4648 §4) of at most 512 bytes of input;
/// `None` if the text is not base64.
pub(super) fn base64(text: &[u8]) -> Option<Vec<u8>> {
    let text = text.trim_ascii();
    if text.len() > 512 || text.len() % 4 != 0 {
        return None;
    }
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    for chunk in text.chunks(4) {
        let pad = chunk.iter().rev().take_while(|c| **c == b'=').count();
        if pad > 2 {
            return None;
        }
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            let v = if i >= 4 - pad { 0 } else { value(*c)? };
            n = n << 6 | v;
        }
        let bytes = n.to_be_bytes();
        out.extend_from_slice(bytes.get(1..4 - pad).unwrap_or_default());
    }
    Some(out)
}

/// The user of a SASL PLAIN message (RFC 4616 §2: authzid NUL authcid NUL
/// passwd): the authentication identity, else the authorization identity.
pub(super) fn sasl_plain_user(decoded: &[u8]) -> Option<&[u8]> {
    let mut parts = decoded.split(|b| *b == 0);
    let authzid = parts.next()?;
    let authcid = parts.next()?;
    parts.next()?;
    Some(if authcid.is_empty() { authzid } else { authcid })
}

/// SASL state shared by SMTP, POP3 and IMAP (RFC 4954, RFC 5034, RFC 9051
/// §6.2.2): which client line carries what.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum Sasl {
    #[default]
    None,
    /// AUTH PLAIN without an initial response: the next line is it.
    Plain,
    /// AUTH LOGIN: the next line is the user name, then the password.
    LoginUser,
    LoginPassword,
}

impl Sasl {
    /// The mechanism named by an AUTH command's arguments, with its initial
    /// response if any; records the user when the response names one.
    pub(super) fn start(args: &[u8], out: &mut Findings, key: &str, label: &str) -> Sasl {
        let mut words = args.split(|b| *b == b' ').filter(|w| !w.is_empty());
        let mechanism = words.next().unwrap_or_default();
        let initial = words.next().filter(|w| *w != b"=");
        if mechanism.eq_ignore_ascii_case(b"PLAIN") {
            match initial {
                Some(ir) => {
                    Sasl::Plain.next(ir, out, key, label);
                    Sasl::None
                }
                None => Sasl::Plain,
            }
        } else if mechanism.eq_ignore_ascii_case(b"LOGIN") {
            match initial {
                Some(ir) => Sasl::LoginUser.next(ir, out, key, label),
                None => Sasl::LoginUser,
            }
        } else {
            Sasl::None
        }
    }

    /// Reads a client line of the exchange; returns the state after it.
    pub(super) fn next(self, line: &[u8], out: &mut Findings, key: &str, label: &str) -> Sasl {
        if line == b"*" {
            return Sasl::None; // RFC 4954 §4: the client cancels.
        }
        match self {
            Sasl::None => Sasl::None,
            Sasl::Plain => {
                if let Some(user) = base64(line).as_deref().and_then(sasl_plain_user) {
                    clear_text_user(out, key, label, user);
                }
                Sasl::None
            }
            Sasl::LoginUser => {
                if let Some(user) = base64(line) {
                    clear_text_user(out, key, label, &user);
                }
                Sasl::LoginPassword
            }
            Sasl::LoginPassword => Sasl::None,
        }
    }
}
