//! Records (flows and alerts) to documents: the ECS mapping shared with `sonde-probe read`, the
//! probe's certificate identity as `observer.name`, the collector's
//! enrichment (GeoIP, AS, direction), and a deterministic id so
//! that a record delivered twice (a resend after a reconnect, another collector
//! replica) becomes the same document. A flow's id does not name its probe:
//! the same flow seen by two probes shares it (see [`crate::dedupe`]).

use std::sync::Arc;

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
    flow_from(&Source::new(identity), flow, enricher, dedupe)
}

/// The probe a stream comes from, as its documents name it: made once per
/// stream, not per record.
#[derive(Clone, Debug)]
pub struct Source {
    identity: Arc<str>,
    observer: Observer,
}

impl Source {
    /// The probe with the certificate identity `identity`.
    pub fn new(identity: &str) -> Self {
        Self {
            identity: Arc::from(identity),
            observer: Observer {
                name: identity.to_owned(),
                hostname: None,
            },
        }
    }

    pub fn identity(&self) -> &str {
        &self.identity
    }
}

fn flow_from(
    source: &Source,
    flow: &v1::Flow,
    enricher: &Enricher,
    dedupe: &DedupeSettings,
) -> Document {
    let identity = source.identity();
    let mut fields = ecs::flow_fields(flow, &source.observer);
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
        observer: Arc::clone(&source.identity),
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
    pub fn flow(&self, source: &Source, record: &v1::Flow) -> Document {
        flow_from(source, record, &self.enricher, &self.dedupe)
    }

    pub fn alert(&self, source: &Source, record: &v1::Alert) -> Document {
        alert_from(source, record, &self.enricher)
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
const JSON_CHUNK: usize = 128 * 1024;

/// Filled chunks kept per thread for reuse once their documents are gone:
/// fresh memory for every chunk costs a page fault per page, and so does
/// memory the allocator returned to the system. At most 16 MiB a thread,
/// about two batches' documents.
const KEPT_CHUNKS: usize = 128;

#[derive(Default)]
struct JsonChunks {
    /// The scratch buffer a document is written to first.
    scratch: Vec<u8>,
    /// The chunk being filled (none before the first document).
    current: Option<BytesMut>,
    /// Filled chunks, oldest first; each is reclaimed when the documents in
    /// it have all been dropped.
    filled: std::collections::VecDeque<BytesMut>,
}

impl JsonChunks {
    /// A chunk with room for `need` more bytes.
    fn room(&mut self, need: usize) -> &mut BytesMut {
        let current = match self.current.take() {
            Some(chunk) if chunk.capacity() >= need => chunk,
            full => {
                let reused = self.reclaim(need);
                self.filled.extend(full);
                reused.unwrap_or_else(|| {
                    if self.filled.len() > KEPT_CHUNKS {
                        // Held by documents kept long (a retry): let them own it.
                        self.filled.pop_front();
                    }
                    BytesMut::with_capacity(JSON_CHUNK.max(need))
                })
            }
        };
        self.current.insert(current)
    }

    /// One of the first few filled chunks whose documents are all gone:
    /// documents are delivered about in the order they were written, so the
    /// oldest chunks are the likeliest free.
    fn reclaim(&mut self, need: usize) -> Option<BytesMut> {
        for _ in 0..self.filled.len().min(4) {
            let mut chunk = self.filled.pop_front()?;
            if chunk.try_reclaim(JSON_CHUNK.max(need)) {
                return Some(chunk);
            }
            self.filled.push_back(chunk);
        }
        None
    }
}

thread_local! {
    static JSON: std::cell::RefCell<JsonChunks> = std::cell::RefCell::new(JsonChunks::default());
}

fn write(fields: &Doc<'_>) -> Bytes {
    JSON.with_borrow_mut(|chunks| {
        let mut text = std::mem::take(&mut chunks.scratch);
        text.clear();
        fields.write_json(&mut text);
        let chunk = chunks.room(text.len());
        chunk.extend_from_slice(&text);
        let json = chunk.split().freeze();
        chunks.scratch = text;
        json
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
    alert_from(&Source::new(identity), alert, enricher)
}

fn alert_from(source: &Source, alert: &v1::Alert, enricher: &Enricher) -> Document {
    let fields = ecs::alert_fields(alert, &source.observer);
    let id = alert_id(source.identity(), alert);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn put(chunks: &mut JsonChunks, text: &[u8]) -> Bytes {
        let chunk = chunks.room(text.len());
        chunk.extend_from_slice(text);
        chunk.split().freeze()
    }

    fn line(n: usize) -> Vec<u8> {
        format!("{{\"n\":{n}}}").repeat(90).into_bytes()
    }

    #[test]
    fn json_chunks_are_reused_once_their_documents_are_gone() {
        let mut chunks = JsonChunks::default();
        let first: Vec<Bytes> = (0..400).map(|n| put(&mut chunks, &line(n))).collect();
        assert!(first.iter().enumerate().all(|(n, b)| b[..] == line(n)[..]));
        let oldest = first[0].as_ptr();
        drop(first);
        let second: Vec<Bytes> = (0..400).map(|n| put(&mut chunks, &line(n))).collect();
        assert!(second.iter().any(|b| b.as_ptr() == oldest));
        assert!(second.iter().enumerate().all(|(n, b)| b[..] == line(n)[..]));
    }

    #[test]
    fn documents_kept_while_chunks_turn_over_keep_their_bytes() {
        let mut chunks = JsonChunks::default();
        let mut kept = Vec::new();
        for n in 0..20_000 {
            let json = put(&mut chunks, &line(n));
            if n % 97 == 0 {
                kept.push((n, json));
            }
        }
        assert!(chunks.filled.len() <= KEPT_CHUNKS + 1);
        for (n, json) in kept {
            assert_eq!(json[..], line(n)[..]);
        }
        // A document larger than a chunk gets a buffer of its own.
        let big = vec![b'x'; JSON_CHUNK + 1];
        assert_eq!(put(&mut chunks, &big)[..], big[..]);
    }
}
