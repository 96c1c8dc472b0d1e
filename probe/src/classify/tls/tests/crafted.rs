//! Hand-made hellos and records for what the captures lack: no SNI, an
//! uncommon ALPN, an unregistered extension, a weak cipher, a certificate
//! for another name, a fatal alert.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use super::*;

/// A TLS 1.2 ClientHello handshake message with these extensions.
fn client_hello(extensions: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut body = vec![3, 3];
    body.extend([7u8; 32]); // random
    body.push(0); // session id
    body.extend([0, 2, 0xc0, 0x2f]); // one cipher suite
    body.extend([1, 0]); // null compression
    let mut exts = Vec::new();
    for (kind, data) in extensions {
        exts.extend(kind.to_be_bytes());
        exts.extend((data.len() as u16).to_be_bytes());
        exts.extend(data);
    }
    body.extend((exts.len() as u16).to_be_bytes());
    body.extend(exts);
    let mut msg = vec![1, 0];
    msg.extend((body.len() as u16).to_be_bytes());
    msg.extend(body);
    msg
}

/// A ServerHello handshake message choosing `cipher` at `version`.
fn server_hello(version: u16, cipher: u16) -> Vec<u8> {
    let mut body = version.to_be_bytes().to_vec();
    body.extend([9u8; 32]);
    body.push(0);
    body.extend(cipher.to_be_bytes());
    body.push(0);
    let mut msg = vec![2, 0];
    msg.extend((body.len() as u16).to_be_bytes());
    msg.extend(body);
    msg
}

fn alpn(names: &[&[u8]]) -> Vec<u8> {
    let mut list = Vec::new();
    for n in names {
        list.push(n.len() as u8);
        list.extend(*n);
    }
    let mut data = (list.len() as u16).to_be_bytes().to_vec();
    data.extend(list);
    data
}

fn risk_info(out: &Findings, risk: Risk) -> Option<&str> {
    out.risks.info(risk)
}

#[test]
fn a_hello_without_sni_with_odd_alpn_and_extension_raises_ndpis_risks() {
    let msg = client_hello(&[(16, alpn(&[b"foo/1", b"h2"])), (65283, vec![])]);
    let mut out = Findings::default();
    tls::hello::parse_client_hello(&msg, &mut out, tls::hello::Carrier::Tcp).unwrap();
    assert!(out.host.is_empty());
    assert_eq!(
        risk_info(&out, Risk::TlsMissingSni),
        Some("SNI should always be present")
    );
    assert_eq!(risk_info(&out, Risk::TlsUncommonAlpn), Some("foo/1"));
    assert_eq!(
        risk_info(&out, Risk::TlsSuspiciousExtension),
        Some("Extn id 65283")
    );
    assert!(!out.risks.has(Risk::TlsNotCarryingHttps));
    let t = out.l7.tls.unwrap();
    assert_eq!(t.alpn, ["foo/1", "h2"]);
    assert!(t.ja4.starts_with("t12i0102f1_"), "{}", t.ja4);
}

#[test]
fn a_plain_hello_with_sni_and_common_alpn_raises_nothing() {
    let mut sni = vec![0, 14, 0, 0, 11];
    sni.extend(b"example.org");
    let msg = client_hello(&[(0, sni), (16, alpn(&[b"h2", b"http/1.1"]))]);
    let mut out = Findings::default();
    tls::hello::parse_client_hello(&msg, &mut out, tls::hello::Carrier::Quic).unwrap();
    assert_eq!(out.host, "example.org");
    assert!(out.risks.is_empty());
    assert!(out.l7.tls.unwrap().ja4.starts_with("q12d0102h2_"));
    // Every cut of the message is an error and records nothing.
    for len in 0..msg.len() {
        let mut cut = Findings::default();
        let r = tls::hello::parse_client_hello(&msg[..len], &mut cut, tls::hello::Carrier::Tcp);
        assert!(
            r.is_err() && cut.l7.tls.is_none() && cut.host.is_empty(),
            "at {len}"
        );
    }
}

#[test]
fn old_versions_and_weak_ciphers_are_risks_in_the_server_hello() {
    for (version, cipher, obsolete, weak) in [
        (0x0303, 0xc02f, false, false),
        (0x0303, 0x002f, false, true), // nDPI: static RSA key exchange
        (0x0302, 0xc013, true, false),
        (0x0300, 0x0005, true, true),  // RC4: beyond nDPI's list
        (0x0303, 0x0003, false, true), // EXPORT
    ] {
        let mut out = Findings::default();
        let sh = tls::hello::parse_server_hello(
            &server_hello(version, cipher),
            &mut out,
            tls::hello::Carrier::Tcp,
        )
        .unwrap();
        assert!(!sh.tls13());
        assert_eq!(
            out.risks.has(Risk::TlsObsoleteVersion),
            obsolete,
            "{version:04x}"
        );
        assert_eq!(out.risks.has(Risk::TlsWeakCipher), weak, "{cipher:04x}");
    }
    let mut out = Findings::default();
    tls::hello::parse_server_hello(
        &server_hello(0x0301, 0x002f),
        &mut out,
        tls::hello::Carrier::Tcp,
    )
    .unwrap();
    assert_eq!(risk_info(&out, Risk::TlsObsoleteVersion), Some("TLSv1"));
    assert_eq!(
        risk_info(&out, Risk::TlsWeakCipher),
        Some("TLS_RSA_WITH_AES_128_CBC_SHA")
    );
}

#[test]
fn a_certificate_for_other_names_is_a_mismatch() {
    // 443-git.pcap with the SNI rewritten (same length, so the lengths hold).
    let (mut hello, server) = git_handshake();
    let at = hello
        .payload
        .windows(10)
        .position(|w| w == b"github.com")
        .unwrap();
    hello.payload[at..at + 10].copy_from_slice(b"gitlab.com");
    let mut seen = vec![(&hello, true)];
    seen.extend(server.iter().map(|p| (p, false)));
    let (verdicts, out) = run(&seen);
    assert_eq!(verdicts.last(), Some(&Parse::Done));
    assert_eq!(out.host, "gitlab.com");
    assert_eq!(
        risk_info(&out, Risk::TlsCertificateMismatch),
        Some("gitlab.com vs github.com,www.github.com")
    );
    assert!(!out.risks.has(Risk::TlsSelfSignedCertificate));
}

#[test]
fn a_cleartext_fatal_alert_is_a_risk() {
    let alert = OwnedPacket {
        payload: vec![0x15, 3, 3, 0, 2, 2, 40],
        src_port: 443,
        dst_port: 40_000,
        transport: Transport::Tcp,
        tcp_seq: Some(1),
        ts_us: 0,
    };
    let (v, out) = run(&[(&alert, false)]);
    assert_eq!(v, [Parse::Incomplete]);
    assert_eq!(risk_info(&out, Risk::TlsFatalAlert), Some("Alert 40"));
}

/// A self-signed certificate (DER) for `names` (subject C = IT, O = `org`
/// when given, CN = the first name), valid between the two dates.
pub(in crate::classify::tls) fn self_signed(
    names: &[&str],
    from: (i32, u8, u8),
    until: (i32, u8, u8),
    org: Option<&str>,
) -> Vec<u8> {
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
            .unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CountryName, "IT");
    if let Some(org) = org {
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, org);
    }
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, names[0]);
    params.not_before = rcgen::date_time_ymd(from.0, from.1, from.2);
    params.not_after = rcgen::date_time_ymd(until.0, until.1, until.2);
    let key = rcgen::KeyPair::generate().unwrap();
    params.self_signed(&key).unwrap().der().to_vec()
}

/// A Certificate handshake message carrying one self-signed certificate
/// for `names` (CN = the first), valid between the two dates.
fn certificate(names: &[&str], from: (i32, u8, u8), until: (i32, u8, u8)) -> Vec<u8> {
    let der = self_signed(names, from, until, None);
    let u24 = |n: usize| [(n >> 16) as u8, (n >> 8) as u8, n as u8];
    let mut list = u24(der.len()).to_vec();
    list.extend(&der);
    let mut body = u24(list.len()).to_vec();
    body.extend(list);
    let mut msg = vec![11];
    msg.extend(u24(body.len()));
    msg.extend(body);
    msg
}

fn with_sni(sni: &str) -> Findings {
    let mut out = Findings::default();
    out.tls().sni = sni.to_owned();
    out
}

#[test]
fn certificate_risks_follow_ndpis_rules() {
    // Self-signed, valid 2 years from 2021: too long, and the SNI matches.
    let msg = certificate(
        &["example.org", "*.example.org"],
        (2021, 1, 1),
        (2023, 1, 1),
    );
    let mut out = with_sni("www.example.org");
    tls::cert::parse_certificate(&msg, &mut out).unwrap();
    let t = out.l7.tls.as_ref().unwrap();
    assert_eq!(t.server_subject, "C=IT, CN=example.org");
    assert_eq!(t.server_issuer, t.server_subject);
    assert_eq!(t.server_not_before_us, utc(2021, 1, 1, 0, 0, 0));
    assert_eq!(t.server_sha1.len(), 40);
    assert_eq!(
        risk_info(&out, Risk::TlsSelfSignedCertificate),
        Some("C=IT, CN=example.org")
    );
    assert_eq!(
        risk_info(&out, Risk::TlsCertValidityTooLong),
        Some("TLS Cert lasts 730 days")
    );
    assert!(!out.risks.has(Risk::TlsCertificateMismatch));

    // Another name: a mismatch. Issued before September 2020: not too long.
    let msg = certificate(&["example.org"], (2019, 1, 1), (2022, 1, 1));
    let mut out = with_sni("example.net");
    tls::cert::parse_certificate(&msg, &mut out).unwrap();
    assert_eq!(
        risk_info(&out, Risk::TlsCertificateMismatch),
        Some("example.net vs example.org")
    );
    assert!(!out.risks.has(Risk::TlsCertValidityTooLong));

    // Without a SNI there is nothing to match.
    let mut out = Findings::default();
    tls::cert::parse_certificate(&msg, &mut out).unwrap();
    assert!(!out.risks.has(Risk::TlsCertificateMismatch));

    // Cut anywhere: an error, never a panic.
    for len in 0..msg.len() {
        assert!(tls::cert::parse_certificate(&msg[..len], &mut with_sni("x")).is_err());
    }
}
