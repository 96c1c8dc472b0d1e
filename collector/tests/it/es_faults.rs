//! Fault cases a real Elasticsearch node cannot produce on demand, against a
//! scripted HTTP server that speaks just enough of its API: 429 storms and
//! mixed item errors (only the failed items are retried; 400s become dead
//! letters), 413 (the request is split until it fits), API keys (the
//! header), a node that is not 8.x. The real node is tested in
//! integration-tests/tests/it/es_output.rs; this never replaces it.

use std::collections::{BTreeSet, HashMap};
use std::io::Read as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use sonde_collector::output::{self, OutputSettings};
use sonde_collector::sink::elasticsearch::{Auth, EsSettings, EsSink, Target};
use sonde_collector::sink::{DocKind, Document, Outcome, Sink, SinkError};
use sonde_collector::spool::{FullPolicy, Spool};
use sonde_common::config::SecretSource;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// One request as the fake saw it.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    authorization: Option<String>,
    /// `_bulk`: the `_id` of each document, in order.
    ids: Vec<String>,
}

/// Decides the answer to a `_bulk` request from its document ids and the
/// number of the request (0-based): per-document status, or a whole-request status.
type Script = dyn Fn(usize, &[String]) -> Result<Vec<u16>, u16> + Send + Sync;

#[derive(Default)]
struct State {
    seen: Vec<Seen>,
    bulks: usize,
    /// Ids created, with how many times a create succeeded (must stay 1).
    created: HashMap<String, u32>,
}

struct FakeEs {
    url: String,
    state: Arc<Mutex<State>>,
}

impl FakeEs {
    async fn start(
        version: &'static str,
        api_key: Option<&'static str>,
        script: Box<Script>,
    ) -> FakeEs {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let script: Arc<Script> = Arc::from(script);
        let shared = Arc::clone(&state);
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let (state, script) = (Arc::clone(&shared), Arc::clone(&script));
                tokio::spawn(async move {
                    while let Some((head, body)) = read_request(&mut conn).await {
                        let (status, reply) =
                            answer(&head, &body, version, api_key, &state, &*script);
                        let text = reply.to_string();
                        let response = format!(
                            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{text}",
                            text.len()
                        );
                        if conn.write_all(response.as_bytes()).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        FakeEs { url, state }
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    fn bulk_sizes(&self) -> Vec<usize> {
        self.seen()
            .iter()
            .filter(|s| s.path.starts_with("/_bulk"))
            .map(|s| s.ids.len())
            .collect()
    }

    fn created(&self) -> HashMap<String, u32> {
        self.state.lock().unwrap().created.clone()
    }
}

/// Headers (lowercased names) and the body, gunzipped; None at EOF.
async fn read_request(conn: &mut tokio::net::TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if conn.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8(buf).ok()?;
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    };
    let length: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    conn.read_exact(&mut body).await.ok()?;
    if header("content-encoding").as_deref() == Some("gzip") {
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut plain)
            .ok()?;
        body = plain;
    }
    Some((head, body))
}

fn answer(
    head: &str,
    body: &[u8],
    version: &str,
    api_key: Option<&str>,
    state: &Mutex<State>,
    script: &Script,
) -> (u16, Value) {
    let mut request_line = head.lines().next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_owned();
    let path = request_line.next().unwrap_or_default().to_owned();
    let authorization = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("authorization")
            .then(|| v.trim().to_owned())
    });
    let mut seen = Seen {
        method: method.clone(),
        path: path.clone(),
        authorization: authorization.clone(),
        ids: Vec::new(),
    };
    let mut state = state.lock().unwrap();
    if let Some(key) = api_key
        && authorization.as_deref() != Some(&format!("ApiKey {key}"))
    {
        state.seen.push(seen);
        return (
            401,
            json!({"error": {"type": "security_exception", "reason": "missing authentication credentials"}}),
        );
    }
    let reply = if path.starts_with("/_nodes/_local") {
        (200, json!({"nodes": {"n1": {"version": version}}}))
    } else if path.starts_with("/_index_template/") || path.starts_with("/_component_template/") {
        if method == "GET" {
            (
                404,
                json!({"error": {"type": "resource_not_found_exception"}}),
            )
        } else {
            (200, json!({"acknowledged": true}))
        }
    } else if path.starts_with("/_bulk") {
        let text = String::from_utf8_lossy(body);
        seen.ids = text
            .lines()
            .step_by(2)
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter_map(|a| a["create"]["_id"].as_str().map(str::to_owned))
            .collect();
        let n = state.bulks;
        state.bulks += 1;
        match script(n, &seen.ids) {
            Err(status) => (
                status,
                json!({"error": {"type": "scripted", "reason": format!("status {status}")}}),
            ),
            Ok(statuses) => {
                let mut items = Vec::new();
                for (id, mut status) in seen.ids.iter().zip(statuses) {
                    if status == 201 {
                        let times = state.created.entry(id.clone()).or_insert(0);
                        if *times > 0 {
                            status = 409;
                        } else {
                            *times += 1;
                        }
                    }
                    let mut item = json!({"_id": id, "status": status});
                    if status >= 400 {
                        item["error"] = json!({"type": "scripted_exception", "reason": format!("scripted {status}")});
                    }
                    items.push(json!({"create": item}));
                }
                (200, json!({"errors": true, "items": items}))
            }
        }
    } else {
        (404, json!({"error": "no such path"}))
    };
    state.seen.push(seen);
    reply
}

fn settings(url: &str, auth: Auth) -> EsSettings {
    EsSettings {
        urls: vec![url.to_owned()],
        ca: None,
        auth,
        flows: Target::parse("logs-sonde.conn-so").unwrap(),
        alerts: Target::parse("logs-sonde.alert-so").unwrap(),
        ilm_policy: None,
        batch_documents: 100,
        batch_bytes: 1 << 20,
        max_in_flight: 2,
        request_timeout: Duration::from_secs(10),
        compress: true,
        dedupe: Default::default(),
    }
}

fn docs(n: u32) -> Vec<Document> {
    (0..n)
        .map(|i| {
            Document::from_value(
                format!("doc-{i}"),
                DocKind::Flow,
                1_795_600_000_000_000,
                json!({"n": i}),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_storm_and_mixed_item_errors_retry_only_the_failed_items() {
    // Requests 0-2: doc-0 is a 400, odd documents are 429 / 503; then all 201.
    let es = FakeEs::start(
        "8.19.21",
        None,
        Box::new(|n, ids| {
            Ok(ids
                .iter()
                .map(|id| {
                    let i: u32 = id.trim_start_matches("doc-").parse().unwrap();
                    match (n, i) {
                        (_, 0) => 400,
                        (0..=2, i) if i % 2 == 1 => {
                            if i % 4 == 1 {
                                429
                            } else {
                                503
                            }
                        }
                        _ => 201,
                    }
                })
                .collect())
        }),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (spool, _) =
        Spool::open(&dir.path().join("spool"), 1 << 30, FullPolicy::Backpressure).unwrap();
    let sink = EsSink::new(settings(&es.url, Auth::None)).unwrap();
    let (handle, task) = output::spawn(
        sink,
        spool,
        OutputSettings {
            batch_documents: 100,
            drain_documents: 100,
            batch_delay: Duration::ZERO,
            slow_output: Duration::from_secs(10),
        },
    );
    let answer = handle.deliver(docs(20)).await.unwrap();
    assert!(
        matches!(answer[0], Outcome::Rejected { .. }),
        "{:?}",
        answer[0]
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while es.created().len() < 19 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let created = es.created();
    assert_eq!(created.len(), 19, "{created:?}");
    assert!(
        created.values().all(|&n| n == 1),
        "a document was created twice"
    );
    // First request: all 20; every later one: only the 10 odd documents.
    let sizes = es.bulk_sizes();
    assert_eq!(sizes[0], 20, "{sizes:?}");
    assert!(sizes[1..].iter().all(|&s| s == 10), "{sizes:?}");
    let retried: BTreeSet<String> = es
        .seen()
        .iter()
        .filter(|s| s.path.starts_with("/_bulk"))
        .skip(1)
        .flat_map(|s| s.ids.clone())
        .collect();
    assert!(retried.iter().all(|id| {
        let i: u32 = id.trim_start_matches("doc-").parse().unwrap();
        i % 2 == 1
    }));
    drop(handle);
    task.await.unwrap();
    let (spool, _) =
        Spool::open(&dir.path().join("spool"), 1 << 30, FullPolicy::Backpressure).unwrap();
    assert!(spool.is_empty());
    let dead = spool.dead_letters().unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].doc.id, "doc-0");
    assert!(
        dead[0].reason.contains("scripted 400"),
        "{}",
        dead[0].reason
    );
}

#[tokio::test]
async fn a_413_splits_the_request_until_it_fits() {
    // More than 3 documents in one request is too large; doc-7 alone is too.
    let es = FakeEs::start(
        "8.19.21",
        None,
        Box::new(|_, ids| {
            if ids.len() > 3 || ids.iter().any(|i| i == "doc-7") {
                Err(413)
            } else {
                Ok(vec![201; ids.len()])
            }
        }),
    )
    .await;
    let mut sink = EsSink::new(settings(&es.url, Auth::None)).unwrap();
    let outcomes = sink.deliver(&docs(10)).await.unwrap();
    for (i, o) in outcomes.iter().enumerate() {
        if i == 7 {
            assert!(
                matches!(o, Outcome::Rejected { reason } if reason.starts_with("413")),
                "{o:?}"
            );
        } else {
            assert_eq!(*o, Outcome::Accepted, "doc-{i}");
        }
    }
    assert_eq!(es.created().len(), 9);
    let sizes = es.bulk_sizes();
    assert_eq!(sizes[0], 10, "{sizes:?}");
}

#[tokio::test]
async fn an_api_key_goes_in_the_authorization_header() {
    let es = FakeEs::start(
        "8.19.21",
        Some("aWQ6a2V5"),
        Box::new(|_, ids| Ok(vec![201; ids.len()])),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("key");
    std::fs::write(&file, "aWQ6a2V5\n").unwrap();
    let key = SecretSource::File(file).read().unwrap();
    let mut sink = EsSink::new(settings(&es.url, Auth::ApiKey(key))).unwrap();
    let outcomes = sink.deliver(&docs(3)).await.unwrap();
    assert_eq!(outcomes, vec![Outcome::Accepted; 3]);
    assert!(
        es.seen()
            .iter()
            .all(|s| s.authorization.as_deref() == Some("ApiKey aWQ6a2V5")),
        "{:?}",
        es.seen()
    );
    // Without the key: refused, with what to fix.
    let mut anonymous = EsSink::new(settings(&es.url, Auth::None)).unwrap();
    match anonymous.deliver(&docs(1)).await {
        Err(SinkError::Refused(what)) => {
            assert!(what.contains("401") && what.contains("api_key"), "{what}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_node_that_is_not_8x_is_refused_before_anything_is_written() {
    let es = FakeEs::start("7.17.20", None, Box::new(|_, ids| Ok(vec![201; ids.len()]))).await;
    let mut sink = EsSink::new(settings(&es.url, Auth::None)).unwrap();
    match sink.deliver(&docs(2)).await {
        Err(SinkError::Refused(what)) => {
            assert!(what.contains("7.17.20") && what.contains("8.x"), "{what}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(es.bulk_sizes().is_empty());
    assert!(es.seen().iter().all(|s| s.method == "GET"));
}

#[tokio::test]
async fn a_storm_of_whole_request_429s_is_retried_not_dropped() {
    let es = FakeEs::start(
        "8.19.21",
        None,
        Box::new(|n, ids| {
            if n < 3 {
                Err(429)
            } else {
                Ok(vec![201; ids.len()])
            }
        }),
    )
    .await;
    let mut sink = EsSink::new(settings(&es.url, Auth::None)).unwrap();
    for _ in 0..3 {
        let outcomes = sink.deliver(&docs(4)).await.unwrap();
        assert!(
            outcomes
                .iter()
                .all(|o| matches!(o, Outcome::Retry { reason } if reason.starts_with("429")))
        );
    }
    let outcomes = sink.deliver(&docs(4)).await.unwrap();
    assert_eq!(outcomes, vec![Outcome::Accepted; 4]);
}
