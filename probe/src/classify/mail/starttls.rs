//! After STARTTLS (RFC 3207, RFC 2595): the client's first TLS record is
//! reassembled and its ClientHello handed to the TLS parser, which records
//! the SNI (as the flow's host, replacing the greeting's name like nDPI),
//! JA3 and JA4. Then DPI ends: the rest is encrypted.

use super::super::cursor::Cursor;
use super::super::stream::Stream;
use super::super::tls::hello::{Carrier, parse_client_hello};
use super::super::{Findings, Packet, Parse};

/// Longest first record buffered (RFC 8446 §5.1: 2^14 plus the header).
const MAX_RECORD: usize = 16 * 1024 + 5;
/// Client packets read after the upgrade before giving up.
const MAX_PACKETS: u8 = 4;

#[derive(Debug)]
pub(super) struct Hello {
    stream: Stream,
    packets: u8,
}

impl Default for Hello {
    fn default() -> Self {
        Self {
            stream: Stream::new(MAX_RECORD),
            packets: 0,
        }
    }
}

/// What the buffered client bytes hold.
enum Record<'a> {
    /// The record is not complete yet.
    Partial,
    /// A handshake record starting with a whole ClientHello message.
    ClientHello(&'a [u8]),
    /// Something else: nothing to read.
    Other,
}

/// RFC 8446 §5.1 record header, §4 handshake header (type 1 ClientHello).
fn record(bytes: &[u8]) -> (Record<'_>, usize) {
    let mut c = Cursor::new(bytes);
    let (Ok(kind), Ok(_version), Ok(len)) = (c.u8(), c.u16(), c.u16()) else {
        return (Record::Partial, 0);
    };
    if kind != 22 {
        return (Record::Other, bytes.len());
    }
    let Ok(mut fragment) = c.sub(usize::from(len)) else {
        return (Record::Partial, 0);
    };
    let message = fragment.peek_rest();
    let (Ok(msg_type), Ok(msg_len)) = (fragment.u8(), fragment.u24()) else {
        return (Record::Other, bytes.len());
    };
    match message.get(..4 + msg_len as usize) {
        Some(hello) if msg_type == 1 => (Record::ClientHello(hello), bytes.len()),
        _ => (Record::Other, bytes.len()),
    }
}

impl Hello {
    pub(super) fn feed(
        &mut self,
        pkt: &Packet<'_>,
        from_server: bool,
        out: &mut Findings,
    ) -> Parse {
        if from_server {
            return Parse::Incomplete;
        }
        self.packets += 1;
        let fed = self.stream.feed(pkt.tcp_seq, pkt.payload, |bytes| {
            let (found, consumed) = record(bytes);
            let done = match found {
                Record::Partial => false,
                Record::ClientHello(msg) => {
                    // The SNI names the server better than the greeting did.
                    let greeting_host = std::mem::take(&mut out.host);
                    let _ = parse_client_hello(msg, out, Carrier::Tcp);
                    if out.host.is_empty() {
                        out.host = greeting_host;
                    }
                    true
                }
                Record::Other => true,
            };
            (done, consumed)
        });
        match fed {
            Ok(Some(true)) | Err(_) => Parse::Skip,
            _ if self.packets >= MAX_PACKETS => Parse::Skip,
            _ => Parse::Incomplete,
        }
    }
}
