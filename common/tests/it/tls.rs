//! Mutual TLS 1.3 between configs built by `sonde_common::tls`, over an
//! in-memory pipe: the right client gets in with its identity, the wrong ones
//! are refused.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use sonde_common::pki::{Authority, Issued, Validity};
use sonde_common::tls::{self, TlsFiles};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::{TlsAcceptor, TlsConnector};

fn write(dir: &Path, name: &str, issued: &Issued, ca: &Authority) -> TlsFiles {
    let files = TlsFiles {
        ca: dir.join(format!("{name}-ca.pem")),
        cert: dir.join(format!("{name}.pem")),
        key: dir.join(format!("{name}.key")),
    };
    std::fs::write(&files.ca, ca.cert_pem()).unwrap();
    std::fs::write(&files.cert, &issued.cert_pem).unwrap();
    std::fs::write(&files.key, &issued.key_pem).unwrap();
    files
}

struct Pki {
    _dir: tempfile::TempDir,
    server: TlsFiles,
    probe: TlsFiles,
    stranger: TlsFiles,
}

fn pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::generate("sonde test CA", Validity::days(1)).unwrap();
    let other_ca = Authority::generate("some other CA", Validity::days(1)).unwrap();
    let server = ca
        .issue_server("collector.test", &["127.0.0.1".into()], Validity::days(1))
        .unwrap();
    let probe = ca
        .issue_client("probe-a.branch.test", Validity::days(1))
        .unwrap();
    let stranger = other_ca
        .issue_client("probe-a.branch.test", Validity::days(1))
        .unwrap();
    let server = write(dir.path(), "server", &server, &ca);
    let probe = write(dir.path(), "probe", &probe, &ca);
    // The stranger trusts our CA but holds a certificate from another one.
    let mut stranger = write(dir.path(), "stranger", &stranger, &other_ca);
    stranger.ca = server.ca.clone();
    Pki {
        _dir: dir,
        server,
        probe,
        stranger,
    }
}

/// Runs one handshake; returns the client identity the server saw, or the
/// server's error.
async fn handshake(
    server: Arc<rustls::ServerConfig>,
    client: Arc<rustls::ClientConfig>,
    name: &str,
) -> Result<String, String> {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let acceptor = TlsAcceptor::from(server);
    let connector = TlsConnector::from(client);
    let server_name = tls::server_name(name).unwrap();
    let server_side = tokio::spawn(async move {
        let mut stream = acceptor.accept(a).await.map_err(|e| e.to_string())?;
        let (_, conn) = stream.get_ref();
        assert_eq!(
            conn.protocol_version(),
            Some(rustls::ProtocolVersion::TLSv1_3)
        );
        assert_eq!(conn.alpn_protocol(), Some(tls::ALPN_H2));
        let leaf: CertificateDer<'static> = conn.peer_certificates().unwrap()[0].clone();
        let mut buf = [0u8; 4];
        stream
            .read_exact(&mut buf)
            .await
            .map_err(|e| e.to_string())?;
        assert_eq!(&buf, b"ping");
        tls::identity_of(&leaf).map_err(|e| e.to_string())
    });
    // A rejected client learns it from an alert on its first read.
    if let Ok(mut stream) = connector.connect(server_name, b).await {
        let _ = stream.write_all(b"ping").await;
        let _ = stream.flush().await;
        let mut buf = [0u8; 1];
        let _ = stream.read(&mut buf).await;
    }
    server_side.await.unwrap()
}

#[tokio::test]
async fn probe_with_a_certificate_from_the_ca_gets_in_with_its_identity() {
    let pki = pki();
    let server = pki.server.load().unwrap();
    let probe = pki.probe.load().unwrap();
    assert_eq!(server.identity().unwrap(), "collector.test");
    let got = handshake(
        server.server_config().unwrap(),
        probe.client_config().unwrap(),
        "collector.test",
    )
    .await;
    assert_eq!(got.unwrap(), "probe-a.branch.test");
    // An IP SAN works as the server name too.
    let got = handshake(
        server.server_config().unwrap(),
        probe.client_config().unwrap(),
        "127.0.0.1",
    )
    .await;
    assert_eq!(got.unwrap(), "probe-a.branch.test");
}

#[tokio::test]
async fn probe_with_a_certificate_from_another_ca_is_refused() {
    let pki = pki();
    let server = pki.server.load().unwrap().server_config().unwrap();
    let stranger = pki.stranger.load().unwrap().client_config().unwrap();
    let err = handshake(server, stranger, "collector.test")
        .await
        .unwrap_err();
    assert!(
        err.contains("UnknownIssuer") || err.contains("unknown issuer"),
        "{err}"
    );
}

#[tokio::test]
async fn client_without_a_certificate_is_refused() {
    let pki = pki();
    let server = pki.server.load().unwrap().server_config().unwrap();
    let roots = tls::load_roots(&pki.probe.ca).unwrap();
    let mut anonymous = rustls::ClientConfig::builder_with_provider(tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    anonymous.alpn_protocols = vec![tls::ALPN_H2.to_vec()];
    let err = handshake(server, Arc::new(anonymous), "collector.test")
        .await
        .unwrap_err();
    assert!(
        err.to_lowercase().contains("no certificate") || err.contains("NoCertificatesPresented"),
        "{err}"
    );
}

#[tokio::test]
async fn server_name_must_match_the_collector_certificate() {
    let pki = pki();
    let server = pki.server.load().unwrap().server_config().unwrap();
    let probe = pki.probe.load().unwrap().client_config().unwrap();
    let err = handshake(server, probe, "elsewhere.test")
        .await
        .unwrap_err();
    assert!(!err.is_empty());
}

#[test]
fn identity_falls_back_to_the_common_name_without_a_dns_san() {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "probe-cn-only");
    params.subject_alt_names = vec![rcgen::SanType::IpAddress("10.0.0.1".parse().unwrap())];
    let cert = params.self_signed(&key).unwrap();
    assert_eq!(tls::identity_of(cert.der()).unwrap(), "probe-cn-only");
}

#[test]
fn a_key_that_does_not_match_the_certificate_is_reported() {
    let pki = pki();
    let mut files = pki.probe.clone();
    files.key = pki.server.key;
    let err = files
        .load()
        .unwrap()
        .client_config()
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not match key"), "{err}");
}

#[test]
fn missing_and_garbage_files_are_clear_errors() {
    let pki = pki();
    let mut files = pki.probe.clone();
    files.cert = files.cert.with_extension("missing");
    let err = files.load().unwrap_err().to_string();
    assert!(err.starts_with("cannot read certificate"), "{err}");
    let garbage = pki.probe.key.with_extension("garbage");
    std::fs::write(&garbage, "not a pem file").unwrap();
    let mut files = pki.probe;
    files.ca = garbage;
    let err = files.load().unwrap_err().to_string();
    assert!(err.contains("no usable PEM certificate"), "{err}");
}
