use serde_json::json;

use super::*;

fn doc(kind: DocKind, n: u64) -> Document {
    Document::from_value(
        format!("{}-{n}", kind.as_str()),
        kind,
        1_700_000_000_000_000 + n,
        json!({"n": n, "pad": "x".repeat(200)}),
    )
}

fn flows(range: std::ops::Range<u64>) -> Vec<Document> {
    range.map(|n| doc(DocKind::Flow, n)).collect()
}

fn ids(entries: &[Entry]) -> Vec<String> {
    entries
        .iter()
        .flat_map(|e| e.docs.iter().map(|d| d.id.clone()))
        .collect()
}

const BIG: u64 = 1 << 30;

#[test]
fn batches_come_back_in_order_and_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spool");
    {
        let (mut spool, damaged) = Spool::open(&path, BIG, FullPolicy::Backpressure).unwrap();
        assert!(damaged.is_none());
        assert!(spool.is_empty());
        spool.push(&flows(0..3)).unwrap();
        spool.push(&flows(3..5)).unwrap();
        let s = spool.stats();
        assert_eq!((s.batches, s.records), (2, 5));
        assert!(s.bytes > 5 * 200, "{s:?}");
        assert!(s.oldest_ms.is_some());
    }
    let (mut spool, _) = Spool::open(&path, BIG, FullPolicy::Backpressure).unwrap();
    let before = spool.stats();
    assert_eq!((before.batches, before.records), (2, 5));
    let all = spool.oldest(100).unwrap();
    assert_eq!(
        ids(&all),
        ids(&[Entry {
            key: 0,
            enqueued_ms: 0,
            docs: flows(0..5)
        }])
    );
    assert_eq!(all[0].docs[1], doc(DocKind::Flow, 1));
    // A limit smaller than one batch still returns that batch.
    assert_eq!(spool.oldest(1).unwrap().len(), 1);
    // New keys continue after the old ones: order is kept across restarts.
    spool.push(&flows(5..6)).unwrap();
    let keys: Vec<u64> = spool.oldest(100).unwrap().iter().map(|e| e.key).collect();
    assert_eq!(keys, [1, 2, 3]);
}

#[test]
fn a_partly_delivered_batch_keeps_only_what_is_owed() {
    let dir = tempfile::tempdir().unwrap();
    let (mut spool, _) = Spool::open(dir.path(), BIG, FullPolicy::Backpressure).unwrap();
    spool.push(&flows(0..4)).unwrap();
    let entry = spool.oldest(10).unwrap().remove(0);
    spool.replace_entry(&entry, &flows(2..3)).unwrap();
    let s = spool.stats();
    assert_eq!((s.batches, s.records), (1, 1));
    assert_eq!(ids(&spool.oldest(10).unwrap()), ["flow-2"]);
    let entry = spool.oldest(10).unwrap().remove(0);
    spool.replace_entry(&entry, &[]).unwrap();
    assert!(spool.is_empty());
    assert_eq!(spool.stats().bytes, 0);
    assert_eq!(spool.stats().oldest_ms, None);
}

#[test]
fn backpressure_refuses_a_batch_that_does_not_fit_and_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let (mut spool, _) = Spool::open(dir.path(), 4096, FullPolicy::Backpressure).unwrap();
    spool.push(&flows(0..10)).unwrap();
    let err = spool.push(&flows(10..20)).unwrap_err();
    assert!(matches!(err, SpoolError::Full { .. }), "{err}");
    assert_eq!(spool.stats().records, 10);
}

#[test]
fn shedding_deletes_the_oldest_flows_before_any_alert() {
    let dir = tempfile::tempdir().unwrap();
    let (mut spool, _) = Spool::open(dir.path(), 3000, FullPolicy::Shed).unwrap();
    let mut first = flows(0..5);
    first.push(doc(DocKind::Alert, 100));
    spool.push(&first).unwrap();
    spool.push(&flows(5..10)).unwrap();
    // Does not fit: the oldest flows go, the alert stays.
    spool.push(&flows(10..15)).unwrap();
    let left = ids(&spool.oldest(100).unwrap());
    assert!(left.contains(&"alert-100".to_owned()), "{left:?}");
    assert!(!left.contains(&"flow-0".to_owned()), "{left:?}");
    assert!(left.contains(&"flow-14".to_owned()), "{left:?}");
    let s = spool.stats();
    assert!(s.shed_flows >= 5, "{s:?}");
    assert_eq!(s.shed_alerts, 0);
    assert!(s.bytes <= 3000, "{s:?}");
    assert_eq!(s.records as usize, left.len());
}

#[test]
fn a_batch_larger_than_the_whole_spool_is_refused_even_when_shedding() {
    let dir = tempfile::tempdir().unwrap();
    let (mut spool, _) = Spool::open(dir.path(), 1000, FullPolicy::Shed).unwrap();
    assert!(matches!(
        spool.push(&flows(0..10)),
        Err(SpoolError::Full { .. })
    ));
}

#[test]
fn dead_letters_are_kept_listed_resent_and_purged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spool");
    {
        let (mut spool, _) = Spool::open(&path, BIG, FullPolicy::Backpressure).unwrap();
        spool
            .dead_letter(
                &doc(DocKind::Flow, 1),
                "mapper_parsing_exception: source.ip",
            )
            .unwrap();
        spool
            .dead_letter(&doc(DocKind::Alert, 2), "too large")
            .unwrap();
        spool.flush().unwrap();
    }
    let (mut spool, _) = Spool::open(&path, BIG, FullPolicy::Backpressure).unwrap();
    assert_eq!(spool.stats().dead_letters, 2);
    let dead = spool.dead_letters().unwrap();
    assert_eq!(dead.len(), 2);
    assert_eq!(dead[0].reason, "mapper_parsing_exception: source.ip");
    assert_eq!(dead[0].doc, doc(DocKind::Flow, 1));
    assert_eq!(spool.resend_dead_letters(&[dead[0].key]).unwrap(), 1);
    assert_eq!(ids(&spool.oldest(10).unwrap()), ["flow-1"]);
    assert_eq!(spool.stats().dead_letters, 1);
    assert_eq!(spool.purge_dead_letters(&[]).unwrap(), 1);
    assert_eq!(spool.stats().dead_letters, 0);
    assert!(spool.dead_letters().unwrap().is_empty());
}

#[test]
fn a_damaged_store_is_moved_aside_and_a_fresh_one_opened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spool");
    {
        let (mut spool, _) = Spool::open(&path, BIG, FullPolicy::Backpressure).unwrap();
        spool.push(&flows(0..3)).unwrap();
    }
    // Garble every file sled wrote.
    for entry in std::fs::read_dir(&path).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() {
            std::fs::write(&p, b"\xde\xad\xbe\xef not a sled file").unwrap();
        }
    }
    let (spool, damaged) = Spool::open(&path, BIG, FullPolicy::Backpressure).unwrap();
    let damaged = damaged.expect("the garbled store is reported");
    assert!(damaged.moved_to.exists(), "{damaged:?}");
    assert!(
        damaged
            .moved_to
            .to_string_lossy()
            .contains("spool.damaged-"),
        "{damaged:?}"
    );
    assert!(spool.is_empty());
}

#[test]
fn a_store_in_use_is_an_error_and_is_not_moved() {
    let dir = tempfile::tempdir().unwrap();
    let (_first, _) = Spool::open(dir.path(), BIG, FullPolicy::Backpressure).unwrap();
    let err = Spool::open(dir.path(), BIG, FullPolicy::Backpressure).unwrap_err();
    assert!(matches!(err, SpoolError::Locked { .. }), "{err}");
    assert!(err.to_string().contains("another process"), "{err}");
}

#[test]
fn an_undecodable_batch_is_quarantined_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spool");
    {
        let (mut spool, _) = Spool::open(&path, BIG, FullPolicy::Backpressure).unwrap();
        spool.push(&flows(0..2)).unwrap();
        spool
            .batches
            .insert(7u64.to_be_bytes(), &b"\x01short"[..])
            .unwrap();
        spool.push(&flows(2..3)).unwrap();
    }
    let (mut spool, _) = Spool::open(&path, BIG, FullPolicy::Backpressure).unwrap();
    assert_eq!(spool.stats().damaged, 1);
    assert_eq!(
        ids(&spool.oldest(10).unwrap()),
        ["flow-0", "flow-1", "flow-2"]
    );
}

mod codec_props {
    use super::super::codec::*;
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode_batch(&bytes);
            let _ = decode_dead(&bytes);
            let _ = batch_header(&bytes);
        }

        #[test]
        fn every_truncation_of_a_valid_batch_is_an_error(cut in 0usize..600) {
            let value = encode_batch(5, &flows(0..2));
            let cut = cut.min(value.len() - 1);
            prop_assert!(decode_batch(&value[..cut]).is_err());
        }
    }

    #[test]
    fn a_batch_round_trips() {
        let docs = vec![doc(DocKind::Flow, 1), doc(DocKind::Alert, 2)];
        let value = encode_batch(42, &docs);
        assert_eq!(decode_batch(&value).unwrap(), (42, docs.clone()));
        assert_eq!(batch_header(&value).unwrap(), (42, 2));
        let dead = encode_dead(7, "why", &docs[0]);
        assert_eq!(
            decode_dead(&dead).unwrap(),
            (7, "why".to_owned(), docs[0].clone())
        );
        let mut bad = value;
        bad[0] = 9;
        assert_eq!(decode_batch(&bad), Err(DecodeError::Version(9)));
    }
}
