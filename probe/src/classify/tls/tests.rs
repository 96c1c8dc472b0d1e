//! Real-capture, truncation and negative tests of the TLS classifier.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use super::super::testing::{flows, l7_name};

#[test]
#[ignore = "debug dump"]
fn dump() {
    for cap in [
        "443-chrome.pcap",
        "google_ssl.pcap",
        "443-git.pcap",
        "facebook.pcap",
        "google_chat.pcapng",
        "tls_ech.pcapng",
        "selfsigned.pcap",
        "ssl-cert-name-mismatch.pcap",
        "tls_multiple_synack_different_seq.pcapng",
        "tor.pcap",
        "whatsapp_login_chat.pcap",
        "6in4tunnel.pcap",
        "smtp-starttls.pcap",
        "zoom2.pcap",
    ] {
        println!("=== {cap}");
        for f in flows(cap) {
            if f.ip_protocol != 6
                || f.l7
                    .as_ref()
                    .is_none_or(|l| l.tls.is_none() && l.protocol.is_empty())
            {
                continue;
            }
            let l7 = f.l7.clone().unwrap_or_default();
            let c = f.client.as_ref().unwrap();
            let s = f.server.as_ref().unwrap();
            println!(
                "{}:{} -> {}:{} {} risks={:?}",
                hexip(&c.ip),
                c.port,
                hexip(&s.ip),
                s.port,
                l7_name(&f),
                f.risks
                    .iter()
                    .map(|r| format!("{}({})", r.name, r.info))
                    .collect::<Vec<_>>()
            );
            println!("   tls={:?}\n   extra={:?}", l7.tls, l7.extra);
        }
    }
}

fn hexip(b: &[u8]) -> String {
    if b.len() == 4 {
        format!("{}.{}.{}.{}", b[0], b[1], b[2], b[3])
    } else {
        super::fingerprint::hex(b)
    }
}

#[test]
#[ignore = "debug dump"]
fn dump6() {
    for f in flows("6in4tunnel.pcap") {
        println!(
            "{} {} {:?} {:?}",
            f.ip_protocol,
            l7_name(&f),
            f.client,
            f.server
        );
    }
}
