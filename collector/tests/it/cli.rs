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
fn check_config_refuses_a_dedupe_tolerance_above_half_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("collector.toml");
    let text = std::fs::read_to_string(example())
        .unwrap()
        .replace("window = \"60s\"", "window = \"10s\"")
        .replace("tolerance = \"2s\"", "tolerance = \"6s\"")
        .replace("memory_flows = 100000", "memory_flows = 0");
    std::fs::write(&path, text).unwrap();
    let out = collector()
        .arg("--check-config")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("dedupe.tolerance: must be at most half of dedupe.window (got \"6s\" with a window of \"10s\")"),
        "{stderr}"
    );
    assert!(
        stderr.contains("dedupe.memory_flows: must be at least 1"),
        "{stderr}"
    );
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

#[test]
fn dead_letters_can_be_listed_shown_resent_and_purged() {
    use sonde_collector::sink::{DocKind, Document};
    use sonde_collector::spool::{FullPolicy, Spool};

    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    let init = collector()
        .args(["certs", "init", "--dir"])
        .arg(&pki)
        .args(["--collector-name", "collector.test", "--probe", "p1"])
        .output()
        .unwrap();
    assert!(init.status.success(), "{init:?}");
    let spool_dir = dir.path().join("spool");
    let config = dir.path().join("collector.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[server.tls]\nca = {:?}\ncert = {:?}\nkey = {:?}\n[spool]\ndir = {spool_dir:?}\n[file]\ndir = {:?}\n",
            pki.join("ca.pem"),
            pki.join("collector.pem"),
            pki.join("collector.key"),
            dir.path().join("out"),
        ),
    )
    .unwrap();
    {
        let (mut spool, _) = Spool::open(&spool_dir, 1 << 30, FullPolicy::Backpressure).unwrap();
        for (n, reason) in [
            (1, "400: mapper_parsing_exception: source.ip"),
            (2, "413: too large"),
        ] {
            let doc = Document::from_value(
                format!("doc-{n}"),
                DocKind::Flow,
                1,
                serde_json::json!({"source": {"ip": "not-an-ip"}, "n": n}),
            );
            spool.dead_letter(&doc, reason).unwrap();
        }
        spool.flush().unwrap();
    }
    let run = |args: &[&str]| {
        let out = collector()
            .arg("dead-letters")
            .arg("--config")
            .arg(&config)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, list, _) = run(&["list"]);
    assert_eq!(code, Some(0));
    assert!(
        list.contains("doc-1") && list.contains("mapper_parsing_exception"),
        "{list}"
    );
    assert!(list.ends_with("2 dead letters\n"), "{list}");
    let (code, show, _) = run(&["show", "2"]);
    assert_eq!(code, Some(0));
    let shown: serde_json::Value = serde_json::from_str(show.trim()).unwrap();
    assert_eq!(shown["id"], "doc-2");
    assert_eq!(shown["document"]["n"], 2);
    let (code, _, err) = run(&["resend", "9"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("no dead letter has key 9"), "{err}");
    let (code, resent, _) = run(&["resend", "1"]);
    assert_eq!(code, Some(0), "{resent}");
    assert!(resent.starts_with("1 dead letters moved back"), "{resent}");
    let (_, purged, _) = run(&["purge"]);
    assert_eq!(purged, "1 dead letters deleted\n");
    let (mut spool, _) = Spool::open(&spool_dir, 1 << 30, FullPolicy::Backpressure).unwrap();
    assert!(spool.dead_letters().unwrap().is_empty());
    let back = spool.oldest(10).unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].docs[0].id, "doc-1");
}
