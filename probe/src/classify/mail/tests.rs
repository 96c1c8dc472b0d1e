//! Mail and FTP classifier tests: nDPI's captures (protocol, users, login
//! outcome, risks), SASL, STARTTLS, undecided greetings, every prefix, other
//! protocols.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use sonde_proto::v1;

use super::super::testing::{OwnedPacket, every_prefix, flows, l7_name, payloads};
use super::super::{Findings, Kind, Parse, Probe, Protocol, Risk, Transport};
use super::*;

fn risk_names(flow: &v1::Flow) -> Vec<&str> {
    flow.risks.iter().map(|r| r.name.as_str()).collect()
}

fn extra<'a>(flow: &'a v1::Flow, key: &str) -> Option<&'a str> {
    flow.l7.as_ref()?.extra.get(key).map(String::as_str)
}

/// Feeds lines (payload, sent by the server) through a fresh parser, the
/// client on `client_port`, the server on `server_port`; `from_client` is
/// taken from `flip` (a capture that missed the handshake may invert it).
fn run(server_port: u16, flip: bool, packets: &[(&[u8], bool)]) -> (Parse, Findings) {
    let mut parser = Parser::default();
    let mut out = Findings::default();
    let mut seq = [100u32, 5000u32];
    let mut last = Parse::Incomplete;
    for (payload, by_server) in packets {
        let i = usize::from(*by_server);
        let p = OwnedPacket::tcp(payload, !*by_server, server_port, seq[i]);
        seq[i] += payload.len() as u32;
        last = parser.parse(&p.view(!*by_server ^ flip), &mut out);
        if last != Parse::Incomplete {
            break;
        }
    }
    (last, out)
}

#[test]
fn smtp_pcap_is_smtp_with_the_greeting_host() {
    let flows = flows("smtp.pcap");
    let f = flows
        .iter()
        .find(|f| l7_name(f) == "SMTP")
        .expect("an SMTP flow");
    assert_eq!(extra(f, "smtp.host"), Some("pigeon.eyrie.af.mil"));
    assert_eq!(extra(f, "smtp.helo"), Some("delta.peach.mil"));
    assert_eq!(extra(f, "smtp.mail_from"), Some("<coreys@delta.peach.mil>"));
    assert_eq!(
        extra(f, "smtp.rcpt_to"),
        Some("<camronm@pigeon.eyrie.af.mil>")
    );
    assert!(risk_names(f).is_empty(), "{:?}", risk_names(f));
}

#[test]
fn smtp_with_starttls_becomes_smtps() {
    let flows = flows("smtp-starttls.pcap");
    let smtps: Vec<_> = flows
        .iter()
        .filter(|f| f.l7.as_ref().is_some_and(|l| l.protocol == "SMTPS"))
        .collect();
    assert_eq!(smtps.len(), 2);
    // nDPI's host for the Google flow is the greeting's (no SNI was sent);
    // the other flow's is its SNI, which the TLS parser records.
    let google = smtps
        .iter()
        .find(|f| extra(f, "smtp.host") == Some("mx.google.com"))
        .expect("the Google flow");
    assert_eq!(extra(google, "smtp.helo"), Some("xxxxxxxxxxxxx.xxx.com"));
}

#[test]
fn pop3_pcap_gives_users_and_credentials_risks() {
    let flows = flows("pop3.pcap");
    let pop3: Vec<_> = flows.iter().filter(|f| l7_name(f) == "POP3").collect();
    assert_eq!(pop3.len(), 6);
    let user = pop3
        .iter()
        .find(|f| extra(f, "pop3.user") == Some("cicciopernacchio@mail.com"))
        .expect("the USER/PASS flow");
    assert_eq!(extra(user, "pop3.auth"), Some("succeeded"));
    let risks = risk_names(user);
    assert!(
        risks.contains(&"Unsafe Protocol") && risks.contains(&"Clear-Text Credentials"),
        "{risks:?}"
    );
    let info = user
        .risks
        .iter()
        .find(|r| r.name == "Clear-Text Credentials")
        .unwrap();
    assert_eq!(info.info, "Found username (cicciopernacchio@mail.com)");
    // AUTH PLAIN sends the password in base64: clear text too (nDPI's POP3
    // dissector only reads USER/PASS, so it shows no credentials there).
    let sasl: Vec<_> = pop3
        .iter()
        .filter(|f| extra(f, "pop3.user") == Some("digitalinvestigator@networksims.com"))
        .collect();
    assert_eq!(sasl.len(), 3);
    let outcomes: Vec<_> = sasl.iter().filter_map(|f| extra(f, "pop3.auth")).collect();
    assert_eq!(
        outcomes.iter().filter(|o| **o == "failed").count(),
        1,
        "{outcomes:?}"
    );
    for f in pop3 {
        assert!(risk_names(f).contains(&"Unsafe Protocol"));
    }
}

#[test]
fn imap_pcap_gives_the_login_user() {
    let flows = flows("imap.pcap");
    let f = flows
        .iter()
        .find(|f| l7_name(f) == "IMAP")
        .expect("an IMAP flow");
    assert_eq!(extra(f, "imap.user"), Some("samir"));
    assert_eq!(extra(f, "imap.auth"), Some("succeeded"));
    let risk = f
        .risks
        .iter()
        .find(|r| r.name == "Clear-Text Credentials")
        .expect("risk");
    assert_eq!(risk.info, "Found IMAP username (samir)");
    assert!(risk_names(f).contains(&"Unsafe Protocol"));
}

#[test]
fn ftp_failed_pcap_shows_the_failed_login() {
    let flows = flows("ftp_failed.pcap");
    let f = flows
        .iter()
        .find(|f| l7_name(f) == "FTP_CONTROL")
        .expect("an FTP flow");
    assert_eq!(extra(f, "ftp.user"), Some("hello"));
    assert_eq!(extra(f, "ftp.auth"), Some("failed"));
    let risk = f
        .risks
        .iter()
        .find(|r| r.name == "Clear-Text Credentials")
        .expect("risk");
    assert_eq!(risk.info, "Found FTP username (hello)");
    assert!(risk_names(f).contains(&"Unsafe Protocol"));
}

#[test]
fn smtp_auth_login_split_over_segments_names_the_user() {
    let (parse, out) = run(
        2525,
        false,
        &[
            (b"220 mail.example.org ESMTP ready\r\n", true),
            (b"EHLO client.example\r\n", false),
            (b"250-mail.example.org\r\n250 AUTH LOGIN PLAIN\r\n", true),
            (b"AUTH LO", false),
            (b"GIN\r\n", false),
            (b"334 VXNlcm5hbWU6\r\n", true),
            (b"YWxp", false),
            (b"Y2U=\r\n", false),
            (b"334 UGFzc3dvcmQ6\r\n", true),
            (b"c2VjcmV0\r\n", false),
            (b"535 5.7.8 Authentication credentials invalid\r\n", true),
            (b"QUIT\r\n", false),
        ],
    );
    assert_eq!(parse, Parse::Done);
    assert_eq!(out.protocol, Protocol::Smtp);
    assert_eq!(out.host, "mail.example.org");
    assert_eq!(
        out.l7.extra.get("smtp.user").map(String::as_str),
        Some("alice")
    );
    assert_eq!(
        out.l7.extra.get("smtp.auth").map(String::as_str),
        Some("failed")
    );
    assert!(out.risks.has(Risk::ClearTextCredentials));
    assert!(
        !out.l7.extra.values().any(|v| v.contains("secret")),
        "no password kept"
    );
}

#[test]
fn smtp_auth_plain_initial_response_names_the_user() {
    let (_, out) = run(
        587,
        false,
        &[
            (b"220 mx ESMTP\r\n", true),
            (b"AUTH PLAIN AGJvYgBwdw==\r\n", false),
            (b"235 2.7.0 Authentication successful\r\n", true),
        ],
    );
    assert_eq!(
        out.l7.extra.get("smtp.user").map(String::as_str),
        Some("bob")
    );
    assert_eq!(
        out.l7.extra.get("smtp.auth").map(String::as_str),
        Some("succeeded")
    );
}

#[test]
fn a_bare_220_greeting_is_decided_by_the_next_command() {
    let (_, out) = run(
        2100,
        false,
        &[
            (b"220 Welcome\r\n", true),
            (b"USER anonymous\r\n", false),
            (b"331 Password please\r\n", true),
        ],
    );
    assert_eq!(out.protocol, Protocol::Ftp);
    assert_eq!(
        out.l7.extra.get("ftp.user").map(String::as_str),
        Some("anonymous")
    );
    let (_, out) = run(
        2500,
        false,
        &[(b"220 Welcome\r\n", true), (b"EHLO me\r\n", false)],
    );
    assert_eq!(out.protocol, Protocol::Smtp);
    let (_, out) = run(
        1100,
        false,
        &[
            (b"USER carol\r\n", false),
            (b"+OK\r\n", true),
            (b"PASS pw\r\n", false),
            (b"-ERR denied\r\n", true),
        ],
    );
    assert_eq!(out.protocol, Protocol::Pop3);
    assert_eq!(
        out.l7.extra.get("pop3.user").map(String::as_str),
        Some("carol")
    );
    assert_eq!(
        out.l7.extra.get("pop3.auth").map(String::as_str),
        Some("failed")
    );
}

#[test]
fn the_sender_is_told_by_the_lines_not_the_packet_order() {
    // The capture missed the handshake: the greeting came "from the client".
    let (parse, out) = run(
        143,
        true,
        &[
            (b"* OK IMAP4rev1 ready\r\n", true),
            (b"a1 LOGIN \"dave\" \"pw\"\r\n", false),
            (
                b"a1 NO [AUTHENTICATIONFAILED] Invalid credentials\r\n",
                true,
            ),
        ],
    );
    assert_eq!(parse, Parse::Done);
    assert_eq!(out.protocol, Protocol::Imap);
    assert_eq!(
        out.l7.extra.get("imap.user").map(String::as_str),
        Some("dave")
    );
    assert_eq!(
        out.l7.extra.get("imap.auth").map(String::as_str),
        Some("failed")
    );
}

#[test]
fn imap_and_pop3_starttls_become_their_tls_names() {
    let (parse, out) = run(
        143,
        false,
        &[
            (b"* OK ready\r\n", true),
            (b"x STARTTLS\r\n", false),
            (b"x OK Begin TLS\r\n", true),
        ],
    );
    assert_eq!((parse, out.protocol), (Parse::Incomplete, Protocol::Imaps));
    let (_, out) = run(
        110,
        false,
        &[
            (b"+OK ready\r\n", true),
            (b"STLS\r\n", false),
            (b"+OK go\r\n", true),
        ],
    );
    assert_eq!(out.protocol, Protocol::Pops);
    let (parse, out) = run(
        110,
        false,
        &[
            (b"+OK ready\r\n", true),
            (b"STLS\r\n", false),
            (b"+OK go\r\n", true),
            (b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00", false),
        ],
    );
    assert_eq!((parse, out.protocol), (Parse::Skip, Protocol::Pops));
    let (parse, _) = run(
        21,
        false,
        &[
            (b"220 FTP\r\n", true),
            (b"AUTH TLS\r\n", false),
            (b"234 go\r\n", true),
        ],
    );
    assert_eq!(parse, Parse::Skip);
}

#[test]
fn base64_and_sasl_plain_decode() {
    assert_eq!(base64(b"YWxpY2U=").as_deref(), Some(&b"alice"[..]));
    assert_eq!(base64(b"AGJvYgBwdw==").as_deref(), Some(&b"\0bob\0pw"[..]));
    assert_eq!(base64(b"not base64!"), None);
    assert_eq!(sasl_plain_user(b"\0bob\0pw"), Some(&b"bob"[..]));
    assert_eq!(sasl_plain_user(b"admin\0\0pw"), Some(&b"admin"[..]));
    assert_eq!(sasl_plain_user(b"nonul"), None);
}

fn probe_of(bytes: &[u8], server_port: u16) -> Probe {
    let p = OwnedPacket {
        payload: bytes.to_vec(),
        src_port: 40000,
        dst_port: server_port,
        transport: Transport::Tcp,
        tcp_seq: Some(0),
        ts_us: 0,
    };
    probe(&p.view(true))
}

#[test]
fn the_probe_reads_greetings_and_commands() {
    for (bytes, port) in [
        (&b"220 smtp.example ESMTP\r\n"[..], 25),
        (b"220 (vsFTPd 3.0.3)\r\n", 21),
        (b"+OK POP3 ready\r\n", 110),
        (b"* OK IMAP4rev1\r\n", 143),
        (b"EHLO me\r\n", 25),
        (b"USER bob\r\n", 21),
        (b"C00001 LOGIN samir pfres\r\n", 143),
        (b"CAPA\r\n", 110),
    ] {
        assert_eq!(
            probe_of(bytes, port),
            Probe::Match,
            "{}",
            String::from_utf8_lossy(bytes)
        );
    }
    assert_eq!(probe_of(b"22", 25), Probe::Unsure);
    assert_eq!(
        probe_of(b"USER xxxxx +iw xxxxx :Xxxxxx Xxxx\r\n", 6667),
        Probe::NoMatch
    );
    assert_eq!(
        probe_of(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 80),
        Probe::NoMatch
    );
    assert_eq!(probe_of(b"SSH-2.0-OpenSSH_8.9\r\n", 22), Probe::NoMatch);
    assert_eq!(probe_of(b"HTTP/1.1 200 OK\r\n", 80), Probe::NoMatch);
}

#[test]
fn other_protocols_are_not_claimed() {
    crate::classify::testing::assert_not_claimed(
        probe,
        &[
            "dns.pcap",
            "443-chrome.pcap",
            "ssh.pcap",
            "http.pcapng",
            "quic-29.pcap",
            "irc.pcap",
        ],
    );
}

#[test]
fn every_prefix_of_greetings_and_commands_is_safe() {
    for capture in [
        "smtp.pcap",
        "pop3.pcap",
        "imap.pcap",
        "ftp_failed.pcap",
        "smtp-starttls.pcap",
    ] {
        for p in payloads(capture)
            .iter()
            .filter(|p| p.payload.len() > 2)
            .take(8)
        {
            for from_client in [true, false] {
                for (len, parse) in every_prefix(Kind::Mail, p, from_client)
                    .into_iter()
                    .enumerate()
                {
                    // A cut line is never read: only whole lines decide.
                    let cut = p.payload.get(..len).unwrap();
                    if !cut.contains(&b'\n') {
                        assert_ne!(parse, Parse::Done, "{capture} cut at {len}");
                    }
                }
            }
        }
    }
}
