//! The verdict of a flow when its record is built: what DPI found, plus what
//! only the whole flow tells (its counters, flags, addresses and time): the
//! application by host name or address, the category, and the flow-level
//! risks (non-standard port, unidirectional traffic, TCP scans and refusals,
//! certificate validity at the flow's time, numeric or DGA-like host names).

use std::net::IpAddr;

use sonde_proto::v1;

use super::apps::App;
use super::{DpiSettings, FlowDpi, Protocol, Risk, Risks, Transport, dns};
use crate::decode::tcp_flags as f;

/// What the flow table knows of a flow, for its verdict.
#[derive(Clone, Copy, Debug)]
pub struct FlowFacts {
    pub ip_protocol: u8,
    pub client: (IpAddr, u16),
    pub server: (IpAddr, u16),
    /// Whether the client / server ever sent a packet, and payload.
    pub sent: [bool; 2],
    pub sent_payload: [bool; 2],
    /// TCP flags seen per direction in the record's interval.
    pub tcp_flags: [u8; 2],
    /// Zeek connection state (`REJ`, `S0`...).
    pub conn_state: &'static str,
    pub first_seen_us: u64,
}

impl FlowFacts {
    fn transport(&self) -> Transport {
        Transport::of_ip_protocol(self.ip_protocol)
    }
}

/// The exported classification of a flow: the `l7` message, its risks and
/// their summed score. For a flow's last record (`last`) the metadata is
/// moved out of the findings, which are dropped with the flow; an interim
/// record gets a copy.
pub(crate) fn verdict(
    dpi: Option<&mut FlowDpi>,
    facts: &FlowFacts,
    settings: &DpiSettings,
    last: bool,
) -> (Option<v1::L7>, Vec<v1::FlowRisk>, u32) {
    let findings = dpi.as_deref().and_then(FlowDpi::findings);
    let mut risks = findings.map(|f| f.risks.clone()).unwrap_or_default();
    flow_risks(facts, &mut risks);
    let protocol = match findings.map(|f| f.protocol) {
        Some(p) if p != Protocol::Unknown => p,
        _ => Protocol::of_ip_protocol(facts.ip_protocol).unwrap_or_default(),
    };
    if !settings.enabled && protocol == Protocol::Unknown {
        let score = risks.score();
        return (None, risks.to_records(), score);
    }
    let host = findings.map(|f| f.host.as_str()).unwrap_or_default();
    let app: Option<App<'_>> = match findings {
        Some(f) if f.application.is_some() => {
            f.application.and_then(|name| settings.apps.by_name(name))
        }
        Some(f) if f.sub_protocol.is_some() => f.sub_protocol.map(|p| App {
            name: p.name(),
            category: p.category(),
        }),
        _ => None,
    }
    .or_else(|| {
        (!host.is_empty())
            .then(|| settings.apps.by_host(host, protocol))
            .flatten()
    })
    .or_else(|| {
        // A server certificate names its owner even when the SNI does not
        // (`localhost` served with a certificate of `O=ntop.org`).
        let tls = findings?.l7.tls.as_ref()?;
        cert_domains(&tls.server_subject).find_map(|d| settings.apps.by_host(d, protocol))
    })
    .or_else(|| settings.apps.by_ip_for(facts.server.0, protocol))
    // nDPI's "Match by IP": an address names the application only when the
    // payload named no protocol (a TLS flow to Apple's network stays `TLS`).
    .or_else(|| {
        (protocol == Protocol::Unknown)
            .then(|| settings.apps.by_ip(facts.server.0, protocol))
            .flatten()
    })
    .filter(|a| !a.name.eq_ignore_ascii_case(protocol.name()));

    if protocol != Protocol::Unknown {
        host_risks(protocol, host, &mut risks);
        // A sub-protocol has its own ports (SMBv2 on 445 inside NetBIOS,
        // whose own TCP port is 139).
        let ported = findings.and_then(|f| f.sub_protocol).unwrap_or(protocol);
        if !ported.standard_port(facts.transport(), facts.server.1)
            && !ported.standard_port(facts.transport(), facts.client.1)
        {
            risks.set(Risk::KnownProtocolOnNonStandardPort);
        }
        let sub_unsafe = findings
            .and_then(|f| f.sub_protocol)
            .is_some_and(Protocol::is_unsafe);
        if protocol.is_unsafe() || sub_unsafe {
            risks.set(Risk::UnsafeProtocol);
        }
    }
    let mut l7 = match dpi.and_then(|d| d.findings.as_deref_mut()) {
        Some(f) if last => std::mem::take(&mut f.l7),
        Some(f) => f.l7.clone(),
        None => v1::L7::default(),
    };
    if let Some(tls) = &l7.tls {
        cert_risks(tls, facts.first_seen_us, settings, &mut risks);
    }
    if protocol == Protocol::Unknown && app.is_none() {
        let score = risks.score();
        let l7 = (l7 != v1::L7::default()).then_some(l7);
        return (l7, risks.to_records(), score);
    }
    l7.protocol = if protocol == Protocol::Unknown {
        String::new()
    } else {
        protocol.name().to_owned()
    };
    l7.application = app.map(|a| a.name.to_owned()).unwrap_or_default();
    l7.category = category(protocol, app).to_owned();
    let score = risks.score();
    (Some(l7), risks.to_records(), score)
}

/// nDPI's category: the application's, except where the master's own
/// category says more about the flow (a DNS lookup of a Facebook name is
/// `Network` traffic, mail to Google's servers is `Email`).
fn category<'a>(protocol: Protocol, app: Option<App<'a>>) -> &'a str {
    let keeps_own = matches!(protocol.category(), "Network" | "Email")
        && !matches!(protocol, Protocol::Stun | Protocol::Dtls);
    match app {
        Some(a) if !keeps_own && !a.category.is_empty() => a.category,
        _ => protocol.category(),
    }
}

/// The domain-like values of a certificate subject (`CN=*.example.com`,
/// `O=ntop.org`), without wildcard labels.
fn cert_domains(subject: &str) -> impl Iterator<Item = &str> {
    subject
        .split(',')
        .filter_map(|rdn| rdn.split_once('=').map(|(_, v)| v.trim()))
        .map(|v| v.trim_start_matches("*."))
        .filter(|v| v.contains('.') && !super::cursor::is_ip_text(v))
}

/// Risks of the flow's shape: TCP scans and refusals, one-way traffic.
fn flow_risks(facts: &FlowFacts, risks: &mut Risks) {
    let [client, server] = facts.tcp_flags;
    if facts.transport() == Transport::Tcp && facts.sent[0] {
        let scan = match client {
            0 => Some("TCP NULL scan"),
            c if c == f::FIN => Some("TCP FIN scan"),
            c if c & (f::FIN | f::PSH | f::URG) == f::FIN | f::PSH | f::URG && c & f::SYN == 0 => {
                Some("TCP XMAS scan")
            }
            _ => None,
        };
        if let Some(scan) = scan {
            risks.set_with(Risk::TcpIssues, scan);
        } else if client & f::SYN != 0 && server & f::RST != 0 && !facts.sent_payload[1] {
            risks.set_with(Risk::TcpIssues, "Connection refused (server)");
        }
    }
    let one_way_to_unicast = !multicast_or_broadcast(facts.server.0);
    if matches!(facts.transport(), Transport::Tcp | Transport::Udp)
        && facts.sent_payload[0]
        && !facts.sent[1]
        && one_way_to_unicast
    {
        risks.set_with(Risk::Unidirectional, "No server to client traffic");
    }
}

fn multicast_or_broadcast(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.is_multicast() || a.is_broadcast() || a.octets()[3] == 255,
        IpAddr::V6(a) => a.is_multicast(),
    }
}

/// Risks of the host name a flow names (SNI, Host header, DNS query).
fn host_risks(protocol: Protocol, host: &str, risks: &mut Risks) {
    if host.is_empty() {
        return;
    }
    let names_a_host = matches!(protocol, Protocol::Tls | Protocol::Quic | Protocol::Http);
    let bare = host
        .rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host, |(h, _)| h);
    let bare = bare.trim_start_matches('[').trim_end_matches(']');
    if names_a_host && (super::cursor::is_ip_text(bare) || super::cursor::is_ip_text(host)) {
        risks.set_with(Risk::NumericIpHost, host);
    } else if matches!(
        protocol,
        Protocol::Dns | Protocol::Tls | Protocol::Quic | Protocol::Http
    ) && dns::dga::suspicious(bare)
    {
        risks.set_with(Risk::SuspiciousDgaDomain, bare);
    }
}

/// Certificate validity against the flow's own time (a replay of an old
/// capture is judged as of when it was captured).
fn cert_risks(tls: &v1::TlsInfo, now_us: u64, settings: &DpiSettings, risks: &mut Risks) {
    let (from, until) = (tls.server_not_before_us, tls.server_not_after_us);
    if until == 0 || now_us == 0 {
        return;
    }
    let validity = || format!("{} - {}", date(from), date(until));
    if now_us > until || (from != 0 && now_us < from) {
        risks.set_with(Risk::TlsCertificateExpired, validity());
    } else if until - now_us <= settings.cert_expiry_warning_us {
        risks.set_with(Risk::TlsCertificateAboutToExpire, validity());
    }
}

/// `YYYY-MM-DD` of a time in microseconds since the epoch.
fn date(us: u64) -> String {
    let days = (us / 86_400_000_000) as i64;
    // Civil from days (H. Hinnant's algorithm), proleptic Gregorian.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn facts(ip_protocol: u8, server: &str, port: u16) -> FlowFacts {
        FlowFacts {
            ip_protocol,
            client: ("192.168.1.2".parse().unwrap(), 50_000),
            server: (server.parse().unwrap(), port),
            sent: [true, true],
            sent_payload: [true, true],
            tcp_flags: [0x1b, 0x1b],
            conn_state: "SF",
            first_seen_us: 1_700_000_000_000_000,
        }
    }

    fn dpi_with(protocol: Protocol, host: &str, subject: &str) -> FlowDpi {
        let mut dpi = FlowDpi::new(Transport::Tcp);
        let findings = dpi.findings.get_or_insert_with(Box::default);
        findings.protocol = protocol;
        findings.set_host(host.as_bytes());
        if !subject.is_empty() {
            findings.tls().server_subject = subject.to_owned();
        }
        dpi
    }

    fn name(l7: &v1::L7) -> String {
        format!("{}.{}/{}", l7.protocol, l7.application, l7.category)
    }

    #[test]
    fn an_address_names_the_application_only_without_a_protocol() {
        let settings = DpiSettings::default();
        // TLS to Apple's network without an SNI stays TLS, as in nDPI.
        let mut tls = dpi_with(Protocol::Tls, "", "");
        let (l7, _, _) = verdict(
            Some(&mut tls),
            &facts(6, "17.173.66.102", 443),
            &settings,
            true,
        );
        assert_eq!(name(&l7.unwrap()), "TLS./Web");
        // Without payload, the address is all there is ("Match by IP").
        let (l7, _, _) = verdict(None, &facts(6, "17.173.66.102", 443), &settings, true);
        assert_eq!(name(&l7.unwrap()), ".Apple/Web");
    }

    #[test]
    fn a_certificate_subject_names_the_application_when_the_sni_does_not() {
        let settings = DpiSettings::default();
        let mut tls = dpi_with(
            Protocol::Tls,
            "localhost",
            "C=IT, ST=Some-State, O=ntop.org",
        );
        let (l7, _, _) = verdict(
            Some(&mut tls),
            &facts(6, "127.0.0.1", 3001),
            &settings,
            true,
        );
        assert_eq!(name(&l7.unwrap()), "TLS.ntop/Network");
    }

    #[test]
    fn dns_and_mail_keep_their_own_category() {
        let settings = DpiSettings::default();
        let mut dns = dpi_with(Protocol::Dns, "star.c10r.facebook.com", "");
        let (l7, _, _) = verdict(
            Some(&mut dns),
            &facts(17, "192.0.2.53", 53),
            &settings,
            true,
        );
        assert_eq!(name(&l7.unwrap()), "DNS.Facebook/Network");
        let mut tls = dpi_with(Protocol::Tls, "www.facebook.com", "");
        let (l7, _, _) = verdict(Some(&mut tls), &facts(6, "192.0.2.1", 443), &settings, true);
        assert_eq!(name(&l7.unwrap()), "TLS.Facebook/SocialNetwork");
        let mut smtps = dpi_with(Protocol::Smtps, "mx.google.com", "");
        let (l7, _, _) = verdict(
            Some(&mut smtps),
            &facts(6, "192.0.2.25", 587),
            &settings,
            true,
        );
        assert_eq!(name(&l7.unwrap()), "SMTPS.Google/Email");
    }

    #[test]
    fn dates_are_civil() {
        assert_eq!(date(0), "1970-01-01");
        // 2016-10-09 15:55:47 UTC, selfsigned.pcap's certificate end.
        assert_eq!(date(1_476_028_547_000_000), "2016-10-09");
        assert_eq!(date(951_782_400_000_000), "2000-02-29");
    }
}
