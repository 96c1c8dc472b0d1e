//! Records (flows and alerts) to documents: the ECS mapping shared with `sonde-probe read`, the
//! probe's certificate identity as `observer.name`, the collector's
//! enrichment (GeoIP, AS, direction), and a deterministic id so
//! that a record delivered twice (a resend after a reconnect, another collector
//! replica) becomes the same document. A flow's id does not name its probe:
//! the same flow seen by two probes shares it (see [`crate::dedupe`]).

use sha1::{Digest as _, Sha1};
use sonde_common::ecs::{self, Observer};
use sonde_proto::v1;

use crate::dedupe::{DedupeSettings, Seen};
use crate::enrich::Enricher;
use crate::sink::{DocKind, Document};

/// The document of a flow record from the probe `identity`, enriched
/// (GeoIP, AS, `network.direction`).
///
/// Its id does not depend on the probe ([`crate::dedupe::flow_ids`]), so
/// the same flow from two probes is one document; `sonde.flow.observers` and
/// `sonde.flow.record_ids` start with this probe and its record. A flow
/// without a Community ID cannot be matched: its id is its record id.
pub fn flow(
    identity: &str,
    flow: &v1::Flow,
    enricher: &Enricher,
    dedupe: &DedupeSettings,
) -> Document {
    let mut body = ecs::flow_document(flow, &observer(identity));
    let record = flow_id(identity, flow);
    let id = if flow.community_id.is_empty() || flow.first_seen_us == 0 {
        record.clone()
    } else {
        crate::dedupe::bucket_flow_id(&flow.community_id, flow.first_seen_us, dedupe)
    };
    Seen {
        observers: vec![identity.to_owned()],
        record_ids: vec![record],
        first_seen_us: flow.first_seen_us,
    }
    .write_into(&mut body);
    document(body, id, DocKind::Flow, flow.last_seen_us, enricher)
}

/// What turns records into documents: the enrichment and the dedupe
/// settings (flow ids depend on `dedupe.window`).
#[derive(Clone, Debug)]
pub struct Mapper {
    pub enricher: Enricher,
    pub dedupe: DedupeSettings,
}

impl Mapper {
    pub fn flow(&self, identity: &str, record: &v1::Flow) -> Document {
        flow(identity, record, &self.enricher, &self.dedupe)
    }

    pub fn alert(&self, identity: &str, record: &v1::Alert) -> Document {
        alert(identity, record, &self.enricher)
    }
}

fn observer(identity: &str) -> Observer {
    Observer {
        name: identity.to_owned(),
        hostname: None,
    }
}

/// Enriches `body`, writes its id as `event.id` (in every output; written
/// once here so outputs never copy the body to add it), and wraps it.
fn document(
    mut body: serde_json::Value,
    id: String,
    kind: DocKind,
    timestamp_us: u64,
    enricher: &Enricher,
) -> Document {
    enricher.enrich(&mut body);
    if let Some(event) = body
        .as_object_mut()
        .and_then(|b| b.get_mut("event"))
        .and_then(serde_json::Value::as_object_mut)
    {
        event.insert("id".to_owned(), id.clone().into());
    }
    Document {
        id,
        kind,
        timestamp_us,
        body,
    }
}

/// The per-probe record id: SHA-1 over what makes a flow record unique for its probe: identity,
/// interface, the probe's flow id, the record's interval start and the
/// Community ID; hex. Interim records of one flow differ by interval start.
pub fn flow_id(identity: &str, flow: &v1::Flow) -> String {
    let mut h = Sha1::new();
    for part in [
        identity.as_bytes(),
        flow.interface.as_bytes(),
        flow.community_id.as_bytes(),
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    h.update(flow.flow_id.to_be_bytes());
    h.update(flow.first_seen_us.to_be_bytes());
    hex::encode(h.finalize())
}

/// The document of an alert record from the probe `identity`, enriched.
pub fn alert(identity: &str, alert: &v1::Alert, enricher: &Enricher) -> Document {
    let body = ecs::alert_document(alert, &observer(identity));
    let id = alert_id(identity, alert);
    let time = if alert.last_seen_us > 0 {
        alert.last_seen_us
    } else {
        alert.first_seen_us
    };
    document(body, id, DocKind::Alert, time, enricher)
}

/// SHA-1 over what makes one alert record unique: the probe, the rule, the
/// incident (or entity), and the state it reports (lifecycle, times, count),
/// so each update of an engaged incident is a document of its own and a
/// resent record is the same document.
pub fn alert_id(identity: &str, alert: &v1::Alert) -> String {
    let mut h = Sha1::new();
    h.update(b"alert");
    for part in [
        identity.as_bytes(),
        alert.rule_key.as_bytes(),
        alert.incident_id.as_bytes(),
        alert.entity_value.as_bytes(),
        alert.interface.as_bytes(),
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    for n in [
        alert.first_seen_us,
        alert.last_seen_us,
        alert.count,
        alert.lifecycle as u64,
    ] {
        h.update(n.to_be_bytes());
    }
    hex::encode(h.finalize())
}
