//! Client and server fingerprints from hello fields: JA3 and JA3S
//! (Salesforce: MD5 of the decimal field lists, GREASE removed) and JA4
//! (FoxIO's JA4 spec, `JA4.md`: readable prefix, then truncated SHA-256 of
//! the sorted cipher suites and of the sorted extensions plus signature
//! algorithms).

use md5::{Digest, Md5};

use super::ciphers::grease;
use super::hello::Carrier;

/// What JA3 and JA4 read from a ClientHello, GREASE included (each
/// fingerprint drops it as its spec says).
#[derive(Debug, Default)]
pub(crate) struct ClientFields<'a> {
    pub(crate) legacy_version: u16,
    pub(crate) ciphers: Vec<u16>,
    /// Extension types in wire order.
    pub(crate) extensions: Vec<u16>,
    pub(crate) groups: Vec<u16>,
    pub(crate) point_formats: Vec<u8>,
    pub(crate) signature_algorithms: Vec<u16>,
    /// Non-GREASE versions of supported_versions, in wire order.
    pub(crate) versions: Vec<u16>,
    pub(crate) has_sni: bool,
    pub(crate) first_alpn: Option<&'a [u8]>,
}

fn md5_hex(text: &str) -> String {
    hex(&Md5::digest(text.as_bytes()))
}

/// `bytes` as lowercase hex, into a string sized once (`hex::encode`
/// collects chars one by one, growing the string as it goes).
pub(super) fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
}

// The fingerprint texts are written digit by digit rather than with
// `write!`: a hello has dozens of values, and `fmt` per value was most of
// JA3's and JA4's cost.

/// `v` in decimal.
fn push_decimal(out: &mut String, v: u16) {
    let mut digits = [0u8; 5];
    let mut n = 0;
    let mut v = v;
    loop {
        if let Some(d) = digits.get_mut(n) {
            *d = b'0' + (v % 10) as u8;
        }
        n += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for d in digits.iter().take(n).rev() {
        out.push(char::from(*d));
    }
}

/// `v` as four lowercase hex digits.
fn push_hex4(out: &mut String, v: u16) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for shift in [12, 8, 4, 0] {
        out.push(char::from(HEX[usize::from((v >> shift) & 0xf)]));
    }
}

/// `a-b-c` of the non-GREASE values.
fn dashed<T: Copy + Into<u16>>(out: &mut String, values: &[T]) {
    let mut first = true;
    for v in values.iter().map(|v| (*v).into()).filter(|v| !grease(*v)) {
        if !first {
            out.push('-');
        }
        first = false;
        push_decimal(out, v);
    }
}

/// JA3: MD5 of `version,ciphers,extensions,groups,point_formats`.
pub(crate) fn ja3(c: &ClientFields<'_>) -> String {
    let mut s = String::with_capacity(256);
    push_decimal(&mut s, c.legacy_version);
    s.push(',');
    dashed(&mut s, &c.ciphers);
    s.push(',');
    dashed(&mut s, &c.extensions);
    s.push(',');
    dashed(&mut s, &c.groups);
    s.push(',');
    dashed(&mut s, &c.point_formats);
    md5_hex(&s)
}

/// JA3S: MD5 of `version,cipher,extensions` of a ServerHello.
pub(crate) fn ja3s(legacy_version: u16, cipher: u16, extensions: &[u16]) -> String {
    let mut s = String::with_capacity(64);
    push_decimal(&mut s, legacy_version);
    s.push(',');
    push_decimal(&mut s, cipher);
    s.push(',');
    dashed(&mut s, extensions);
    md5_hex(&s)
}

/// First 12 hex digits of the SHA-256 of `text`; twelve zeros for nothing.
fn sha256_12(text: &str) -> String {
    if text.is_empty() {
        return "000000000000".to_owned();
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    hex(digest.as_ref().get(..6).unwrap_or_default())
}

/// `0a0b,0c0d` of the non-GREASE values, as four lowercase hex digits each.
fn hex_list(values: impl Iterator<Item = u16>) -> String {
    let mut s = String::with_capacity(256);
    for v in values.filter(|v| !grease(*v)) {
        if !s.is_empty() {
            s.push(',');
        }
        push_hex4(&mut s, v);
    }
    s
}

/// JA4's two-character version code.
fn ja4_version(v: u16) -> &'static str {
    match v {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        0x0200 => "s2",
        0x0100 => "s1",
        0xfeff => "d1",
        0xfefd => "d2",
        0xfefc => "d3",
        _ => "00",
    }
}

/// JA4's ALPN code: first and last character of the first ALPN value, or
/// of its hex form when either is not alphanumeric; `00` without ALPN.
fn ja4_alpn(alpn: Option<&[u8]>) -> String {
    let Some(alpn) = alpn.filter(|a| !a.is_empty()) else {
        return "00".to_owned();
    };
    let (Some(&first), Some(&last)) = (alpn.first(), alpn.last()) else {
        return "00".to_owned();
    };
    if first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric() {
        format!("{}{}", char::from(first), char::from(last))
    } else {
        let h = hex::encode([first, last]);
        let mut chars = h.chars();
        let a = chars.next().unwrap_or('0');
        let b = chars.last().unwrap_or('0');
        format!("{a}{b}")
    }
}

/// JA4 (JA4_a `_` JA4_b `_` JA4_c).
pub(crate) fn ja4(c: &ClientFields<'_>, carrier: Carrier) -> String {
    let proto = match carrier {
        Carrier::Tcp => 't',
        Carrier::Quic => 'q',
        Carrier::Dtls => 'd',
    };
    let version = c.versions.iter().copied().max_by_key(|v| match *v {
        // DTLS versions count down; order them as TLS's.
        0xfe00..=0xfeff => 0x0400 - (*v & 0xff),
        v => v,
    });
    let version = ja4_version(version.unwrap_or(c.legacy_version));
    let sni = if c.has_sni { 'd' } else { 'i' };
    let count = |n: usize| n.min(99);
    let ciphers = count(c.ciphers.iter().filter(|v| !grease(**v)).count());
    let exts = count(c.extensions.iter().filter(|v| !grease(**v)).count());
    let alpn = ja4_alpn(c.first_alpn);

    let mut sorted = c.ciphers.clone();
    sorted.sort_unstable();
    let b = sha256_12(&hex_list(sorted.into_iter()));

    let mut exts_sorted: Vec<u16> = c
        .extensions
        .iter()
        .copied()
        .filter(|e| *e != 0x0000 && *e != 0x0010)
        .collect();
    exts_sorted.sort_unstable();
    let mut c_text = hex_list(exts_sorted.into_iter());
    let sigs = hex_list(c.signature_algorithms.iter().copied());
    if !sigs.is_empty() {
        c_text.push('_');
        c_text.push_str(&sigs);
    }
    let c_hash = sha256_12(&c_text);
    format!("{proto}{version}{sni}{ciphers:02}{exts:02}{alpn}_{b}_{c_hash}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_agrees_with_the_hex_crate() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(hex(&all), hex::encode(&all));
        assert_eq!(hex(&[]), "");
    }

    #[test]
    fn ja4_alpn_uses_first_and_last_characters() {
        assert_eq!(ja4_alpn(Some(b"h2")), "h2");
        assert_eq!(ja4_alpn(Some(b"http/1.1")), "h1");
        assert_eq!(ja4_alpn(None), "00");
        // 0xab ... 0xcd: hex "abcd", first and last characters.
        assert_eq!(ja4_alpn(Some(&[0xab, 0xcd])), "ad");
    }

    #[test]
    fn numbers_are_written_as_fmt_writes_them() {
        for v in (0..=u16::MAX).step_by(7).chain([0, 9, 10, 99, 100, 65535]) {
            let mut s = String::new();
            push_decimal(&mut s, v);
            assert_eq!(s, v.to_string());
            s.clear();
            push_hex4(&mut s, v);
            assert_eq!(s, format!("{v:04x}"));
        }
    }

    #[test]
    fn empty_lists_hash_to_zeros() {
        assert_eq!(sha256_12(""), "000000000000");
        assert_eq!(hex_list([0x0a0a, 0x1301, 0x002f].into_iter()), "1301,002f");
    }
}
