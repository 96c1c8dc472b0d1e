//! Flow risks in nDPI's names, severities and scores (the scores ndpiReader
//! prints: low 10, medium 50, high 100, severe 150, critical 200), so a
//! sonde verdict reads the same as ntopng's. A flow's risk set is a bitmap
//! plus an optional short explanation per risk.

use sonde_proto::v1;

/// nDPI's severity levels; SO's 1-4 scale folds the top three into critical.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Level {
    Low,
    Medium,
    High,
    Severe,
    #[allow(
        dead_code,
        reason = "nDPI's scale; no risk of the catalogue is critical yet"
    )]
    Critical,
}

impl Level {
    pub(crate) fn score(self) -> u32 {
        match self {
            Level::Low => 10,
            Level::Medium => 50,
            Level::High => 100,
            Level::Severe => 150,
            Level::Critical => 200,
        }
    }

    pub(crate) fn severity(self) -> v1::Severity {
        match self {
            Level::Low => v1::Severity::Low,
            Level::Medium => v1::Severity::Medium,
            Level::High => v1::Severity::High,
            Level::Severe | Level::Critical => v1::Severity::Critical,
        }
    }
}

macro_rules! risks {
    ($($variant:ident = $name:literal, $level:ident;)*) => {
        /// One flow risk.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub(crate) enum Risk {
            $($variant,)*
        }

        impl Risk {
            pub(crate) const ALL: &'static [Risk] = &[$(Risk::$variant,)*];

            /// nDPI's name, as ndpiReader prints it.
            pub(crate) fn name(self) -> &'static str {
                match self {
                    $(Risk::$variant => $name,)*
                }
            }

            pub(crate) fn level(self) -> Level {
                match self {
                    $(Risk::$variant => Level::$level,)*
                }
            }
        }
    };
}

risks! {
    UrlPossibleXss = "XSS Attack", Severe;
    UrlPossibleSqlInjection = "SQL Injection", Severe;
    UrlPossibleRceInjection = "RCE Injection", Severe;
    BinaryApplicationTransfer = "Binary App Transfer", Severe;
    KnownProtocolOnNonStandardPort = "Known Proto on Non Std Port", Medium;
    TlsSelfSignedCertificate = "Self-signed Cert", High;
    TlsObsoleteVersion = "Obsolete TLS (v1.1 or older)", High;
    TlsWeakCipher = "Weak TLS Cipher", High;
    TlsCertificateExpired = "TLS Cert Expired", High;
    TlsCertificateMismatch = "TLS Cert Mismatch", High;
    HttpSuspiciousUserAgent = "HTTP Susp User-Agent", High;
    NumericIpHost = "HTTP/TLS/QUIC Numeric Hostname/SNI", Low;
    HttpSuspiciousUrl = "HTTP Susp URL", High;
    HttpSuspiciousHeader = "HTTP Susp Header", High;
    TlsNotCarryingHttps = "TLS (probably) Not Carrying HTTPS", Low;
    SuspiciousDgaDomain = "Susp DGA Domain name", High;
    MalformedPacket = "Malformed Packet", Low;
    SshObsoleteClient = "SSH Obsolete Cli Vers/Cipher", High;
    SshObsoleteServer = "SSH Obsolete Ser Vers/Cipher", Medium;
    SmbInsecureVersion = "SMB Insecure Vers", High;
    UnsafeProtocol = "Unsafe Protocol", Low;
    DnsSuspiciousTraffic = "Susp DNS Traffic", Medium;
    TlsMissingSni = "Missing SNI TLS Extn", Medium;
    HttpSuspiciousContent = "HTTP Susp Content", High;
    TlsUncommonAlpn = "Uncommon TLS ALPN", Medium;
    TlsCertValidityTooLong = "TLS Cert Validity Too Long", Medium;
    TlsSuspiciousExtension = "TLS Susp Extn", High;
    TlsFatalAlert = "TLS Fatal Alert", Low;
    SuspiciousEntropy = "Susp Entropy", Low;
    ClearTextCredentials = "Clear-Text Credentials", High;
    DnsLargePacket = "Large DNS Packet (512+ bytes)", Medium;
    DnsFragmented = "Fragmented DNS Message", Medium;
    InvalidCharacters = "Text With Non-Printable Chars", High;
    PossibleExploit = "Possible Exploit Attempt", Severe;
    TlsCertificateAboutToExpire = "TLS Cert About To Expire", Medium;
    PunycodeIdn = "IDN Domain Name", Low;
    ErrorCode = "Error Code", Low;
    HttpCrawlerBot = "Crawler/Bot", Low;
    Unidirectional = "Unidirectional Traffic", Low;
    HttpObsoleteServer = "HTTP Obsolete Server", Medium;
    MinorIssues = "Minor Issues", Low;
    TcpIssues = "TCP Connection Issues", Medium;
    DesktopOrFileSharing = "Desktop/File Sharing", Low;
    ProbingAttempt = "Probing Attempt", Medium;
}

/// The risks of one flow with their explanations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Risks {
    bits: u64,
    /// Short explanations ("expired 2016-10-09"), one per risk at most.
    info: Vec<(Risk, String)>,
}

impl Risks {
    pub(crate) fn set(&mut self, risk: Risk) {
        self.bits |= 1u64 << (risk as u8);
    }

    /// Sets `risk` with an explanation; the first explanation is kept.
    pub(crate) fn set_with(&mut self, risk: Risk, info: impl Into<String>) {
        if !self.has(risk) {
            self.info.push((risk, info.into()));
        }
        self.set(risk);
    }

    pub(crate) fn has(&self, risk: Risk) -> bool {
        self.bits & (1u64 << (risk as u8)) != 0
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.bits == 0
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = Risk> + '_ {
        Risk::ALL.iter().copied().filter(|r| self.has(*r))
    }

    pub(crate) fn info(&self, risk: Risk) -> Option<&str> {
        self.info
            .iter()
            .find(|(r, _)| *r == risk)
            .map(|(_, s)| s.as_str())
    }

    /// Sum of the scores, as ndpiReader's "Risk Score".
    pub(crate) fn score(&self) -> u32 {
        self.iter().map(|r| r.level().score()).sum()
    }

    /// The exported form, in the order of [`Risk::ALL`].
    pub(crate) fn to_records(&self) -> Vec<v1::FlowRisk> {
        self.iter()
            .map(|r| v1::FlowRisk {
                name: r.name().to_owned(),
                severity: r.level().severity() as i32,
                score: r.level().score(),
                info: self.info(r).unwrap_or_default().to_owned(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_risk_fits_the_bitmap() {
        assert!(Risk::ALL.len() <= 64);
    }

    #[test]
    fn scores_add_up_like_ndpi_reader() {
        // selfsigned.pcap: "Known Proto on Non Std Port", "Self-signed Cert",
        // "TLS Cert Expired": Risk Score 250.
        let mut risks = Risks::default();
        risks.set(Risk::KnownProtocolOnNonStandardPort);
        risks.set(Risk::TlsSelfSignedCertificate);
        risks.set_with(Risk::TlsCertificateExpired, "2016-10-09");
        assert_eq!(risks.score(), 250);
        assert_eq!(risks.info(Risk::TlsCertificateExpired), Some("2016-10-09"));
        let records = risks.to_records();
        assert_eq!(records.len(), 3);
        assert_eq!(records[0].name, "Known Proto on Non Std Port");
    }
}
