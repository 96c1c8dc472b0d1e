//! The command line: --help, --version, --check-config.

use std::path::Path;
use std::process::Command;

use sonde_common::pki::{Authority, Validity};

fn probe() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sonde-probe"))
}

fn example() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/config/probe.example.toml")
}

#[test]
fn help_and_version_work() {
    let help = probe().arg("--help").output().unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--check-config"));
    let version = probe().arg("--version").output().unwrap();
    assert!(version.status.success());
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("sonde-probe {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn example_config_passes_the_pure_validation() {
    let config: sonde_probe::config::ProbeConfig = sonde_common::config::load(&example()).unwrap();
    assert_eq!(config.capture.len(), 1);
    assert_eq!(config.collector.server_name(), "so-manager.example.net");
}

#[test]
fn check_config_accepts_a_valid_config_with_real_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::generate("test CA", Validity::days(1)).unwrap();
    let cert = ca.issue_client("probe-1", Validity::days(1)).unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca.cert_pem()).unwrap();
    std::fs::write(dir.path().join("probe.pem"), &cert.cert_pem).unwrap();
    std::fs::write(dir.path().join("probe.key"), &cert.key_pem).unwrap();
    let text = std::fs::read_to_string(example())
        .unwrap()
        .replace("/etc/sonde", &dir.path().display().to_string());
    let path = dir.path().join("probe.toml");
    std::fs::write(&path, text).unwrap();
    let out = probe().arg("--check-config").arg(&path).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("configuration is valid"));
}

#[test]
fn check_config_lists_all_three_mistakes_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("probe.toml");
    let text = std::fs::read_to_string(example())
        .unwrap()
        .replace("so-manager.example.net:7443", "so-manager.example.net") // no port
        .replace("idle_timeout = \"60s\"", "idle_timeout = \"0s\"")
        .replace("snaplen = 65535", "snaplen = 10");
    std::fs::write(&path, text).unwrap();
    let out = probe().arg("--check-config").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file = path.display().to_string();
    assert!(
        stderr.contains(&format!("{file}: collector.endpoint: must be host:port")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{file}: flow.idle_timeout: must be > 0 (got \"0s\")"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{file}: capture[0].snaplen: must be between 64 and 262144 (got 10)"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("3 problems found"), "{stderr}");
}

#[test]
fn check_config_reports_missing_certificate_files() {
    let out = probe()
        .arg("--check-config")
        .arg(example())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("collector.tls: cannot read CA file /etc/sonde/ca.pem"),
        "{stderr}"
    );
}

#[test]
fn check_config_on_a_missing_file_exits_2() {
    let out = probe()
        .arg("--check-config")
        .arg("/nonexistent/probe.toml")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("cannot read config file /nonexistent/probe.toml")
    );
}
