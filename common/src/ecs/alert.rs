//! The ECS document of an alert record, as Security Onion's Alerts page
//! expects it (data stream `logs-sonde.alert-so`): `event.kind: alert`,
//! `tags: [alert]`, `rule.*`, `event.severity` 1-4 with SO's
//! `event.severity_label`, `event.risk_score`, a one-line `message`, and the
//! flow context (endpoints, network, layer 7) as typed fields, never a JSON
//! blob. Attacker and victim are `source` and `destination` when the alert
//! has no flow.
//!
//! Same invariants as the flow mapping: never panics, leaves out what is
//! missing or invalid, pure.

use serde_json::{Value, json};
use sha1::{Digest as _, Sha1};
use sonde_proto::v1::{Alert, AlertSource, EntityKind, Lifecycle, Severity};

use super::doc::{Doc, Leaf};
use super::values::{self, long};
use super::{ECS_VERSION, Observer, flow_fields, put_observer};

/// Maps an alert record to its ECS document.
pub fn alert_document(alert: &Alert, observer: &Observer) -> Value {
    alert_fields(alert, observer).into_value()
}

/// The fields of an alert record's ECS document, borrowing from the record:
/// callers may add their own before writing it ([`Doc::write_json`]).
pub fn alert_fields<'a>(alert: &'a Alert, observer: &'a Observer) -> Doc<'a> {
    // The flow context first, without what describes the flow as an event:
    // its fields are put first, so they win over the alert's own.
    let mut doc = match alert.flow.as_ref() {
        Some(flow) => {
            let mut doc = flow_fields(flow, observer);
            doc.remove_roots(&["@timestamp", "event", "ecs"]);
            doc
        }
        None => Doc::default(),
    };
    let first = Leaf::time(alert.first_seen_us);
    let last = Leaf::time(alert.last_seen_us);
    doc.put_opt("@timestamp", last.clone().or_else(|| first.clone()));
    doc.put("ecs.version", ECS_VERSION);
    doc.put("event.kind", "alert");
    doc.put("event.module", "sonde");
    doc.put("event.dataset", "sonde.alert");
    let source = AlertSource::try_from(alert.source).unwrap_or(AlertSource::Unspecified);
    let mut category = vec!["network"];
    if source == AlertSource::Suricata || !alert.signatures.is_empty() {
        category.push("intrusion_detection");
    }
    doc.put("event.category", category);
    doc.put("event.type", Leaf::Strs(&["info"]));
    if let Ok(severity) = Severity::try_from(alert.severity)
        && severity != Severity::Unspecified
    {
        doc.put("event.severity", severity as i32);
        doc.put_opt("event.severity_label", values::severity(alert.severity));
    }
    if alert.score > 0 {
        doc.put("event.risk_score", f64::from(alert.score));
    }
    doc.put_opt("event.start", first.clone());
    doc.put_opt("event.end", last.clone());
    doc.put("tags", Leaf::Strs(&["alert"]));
    doc.put_str("message", one_line(&alert.message));

    doc.put_str("rule.id", &alert.rule_key);
    if !alert.rule_key.trim().is_empty() {
        doc.put("rule.uuid", rule_uuid(alert.rule_key.trim()));
    }
    doc.put_str("rule.name", &alert.rule_name);
    doc.put_str("rule.category", &alert.rule_category);
    doc.put_opt(
        "rule.ruleset",
        match source {
            AlertSource::Sonde => Some("sonde"),
            AlertSource::Suricata => Some("suricata"),
            AlertSource::Unspecified => None,
        },
    );

    // Attacker and victim, when the flow did not already give the endpoints.
    let attacker = values::ip(&alert.attacker_ip);
    let victim = values::ip(&alert.victim_ip);
    doc.put_opt("source.ip", attacker);
    doc.put_opt("destination.ip", victim);
    let mut related: Vec<std::net::IpAddr> = Vec::new();
    for ip in [attacker, victim].into_iter().flatten() {
        if !related.contains(&ip) {
            related.push(ip);
        }
    }
    if alert.flow.is_none() {
        doc.put_list("related.ip", related);
    }

    put_observer(&mut doc, observer, &alert.interface);

    doc.put_str("sonde.alert.key", &alert.rule_key);
    doc.put_opt(
        "sonde.alert.source",
        match source {
            AlertSource::Sonde => Some("sonde"),
            AlertSource::Suricata => Some("suricata"),
            AlertSource::Unspecified => None,
        },
    );
    if alert.score > 0 {
        doc.put("sonde.alert.score", u64::from(alert.score));
    }
    if alert.count > 0 {
        doc.put("sonde.alert.count", long(alert.count));
    }
    doc.put_opt("sonde.alert.first_seen", first);
    doc.put_opt("sonde.alert.last_seen", last);
    doc.put_opt(
        "sonde.alert.lifecycle",
        match Lifecycle::try_from(alert.lifecycle).ok() {
            Some(Lifecycle::OneShot) => Some("one_shot"),
            Some(Lifecycle::Engaged) => Some("engaged"),
            Some(Lifecycle::Released) => Some("released"),
            _ => None,
        },
    );
    doc.put_str("sonde.alert.incident_id", &alert.incident_id);
    doc.put_opt(
        "sonde.alert.entity.kind",
        match EntityKind::try_from(alert.entity).ok() {
            Some(EntityKind::Flow) => Some("flow"),
            Some(EntityKind::Host) => Some("host"),
            Some(EntityKind::Network) => Some("network"),
            Some(EntityKind::Interface) => Some("interface"),
            _ => None,
        },
    );
    doc.put_str("sonde.alert.entity.value", &alert.entity_value);
    let evidence: Vec<Value> = alert
        .evidence
        .iter()
        .filter(|e| !e.key.trim().is_empty())
        .map(|e| json!({"key": e.key.trim(), "value": e.value.trim()}))
        .collect();
    doc.put_list("sonde.alert.evidence", evidence);
    let signatures: Vec<Value> = alert
        .signatures
        .iter()
        .map(|s| {
            let mut sig = Doc::default();
            if s.signature_id > 0 {
                sig.put("id", long(s.signature_id));
            }
            sig.put_str("name", &s.signature);
            sig.put_str("category", &s.category);
            if s.severity > 0 {
                sig.put("severity", u64::from(s.severity));
            }
            if s.count > 0 {
                sig.put("count", long(s.count));
            }
            sig.into_value()
        })
        .filter(|v| v.as_object().is_some_and(|o| !o.is_empty()))
        .collect();
    doc.put_list("sonde.alert.signatures", signatures);
    doc
}

/// A stable UUID for a rule key (name-based, SHA-1, as RFC 9562 version 5
/// lays out the bits), so SO can group alerts by `rule.uuid`.
fn rule_uuid(key: &str) -> String {
    let mut h = Sha1::new();
    h.update(b"sonde-rule:");
    h.update(key.as_bytes());
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The message on one line, at most 1024 characters.
fn one_line(text: &str) -> String {
    let mut line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.len() > 1024 {
        let mut cut = 1024;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        line.truncate(cut);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_uuids_are_stable_version_5_uuids() {
        let a = rule_uuid("syn_flood");
        assert_eq!(a, rule_uuid("syn_flood"));
        assert_ne!(a, rule_uuid("syn_scan"));
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "5");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"));
    }

    #[test]
    fn messages_are_one_line() {
        assert_eq!(one_line(" a\nb\t c "), "a b c");
        assert!(one_line(&"é".repeat(2000)).len() <= 1024);
    }
}
