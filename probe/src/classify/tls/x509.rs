//! The five fields of an X.509 certificate that the TLS classifier reads
//! (RFC 5280 §4.1): issuer and subject names, validity, and the
//! subjectAltName extension's DNS names, read straight from the DER.
//!
//! Why not x509-parser: it decodes every field of the certificate into
//! owned structures (serial as a big integer, algorithm parameters, the
//! public key, every extension's header) for these five; that was about 5%
//! of a web capture's instructions. The structure is still checked as
//! x509-parser checks it in DER mode: every element of the certificate is a
//! definite, minimally encoded TLV of the expected tag, the version at most
//! v3, times in DER's `YYMMDDhhmmssZ` / `YYYYMMDDhhmmss[.f]Z` forms with
//! valid calendar values. It does not look inside the serial number,
//! algorithm identifiers, public key or signature.

use super::super::cursor::{Error, Result};

/// One DER element: its tag byte and content.
#[derive(Clone, Copy, Debug)]
struct Tlv<'a> {
    tag: u8,
    content: &'a [u8],
}

/// A sequence of DER elements.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Der<'a> {
    rest: &'a [u8],
}

impl<'a> Der<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// X.690 §8.1: identifier, length (§8.1.3; DER: definite, minimal),
    /// content. Tags above 30 (multi-byte identifiers) do not occur in the
    /// fields read here.
    ///
    /// Not `classify::ber` (the Kerberos and LDAP probes' BER reader), on
    /// purpose: a certificate is a hundred or so elements read on every TLS
    /// flow, and going through `ber::header` and a `Cursor` (with DER's
    /// minimal-length rule added there) made the web capture 4% slower
    /// (166-169 ms against 172-176 ms, best of 7, 2026-12-06).
    fn tlv(&mut self) -> Result<Tlv<'a>> {
        let (&tag, rest) = self.rest.split_first().ok_or(Error::Truncated)?;
        if tag & 0x1f == 0x1f {
            return Err(Error::Malformed);
        }
        let (&first, mut rest) = rest.split_first().ok_or(Error::Truncated)?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            // 0x80 is the indefinite form, which DER forbids; more than four
            // length bytes cannot describe a TLS message's content.
            if n == 0 || n > 4 {
                return Err(Error::Malformed);
            }
            let bytes = rest.get(..n).ok_or(Error::Truncated)?;
            rest = rest.get(n..).ok_or(Error::Truncated)?;
            let len = bytes
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            // DER: the long form only from 128, without leading zeros.
            if len < 0x80 || bytes.first() == Some(&0) {
                return Err(Error::Malformed);
            }
            len
        };
        let content = rest.get(..len).ok_or(Error::Truncated)?;
        self.rest = rest.get(len..).ok_or(Error::Truncated)?;
        Ok(Tlv { tag, content })
    }

    /// The next element's content, which must have tag `tag`.
    fn expect(&mut self, tag: u8) -> Result<&'a [u8]> {
        let tlv = self.tlv()?;
        if tlv.tag == tag {
            Ok(tlv.content)
        } else {
            Err(Error::Malformed)
        }
    }

    /// The next element's content if it has tag `tag`.
    fn optional(&mut self, tag: u8) -> Result<Option<&'a [u8]>> {
        if self.peek_tag() == Some(tag) {
            self.expect(tag).map(Some)
        } else {
            Ok(None)
        }
    }
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;

/// What the classifier reads of a certificate.
#[derive(Debug)]
pub(crate) struct Certificate<'a> {
    /// The Name SEQUENCE contents (RDNs) of issuer and subject.
    pub(crate) issuer: Der<'a>,
    pub(crate) subject: Der<'a>,
    /// Seconds since the epoch.
    pub(crate) not_before: i64,
    pub(crate) not_after: i64,
    /// The first subjectAltName extension's value, if any.
    pub(crate) alt_names: Option<&'a [u8]>,
}

/// RFC 5280 §4.1: Certificate ::= SEQUENCE { tbsCertificate,
/// signatureAlgorithm, signatureValue }.
pub(crate) fn parse(der: &[u8]) -> Result<Certificate<'_>> {
    let mut cert = Der::new(Der::new(der).expect(SEQUENCE)?);
    let mut tbs = Der::new(cert.expect(SEQUENCE)?);
    cert.expect(SEQUENCE)?; // signatureAlgorithm
    cert.expect(0x03)?; // signatureValue BIT STRING
    // version [0] EXPLICIT INTEGER DEFAULT v1: v1, v2 or v3 (0, 1, 2).
    if let Some(version) = tbs.optional(0xa0)? {
        match Der::new(version).expect(0x02)? {
            [0..=2] => {}
            _ => return Err(Error::Malformed),
        }
    }
    tbs.expect(0x02)?; // serialNumber
    tbs.expect(SEQUENCE)?; // signature AlgorithmIdentifier
    let issuer = Der::new(tbs.expect(SEQUENCE)?);
    if !valid_name(issuer) {
        return Err(Error::Malformed);
    }
    let mut validity = Der::new(tbs.expect(SEQUENCE)?);
    let not_before = time(validity.tlv()?)?;
    let not_after = time(validity.tlv()?)?;
    let subject = Der::new(tbs.expect(SEQUENCE)?);
    if !valid_name(subject) {
        return Err(Error::Malformed);
    }
    tbs.expect(SEQUENCE)?; // subjectPublicKeyInfo
    tbs.optional(0x81)?; // issuerUniqueID
    tbs.optional(0x82)?; // subjectUniqueID
    let mut alt_names = None;
    if let Some(explicit) = tbs.optional(0xa3)? {
        let mut extensions = Der::new(Der::new(explicit).expect(SEQUENCE)?);
        while !extensions.is_empty() {
            // Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT
            // FALSE, extnValue OCTET STRING }
            let mut ext = Der::new(extensions.expect(SEQUENCE)?);
            let id = ext.expect(OID)?;
            ext.optional(0x01)?;
            let value = ext.expect(0x04)?;
            // id-ce-subjectAltName, 2.5.29.17
            if id == [0x55, 0x1d, 0x11] && alt_names.is_none() {
                alt_names = Some(value);
            }
        }
    }
    Ok(Certificate {
        issuer,
        subject,
        not_before,
        not_after,
        alt_names,
    })
}

/// The attributes of a Name (RDNSequence) in certificate order: the
/// attribute type's OID content and the value's content.
pub(crate) fn attributes<'a>(name: Der<'a>) -> impl Iterator<Item = (&'a [u8], &'a [u8])> {
    let mut rdns = name;
    let mut set = Der::new(&[]);
    std::iter::from_fn(move || {
        loop {
            if set.is_empty() {
                if rdns.is_empty() {
                    return None;
                }
                set = Der::new(rdns.expect(SET).ok()?);
                continue;
            }
            let mut atv = Der::new(set.expect(SEQUENCE).ok()?);
            let oid = atv.expect(OID).ok()?;
            let value = atv.tlv().ok()?.content;
            return Some((oid, value));
        }
    })
}

/// Whether a Name is well formed: RDN SETs of (OID, value) SEQUENCEs.
fn valid_name(name: Der<'_>) -> bool {
    let mut rdns = name;
    while !rdns.is_empty() {
        let Ok(set) = rdns.expect(SET) else {
            return false;
        };
        let mut set = Der::new(set);
        while !set.is_empty() {
            let Ok(atv) = set.expect(SEQUENCE) else {
                return false;
            };
            let mut atv = Der::new(atv);
            if atv.expect(OID).is_err() || atv.tlv().is_err() {
                return false;
            }
        }
    }
    true
}

/// The DNS names (dNSName, [2]) of a GeneralNames value; `None` if it is
/// malformed or a name is not UTF-8 (then none is kept, as x509-parser
/// failed the whole extension).
pub(crate) fn dns_names(value: &[u8]) -> Option<Vec<&str>> {
    let mut names = Der::new(Der::new(value).expect(SEQUENCE).ok()?);
    let mut out = Vec::new();
    while !names.is_empty() {
        let name = names.tlv().ok()?;
        match name.tag {
            // dNSName, rfc822Name and URI are IA5Strings.
            0x82 => out.push(std::str::from_utf8(name.content).ok()?),
            0x81 | 0x86 => {
                std::str::from_utf8(name.content).ok()?;
            }
            _ => {}
        }
    }
    Some(out)
}

/// UTCTime (`YYMMDDhhmmssZ`, years 1950-2049) or GeneralizedTime
/// (`YYYYMMDDhhmmss[.fff]Z`) as seconds since the epoch (RFC 5280
/// §4.1.2.5).
fn time(t: Tlv<'_>) -> Result<i64> {
    let (year, rest) = match t.tag {
        0x17 => {
            let (yy, rest) = t.content.split_at_checked(2).ok_or(Error::Malformed)?;
            let yy = digits(yy)?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, rest)
        }
        0x18 => {
            let (yyyy, rest) = t.content.split_at_checked(4).ok_or(Error::Malformed)?;
            (digits(yyyy)?, rest)
        }
        _ => return Err(Error::Malformed),
    };
    let (fields, zone) = rest.split_at_checked(10).ok_or(Error::Malformed)?;
    let mut pairs = fields.chunks(2).map(digits);
    let mut next = || pairs.next().unwrap_or(Err(Error::Malformed));
    let (month, day, hour, minute, second) = (next()?, next()?, next()?, next()?, next()?);
    // A GeneralizedTime may carry a fraction of a second; then 'Z'.
    let zone = match (t.tag, zone) {
        (0x18, [b'.', fraction @ .., b'Z'])
            if !fraction.is_empty() && fraction.iter().all(u8::is_ascii_digit) =>
        {
            b"Z".as_slice()
        }
        _ => zone,
    };
    if zone != b"Z"
        || !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return Err(Error::Malformed);
    }
    let days = days_from_civil(year, month, day);
    Ok(days * 86_400 + hour * 3_600 + minute * 60 + second)
}

/// ASCII decimal digits as a number.
fn digits(b: &[u8]) -> Result<i64> {
    b.iter().try_fold(0i64, |acc, d| {
        if d.is_ascii_digit() {
            Ok(acc * 10 + i64::from(d - b'0'))
        } else {
            Err(Error::Malformed)
        }
    })
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> Result<i64> {
        time(Tlv {
            tag: 0x17,
            content: s.as_bytes(),
        })
    }

    fn generalized(s: &str) -> Result<i64> {
        time(Tlv {
            tag: 0x18,
            content: s.as_bytes(),
        })
    }

    #[test]
    fn times_are_read_as_rfc_5280_says() {
        assert_eq!(utc("700101000000Z"), Ok(0));
        assert_eq!(utc("491231235959Z"), Ok(2_524_607_999));
        assert_eq!(utc("500101000000Z"), Ok(-631_152_000));
        assert_eq!(utc("240229120000Z"), Ok(1_709_208_000));
        assert_eq!(generalized("20500101000000Z"), Ok(2_524_608_000));
        assert_eq!(generalized("20500101000000.5Z"), Ok(2_524_608_000));
        for bad in [
            "230229120000Z",
            "700101000000",
            "7001010000Z",
            "700132000000Z",
            "70010100000aZ",
        ] {
            assert_eq!(utc(bad), Err(Error::Malformed), "{bad}");
        }
        assert_eq!(generalized("20500101000000.Z"), Err(Error::Malformed));
    }

    fn made(names: &[&str], from: (i32, u8, u8), until: (i32, u8, u8), org: &str) -> Vec<u8> {
        crate::classify::tls::tests::crafted::self_signed(names, from, until, Some(org))
    }

    /// What x509-parser reads of `der`: validity, the subject's and issuer's
    /// attributes (OID and value contents) and the DNS names, when it
    /// accepts the certificate.
    #[allow(clippy::type_complexity)]
    fn reference(
        der: &[u8],
    ) -> Option<(
        i64,
        i64,
        Vec<(Vec<u8>, Vec<u8>)>,
        Vec<(Vec<u8>, Vec<u8>)>,
        Option<Vec<String>>,
    )> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let attributes = |name: &x509_parser::x509::X509Name<'_>| {
            name.iter_attributes()
                .map(|a| {
                    (
                        a.attr_type().as_bytes().to_vec(),
                        a.attr_value().data.to_vec(),
                    )
                })
                .collect::<Vec<_>>()
        };
        let dns = match cert.subject_alternative_name() {
            Ok(Some(san)) => Some(
                san.value
                    .general_names
                    .iter()
                    .filter_map(|n| match n {
                        x509_parser::extensions::GeneralName::DNSName(n) => Some((*n).to_owned()),
                        _ => None,
                    })
                    .collect(),
            ),
            _ => None,
        };
        Some((
            cert.validity().not_before.timestamp(),
            cert.validity().not_after.timestamp(),
            attributes(cert.subject()),
            attributes(cert.issuer()),
            dns,
        ))
    }

    /// Certificates, whole, cut short and with single bytes changed: when
    /// both this reader and x509-parser accept one, they read the same
    /// fields. (They need not accept the same: this reader does not look
    /// inside keys and signatures, and x509-parser lets wrong tag classes
    /// pass, such as a context-specific outer SEQUENCE.)
    #[test]
    fn fields_read_agree_with_x509_parser() {
        let certificates = [
            made(
                &["example.com", "www.example.com"],
                (2020, 1, 1),
                (2030, 6, 30),
                "Example",
            ),
            made(
                &["*.wild.example"],
                (1999, 12, 31),
                (2049, 12, 31),
                "Wild Card Ltd",
            ),
            // After 2049 validity is a GeneralizedTime.
            made(&["far.example"], (2024, 2, 29), (2060, 1, 1), "Far, Inc."),
            made(
                &["10.0.0.1", "ip-and-name.example"],
                (2021, 3, 4),
                (2022, 3, 4),
                "Ünïcode",
            ),
        ];
        let mut compared = 0;
        for der in &certificates {
            let ours = parse(der).unwrap();
            let theirs = reference(der).unwrap();
            let mut variants: Vec<Vec<u8>> = (0..der.len()).map(|n| der[..n].to_vec()).collect();
            for at in 0..der.len() {
                // Not the class and constructed bits: x509-parser reads a
                // tag by its number alone (extensions tagged 0x23 or 0x83
                // instead of 0xa3 are still its extensions), this reader by
                // the whole byte.
                for flip in [0x01, 0x04, 0x10] {
                    let mut v = der.clone();
                    v[at] ^= flip;
                    variants.push(v);
                }
            }
            assert_eq!((ours.not_before, ours.not_after), (theirs.0, theirs.1));
            for v in std::iter::once(der.clone()).chain(variants) {
                if let (Ok(c), Some((from, until, subject, issuer, dns))) =
                    (parse(&v), reference(&v))
                {
                    compared += 1;
                    assert_eq!((c.not_before, c.not_after), (from, until));
                    let own = |n: Der<'_>| {
                        attributes(n)
                            .map(|(o, v)| (o.to_vec(), v.to_vec()))
                            .collect::<Vec<_>>()
                    };
                    assert_eq!(own(c.subject), subject);
                    assert_eq!(own(c.issuer), issuer);
                    let names = c.alt_names.and_then(dns_names);
                    let names = names.map(|n| n.iter().map(|s| (*s).to_owned()).collect());
                    assert_eq!(names, dns, "{}", hex::encode(&v));
                }
            }
        }
        // Changed bytes inside names, times and alternative names keep
        // both readers going: many more than the four originals compared.
        assert!(compared > 200, "{compared}");
    }

    #[test]
    fn lengths_must_be_definite_and_minimal() {
        assert!(Der::new(&[0x30, 0x80, 0, 0]).tlv().is_err());
        assert!(Der::new(&[0x30, 0x81, 0x05, 1, 2, 3, 4, 5]).tlv().is_err());
        assert!(Der::new(&[0x30, 0x82, 0x00, 0x80]).tlv().is_err());
        assert!(Der::new(&[0x30, 0x03, 1, 2]).tlv().is_err());
        let t = Der::new(&[0x30, 0x02, 1, 2, 9]).tlv().unwrap();
        assert_eq!((t.tag, t.content), (0x30, &[1, 2][..]));
    }
}
