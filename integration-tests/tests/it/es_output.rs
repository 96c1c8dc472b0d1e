//! The collector's Elasticsearch output against the real test nodes: the
//! sink (templates, data streams and daily indices, 201/409/400, HTTPS with
//! basic auth, refusal on bad credentials, a newer sonde's templates kept)
//! and the whole collector through an outage and a `kill -9` (spooled,
//! acknowledged, drained, nothing lost, nothing doubled).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sonde_collector::sink::elasticsearch::{Auth, EsSettings, EsSink, Target};
use sonde_collector::sink::{DocKind, Document, Outcome, Sink, SinkError};
use sonde_common::config::SecretSource;
use sonde_integration_tests::{EsMode, EsNode, bin, testdata, unique_name};

use crate::transport::{Collector, Pki, free_port, http_get, probe_config_for, read_documents};

fn settings(node: &EsNode, flows: &str, alerts: &str, dir: &std::path::Path) -> EsSettings {
    let auth = match &node.credentials {
        Some((user, password)) => {
            let file = dir.join("es-password");
            std::fs::write(&file, password).unwrap();
            Auth::Basic {
                username: user.clone(),
                password: SecretSource::File(file).read().unwrap(),
            }
        }
        None => Auth::None,
    };
    EsSettings {
        urls: vec![node.url.clone()],
        ca: node.ca.clone(),
        auth,
        flows: Target::parse(flows).unwrap(),
        alerts: Target::parse(alerts).unwrap(),
        ilm_policy: None,
        batch_documents: 50,
        batch_bytes: 1 << 20,
        max_in_flight: 3,
        request_timeout: Duration::from_secs(30),
        compress: true,
        dedupe: Default::default(),
    }
}

async fn get(node: &EsNode, path: &str) -> (u16, Value) {
    let resp = node
        .auth(node.client().get(node.url(path)))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Documents in `index` (a name or pattern), after a refresh; 0 if missing.
async fn count(node: &EsNode, index: &str) -> u64 {
    let client = node.client();
    let _ = node
        .auth(client.post(node.url(&format!("/{index}/_refresh"))))
        .send()
        .await;
    let (status, body) = get(node, &format!("/{index}/_count")).await;
    if status == 404 {
        return 0;
    }
    assert_eq!(status, 200, "{body}");
    body["count"].as_u64().unwrap()
}

/// Real flow documents: `sonde-probe read` of a capture, with ids.
fn flow_documents(pcap: &str) -> Vec<Document> {
    read_documents(&testdata(pcap), "branch-es")
        .into_iter()
        .enumerate()
        .map(|(i, body)| {
            Document::from_value(
                format!("it-{i}"),
                DocKind::Flow,
                1_795_600_000_000_000,
                body,
            )
        })
        .collect()
}

fn names() -> (String, String) {
    (
        unique_name("logs-sondeit.conn"),
        unique_name("logs-sondeit.alert"),
    )
}

#[tokio::test]
async fn the_sink_installs_templates_and_indexes_a_data_stream_over_https() {
    let Some(node) = EsNode::get(EsMode::Https) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (flows, alerts) = names();
    let mut sink = EsSink::new(settings(&node, &flows, &alerts, dir.path())).unwrap();
    let docs = flow_documents("ndpi/pcap/dns_long_domainname.pcap");
    assert!(!docs.is_empty());

    let first = sink.deliver(&docs).await.unwrap();
    assert!(first.iter().all(|o| *o == Outcome::Accepted), "{first:?}");
    // The same documents again (a resend, a drained spool): duplicates.
    let again = sink.deliver(&docs).await.unwrap();
    assert!(again.iter().all(|o| *o == Outcome::Duplicate), "{again:?}");
    assert_eq!(count(&node, &flows).await, docs.len() as u64);

    // The data stream's backing index has sonde's explicit mappings.
    let (status, mapping) = get(&node, &format!("/{flows}/_mapping")).await;
    assert_eq!(status, 200, "{mapping}");
    let index = mapping.as_object().unwrap().values().next().unwrap();
    let props = &index["mappings"]["properties"];
    assert_eq!(props["source"]["properties"]["ip"]["type"], "ip");
    assert_eq!(props["@timestamp"]["type"], "date");
    assert_eq!(
        props["network"]["properties"]["community_id"]["type"],
        "keyword"
    );
    let backing = mapping.as_object().unwrap().keys().next().unwrap();
    assert!(
        backing.starts_with(".ds-"),
        "{backing} is not a data stream's index"
    );

    // The index template carries our version.
    let template = format!("/_index_template/sonde-conn-{flows}");
    let (status, body) = get(&node, &template).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["index_templates"][0]["index_template"]["_meta"]["sonde_version"],
        env!("CARGO_PKG_VERSION")
    );
}

#[tokio::test]
async fn a_document_elasticsearch_cannot_parse_is_rejected_with_its_reason() {
    let Some(node) = EsNode::get(EsMode::Http) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (flows, alerts) = names();
    let mut sink = EsSink::new(settings(&node, &flows, &alerts, dir.path())).unwrap();
    let mut docs = flow_documents("community-id/zeek/pcaps/http-get.pcap");
    let mut body = docs[0].body();
    body["source"]["ip"] = json!("not-an-ip");
    body["event"]["id"] = json!("it-bad");
    let bad = Document::from_value("it-bad".into(), DocKind::Flow, docs[0].timestamp_us, body);
    docs.push(bad);
    let outcomes = sink.deliver(&docs).await.unwrap();
    let (last, rest) = outcomes.split_last().unwrap();
    assert!(rest.iter().all(|o| *o == Outcome::Accepted), "{rest:?}");
    match last {
        Outcome::Rejected { reason } => {
            assert!(reason.starts_with("400: "), "{reason}");
            assert!(reason.contains("source.ip"), "{reason}");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert_eq!(count(&node, &flows).await, docs.len() as u64 - 1);
}

#[tokio::test]
async fn daily_indices_are_named_from_the_document_time() {
    let Some(node) = EsNode::get(EsMode::Http) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let prefix = unique_name("sondeit-daily");
    let (_, alerts) = names();
    let mut sink = EsSink::new(settings(
        &node,
        &format!("{prefix}-%Y.%m.%d"),
        &alerts,
        dir.path(),
    ))
    .unwrap();
    let mut docs = flow_documents("community-id/zeek/pcaps/http-get.pcap");
    docs.truncate(1);
    // 2026-11-25T12:00:00Z
    docs[0].timestamp_us = 1_795_608_000_000_000;
    let outcomes = sink.deliver(&docs).await.unwrap();
    assert_eq!(outcomes, [Outcome::Accepted]);
    assert_eq!(count(&node, &format!("{prefix}-2026.11.25")).await, 1);
    let (status, mapping) = get(&node, &format!("/{prefix}-2026.11.25/_mapping")).await;
    assert_eq!(status, 200);
    assert_eq!(
        mapping[format!("{prefix}-2026.11.25")]["mappings"]["properties"]["source"]["properties"]["ip"]
            ["type"],
        "ip"
    );
}

#[tokio::test]
async fn a_template_installed_by_a_newer_sonde_is_left_alone() {
    let Some(node) = EsNode::get(EsMode::Http) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (flows, alerts) = names();
    let path = format!("/_index_template/sonde-conn-{flows}");
    let newer = json!({
        "index_patterns": [flows],
        "data_stream": {},
        "priority": 500,
        "template": {"mappings": {"properties": {"@timestamp": {"type": "date"}}}},
        "_meta": {"managed_by": "sonde", "sonde_version": "99.0.0"}
    });
    let resp = node
        .auth(node.client().put(node.url(&path)).json(&newer))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let mut sink = EsSink::new(settings(&node, &flows, &alerts, dir.path())).unwrap();
    sink.prepare().await.unwrap();
    let (_, body) = get(&node, &path).await;
    assert_eq!(
        body["index_templates"][0]["index_template"]["_meta"]["sonde_version"],
        "99.0.0"
    );
    // The alert template, which nobody newer owns, is ours.
    let (status, _) = get(&node, &format!("/_index_template/sonde-alert-{alerts}")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn wrong_credentials_stop_writing_with_what_to_fix() {
    let Some(mut node) = EsNode::get(EsMode::Https) else {
        return;
    };
    if let Some((_, password)) = &mut node.credentials {
        password.push_str("-wrong");
    }
    let dir = tempfile::tempdir().unwrap();
    let (flows, alerts) = names();
    let mut sink = EsSink::new(settings(&node, &flows, &alerts, dir.path())).unwrap();
    let docs = flow_documents("community-id/zeek/pcaps/http-get.pcap");
    match sink.deliver(&docs).await {
        Err(SinkError::Refused(what)) => {
            assert!(what.contains("401"), "{what}");
            assert!(what.contains("username/password"), "{what}");
            assert!(!what.contains("-wrong"), "the password leaked: {what}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// A TCP proxy to a real node that can be switched off (connections are
/// closed at once, like a node that is down) and on.
struct Proxy {
    addr: String,
    up: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    fn to(upstream: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let up = Arc::new(AtomicBool::new(true));
        let stop = Arc::new(AtomicBool::new(false));
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let (up2, stop2) = (Arc::clone(&up), Arc::clone(&stop));
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = conn else { continue };
                if !up2.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                pump(&client, &server);
                pump(&server, &client);
            }
        });
        Proxy { addr, up, stop }
    }

    fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
    }
}

fn pump(from: &TcpStream, to: &TcpStream) {
    let (mut from, mut to) = (from.try_clone().unwrap(), to.try_clone().unwrap());
    std::thread::spawn(move || {
        let mut buf = [0u8; 16384];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 || to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(std::net::Shutdown::Write);
    });
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.addr);
    }
}

/// A value of the collector's Prometheus metrics (0 when absent).
fn metric(addr: &str, name: &str) -> f64 {
    let (_, body) = http_get(addr, "/metrics");
    body.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0.0)
}

#[test]
fn an_outage_is_spooled_acknowledged_survives_kill_9_and_drains_without_loss() {
    let Some(node) = EsNode::get(EsMode::Http) else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let pki = Pki::new(&["branch-es"]);
    let proxy = Proxy::to(&node.url);
    let (flows, alerts) = names();
    let metrics = free_port();
    let output = format!(
        "[elasticsearch]\nurls = [\"http://{}\"]\nflow_target = {flows:?}\nalert_target = {alerts:?}\nbatch_delay = \"50ms\"\nrequest_timeout = \"5s\"\n[metrics]\nlisten = {metrics:?}\n",
        proxy.addr
    );
    let pcap = testdata("ndpi/pcap/synscan.pcap");
    let expected = read_documents(&pcap, "branch-es").len();
    assert!(expected > 100, "{expected}");

    // Elasticsearch is down: the collector spools and still acknowledges.
    proxy.set_up(false);
    let addr = free_port();
    let mut first = Collector::start_with(&pki, &addr, &output);
    let config = probe_config_for(&pki, &addr, "branch-es", "30s", "16KiB");
    let out = std::process::Command::new(bin("sonde-probe"))
        .args(["run", "--config"])
        .arg(&config)
        .arg("--replay")
        .arg(&pcap)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(" 0 unacknowledged, 0 rejected, 0 flows and 0 alerts shed"),
        "the probe did not get every record acknowledged: {stderr}"
    );
    assert_eq!(runtime.block_on(count(&node, &flows)), 0);
    assert_eq!(runtime.block_on(count(&node, &alerts)), 0);
    // The gauge is published just after the last answer: give it a moment.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut spooled = metric(&metrics, "sonde_collector_spool_records");
    while (spooled as usize) < expected && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        spooled = metric(&metrics, "sonde_collector_spool_records");
    }
    assert_eq!(spooled as usize, expected, "spooled records");

    // kill -9 while everything is only in the spool.
    let _ = first.child.kill();
    let _ = first.child.wait();
    first.stop();

    // Elasticsearch is back; a new collector on the same spool drains it.
    proxy.set_up(true);
    let second = Collector::start_with(&pki, &addr, &output);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut indexed = 0;
    while Instant::now() < deadline {
        // Flows and the alerts the probe raised on them.
        indexed = runtime.block_on(count(&node, &flows)) + runtime.block_on(count(&node, &alerts));
        if indexed as usize >= expected {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(
        indexed as usize, expected,
        "every acknowledged record, once"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric(&metrics, "sonde_collector_spool_records") > 0.0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(metric(&metrics, "sonde_collector_spool_records"), 0.0);
    drop(second);
}

#[test]
fn collector_check_reaches_elasticsearch_with_its_credentials() {
    let Some(node) = EsNode::get(EsMode::Https) else {
        return;
    };
    let pki = Pki::new(&[]);
    let (user, password) = node.credentials.clone().unwrap();
    let check = |password: &str| {
        std::fs::write(pki.path("es-password"), password).unwrap();
        let config = format!(
            "[server]\nlisten = {:?}\n[server.tls]\nca = {:?}\ncert = {:?}\nkey = {:?}\n[spool]\ndir = {:?}\n[elasticsearch]\nurls = [{:?}]\nca = {:?}\nusername = {user:?}\npassword = {{ file = {:?} }}\n",
            free_port(),
            pki.path("ca.pem"),
            pki.path("collector.pem"),
            pki.path("collector.key"),
            pki.path("spool"),
            node.url,
            node.ca.clone().unwrap(),
            pki.path("es-password"),
        );
        let path = pki.path("check.toml");
        std::fs::write(&path, config).unwrap();
        let out = std::process::Command::new(bin("sonde-collector"))
            .args(["check", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, stdout) = check(&password);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("ok     Elasticsearch 8."), "{stdout}");
    assert!(stdout.contains("accepts our credentials"), "{stdout}");
    let (code, stdout) = check("not-the-password");
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("FAILED Elasticsearch"), "{stdout}");
    assert!(
        stdout.contains("401") && stdout.contains("username/password"),
        "{stdout}"
    );
}

#[test]
fn alerts_reach_their_own_data_stream_as_security_onion_alerts() {
    use sonde_probe::export::{self, ExportSettings};
    use sonde_proto::v1;

    let Some(node) = EsNode::get(EsMode::Http) else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let pki = Pki::new(&["branch-alert"]);
    let (flows, alerts) = names();
    let output = format!(
        "[elasticsearch]\nurls = [{:?}]\nflow_target = {flows:?}\nalert_target = {alerts:?}\nbatch_delay = \"10ms\"\n",
        node.url
    );
    let collector = Collector::start_with(&pki, "127.0.0.1:0", &output);
    let files = sonde_common::tls::TlsFiles {
        ca: pki.path("ca.pem"),
        cert: pki.path("branch-alert.pem"),
        key: pki.path("branch-alert.key"),
    };
    let settings = ExportSettings {
        endpoint: collector.addr.clone(),
        server_name: "collector.test".into(),
        tls: Arc::new(sonde_common::tls::Reloading::client(files).unwrap()),
        observer: "branch-alert".into(),
        max_records: 100,
        max_bytes: 1 << 20,
        batch_bytes: 1 << 20,
        batch_delay: Duration::from_millis(10),
        shutdown_deadline: Duration::from_secs(10),
        interfaces: vec![],
        connected: Default::default(),
    };
    let alert = v1::Alert {
        rule_key: "syn_flood".into(),
        rule_name: "SYN Flood".into(),
        rule_category: "network".into(),
        severity: 4,
        score: 250,
        source: 1,
        entity: 2,
        entity_value: "192.0.2.7".into(),
        lifecycle: 2,
        first_seen_us: 1_795_600_000_000_000,
        last_seen_us: 1_795_600_060_000_000,
        count: 12_000,
        incident_id: "inc-1".into(),
        attacker_ip: vec![203, 0, 113, 9],
        victim_ip: vec![192, 0, 2, 7],
        message: "SYN flood against 192.0.2.7".into(),
        ..Default::default()
    };
    let summary = runtime.block_on(async {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tx.send(v1::Record {
            kind: Some(v1::record::Kind::Alert(Box::new(alert))),
        })
        .await
        .unwrap();
        drop(tx);
        export::run(settings, rx).await
    });
    assert_eq!(summary.unacknowledged, 0, "{summary:?}");
    assert_eq!(summary.rejected, 0, "{summary:?}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while runtime.block_on(count(&node, &alerts)) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, found) = runtime.block_on(get(&node, &format!("/{alerts}/_search")));
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["hits"]["total"]["value"], 1, "{found}");
    let doc = &found["hits"]["hits"][0]["_source"];
    assert_eq!(doc["event"]["kind"], "alert");
    assert_eq!(doc["tags"], json!(["alert"]));
    assert_eq!(doc["rule"]["name"], "SYN Flood");
    assert_eq!(doc["event"]["severity"], 4);
    assert_eq!(doc["event"]["severity_label"], "critical");
    assert_eq!(doc["source"]["ip"], "203.0.113.9");
    assert_eq!(doc["observer"]["name"], "branch-alert");
    // Searchable by its typed fields in the alert mapping.
    let query = json!({"query": {"bool": {"filter": [
        {"term": {"tags": "alert"}},
        {"term": {"source.ip": "203.0.113.0/24"}},
        {"range": {"event.severity": {"gte": 3}}}
    ]}}});
    let hits: Value = runtime.block_on(async {
        let url = node.url(&format!("/{alerts}/_search"));
        let resp = node.auth(node.client().post(url).json(&query)).send().await;
        resp.unwrap().json().await.unwrap()
    });
    assert_eq!(hits["hits"]["total"]["value"], 1, "{hits}");
    assert_eq!(runtime.block_on(count(&node, &flows)), 0);
}
