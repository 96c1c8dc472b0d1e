//! Cross-probe dedupe against the real Elasticsearch test node: real flow
//! records (the probe's engine on a Community ID baseline capture) given two
//! observers, through the collector's document mapping and its sink: one
//! document per flow listing both probes, resends changing nothing, interim
//! records kept apart, two collector replicas (two sinks) agreeing, and a
//! flow whose probes put its start on both sides of a bucket boundary.

use std::time::Duration;

use serde_json::{Value, json};
use sonde_collector::dedupe::DedupeSettings;
use sonde_collector::documents;
use sonde_collector::enrich::{EnrichConfig, Enricher};
use sonde_collector::sink::elasticsearch::{Auth, EsSettings, EsSink, Target};
use sonde_collector::sink::{Document, Outcome, Sink};
use sonde_common::config::SecretSource;
use sonde_integration_tests::{EsMode, EsNode, testdata, unique_name};
use sonde_probe::capture::{FileSource, Next, PacketSource};
use sonde_probe::engine::Engine;
use sonde_probe::flow::FlowSettings;
use sonde_proto::v1;

const WINDOW_US: u64 = 60_000_000;

fn sink(node: &EsNode, flows: &str) -> EsSink {
    sink_with(node, flows, DedupeSettings::default())
}

fn sink_with(node: &EsNode, flows: &str, dedupe: DedupeSettings) -> EsSink {
    let auth = match &node.credentials {
        Some((user, password)) => {
            let file = tempfile::NamedTempFile::new().unwrap();
            std::fs::write(file.path(), password).unwrap();
            Auth::Basic {
                username: user.clone(),
                password: SecretSource::File(file.path().to_owned()).read().unwrap(),
            }
        }
        None => Auth::None,
    };
    EsSink::new(EsSettings {
        urls: vec![node.url.clone()],
        ca: node.ca.clone(),
        auth,
        flows: Target::parse(flows).unwrap(),
        alerts: Target::parse(&unique_name("logs-sondeit.alert")).unwrap(),
        ilm_policy: None,
        batch_documents: 50,
        batch_bytes: 1 << 20,
        max_in_flight: 2,
        request_timeout: Duration::from_secs(30),
        compress: true,
        dedupe,
    })
    .unwrap()
}

/// The flow records the probe makes of a capture.
fn records(pcap: &str) -> Vec<v1::Flow> {
    let path = testdata(pcap);
    let mut source = FileSource::open(&path, "eth0").unwrap();
    let mut engine = Engine::new(source.link_type(), "eth0", FlowSettings::default());
    let mut out = Vec::new();
    while let Next::Packet(p) = source.next_packet().unwrap() {
        engine.packet(&p, &mut out);
    }
    engine.finish(&mut out);
    assert!(!out.is_empty(), "{pcap} gave no flows");
    out
}

/// The same flows as a second probe on an overlapping segment records
/// them: its own interface and flow ids, its clock 3 ms ahead.
fn as_second_probe(flows: &[v1::Flow]) -> Vec<v1::Flow> {
    flows
        .iter()
        .map(|f| {
            let mut f = f.clone();
            f.interface = "mirror1".into();
            f.flow_id = f.flow_id.wrapping_add(1000);
            f.first_seen_us += 3_000;
            f.last_seen_us += 3_000;
            f
        })
        .collect()
}

fn docs(identity: &str, flows: &[v1::Flow]) -> Vec<Document> {
    docs_with(identity, flows, DedupeSettings::default())
}

fn docs_with(identity: &str, flows: &[v1::Flow], dedupe: DedupeSettings) -> Vec<Document> {
    let enricher = Enricher::open(&EnrichConfig::default()).unwrap();
    flows
        .iter()
        .map(|f| documents::flow(identity, f, &enricher, &dedupe))
        .collect()
}

/// Every document of `index` (after a refresh), with `_seq_no`.
async fn all(node: &EsNode, index: &str) -> Vec<Value> {
    let client = node.client();
    let refresh = client.post(node.url(&format!("/{index}/_refresh")));
    node.auth(refresh).send().await.unwrap();
    let search = client
        .post(node.url(&format!("/{index}/_search")))
        .json(&json!({"size": 1000, "seq_no_primary_term": true, "sort": ["_doc"]}));
    let body: Value = node
        .auth(search)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["hits"]["hits"].as_array().unwrap().clone()
}

fn observers(hit: &Value) -> Vec<&str> {
    hit["_source"]["sonde"]["flow"]["observers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn two_probes_records_of_one_flow_become_one_document_listing_both() {
    let Some(node) = EsNode::get(EsMode::Http) else {
        return;
    };
    two_probes_one_document(&node).await;
}

/// The same over HTTPS with basic auth, as on Security Onion: the reads and
/// the conditional writes of a merge carry the credentials too.
#[tokio::test]
async fn over_https_two_probes_records_of_one_flow_become_one_document() {
    let Some(node) = EsNode::get(EsMode::Https) else {
        return;
    };
    two_probes_one_document(&node).await;
}

async fn two_probes_one_document(node: &EsNode) {
    let node = node.clone();
    let flows_target = unique_name("logs-sondeit.conn");
    let mut es = sink(&node, &flows_target);
    let a = records("community-id/zeek/pcaps/icmp6.pcap");
    assert_eq!(a.len(), 14);
    let b = as_second_probe(&a);

    let first = es.deliver(&docs("probe-a", &a)).await.unwrap();
    assert!(first.iter().all(|o| *o == Outcome::Accepted), "{first:?}");
    let second = es.deliver(&docs("probe-b", &b)).await.unwrap();
    assert!(second.iter().all(|o| *o == Outcome::Accepted), "{second:?}");

    let hits = all(&node, &flows_target).await;
    assert_eq!(hits.len(), a.len(), "one document per flow");
    for hit in &hits {
        assert_eq!(observers(hit), ["probe-a", "probe-b"], "{hit}");
        assert_eq!(hit["_source"]["observer"]["name"], "probe-a");
        assert_eq!(
            hit["_source"]["sonde"]["flow"]["record_ids"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
    }

    // Resends from either probe change nothing.
    let before: Vec<u64> = hits
        .iter()
        .map(|h| h["_seq_no"].as_u64().unwrap())
        .collect();
    for (who, flows) in [("probe-a", &a), ("probe-b", &b)] {
        let again = es.deliver(&docs(who, flows)).await.unwrap();
        assert!(again.iter().all(|o| *o == Outcome::Duplicate), "{again:?}");
    }
    // A fresh sink (another process, empty memory) sees the same.
    let mut restarted = sink(&node, &flows_target);
    let again = restarted.deliver(&docs("probe-b", &b)).await.unwrap();
    assert!(again.iter().all(|o| *o == Outcome::Duplicate), "{again:?}");
    let hits = all(&node, &flows_target).await;
    let after: Vec<u64> = hits
        .iter()
        .map(|h| h["_seq_no"].as_u64().unwrap())
        .collect();
    assert_eq!(before, after, "a resend must not rewrite the document");
}

#[tokio::test]
async fn a_resend_from_the_same_probe_is_one_unchanged_document() {
    let Some(node) = EsNode::get(EsMode::Http) else {
        return;
    };
    let flows_target = unique_name("logs-sondeit.conn");
    let mut es = sink(&node, &flows_target);
    let a = docs("probe-a", &records("community-id/zeek/pcaps/http-get.pcap"));
    es.deliver(&a).await.unwrap();
    let before = all(&node, &flows_target).await;
    let again = sink(&node, &flows_target).deliver(&a).await.unwrap();
    assert!(again.iter().all(|o| *o == Outcome::Duplicate), "{again:?}");
    let after = all(&node, &flows_target).await;
    assert_eq!(before, after);
    assert!(after.iter().all(|h| observers(h) == ["probe-a"]));
}

#[tokio::test]
async fn interim_records_of_one_flow_stay_separate_documents() {
    let Some(node) = EsNode::get(EsMode::Http) else {
        return;
    };
    let flows_target = unique_name("logs-sondeit.conn");
    let mut es = sink(&node, &flows_target);
    let base = records("community-id/zeek/pcaps/http-get.pcap")[0].clone();
    // Interim records of one long flow: 120 s intervals (other buckets),
    // and one 20 s later (an active timeout shorter than the window).
    // 5 s into a bucket, so that the first two intervals share it.
    let t0 = (base.first_seen_us / WINDOW_US + 1) * WINDOW_US + 5_000_000;
    let interval = |start: u64, interim: bool| {
        let mut f = base.clone();
        f.first_seen_us = t0 + start;
        f.last_seen_us = f.first_seen_us + 1_000_000;
        f.interim = interim;
        f
    };
    let a = vec![
        interval(0, true),
        interval(20_000_000, true),
        interval(120_000_000, false),
    ];
    let b = as_second_probe(&a);
    let got = es.deliver(&docs("probe-a", &a)).await.unwrap();
    assert!(got.iter().all(|o| *o == Outcome::Accepted), "{got:?}");
    let got = es.deliver(&docs("probe-b", &b)).await.unwrap();
    assert!(got.iter().all(|o| *o == Outcome::Accepted), "{got:?}");

    let hits = all(&node, &flows_target).await;
    let of_a: std::collections::BTreeSet<&str> = hits
        .iter()
        .filter(|h| observers(h)[0] == "probe-a")
        .map(|h| h["_source"]["event"]["start"].as_str().unwrap())
        .collect();
    assert_eq!(of_a.len(), 3, "the three intervals of probe-a are kept");
    // The first interval of each bucket has both observers; the interval
    // that shares a bucket with another is its own document per probe
    // (not merged: documented residual of active timeouts below the window).
    let merged = hits.iter().filter(|h| observers(h).len() == 2).count();
    assert_eq!(merged, 2, "{hits:#?}");
    assert_eq!(hits.len(), 4, "{hits:#?}");
}

#[tokio::test]
async fn two_collector_replicas_each_with_one_probe_make_one_document() {
    let Some(node) = EsNode::get(EsMode::Http) else {
        return;
    };
    let flows_target = unique_name("logs-sondeit.conn");
    let mut replica1 = sink(&node, &flows_target);
    let mut replica2 = sink(&node, &flows_target);
    // Four of these flows start less than 2 s after a minute: their
    // boundary lookups race with the other replica creating the data stream.
    let a = records("community-id/zeek/pcaps/icmp6.pcap");
    let b = as_second_probe(&a);
    let (da, db) = (docs("probe-a", &a), docs("probe-b", &b));
    // Both at once: creates race, the loser merges (reading again if the
    // other wrote in between).
    let (r1, r2) = tokio::join!(replica1.deliver(&da), replica2.deliver(&db));
    let (r1, r2) = (r1.unwrap(), r2.unwrap());
    assert!(
        r1.iter().chain(&r2).all(|o| *o == Outcome::Accepted),
        "{r1:?} {r2:?}"
    );
    let hits = all(&node, &flows_target).await;
    assert_eq!(hits.len(), a.len());
    for hit in &hits {
        let mut seen = observers(hit);
        seen.sort_unstable();
        assert_eq!(seen, ["probe-a", "probe-b"], "{hit}");
    }
}

#[tokio::test]
async fn a_flow_whose_probes_straddle_a_bucket_boundary_is_one_document() {
    let Some(node) = EsNode::get(EsMode::Http) else {
        return;
    };
    let base = records("community-id/zeek/pcaps/http-get.pcap")[0].clone();
    let at = |first_seen_us: u64| {
        let mut f = base.clone();
        f.first_seen_us = first_seen_us;
        f.last_seen_us = first_seen_us + 500_000;
        f
    };
    let boundary = (base.first_seen_us / WINDOW_US + 10) * WINDOW_US;
    let a = vec![at(boundary - 1_000)]; // 59.999 s
    let b = as_second_probe(&[at(boundary + 1_000 - 3_000)]); // 60.001 s
    let (da, db) = (docs("probe-a", &a), docs("probe-b", &b));
    assert_ne!(da[0].id, db[0].id, "the starts fall in two buckets");

    // The same replica: it remembers where it wrote the first (real time).
    let same = unique_name("logs-sondeit.conn");
    let mut es = sink(&node, &same);
    es.deliver(&da).await.unwrap();
    let got = es.deliver(&db).await.unwrap();
    assert_eq!(got, [Outcome::Accepted]);
    let hits = all(&node, &same).await;
    assert_eq!(hits.len(), 1, "{hits:#?}");
    assert_eq!(observers(&hits[0]), ["probe-a", "probe-b"]);

    // Another replica, once the first document is searchable.
    let other = unique_name("logs-sondeit.conn");
    sink(&node, &other).deliver(&da).await.unwrap();
    let _ = all(&node, &other).await; // refresh
    let got = sink(&node, &other).deliver(&db).await.unwrap();
    assert_eq!(got, [Outcome::Accepted]);
    let hits = all(&node, &other).await;
    assert_eq!(hits.len(), 1, "{hits:#?}");
    assert_eq!(observers(&hits[0]), ["probe-a", "probe-b"]);
    // And a resend of the second probe's record, across the boundary, too.
    let got = sink(&node, &other).deliver(&db).await.unwrap();
    assert_eq!(got, [Outcome::Duplicate]);
    assert_eq!(all(&node, &other).await.len(), 1);
}

#[tokio::test]
async fn alerts_are_never_merged_across_probes() {
    // Alert ids name their probe: the same alert from two probes is two
    // documents (checked on the ids; the sink never reads alerts back).
    let enricher = Enricher::open(&EnrichConfig::default()).unwrap();
    let alert = v1::Alert {
        rule_key: "low_goodput".into(),
        first_seen_us: 1_795_600_800_000_000,
        ..Default::default()
    };
    let a = documents::alert("probe-a", &alert, &enricher);
    let b = documents::alert("probe-b", &alert, &enricher);
    assert_ne!(a.id, b.id);
}

#[tokio::test]
async fn flows_that_share_a_community_id_within_the_window_are_all_kept() {
    let Some(node) = EsNode::get(EsMode::Http) else {
        return;
    };
    // sip.pcap: one SIP 5-tuple comes back six times (idle timeouts, an
    // active timeout) within 25 minutes; a 5-minute window makes several
    // of them share a bucket id.
    let dedupe = DedupeSettings {
        window: Duration::from_secs(300),
        ..DedupeSettings::default()
    };
    let a = records("ndpi/pcap/sip.pcap");
    assert_eq!(a.len(), 9);
    let b = as_second_probe(&a);
    let (da, db) = (
        docs_with("probe-a", &a, dedupe),
        docs_with("probe-b", &b, dedupe),
    );
    let distinct_ids: std::collections::BTreeSet<&str> = da.iter().map(|d| d.id.as_str()).collect();
    assert!(
        distinct_ids.len() < da.len(),
        "the capture must make ids collide"
    );

    let flows_target = unique_name("logs-sondeit.conn");
    let mut es = sink_with(&node, &flows_target, dedupe);
    for batch in [&da, &db, &da, &db] {
        let got = es.deliver(batch).await.unwrap();
        assert!(
            got.iter()
                .all(|o| matches!(o, Outcome::Accepted | Outcome::Duplicate)),
            "{got:?}"
        );
    }
    let hits = all(&node, &flows_target).await;
    // Every record of both probes is in some document: nothing was lost...
    let listed: std::collections::BTreeSet<String> = hits
        .iter()
        .flat_map(|h| {
            h["_source"]["sonde"]["flow"]["record_ids"]
                .as_array()
                .unwrap()
                .clone()
        })
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    for d in da.iter().chain(&db) {
        let body = d.body();
        let record = body["sonde"]["flow"]["record_ids"][0].as_str().unwrap();
        assert!(listed.contains(record), "record {record} was lost");
    }
    // ...each of probe-a's records is a document of its own...
    let of_a = hits.iter().filter(|h| observers(h)[0] == "probe-a").count();
    assert_eq!(of_a, a.len());
    // ...and each record is listed once (resends added nothing).
    let total: usize = hits
        .iter()
        .map(|h| {
            h["_source"]["sonde"]["flow"]["record_ids"]
                .as_array()
                .unwrap()
                .len()
        })
        .sum();
    assert_eq!(total, a.len() + b.len());
}

#[tokio::test]
async fn three_probes_two_of_them_at_once_end_in_one_document_listing_all() {
    let Some(node) = EsNode::get(EsMode::Http) else {
        return;
    };
    let flows_target = unique_name("logs-sondeit.conn");
    let a = records("community-id/zeek/pcaps/icmp6.pcap");
    let b = as_second_probe(&a);
    let c: Vec<v1::Flow> = as_second_probe(&b)
        .into_iter()
        .map(|mut f| {
            f.interface = "span2".into();
            f
        })
        .collect();
    sink(&node, &flows_target)
        .deliver(&docs("probe-a", &a))
        .await
        .unwrap();
    // b and c read the same version of each document; one write wins, the
    // other conflicts (409 on if_seq_no), reads again and adds its observer.
    let (mut r1, mut r2) = (sink(&node, &flows_target), sink(&node, &flows_target));
    let (db, dc) = (docs("probe-b", &b), docs("probe-c", &c));
    let (g1, g2) = tokio::join!(r1.deliver(&db), r2.deliver(&dc));
    let (g1, g2) = (g1.unwrap(), g2.unwrap());
    assert!(
        g1.iter().chain(&g2).all(|o| *o == Outcome::Accepted),
        "{g1:?} {g2:?}"
    );
    let hits = all(&node, &flows_target).await;
    assert_eq!(hits.len(), a.len());
    for hit in &hits {
        let mut seen = observers(hit);
        seen.sort_unstable();
        assert_eq!(seen, ["probe-a", "probe-b", "probe-c"], "{hit}");
    }
}
