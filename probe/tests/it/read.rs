//! `sonde-probe read`: ECS documents on stdout, a summary on stderr.

use std::process::Command;

use serde_json::Value;

use crate::testdata;

fn read(args: &[&str]) -> (Vec<Value>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sonde-probe"))
        .arg("read")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (docs, String::from_utf8(out.stderr).unwrap())
}

#[test]
fn read_emits_the_ecs_document_of_each_flow_and_a_summary() {
    let pcap = testdata("community-id/zeek/pcaps/http-get.pcap");
    let (docs, summary) = read(&[pcap.to_str().unwrap(), "--observer", "branch-1"]);
    assert_eq!(docs.len(), 1);
    let d = &docs[0];
    assert_eq!(d["event"]["dataset"], "sonde.conn");
    assert_eq!(d["event"]["kind"], "event");
    assert_eq!(d["source"]["ip"], "141.142.228.5");
    assert_eq!(d["source"]["port"], 59856);
    assert_eq!(d["destination"]["ip"], "192.150.187.43");
    assert_eq!(d["destination"]["port"], 80);
    assert_eq!(d["source"]["packets"], 7);
    assert_eq!(d["network"]["transport"], "tcp");
    assert_eq!(
        d["network"]["community_id"],
        "1:yvyB8h+3dnggTZW0UEITWCst97w="
    );
    assert_eq!(d["network"]["packets"], 14);
    assert_eq!(d["connection"]["state"], "SF");
    assert_eq!(d["observer"]["name"], "branch-1");
    assert_eq!(
        d["observer"]["ingress"]["interface"]["name"],
        "http-get.pcap"
    );
    assert_eq!(d["sonde"]["flow"]["end_reason"], "fin");
    assert!(summary.contains("14 packets"), "{summary}");
    assert!(summary.contains("1 flows"), "{summary}");
    assert!(summary.contains("packets/s"), "{summary}");
}

#[test]
fn read_emits_raw_records_on_request_and_is_deterministic() {
    let pcap = testdata("ndpi/pcap/dns.pcap");
    let (a, _) = read(&[pcap.to_str().unwrap(), "--emit", "records"]);
    let (b, _) = read(&[pcap.to_str().unwrap(), "--emit", "records"]);
    assert!(!a.is_empty());
    assert_eq!(a, b);
    assert!(a[0]["client"]["ip"].is_string());
    assert!(
        a[0]["end_reason"]
            .as_str()
            .unwrap()
            .starts_with("END_REASON_")
    );
}

#[test]
fn read_counts_undecoded_packets_by_reason() {
    // The spec's ARP packets are not IP.
    let pcap = testdata("community-id/pcaps/arp.pcap");
    let (docs, summary) = read(&[pcap.to_str().unwrap()]);
    assert!(docs.is_empty());
    assert!(summary.contains("undecoded: not_ip="), "{summary}");
}

#[test]
fn read_of_a_missing_or_garbage_file_fails_cleanly() {
    let out = Command::new(env!("CARGO_BIN_EXE_sonde-probe"))
        .args(["read", "/nonexistent.pcap"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot open capture file"));
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.pcap");
    std::fs::write(&garbage, b"this is not a capture file at all").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sonde-probe"))
        .arg("read")
        .arg(&garbage)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}
