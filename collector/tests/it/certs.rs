//! `sonde-collector certs init`: a working PKI, verified by openssl and by a
//! real TLS handshake configuration.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;

use sonde_common::tls::TlsFiles;

use crate::cli::collector;

fn init(dir: &Path, extra: &[&str]) -> std::process::Output {
    collector()
        .args(["certs", "init", "--dir"])
        .arg(dir)
        .args([
            "--collector-name",
            "collector.lab",
            "--collector-alt-name",
            "127.0.0.1",
        ])
        .args(["--probe", "branch-1", "--probe", "branch-2.example.net"])
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn certs_init_writes_a_ca_and_certificates_that_openssl_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    let out = init(&dir, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Next steps"), "{stdout}");

    for cert in [
        "collector.pem",
        "probe-branch-1.pem",
        "probe-branch-2.example.net.pem",
    ] {
        let verify = Command::new("openssl")
            .args(["verify", "-CAfile"])
            .arg(dir.join("ca.pem"))
            .arg(dir.join(cert))
            .output()
            .expect("openssl is installed by scripts/test.sh");
        assert!(
            verify.status.success(),
            "{cert}: {}",
            String::from_utf8_lossy(&verify.stderr)
        );
        assert!(String::from_utf8_lossy(&verify.stdout).contains(": OK"));
    }
    for key in [
        "ca.key",
        "collector.key",
        "probe-branch-1.key",
        "probe-branch-2.example.net.key",
    ] {
        let mode = std::fs::metadata(dir.join(key))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{key}");
        assert!(
            stdout.contains(&dir.join(key).display().to_string()),
            "report lists {key}"
        );
    }

    // The set works for mutual TLS: identities come out as named.
    let probe = TlsFiles {
        ca: dir.join("ca.pem"),
        cert: dir.join("probe-branch-2.example.net.pem"),
        key: dir.join("probe-branch-2.example.net.key"),
    }
    .load()
    .unwrap();
    assert_eq!(probe.identity().unwrap(), "branch-2.example.net");
    probe.client_config().unwrap();
    let server = TlsFiles {
        ca: dir.join("ca.pem"),
        cert: dir.join("collector.pem"),
        key: dir.join("collector.key"),
    }
    .load()
    .unwrap();
    assert_eq!(server.identity().unwrap(), "collector.lab");
    server.server_config().unwrap();
}

#[test]
fn certs_init_refuses_to_overwrite_unless_forced() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(init(tmp.path(), &[]).status.success());
    let before = std::fs::read(tmp.path().join("ca.pem")).unwrap();

    let again = init(tmp.path(), &[]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("refusing to overwrite"));
    assert_eq!(
        std::fs::read(tmp.path().join("ca.pem")).unwrap(),
        before,
        "untouched"
    );

    let forced = init(tmp.path(), &["--force"]);
    assert!(forced.status.success());
    assert_ne!(
        std::fs::read(tmp.path().join("ca.pem")).unwrap(),
        before,
        "replaced"
    );
}

#[test]
fn certs_init_rejects_names_that_are_not_dns_names() {
    let tmp = tempfile::tempdir().unwrap();
    let out = collector()
        .args(["certs", "init", "--dir"])
        .arg(tmp.path())
        .args(["--collector-name", "collector", "--probe", "../../etc/evil"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid name \"../../etc/evil\""));
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "nothing written"
    );
}
