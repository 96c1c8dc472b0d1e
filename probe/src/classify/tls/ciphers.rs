//! TLS registry facts the classifier names or judges: cipher suite names
//! (IANA "TLS Cipher Suites" registry), nDPI's weak-cipher list, GREASE
//! values (RFC 8701), the ALPN identifiers nDPI considers common, and the
//! extension types nDPI does not find suspicious.

/// IANA name of a cipher suite, for the suites seen in practice.
pub(crate) fn name(suite: u16) -> Option<&'static str> {
    Some(match suite {
        0x0000 => "TLS_NULL_WITH_NULL_NULL",
        0x0001 => "TLS_RSA_WITH_NULL_MD5",
        0x0002 => "TLS_RSA_WITH_NULL_SHA",
        0x0003 => "TLS_RSA_EXPORT_WITH_RC4_40_MD5",
        0x0004 => "TLS_RSA_WITH_RC4_128_MD5",
        0x0005 => "TLS_RSA_WITH_RC4_128_SHA",
        0x0006 => "TLS_RSA_EXPORT_WITH_RC2_CBC_40_MD5",
        0x0007 => "TLS_RSA_WITH_IDEA_CBC_SHA",
        0x0008 => "TLS_RSA_EXPORT_WITH_DES40_CBC_SHA",
        0x0009 => "TLS_RSA_WITH_DES_CBC_SHA",
        0x000a => "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
        0x0011 => "TLS_DHE_DSS_EXPORT_WITH_DES40_CBC_SHA",
        0x0012 => "TLS_DHE_DSS_WITH_DES_CBC_SHA",
        0x0013 => "TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA",
        0x0014 => "TLS_DHE_RSA_EXPORT_WITH_DES40_CBC_SHA",
        0x0015 => "TLS_DHE_RSA_WITH_DES_CBC_SHA",
        0x0016 => "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA",
        0x0017 => "TLS_DH_anon_EXPORT_WITH_RC4_40_MD5",
        0x0018 => "TLS_DH_anon_WITH_RC4_128_MD5",
        0x001b => "TLS_DH_anon_WITH_3DES_EDE_CBC_SHA",
        0x002f => "TLS_RSA_WITH_AES_128_CBC_SHA",
        0x0032 => "TLS_DHE_DSS_WITH_AES_128_CBC_SHA",
        0x0033 => "TLS_DHE_RSA_WITH_AES_128_CBC_SHA",
        0x0034 => "TLS_DH_anon_WITH_AES_128_CBC_SHA",
        0x0035 => "TLS_RSA_WITH_AES_256_CBC_SHA",
        0x0038 => "TLS_DHE_DSS_WITH_AES_256_CBC_SHA",
        0x0039 => "TLS_DHE_RSA_WITH_AES_256_CBC_SHA",
        0x003a => "TLS_DH_anon_WITH_AES_256_CBC_SHA",
        0x003b => "TLS_RSA_WITH_NULL_SHA256",
        0x003c => "TLS_RSA_WITH_AES_128_CBC_SHA256",
        0x003d => "TLS_RSA_WITH_AES_256_CBC_SHA256",
        0x0040 => "TLS_DHE_DSS_WITH_AES_128_CBC_SHA256",
        0x0041 => "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA",
        0x0045 => "TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA",
        0x0067 => "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256",
        0x006a => "TLS_DHE_DSS_WITH_AES_256_CBC_SHA256",
        0x006b => "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256",
        0x0084 => "TLS_RSA_WITH_CAMELLIA_256_CBC_SHA",
        0x0088 => "TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA",
        0x008c => "TLS_PSK_WITH_AES_128_CBC_SHA",
        0x008d => "TLS_PSK_WITH_AES_256_CBC_SHA",
        0x0096 => "TLS_RSA_WITH_SEED_CBC_SHA",
        0x009a => "TLS_DHE_RSA_WITH_SEED_CBC_SHA",
        0x009c => "TLS_RSA_WITH_AES_128_GCM_SHA256",
        0x009d => "TLS_RSA_WITH_AES_256_GCM_SHA384",
        0x009e => "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
        0x009f => "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
        0x00a2 => "TLS_DHE_DSS_WITH_AES_128_GCM_SHA256",
        0x00a3 => "TLS_DHE_DSS_WITH_AES_256_GCM_SHA384",
        0x00a8 => "TLS_PSK_WITH_AES_128_GCM_SHA256",
        0x00a9 => "TLS_PSK_WITH_AES_256_GCM_SHA384",
        0x00ff => "TLS_EMPTY_RENEGOTIATION_INFO_SCSV",
        0x1301 => "TLS_AES_128_GCM_SHA256",
        0x1302 => "TLS_AES_256_GCM_SHA384",
        0x1303 => "TLS_CHACHA20_POLY1305_SHA256",
        0x1304 => "TLS_AES_128_CCM_SHA256",
        0x1305 => "TLS_AES_128_CCM_8_SHA256",
        0x5600 => "TLS_FALLBACK_SCSV",
        0xc002 => "TLS_ECDH_ECDSA_WITH_RC4_128_SHA",
        0xc003 => "TLS_ECDH_ECDSA_WITH_3DES_EDE_CBC_SHA",
        0xc004 => "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA",
        0xc005 => "TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA",
        0xc007 => "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
        0xc008 => "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA",
        0xc009 => "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
        0xc00a => "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
        0xc00c => "TLS_ECDH_RSA_WITH_RC4_128_SHA",
        0xc00d => "TLS_ECDH_RSA_WITH_3DES_EDE_CBC_SHA",
        0xc00e => "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA",
        0xc00f => "TLS_ECDH_RSA_WITH_AES_256_CBC_SHA",
        0xc010 => "TLS_ECDHE_RSA_WITH_NULL_SHA",
        0xc011 => "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
        0xc012 => "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
        0xc013 => "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
        0xc014 => "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
        0xc016 => "TLS_ECDH_anon_WITH_RC4_128_SHA",
        0xc018 => "TLS_ECDH_anon_WITH_AES_128_CBC_SHA",
        0xc019 => "TLS_ECDH_anon_WITH_AES_256_CBC_SHA",
        0xc023 => "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
        0xc024 => "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
        0xc025 => "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA256",
        0xc026 => "TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA384",
        0xc027 => "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
        0xc028 => "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
        0xc029 => "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA256",
        0xc02a => "TLS_ECDH_RSA_WITH_AES_256_CBC_SHA384",
        0xc02b => "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        0xc02c => "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        0xc02d => "TLS_ECDH_ECDSA_WITH_AES_128_GCM_SHA256",
        0xc02e => "TLS_ECDH_ECDSA_WITH_AES_256_GCM_SHA384",
        0xc02f => "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        0xc030 => "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        0xc031 => "TLS_ECDH_RSA_WITH_AES_128_GCM_SHA256",
        0xc032 => "TLS_ECDH_RSA_WITH_AES_256_GCM_SHA384",
        0xc035 => "TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA",
        0xc036 => "TLS_ECDHE_PSK_WITH_AES_256_CBC_SHA",
        0xc09c => "TLS_RSA_WITH_AES_128_CCM",
        0xc09d => "TLS_RSA_WITH_AES_256_CCM",
        0xc09e => "TLS_DHE_RSA_WITH_AES_128_CCM",
        0xc09f => "TLS_DHE_RSA_WITH_AES_256_CCM",
        0xc0ac => "TLS_ECDHE_ECDSA_WITH_AES_128_CCM",
        0xc0ad => "TLS_ECDHE_ECDSA_WITH_AES_256_CCM",
        0xcca8 => "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        0xcca9 => "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        0xccaa => "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        0xccab => "TLS_PSK_WITH_CHACHA20_POLY1305_SHA256",
        0xccac => "TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256",
        0xcc13 => "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256_OLD",
        0xcc14 => "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256_OLD",
        _ => return None,
    })
}

/// The suite as the exported record names it: its IANA name, or its code
/// point in hex when the table does not know it.
pub(crate) fn display(suite: u16) -> String {
    name(suite).map_or_else(|| format!("0x{suite:04X}"), str::to_owned)
}

/// Whether a negotiated suite raises "Weak TLS Cipher".
///
/// nDPI's list (`ndpi_is_safe_ssl_cipher`'s WEAK class: static RSA key
/// exchange, 3DES, SEED, IDEA, after Qualys SSL Labs' grading), plus what
/// is broken outright and nDPI leaves unflagged: NULL encryption, EXPORT
/// grades, anonymous key exchange, single DES, any 3DES (Sweet32) and RC4
/// (RFC 7465 forbids it).
/// nDPI only marks RC4 "INSECURE" in its JA3S output without the risk, so
/// here an RC4 flow carries one risk more than in nDPI's output.
pub(crate) fn weak(suite: u16) -> bool {
    const NDPI_WEAK: &[u16] = &[
        0x009d, 0x003d, 0x0035, 0x0084, 0x009c, 0x003c, 0x002f, 0x0041, 0xc012, 0x0016, 0x000a,
        0x0096, 0x0007,
    ];
    if NDPI_WEAK.contains(&suite) {
        return true;
    }
    name(suite).is_some_and(|n| {
        !n.ends_with("SCSV")
            && (n.contains("_NULL_")
                || n.contains("EXPORT")
                || n.contains("_anon_")
                || n.contains("_RC4_")
                || n.contains("_DES_CBC_")
                || n.contains("3DES")
                || n.contains("_DES40_"))
    })
}

/// A GREASE value (RFC 8701 §2): 0x0A0A, 0x1A1A ... 0xFAFA.
pub(crate) fn grease(value: u16) -> bool {
    value & 0x0f0f == 0x0a0a && (value >> 8) == (value & 0xff)
}

/// ALPN identifiers nDPI treats as common (its `common_alpns` list: the
/// IANA registry's usual entries and the QUIC drafts); any other advertised
/// value raises "Uncommon TLS ALPN".
pub(crate) fn common_alpn(alpn: &[u8]) -> bool {
    const COMMON: &[&[u8]] = &[
        b"http/0.9",
        b"http/1.0",
        b"http/1.1",
        b"spdy/1",
        b"spdy/2",
        b"spdy/3",
        b"spdy/3.1",
        b"stun.turn",
        b"stun.nat-discovery",
        b"h2",
        b"h2c",
        b"h2-16",
        b"h2-15",
        b"h2-14",
        b"h2-fb",
        b"webrtc",
        b"c-webrtc",
        b"ftp",
        b"imap",
        b"pop3",
        b"managesieve",
        b"coap",
        b"xmpp-client",
        b"xmpp-server",
        b"acme-tls/1",
        b"mqtt",
        b"dot",
        b"ntske/1",
        b"sunrpc",
        b"h3",
        b"smb",
        b"irc",
        b"h3-T051",
        b"h3-T050",
        b"h3-34",
        b"h3-33",
        b"h3-32",
        b"h3-31",
        b"h3-30",
        b"h3-29",
        b"h3-28",
        b"h3-27",
        b"h3-24",
        b"h3-22",
        b"hq-30",
        b"hq-29",
        b"hq-28",
        b"hq-27",
        b"hq-interop",
        b"h3-fb-05",
        b"h1q-fb",
        b"doq",
        b"doq-i00",
        b"doq-i01",
        b"doq-i02",
        b"doq-i03",
        b"doq-i04",
        b"doq-i05",
        b"doq-i06",
        b"doq-i07",
        b"doq-i08",
        b"doq-i09",
        b"doq-i10",
        b"doq-i11",
        b"doq-i12",
    ];
    COMMON.contains(&alpn)
}

/// Whether an extension type is suspicious in a hello, as nDPI judges it:
/// above the IANA range (59 at the time) and not one of the well-known
/// unregistered ones (NPN, Channel ID, ALPS, old QUIC parameters, ECH,
/// renegotiation_info, GREASE), or a DTLS-only extension over TLS.
pub(crate) fn suspicious_extension(ext: u16, dtls: bool) -> bool {
    const KNOWN_UNREGISTERED: &[u16] = &[
        13172, // next_protocol_negotiation
        30032, // channel_id
        65445, // quic_transport_parameters (drafts)
        17513, 17613, // application_settings (ALPS)
        65281, // renegotiation_info (RFC 5746)
        65037, // encrypted_client_hello
        // GREASE-like group and cipher values some stacks put here.
        1035, 16696, 102, 129, 52243, 52244, 57363, 65279, 65413,
    ];
    if ext > 59 {
        return !grease(ext) && !KNOWN_UNREGISTERED.contains(&ext);
    }
    // use_srtp (14) is fine anywhere; connection_id (53, 54) is DTLS-only.
    !dtls && matches!(ext, 53 | 54)
}

/// "1.2"-style name of a protocol version (as the record exports it).
pub(crate) fn version_name(version: u16) -> Option<&'static str> {
    Some(match version {
        0x0200 => "2.0",
        0x0300 => "3.0",
        0x0301 => "1.0",
        0x0302 => "1.1",
        0x0303 => "1.2",
        0x0304 => "1.3",
        0xfeff => "1.0",
        0xfefd => "1.2",
        0xfefc => "1.3",
        _ => return None,
    })
}

/// nDPI's name of a version ("TLSv1", "TLSv1.2"), for risk explanations.
pub(crate) fn ndpi_version_name(version: u16) -> &'static str {
    match version {
        0x0200 => "SSLv2",
        0x0300 => "SSLv3",
        0x0301 => "TLSv1",
        0x0302 => "TLSv1.1",
        0x0303 => "TLSv1.2",
        0x0304 => "TLSv1.3",
        0xfeff => "DTLSv1.0",
        0xfefd => "DTLSv1.2",
        0xfefc => "DTLSv1.3",
        _ => "TLS (unknown version)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grease_values_are_the_sixteen_of_rfc_8701() {
        let all: Vec<u16> = (0..=u16::MAX).filter(|v| grease(*v)).collect();
        assert_eq!(all.len(), 16);
        assert_eq!(all.first(), Some(&0x0a0a));
        assert_eq!(all.last(), Some(&0xfafa));
    }

    #[test]
    fn weak_ciphers_follow_ndpi_and_the_broken_ones() {
        assert!(weak(0x002f) && weak(0x000a) && weak(0x0005) && weak(0x0003));
        assert!(weak(0xc008) && weak(0x0013));
        assert!(!weak(0xc02f) && !weak(0x1301) && !weak(0x00ff));
        assert_eq!(name(0xc030), Some("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"));
        assert_eq!(display(0x1234), "0x1234");
    }

    #[test]
    fn unregistered_extensions_are_suspicious_unless_well_known() {
        assert!(suspicious_extension(65283, false));
        assert!(!suspicious_extension(65281, false));
        assert!(!suspicious_extension(0x2a2a, false));
        assert!(!suspicious_extension(43, false));
        assert!(suspicious_extension(54, false) && !suspicious_extension(54, true));
    }
}
