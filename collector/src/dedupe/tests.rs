use sonde_proto::v1;

use super::memory::Deduped;
use super::*;
use crate::enrich::{EnrichConfig, Enricher};
use crate::sink::Outcome;

const T0: u64 = 1_795_600_800_000_000; // 2026-11-25T10:00:00Z, a bucket boundary

fn settings() -> DedupeSettings {
    DedupeSettings::default()
}

fn record(first_seen_us: u64, flow_id: u64) -> v1::Flow {
    v1::Flow {
        interface: "eth0".into(),
        ip_protocol: 6,
        client: Some(v1::Endpoint {
            ip: vec![10, 0, 0, 1],
            port: 40000,
            mac: Vec::new(),
        }),
        server: Some(v1::Endpoint {
            ip: vec![10, 0, 0, 2],
            port: 80,
            mac: Vec::new(),
        }),
        first_seen_us,
        last_seen_us: first_seen_us + 1_500_000,
        community_id: "1:LQU9qZlK+B5F3KDmev6m5PMibrg=".into(),
        flow_id,
        ..Default::default()
    }
}

fn doc(identity: &str, flow: &v1::Flow) -> Document {
    let enricher = Enricher::open(&EnrichConfig::default()).unwrap();
    crate::documents::flow(identity, flow, &enricher, &settings())
}

#[test]
fn the_same_flow_from_two_observers_has_one_id() {
    let a = doc("probe-a", &record(T0 + 10_000_000, 7));
    // Another probe: its own flow id, another interface, 3 ms later.
    let mut other = record(T0 + 10_003_000, 99);
    other.interface = "mirror1".into();
    let b = doc("probe-b", &other);
    assert_eq!(a.id, b.id);
    assert_eq!(a.body()["event"]["id"], a.id.as_str());
    assert_eq!(a.body()["sonde"]["flow"]["observers"][0], "probe-a");
    assert_ne!(
        a.body()["sonde"]["flow"]["record_ids"][0],
        b.body()["sonde"]["flow"]["record_ids"][0]
    );
}

#[test]
fn different_flows_and_buckets_have_different_ids() {
    let a = doc("probe-a", &record(T0 + 10_000_000, 7));
    let mut other_flow = record(T0 + 10_000_000, 7);
    other_flow.community_id = "1:9j2Dzwrw7T9E+IZi4b4IVT66HBI=".into();
    assert_ne!(a.id, doc("probe-a", &other_flow).id);
    // The next minute (an interim record of the same flow, for instance).
    assert_ne!(a.id, doc("probe-a", &record(T0 + 70_000_000, 7)).id);
}

#[test]
fn a_flow_without_community_id_or_start_keeps_its_record_id() {
    let mut r = record(T0 + 10_000_000, 7);
    r.community_id.clear();
    let d = doc("probe-a", &r);
    assert_eq!(
        d.body()["sonde"]["flow"]["record_ids"][0],
        d.id.as_str(),
        "{d:?}"
    );
    assert!(mark(&d, &settings()).is_none());
    let d = doc("probe-a", &record(0, 7));
    assert_eq!(d.body()["sonde"]["flow"]["record_ids"][0], d.id.as_str());
}

#[test]
fn starts_near_a_boundary_name_the_neighbouring_bucket() {
    let s = settings();
    let cid = "1:x";
    let (before, n1) = flow_ids(cid, T0 - 1_000, &s); // 59.999 s
    let (after, n2) = flow_ids(cid, T0 + 1_000, &s); // 60.001 s
    assert_ne!(before, after);
    assert_eq!(n1.as_deref(), Some(after.as_str()));
    assert_eq!(n2.as_deref(), Some(before.as_str()));
    // Mid-bucket: no neighbour.
    assert_eq!(flow_ids(cid, T0 + 30_000_000, &s).1, None);
    // Exactly the tolerance away from the boundary still looks.
    assert!(flow_ids(cid, T0 - 2_000_000, &s).1.is_some());
    assert!(flow_ids(cid, T0 + 2_000_001, &s).1.is_none());
}

#[test]
fn judging_tells_resends_merges_and_distinct_flows_apart() {
    let s = settings();
    let a = doc("probe-a", &record(T0 + 10_000_000, 7));
    let seen = Seen::of(&a.body()).unwrap();
    assert_eq!(seen.first_seen_us, T0 + 10_000_000);
    let resend = mark(&a, &s).unwrap();
    assert_eq!(judge(&seen, &resend, &s), Verdict::Resend);
    let b_doc = doc("probe-b", &record(T0 + 10_400_000, 3));
    let b = mark(&b_doc, &s).unwrap();
    assert_eq!(judge(&seen, &b, &s), Verdict::Merge);
    // The same probe, another flow with the same Community ID in the window.
    let again_doc = doc("probe-a", &record(T0 + 40_000_000, 8));
    let again = mark(&again_doc, &s).unwrap();
    assert_eq!(judge(&seen, &again, &s), Verdict::Distinct);
    // Another probe, but its flow started 20 s later: not the same flow.
    let late_doc = doc("probe-b", &record(T0 + 30_000_000, 3));
    let late = mark(&late_doc, &s).unwrap();
    assert_eq!(judge(&seen, &late, &s), Verdict::Distinct);
    // After a merge both observers' records are resends.
    let mut merged = seen;
    merged.add(&b);
    assert_eq!(merged.observers, ["probe-a", "probe-b"]);
    assert_eq!(judge(&merged, &b, &s), Verdict::Resend);
}

#[test]
fn a_distinct_flow_is_rewritten_under_its_record_id() {
    let d = doc("probe-a", &record(T0 + 10_000_000, 7));
    let m = mark(&d, &settings()).unwrap();
    let own = under_own_id(&d, &m);
    assert_eq!(own.id, m.fallback_id);
    assert_eq!(own.body()["event"]["id"], m.fallback_id);
    assert!(mark(&own, &settings()).is_none());
}

#[test]
fn sonde_timestamps_parse_back_to_microseconds() {
    assert_eq!(
        parse_rfc3339_us("2026-11-25T10:00:00.123456Z"),
        Some(T0 + 123_456)
    );
    assert_eq!(parse_rfc3339_us("2026-11-25T10:00:00Z"), Some(T0));
    assert_eq!(
        parse_rfc3339_us("2026-11-25T10:00:00.5Z"),
        Some(T0 + 500_000)
    );
    for bad in [
        "",
        "2026-11-25",
        "2026-13-25T10:00:00Z",
        "x-y-zT1:2:3Z",
        "2026-11-25T10:00:00.1a3Z",
    ] {
        assert_eq!(parse_rfc3339_us(bad), None, "{bad}");
    }
}

#[test]
fn the_window_forgets_old_flows_silently_and_counts_forced_evictions() {
    let mut s = settings();
    s.memory_flows = 2;
    let mut w = window::Window::new(&s);
    let entry = |first| window::Entry {
        seen: Seen {
            observers: vec!["a".into()],
            record_ids: vec!["r".into()],
            first_seen_us: first,
        },
        index: None,
    };
    w.note("1", entry(T0));
    w.note("2", entry(T0 + 1));
    w.note("3", entry(T0 + 2));
    assert_eq!((w.len(), w.evictions()), (2, 1));
    assert!(w.get("1").is_none());
    // Three windows later the old ones expire without counting.
    w.note("4", entry(T0 + 180_000_000));
    assert_eq!((w.len(), w.evictions()), (1, 1));
}

#[test]
fn the_window_updates_a_noted_id_in_place_and_evicts_in_insertion_order() {
    let mut s = settings();
    s.memory_flows = 3;
    let mut w = window::Window::new(&s);
    let entry = |first, observer: &str| window::Entry {
        seen: Seen {
            observers: vec![observer.into()],
            record_ids: vec!["r".into()],
            first_seen_us: first,
        },
        index: None,
    };
    for (n, id) in ["1", "2", "3"].into_iter().enumerate() {
        w.note(id, entry(T0 + n as u64, "a"));
    }
    // Noting "1" again changes it without making it newer.
    w.note(String::from("1"), entry(T0, "b"));
    w.update("2", |e| e.seen.observers.push("c".into()));
    assert_eq!(w.len(), 3);
    assert_eq!(w.get("1").unwrap().seen.observers, ["b"]);
    assert_eq!(w.get("2").unwrap().seen.observers, ["a", "c"]);
    w.note("4", entry(T0 + 3, "a"));
    w.note("5", entry(T0 + 4, "a"));
    assert_eq!((w.len(), w.evictions()), (3, 2));
    assert!(w.get("1").is_none() && w.get("2").is_none());
    for id in ["3", "4", "5"] {
        assert!(w.get(id).is_some(), "{id}");
    }
}

/// A sink that accepts everything and keeps what it was given.
#[derive(Default)]
struct Keep(Vec<Document>);

impl crate::sink::Sink for Keep {
    fn name(&self) -> &str {
        "keep"
    }

    async fn deliver(&mut self, docs: &[Document]) -> Result<Vec<Outcome>, crate::sink::SinkError> {
        self.0.extend_from_slice(docs);
        Ok(vec![Outcome::Accepted; docs.len()])
    }
}

#[tokio::test]
async fn append_only_outputs_write_a_flow_of_two_probes_once() {
    use crate::sink::Sink as _;
    let mut sink = Deduped::new(Keep::default(), settings());
    let a = doc("probe-a", &record(T0 + 10_000_000, 7));
    let b = doc("probe-b", &record(T0 + 10_002_000, 3));
    let other = doc("probe-a", &record(T0 + 20_000_000, 8));
    let got = sink.deliver(&[a.clone(), b.clone()]).await.unwrap();
    assert_eq!(got, [Outcome::Accepted, Outcome::Duplicate]);
    // Resends of either, in a later batch, and a distinct flow of the same id.
    let got = sink.deliver(&[b, a.clone(), other]).await.unwrap();
    assert_eq!(
        got,
        [Outcome::Duplicate, Outcome::Duplicate, Outcome::Accepted]
    );
    let written = &sink_inner(&sink).0;
    assert_eq!(written.len(), 2);
    assert_eq!(written[0].id, a.id);
    assert_ne!(written[1].id, a.id, "the distinct flow has its own id");
    // Boundary: a third probe whose flow started in the next bucket.
    let mut boundary = record(T0 + 59_999_000, 7);
    boundary.community_id = "1:boundary".into();
    let first = doc("probe-a", &boundary);
    boundary.first_seen_us = T0 + 60_001_000;
    let second = doc("probe-c", &boundary);
    assert_ne!(first.id, second.id);
    let got = sink.deliver(&[first, second]).await.unwrap();
    assert_eq!(got, [Outcome::Accepted, Outcome::Duplicate]);
}

fn sink_inner(sink: &Deduped<Keep>) -> &Keep {
    sink.inner()
}
