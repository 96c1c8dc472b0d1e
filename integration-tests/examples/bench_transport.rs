//! Load generator and benchmark of the transport: synthetic flow records
//! streamed at full speed over mutual TLS (the probe's real exporter) to a
//! real `sonde-collector` (release) writing NDJSON files. Reports records/s
//! end to end, the collector's CPU seconds (records per core-second), and the
//! probe-to-output latency distribution at a fixed rate (each record carries
//! its send time; a reader follows the NDJSON files). Run by
//! `scripts/bench-transport.sh`; prints a markdown table.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark script"
)]

use std::io::{BufRead, BufReader, Read, Seek};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sonde_common::pki::{Authority, Validity};
use sonde_probe::export::{self, ExportSettings};
use sonde_proto::v1;

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

fn record(i: u64, sent_us: u64) -> v1::Record {
    let ip = |a: u8, n: u64| vec![10, a, (n >> 8) as u8, n as u8];
    let dir = |p: u64| v1::Direction {
        packets: p,
        bytes: p * 120,
        payload_bytes: p * 60,
        tcp_flags: 0x1b,
    };
    v1::Record {
        kind: Some(v1::record::Kind::Flow(Box::new(v1::Flow {
            interface: "eth0".into(),
            ip_protocol: 6,
            client: Some(v1::Endpoint {
                ip: ip(1, i),
                port: 40_000 + (i % 20_000) as u32,
                mac: vec![],
            }),
            server: Some(v1::Endpoint {
                ip: ip(2, i / 7),
                port: 443,
                mac: vec![],
            }),
            client_to_server: Some(dir(10)),
            server_to_client: Some(dir(12)),
            first_seen_us: sent_us,
            last_seen_us: sent_us,
            conn_state: "SF".into(),
            history: "ShADadFf".into(),
            end_reason: 3,
            community_id: format!("1:{i:028}"),
            flow_id: i,
            ..Default::default()
        }))),
    }
}

struct Pki(tempfile::TempDir);

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let ca = Authority::generate("bench CA", Validity::days(1)).unwrap();
        let server = ca
            .issue_server("collector.bench", &["127.0.0.1".into()], Validity::days(1))
            .unwrap();
        let probe = ca.issue_client("probe.bench", Validity::days(1)).unwrap();
        for (name, text) in [
            ("ca.pem", ca.cert_pem().to_owned()),
            ("collector.pem", server.cert_pem.clone()),
            ("collector.key", server.key_pem),
            ("probe.pem", probe.cert_pem.clone()),
            ("probe.key", probe.key_pem),
        ] {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        Pki(dir)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }
}

fn start_collector(pki: &Pki, bin: &Path, out: &Path) -> (Child, String) {
    let config = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[server.tls]\nca = {:?}\ncert = {:?}\nkey = {:?}\n[spool]\ndir = {:?}\n[file]\ndir = {out:?}\nmax_file_size = \"1GiB\"\n",
        pki.path("ca.pem"),
        pki.path("collector.pem"),
        pki.path("collector.key"),
        pki.path(&format!(
            "spool-{}",
            out.file_name().unwrap().to_string_lossy()
        )),
    );
    let path = pki.path("collector.toml");
    std::fs::write(&path, config).unwrap();
    let mut child = Command::new(bin)
        .args(["run", "--config"])
        .arg(&path)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let addr = loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "collector did not start"
        );
        if let Some(a) = line.trim().strip_prefix("sonde-collector: listening on ") {
            break a.to_owned();
        }
    };
    std::thread::spawn(move || for _ in stderr.lines() {});
    (child, addr)
}

/// utime + stime of a process, seconds.
/// (user, system) CPU seconds and minor page faults of a process so far.
fn cpu_seconds(pid: u32) -> (f64, f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    let number = |i: usize| fields[i].parse::<f64>().unwrap();
    (number(11) / 100.0, number(12) / 100.0, number(7))
}

fn settings(pki: &Pki, addr: &str, batch_delay: Duration) -> ExportSettings {
    let files = sonde_common::tls::TlsFiles {
        ca: pki.path("ca.pem"),
        cert: pki.path("probe.pem"),
        key: pki.path("probe.key"),
    };
    ExportSettings {
        endpoint: addr.to_owned(),
        server_name: "collector.bench".into(),
        tls: Arc::new(sonde_common::tls::Reloading::client(files).unwrap()),
        observer: "probe.bench".into(),
        max_records: 2_000_000,
        max_bytes: 2 << 30,
        batch_bytes: 1 << 20,
        batch_delay,
        shutdown_deadline: Duration::from_secs(120),
        interfaces: vec![],
        connected: Default::default(),
    }
}

/// Follows the NDJSON files in `dir`, recording (arrival - event.start) of
/// each document until `n` have arrived.
fn follow(dir: PathBuf, n: usize) -> std::thread::JoinHandle<Vec<u64>> {
    std::thread::spawn(move || {
        let mut latencies = Vec::with_capacity(n);
        let mut offsets: std::collections::HashMap<PathBuf, u64> = Default::default();
        let mut partial: std::collections::HashMap<PathBuf, String> = Default::default();
        let deadline = Instant::now() + Duration::from_secs(600);
        while latencies.len() < n && Instant::now() < deadline {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            };
            for e in entries.flatten() {
                let path = e.path();
                let offset = offsets.entry(path.clone()).or_insert(0);
                let mut f = std::fs::File::open(&path).unwrap();
                f.seek(std::io::SeekFrom::Start(*offset)).unwrap();
                let mut text = String::new();
                let read = f.read_to_string(&mut text).unwrap_or(0);
                *offset += read as u64;
                let arrived = now_us();
                let buf = partial.entry(path).or_default();
                buf.push_str(&text);
                // Whole lines only; the rest waits for the next read. One drain
                // per read: draining line by line is quadratic when the
                // follower falls behind and reads hundreds of megabytes at once.
                let Some(last) = buf.rfind('\n') else {
                    continue;
                };
                for line in buf[..last].split('\n') {
                    let doc: serde_json::Value = serde_json::from_str(line).unwrap();
                    let start = doc["event"]["start"].as_str().unwrap();
                    let sent = time::OffsetDateTime::parse(
                        start,
                        &time::format_description::well_known::Rfc3339,
                    )
                    .unwrap();
                    let sent_us = (sent.unix_timestamp_nanos() / 1000) as u64;
                    latencies.push(arrived.saturating_sub(sent_us));
                }
                buf.drain(..=last);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        latencies
    })
}

fn main() {
    let bin = PathBuf::from(
        std::env::var("SONDE_COLLECTOR")
            .unwrap_or_else(|_| "target/release/sonde-collector".into()),
    );
    let n: u64 = std::env::var("SONDE_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let rate: u64 = std::env::var("SONDE_BENCH_RATE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let pki = Pki::new();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();

    // 1. Throughput: n records as fast as the exporter takes them.
    let out = pki.path("ndjson-throughput");
    let (mut collector, addr) = start_collector(&pki, &bin, &out);
    let cpu_before = cpu_seconds(collector.id());
    let started = Instant::now();
    let summary = runtime.block_on(async {
        let (tx, rx) = tokio::sync::mpsc::channel(8192);
        let producer = tokio::spawn(async move {
            let t = now_us();
            for i in 0..n {
                tx.send(record(i, t)).await.unwrap();
            }
        });
        let s = export::run(settings(&pki, &addr, Duration::from_millis(200)), rx).await;
        producer.await.unwrap();
        s
    });
    let took = started.elapsed();
    let cpu_after = cpu_seconds(collector.id());
    let (user, system) = (cpu_after.0 - cpu_before.0, cpu_after.1 - cpu_before.1);
    let faults = cpu_after.2 - cpu_before.2;
    let cpu = user + system;
    assert_eq!(summary.unacknowledged, 0, "{summary:?}");
    let _ = Command::new("kill")
        .arg(collector.id().to_string())
        .status();
    let _ = collector.wait();
    let lines: usize = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| {
            std::fs::read(e.unwrap().path())
                .unwrap()
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
        })
        .sum();
    assert_eq!(lines as u64, n, "documents written");

    println!("| measure | value |");
    println!("|---|---|");
    println!("| records streamed (1 probe, mTLS, gzip, 1 MiB batches) | {n} |");
    println!(
        "| end to end, first send to last acknowledgement | {:.2} s, {:.0} records/s |",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64()
    );
    println!(
        "| collector CPU (user + system) | {cpu:.2} s ({user:.2} + {system:.2}), {:.0} records per core-second, {:.2} page faults per record |",
        n as f64 / cpu,
        faults / n as f64
    );
    if rate == 0 {
        return;
    }

    // 2. Latency at a fixed rate, one second of batching in the probe at most.
    let m = (rate * 10) as usize;
    let out2 = pki.path("ndjson-latency");
    let (mut collector, addr) = start_collector(&pki, &bin, &out2);
    let follower = follow(out2, m);
    runtime.block_on(async {
        let (tx, rx) = tokio::sync::mpsc::channel(8192);
        let producer = tokio::spawn(async move {
            let start = Instant::now();
            for i in 0..m as u64 {
                let due = start + Duration::from_micros(i * 1_000_000 / rate);
                tokio::time::sleep_until(due.into()).await;
                tx.send(record(i, now_us())).await.unwrap();
            }
        });
        let s = export::run(settings(&pki, &addr, Duration::from_millis(100)), rx).await;
        producer.await.unwrap();
        assert_eq!(s.unacknowledged, 0);
    });
    let mut latencies = follower.join().unwrap();
    let _ = Command::new("kill")
        .arg(collector.id().to_string())
        .status();
    let _ = collector.wait();
    latencies.sort_unstable();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize] as f64 / 1000.0;

    println!(
        "| latency probe → NDJSON at {rate} records/s, batch_delay 100 ms ({} records) | p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms |",
        latencies.len(),
        pct(0.5),
        pct(0.9),
        pct(0.99),
        pct(1.0)
    );
}
