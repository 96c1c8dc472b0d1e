//! What the collector refuses, end to end with the real binaries: probes
//! with a certificate from an unknown CA, an expired one, or none (both sides
//! say why); TLS peers that send garbage; gRPC messages over the size limit;
//! streams past `server.max_connection_age` (closed, the probe reconnects).
//! After each, the collector still serves a good probe. And a probe killed
//! mid-stream and restarted: its new boot epoch is not mistaken for a replay.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use sonde_integration_tests::{bin, testdata};

use crate::transport::{Collector, Pki, free_port, probe_config_for, read_documents, replay};

/// A good probe still gets everything in.
fn still_serves(pki: &Pki, collector: &Collector, name: &str) {
    let (ok, stderr) = replay(
        &probe_config_for(pki, &collector.addr, name, "10s", "1MiB"),
        &testdata("community-id/zeek/pcaps/http-get.pcap"),
    );
    assert!(ok && stderr.contains(" 0 unacknowledged"), "{stderr}");
}

fn wait_for(collector: &Collector, text: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let log = collector.log();
        if log.contains(text) || std::time::Instant::now() > deadline {
            return log;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn unknown_expired_and_missing_client_certificates_are_refused_and_both_sides_say_why() {
    let pki = Pki::new(&["good"]);
    let collector = Collector::start_with(
        &pki,
        "127.0.0.1:0",
        &format!("[file]\ndir = {:?}\n", pki.path("ndjson")),
    );
    let pcap = testdata("community-id/zeek/pcaps/http-get.pcap");

    // Another CA.
    let (ok, probe_log) = replay(
        &probe_config_for(&pki, &collector.addr, "rogue", "2s", "1MiB"),
        &pcap,
    );
    assert!(!ok, "{probe_log}");
    assert!(
        probe_log.contains("UnknownCA"),
        "the probe says why: {probe_log}"
    );
    let log = wait_for(&collector, "UnknownIssuer");
    assert!(
        log.contains("TLS handshake refused") && log.contains("UnknownIssuer"),
        "the collector says why: {log}"
    );

    // Expired, from the right CA.
    let (ok, probe_log) = replay(
        &probe_config_for(&pki, &collector.addr, "expired", "2s", "1MiB"),
        &pcap,
    );
    assert!(!ok, "{probe_log}");
    assert!(
        probe_log.contains("CertificateExpired"),
        "the probe says why: {probe_log}"
    );
    let log = wait_for(&collector, "certificate expired");
    assert!(
        log.contains("certificate expired"),
        "the collector says the certificate expired: {log}"
    );

    // No certificate at all.
    let roots = {
        let mut roots = rustls::RootCertStore::empty();
        let pem = std::fs::read(pki.path("ca.pem")).unwrap();
        for cert in rustls_pki_types::pem::PemObject::pem_slice_iter(&pem) {
            let cert: rustls_pki_types::CertificateDer<'static> = cert.unwrap();
            roots.add(cert).unwrap();
        }
        roots
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls_pki_types::ServerName::try_from("collector.test").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, TcpStream::connect(&collector.addr).unwrap());
    tls.sock
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    // TLS 1.3: the client learns of the refusal on its first read.
    let _ = tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    let mut buf = [0u8; 64];
    let read = tls.read(&mut buf);
    assert!(
        !matches!(read, Ok(n) if n > 0),
        "a client without a certificate got data: {read:?}"
    );
    let log = wait_for(&collector, "peer sent no certificates");
    assert!(log.contains("peer sent no certificates"), "{log}");

    still_serves(&pki, &collector, "good");
    let documents = collector_documents(&collector);
    assert!(
        documents.iter().all(|d| d["observer"]["name"] == "good"),
        "{documents:?}"
    );
}

fn collector_documents(collector: &Collector) -> Vec<serde_json::Value> {
    // Through the NDJSON the collector wrote (its helper reads the directory).
    collector.documents_pub()
}

#[test]
fn garbage_and_oversized_messages_are_refused_without_harm() {
    use sonde_proto::v1;
    let pki = Pki::new(&["good", "big"]);
    let collector = Collector::start_with(
        &pki,
        "127.0.0.1:0",
        &format!("[file]\ndir = {:?}\n", pki.path("ndjson")),
    );

    // Plain garbage instead of a TLS ClientHello.
    let mut raw = TcpStream::connect(&collector.addr).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    raw.write_all(&[0x16, 0x03, 0x01, 0xff, 0xff, 0, 1, 2, 3])
        .unwrap();
    raw.write_all(&vec![0xAB; 70_000]).unwrap_or(());
    let mut sink = Vec::new();
    let _ = raw.read_to_end(&mut sink);
    let log = wait_for(&collector, "TLS handshake refused");
    assert!(log.contains("TLS handshake refused"), "{log}");

    // A message over the 8 MiB limit from an authenticated probe.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let files = sonde_common::tls::TlsFiles {
        ca: pki.path("ca.pem"),
        cert: pki.path("big.pem"),
        key: pki.path("big.key"),
    };
    let tls = Arc::new(sonde_common::tls::Reloading::client(files).unwrap());
    let settings = sonde_probe::export::ExportSettings {
        endpoint: collector.addr.clone(),
        server_name: "collector.test".into(),
        tls,
        observer: "big".into(),
        max_records: 100,
        max_bytes: 64 << 20,
        batch_bytes: 64 << 20,
        batch_delay: Duration::from_millis(10),
        shutdown_deadline: Duration::from_secs(3),
        interfaces: vec![],
        connected: Default::default(),
    };
    let huge = v1::Flow {
        flow_id: 1,
        ip_protocol: 6,
        // Incompressible, so gzip cannot bring it under the limit.
        history: (0..12_000_000u32)
            .map(|i| char::from(b'a' + (i.wrapping_mul(2_654_435_761) >> 27) as u8 % 26))
            .collect(),
        ..Default::default()
    };
    let summary = runtime.block_on(async {
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        tx.send(v1::Record {
            kind: Some(v1::record::Kind::Flow(Box::new(huge))),
        })
        .await
        .unwrap();
        drop(tx);
        sonde_probe::export::run(settings, rx).await
    });
    assert_eq!(summary.acknowledged_through, 0, "{summary:?}");

    still_serves(&pki, &collector, "good");
    let docs = collector_documents(&collector);
    assert!(!docs.is_empty());
    assert!(docs.iter().all(|d| d["observer"]["name"] == "good"));
}

#[test]
fn a_probe_killed_mid_stream_and_restarted_is_not_taken_for_a_replay() {
    let pki = Pki::new(&["branch-r"]);
    let addr = free_port();
    let collector = Collector::start_with(
        &pki,
        &addr,
        &format!("[file]\ndir = {:?}\n", pki.path("ndjson")),
    );
    let pcap = testdata("ndpi/pcap/synscan.pcap");
    let config = probe_config_for(&pki, &addr, "branch-r", "30s", "16KiB");
    let mut first = std::process::Command::new(bin("sonde-probe"))
        .args(["run", "--config"])
        .arg(&config)
        .arg("--replay")
        .arg(&pcap)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while collector.complete_lines_pub() == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    let _ = first.kill();
    let _ = first.wait();
    // The restarted probe starts again at sequence 1 under a new boot epoch.
    let (ok, stderr) = replay(&config, &pcap);
    assert!(ok && stderr.contains(" 0 unacknowledged"), "{stderr}");
    let expected = read_documents(&pcap, "branch-r").len();
    let docs = collector_documents(&collector);
    let mut by_id = std::collections::HashMap::new();
    for d in &docs {
        let id = d["event"]["id"].as_str().unwrap().to_owned();
        if let Some(previous) = by_id.insert(id, d.clone()) {
            // The same record from both runs is the same document: an
            // Elasticsearch output keeps one (409), files keep both lines.
            assert_eq!(previous, *d);
        }
    }
    assert_eq!(
        by_id.len(),
        expected,
        "every record of the second run arrived"
    );
}

#[test]
fn streams_are_closed_at_their_age_limit_and_the_probe_reconnects_without_loss() {
    use sonde_proto::v1;
    let pki = Pki::new(&["aging"]);
    let config = pki.path("collector.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nmax_connection_age = \"5s\"\n[server.tls]\nca = {:?}\ncert = {:?}\nkey = {:?}\n[spool]\ndir = {:?}\n[file]\ndir = {:?}\n",
            pki.path("ca.pem"),
            pki.path("collector.pem"),
            pki.path("collector.key"),
            pki.path("spool"),
            pki.path("ndjson"),
        ),
    )
    .unwrap();
    let collector = Collector::start_config(&config, pki.path("ndjson"));

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let files = sonde_common::tls::TlsFiles {
        ca: pki.path("ca.pem"),
        cert: pki.path("aging.pem"),
        key: pki.path("aging.key"),
    };
    let settings = sonde_probe::export::ExportSettings {
        endpoint: collector.addr.clone(),
        server_name: "collector.test".into(),
        tls: Arc::new(sonde_common::tls::Reloading::client(files).unwrap()),
        observer: "aging".into(),
        max_records: 10_000,
        max_bytes: 16 << 20,
        batch_bytes: 1 << 20,
        batch_delay: Duration::from_millis(50),
        shutdown_deadline: Duration::from_secs(20),
        interfaces: vec![],
        connected: Default::default(),
    };
    // 100 records a second for 8 seconds: longer than one stream may live.
    let summary = runtime.block_on(async {
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let producer = tokio::spawn(async move {
            for i in 0..800u64 {
                let flow = v1::Flow {
                    flow_id: i,
                    ip_protocol: 17,
                    community_id: format!("1:{i}"),
                    first_seen_us: 1_795_600_000_000_000 + i,
                    last_seen_us: 1_795_600_000_000_000 + i,
                    ..Default::default()
                };
                tx.send(v1::Record {
                    kind: Some(v1::record::Kind::Flow(Box::new(flow))),
                })
                .await
                .unwrap();
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        let s = sonde_probe::export::run(settings, rx).await;
        producer.await.unwrap();
        s
    });
    assert_eq!(summary.unacknowledged, 0, "{summary:?}");
    assert!(
        summary.connections >= 2,
        "the stream was never closed: {summary:?}"
    );
    let log = wait_for(
        &collector,
        "Closing the stream at server.max_connection_age",
    );
    assert!(
        log.contains("Closing the stream at server.max_connection_age"),
        "{log}"
    );
    let ids: std::collections::HashSet<String> = collector_documents(&collector)
        .iter()
        .map(|d| d["event"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 800, "every record, across streams");
}
