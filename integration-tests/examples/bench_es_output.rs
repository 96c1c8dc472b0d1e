//! Benchmark of the collector's output against a real Elasticsearch node:
//! spool writes (what an outage costs), the drain of a full spool (how fast
//! the backlog goes once the node is back), and direct delivery from four
//! concurrent "probes". Run by `scripts/bench-collector.sh`, which starts the
//! node; prints a markdown table for docs/benchmarks.md.
//!
//! Documents: `sonde-probe read` of the nDPI synscan capture (real flow
//! documents, about 1 KiB of JSON each), copied with distinct ids.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark script"
)]

use std::time::{Duration, Instant};

use serde_json::Value;
use sonde_collector::output::{self, OutputSettings};
use sonde_collector::sink::elasticsearch::{Auth, EsSettings, EsSink, Target};
use sonde_collector::sink::{DocKind, Document};
use sonde_collector::spool::{FullPolicy, Spool};

fn settings(url: &str, flows: &str) -> EsSettings {
    EsSettings {
        urls: vec![url.to_owned()],
        ca: None,
        auth: Auth::None,
        flows: Target::parse(flows).unwrap(),
        alerts: Target::parse(&format!("{flows}-alerts")).unwrap(),
        ilm_policy: None,
        batch_documents: 5000,
        batch_bytes: 8 << 20,
        max_in_flight: 4,
        request_timeout: Duration::from_secs(60),
        compress: true,
        dedupe: Default::default(),
    }
}

fn corpus(n: usize) -> Vec<Document> {
    let probe =
        std::env::var("SONDE_PROBE").unwrap_or_else(|_| "target/release/sonde-probe".into());
    let pcap = std::env::var("SONDE_BENCH_PCAP")
        .unwrap_or_else(|_| "../shared/testdata/ndpi/pcap/synscan.pcap".into());
    let out = std::process::Command::new(probe)
        .arg("read")
        .arg(&pcap)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bodies: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (0..n)
        .map(|i| {
            Document::from_value(
                format!("bench-{i}"),
                DocKind::Flow,
                1_795_600_000_000_000,
                bodies[i % bodies.len()].clone(),
            )
        })
        .collect()
}

async fn count(client: &reqwest::Client, url: &str, index: &str) -> u64 {
    let _ = client.post(format!("{url}/{index}/_refresh")).send().await;
    let v: Value = client
        .get(format!("{url}/{index}/_count"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["count"].as_u64().unwrap_or(0)
}

fn rate(n: usize, took: Duration) -> String {
    format!("{:.0}", n as f64 / took.as_secs_f64())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let url = std::env::var("SONDE_TEST_ES_HTTP_URL").expect("SONDE_TEST_ES_HTTP_URL");
    let n: usize = std::env::var("SONDE_BENCH_DOCS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let docs = corpus(n);
    let json_bytes: usize = docs.iter().map(|d| d.json.len()).sum();
    let client = reqwest::Client::new();
    let dir = tempfile::tempdir().unwrap();
    let stamp = std::process::id();
    let batch = 500;

    // 1. Outage: every probe batch (500 documents) flushed to the spool.
    let path = dir.path().join("spool");
    let (mut spool, _) = Spool::open(&path, 64 << 30, FullPolicy::Backpressure).unwrap();
    let started = Instant::now();
    for chunk in docs.chunks(batch) {
        spool.push(chunk).unwrap();
    }
    let spool_took = started.elapsed();
    let spool_bytes = spool.stats().bytes;

    // 2. The node is back: drain the whole spool.
    let drained_index = format!("logs-sondebench.drain-{stamp}");
    let sink = EsSink::new(settings(&url, &drained_index)).unwrap();
    let output_settings = OutputSettings {
        batch_documents: 5000,
        drain_documents: 20000,
        batch_delay: Duration::from_millis(50),
        slow_output: Duration::from_secs(30),
    };
    let started = Instant::now();
    let (handle, task) = output::spawn(sink, spool, output_settings);
    loop {
        if count(&client, &url, &drained_index).await as usize >= n {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let drain_took = started.elapsed();
    drop(handle);
    task.await.unwrap();
    let (spool, _) = Spool::open(&path, 64 << 30, FullPolicy::Backpressure).unwrap();
    assert!(spool.is_empty(), "the spool is not empty after the drain");
    drop(spool);

    // 3. Healthy node: four probes delivering 500-document batches at once.
    let direct_index = format!("logs-sondebench.direct-{stamp}");
    let path2 = dir.path().join("spool2");
    let (spool, _) = Spool::open(&path2, 64 << 30, FullPolicy::Backpressure).unwrap();
    let sink = EsSink::new(settings(&url, &direct_index)).unwrap();
    let (handle, task) = output::spawn(sink, spool, output_settings);
    let started = Instant::now();
    let mut probes = Vec::new();
    for p in 0..4 {
        let handle = handle.clone();
        let mine: Vec<Vec<Document>> = docs
            .chunks(batch)
            .enumerate()
            .filter(|(i, _)| i % 4 == p)
            .map(|(_, c)| c.to_vec())
            .collect();
        probes.push(tokio::spawn(async move {
            for chunk in mine {
                handle.deliver(chunk).await.unwrap();
            }
        }));
    }
    for p in probes {
        p.await.unwrap();
    }
    let acked = started.elapsed();
    drop(handle);
    task.await.unwrap();
    let indexed = count(&client, &url, &direct_index).await;
    let (spool, _) = Spool::open(&path2, 64 << 30, FullPolicy::Backpressure).unwrap();
    let spooled = spool.stats().records;
    assert_eq!(indexed as usize + spooled as usize, n, "documents lost");

    println!("| phase | documents | seconds | documents/s | notes |");
    println!("|---|---|---|---|---|");
    println!(
        "| spool write (outage), 500-document batches, each flushed | {n} | {:.2} | {} | {:.0} MiB of JSON, spool {:.0} MiB |",
        spool_took.as_secs_f64(),
        rate(n, spool_took),
        json_bytes as f64 / 1048576.0,
        spool_bytes as f64 / 1048576.0
    );
    println!(
        "| spool drain to Elasticsearch (node back) | {n} | {:.2} | {} | until all searchable |",
        drain_took.as_secs_f64(),
        rate(n, drain_took)
    );
    println!(
        "| direct delivery, 4 concurrent probes, 500-document batches | {n} | {:.2} | {} | {indexed} indexed directly, {spooled} spooled as slow |",
        acked.as_secs_f64(),
        rate(n, acked)
    );
}
