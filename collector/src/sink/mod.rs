//! Sinks: the last stage of the collector pipeline. A sink takes batches of
//! ECS [`Document`]s and writes them to one output (Elasticsearch, an NDJSON
//! file directory, a syslog server).
//!
//! Every sink implements [`Sink`], which answers a batch with one [`Outcome`]
//! per document, in order, or with a [`SinkError`] when the whole batch failed
//! (I/O, connection). Retry, backoff and dead-lettering are written once by the
//! caller on top of these outcomes, never inside a sink.
//!
//! Invariant: an [`Outcome::Accepted`] document is as durable as the output
//! allows when `deliver` returns (file sinks: written and fsync'ed; network
//! sinks: flushed to the peer).
//!
//! The document id travels inside the JSON that file and syslog sinks write:
//! as ECS `event.id`, added when the body has none (see `ecs_json`).

pub mod elasticsearch;
mod ndjson;
mod syslog;

pub use ndjson::{NdjsonConfig, NdjsonSink};
pub use syslog::{SyslogConfig, SyslogSink, SyslogTransport};

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;

/// One ECS document ready for an output: its JSON, written once when the
/// record was mapped, and the few facts outputs need without reading it back.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    /// Deterministic id (the Elasticsearch `_id`); also in the JSON as `event.id`.
    pub id: String,
    pub kind: DocKind,
    /// Event time, Unix microseconds (the syslog TIMESTAMP). File names use the
    /// wall clock instead, so that they sort in the order files were written.
    pub timestamp_us: u64,
    /// The ECS object, compact JSON with the id as `event.id`; shared, so
    /// outputs and retries hold it without copying.
    pub json: Bytes,
    /// `event.severity` of an alert (the syslog severity).
    pub severity: Option<u64>,
    /// What cross-probe dedupe needs of a flow document; None for alerts and
    /// for flows without a Community ID.
    pub flow: Option<FlowKey>,
}

/// The dedupe facts of a flow document (see [`crate::dedupe`]): the first of
/// its `sonde.flow.observers` and `sonde.flow.record_ids`, `event.start`,
/// and `network.community_id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowKey {
    /// Shared by the documents of one probe.
    pub observer: Arc<str>,
    pub record_id: String,
    pub first_seen_us: u64,
    pub community_id: String,
}

impl Document {
    /// A document from a JSON value (tests, tools): `event.id` is added when
    /// the body is an object without one, and the facts outputs need are
    /// read from the body.
    pub fn from_value(id: String, kind: DocKind, timestamp_us: u64, mut body: Value) -> Document {
        if let Value::Object(fields) = &mut body {
            let event = fields
                .entry("event")
                .or_insert_with(|| Value::Object(serde_json::Map::new()));
            // A non-object `event` is malformed ECS; leave it for the reader to see.
            if let Value::Object(event) = event {
                event
                    .entry("id")
                    .or_insert_with(|| Value::String(id.clone()));
            }
        }
        // Serialising a `Value` cannot fail (its keys are strings), and
        // what it writes reads back.
        let json = serde_json::to_vec(&body).unwrap_or_default();
        let facts = Facts::read(&json)
            .map(|facts| facts.of(kind))
            .unwrap_or_default();
        Document::with_facts(id, kind, timestamp_us, json, facts)
    }

    /// A document from its JSON as written before (the spool): the facts
    /// outputs need are read from it without building a tree. Bytes that are
    /// not JSON are an error.
    pub fn from_json(
        id: String,
        kind: DocKind,
        timestamp_us: u64,
        json: Vec<u8>,
    ) -> Result<Document, serde_json::Error> {
        let facts = Facts::read(&json)?.of(kind);
        Ok(Document::with_facts(id, kind, timestamp_us, json, facts))
    }

    fn with_facts(
        id: String,
        kind: DocKind,
        timestamp_us: u64,
        json: Vec<u8>,
        (severity, flow): (Option<u64>, Option<FlowKey>),
    ) -> Document {
        Document {
            id,
            kind,
            timestamp_us,
            json: Bytes::from(json),
            severity,
            flow,
        }
    }

    /// The JSON read back as a value (tests, dead letters, rare paths).
    pub fn body(&self) -> Value {
        serde_json::from_slice(&self.json).unwrap_or(Value::Null)
    }
}

/// The few fields of a document's JSON that outputs need, read in one pass
/// that skips everything else.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct Facts<'a> {
    #[serde(borrow)]
    event: Option<EventFacts<'a>>,
    #[serde(borrow)]
    network: Option<NetworkFacts<'a>>,
    #[serde(borrow)]
    sonde: Option<SondeFacts<'a>>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct EventFacts<'a> {
    severity: Option<u64>,
    #[serde(borrow)]
    start: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct NetworkFacts<'a> {
    #[serde(borrow)]
    community_id: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct SondeFacts<'a> {
    #[serde(borrow)]
    flow: Option<SondeFlowFacts<'a>>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct SondeFlowFacts<'a> {
    #[serde(borrow)]
    observers: Vec<Cow<'a, str>>,
    #[serde(borrow)]
    record_ids: Vec<Cow<'a, str>>,
}

impl<'a> Facts<'a> {
    /// The facts of `json`; none for valid JSON of another shape (a body
    /// that is not an object, a field of an unexpected type), as reading the
    /// fields one by one would give; an error for bytes that are not JSON.
    fn read(json: &'a [u8]) -> Result<Facts<'a>, serde_json::Error> {
        match serde_json::from_slice::<Facts<'_>>(json) {
            Ok(facts) => Ok(facts),
            Err(e) => match serde_json::from_slice::<serde::de::IgnoredAny>(json) {
                Ok(_) => Ok(Facts::default()),
                Err(_) => Err(e),
            },
        }
    }

    /// What a document of `kind` keeps: an alert's severity, a flow's key.
    fn of(&self, kind: DocKind) -> (Option<u64>, Option<FlowKey>) {
        match kind {
            DocKind::Alert => (self.severity(), None),
            DocKind::Flow => (None, self.flow_key()),
        }
    }

    fn severity(&self) -> Option<u64> {
        self.event.as_ref()?.severity
    }

    fn flow_key(&self) -> Option<FlowKey> {
        let flow = self.sonde.as_ref()?.flow.as_ref()?;
        let event = self.event.as_ref()?;
        Some(FlowKey {
            observer: Arc::from(&**flow.observers.first()?),
            record_id: flow.record_ids.first()?.to_string(),
            first_seen_us: crate::dedupe::parse_rfc3339_us(event.start.as_deref()?)?,
            community_id: self.network.as_ref()?.community_id.as_deref()?.to_owned(),
        })
    }
}

/// Which record a document comes from; outputs keep them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DocKind {
    Flow,
    Alert,
}

impl DocKind {
    /// Lowercase name, as used in file names and as syslog MSGID.
    pub fn as_str(self) -> &'static str {
        match self {
            DocKind::Flow => "flow",
            DocKind::Alert => "alert",
        }
    }
}

/// What happened to one document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Durable in the output.
    Accepted,
    /// The output already held a document with this id; counts as delivered.
    Duplicate,
    /// Not delivered this time (back-pressure, a temporary failure); send it again.
    Retry { reason: String },
    /// The output will never take this document; it goes to the dead-letter store.
    Rejected { reason: String },
}

/// The whole batch failed: nothing of it counts as delivered; retry later.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// A file or directory operation failed (disk full, permission, missing directory).
    #[error("cannot {action} {path}: {source}")]
    File {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// A network peer could not be reached or the connection broke.
    #[error("{peer}: {action}: {source}")]
    Network {
        peer: String,
        action: &'static str,
        source: std::io::Error,
    },
    /// TLS material could not be loaded.
    #[error("TLS: {0}")]
    Tls(#[from] sonde_common::tls::TlsError),
    /// The configuration cannot work; every problem, separated by "; ".
    /// Returned by constructors only.
    #[error("invalid sink configuration: {0}")]
    Config(String),
    /// The worker that did the blocking I/O died; the sink starts afresh next time.
    #[error("sink worker failed: {0}")]
    Worker(String),
    /// The output cannot be reached or is overloaded; try again later.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The output refuses to work with us until the operator fixes something
    /// (credentials, privileges, URL, version); the message says what.
    #[error("refused: {0}")]
    Refused(String),
}

/// An output for ECS documents.
pub trait Sink: Send {
    /// Short name for logs and metrics labels (`ndjson`, `syslog`, `elasticsearch`).
    fn name(&self) -> &str;

    /// Gets the output ready before the first delivery (Elasticsearch:
    /// version check and templates); called again after a failure.
    fn prepare(&mut self) -> impl std::future::Future<Output = Result<(), SinkError>> + Send {
        std::future::ready(Ok(()))
    }

    /// Delivers `docs`. Ok means one outcome per document, in order; an
    /// `Accepted` document is durable in the output when this returns (file:
    /// written and fsync'ed).
    fn deliver(
        &mut self,
        docs: &[Document],
    ) -> impl std::future::Future<Output = Result<Vec<Outcome>, SinkError>> + Send;
}

/// The JSON a file or syslog sink writes for `doc`: its body, compact, with
/// the document id as ECS `event.id`.
///
/// A body that is not a JSON object is not an ECS document: the error is the
/// reason to reject it.
pub(crate) fn ecs_json(doc: &Document) -> Result<&[u8], String> {
    if doc.json.first() == Some(&b'{') {
        return Ok(&doc.json);
    }
    let got = match doc.json.first() {
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b'n') => "null",
        Some(b't' | b'f') => "a boolean",
        Some(_) => "a number",
        None => "nothing",
    };
    Err(format!(
        "document {} is not a JSON object (got {got})",
        doc.id
    ))
}

/// UTC calendar fields of a Unix time in microseconds, or None when the time is
/// beyond year 9999 (RFC 3339 and RFC 5424 have four-digit years).
pub(crate) fn utc_fields(unix_us: u64) -> Option<time::OffsetDateTime> {
    let nanos = i128::from(unix_us) * 1_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn doc(body: Value) -> Document {
        Document::from_value("abc".into(), DocKind::Flow, 0, body)
    }

    fn parsed(doc: &Document) -> Value {
        serde_json::from_slice(ecs_json(doc).unwrap()).unwrap()
    }

    #[test]
    fn id_is_added_as_event_id_when_missing() {
        let out = parsed(&doc(json!({"event": {"kind": "event"}, "a": 1})));
        assert_eq!(
            out,
            json!({"event": {"kind": "event", "id": "abc"}, "a": 1})
        );
        let out = parsed(&doc(json!({"a": 1})));
        assert_eq!(out, json!({"event": {"id": "abc"}, "a": 1}));
    }

    #[test]
    fn an_existing_event_id_is_kept() {
        let body = json!({"event": {"id": "mine"}});
        assert_eq!(parsed(&doc(body.clone())), body);
    }

    #[test]
    fn a_body_that_is_not_an_object_is_refused_with_its_type() {
        let err = ecs_json(&doc(json!([1, 2]))).unwrap_err();
        assert!(err.contains("not a JSON object (got an array)"), "{err}");
    }

    #[test]
    fn times_beyond_year_9999_have_no_calendar_fields() {
        assert!(utc_fields(u64::MAX).is_none());
        assert_eq!(utc_fields(0).map(|t| t.year()), Some(1970));
    }
}
