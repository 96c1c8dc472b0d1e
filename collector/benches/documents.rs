//! Cost of turning one record into its ECS document, as the collector does
//! for every record it receives: the mapping, the dedupe fields, the
//! enrichment (here: local networks only) and the JSON write. The record is
//! the transport benchmark's synthetic TCP flow, then the same with TLS
//! metadata and a flow risk (a typical classified flow).
//!
//! `cargo bench -p sonde-collector --bench documents`; results in docs/benchmarks.md.

#![allow(
    clippy::expect_used,
    reason = "a benchmark with a broken setup cannot run"
)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sonde_collector::dedupe::DedupeSettings;
use sonde_collector::documents;
use sonde_collector::enrich::{EnrichConfig, Enricher};
use sonde_proto::v1;

fn tcp_flow(i: u64) -> v1::Flow {
    let dir = |p: u64| v1::Direction {
        packets: p,
        bytes: p * 120,
        payload_bytes: p * 60,
        tcp_flags: 0x1b,
    };
    v1::Flow {
        interface: "eth0".into(),
        ip_protocol: 6,
        client: Some(v1::Endpoint {
            ip: vec![10, 1, (i >> 8) as u8, i as u8],
            port: 40_000 + (i % 20_000) as u32,
            mac: vec![],
        }),
        server: Some(v1::Endpoint {
            ip: vec![93, 184, 216, 34],
            port: 443,
            mac: vec![],
        }),
        client_to_server: Some(dir(10)),
        server_to_client: Some(dir(12)),
        first_seen_us: 1_795_600_000_000_000 + i,
        last_seen_us: 1_795_600_001_500_000 + i,
        conn_state: "SF".into(),
        history: "ShADadFf".into(),
        end_reason: 3,
        community_id: format!("1:{i:028}"),
        flow_id: i,
        ..Default::default()
    }
}

fn tls_flow(i: u64) -> v1::Flow {
    v1::Flow {
        l7: Some(Box::new(v1::L7 {
            protocol: "TLS".into(),
            application: "Amazon".into(),
            category: "Web".into(),
            tls: Some(v1::TlsInfo {
                sni: "www.amazon.com".into(),
                negotiated_version: "1.3".into(),
                client_version: "TLSv1.3".into(),
                cipher: "TLS_AES_128_GCM_SHA256".into(),
                ja3: "cd08e31494f9531f560d64c695473da9".into(),
                ja4: "t13d1516h2_8daaf6152771_02713d6af862".into(),
                alpn: vec!["h2".into(), "http/1.1".into()],
                ..Default::default()
            }),
            ..Default::default()
        })),
        risks: vec![v1::FlowRisk {
            name: "Known Proto on Non Std Port".into(),
            severity: 2,
            score: 50,
            info: String::new(),
        }],
        score: 50,
        ..tcp_flow(i)
    }
}

fn bench(c: &mut Criterion) {
    let enricher = Enricher::open(&EnrichConfig {
        local_networks: vec!["10.0.0.0/8".into()],
        ..EnrichConfig::default()
    })
    .expect("enricher");
    let mapper = documents::Mapper {
        enricher,
        dedupe: DedupeSettings::default(),
    };
    // Made once per stream by the server, as here.
    let source = documents::Source::new("probe-1");
    let mut group = c.benchmark_group("documents");
    group.throughput(Throughput::Elements(1));
    for (name, record) in [("tcp flow", tcp_flow(7)), ("tls flow", tls_flow(7))] {
        group.bench_function(name, |b| b.iter(|| mapper.flow(&source, &record)));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
