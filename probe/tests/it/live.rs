//! Live capture on real interfaces (needs root or CAP_NET_RAW; CI runs as
//! root): two interfaces at once, `lo` (Ethernet-like) and `any` (Linux
//! cooked capture), each record carrying its interface, stats reported.

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::process::{Command, Stdio};

use serde_json::Value;

fn can_capture() -> bool {
    let root = std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false);
    if !root {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the live capture tests as root"
        );
        eprintln!("skipped: live capture needs root");
    }
    root
}

#[test]
fn capture_on_two_interfaces_tags_records_with_their_interface() {
    if !can_capture() {
        return;
    }
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = receiver.local_addr().unwrap().port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sonde-probe"))
        .args([
            "capture",
            "-i",
            "lo",
            "-i",
            "any",
            "--no-promiscuous",
            "--emit",
            "records",
            "--duration",
            "3s",
        ])
        .args(["--bpf", &format!("udp port {port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert!(line.contains("capturing on lo, any"), "{line}");

    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..7 {
        sender
            .send_to(b"sonde live test", ("127.0.0.1", port))
            .unwrap();
    }
    let output = child.wait_with_output().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert!(output.status.success(), "{rest}");

    let records: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for interface in ["lo", "any"] {
        let flow = records
            .iter()
            .find(|r| r["interface"] == interface && r["server"]["port"] == port)
            .unwrap_or_else(|| panic!("no flow on {interface}: {records:?}"));
        assert_eq!(flow["client"]["ip"], "127.0.0.1");
        assert_eq!(flow["client_to_server"]["packets"], 7, "{interface}");
        assert_eq!(
            flow["client_to_server"]["payload_bytes"],
            7 * 15,
            "{interface}"
        );
        assert_eq!(flow["conn_state"], "S0");
        assert_eq!(flow["end_reason"], "END_REASON_SHUTDOWN");
    }
    assert!(
        rest.contains("lo: ") && rest.contains("received by libpcap"),
        "{rest}"
    );
}

#[test]
fn capture_on_an_unknown_interface_fails_with_its_name() {
    if !can_capture() {
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_sonde-probe"))
        .args(["capture", "-i", "sonde-no-such-if0", "--duration", "1s"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("sonde-no-such-if0"));
}

#[test]
fn capture_with_an_invalid_filter_fails_clearly() {
    if !can_capture() {
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_sonde-probe"))
        .args([
            "capture",
            "-i",
            "lo",
            "--bpf",
            "port port port",
            "--duration",
            "1s",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("invalid BPF filter"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn capture_without_the_capability_names_cap_net_raw() {
    if !can_capture() {
        return;
    }
    let out = Command::new("runuser")
        .args(["-u", "nobody", "--"])
        .arg(env!("CARGO_BIN_EXE_sonde-probe"))
        .args(["capture", "-i", "lo", "--duration", "1s"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot open interface lo") && stderr.contains("CAP_NET_RAW"),
        "{stderr}"
    );
}

#[test]
fn a_live_capture_follows_suricatas_eve_file_and_correlates_its_alerts() {
    use std::io::Write;
    if !can_capture() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let eve = dir.path().join("eve.json");
    std::fs::write(&eve, "").unwrap();
    // The [collector] table is required but not used by `capture`.
    let config = dir.path().join("probe.toml");
    std::fs::write(
        &config,
        format!(
            "[collector]\nendpoint = \"127.0.0.1:1\"\n[collector.tls]\nca = \"ca.pem\"\ncert = \"p.pem\"\nkey = \"p.key\"\n[suricata]\neve = {eve:?}\n"
        ),
    )
    .unwrap();
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = receiver.local_addr().unwrap().port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sonde-probe"))
        .args([
            "capture",
            "-i",
            "lo",
            "--no-promiscuous",
            "--emit",
            "records",
        ])
        .args(["--duration", "4s", "--config"])
        .arg(&config)
        .args(["--bpf", &format!("udp port {port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert!(line.contains("capturing on lo"), "{line}");
    // The follower starts at the end of the file, like tail -F: give it a poll.
    std::thread::sleep(std::time::Duration::from_millis(600));

    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sport = sender.local_addr().unwrap().port();
    for _ in 0..3 {
        sender
            .send_to(b"sonde eve test", ("127.0.0.1", port))
            .unwrap();
    }
    let now = time_now();
    let mut file = std::fs::OpenOptions::new().append(true).open(&eve).unwrap();
    for _ in 0..3 {
        let alert = serde_json::json!({
            "timestamp": now, "event_type": "alert", "proto": "UDP",
            "src_ip": "127.0.0.1", "src_port": sport, "dest_ip": "127.0.0.1", "dest_port": port,
            "alert": {"signature_id": 9_000_001, "signature": "SONDE TEST live eve",
                      "category": "Misc activity", "severity": 3},
        });
        writeln!(file, "{alert}").unwrap();
    }
    drop(file);

    let output = child.wait_with_output().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert!(output.status.success(), "{rest}");
    let records: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let alert = records
        .iter()
        .find(|r| r["rule_key"] == "9000001")
        .unwrap_or_else(|| panic!("no Suricata alert: {records:#?}\n{rest}"));
    assert_eq!(alert["count"], 3, "consolidated");
    assert_eq!(alert["flow"]["server"]["port"], port, "correlated: {alert}");
    assert_eq!(alert["flow"]["client_to_server"]["packets"], 3);
}

/// Now as eve.json writes it: `2026-12-06T17:40:00.123456+0000`.
fn time_now() -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]+0000"
    );
    time::OffsetDateTime::now_utc().format(&format).unwrap()
}
