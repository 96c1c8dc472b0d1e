//! Placeholder: the ClientHello / ServerHello parser is being written.
//!
//! Interface shared with QUIC (whose CRYPTO frames carry the same handshake
//! messages): [`parse_client_hello`].

use super::super::Findings;
use super::super::cursor::Result;

/// Where a ClientHello was carried: it decides JA4's first letter (`t` for
/// TLS over TCP, `q` for QUIC, `d` for DTLS) and which extensions are
/// expected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Carrier {
    Tcp,
    Quic,
    Dtls,
}

/// Parses one complete ClientHello handshake message, starting at its
/// handshake header (type 1, 24-bit length; RFC 8446 §4.1.2), and records
/// the SNI (also as the flow's host), ALPN, offered versions, JA3 and JA4
/// in `out`.
pub(crate) fn parse_client_hello(
    _msg: &[u8],
    _out: &mut Findings,
    _carrier: Carrier,
) -> Result<()> {
    Ok(())
}
