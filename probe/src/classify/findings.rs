//! What the classifiers found about one flow: the protocol, the host name the
//! application is looked up by, the metadata (in the wire record's own
//! messages, so nothing is copied at export) and the risks seen in payload.

use sonde_proto::v1;

use super::{Protocol, Risk, Risks};

/// Longest metadata string kept (host names, URLs, user agents, subjects):
/// a peer cannot make a flow record grow without bound.
pub(crate) const MAX_TEXT: usize = 512;

#[derive(Debug, Default)]
pub(crate) struct Findings {
    /// The master protocol (`TLS` in `TLS.Amazon`); `Unknown` until claimed.
    pub(crate) protocol: Protocol,
    /// A protocol standing in the application's place (`SMBv1` in
    /// `NetBIOS.SMBv1`), when the classifier knows one.
    pub(crate) sub_protocol: Option<Protocol>,
    /// An application the classifier recognised itself (`WhatsAppCall` from a
    /// STUN attribute), by name as in the applications file; overrides the
    /// host and address lookup.
    pub(crate) application: Option<&'static str>,
    /// The name the application is looked up by: TLS/QUIC SNI, HTTP Host,
    /// DNS query name, DHCP host name (nDPI's "Hostname/SNI").
    pub(crate) host: String,
    /// Metadata in the record's messages (`tls`, `dns`, `http`, `ssh`, `extra`).
    /// `protocol`, `application` and `category` are filled in at export.
    pub(crate) l7: v1::L7,
    pub(crate) risks: Risks,
}

impl Findings {
    /// The TLS metadata, created on first use.
    pub(crate) fn tls(&mut self) -> &mut v1::TlsInfo {
        self.l7.tls.get_or_insert_with(Default::default)
    }

    pub(crate) fn dns(&mut self) -> &mut v1::DnsInfo {
        self.l7.dns.get_or_insert_with(Default::default)
    }

    pub(crate) fn http(&mut self) -> &mut v1::HttpInfo {
        self.l7.http.get_or_insert_with(Default::default)
    }

    pub(crate) fn ssh(&mut self) -> &mut v1::SshInfo {
        self.l7.ssh.get_or_insert_with(Default::default)
    }

    /// Sets the host name (first one wins), cleaned by [`text`].
    pub(crate) fn set_host(&mut self, host: &[u8]) {
        if self.host.is_empty() {
            self.host = text(host).to_ascii_lowercase();
        }
    }

    /// Other metadata without a message of its own (`dhcp.hostname`); the
    /// first value of a key wins, at most 32 keys.
    pub(crate) fn extra(&mut self, key: &str, value: &[u8]) {
        if self.l7.extra.len() < 32 && !self.l7.extra.contains_key(key) {
            let value = text(value);
            if !value.is_empty() {
                self.l7.extra.insert(key.to_owned(), value);
            }
        }
    }

    pub(crate) fn risk(&mut self, risk: Risk) {
        self.risks.set(risk);
    }

    /// A risk with a short explanation (cleaned by [`text`]).
    pub(crate) fn risk_with(&mut self, risk: Risk, info: &str) {
        self.risks.set_with(risk, text(info.as_bytes()));
    }
}

/// Untrusted bytes as a bounded, printable string: invalid UTF-8 replaced,
/// control characters dropped, at most [`MAX_TEXT`] bytes.
pub(crate) fn text(bytes: &[u8]) -> String {
    let bytes = bytes.get(..MAX_TEXT.min(bytes.len())).unwrap_or(bytes);
    // The usual case, printable ASCII: one allocation, no char walk. A fold
    // without early exit, so the check is vectorised (`all` stops at the
    // first miss and goes byte by byte; most texts are all printable).
    if bytes
        .iter()
        .fold(true, |ok, b| ok & (0x20..0x7f).contains(b))
    {
        return std::str::from_utf8(bytes.trim_ascii())
            .map(str::to_owned)
            .unwrap_or_default();
    }
    String::from_utf8_lossy(bytes)
        .chars()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_bounded_and_printable() {
        assert_eq!(text(b" a\x00b\r\n"), "ab");
        assert_eq!(text(&[b'x'; 2000]).len(), MAX_TEXT);
        assert_eq!(text(&[0xff, b'a']), "\u{fffd}a");
        assert_eq!(text(b"  plain ascii \t"), "plain ascii");
        assert_eq!(text(b" spaced  out "), "spaced  out");
    }

    #[test]
    fn the_first_host_wins() {
        let mut f = Findings::default();
        f.set_host(b"WWW.Example.com");
        f.set_host(b"other");
        assert_eq!(f.host, "www.example.com");
    }
}
