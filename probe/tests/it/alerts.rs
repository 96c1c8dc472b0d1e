//! Alerts from `sonde-probe read`: consolidated host incidents on real
//! captures, none on captures without an attack, the alert config file and
//! the export policy.

use std::process::Command;

use serde_json::Value;

use crate::read::read;
use crate::testdata;

fn alerts(docs: &[Value]) -> Vec<&Value> {
    docs.iter()
        .filter(|d| d["event"]["kind"] == "alert")
        .collect()
}

fn host_alerts(docs: &[Value]) -> Vec<&Value> {
    alerts(docs)
        .into_iter()
        .filter(|d| d["sonde"]["alert"]["entity"]["kind"] == "host")
        .collect()
}

#[test]
fn an_nmap_syn_scan_is_one_incident_not_one_alert_per_flow() {
    let pcap = testdata("ndpi/pcap/synscan.pcap");
    let (docs, summary) = read(&[pcap.to_str().unwrap()]);
    let flows = docs
        .iter()
        .filter(|d| d["event"]["kind"] == "event")
        .count();
    assert!(flows > 1900, "{flows} flows");
    let scans: Vec<&Value> = host_alerts(&docs)
        .into_iter()
        .filter(|d| d["rule"]["id"] == "syn_scan")
        .collect();
    assert!(!scans.is_empty(), "no syn_scan alert: {summary}");
    let incidents: std::collections::BTreeSet<&str> = scans
        .iter()
        .map(|d| d["sonde"]["alert"]["incident_id"].as_str().unwrap())
        .collect();
    assert_eq!(incidents.len(), 1, "one incident: {incidents:?}");
    let lifecycles: Vec<&str> = scans
        .iter()
        .map(|d| d["sonde"]["alert"]["lifecycle"].as_str().unwrap())
        .collect();
    assert_eq!(lifecycles.first(), Some(&"engaged"), "{lifecycles:?}");
    assert_eq!(lifecycles.last(), Some(&"released"), "{lifecycles:?}");
    let last = scans.last().unwrap();
    assert_eq!(last["source"]["ip"], "172.16.0.8");
    assert_eq!(last["destination"]["ip"], "64.13.134.52");
    assert_eq!(last["rule"]["name"], "SYN Scan");
    assert_eq!(last["event"]["module"], "sonde");
    assert_eq!(last["event"]["dataset"], "sonde.alert");
    assert_eq!(last["tags"], serde_json::json!(["alert"]));
    assert_eq!(last["event"]["severity_label"], "high");
    let message = last["message"].as_str().unwrap();
    assert!(
        message.starts_with("SYN scan from 172.16.0.8") && message.contains("64.13.134.52"),
        "{message}"
    );
    assert!(last["event"]["start"].is_string() && last["event"]["end"].is_string());
    // One incident, not one alert per flow: the scanner's refused
    // connections are folded into it.
    let all = alerts(&docs).len();
    assert_eq!(all, scans.len(), "only the incident's documents");
    assert!(
        summary.contains("5 flow alerts folded into incidents"),
        "{summary}"
    );
}

#[test]
fn a_ping_sweep_raises_a_ping_sweep_alert() {
    let pcap = testdata("pcaps/slips/test12-icmp-portscan.pcap");
    let (docs, _) = read(&[pcap.to_str().unwrap()]);
    let sweeps: Vec<&Value> = host_alerts(&docs)
        .into_iter()
        .filter(|d| d["rule"]["id"] == "ping_sweep")
        .collect();
    assert!(!sweeps.is_empty(), "{:#?}", alerts(&docs));
    assert_eq!(sweeps[0]["source"]["ip"], "192.168.1.109");
    assert!(
        sweeps[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("Ping sweep from 192.168.1.109"),
        "{}",
        sweeps[0]["message"]
    );
}

#[test]
fn captures_without_an_attack_raise_no_host_alerts() {
    for rel in [
        "community-id/zeek/pcaps/http-get.pcap",
        "pcaps/zeek/retransmit-fast009.pcap",
        "ndpi/pcap/443-chrome.pcap",
        "ndpi/pcap/dns.pcap",
        "ndpi/pcap/youtube_quic.pcap",
        "ndpi/pcap/http.pcapng",
        "ndpi/pcap/facebook.pcap",
        "ndpi/pcap/whatsapp_voice_and_message.pcap",
    ] {
        let path = testdata(rel);
        let (docs, _) = read(&[path.to_str().unwrap()]);
        let host = host_alerts(&docs);
        assert!(host.is_empty(), "{rel}: {host:#?}");
    }
}

#[test]
fn the_export_policy_keeps_flows_and_low_alerts_back() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("alerts.toml");
    std::fs::write(
        &config,
        "[routing]\nflows = \"none\"\nmin_severity = \"critical\"\n",
    )
    .unwrap();
    let pcap = testdata("ndpi/pcap/synscan.pcap");
    let (docs, summary) = read(&[
        pcap.to_str().unwrap(),
        "--alert-config",
        config.to_str().unwrap(),
    ]);
    assert!(docs.is_empty(), "{} documents", docs.len());
    assert!(summary.contains("kept by the export policy"), "{summary}");

    // Only flows: no alert at all.
    std::fs::write(&config, "[alert]\nenabled = false\n").unwrap();
    let (docs, _) = read(&[
        pcap.to_str().unwrap(),
        "--alert-config",
        config.to_str().unwrap(),
    ]);
    assert!(!docs.is_empty());
    assert!(alerts(&docs).is_empty());
}

#[test]
fn a_bad_alert_config_lists_every_problem_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("alerts.toml");
    std::fs::write(
        &config,
        "[alert.rules.syn_scan]\nattempts = -3\n[alert.rules.nope]\nenabled = true\n\
         [routing]\nflows = \"some\"\n",
    )
    .unwrap();
    let pcap = testdata("ndpi/pcap/synscan.pcap");
    let out = Command::new(env!("CARGO_BIN_EXE_sonde-probe"))
        .args(["read", pcap.to_str().unwrap(), "--alert-config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("routing.flows"), "{err}");
}

/// eve.json alert lines for some of a capture's real flows, as Suricata
/// writes them (no community_id, like the Slips sample).
fn eve_alerts_for(flows: &[&Value], sid: u64, signature: &str) -> String {
    let mut text = String::new();
    for f in flows {
        let ts = f["@timestamp"].as_str().unwrap().replace('Z', "+0000");
        let line = serde_json::json!({
            "timestamp": ts,
            "flow_id": 1_000_000 + f["destination"]["port"].as_u64().unwrap(),
            "event_type": "alert",
            "src_ip": f["source"]["ip"], "src_port": f["source"]["port"],
            "dest_ip": f["destination"]["ip"], "dest_port": f["destination"]["port"],
            "proto": "TCP",
            "alert": {"action": "allowed", "gid": 1, "signature_id": sid, "rev": 3,
                      "signature": signature, "category": "Attempted Information Leak",
                      "severity": 2},
        });
        text.push_str(&line.to_string());
        text.push('\n');
    }
    text
}

#[test]
fn suricata_alerts_are_correlated_consolidated_and_joined_to_the_scan_incident() {
    let pcap = testdata("ndpi/pcap/synscan.pcap");
    let (plain, _) = read(&[pcap.to_str().unwrap(), "--no-alerts"]);
    let mut flows: Vec<&Value> = plain.iter().collect();
    flows.sort_by_key(|f| f["destination"]["port"].as_u64());
    let chosen: Vec<&Value> = flows.iter().copied().step_by(50).take(30).collect();
    assert_eq!(chosen.len(), 30);
    let dir = tempfile::tempdir().unwrap();
    let eve = dir.path().join("eve.json");
    let mut lines = eve_alerts_for(&chosen, 2_009_582, "ET SCAN NMAP -sS window 1024");
    lines.push_str("{\"timestamp\": \"garbage\n\n not json at all\n");
    std::fs::write(&eve, lines).unwrap();

    let (docs, summary) = read(&[
        pcap.to_str().unwrap(),
        "--suricata-eve",
        eve.to_str().unwrap(),
    ]);
    assert!(
        summary.contains("eve: 32 lines, 30 events, 2 malformed"),
        "{summary}"
    );
    let suricata: Vec<&Value> = alerts(&docs)
        .into_iter()
        .filter(|d| d["sonde"]["alert"]["source"] == "suricata")
        .collect();
    assert_eq!(suricata.len(), 1, "consolidated: {suricata:#?}");
    let s = suricata[0];
    assert_eq!(s["rule"]["id"], "2009582");
    assert_eq!(s["rule"]["name"], "ET SCAN NMAP -sS window 1024");
    assert_eq!(s["rule"]["category"], "Attempted Information Leak");
    assert_eq!(s["rule"]["ruleset"], "suricata");
    assert_eq!(s["event"]["module"], "sonde");
    assert_eq!(s["event"]["severity"], 2, "Suricata 2 is SO's medium");
    assert_eq!(s["sonde"]["alert"]["count"], 30);
    assert_eq!(s["source"]["ip"], "172.16.0.8");
    assert!(
        s["network"]["community_id"].is_string(),
        "correlated with a probe flow: {s:#}"
    );
    // Joined to the SYN scan incident of the same attacker.
    let scan_released = host_alerts(&docs)
        .into_iter()
        .rfind(|d| d["rule"]["id"] == "syn_scan")
        .unwrap();
    let incident = scan_released["sonde"]["alert"]["incident_id"]
        .as_str()
        .unwrap();
    let evidence = s["sonde"]["alert"]["evidence"].as_array().unwrap();
    assert!(
        evidence
            .iter()
            .any(|e| e["key"] == "incident_id" && e["value"] == incident),
        "{evidence:#?}"
    );
    let signatures = scan_released["sonde"]["alert"]["signatures"]
        .as_array()
        .unwrap();
    assert_eq!(signatures[0]["id"], 2_009_582, "{scan_released:#}");
}

#[test]
fn a_missing_eve_file_is_a_clear_error() {
    let pcap = testdata("ndpi/pcap/synscan.pcap");
    let out = Command::new(env!("CARGO_BIN_EXE_sonde-probe"))
        .args([
            "read",
            pcap.to_str().unwrap(),
            "--suricata-eve",
            "/nonexistent/eve.json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/eve.json"), "{err}");
}

#[test]
fn crafted_null_fin_and_xmas_probes_are_scan_alerts_that_take_in_the_refused_connections() {
    let pcap = testdata("ndpi/pcap/tcp_scan.pcapng");
    let (docs, summary) = read(&[pcap.to_str().unwrap()]);
    let host: std::collections::BTreeSet<&str> = host_alerts(&docs)
        .into_iter()
        .map(|d| d["rule"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        host.into_iter().collect::<Vec<_>>(),
        vec!["fin_scan", "null_scan", "xmas_scan"]
    );
    // Its two connections refused by RST (ports 445 and 3389) are part of the
    // scanner's incident, not alerts of their own.
    assert!(
        !alerts(&docs)
            .iter()
            .any(|d| d["rule"]["id"] == "tcp_connection_refused")
    );
    assert!(
        summary.contains("2 flow alerts folded into incidents"),
        "{summary}"
    );
}

#[test]
fn elastics_suricata_samples_give_the_fields_of_elastics_expected_documents() {
    // Alerts whose traffic is not in the capture: the eve 5-tuple and
    // Suricata's flow counters are the context.
    let pcap = testdata("community-id/zeek/pcaps/http-get.pcap");
    let mut compared = 0;
    for log in ["test-eve-small.log", "test-eve-6-0.log"] {
        let eve = testdata(&format!("suricata/elastic-integrations/{log}"));
        let expected: Value = serde_json::from_str(
            &std::fs::read_to_string(testdata(&format!(
                "suricata/elastic-integrations/{log}-expected.json"
            )))
            .unwrap(),
        )
        .unwrap();
        let (docs, _) = read(&[
            pcap.to_str().unwrap(),
            "--suricata-eve",
            eve.to_str().unwrap(),
        ]);
        for want in expected["expected"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["event"]["kind"] == "alert")
        {
            let got = alerts(&docs)
                .into_iter()
                .find(|d| d["rule"]["id"] == want["rule"]["id"])
                .unwrap_or_else(|| panic!("{log}: no alert {}", want["rule"]["id"]));
            for path in [
                "/rule/id",
                "/rule/name",
                "/rule/category",
                "/source/ip",
                "/source/port",
                "/source/bytes",
                "/source/packets",
                "/destination/ip",
                "/destination/port",
                "/destination/bytes",
                "/destination/packets",
                "/network/transport",
                "/network/protocol",
                "/network/community_id",
                "/network/bytes",
                "/network/packets",
                "/event/kind",
                "/event/category",
            ] {
                assert_eq!(got.pointer(path), want.pointer(path), "{log} {path}");
            }
            // Elastic keeps milliseconds; sonde microseconds. (Elastic's
            // event.start is the flow's start; sonde's is the first alert of
            // the consolidated group.)
            let (g, w) = (&got["@timestamp"], &want["@timestamp"]);
            assert_eq!(
                g.as_str().unwrap().get(..23),
                w.as_str().unwrap().get(..23),
                "{log} @timestamp"
            );
            // SO's scale, not Suricata's: 1 -> 3 (high), 2 -> 2 (medium).
            let suricata = want["event"]["severity"].as_u64().unwrap();
            assert_eq!(got["event"]["severity"].as_u64().unwrap(), 4 - suricata);
            assert_eq!(got["sonde"]["alert"]["source"], "suricata");
            compared += 1;
        }
    }
    assert_eq!(compared, 2, "one alert in each sample");
}
