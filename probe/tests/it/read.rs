//! `sonde-probe read`: ECS documents on stdout, a summary on stderr.

use std::process::Command;

use serde_json::Value;

use crate::testdata;

/// `sonde-probe read ARGS`: the documents on stdout and the summary.
pub(crate) fn read(args: &[&str]) -> (Vec<Value>, String) {
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

/// Community IDs of the flows `sonde-probe read` finds in a capture.
fn flow_ids(pcap: &std::path::Path, seed: u16) -> std::collections::BTreeSet<String> {
    let (docs, _) = read(&[
        pcap.to_str().unwrap(),
        "--community-id-seed",
        &seed.to_string(),
    ]);
    docs.iter()
        .map(|d| d["network"]["community_id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn every_community_id_of_the_reference_data_comes_out_of_read_by_flow() {
    use std::collections::BTreeSet;
    // The spec's captures against its baselines (seed 0 and seed 1).
    for (baseline, seed) in [("baseline_deflt.json", 0), ("baseline_seed1.json", 1)] {
        let entries: Vec<Value> = serde_json::from_slice(
            &std::fs::read(testdata(&format!("community-id/baseline/{baseline}"))).unwrap(),
        )
        .unwrap();
        let expected: BTreeSet<String> = entries
            .iter()
            .map(|e| e["communityid"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            flow_ids(&testdata("community-id/pcaps/combined.pcap"), seed),
            expected,
            "{baseline}"
        );
    }
    // Zeek's captures against Zeek's per-connection baselines (SCTP: see the
    // Community ID tests in sonde-common for Zeek's port-less divergence).
    for name in ["tcp", "udp", "icmp", "icmp6", "ipv6", "arp"] {
        let text = std::fs::read_to_string(testdata(&format!(
            "community-id/zeek/baseline/{name}.pcap.out"
        )))
        .unwrap();
        let expected: BTreeSet<String> = text
            .lines()
            .filter(|l| l.starts_with('['))
            .map(|l| l.rsplit(", ").next().unwrap().to_owned())
            .collect();
        assert_eq!(
            flow_ids(
                &testdata(&format!("community-id/zeek/pcaps/{name}.pcap")),
                0
            ),
            expected,
            "{name}"
        );
    }
    for name in ["http-get", "handshake-reorder"] {
        let ids = flow_ids(
            &testdata(&format!("community-id/zeek/pcaps/{name}.pcap")),
            0,
        );
        assert_eq!(
            ids,
            BTreeSet::from(["1:yvyB8h+3dnggTZW0UEITWCst97w=".to_owned()]),
            "{name}"
        );
    }
    // suricata-verify: Suricata's flow and TLS events, with its seeds.
    for (test, seed) in [
        ("community-id-ipv4", 7),
        ("community-id-ipv6", 7),
        ("community-id-sameip", 1),
    ] {
        let yaml = std::fs::read_to_string(testdata(&format!(
            "community-id/suricata-verify/{test}/test.yaml"
        )))
        .unwrap();
        let ids = flow_ids(
            &testdata(&format!("community-id/suricata-verify/{test}/input.pcap")),
            seed,
        );
        let mut checked = 0;
        for line in yaml
            .lines()
            .filter_map(|l| l.trim().strip_prefix("community_id: "))
        {
            assert!(
                ids.contains(line.trim()),
                "{test}: {line} not among {ids:?}"
            );
            checked += 1;
        }
        assert!(checked > 0, "{test}");
    }
}

#[test]
fn a_truncated_capture_ends_with_an_error_naming_file_and_position_after_its_records() {
    let whole = std::fs::read(testdata("community-id/zeek/pcaps/http-get.pcap")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.pcap");
    std::fs::write(&cut, &whole[..3000]).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sonde-probe"))
        .arg("read")
        .arg(&cut)
        .args(["--emit", "records"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cut.pcap")
            && stderr.contains("truncated")
            && stderr.contains("after packet 6"),
        "{stderr}"
    );
    let records: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 1, "the flow read before the cut is written");
    assert_eq!(
        records[0]["client_to_server"]["packets"].as_u64().unwrap()
            + records[0]["server_to_client"]["packets"].as_u64().unwrap(),
        6
    );
}

#[test]
fn read_of_a_capture_with_an_unknown_link_type_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("usb.pcap");
    // A pcap header with link type 189 (USB Linux) and no packets.
    let mut header = vec![
        0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0,
    ];
    header.extend_from_slice(&189u32.to_le_bytes());
    std::fs::write(&path, header).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sonde-probe"))
        .arg("read")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("link type 189 is not supported"));
}
