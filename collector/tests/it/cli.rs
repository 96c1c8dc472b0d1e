//! The command line: --help, --version, --check-config.

use std::path::Path;
use std::process::Command;

pub(crate) fn collector() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sonde-collector"))
}

fn example() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/config/collector.example.toml")
}

#[test]
fn help_and_version_work() {
    let help = collector().arg("--help").output().unwrap();
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(
        text.contains("--check-config") && text.contains("certs"),
        "{text}"
    );
    let version = collector().arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("sonde-collector {}", env!("CARGO_PKG_VERSION"))
    );
    let init_help = collector()
        .args(["certs", "init", "--help"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&init_help.stdout).contains("--collector-name"));
}

#[test]
fn example_config_passes_the_pure_validation() {
    let config: sonde_collector::config::CollectorConfig =
        sonde_common::config::load(&example()).unwrap();
    assert!(config.elasticsearch.is_some());
}

#[test]
fn check_config_lists_all_three_mistakes_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("collector.toml");
    let text = std::fs::read_to_string(example())
        .unwrap()
        .replace("https://so-manager.example.net:9200", "so-manager:9200")
        .replace("username = \"sonde\"", "")
        .replace("max_size = \"10GiB\"", "max_size = \"1MiB\"");
    std::fs::write(&path, text).unwrap();
    let out = collector()
        .arg("--check-config")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("elasticsearch.urls[0]: must be an http:// or https:// URL"),
        "{stderr}"
    );
    assert!(
        stderr.contains("elasticsearch.username: password is set but username is not"),
        "{stderr}"
    );
    assert!(
        stderr.contains("spool.max_size: must be at least 64MiB (got 1MiB)"),
        "{stderr}"
    );
    assert!(stderr.contains("3 problems found"), "{stderr}");
}

#[test]
fn check_config_reports_unknown_keys_and_unreadable_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("collector.toml");
    let text = std::fs::read_to_string(example())
        .unwrap()
        .replace("[spool]", "[spool]\nmax_szie = \"1GiB\"");
    std::fs::write(&path, text).unwrap();
    let out = collector()
        .arg("--check-config")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("spool.max_szie: unknown key"), "{stderr}");
}
