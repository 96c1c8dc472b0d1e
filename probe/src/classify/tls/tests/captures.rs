//! Real captures: the metadata and risks ndpiReader printed for them.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use super::*;

#[test]
fn github_handshake_gives_ndpis_metadata() {
    let f = flow_by_sni("443-git.pcap", "github.com");
    assert_eq!(l7_name(&f).split('.').next(), Some("TLS"));
    let t = tls_of(&f).unwrap();
    assert_eq!(t.alpn, ["http/1.1"]);
    assert_eq!(t.client_version, "1.2");
    assert_eq!(t.negotiated_version, "1.2");
    assert_eq!(t.ja3, "2a26b1a62e40d25d4de3babc9d532f30");
    // nDPI prints t12d6707ht_...: it takes the first two characters of the
    // ALPN; FoxIO's spec takes the first and last ("h1").
    assert_eq!(t.ja4, "t12d6707h1_2955a3196ffa_c83f907a73d3");
    assert_eq!(t.ja3s, "ae53107a2e47ea20c72ac44821a728bf");
    assert_eq!(t.cipher, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
    assert_eq!(
        t.server_issuer,
        "C=US, O=DigiCert Inc, OU=www.digicert.com, CN=DigiCert SHA2 Extended Validation Server CA"
    );
    assert_eq!(
        t.server_subject,
        "C=US, ST=California, L=San Francisco, O=GitHub, Inc., CN=github.com"
    );
    assert_eq!(t.server_sha1, "ca06f56b258b7a0d4f2b05470939478651151984");
    assert_eq!(t.server_not_before_us, utc(2018, 5, 8, 0, 0, 0));
    assert_eq!(t.server_not_after_us, utc(2020, 6, 3, 12, 0, 0));
    assert_eq!(
        extra(&f, "tls.server_names"),
        Some("github.com,www.github.com")
    );
    assert_eq!(extra(&f, "tls.negotiated_alpn"), Some("http/1.1"));
    assert!(risks(&f).is_empty(), "{:?}", risks(&f));
}

#[test]
fn self_signed_expired_certificate_raises_ndpis_risks() {
    let f = flow_by_sni("selfsigned.pcap", "localhost");
    let t = tls_of(&f).unwrap();
    assert_eq!(t.alpn, ["h2", "http/1.1"]);
    assert_eq!(t.ja3, "2a26b1a62e40d25d4de3babc9d532f30");
    assert_eq!(t.ja4, "t12d6707h2_2955a3196ffa_c83f907a73d3");
    assert_eq!(t.ja3s, "0debd3853f330c574b05e0b6d882dc27");
    assert_eq!(t.cipher, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384");
    assert_eq!(t.server_subject, "C=IT, ST=Some-State, O=ntop.org");
    assert_eq!(t.server_issuer, "C=IT, ST=Some-State, O=ntop.org");
    assert_eq!(t.server_sha1, "afcc9849f2000e0521186c775f2acf10446ed88b");
    assert_eq!(t.server_not_before_us, utc(2015, 10, 10, 15, 55, 47));
    assert_eq!(t.server_not_after_us, utc(2016, 10, 9, 15, 55, 47));
    let mut got = risks(&f);
    got.sort_unstable();
    assert_eq!(
        got,
        [
            "Known Proto on Non Std Port",
            "Self-signed Cert",
            "TLS Cert Expired"
        ]
    );
    let self_signed = f
        .risks
        .iter()
        .find(|r| r.name == "Self-signed Cert")
        .unwrap();
    assert_eq!(self_signed.info, "C=IT, ST=Some-State, O=ntop.org");
}

#[test]
fn facebook_flows_carry_their_sni_alpn_and_fingerprints() {
    let www = flow_by_sni("facebook.pcap", "www.facebook.com");
    let t = tls_of(&www).unwrap();
    assert_eq!(t.alpn, ["h2", "spdy/3.1", "http/1.1"]);
    assert_eq!(t.ja3, "5c60e71f1b8cd40e4d40ed5b6d666e3f");
    assert_eq!(t.ja4, "t12d1311h2_27a29bd8d6e6_c4623e4f4474");
    assert_eq!(t.ja3s, "96681175a9547081bf3d417f1a572091");
    assert_eq!(t.cipher, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256");
    // A resumed session: no certificate, as in nDPI's output.
    assert!(t.server_sha1.is_empty());

    let bare = flow_by_sni("facebook.pcap", "facebook.com");
    let t = tls_of(&bare).unwrap();
    assert_eq!(t.ja3, "bfcc1a3891601edb4f137ab7ab25b840");
    assert_eq!(t.ja4, "t12d1310h2_27a29bd8d6e6_85173d161f9a");
    assert_eq!(t.ja3s, "2d1eb5817ece335c24904f516ad5da12");
    assert_eq!(t.server_sha1, "a04eafb348c26b15a8c1aa87a333caa3cdeec9c9");
    assert_eq!(
        t.server_subject,
        "C=US, ST=CA, L=Menlo Park, O=Facebook, Inc., CN=*.facebook.com"
    );
    assert!(
        extra(&bare, "tls.server_names")
            .unwrap()
            .starts_with("*.facebook.com,*.facebook.net,")
    );
    assert!(risks(&bare).is_empty(), "{:?}", risks(&bare));
}

#[test]
fn tls13_handshakes_stop_after_the_server_hello() {
    for (capture, sni, ja3, ja4) in [
        (
            "google_chat.pcapng",
            "chat.google.com",
            "b5001237acdf006056b409cc433726b0",
            "t13d1715h2_5b57614c22b0_5c2c66f702b0",
        ),
        (
            "tls_ech.pcapng",
            "performance.radar.cloudflare.com",
            "6820f114cf3b0809ffdcb30cb277848a",
            "t13d1516h2_8daaf6152771_02713d6af862",
        ),
    ] {
        let f = flow_by_sni(capture, sni);
        let t = tls_of(&f).unwrap();
        assert_eq!(t.alpn, ["h2", "http/1.1"], "{capture}");
        assert_eq!(t.client_version, "1.3");
        assert_eq!(t.negotiated_version, "1.3");
        assert_eq!(t.ja3, ja3);
        assert_eq!(t.ja4, ja4);
        assert_eq!(t.ja3s, "eb1d94daa7e0344597e756a1fb6e7054");
        assert_eq!(t.cipher, "TLS_AES_128_GCM_SHA256");
        assert!(t.server_subject.is_empty(), "the certificate is encrypted");
        assert_eq!(extra(&f, "tls.supported_versions"), Some("1.3,1.2"));
        assert_eq!(extra(&f, "tls.ech"), Some("true"));
        assert!(risks(&f).is_empty(), "{capture}: {:?}", risks(&f));
    }
}

#[test]
fn wildcard_certificates_match_as_ndpi_matches_them() {
    // *.badssl.com for wrong.host.badssl.com: nDPI raises no mismatch.
    let f = flow_by_sni("ssl-cert-name-mismatch.pcap", "wrong.host.badssl.com");
    let t = tls_of(&f).unwrap();
    assert_eq!(t.ja3, "4e69e4e5627c5e4c2846ba3e64d23fb9");
    assert_eq!(t.ja4, "t12d3810h1_845d1e55a368_7448b1316cd7");
    assert_eq!(t.ja3s, "b898351eb5e266aefd3723d466935494");
    assert_eq!(t.server_sha1, "1845b216efd0839a1851a957325da336217049cb");
    assert_eq!(
        extra(&f, "tls.server_names"),
        Some("*.badssl.com,badssl.com")
    );
    assert!(risks(&f).is_empty(), "{:?}", risks(&f));
}

#[test]
fn a_client_offering_tls13_may_get_tls12() {
    let f = flow_by_sni(
        "tls_multiple_synack_different_seq.pcapng",
        "bolt-prod-s3-eu-west-1.s3.eu-west-1.amazonaws.com",
    );
    let t = tls_of(&f).unwrap();
    assert_eq!(t.client_version, "1.3");
    assert_eq!(t.negotiated_version, "1.2");
    assert_eq!(extra(&f, "tls.supported_versions"), Some("1.3,1.2,1.1,1.0"));
    assert_eq!(t.ja3, "b32309a26951912be7dba376398abc3b");
    assert_eq!(t.ja4, "t13d1515h2_8daaf6152771_de4a06bb82e3");
    assert_eq!(t.ja3s, "704239182a9091e4453fdbfe0fd17586");
    assert_eq!(t.server_subject, "CN=*.s3-eu-west-1.amazonaws.com");
    assert_eq!(
        t.server_issuer,
        "C=US, O=Amazon, OU=Server CA 1B, CN=Amazon"
    );
    assert_eq!(t.server_sha1, "5a47180a2f9002c9305cb1bed60d5a4224c88176");
    assert_eq!(t.server_not_after_us, utc(2022, 3, 8, 23, 59, 59));
}

#[test]
fn tor_handshakes_are_obsolete_tls_without_sni_or_alpn_risks() {
    let tor: Vec<_> = flows("tor.pcap")
        .into_iter()
        .filter(|f| tls_of(f).is_some_and(|t| !t.ja3.is_empty()))
        .collect();
    assert_eq!(tor.len(), 7);
    for f in &tor {
        let t = tls_of(f).unwrap();
        assert!(t.sni.starts_with("www.") && t.sni.ends_with(".com"));
        assert!(t.alpn.is_empty());
        assert_eq!(t.negotiated_version, "1.0");
        assert_eq!(t.ja3, "581a3c7f54555512b8cd16e87dfe165b");
        assert_eq!(t.ja4, "t10d360300_77f462745360_33a13ba74d1c");
        assert!(t.server_subject.starts_with("CN=www.") && t.server_subject.ends_with(".net"));
        let r = risks(f);
        assert!(r.contains(&"Obsolete TLS (v1.1 or older)"), "{r:?}");
        // TLS 1.0 clients: nDPI checks neither ALPN nor SNI for them.
        assert!(!r.contains(&"TLS (probably) Not Carrying HTTPS"), "{r:?}");
        assert!(
            !r.contains(&"TLS Cert Mismatch"),
            "no subjectAltName: {r:?}"
        );
    }
    let one = tor
        .iter()
        .find(|f| tls_of(f).unwrap().sni == "www.q4cyamnc6mtokjurvdclt.com")
        .unwrap();
    assert_eq!(
        tls_of(one).unwrap().ja3s,
        "e1691a31bfe345d2692da75636ddfb00"
    );
    assert_eq!(
        tls_of(one).unwrap().cipher,
        "TLS_DHE_RSA_WITH_AES_256_CBC_SHA"
    );
}

#[test]
fn tor_is_a_random_www_name_under_com_or_net() {
    let dga = |name: &str| name.contains("q4cyamnc6mtokjurvdclt");
    assert!(tls::tor_like("www.q4cyamnc6mtokjurvdclt.com", dga));
    assert!(!tls::tor_like("q4cyamnc6mtokjurvdclt.com", dga));
    assert!(!tls::tor_like("www.q4cyamnc6mtokjurvdclt.org", dga));
    assert!(!tls::tor_like("www.github.com", dga));
}

#[test]
fn a_client_without_alpn_is_probably_not_https() {
    let f = flow_by_sni("zoom2.pcap", "zoomsjccv154mmr.sjc.zoom.us");
    let t = tls_of(&f).unwrap();
    assert_eq!(t.ja3, "832952db10f1453442636675bed2702b");
    assert_eq!(t.ja4, "t13d141200_ad449869e501_b11171733d3d");
    assert_eq!(t.ja3s, "8aca82d60194883e764ab2743e60c380");
    assert_eq!(risks(&f), ["TLS (probably) Not Carrying HTTPS"]);
    assert_eq!(f.risks[0].info, "No ALPN");
}

#[test]
fn flows_captured_mid_stream_are_tls_from_application_data() {
    // Both of whatsapp_login_chat.pcap's TLS flows start with application
    // data records; nDPI calls them TLS (by DPI).
    let tls: Vec<_> = flows("whatsapp_login_chat.pcap")
        .into_iter()
        .filter(|f| f.ip_protocol == 6 && l7_name(f).starts_with("TLS"))
        .flat_map(|f| [f.client.unwrap().port, f.server.unwrap().port])
        .collect();
    assert!(tls.contains(&443) && tls.contains(&5223), "{tls:?}");
}

#[test]
fn an_sslv2_client_hello_is_followed_to_the_server_hello() {
    let f = flows("google_ssl.pcap")
        .into_iter()
        .find(|f| f.ip_protocol == 6)
        .unwrap();
    assert_eq!(l7_name(&f).split('.').next(), Some("TLS"));
    let t = tls_of(&f).unwrap();
    assert_eq!(t.negotiated_version, "1.0");
    assert_eq!(t.cipher, "TLS_RSA_WITH_RC4_128_SHA");
    assert!(risks(&f).contains(&"Obsolete TLS (v1.1 or older)"));
}

#[test]
fn tls_on_mail_ports_is_the_secure_mail_protocol() {
    // One application-data record, as 6in4tunnel.pcap's IMAPS flows send.
    let record = [0x17, 3, 3, 0, 4, 1, 2, 3, 4];
    for (port, protocol) in [
        (993, Protocol::Imaps),
        (995, Protocol::Pops),
        (465, Protocol::Smtps),
        (443, Protocol::Unknown),
    ] {
        let pkt = Packet {
            payload: &record,
            from_client: false,
            transport: Transport::Tcp,
            client_port: 40_000,
            server_port: port,
            tcp_seq: Some(1),
            ts_us: 0,
            packet_no: 2,
        };
        assert_eq!(tls::probe(&pkt), Probe::Match);
        let mut out = Findings::default();
        assert_eq!(
            Kind::Tls.start_for_test().parse(&pkt, &mut out),
            Parse::Done
        );
        assert_eq!(out.protocol, protocol, "port {port}");
    }
}

#[test]
fn a_dtls_client_hello_gives_ndpis_ja3_and_ja4() {
    // stun.pcap's DTLS handshake (GoogleCall): record header of 13 bytes
    // (RFC 6347 §4.1), then the 12-byte DTLS handshake header.
    let hello = payloads("stun.pcap")
        .into_iter()
        .find(|p| {
            p.transport == Transport::Udp
                && p.payload.first() == Some(&22)
                && p.payload.get(1) == Some(&0xfe)
                && p.payload.get(13) == Some(&1)
        })
        .unwrap();
    let mut out = Findings::default();
    tls::hello::parse_client_hello(&hello.payload[13..], &mut out, tls::hello::Carrier::Dtls)
        .unwrap();
    let t = out.l7.tls.unwrap();
    assert_eq!(t.ja3, "c14667d7da3e6f7a7ab5519ef78c2452");
    // nDPI prints dd2d...: its `d` says the flow has a host name (here from
    // STUN); FoxIO's spec says whether the hello carries a SNI, and this
    // one does not.
    assert_eq!(t.ja4, "dd2i110700_c45550529adf_d9dd6182da81");
    assert!(out.host.is_empty());
}

/// Feeds a fresh parser the TLS part of a STARTTLS flow (each direction
/// from its first handshake record on), as the mail classifier would.
fn after_starttls(capture: &str, client_port: u16) -> (Vec<Parse>, Findings) {
    let mut started = [false, false];
    let packets: Vec<(OwnedPacket, bool)> = payloads(capture)
        .into_iter()
        .filter(|p| {
            p.transport == Transport::Tcp
                && (p.src_port == client_port || p.dst_port == client_port)
        })
        .filter_map(|p| {
            let from_client = p.src_port == client_port;
            let dir = usize::from(!from_client);
            started[dir] |= p.payload.starts_with(&[0x16, 3]);
            started[dir].then_some((p, from_client))
        })
        .collect();
    let seen: Vec<_> = packets.iter().map(|(p, c)| (p, *c)).collect();
    run(&seen)
}

#[test]
fn starttls_handshakes_read_like_ndpi_reads_them() {
    let (verdicts, out) = after_starttls("smtp-starttls.pcap", 57406);
    assert!(verdicts.contains(&Parse::Done), "{verdicts:?}");
    // No SNI: nDPI's host name (and the `d` of its JA4) comes from the
    // SMTP banner; a TLS 1.0 client is not expected to send one.
    assert!(out.host.is_empty());
    assert!(!out.risks.has(Risk::TlsMissingSni));
    let t = out.l7.tls.as_ref().unwrap();
    assert_eq!(t.ja3, "fab507fe132c544e8a0eb7c394affeae");
    assert_eq!(t.ja4, "t10i290100_cdba58456bdf_e78b541c01a9");
    assert_eq!(t.ja3s, "6b96cf9c27b0223177b0e9f135fe4899");
    assert_eq!(t.cipher, "TLS_RSA_WITH_RC4_128_SHA");
    assert_eq!(t.server_sha1, "45156ae749634094f9ab091ef5a7336df37b28fc");
    assert_eq!(
        t.server_subject,
        "C=US, ST=California, L=Mountain View, O=Google Inc, CN=mx.google.com"
    );
    assert!(out.risks.has(Risk::TlsObsoleteVersion));
    // nDPI marks RC4 "INSECURE" without raising the risk; sonde raises it.
    assert!(out.risks.has(Risk::TlsWeakCipher));
}

#[test]
fn a_starttls_client_with_an_unregistered_extension_is_suspicious() {
    let (verdicts, out) = after_starttls("smtp-starttls.pcap", 7562);
    assert!(verdicts.contains(&Parse::Done), "{verdicts:?}");
    assert_eq!(out.host, "dovecot.weberlab.de");
    let t = out.l7.tls.as_ref().unwrap();
    assert_eq!(t.ja3, "7b38238e17474b8f6d113523bb5a8dd9");
    assert_eq!(t.ja4, "t12d150900_073e58a039a6_b44afb9f0e6a");
    assert_eq!(t.ja3s, "ccc514751b175866924439bdbb5bba34");
    assert_eq!(t.server_subject, "CN=jw-vm08-int-dns");
    assert_eq!(t.server_sha1, "ad1b576cacbe465465f61d6d852a3816077d3117");
    // nDPI: Self-signed Cert, TLS (probably) Not Carrying HTTPS, TLS Susp Extn.
    assert_eq!(
        out.risks.info(Risk::TlsSuspiciousExtension),
        Some("Extn id 65283")
    );
    assert_eq!(out.risks.info(Risk::TlsNotCarryingHttps), Some("No ALPN"));
    assert_eq!(
        out.risks.info(Risk::TlsSelfSignedCertificate),
        Some("CN=jw-vm08-int-dns")
    );
    assert_eq!(out.risks.iter().count(), 3);
}
