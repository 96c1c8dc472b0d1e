//! The real Elasticsearch 8 test nodes, in both modes, answer what sonde's
//! sink will rely on: version from `/_nodes/_local`, `_bulk` with `create` and
//! a deterministic `_id` (a replay is a 409), search, and data streams from a
//! composable template; and the HTTPS node refuses requests without credentials.

use serde_json::{Value, json};
use sonde_integration_tests::{EsMode, EsNode, unique_name};

async fn send(node: &EsNode, req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = node
        .auth(req)
        .send()
        .await
        .expect("request to Elasticsearch");
    let status = resp.status().as_u16();
    let body = resp.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

fn ndjson(lines: &[Value]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

async fn index_and_search(node: &EsNode) {
    let client = node.client();

    // Version: the test distribution has no `GET /`; /_nodes/_local has it.
    let (status, nodes) = send(node, client.get(node.url("/_nodes/_local"))).await;
    assert_eq!(status, 200, "{nodes}");
    let version = nodes["nodes"].as_object().unwrap().values().next().unwrap()["version"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(version.starts_with("8."), "{version}");

    // Explicit mappings, as sonde's templates will have: keyword and ip.
    let index = unique_name("sonde-it");
    let mappings = json!({"mappings": {"properties": {
        "@timestamp": {"type": "date"},
        "network": {"properties": {"community_id": {"type": "keyword"}}},
        "source": {"properties": {"ip": {"type": "ip"}}}
    }}});
    let (status, resp) = send(
        node,
        client.put(node.url(&format!("/{index}"))).json(&mappings),
    )
    .await;
    assert_eq!(status, 200, "{resp}");
    let body = ndjson(&[
        json!({"create": {"_index": index, "_id": "flow-1"}}),
        json!({"@timestamp": "2026-11-25T10:00:00Z", "network": {"community_id": "1:wCb3OG7yAFWelaUydu0D+125CLM="}, "source": {"ip": "1.2.3.4"}}),
        json!({"create": {"_index": index, "_id": "flow-2"}}),
        json!({"@timestamp": "2026-11-25T10:00:01Z", "network": {"community_id": "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg="}, "source": {"ip": "5.6.7.8"}}),
    ]);
    let bulk = |body: String| {
        client
            .post(node.url("/_bulk?refresh=true"))
            .header("content-type", "application/x-ndjson")
            .body(body)
    };
    let (status, resp) = send(node, bulk(body.clone())).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["errors"], false, "{resp}");
    let statuses: Vec<_> = resp["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["create"]["status"].as_u64())
        .collect();
    assert_eq!(statuses, [Some(201), Some(201)]);

    // The same documents again: each item is a 409, which sonde counts as delivered.
    let (_, replay) = send(node, bulk(body)).await;
    assert_eq!(replay["errors"], true);
    let statuses: Vec<_> = replay["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["create"]["status"].as_u64())
        .collect();
    assert_eq!(statuses, [Some(409), Some(409)]);

    let query =
        json!({"query": {"term": {"network.community_id": "1:wCb3OG7yAFWelaUydu0D+125CLM="}}});
    let (status, found) = send(
        node,
        client
            .post(node.url(&format!("/{index}/_search")))
            .json(&query),
    )
    .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["hits"]["total"]["value"], 1, "{found}");
    assert_eq!(found["hits"]["hits"][0]["_id"], "flow-1");
    assert_eq!(
        found["hits"]["hits"][0]["_source"]["source"]["ip"],
        "1.2.3.4"
    );

    let (status, _) = send(node, client.delete(node.url(&format!("/{index}")))).await;
    assert_eq!(status, 200);
}

async fn data_stream_from_composable_template(node: &EsNode) {
    let client = node.client();
    let name = unique_name("logs-sondeit.conn");
    let template = unique_name("sonde-it-template");
    let body = json!({
        "index_patterns": [format!("{name}*")],
        "data_stream": {},
        "priority": 500,
        "template": {"mappings": {"properties": {
            "@timestamp": {"type": "date"},
            "source": {"properties": {"ip": {"type": "ip"}}}
        }}}
    });
    let (status, resp) = send(
        node,
        client
            .put(node.url(&format!("/_index_template/{template}")))
            .json(&body),
    )
    .await;
    assert_eq!(status, 200, "{resp}");

    let bulk = ndjson(&[
        json!({"create": {"_index": name}}),
        json!({"@timestamp": "2026-11-25T10:00:00Z", "source": {"ip": "10.1.2.3"}}),
    ]);
    let (status, resp) = send(
        node,
        client
            .post(node.url("/_bulk?refresh=true"))
            .header("content-type", "application/x-ndjson")
            .body(bulk),
    )
    .await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["items"][0]["create"]["status"], 201, "{resp}");
    let backing = resp["items"][0]["create"]["_index"].as_str().unwrap();
    assert!(
        backing.starts_with(".ds-"),
        "a data stream's backing index: {backing}"
    );

    // The ip mapping applies: a CIDR query finds the document.
    let query = json!({"query": {"term": {"source.ip": "10.0.0.0/8"}}});
    let (status, found) = send(
        node,
        client
            .post(node.url(&format!("/{name}/_search")))
            .json(&query),
    )
    .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["hits"]["total"]["value"], 1, "{found}");

    // Clean up with DELETE /_data_stream when the distribution has it; the
    // integ-test zip lacks that API, so fall back to deleting backing indices.
    let (status, _) = send(
        node,
        client.delete(node.url(&format!("/_data_stream/{name}"))),
    )
    .await;
    if status != 200 {
        let _ = send(node, client.delete(node.url(&format!("/{backing}")))).await;
    }
    let _ = send(
        node,
        client.delete(node.url(&format!("/_index_template/{template}"))),
    )
    .await;
}

#[tokio::test]
async fn plain_http_node_indexes_and_searches() {
    let Some(node) = EsNode::get(EsMode::Http) else {
        return;
    };
    assert!(node.url.starts_with("http://"));
    index_and_search(&node).await;
}

#[tokio::test]
async fn https_node_with_basic_auth_indexes_and_searches() {
    let Some(node) = EsNode::get(EsMode::Https) else {
        return;
    };
    assert!(node.url.starts_with("https://"));
    index_and_search(&node).await;
}

#[tokio::test]
async fn https_node_refuses_requests_without_credentials() {
    let Some(node) = EsNode::get(EsMode::Https) else {
        return;
    };
    let resp = node
        .client()
        .get(node.url("/_cluster/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let wrong = EsNode {
        credentials: Some(("sonde_test".into(), "wrong password".into())),
        ..node.clone()
    };
    let resp = wrong
        .auth(wrong.client().get(wrong.url("/_cluster/health")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
}

#[tokio::test]
async fn https_node_is_not_trusted_without_its_ca() {
    let Some(node) = EsNode::get(EsMode::Https) else {
        return;
    };
    let untrusting = EsNode {
        ca: None,
        ..node.clone()
    };
    let err = untrusting
        .auth(untrusting.client().get(node.url("/_cluster/health")))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect() || err.is_request(), "{err}");
}

#[tokio::test]
async fn composable_template_creates_a_data_stream_on_first_create() {
    for mode in [EsMode::Http, EsMode::Https] {
        let Some(node) = EsNode::get(mode) else {
            continue;
        };
        data_stream_from_composable_template(&node).await;
    }
}
