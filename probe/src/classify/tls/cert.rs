//! The server's Certificate message (RFC 5246 §7.4.2; cleartext up to TLS
//! 1.2): the leaf certificate's subject and issuer (in nDPI's
//! `C=IT, ST=Some-State, O=ntop.org` form), validity, SHA-1 of its DER and
//! subjectAltName DNS names, with nDPI's certificate risks: self-signed
//! (subject equals issuer), name mismatch (the SNI matches no DNS name) and
//! validity too long (over 395 days, for certificates issued after the
//! CA/Browser Forum's 2020 limit).
//! Expiry is judged at export against the flow's time (`verdict`).

use sha1::{Digest as _, Sha1};

use super::super::cursor::{Cursor, Error, Result};
use super::super::findings::MAX_TEXT;
use super::super::{Findings, Risk};
use super::x509::{self, Der};

/// Certificates issued after this time (2020-09-01, seconds) may be valid
/// for at most [`MAX_VALIDITY_S`] (nDPI's `TLS_LIMIT_DATE`).
const VALIDITY_LIMIT_FROM: i64 = 1_598_918_400;
/// 395 days, nDPI's `TLS_THRESHOLD`.
const MAX_VALIDITY_S: i64 = 395 * 86_400;

/// Most subjectAltName DNS names kept (some CDN certificates carry hundreds).
const MAX_NAMES: usize = 64;

/// A DN as nDPI prints it: the attributes it knows (C, ST, L, O, OU, CN),
/// in certificate order, `label=value` joined by `, `; values that are not
/// printable ASCII are left out, as nDPI does.
fn dn(name: Der<'_>) -> String {
    let mut s = String::new();
    for (oid, value) in x509::attributes(name) {
        // id-at (2.5.4): countryName 6, stateOrProvinceName 8, localityName
        // 7, organizationName 10, organizationalUnitName 11, commonName 3.
        let label = match oid {
            [0x55, 0x04, 0x06] => "C",
            [0x55, 0x04, 0x08] => "ST",
            [0x55, 0x04, 0x07] => "L",
            [0x55, 0x04, 0x0a] => "O",
            [0x55, 0x04, 0x0b] => "OU",
            [0x55, 0x04, 0x03] => "CN",
            _ => continue,
        };
        if value.is_empty() || !value.iter().all(|b| (0x20..=0x7e).contains(b)) {
            continue;
        }
        if s.len() + value.len() + 6 > MAX_TEXT {
            break;
        }
        if !s.is_empty() {
            s.push_str(", ");
        }
        s.push_str(label);
        s.push('=');
        // Printable ASCII, checked above.
        s.extend(value.iter().map(|&b| char::from(b)));
    }
    s
}

/// Whether `host` (the SNI) is covered by a certificate DNS name. A
/// wildcard `*.example.com` covers any name under example.com, however
/// deep, as nDPI matches it (RFC 6125 §6.4.3 would allow one label only).
fn covers(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix('*') {
        Some(suffix) if suffix.starts_with('.') => {
            host.len() > suffix.len()
                && host
                    .get(host.len() - suffix.len()..)
                    .is_some_and(|tail| tail.eq_ignore_ascii_case(suffix))
        }
        _ => pattern.eq_ignore_ascii_case(host),
    }
}

/// Microseconds since the epoch of an X.509 time (0 before 1970).
fn micros(seconds: i64) -> u64 {
    u64::try_from(seconds)
        .unwrap_or(0)
        .saturating_mul(1_000_000)
}

/// Parses one complete Certificate handshake message (type 11) and records
/// what its first (leaf) certificate says. `Err(Malformed)` when the leaf is
/// not a parsable X.509 certificate.
pub(crate) fn parse_certificate(msg: &[u8], out: &mut Findings) -> Result<()> {
    let mut c = Cursor::new(msg);
    if c.u8()? != 11 {
        return Err(Error::Malformed);
    }
    let mut body = c.vec_u24()?;
    let mut list = body.vec_u24()?;
    if list.is_empty() {
        // An empty chain (a client without a certificate): nothing to read.
        return Ok(());
    }
    let der = list.vec_u24()?.rest();
    let cert = x509::parse(der).map_err(|_| Error::Malformed)?;

    let subject = dn(cert.subject);
    let issuer = dn(cert.issuer);
    // The sha1 crate, not ring: it uses the CPU's SHA instructions where
    // there are some, ring's SHA-1 never does (3% of a web capture's time).
    let sha1 = Sha1::digest(der);
    let mut names: Vec<&str> = cert.alt_names.and_then(x509::dns_names).unwrap_or_default();
    names.truncate(MAX_NAMES);

    if !names.is_empty() {
        out.extra("tls.server_names", names.join(",").as_bytes());
    }
    let tls = out.tls();
    tls.server_subject = subject.clone();
    tls.server_issuer = issuer.clone();
    tls.server_not_before_us = micros(cert.not_before);
    tls.server_not_after_us = micros(cert.not_after);
    tls.server_sha1 = super::fingerprint::hex(&sha1);
    let sni = tls.sni.clone();
    let (from, until) = (cert.not_before, cert.not_after);

    // nDPI: subject and issuer DNs equal (tls.c, processCertificate).
    if !subject.is_empty() && subject == issuer {
        out.risk_with(Risk::TlsSelfSignedCertificate, &subject);
    }
    // nDPI (after the CA/Browser Forum's 398-day limit): a certificate
    // issued after 2020-09-01 valid for more than 395 days.
    if from > VALIDITY_LIMIT_FROM && until - from > MAX_VALIDITY_S {
        let days = (until - from) / 86_400;
        out.risk_with(
            Risk::TlsCertValidityTooLong,
            &format!("TLS Cert lasts {days} days"),
        );
    }
    // nDPI checks the SNI against the subjectAltName DNS names only (and
    // not at all without a SNI or without that extension).
    if !sni.is_empty() && !names.is_empty() && !names.iter().any(|n| covers(n, &sni)) {
        let info = format!("{sni} vs {}", names.join(","));
        out.risk_with(Risk::TlsCertificateMismatch, &info);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_cover_names_below_them_only() {
        assert!(covers("*.badssl.com", "wrong.host.badssl.com"));
        assert!(covers("*.facebook.com", "www.facebook.com"));
        assert!(!covers("*.badssl.com", "badssl.com"));
        assert!(!covers("*.badssl.com", "evilbadssl.com"));
        assert!(covers("GitHub.com", "github.com"));
        assert!(!covers("github.com", "www.github.com"));
    }

    #[test]
    fn times_before_the_epoch_are_zero() {
        assert_eq!(micros(-5), 0);
        assert_eq!(micros(2), 2_000_000);
    }
}
