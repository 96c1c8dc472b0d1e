//! The NDJSON file sink against a real directory: lines, rotation, pruning,
//! and a failed batch that must leave nothing behind.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use sonde_collector::sink::{
    DocKind, Document, NdjsonConfig, NdjsonSink, Outcome, Sink, SinkError,
};

fn config(dir: &Path) -> NdjsonConfig {
    NdjsonConfig {
        dir: dir.to_owned(),
        max_file_size: 1 << 20,
        max_file_age: Duration::from_secs(3600),
        max_files: 10,
        keep_page_cache: false,
    }
}

fn flow(i: u64) -> Document {
    Document::from_value(
        format!("flow-{i}"),
        DocKind::Flow,
        1_714_564_800_000_000 + i,
        json!({
            "event": {"kind": "event", "dataset": "sonde.conn"},
            "source": {"ip": "10.0.0.1", "port": 40000 + i},
            "destination": {"ip": "10.0.0.2", "port": 443}}),
    )
}

fn alert(i: u64) -> Document {
    Document::from_value(
        format!("alert-{i}"),
        DocKind::Alert,
        1_714_564_800_000_000 + i,
        json!({"event": {"kind": "alert", "severity": 4}, "tags": ["alert"]}),
    )
}

/// The body a reader finds in the file: with the id as `event.id`.
fn expected(doc: &Document) -> Value {
    let mut body = doc.body();
    body["event"]["id"] = json!(doc.id);
    body
}

/// The sink's files of `kind` in the order they were written.
fn files(dir: &Path, kind: &str) -> Vec<PathBuf> {
    let prefix = format!("sonde-{kind}-");
    let mut found: Vec<(String, u64, PathBuf)> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|path| {
            let name = path.file_name()?.to_str()?.to_owned();
            let rest = name.strip_prefix(&prefix)?.strip_suffix(".ndjson")?;
            let (stamp, n) = rest.rsplit_once('-')?;
            Some((stamp.to_owned(), n.parse().ok()?, path))
        })
        .collect();
    found.sort();
    found.into_iter().map(|(_, _, path)| path).collect()
}

fn lines(paths: &[PathBuf]) -> Vec<Value> {
    let mut all = Vec::new();
    for path in paths {
        let text = fs::read_to_string(path).unwrap();
        assert!(
            text.is_empty() || text.ends_with('\n'),
            "{}: partial line",
            path.display()
        );
        all.extend(
            text.lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap()),
        );
    }
    all
}

fn all_accepted(n: usize) -> Vec<Outcome> {
    vec![Outcome::Accepted; n]
}

#[tokio::test]
async fn documents_are_written_one_per_line_and_read_back() {
    let tmp = tempfile::tempdir().unwrap();
    let mut sink = NdjsonSink::new(config(tmp.path())).unwrap();
    let docs = [flow(1), alert(1), flow(2), flow(3), alert(2)];
    assert_eq!(sink.deliver(&docs).await.unwrap(), all_accepted(5));

    let flows = files(tmp.path(), "flow");
    let alerts = files(tmp.path(), "alert");
    assert_eq!((flows.len(), alerts.len()), (1, 1));
    let name = flows[0].file_name().unwrap().to_str().unwrap();
    let stamp = &name["sonde-flow-".len().."sonde-flow-".len() + 15];
    assert!(
        stamp
            .bytes()
            .enumerate()
            .all(|(i, b)| (i == 8) == (b == b'-')),
        "{name}"
    );
    assert!(name.ends_with("-0.ndjson"), "{name}");
    assert_eq!(lines(&flows), [&docs[0], &docs[2], &docs[3]].map(expected));
    assert_eq!(lines(&alerts), [&docs[1], &docs[4]].map(expected));
}

/// Thousands of lines of both kinds in one batch, across rotations: they are
/// handed to the kernel many at a time (`writev` of up to 1024 slices), so
/// this checks that every line lands once, whole and in order, whether the
/// written pages stay in the page cache or not.
#[tokio::test]
async fn a_large_mixed_batch_is_written_whole_and_in_order_across_rotations() {
    for keep_page_cache in [false, true] {
        let tmp = tempfile::tempdir().unwrap();
        let line = serde_json::to_vec(&expected(&flow(1000))).unwrap().len() as u64 + 1;
        let mut sink = NdjsonSink::new(NdjsonConfig {
            // About 700 flow lines per file.
            max_file_size: line * 700,
            keep_page_cache,
            ..config(tmp.path())
        })
        .unwrap();
        let docs: Vec<Document> = (1000..4000)
            .map(|i| if i % 5 == 0 { alert(i) } else { flow(i) })
            .collect();
        let outcomes = sink.deliver(&docs).await.unwrap();
        assert!(outcomes.iter().all(|o| *o == Outcome::Accepted));
        sink.deliver(&docs[..10]).await.unwrap();

        let flows = files(tmp.path(), "flow");
        assert!(flows.len() >= 4, "{flows:?}");
        let written_flows = docs
            .iter()
            .chain(&docs[..10])
            .filter(|d| d.kind == DocKind::Flow);
        assert_eq!(
            lines(&flows),
            written_flows.map(expected).collect::<Vec<_>>()
        );
        let written_alerts = docs
            .iter()
            .chain(&docs[..10])
            .filter(|d| d.kind == DocKind::Alert);
        assert_eq!(
            lines(&files(tmp.path(), "alert")),
            written_alerts.map(expected).collect::<Vec<_>>()
        );
    }
}

#[tokio::test]
async fn ids_appear_in_event_id_and_an_existing_event_id_is_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let mut sink = NdjsonSink::new(config(tmp.path())).unwrap();
    let mut body = flow(2).body();
    body["event"]["id"] = json!("set-by-mapping");
    let own = Document::from_value("flow-2".into(), DocKind::Flow, 1, body);
    let bare = Document::from_value(
        "flow-3".into(),
        DocKind::Flow,
        1,
        json!({"network": {"transport": "udp"}}),
    );
    sink.deliver(&[flow(1), own, bare]).await.unwrap();

    let ids: Vec<Value> = lines(&files(tmp.path(), "flow"))
        .iter()
        .map(|l| l["event"]["id"].clone())
        .collect();
    assert_eq!(
        ids,
        [json!("flow-1"), json!("set-by-mapping"), json!("flow-3")]
    );
}

#[tokio::test]
async fn a_body_that_is_not_an_object_is_rejected_and_the_rest_written() {
    let tmp = tempfile::tempdir().unwrap();
    let mut sink = NdjsonSink::new(config(tmp.path())).unwrap();
    let broken = Document::from_value("flow-2".into(), DocKind::Flow, 1, json!("not ecs"));
    let outcomes = sink.deliver(&[flow(1), broken, flow(3)]).await.unwrap();

    assert_eq!(outcomes[0], Outcome::Accepted);
    assert!(
        matches!(&outcomes[1], Outcome::Rejected { reason } if reason.contains("flow-2")),
        "{outcomes:?}"
    );
    assert_eq!(outcomes[2], Outcome::Accepted);
    assert_eq!(lines(&files(tmp.path(), "flow")).len(), 2);
}

#[tokio::test]
async fn a_file_is_rotated_before_a_line_would_take_it_past_max_file_size() {
    let tmp = tempfile::tempdir().unwrap();
    let max_file_size = 400;
    let mut sink = NdjsonSink::new(NdjsonConfig {
        max_file_size,
        ..config(tmp.path())
    })
    .unwrap();
    let docs: Vec<Document> = (0..10).map(flow).collect();
    sink.deliver(&docs[..4]).await.unwrap();
    sink.deliver(&docs[4..]).await.unwrap();

    let flows = files(tmp.path(), "flow");
    assert!(flows.len() >= 3, "{flows:?}");
    for path in &flows {
        let len = fs::metadata(path).unwrap().len();
        assert!(
            len > 0 && len <= max_file_size,
            "{}: {len} bytes",
            path.display()
        );
    }
    assert_eq!(lines(&flows), docs.iter().map(expected).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_file_older_than_max_file_age_is_rotated_when_a_document_arrives() {
    let tmp = tempfile::tempdir().unwrap();
    let max_file_age = Duration::from_millis(20);
    let mut sink = NdjsonSink::new(NdjsonConfig {
        max_file_age,
        ..config(tmp.path())
    })
    .unwrap();
    sink.deliver(&[flow(1), flow(2)]).await.unwrap();
    assert_eq!(files(tmp.path(), "flow").len(), 1);
    tokio::time::sleep(Duration::from_millis(60)).await;
    sink.deliver(&[flow(3)]).await.unwrap();

    let flows = files(tmp.path(), "flow");
    assert_eq!(flows.len(), 2);
    assert_eq!(
        lines(&flows[..1]),
        [flow(1), flow(2)].iter().map(expected).collect::<Vec<_>>()
    );
    assert_eq!(lines(&flows[1..]), [expected(&flow(3))]);
}

#[tokio::test]
async fn rotated_files_beyond_max_files_are_deleted_oldest_first() {
    let tmp = tempfile::tempdir().unwrap();
    // Every document fills a file of its own.
    let cfg = NdjsonConfig {
        max_file_size: 10,
        max_files: 2,
        keep_page_cache: false,
        ..config(tmp.path())
    };
    let mut sink = NdjsonSink::new(cfg).unwrap();
    for i in 0..6 {
        sink.deliver(&[flow(i)]).await.unwrap();
    }
    sink.deliver(&[alert(0)]).await.unwrap();

    // Two rotated files and the current one; alerts are counted apart.
    let flows = files(tmp.path(), "flow");
    assert_eq!(
        lines(&flows),
        [flow(3), flow(4), flow(5)]
            .iter()
            .map(expected)
            .collect::<Vec<_>>()
    );
    assert_eq!(files(tmp.path(), "alert").len(), 1);
}

#[tokio::test]
async fn a_restarted_sink_keeps_the_old_files_and_starts_a_new_one() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = NdjsonConfig {
        max_files: 1,
        keep_page_cache: false,
        ..config(tmp.path())
    };
    for i in 0..3 {
        let mut sink = NdjsonSink::new(cfg.clone()).unwrap();
        sink.deliver(&[flow(i)]).await.unwrap();
    }

    // Run 0's file was pruned when run 2 started; names keep the order.
    let flows = files(tmp.path(), "flow");
    assert_eq!(
        lines(&flows),
        [flow(1), flow(2)].iter().map(expected).collect::<Vec<_>>()
    );
}

#[test]
fn a_directory_below_a_regular_file_is_a_sink_error() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("file");
    fs::write(&file, b"x").unwrap();
    let err = NdjsonSink::new(config(&file.join("out"))).unwrap_err();
    assert!(
        matches!(
            err,
            SinkError::File {
                action: "create directory",
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn a_directory_that_becomes_unwritable_fails_the_batch_and_leaves_no_partial_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("out");
    // Room for two lines: the batch's second flow rotates the file, which
    // writes out the first one before the new file cannot be created.
    let line = serde_json::to_vec(&expected(&flow(1))).unwrap().len() as u64 + 1;
    let mut sink = NdjsonSink::new(NdjsonConfig {
        max_file_size: line * 5 / 2,
        ..config(&dir)
    })
    .unwrap();
    sink.deliver(&[flow(1)]).await.unwrap();
    let flow_file = files(&dir, "flow").remove(0);
    let before = fs::read_to_string(&flow_file).unwrap();

    let unwritable = Unwritable::make(&dir);
    let batch = [flow(2), flow(3), alert(1)];
    let err = sink.deliver(&batch).await.unwrap_err();
    assert!(
        matches!(
            err,
            SinkError::File {
                action: "create",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        fs::read_to_string(unwritable.current_path(&flow_file)).unwrap(),
        before
    );
    unwritable.restore();

    // The caller retries the batch: every line is there exactly once.
    assert_eq!(sink.deliver(&batch).await.unwrap(), all_accepted(3));
    let flows = lines(&files(&dir, "flow"));
    assert_eq!(
        flows,
        [flow(1), flow(2), flow(3)]
            .iter()
            .map(expected)
            .collect::<Vec<_>>()
    );
    assert_eq!(lines(&files(&dir, "alert")), [expected(&alert(1))]);
}

/// A directory nobody may create files in. Without the privilege to ignore
/// permissions, mode 0500 does it; as root the directory is moved away and a
/// regular file put in its place (open files stay writable in both cases).
enum Unwritable {
    Chmod(PathBuf),
    Replaced { dir: PathBuf, moved: PathBuf },
}

impl Unwritable {
    fn make(dir: &Path) -> Self {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o500)).unwrap();
        let probe = dir.join("probe");
        if fs::File::create(&probe).is_err() {
            return Self::Chmod(dir.to_owned());
        }
        fs::remove_file(&probe).unwrap();
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).unwrap();
        let moved = dir.with_extension("moved");
        fs::rename(dir, &moved).unwrap();
        fs::write(dir, b"not a directory").unwrap();
        Self::Replaced {
            dir: dir.to_owned(),
            moved,
        }
    }

    /// Where a file of the directory is while it is unwritable.
    fn current_path(&self, path: &Path) -> PathBuf {
        match self {
            Self::Chmod(_) => path.to_owned(),
            Self::Replaced { moved, .. } => moved.join(path.file_name().unwrap()),
        }
    }

    fn restore(self) {
        use std::os::unix::fs::PermissionsExt;
        match self {
            Self::Chmod(dir) => {
                fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).unwrap()
            }
            Self::Replaced { dir, moved } => {
                fs::remove_file(&dir).unwrap();
                fs::rename(moved, dir).unwrap();
            }
        }
    }
}

#[tokio::test]
async fn a_partial_line_left_by_a_crash_is_cut_when_the_sink_starts() {
    let dir = tempfile::tempdir().unwrap();
    let config = || sonde_collector::sink::NdjsonConfig {
        dir: dir.path().to_path_buf(),
        max_file_size: 1 << 20,
        max_file_age: std::time::Duration::from_secs(3600),
        max_files: 10,
        keep_page_cache: false,
    };
    {
        let mut sink = sonde_collector::sink::NdjsonSink::new(config()).unwrap();
        let doc = sonde_collector::sink::Document::from_value(
            "a".into(),
            sonde_collector::sink::DocKind::Flow,
            1,
            serde_json::json!({"n": 1}),
        );
        use sonde_collector::sink::Sink as _;
        sink.deliver(&[doc]).await.unwrap();
    }
    // A crash in the middle of the next line.
    let file = std::fs::read_dir(dir.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap();
    std::io::Write::write_all(&mut f, b"{\"n\": 2, \"tor").unwrap();
    drop(f);
    let _sink = sonde_collector::sink::NdjsonSink::new(config()).unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.ends_with('\n'), "{text:?}");
    assert_eq!(text.lines().count(), 1);
    assert!(
        text.lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
    );
}

/// A real flow record (the Community ID of Zeek's http-get.pcap baseline)
/// as the probe `identity` reports it.
fn record(identity: &str, flow_id: u64, first_seen_us: u64) -> Document {
    let flow = sonde_proto::v1::Flow {
        interface: format!("{identity}-eth0"),
        ip_protocol: 6,
        client: Some(sonde_proto::v1::Endpoint {
            ip: vec![10, 1, 1, 1],
            port: 41000,
            mac: Vec::new(),
        }),
        server: Some(sonde_proto::v1::Endpoint {
            ip: vec![10, 1, 1, 2],
            port: 80,
            mac: Vec::new(),
        }),
        first_seen_us,
        last_seen_us: first_seen_us + 250_000,
        community_id: "1:LQU9qZlK+B5F3KDmev6m5PMibrg=".into(),
        flow_id,
        ..Default::default()
    };
    let enricher =
        sonde_collector::enrich::Enricher::open(&sonde_collector::enrich::EnrichConfig::default())
            .unwrap();
    sonde_collector::documents::flow(
        identity,
        &flow,
        &enricher,
        &sonde_collector::dedupe::DedupeSettings::default(),
    )
}

#[tokio::test]
async fn a_flow_from_two_probes_is_written_once_to_the_files() {
    use sonde_collector::dedupe::DedupeSettings;
    use sonde_collector::dedupe::memory::Deduped;
    let dir = tempfile::tempdir().unwrap();
    let mut sink = Deduped::new(
        NdjsonSink::new(config(dir.path())).unwrap(),
        DedupeSettings::default(),
    );
    let t = 1_795_600_830_000_000;
    let a = record("probe-a", 1, t);
    let b = record("probe-b", 77, t + 2_000);
    // Another flow of the same 5-tuple from probe-a 20 s later: kept.
    let later = record("probe-a", 2, t + 20_000_000);
    let got = sink.deliver(std::slice::from_ref(&a)).await.unwrap();
    assert_eq!(got, [Outcome::Accepted]);
    let got = sink
        .deliver(&[b.clone(), a.clone(), later.clone()])
        .await
        .unwrap();
    assert_eq!(
        got,
        [Outcome::Duplicate, Outcome::Duplicate, Outcome::Accepted]
    );
    let written = lines(&files(dir.path(), "flow"));
    assert_eq!(written.len(), 2, "{written:#?}");
    assert_eq!(written[0]["event"]["id"], a.id.as_str());
    assert_eq!(written[0]["observer"]["name"], "probe-a");
    assert_eq!(
        written[1]["sonde"]["flow"]["record_ids"][0], written[1]["event"]["id"],
        "the later flow is written under its own record id"
    );
    assert_eq!(sink.window().len(), 2);
}
