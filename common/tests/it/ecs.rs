//! ECS flow documents against the ECS 8.17 field definitions in
//! `testdata/ecs` (every field exists, with a compatible JSON type), exact
//! values for a TLS flow, and garbage records that must map without panicking.

mod fixtures;

use std::collections::BTreeMap;

use serde_json::{Value, json};
use sonde_common::ecs::{Observer, flow_document};
use sonde_proto::v1::{Flow, L7};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::testdata;
use fixtures::{
    dns_flow, garbage_flow, icmp_flow, interim_ssh_flow, ipv6_http_flow, observer, realistic,
    tls_flow,
};

/// Fields SO 2.4 uses outside ECS: its zeek.conn pipeline's `connection.*`.
const SO_FIELDS: [&str; 3] = [
    "connection.state",
    "connection.state_description",
    "connection.history",
];

/// SO's alert field outside ECS (its Alerts page groups by it).
const SO_ALERT_FIELDS: [&str; 1] = ["event.severity_label"];

/// ECS field name -> type, from `ecs_flat.yml`: keys start at column 0, and
/// each definition has a `  type:` line.
fn ecs_fields() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(testdata("ecs/generated/ecs/ecs_flat.yml")).unwrap();
    let mut fields = BTreeMap::new();
    let mut current = None;
    for line in text.lines() {
        if let Some(key) = line.strip_suffix(':').filter(|_| !line.starts_with(' ')) {
            current = Some(key.trim_matches('\'').to_owned());
        } else if let (Some(key), Some(ty)) = (&current, line.strip_prefix("  type: ")) {
            fields.insert(key.clone(), ty.trim().to_owned());
        }
    }
    assert!(
        fields.len() > 1500,
        "parsed only {} ECS fields",
        fields.len()
    );
    fields
}

/// Dotted paths of the leaves; an array of objects is one leaf at its parent path.
fn flatten(value: &Value) -> Vec<(String, &Value)> {
    fn walk<'a>(prefix: &str, value: &'a Value, out: &mut Vec<(String, &'a Value)>) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    let path = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    walk(&path, child, out);
                }
            }
            _ => out.push((prefix.to_owned(), value)),
        }
    }
    let mut out = Vec::new();
    walk("", value, &mut out);
    out
}

#[test]
fn every_field_is_defined_in_ecs_or_is_a_sonde_or_so_field() {
    let ecs = ecs_fields();
    for (name, doc) in realistic() {
        let fields = flatten(&doc);
        assert!(fields.len() > 25, "{name}: only {} fields", fields.len());
        for (path, _) in fields {
            assert!(
                ecs.contains_key(&path)
                    || path.starts_with("sonde.")
                    || SO_FIELDS.contains(&path.as_str()),
                "{name}: {path} is neither ECS 8.17 nor sonde.*"
            );
        }
    }
}

#[test]
fn field_types_agree_with_ecs() {
    let ecs = ecs_fields();
    for (name, doc) in realistic() {
        for (path, value) in flatten(&doc) {
            let Some(ty) = ecs.get(&path) else { continue };
            // Elasticsearch takes an array wherever it takes a value.
            let items = match value {
                Value::Array(items) => items.iter().collect(),
                one => vec![one],
            };
            for item in items {
                let ok = match ty.as_str() {
                    "long" | "float" | "scaled_float" => item.is_number(),
                    "boolean" => item.is_boolean(),
                    "nested" | "object" | "flattened" => item.is_object(),
                    _ => item.is_string(),
                };
                assert!(ok, "{name}: {path} is {ty} in ECS but {item}");
            }
        }
        for side in ["source", "destination", "client", "server"] {
            for field in ["bytes", "packets"] {
                assert!(doc[side][field].is_u64(), "{name}: {side}.{field}");
            }
            if name != "icmp" {
                assert!(doc[side]["port"].is_u64(), "{name}: {side}.port");
            }
        }
        assert!(doc["network"]["iana_number"].is_string(), "{name}");
        let stamp = doc["@timestamp"].as_str().unwrap();
        OffsetDateTime::parse(stamp, &Rfc3339).unwrap();
        for date in ["start", "end"] {
            OffsetDateTime::parse(doc["event"][date].as_str().unwrap(), &Rfc3339).unwrap();
        }
    }
    let tls = flow_document(&tls_flow(), &observer());
    assert_eq!(tls["network"]["vlan"]["id"], "100");
}

#[test]
fn no_field_is_empty_or_null() {
    let mut docs = realistic();
    docs.push(("garbage", flow_document(&garbage_flow(), &observer())));
    docs.push(("default", flow_document(&Flow::default(), &observer())));
    for (name, doc) in docs {
        for (path, value) in flatten(&doc) {
            let empty = match value {
                Value::Null => true,
                Value::String(s) => s.trim().is_empty(),
                Value::Array(items) => items.is_empty(),
                Value::Object(map) => map.is_empty(),
                _ => false,
            };
            assert!(!empty, "{name}: {path} is {value}");
        }
    }
}

#[test]
fn tls_flow_document_has_the_expected_values() {
    let doc = flow_document(&tls_flow(), &observer());
    let expect = [
        ("/@timestamp", json!("2026-11-25T10:00:02.123456Z")),
        ("/event/start", json!("2026-11-25T10:00:00.000000Z")),
        ("/event/duration", json!(2_123_456_000u64)),
        ("/event/type", json!(["connection", "end"])),
        ("/event/dataset", json!("sonde.conn")),
        ("/source/ip", json!("192.168.1.10")),
        ("/client/ip", json!("192.168.1.10")),
        ("/destination/port", json!(443)),
        ("/source/mac", json!("00-11-22-AA-BB-CC")),
        ("/source/bytes", json!(1800)),
        ("/server/packets", json!(10)),
        ("/network/transport", json!("tcp")),
        ("/network/iana_number", json!("6")),
        ("/network/type", json!("ipv4")),
        ("/network/bytes", json!(8200)),
        ("/network/packets", json!(22)),
        ("/network/protocol", json!("tls")),
        ("/network/application", json!("amazon")),
        (
            "/network/community_id",
            json!("1:LQU9qZlK+B5F3KDmev6m5PMibrg="),
        ),
        (
            "/connection/state_description",
            json!("Normal SYN/FIN completion"),
        ),
        ("/observer/ingress/interface/name", json!("eth1")),
        ("/observer/hostname", json!("sensor1.example.net")),
        ("/related/ip", json!(["192.168.1.10", "93.184.216.34"])),
        ("/tls/version", json!("1.3")),
        ("/tls/version_protocol", json!("tls")),
        ("/tls/next_protocol", json!("h2")),
        ("/tls/client/server_name", json!("www.amazon.com")),
        (
            "/tls/server/hash/sha1",
            json!("9E393D93138888D288266C2D915214D1D1CCEB2A"),
        ),
        (
            "/tls/server/not_after",
            json!("2026-12-31T23:59:59.000000Z"),
        ),
        (
            "/sonde/tls/ja4",
            json!("t13d1516h2_8daaf6152771_02713d6af862"),
        ),
        ("/sonde/l7/name", json!("TLS.Amazon")),
        ("/sonde/l7/extra/tls.grease", Value::Null),
        ("/sonde/l7/extra/tls_grease", json!("yes")),
        ("/sonde/flow/id", json!("18446744073709551614")),
        ("/sonde/flow/end_reason", json!("fin")),
        ("/sonde/flow/interim", json!(false)),
        (
            "/sonde/flow/client_tcp_flags",
            json!(["FIN", "SYN", "PSH", "ACK"]),
        ),
        ("/sonde/flow/rtt/server_us", json!(11_000)),
        ("/sonde/flow/retransmissions/client", json!(1)),
        ("/sonde/flow/zero_windows/server", json!(0)),
        ("/sonde/flow/goodput_ratio", json!(0.98)),
        ("/sonde/flow/score", json!(100)),
        (
            "/sonde/flow/risks",
            json!([{"name": "TLS Self-signed Certificate", "severity": "high", "score": 100,
                    "info": "CN=www.amazon.com"}]),
        ),
    ];
    for (pointer, want) in expect {
        let got = doc.pointer(pointer).cloned().unwrap_or(Value::Null);
        assert_eq!(got, want, "{pointer}");
    }
}

#[test]
fn dns_http_icmp_and_interim_flows_map_their_specifics() {
    let o = observer();
    let dns = flow_document(&dns_flow(), &o);
    assert_eq!(dns["dns"]["id"], "62111");
    assert_eq!(dns["dns"]["type"], "answer");
    assert_eq!(dns["dns"]["question"]["name"], "example.com");
    assert_eq!(dns["dns"]["resolved_ip"], json!(["93.184.216.34"]));
    assert_eq!(
        dns["dns"]["answers"],
        json!([{"name": "example.com", "type": "A", "data": "93.184.216.34", "ttl": 300}])
    );
    assert!(dns["sonde"]["flow"].get("client_tcp_flags").is_none());

    let icmp = flow_document(&icmp_flow(), &o);
    assert!(icmp["source"].get("port").is_none());
    assert_eq!(icmp["sonde"]["flow"]["icmp"], json!({"type": 8, "code": 0}));
    assert_eq!(icmp["network"]["transport"], "icmp");

    let http = flow_document(&ipv6_http_flow(), &o);
    assert_eq!(http["network"]["type"], "ipv6");
    assert_eq!(http["source"]["ip"], "2001:db8::1");
    assert_eq!(
        http["url"],
        json!({"domain": "2001:db8::2", "port": 8080,
        "original": "/index.html?lang=en", "path": "/index.html", "query": "lang=en"})
    );
    assert_eq!(http["http"]["version"], "1.1");
    assert_eq!(http["http"]["response"]["mime_type"], "text/html");
    assert_eq!(http["user_agent"]["original"], "curl/8.5.0");

    let ssh = flow_document(&interim_ssh_flow(), &o);
    assert_eq!(ssh["event"]["type"], json!(["connection"]));
    assert_eq!(ssh["sonde"]["flow"]["interim"], true);
    assert_eq!(ssh["sonde"]["flow"]["end_reason"], "active_timeout");
    assert_eq!(
        ssh["sonde"]["ssh"]["server_software"],
        "SSH-2.0-OpenSSH_8.9p1"
    );
}

#[test]
fn garbage_input_gives_a_document_without_the_invalid_fields() {
    let o = Observer {
        name: String::new(),
        hostname: Some(String::new()),
    };
    let doc = flow_document(&garbage_flow(), &o);
    let paths: Vec<String> = flatten(&doc).into_iter().map(|(p, _)| p).collect();
    for gone in [
        "source.ip",
        "destination.ip",
        "client.ip",
        "source.mac",
        "source.port",
        "network.type",
        "related.ip",
        "event.start",
        "event.duration",
        "network.vlan.id",
        "network.protocol",
        "sonde.flow.end_reason",
        "sonde.flow.goodput_ratio",
        "sonde.flow.risks",
        "tls.version",
        "tls.server.not_before",
        "tls.server.hash.sha1",
        "dns.id",
        "dns.type",
        "http.response.status_code",
        "observer.name",
        "observer.hostname",
        "sonde.l7.name",
    ] {
        assert!(!paths.iter().any(|p| p == gone), "{gone} present in {doc}");
    }
    assert!(
        !paths.iter().any(|p| p.starts_with("sonde.l7.extra")),
        "{doc}"
    );
    // The one valid time becomes @timestamp and event.end.
    assert_eq!(doc["@timestamp"], "2026-11-25T10:00:00.000000Z");
    assert_eq!(doc["event"]["end"], doc["@timestamp"]);
    // Destination port 80 is fine; the client's 70000 is not a port.
    assert_eq!(doc["destination"]["port"], 80);

    // Valid times in the wrong order: both dates stay, no negative duration.
    let backwards = Flow {
        first_seen_us: fixtures::T0 + 10,
        last_seen_us: fixtures::T0,
        ..Flow::default()
    };
    let doc = flow_document(&backwards, &o);
    assert!(doc["event"].get("start").is_some() && doc["event"].get("end").is_some());
    assert!(doc["event"].get("duration").is_none(), "{doc}");

    // An entirely empty record still says what it is, and has no times.
    let empty = flow_document(&Flow::default(), &o);
    assert_eq!(empty["event"]["kind"], "event");
    assert!(empty.get("@timestamp").is_none());
    assert!(empty.get("network").is_none());
    assert!(empty.get("source").is_none());
}

#[test]
fn extra_keys_are_sanitized_and_clashes_resolve_the_same_way_every_time() {
    let flow = Flow {
        l7: Some(Box::new(L7 {
            extra: BTreeMap::from([
                ("DHCP.Hostname".into(), "laptop".into()),
                ("dhcp_hostname".into(), "shadowed".into()),
                ("dhcp".into(), "kept".into()),
                ("ntp.ref-id".into(), "GPS".into()),
                ("€€".into(), "dropped".into()),
                ("..".into(), "dropped".into()),
            ]),
            ..L7::default()
        })),
        ..Flow::default()
    };
    let first = flow_document(&flow, &observer());
    // One level of leaves (dots become underscores, so "dhcp" and
    // "dhcp.hostname" no longer clash); "DHCP.Hostname" sorts before
    // "dhcp_hostname" and wins the name both end up with.
    assert_eq!(
        first["sonde"]["l7"]["extra"],
        json!({"dhcp_hostname": "laptop", "dhcp": "kept", "ntp_refid": "GPS"})
    );
    for _ in 0..20 {
        assert_eq!(flow_document(&flow, &observer()), first);
    }
}

/// The core type an ECS type is mapped as in sonde's templates.
fn core_type(ecs_type: &str) -> &str {
    match ecs_type {
        "wildcard" | "constant_keyword" => "keyword",
        "match_only_text" => "text",
        "scaled_float" | "float" => "double",
        "nested" | "flattened" => "object",
        other => other,
    }
}

#[test]
fn every_field_of_every_document_has_an_explicit_mapping_of_its_type() {
    use sonde_common::ecs::fields::Kind;
    for (name, doc) in realistic() {
        assert_mapped(Kind::Flow, name, &doc);
    }
}

#[test]
fn the_mapped_types_of_ecs_fields_are_ecs_types() {
    use sonde_common::ecs::fields::{Kind, all};
    let ecs = ecs_fields();
    let (mut checked, mut wrong) = (0, Vec::new());
    for kind in [Kind::Flow, Kind::Alert] {
        for (field, ty) in all(kind) {
            let Some(ecs_type) = ecs.get(&field) else {
                assert!(
                    field.starts_with("sonde.")
                        || SO_FIELDS.contains(&field.as_str())
                        || SO_ALERT_FIELDS.contains(&field.as_str()),
                    "{field} is mapped but is neither ECS nor sonde.*"
                );
                continue;
            };
            if ty.as_str() != core_type(ecs_type) {
                wrong.push(format!("{field}: {} but ECS says {ecs_type}", ty.as_str()));
            }
            checked += 1;
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert!(checked > 100, "only {checked} ECS fields checked");
}

fn alerts() -> Vec<(&'static str, Value)> {
    use sonde_common::ecs::alert_document;
    use sonde_proto::v1::{Alert, Evidence, SuricataSignature};
    let flow_alert = Alert {
        rule_key: "tls_self_signed".into(),
        rule_name: "TLS Self-Signed Certificate".into(),
        rule_category: "security".into(),
        severity: 2,
        score: 50,
        source: 1,
        entity: 1,
        entity_value: "1:abc".into(),
        lifecycle: 1,
        first_seen_us: 1_764_064_800_000_000,
        last_seen_us: 1_764_064_805_000_000,
        count: 1,
        flow: Some(tls_flow()),
        message: "Self-signed certificate\n from 10.0.0.1".into(),
        interface: "eth1".into(),
        ..Default::default()
    };
    let host_alert = Alert {
        rule_key: "syn_flood".into(),
        rule_name: "SYN Flood".into(),
        rule_category: "network".into(),
        severity: 4,
        score: 250,
        source: 1,
        entity: 2,
        entity_value: "192.0.2.7".into(),
        lifecycle: 2,
        first_seen_us: 1_764_064_800_000_000,
        last_seen_us: 1_764_064_860_000_000,
        count: 12_000,
        incident_id: "inc-1".into(),
        attacker_ip: vec![203, 0, 113, 9],
        victim_ip: vec![192, 0, 2, 7],
        message: "SYN flood against 192.0.2.7: 200 SYN/s".into(),
        evidence: vec![
            Evidence {
                key: "syn_per_second".into(),
                value: "200".into(),
            },
            Evidence {
                key: " ".into(),
                value: "dropped: empty key".into(),
            },
        ],
        ..Default::default()
    };
    let suricata = Alert {
        rule_key: "suricata".into(),
        rule_name: "ET SCAN Nmap".into(),
        severity: 3,
        source: 2,
        first_seen_us: 1_764_064_800_000_000,
        signatures: vec![SuricataSignature {
            signature_id: 2_009_582,
            signature: "ET SCAN NMAP -sS window 1024".into(),
            category: "Attempted Information Leak".into(),
            severity: 2,
            count: 40,
        }],
        attacker_ip: vec![1, 2, 3],
        ..Default::default()
    };
    vec![
        ("flow alert", alert_document(&flow_alert, &observer())),
        ("host alert", alert_document(&host_alert, &observer())),
        ("suricata alert", alert_document(&suricata, &observer())),
    ]
}

#[test]
fn alert_documents_follow_security_onions_alert_conventions() {
    let docs = alerts();
    let flow = &docs[0].1;
    assert_eq!(flow["event"]["kind"], "alert");
    assert_eq!(flow["event"]["dataset"], "sonde.alert");
    assert_eq!(flow["tags"], json!(["alert"]));
    assert_eq!(flow["event"]["severity"], 2);
    assert_eq!(flow["event"]["severity_label"], "medium");
    assert_eq!(flow["event"]["risk_score"], 50.0);
    assert_eq!(flow["rule"]["id"], "tls_self_signed");
    assert_eq!(flow["rule"]["name"], "TLS Self-Signed Certificate");
    assert_eq!(flow["rule"]["ruleset"], "sonde");
    assert_eq!(flow["sonde"]["alert"]["source"], "sonde");
    assert_eq!(flow["message"], "Self-signed certificate from 10.0.0.1");
    assert_eq!(flow["@timestamp"], "2025-11-25T10:00:05.000000Z");
    // The flow's context, typed: endpoints, Community ID, TLS.
    let tls = flow_document(&tls_flow(), &observer());
    assert_eq!(flow["source"]["ip"], tls["source"]["ip"]);
    assert_eq!(
        flow["network"]["community_id"],
        tls["network"]["community_id"]
    );
    assert_eq!(flow["tls"], tls["tls"]);
    assert_eq!(
        flow["event"].get("duration"),
        None,
        "the flow's event fields are not the alert's"
    );

    let host = &docs[1].1;
    assert_eq!(host["source"]["ip"], "203.0.113.9", "attacker");
    assert_eq!(host["destination"]["ip"], "192.0.2.7", "victim");
    assert_eq!(host["related"]["ip"], json!(["203.0.113.9", "192.0.2.7"]));
    assert_eq!(host["event"]["severity_label"], "critical");
    assert_eq!(host["sonde"]["alert"]["lifecycle"], "engaged");
    assert_eq!(host["sonde"]["alert"]["count"], 12_000);
    assert_eq!(host["sonde"]["alert"]["entity"]["kind"], "host");
    assert_eq!(
        host["sonde"]["alert"]["evidence"],
        json!([{"key": "syn_per_second", "value": "200"}])
    );
    assert_eq!(host["rule"]["uuid"], docs[1].1["rule"]["uuid"]);
    assert_ne!(host["rule"]["uuid"], flow["rule"]["uuid"]);

    let suricata = &docs[2].1;
    assert_eq!(suricata["rule"]["ruleset"], "suricata");
    assert_eq!(suricata["sonde"]["alert"]["source"], "suricata");
    assert_eq!(suricata["event"]["module"], "sonde");
    assert_eq!(
        suricata["event"]["category"],
        json!(["network", "intrusion_detection"])
    );
    assert_eq!(suricata["sonde"]["alert"]["signatures"][0]["id"], 2_009_582);
    assert!(
        suricata.get("source").is_none(),
        "a 3-byte attacker IP is invalid: left out"
    );
    assert!(suricata.get("message").is_none(), "empty message left out");
}

#[test]
fn every_alert_field_is_mapped_and_defined_in_ecs_or_sonde_or_so() {
    use sonde_common::ecs::fields::Kind;
    let ecs = ecs_fields();
    for (name, doc) in alerts() {
        for (path, _) in flatten(&doc) {
            assert!(
                ecs.contains_key(&path)
                    || path.starts_with("sonde.")
                    || SO_FIELDS.contains(&path.as_str())
                    || SO_ALERT_FIELDS.contains(&path.as_str()),
                "{name}: {path} is neither ECS 8.17, SO nor sonde.*"
            );
        }
        assert_mapped(Kind::Alert, name, &doc);
    }
}

/// Every field of `doc` has an explicit mapping for `kind`, and its value
/// (each item of an array) is what Elasticsearch takes for that type.
fn assert_mapped(kind: sonde_common::ecs::fields::Kind, name: &str, doc: &Value) {
    for (path, value) in flatten(doc) {
        let ty = sonde_common::ecs::fields::lookup(kind, &path)
            .unwrap_or_else(|| panic!("{name}: {path} has no mapping in ecs::fields"));
        let items = match value {
            Value::Array(items) => items.iter().collect(),
            one => vec![one],
        };
        for item in items {
            assert!(
                fits(ty, item),
                "{name}: {path} is mapped {ty:?} but the value is {item}"
            );
        }
    }
}

/// Whether a JSON value is what Elasticsearch takes for a field of type `ty`.
fn fits(ty: sonde_common::ecs::fields::FieldType, item: &Value) -> bool {
    use sonde_common::ecs::fields::FieldType;
    match ty {
        FieldType::Long => item.is_u64() || item.is_i64(),
        FieldType::Double => item.is_number(),
        FieldType::Boolean => item.is_boolean(),
        FieldType::Object | FieldType::GeoPoint => item.is_object(),
        FieldType::Keyword | FieldType::Text | FieldType::Ip | FieldType::Date => item.is_string(),
    }
}
