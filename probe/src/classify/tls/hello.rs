//! ClientHello and ServerHello (RFC 8446 §4.1.2-§4.1.3, RFC 5246 §7.4.1):
//! the SNI (also the flow's host), ALPN, offered and negotiated versions,
//! the cipher, JA3/JA4/JA3S, and the risks nDPI reads from hellos (missing
//! SNI, no or uncommon ALPN, suspicious extensions, obsolete version, weak
//! cipher).
//!
//! Interface shared with QUIC (whose CRYPTO frames carry the same handshake
//! messages): [`parse_client_hello`]. Each parser reads the whole message
//! before writing anything, so a cut message leaves the findings untouched.

use super::super::cursor::{Cursor, Error, Result};
use super::super::{Findings, Risk};
use super::ciphers;
use super::fingerprint::{self, ClientFields};

/// Where a ClientHello was carried: it decides JA4's first letter (`t` for
/// TLS over TCP, `q` for QUIC, `d` for DTLS) and which extensions are
/// expected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Carrier {
    Tcp,
    Quic,
    Dtls,
}

/// Most list entries kept per hello field: a peer cannot make the probe
/// allocate without bound (real hellos carry well under 100).
const MAX_ITEMS: usize = 256;
/// Most ALPN values kept.
const MAX_ALPN: usize = 16;

// Extension types (IANA "TLS ExtensionType Values").
const SERVER_NAME: u16 = 0;
const SUPPORTED_GROUPS: u16 = 10;
const EC_POINT_FORMATS: u16 = 11;
const SIGNATURE_ALGORITHMS: u16 = 13;
const ALPN: u16 = 16;
const SUPPORTED_VERSIONS: u16 = 43;
const ENCRYPTED_CLIENT_HELLO: u16 = 0xfe0d;

fn u16_list(mut c: Cursor<'_>) -> Result<Vec<u16>> {
    let mut out = Vec::with_capacity((c.remaining() / 2).min(MAX_ITEMS));
    while !c.is_empty() {
        let v = c.u16()?;
        if out.len() < MAX_ITEMS {
            out.push(v);
        }
    }
    Ok(out)
}

/// Reads the handshake header of a message of type `kind` and returns its
/// body. DTLS adds message_seq, fragment_offset and fragment_length (RFC
/// 6347 §4.2.2); the message must be whole (one fragment).
fn body(msg: &[u8], kind: u8, carrier: Carrier) -> Result<Cursor<'_>> {
    let mut c = Cursor::new(msg);
    if c.u8()? != kind {
        return Err(Error::Malformed);
    }
    let len = c.u24()?;
    if carrier == Carrier::Dtls {
        c.skip(2)?;
        let (offset, fragment) = (c.u24()?, c.u24()?);
        if offset != 0 || fragment != len {
            return Err(Error::Malformed);
        }
    }
    c.sub(len as usize)
}

/// Parses one complete ClientHello handshake message, starting at its
/// handshake header (type 1, 24-bit length; RFC 8446 §4.1.2; DTLS's
/// 12-byte header with `Carrier::Dtls`), and records
/// the SNI (also as the flow's host), ALPN, offered versions, JA3 and JA4
/// in `out`.
pub(crate) fn parse_client_hello(msg: &[u8], out: &mut Findings, carrier: Carrier) -> Result<()> {
    let mut c = body(msg, 1, carrier)?;
    let mut f = ClientFields {
        legacy_version: c.u16()?,
        ..ClientFields::default()
    };
    c.skip(32)?; // random
    c.vec_u8()?; // legacy_session_id
    if carrier == Carrier::Dtls {
        c.vec_u8()?; // cookie (RFC 6347 §4.2.1)
    }
    f.ciphers = u16_list(c.vec_u16()?)?;
    c.vec_u8()?; // legacy_compression_methods
    let mut sni: Option<&[u8]> = None;
    let mut alpns: Vec<&[u8]> = Vec::new();
    let mut suspicious: Option<u16> = None;
    let mut ech = false;
    // Extensions may be absent before TLS 1.3 (RFC 5246 §7.4.1.2).
    let mut exts = if c.is_empty() {
        Cursor::new(&[])
    } else {
        c.vec_u16()?
    };
    while !exts.is_empty() {
        let kind = exts.u16()?;
        let mut data = exts.vec_u16()?;
        if f.extensions.len() < MAX_ITEMS {
            f.extensions.push(kind);
        }
        if suspicious.is_none() && ciphers::suspicious_extension(kind, carrier == Carrier::Dtls) {
            suspicious = Some(kind);
        }
        match kind {
            SERVER_NAME => {
                f.has_sni = true;
                // RFC 6066 §3: a list of (type, name); host_name is type 0.
                let mut list = data.vec_u16()?;
                while !list.is_empty() {
                    let name_type = list.u8()?;
                    let name = list.vec_u16()?.rest();
                    if name_type == 0 && sni.is_none() {
                        sni = Some(name);
                    }
                }
            }
            ALPN => {
                // RFC 7301 §3.1: a list of non-empty 8-bit strings.
                let mut list = data.vec_u16()?;
                while !list.is_empty() {
                    let p = list.vec_u8()?.rest();
                    if alpns.len() < MAX_ALPN {
                        alpns.push(p);
                    }
                }
            }
            SUPPORTED_VERSIONS => {
                // RFC 8446 §4.2.1: ClientHello carries a list.
                let mut list = data.vec_u8()?;
                while !list.is_empty() {
                    let v = list.u16()?;
                    if !ciphers::grease(v) && f.versions.len() < MAX_ITEMS {
                        f.versions.push(v);
                    }
                }
            }
            SUPPORTED_GROUPS => f.groups = u16_list(data.vec_u16()?)?,
            EC_POINT_FORMATS => {
                let list = data.vec_u8()?.rest();
                f.point_formats = list.iter().copied().take(MAX_ITEMS).collect();
            }
            SIGNATURE_ALGORITHMS => f.signature_algorithms = u16_list(data.vec_u16()?)?,
            ENCRYPTED_CLIENT_HELLO => ech = true,
            _ => {}
        }
    }
    f.first_alpn = alpns.first().copied();

    // Everything read: record it.
    let ja3 = fingerprint::ja3(&f);
    let ja4 = fingerprint::ja4(&f, carrier);
    if let Some(name) = sni {
        out.set_host(name);
    }
    let offered = f
        .versions
        .iter()
        .filter_map(|v| ciphers::version_name(*v))
        .collect::<Vec<_>>()
        .join(",");
    if !offered.is_empty() {
        out.extra("tls.supported_versions", offered.as_bytes());
    }
    if ech {
        out.extra("tls.ech", b"true");
    }
    let highest = f.versions.iter().copied().max().unwrap_or(f.legacy_version);
    let tls = out.tls();
    if let Some(name) = sni {
        tls.sni = super::super::findings::text(name).to_ascii_lowercase();
    }
    tls.alpn = alpns
        .iter()
        .map(|a| super::super::findings::text(a))
        .collect();
    tls.client_version = ciphers::version_name(highest)
        .unwrap_or_default()
        .to_owned();
    tls.ja3 = ja3;
    tls.ja4 = ja4;

    // nDPI's checks at the end of a ClientHello (tls.c), on the hello's own
    // (legacy) version: no ALPN from a TLS 1.2+ client, no SNI from a TLS
    // 1.1+ client.
    if carrier != Carrier::Dtls {
        if alpns.is_empty() && f.legacy_version >= 0x0303 {
            out.risk_with(Risk::TlsNotCarryingHttps, "No ALPN");
        }
        if sni.is_none() && f.legacy_version >= 0x0302 {
            out.risk_with(Risk::TlsMissingSni, "SNI should always be present");
        }
    }
    if let Some(odd) = alpns.iter().find(|a| !ciphers::common_alpn(a)) {
        out.risk_with(
            Risk::TlsUncommonAlpn,
            &String::from_utf8_lossy(odd.get(..64.min(odd.len())).unwrap_or_default()),
        );
    }
    if let Some(ext) = suspicious {
        out.risk_with(Risk::TlsSuspiciousExtension, &format!("Extn id {ext}"));
    }
    Ok(())
}

/// What the record layer needs to know of a ServerHello.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ServerHello {
    /// The version the server chose (supported_versions in TLS 1.3).
    pub(crate) version: u16,
}

impl ServerHello {
    /// From here on the handshake is encrypted (RFC 8446 §2).
    pub(crate) fn tls13(self) -> bool {
        self.version == 0x0304 || self.version == 0xfefc
    }
}

/// Parses one complete ServerHello (RFC 8446 §4.1.3) and records the
/// negotiated version, cipher, ALPN and JA3S, with nDPI's risks for an
/// obsolete version or a weak cipher.
pub(crate) fn parse_server_hello(
    msg: &[u8],
    out: &mut Findings,
    carrier: Carrier,
) -> Result<ServerHello> {
    let mut c = body(msg, 2, carrier)?;
    let legacy_version = c.u16()?;
    c.skip(32)?; // random
    c.vec_u8()?; // legacy_session_id
    let cipher = c.u16()?;
    c.u8()?; // legacy_compression_method
    let mut extensions = Vec::new();
    let mut version = legacy_version;
    let mut alpn: Option<&[u8]> = None;
    let mut exts = if c.is_empty() {
        Cursor::new(&[])
    } else {
        c.vec_u16()?
    };
    while !exts.is_empty() {
        let kind = exts.u16()?;
        let mut data = exts.vec_u16()?;
        if extensions.len() < MAX_ITEMS {
            extensions.push(kind);
        }
        match kind {
            // RFC 8446 §4.2.1: the ServerHello carries the one version chosen.
            SUPPORTED_VERSIONS => version = data.u16()?,
            ALPN => {
                let mut list = data.vec_u16()?;
                alpn = Some(list.vec_u8()?.rest());
            }
            _ => {}
        }
    }

    let ja3s = fingerprint::ja3s(legacy_version, cipher, &extensions);
    if let Some(a) = alpn {
        out.extra("tls.negotiated_alpn", a);
    }
    let tls = out.tls();
    tls.negotiated_version = ciphers::version_name(version)
        .unwrap_or_default()
        .to_owned();
    tls.cipher = ciphers::display(cipher);
    tls.ja3s = ja3s;
    let obsolete = match carrier {
        Carrier::Dtls => version == 0xfeff,
        Carrier::Tcp | Carrier::Quic => version < 0x0303,
    };
    if obsolete {
        out.risk_with(
            Risk::TlsObsoleteVersion,
            ciphers::ndpi_version_name(version),
        );
    }
    if ciphers::weak(cipher) {
        out.risk_with(Risk::TlsWeakCipher, &ciphers::display(cipher));
    }
    Ok(ServerHello { version })
}
