//! Throughput of the probe's per-packet path on real traffic: every packet of
//! the nDPI test captures that use Ethernet framing (TLS, QUIC, DNS, HTTP,
//! scans, fuzzed packets...), loaded into memory first so the numbers are the
//! decoder's and the flow table's, not libpcap's.
//!
//! `cargo bench -p sonde-probe --bench pipeline`; results in docs/benchmarks.md.

#![allow(
    clippy::expect_used,
    reason = "a benchmark without its data cannot run"
)]

use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sonde_probe::capture::{FileSource, Next, Packet, PacketSource};
use sonde_probe::decode::{self, LinkType};
use sonde_probe::engine::Engine;
use sonde_probe::flow::FlowSettings;

struct Frame {
    ts_us: u64,
    data: Vec<u8>,
    wire_len: u32,
}

/// Ethernet frames of every nDPI capture, in file order, with timestamps made
/// monotonic across files so flows of one file do not outlive the next.
fn frames() -> Vec<Frame> {
    let root = std::env::var_os("SONDE_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata"));
    let mut files: Vec<_> = std::fs::read_dir(root.join("ndpi/pcap"))
        .expect("testdata/ndpi/pcap")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    let mut frames = Vec::new();
    let mut offset = 0u64;
    for path in files {
        let Ok(mut source) = FileSource::open(&path, "bench") else {
            continue;
        };
        if source.link_type() != LinkType::Ethernet {
            continue;
        }
        let (mut first, mut last) = (None, 0);
        while let Ok(Next::Packet(p)) = source.next_packet() {
            let base = *first.get_or_insert(p.ts_us);
            let ts_us = offset + p.ts_us.saturating_sub(base);
            last = last.max(ts_us);
            frames.push(Frame {
                ts_us,
                data: p.data.to_vec(),
                wire_len: p.wire_len,
            });
        }
        offset = last + 3_600_000_000;
    }
    frames
}

fn bench(c: &mut Criterion) {
    let frames = frames();
    // Captured bytes: some fuzzed captures claim absurd wire lengths.
    let bytes: u64 = frames.iter().map(|f| f.data.len() as u64).sum();
    eprintln!("pipeline: {} frames, {bytes} captured bytes", frames.len());
    let mut group = c.benchmark_group("pipeline");
    group.throughput(Throughput::Elements(frames.len() as u64));
    group.bench_function("decode", |b| {
        b.iter(|| {
            let mut ok = 0usize;
            for f in &frames {
                ok += usize::from(decode::decode(LinkType::Ethernet, &f.data).is_ok());
            }
            ok
        })
    });
    let flows_with = |dpi: bool| {
        let mut settings = FlowSettings::default();
        settings.dpi.enabled = dpi;
        let mut engine = Engine::new(LinkType::Ethernet, "bench", settings);
        let mut out = Vec::new();
        for f in &frames {
            let packet = Packet {
                ts_us: f.ts_us,
                data: &f.data,
                wire_len: f.wire_len,
            };
            engine.packet(&packet, &mut out);
        }
        engine.finish(&mut out);
        out.len()
    };
    group.bench_function("decode+flows", |b| b.iter(|| flows_with(false)));
    group.bench_function("decode+flows+dpi", |b| b.iter(|| flows_with(true)));
    group.throughput(Throughput::Bytes(bytes));
    group.bench_function("decode+flows+dpi-bytes", |b| b.iter(|| flows_with(true)));
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
