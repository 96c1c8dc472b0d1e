//! The syslog sink against real UDP, TCP and TLS servers on 127.0.0.1.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use sonde_collector::sink::{
    DocKind, Document, Outcome, Sink, SinkError, SyslogConfig, SyslogSink, SyslogTransport,
};
use sonde_common::pki::{Authority, Validity};
use sonde_common::tls::{load_certs, load_key, provider};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;

/// 2024-05-01T12:00:00.000001Z
const TIMESTAMP_US: u64 = 1_714_564_800_000_001;
const WAIT: Duration = Duration::from_secs(5);

fn flow(i: u64) -> Document {
    Document::from_value(
        format!("flow-{i}"),
        DocKind::Flow,
        TIMESTAMP_US,
        json!({
            "event": {"kind": "event", "dataset": "sonde.conn"},
            "source": {"ip": "10.0.0.1", "port": 40000 + i}}),
    )
}

fn alert(severity: u64) -> Document {
    Document::from_value(
        format!("alert-{severity}"),
        DocKind::Alert,
        TIMESTAMP_US,
        json!({"event": {"kind": "alert", "severity": severity}, "tags": ["alert"]}),
    )
}

fn expected(doc: &Document) -> Value {
    let mut body = doc.body();
    body["event"]["id"] = json!(doc.id);
    body
}

/// The header every message of these tests must start with.
fn header(pri: u16, msgid: &str) -> String {
    let pid = std::process::id();
    format!("<{pri}>1 2024-05-01T12:00:00.000001Z so-manager sonde {pid} {msgid} - ")
}

/// Header text and parsed MSG of an RFC 5424 message.
fn split(message: &[u8]) -> (String, Value) {
    let text = std::str::from_utf8(message).unwrap();
    let at = text.find(" - {").unwrap() + 3;
    (
        text[..at].to_owned(),
        serde_json::from_str(&text[at..]).unwrap(),
    )
}

fn config(address: SocketAddr, transport: SyslogTransport) -> SyslogConfig {
    SyslogConfig {
        hostname: "so-manager".into(),
        ..SyslogConfig::new(address.to_string(), transport)
    }
}

/// One `LEN SP MSG` frame (RFC 6587 §3.4.1).
async fn read_frame<R: AsyncRead + Unpin>(reader: &mut BufReader<R>) -> Vec<u8> {
    let mut len = Vec::new();
    reader.read_until(b' ', &mut len).await.unwrap();
    let digits = std::str::from_utf8(len.strip_suffix(b" ").unwrap()).unwrap();
    assert!(!digits.starts_with('0'), "LEN {digits:?}");
    let mut message = vec![0; digits.parse().unwrap()];
    reader.read_exact(&mut message).await.unwrap();
    message
}

#[tokio::test]
async fn udp_messages_are_exact_rfc5424_lines() {
    let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut sink =
        SyslogSink::new(config(server.local_addr().unwrap(), SyslogTransport::Udp)).unwrap();
    let docs = [flow(1), alert(4), alert(1)];
    assert_eq!(
        sink.deliver(&docs).await.unwrap(),
        vec![Outcome::Accepted; 3]
    );

    // local0 (16): flow informational (6), critical alert 2, low alert notice (5).
    let headers = [
        header(134, "flow"),
        header(130, "alert"),
        header(133, "alert"),
    ];
    let mut buf = vec![0; 65_536];
    for (doc, want) in docs.iter().zip(headers) {
        let n = timeout(WAIT, server.recv(&mut buf)).await.unwrap().unwrap();
        let (head, msg) = split(&buf[..n]);
        assert_eq!(head, want);
        assert_eq!(msg, expected(doc));
    }
}

#[tokio::test]
async fn an_oversize_udp_document_is_rejected_and_the_rest_sent() {
    let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let cfg = SyslogConfig {
        max_message_bytes: 400,
        ..config(server.local_addr().unwrap(), SyslogTransport::Udp)
    };
    let mut sink = SyslogSink::new(cfg).unwrap();
    let mut body = flow(2).body();
    body["sonde"] = json!({"padding": "x".repeat(1000)});
    let big = Document::from_value("flow-2".into(), DocKind::Flow, TIMESTAMP_US, body);
    let outcomes = sink.deliver(&[flow(1), big, flow(3)]).await.unwrap();

    assert_eq!(outcomes[0], Outcome::Accepted);
    assert!(
        matches!(&outcomes[1], Outcome::Rejected { reason } if reason.contains("exceeds max_message_bytes 400")),
        "{outcomes:?}"
    );
    assert_eq!(outcomes[2], Outcome::Accepted);
    let mut buf = vec![0; 65_536];
    for want in ["flow-1", "flow-3"] {
        let n = timeout(WAIT, server.recv(&mut buf)).await.unwrap().unwrap();
        assert_eq!(split(&buf[..n]).1["event"]["id"], want);
    }
    let nothing = timeout(Duration::from_millis(100), server.recv(&mut buf)).await;
    assert!(nothing.is_err(), "the oversize document was sent");
}

#[tokio::test]
async fn tcp_frames_are_octet_counted_and_the_sink_reconnects_after_the_server_drops_it() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut sink =
        SyslogSink::new(config(listener.local_addr().unwrap(), SyslogTransport::Tcp)).unwrap();
    let docs = [flow(1), alert(3)];
    sink.deliver(&docs).await.unwrap();

    let (stream, _) = timeout(WAIT, listener.accept()).await.unwrap().unwrap();
    let mut reader = BufReader::new(stream);
    for (doc, want) in docs.iter().zip([header(134, "flow"), header(131, "alert")]) {
        let (head, msg) = split(&read_frame(&mut reader).await);
        assert_eq!(head, want);
        assert_eq!(msg, expected(doc));
    }

    drop(reader);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(sink.deliver(&[flow(2)]).await.unwrap(), [Outcome::Accepted]);
    let (stream, _) = timeout(WAIT, listener.accept()).await.unwrap().unwrap();
    let frame = read_frame(&mut BufReader::new(stream)).await;
    assert_eq!(split(&frame).1, expected(&flow(2)));
}

#[tokio::test]
async fn a_tcp_sink_without_a_server_fails_the_batch() {
    let address = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let mut sink = SyslogSink::new(config(address, SyslogTransport::Tcp)).unwrap();
    let err = sink.deliver(&[flow(1)]).await.unwrap_err();
    assert!(
        matches!(
            err,
            SinkError::Network {
                action: "connect",
                ..
            }
        ),
        "{err}"
    );
}

/// A CA file for the client, and a server config whose certificate (for
/// `syslog.test` and 127.0.0.1) comes from `server_ca`, or the same CA.
fn tls_setup(dir: &Path, other_server_ca: bool) -> (PathBuf, Arc<ServerConfig>) {
    let validity = Validity::days(1);
    let ca = Authority::generate("sonde test CA", validity).unwrap();
    let other = Authority::generate("someone else's CA", validity).unwrap();
    let issuer = if other_server_ca { &other } else { &ca };
    let server = issuer
        .issue_server("syslog.test", &["127.0.0.1".to_owned()], validity)
        .unwrap();
    let files = [
        ("ca.pem", ca.cert_pem()),
        ("server.pem", &server.cert_pem),
        ("server.key", &server.key_pem),
    ];
    for (name, pem) in files {
        std::fs::write(dir.join(name), pem).unwrap();
    }
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            load_certs(&dir.join("server.pem"), "certificate").unwrap(),
            load_key(&dir.join("server.key")).unwrap(),
        )
        .unwrap();
    (dir.join("ca.pem"), Arc::new(config))
}

/// Accepts one TLS connection and returns its first `frames` frames.
async fn tls_server(
    config: Arc<ServerConfig>,
    frames: usize,
) -> (SocketAddr, JoinHandle<Vec<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let Ok(tls) = TlsAcceptor::from(config).accept(tcp).await else {
            return Vec::new();
        };
        let mut reader = BufReader::new(tls);
        let mut out = Vec::new();
        for _ in 0..frames {
            out.push(read_frame(&mut reader).await);
        }
        out
    });
    (address, task)
}

fn tls_config(address: SocketAddr, ca: PathBuf, server_name: Option<&str>) -> SyslogConfig {
    SyslogConfig {
        tls_ca: Some(ca),
        tls_server_name: server_name.map(str::to_owned),
        ..config(address, SyslogTransport::Tls)
    }
}

#[tokio::test]
async fn tls_frames_reach_a_server_whose_certificate_chains_to_the_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let (ca, server_config) = tls_setup(tmp.path(), false);
    // The configured server name, then the default: the host of the address.
    for server_name in [Some("syslog.test"), None] {
        let (address, server) = tls_server(Arc::clone(&server_config), 2).await;
        let mut sink = SyslogSink::new(tls_config(address, ca.clone(), server_name)).unwrap();
        let docs = [flow(1), alert(2)];
        assert_eq!(
            sink.deliver(&docs).await.unwrap(),
            vec![Outcome::Accepted; 2]
        );

        let frames = timeout(WAIT, server).await.unwrap().unwrap();
        let (head, msg) = split(&frames[0]);
        assert_eq!((head, msg), (header(134, "flow"), expected(&docs[0])));
        let (head, msg) = split(&frames[1]);
        assert_eq!((head, msg), (header(132, "alert"), expected(&docs[1])));
    }
}

#[tokio::test]
async fn a_tls_sink_reconnects_after_the_server_closes_the_connection() {
    let tmp = tempfile::tempdir().unwrap();
    let (ca, server_config) = tls_setup(tmp.path(), false);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (frames, mut received) = tokio::sync::mpsc::channel(2);
    // Each connection carries one frame; the server then closes it without
    // close_notify, as a crashing server would.
    let server = tokio::spawn(async move {
        let acceptor = TlsAcceptor::from(server_config);
        for _ in 0..2 {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut reader = BufReader::new(acceptor.accept(tcp).await.unwrap());
            frames.send(read_frame(&mut reader).await).await.unwrap();
        }
    });
    let mut sink = SyslogSink::new(tls_config(address, ca, Some("syslog.test"))).unwrap();

    for i in 0..2 {
        sink.deliver(&[flow(i)]).await.unwrap();
        let frame = timeout(WAIT, received.recv()).await.unwrap().unwrap();
        assert_eq!(split(&frame).1, expected(&flow(i)));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    timeout(WAIT, server).await.unwrap().unwrap();
}

#[tokio::test]
async fn tls_to_a_server_with_a_certificate_from_another_ca_fails_the_handshake() {
    let tmp = tempfile::tempdir().unwrap();
    let (ca, server_config) = tls_setup(tmp.path(), true);
    let (address, server) = tls_server(server_config, 1).await;
    let mut sink = SyslogSink::new(tls_config(address, ca, Some("syslog.test"))).unwrap();

    let err = sink.deliver(&[flow(1)]).await.unwrap_err();
    assert!(
        matches!(
            err,
            SinkError::Network {
                action: "TLS handshake",
                ..
            }
        ),
        "{err}"
    );
    assert!(timeout(WAIT, server).await.unwrap().unwrap().is_empty());
}

#[test]
fn a_tls_sink_needs_a_ca_file() {
    let cfg = SyslogConfig::new("127.0.0.1:6514", SyslogTransport::Tls);
    let err = SyslogSink::new(cfg).unwrap_err();
    assert!(err.to_string().contains("tls_ca: required"), "{err}");
}
