//! Probe -> collector over mutual TLS with the real binaries: a capture
//! replayed by `sonde-probe run` arrives in the collector's NDJSON output as
//! exactly the documents `sonde-probe read` prints, every record
//! acknowledged; probes without the right certificate get nothing in.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;
use sonde_common::pki::{Authority, Validity};
use sonde_integration_tests::{bin, testdata};

pub(crate) struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    pub(crate) fn new(probes: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca = Authority::generate("e2e CA", Validity::days(1)).unwrap();
        let server = ca
            .issue_server("collector.test", &["127.0.0.1".into()], Validity::days(1))
            .unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.cert_pem()).unwrap();
        std::fs::write(dir.path().join("collector.pem"), &server.cert_pem).unwrap();
        std::fs::write(dir.path().join("collector.key"), &server.key_pem).unwrap();
        for name in probes {
            let c = ca.issue_client(name, Validity::days(1)).unwrap();
            std::fs::write(dir.path().join(format!("{name}.pem")), &c.cert_pem).unwrap();
            std::fs::write(dir.path().join(format!("{name}.key")), &c.key_pem).unwrap();
        }
        // A probe whose certificate expired yesterday, from the right CA.
        let now = time::OffsetDateTime::now_utc();
        let expired = ca
            .issue_client(
                "expired",
                Validity {
                    not_before: now - time::Duration::days(3),
                    not_after: now - time::Duration::days(1),
                },
            )
            .unwrap();
        std::fs::write(dir.path().join("expired.pem"), &expired.cert_pem).unwrap();
        std::fs::write(dir.path().join("expired.key"), &expired.key_pem).unwrap();
        // A probe whose certificate comes from another CA.
        let other = Authority::generate("rogue CA", Validity::days(1)).unwrap();
        let rogue = other.issue_client("rogue", Validity::days(1)).unwrap();
        std::fs::write(dir.path().join("rogue.pem"), &rogue.cert_pem).unwrap();
        std::fs::write(dir.path().join("rogue.key"), &rogue.key_pem).unwrap();
        Self { dir }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// A running collector, stopped (SIGTERM, then waited for) on drop.
pub(crate) struct Collector {
    pub(crate) child: Child,
    pub(crate) addr: String,
    out: PathBuf,
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Collector {
    fn start(pki: &Pki) -> Self {
        Self::start_on(pki, "127.0.0.1:0")
    }

    fn start_on(pki: &Pki, listen: &str) -> Self {
        Self::start_with(
            pki,
            listen,
            &format!("[file]\ndir = {:?}\n", pki.path("ndjson")),
        )
    }

    /// A collector with the PKI's certificates and `output` (TOML sections).
    pub(crate) fn start_with(pki: &Pki, listen: &str, output: &str) -> Self {
        let config = format!(
            "[server]\nlisten = {listen:?}\n[server.tls]\nca = {:?}\ncert = {:?}\nkey = {:?}\n[spool]\ndir = {:?}\n{output}",
            pki.path("ca.pem"),
            pki.path("collector.pem"),
            pki.path("collector.key"),
            pki.path("spool")
        );
        let path = pki.path("collector.toml");
        std::fs::write(&path, config).unwrap();
        Self::start_config(&path, pki.path("ndjson"))
    }

    /// A collector with the configuration file `path`, writing NDJSON to `out`.
    pub(crate) fn start_config(path: &Path, out: PathBuf) -> Self {
        let mut child = Command::new(bin("sonde-collector"))
            .args(["run", "--config"])
            .arg(path)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut addr = String::new();
        let mut line = String::new();
        while stderr.read_line(&mut line).unwrap() > 0 {
            if let Some(a) = line.trim().strip_prefix("sonde-collector: listening on ") {
                addr = a.to_owned();
                break;
            }
            line.clear();
        }
        assert!(!addr.is_empty(), "collector did not start: {line}");
        // Keep draining its log so it never blocks on a full pipe; kept for
        // tests that check what it said.
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = std::sync::Arc::clone(&log);
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        Collector {
            child,
            addr,
            out,
            log,
        }
    }

    /// SIGTERM, then SIGKILL if it has not exited within 20 s (a hang
    /// fails the test instead of hanging the suite).
    pub(crate) fn stop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(self.child.id().to_string())
                .status();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            while let Ok(None) = self.child.try_wait() {
                if std::time::Instant::now() > deadline {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    if !std::thread::panicking() {
                        panic!("the collector did not stop within 20 s of SIGTERM");
                    }
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
    }

    /// What the collector logged so far (stderr).
    pub(crate) fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// The number of complete (newline-terminated) lines in the output.
    fn complete_lines(&self) -> usize {
        let Ok(entries) = std::fs::read_dir(&self.out) else {
            return 0;
        };
        entries
            .map(|e| {
                std::fs::read(e.unwrap().path())
                    .unwrap()
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count()
            })
            .sum()
    }

    pub(crate) fn documents_pub(&self) -> Vec<Value> {
        self.documents()
    }

    pub(crate) fn complete_lines_pub(&self) -> usize {
        self.complete_lines()
    }

    /// Every document in the NDJSON output.
    fn documents(&self) -> Vec<Value> {
        let mut docs = Vec::new();
        let Ok(entries) = std::fs::read_dir(&self.out) else {
            return docs;
        };
        let mut files: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
        files.sort();
        for f in files {
            for line in std::fs::read_to_string(f).unwrap().lines() {
                docs.push(serde_json::from_str(line).unwrap());
            }
        }
        docs
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.stop();
    }
}

fn probe_config(pki: &Pki, collector: &Collector, name: &str, deadline: &str) -> PathBuf {
    probe_config_for(pki, &collector.addr, name, deadline, "1MiB")
}

pub(crate) fn probe_config_for(
    pki: &Pki,
    addr: &str,
    name: &str,
    deadline: &str,
    batch: &str,
) -> PathBuf {
    let config = format!(
        "[collector]\nendpoint = {addr:?}\nserver_name = \"collector.test\"\nbatch_delay = \"100ms\"\nbatch_bytes = {batch:?}\nshutdown_deadline = {deadline:?}\n[collector.tls]\nca = {:?}\ncert = {:?}\nkey = {:?}\n",
        pki.path("ca.pem"),
        pki.path(&format!("{name}.pem")),
        pki.path(&format!("{name}.key"))
    );
    let path = pki.path(&format!("{name}.toml"));
    std::fs::write(&path, config).unwrap();
    path
}

pub(crate) fn replay(config: &Path, pcap: &Path) -> (bool, String) {
    let out = Command::new(bin("sonde-probe"))
        .args(["run", "--config"])
        .arg(config)
        .arg("--replay")
        .arg(pcap)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `sonde-probe read --emit ecs` documents of a capture, as `observer`.
pub(crate) fn read_documents(pcap: &Path, observer: &str) -> Vec<Value> {
    let out = Command::new(bin("sonde-probe"))
        .arg("read")
        .arg(pcap)
        .args(["--observer", observer])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The document without what only the collector adds.
fn comparable(mut doc: Value) -> Value {
    if let Some(event) = doc.get_mut("event").and_then(Value::as_object_mut) {
        event.remove("id");
    }
    // The dedupe lists (docs/architecture.md, "Deduplication").
    if let Some(flow) = doc
        .pointer_mut("/sonde/flow")
        .and_then(Value::as_object_mut)
    {
        flow.remove("observers");
        flow.remove("record_ids");
    }
    if let Some(iface) = doc.pointer_mut("/observer/ingress/interface/name") {
        *iface = Value::Null;
    }
    doc
}

#[test]
fn a_replayed_capture_reaches_the_collector_as_exactly_the_documents_read_prints() {
    let pki = Pki::new(&["branch-1"]);
    let mut collector = Collector::start(&pki);
    let pcap = testdata("ndpi/pcap/synscan.pcap");
    let (ok, stderr) = replay(&probe_config(&pki, &collector, "branch-1", "10s"), &pcap);
    assert!(ok, "{stderr}");
    assert!(stderr.contains(" 0 unacknowledged"), "{stderr}");
    collector.stop();

    let got = collector.documents();
    let want = read_documents(&pcap, "branch-1");
    assert!(want.len() > 1000);
    assert_eq!(got.len(), want.len(), "every flow arrived once");
    for d in &got {
        assert_eq!(
            d["observer"]["name"], "branch-1",
            "the certificate's identity"
        );
        assert_eq!(
            d["event"]["id"].as_str().map(str::len),
            Some(40),
            "a deterministic id"
        );
    }
    let mut got: Vec<String> = got.into_iter().map(|d| comparable(d).to_string()).collect();
    let mut want: Vec<String> = want
        .into_iter()
        .map(|d| comparable(d).to_string())
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn a_probe_with_a_certificate_from_another_ca_gets_nothing_in() {
    let pki = Pki::new(&[]);
    let mut collector = Collector::start(&pki);
    let pcap = testdata("community-id/zeek/pcaps/http-get.pcap");
    let (ok, stderr) = replay(&probe_config(&pki, &collector, "rogue", "2s"), &pcap);
    assert!(!ok, "{stderr}");
    assert!(stderr.contains("1 unacknowledged"), "{stderr}");
    collector.stop();
    assert!(collector.documents().is_empty());
}

/// A free port on 127.0.0.1 (bound, then released for the collector).
pub(crate) fn free_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

/// The distinct document ids, checked to be a superset of what read prints.
fn ids(docs: &[Value]) -> std::collections::BTreeSet<String> {
    docs.iter()
        .map(|d| d["event"]["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_replay_with_suricatas_eve_delivers_the_correlated_suricata_alert() {
    let pki = Pki::new(&["branch-12"]);
    let mut collector = Collector::start(&pki);
    let pcap = testdata("ndpi/pcap/synscan.pcap");
    // Suricata's alerts for ten of the capture's real flows.
    let flows: Vec<Value> = read_documents(&pcap, "branch-12")
        .into_iter()
        .filter(|d| d["event"]["kind"] == "event")
        .step_by(100)
        .take(10)
        .collect();
    let eve: String = flows
        .iter()
        .map(|f| {
            serde_json::json!({
                "timestamp": f["@timestamp"].as_str().unwrap().replace('Z', "+0000"),
                "event_type": "alert",
                "src_ip": f["source"]["ip"], "src_port": f["source"]["port"],
                "dest_ip": f["destination"]["ip"], "dest_port": f["destination"]["port"],
                "proto": "TCP",
                "alert": {"signature_id": 2009582, "signature": "ET SCAN NMAP -sS window 1024",
                          "category": "Attempted Information Leak", "severity": 2},
            })
            .to_string()
                + "\n"
        })
        .collect();
    let eve_path = pki.path("eve.json");
    std::fs::write(&eve_path, eve).unwrap();
    let config = probe_config(&pki, &collector, "branch-12", "10s");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!("[suricata]\neve = {eve_path:?}\n"));
    std::fs::write(&config, text).unwrap();

    let (ok, stderr) = replay(&config, &pcap);
    assert!(ok, "{stderr}");
    collector.stop();
    let suricata: Vec<Value> = collector
        .documents()
        .into_iter()
        .filter(|d| d["sonde"]["alert"]["source"] == "suricata")
        .collect();
    assert_eq!(suricata.len(), 1, "{suricata:#?}");
    assert_eq!(suricata[0]["sonde"]["alert"]["count"], 10);
    assert_eq!(suricata[0]["observer"]["name"], "branch-12");
    assert_eq!(suricata[0]["rule"]["id"], "2009582");
}

#[test]
fn a_probe_started_before_its_collector_backs_off_reconnects_and_delivers_everything() {
    let pki = Pki::new(&["branch-2"]);
    let addr = free_port();
    let pcap = testdata("ndpi/pcap/synscan.pcap");
    let config = probe_config_for(&pki, &addr, "branch-2", "60s", "16KiB");
    let probe = Command::new(bin("sonde-probe"))
        .args(["run", "--config"])
        .arg(&config)
        .arg("--replay")
        .arg(&pcap)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The probe finds no collector and backs off (1 s, 1.6 s...).
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let mut collector = Collector::start_on(&pki, &addr);
    let out = probe.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("reconnecting"),
        "the first attempts failed: {stderr}"
    );
    // 1994 flows and the alerts `read` raises on the same file.
    let want = read_documents(&pcap, "branch-2").len();
    assert!(want > 1994, "flows and alerts");
    assert!(
        stderr.contains(&format!(
            "{want} records, acknowledged through {want}, 0 unacknowledged"
        )),
        "{stderr}"
    );
    collector.stop();
    let docs = collector.documents();
    assert_eq!(docs.len(), want, "small batches, each delivered once");
    assert_eq!(ids(&docs).len(), want);
}

#[test]
fn a_collector_killed_mid_stream_loses_nothing_it_acknowledged() {
    let pki = Pki::new(&["branch-3"]);
    let addr = free_port();
    let pcap = testdata("ndpi/pcap/synscan.pcap");
    let config = probe_config_for(&pki, &addr, "branch-3", "60s", "16KiB");
    let mut first = Collector::start_on(&pki, &addr);
    let probe = Command::new(bin("sonde-probe"))
        .args(["run", "--config"])
        .arg(&config)
        .arg("--replay")
        .arg(&pcap)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // kill -9 once the first documents are on disk (complete lines: the
    // collector may be in the middle of writing one).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while first.complete_lines() == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let _ = first.child.kill();
    let _ = first.child.wait();
    // Complete lines only: the kill may have cut the last one (the restarted
    // collector removes it; it was never acknowledged).
    let before = first.complete_lines();
    let mut second = Collector::start_on(&pki, &addr);
    let out = probe.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("0 unacknowledged"), "{stderr}");
    second.stop();
    // Both collectors wrote to the same directory: every flow is there at
    // least once (a batch in flight at the kill may be there twice).
    let all = second.documents();
    assert!(
        before < all.len(),
        "the kill happened before the end ({before} of {})",
        all.len()
    );
    let want = read_documents(&pcap, "branch-3").len();
    assert_eq!(ids(&all).len(), want, "no flow or alert lost");
    assert!(all.len() >= want);
}

#[test]
fn a_collector_with_a_syslog_output_sends_each_flow_as_an_rfc5424_message() {
    use std::io::Read;
    let pki = Pki::new(&["branch-4"]);
    // A TCP syslog receiver that collects octet-counted frames.
    let receiver = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let syslog_addr = receiver.local_addr().unwrap();
    let reader = std::thread::spawn(move || {
        let (mut conn, _) = receiver.accept().unwrap();
        let mut all = Vec::new();
        conn.set_read_timeout(Some(std::time::Duration::from_secs(20)))
            .unwrap();
        let _ = conn.read_to_end(&mut all);
        all
    });
    let syslog = format!(
        "[syslog]\naddress = \"{syslog_addr}\"\ntransport = \"tcp\"\nhostname = \"collector.test\"\n"
    );
    let mut collector = Collector::start_with(&pki, "127.0.0.1:0", &syslog);
    let addr = collector.addr.clone();
    let pcap = testdata("community-id/zeek/pcaps/http-get.pcap");
    let (ok, err) = replay(
        &probe_config_for(&pki, &addr, "branch-4", "10s", "1MiB"),
        &pcap,
    );
    assert!(ok, "{err}");
    collector.stop();
    let bytes = reader.join().unwrap();
    let text = String::from_utf8(bytes).unwrap();
    // RFC 6587 octet counting: "LEN SP MSG".
    let (len, msg) = text.split_once(' ').unwrap();
    assert_eq!(
        len.parse::<usize>().unwrap(),
        msg.len(),
        "one frame: {text}"
    );
    // local0 (16) * 8 + informational (6) = 134; version 1.
    assert!(msg.starts_with("<134>1 "), "{msg}");
    let fields: Vec<&str> = msg.splitn(8, ' ').collect();
    assert_eq!(
        (fields[2], fields[3], fields[5], fields[6]),
        ("collector.test", "sonde", "flow", "-")
    );
    let doc: Value = serde_json::from_str(fields[7]).unwrap();
    assert_eq!(doc["observer"]["name"], "branch-4");
    assert_eq!(
        doc["network"]["community_id"],
        "1:yvyB8h+3dnggTZW0UEITWCst97w="
    );
}

#[test]
fn probe_check_round_trips_a_hello_and_names_what_fails() {
    let pki = Pki::new(&["branch-5"]);
    let collector = Collector::start(&pki);
    let good = Command::new(bin("sonde-probe"))
        .args(["check", "--config"])
        .arg(probe_config(&pki, &collector, "branch-5", "2s"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&good.stdout);
    assert!(good.status.success(), "{stdout}");
    assert!(stdout.contains("ok     configuration"), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "ok     collector {} accepted branch-5",
            collector.addr
        )),
        "{stdout}"
    );

    let rogue = Command::new(bin("sonde-probe"))
        .args(["check", "--config"])
        .arg(probe_config(&pki, &collector, "rogue", "2s"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&rogue.stdout);
    assert_eq!(rogue.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!("FAILED collector {}", collector.addr)),
        "{stdout}"
    );
}

#[test]
fn collector_check_verifies_certificates_listen_address_and_output() {
    let pki = Pki::new(&[]);
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let write = |listen: String| {
        let config = format!(
            "[server]\nlisten = {listen:?}\n[server.tls]\nca = {:?}\ncert = {:?}\nkey = {:?}\n[file]\ndir = {:?}\n[spool]\ndir = {:?}\n",
            pki.path("ca.pem"),
            pki.path("collector.pem"),
            pki.path("collector.key"),
            pki.path("out"),
            pki.path("spool")
        );
        let path = pki.path("check.toml");
        std::fs::write(&path, config).unwrap();
        Command::new(bin("sonde-collector"))
            .args(["check", "--config"])
            .arg(&path)
            .output()
            .unwrap()
    };
    let ok = write(free_port());
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success(), "{stdout}");
    for step in [
        "ok     configuration",
        "ok     certificate of collector.test",
        "ok     can listen on",
        "ok     spool",
        "ok     output directory",
    ] {
        assert!(stdout.contains(step), "{step}: {stdout}");
    }
    let taken = write(busy.local_addr().unwrap().to_string());
    let stdout = String::from_utf8_lossy(&taken.stdout);
    assert_eq!(taken.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAILED cannot listen on"), "{stdout}");
    assert!(
        !stdout.contains("output directory"),
        "stops at the first failure: {stdout}"
    );
}

/// A plain HTTP GET; returns (status line, body).
pub(crate) fn http_get(addr: &str, path: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (
        head.lines().next().unwrap_or_default().to_owned(),
        body.to_owned(),
    )
}

#[test]
fn the_collector_serves_health_and_prometheus_metrics() {
    let pki = Pki::new(&["branch-6"]);
    let metrics = free_port();
    let output = format!(
        "[file]\ndir = {:?}\n[metrics]\nlisten = {metrics:?}\n",
        pki.path("ndjson")
    );
    let mut collector = Collector::start_with(&pki, "127.0.0.1:0", &output);
    let addr = collector.addr.clone();
    let (status, body) = http_get(&metrics, "/health");
    assert_eq!(
        (status.as_str(), body.as_str()),
        ("HTTP/1.1 200 OK", "ok\n")
    );
    let (ok, err) = replay(
        &probe_config_for(&pki, &addr, "branch-6", "10s", "1MiB"),
        &testdata("community-id/zeek/pcaps/http-get.pcap"),
    );
    assert!(ok, "{err}");
    std::thread::sleep(std::time::Duration::from_millis(1200));
    let (status, body) = http_get(&metrics, "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(body.contains("sonde_collector_streams_total 1"), "{body}");
    assert!(body.contains("sonde_collector_records_total 1"), "{body}");
    assert_eq!(
        http_get(&metrics, "/ready"),
        ("HTTP/1.1 200 OK".to_owned(), "ready\n".to_owned())
    );
    assert_eq!(http_get(&metrics, "/nope").0, "HTTP/1.1 404 Not Found");
    collector.stop();
}

#[test]
fn a_batch_claiming_another_observer_is_refused_and_nothing_is_written() {
    use sonde_probe::export::{self, ExportSettings};
    use sonde_proto::v1;

    let pki = Pki::new(&["branch-7"]);
    let mut collector = Collector::start(&pki);
    let files = sonde_common::tls::TlsFiles {
        ca: pki.path("ca.pem"),
        cert: pki.path("branch-7.pem"),
        key: pki.path("branch-7.key"),
    };
    let tls = std::sync::Arc::new(sonde_common::tls::Reloading::client(files).unwrap());
    let settings = ExportSettings {
        endpoint: collector.addr.clone(),
        server_name: "collector.test".into(),
        tls,
        // The certificate says branch-7; the batches claim branch-8.
        observer: "branch-8".into(),
        max_records: 100,
        max_bytes: 1 << 20,
        batch_bytes: 1 << 20,
        batch_delay: std::time::Duration::from_millis(10),
        shutdown_deadline: std::time::Duration::from_secs(3),
        interfaces: vec![],
        connected: Default::default(),
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let summary = runtime.block_on(async {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let flow = v1::Flow {
            flow_id: 1,
            ip_protocol: 17,
            ..Default::default()
        };
        tx.send(v1::Record {
            kind: Some(v1::record::Kind::Flow(Box::new(flow))),
        })
        .await
        .unwrap();
        drop(tx);
        export::run(settings, rx).await
    });
    assert_eq!(summary.records, 1);
    assert_eq!(summary.unacknowledged, 1, "{summary:?}");
    collector.stop();
    assert!(collector.documents().is_empty());
}

#[test]
fn collector_certificates_rotate_without_a_restart() {
    let old = Pki::new(&["branch-9"]);
    let new = Pki::new(&["branch-9"]);
    let mut collector = Collector::start(&old);
    let pcap = testdata("community-id/zeek/pcaps/http-get.pcap");
    let (ok, err) = replay(&probe_config(&old, &collector, "branch-9", "3s"), &pcap);
    assert!(ok, "before the rotation: {err}");

    // Rotate: the new CA and a collector certificate it signed replace the
    // files the running collector was started with.
    for file in ["ca.pem", "collector.pem", "collector.key"] {
        let tmp = old.path(&format!("{file}.new"));
        std::fs::copy(new.path(file), &tmp).unwrap();
        std::fs::rename(&tmp, old.path(file)).unwrap();
    }
    let new_probe = probe_config_for(&new, &collector.addr, "branch-9", "3s", "1MiB");
    let (ok, err) = replay(&new_probe, &pcap);
    assert!(ok, "a probe of the new CA gets in: {err}");
    // A probe whose certificate the old CA signed (trusting the new CA, as
    // its config's ca file was rotated too) is refused by the new CA.
    let (ok, _) = replay(&probe_config(&old, &collector, "branch-9", "3s"), &pcap);
    assert!(!ok, "a probe of the old CA is refused after the rotation");
    collector.stop();
    // Both replays were acknowledged (`ok` above); the second is the same
    // record from the same probe, which the dedupe window writes once.
    assert_eq!(
        collector.documents().len(),
        1,
        "the same flow record before and after"
    );
}

#[test]
fn the_collector_enriches_documents_with_direction_and_geoip() {
    let pki = Pki::new(&["branch-10"]);
    let geoip = testdata("geoip/test-data");
    let output = format!(
        "[file]\ndir = {:?}\n[enrich]\ngeoip_city = {:?}\ngeoip_asn = {:?}\nlocal_networks = [\"172.16.0.0/12\"]\n",
        pki.path("ndjson"),
        geoip.join("GeoLite2-City-Test.mmdb"),
        geoip.join("GeoLite2-ASN-Test.mmdb")
    );
    let mut collector = Collector::start_with(&pki, "127.0.0.1:0", &output);
    let pcap = testdata("ndpi/pcap/synscan.pcap");
    let (ok, err) = replay(&probe_config(&pki, &collector, "branch-10", "10s"), &pcap);
    assert!(ok, "{err}");
    collector.stop();
    let (docs, alerts): (Vec<Value>, Vec<Value>) = collector
        .documents()
        .into_iter()
        .partition(|d| d["event"]["kind"] == "event");
    assert_eq!(docs.len(), 1994);
    assert!(
        alerts.iter().any(|a| a["rule"]["id"] == "syn_scan"),
        "the scan's alert arrived too"
    );
    // 172.16.0.8 (local) scans 64.13.134.52 (not local, not in the test databases).
    assert!(
        docs.iter().all(|d| d["network"]["direction"] == "outbound"),
        "{}",
        docs[0]
    );
    assert!(docs.iter().all(|d| d["destination"]["geo"].is_null()));
}
