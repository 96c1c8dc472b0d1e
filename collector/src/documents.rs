//! Records (flows and alerts) to documents: the ECS mapping shared with `sonde-probe read`, the
//! probe's certificate identity as `observer.name`, the collector's
//! enrichment (GeoIP, AS, direction), and a deterministic id so
//! that a record delivered twice (a resend after a reconnect, another collector
//! replica) becomes the same document. A flow's id does not name its probe:
//! the same flow seen by two probes shares it (see [`crate::dedupe`]).

use bytes::{Bytes, BytesMut};
use sha1::{Digest as _, Sha1};
use sonde_common::ecs::{self, Doc, Observer};
use sonde_proto::v1;

use crate::dedupe::DedupeSettings;
use crate::enrich::{Enricher, SideIps};
use crate::sink::{DocKind, Document, FlowKey};

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
    let observer = observer(identity);
    let mut fields = ecs::flow_fields(flow, &observer);
    let record = flow_id(identity, flow);
    let matchable = !flow.community_id.is_empty() && flow.first_seen_us != 0;
    let id = if matchable {
        crate::dedupe::bucket_flow_id(&flow.community_id, flow.first_seen_us, dedupe)
    } else {
        record.clone()
    };
    let record_str = record.as_str();
    fields.put(
        "sonde.flow.observers",
        ecs::Leaf::Strs(std::slice::from_ref(&identity)),
    );
    fields.put(
        "sonde.flow.record_ids",
        ecs::Leaf::Strs(std::slice::from_ref(&record_str)),
    );
    let side = |e: &Option<v1::Endpoint>| {
        e.as_ref()
            .and_then(|e| sonde_proto::ip_from_bytes(&e.ip))
            .map(|ip| ip.to_canonical())
    };
    let (client, server) = (side(&flow.client), side(&flow.server));
    let ips = SideIps {
        source: client,
        destination: server,
        client,
        server,
    };
    let mut doc = document(fields, id, DocKind::Flow, flow.last_seen_us, ips, enricher);
    doc.flow = matchable.then(|| FlowKey {
        observer: identity.to_owned(),
        record_id: record,
        first_seen_us: flow.first_seen_us,
        community_id: flow.community_id.clone(),
    });
    doc
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

/// Enriches the fields, adds the id as `event.id` (in every output; written
/// once here so outputs never touch the JSON), and writes the document.
fn document(
    fields: Doc<'_>,
    id: String,
    kind: DocKind,
    timestamp_us: u64,
    ips: SideIps,
    enricher: &Enricher,
) -> Document {
    // The same fields, for as long as `id` lives: `event.id` borrows it.
    let mut fields: Doc<'_> = fields;
    enricher.enrich(&mut fields, ips);
    let severity = match (kind, fields.get("event.severity")) {
        (DocKind::Alert, Some(ecs::Leaf::I64(n))) => u64::try_from(*n).ok(),
        (DocKind::Alert, Some(ecs::Leaf::U64(n))) => Some(*n),
        _ => None,
    };
    fields.put("event.id", id.as_str());
    let json = write(&fields);
    drop(fields);
    Document {
        id,
        kind,
        timestamp_us,
        json,
        severity,
        flow: None,
    }
}

/// Documents' JSON is written into a reused buffer, then copied into a
/// shared chunk of [`JSON_CHUNK`] bytes that many documents' `Bytes` point
/// into: two allocations (a buffer and its reference count) per document
/// would cost more than the copy.
const JSON_CHUNK: usize = 256 * 1024;

thread_local! {
    static JSON: std::cell::RefCell<(Vec<u8>, BytesMut)> =
        std::cell::RefCell::new((Vec::with_capacity(4096), BytesMut::new()));
}

fn write(fields: &Doc<'_>) -> Bytes {
    JSON.with_borrow_mut(|(scratch, chunk)| {
        scratch.clear();
        fields.write_json(scratch);
        if chunk.capacity() < scratch.len() {
            // The chunk's earlier documents keep the old buffer alive.
            *chunk = BytesMut::with_capacity(JSON_CHUNK.max(scratch.len()));
        }
        chunk.extend_from_slice(scratch);
        chunk.split().freeze()
    })
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
    crate::dedupe::sha1_hex(h)
}

/// The document of an alert record from the probe `identity`, enriched.
pub fn alert(identity: &str, alert: &v1::Alert, enricher: &Enricher) -> Document {
    let observer = observer(identity);
    let fields = ecs::alert_fields(alert, &observer);
    let id = alert_id(identity, alert);
    let time = if alert.last_seen_us > 0 {
        alert.last_seen_us
    } else {
        alert.first_seen_us
    };
    let ips = SideIps::of(&fields);
    document(fields, id, DocKind::Alert, time, ips, enricher)
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
    crate::dedupe::sha1_hex(h)
}
