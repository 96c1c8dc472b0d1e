//! Cross-probe deduplication of flow documents: the stage between the ECS
//! mapping and the outputs that makes the same flow, seen by two probes on
//! overlapping segments, one document listing both observers.
//!
//! Design note (see also docs/architecture.md, "Deduplication"):
//!
//! - A flow document's id does not depend on who saw it: SHA-1 over the
//!   Community ID and the bucket of its first packet's time (`first_seen`
//!   divided by `dedupe.window`). Any collector replica computes the same id,
//!   so in Elasticsearch the second probe's `create` is a 409 on the first
//!   probe's document.
//! - Every flow document carries `sonde.flow.observers` (probe identities)
//!   and `sonde.flow.record_ids` (per-probe record ids: identity, interface,
//!   probe flow id, interval start, Community ID). On a collision the existing
//!   document is judged ([`judge`]):
//!   - the record id is already listed: a resend, nothing to do;
//!   - another observer whose `first_seen` is within `dedupe.tolerance`: the
//!     same flow, the observer is added (merge);
//!   - anything else (the same probe with another flow of the same Community
//!     ID in one window, or a start too far apart): a distinct flow, written
//!     under its per-probe record id ([`Mark::fallback_id`]), so nothing is
//!     lost and a resend of it is still a duplicate.
//! - A flow that starts within `tolerance` of a bucket boundary may have been
//!   written by another probe under the neighbouring bucket's id: that id is
//!   looked up first ([`Mark::neighbour`]).
//! - Interim records of one flow start at different times, so they fall in
//!   different buckets (or collide and are judged distinct): separate documents.
//! - Alerts are not deduplicated: their ids name their probe.
//!
//! [`window::Window`] is the bounded in-memory memory of recent flows, used by
//! the append-only outputs ([`memory::Deduped`]) and by Elasticsearch as a cache.

pub mod memory;
pub mod window;

use serde_json::Value;
use sha1::{Digest as _, Sha1};

use crate::sink::{DocKind, Document};

/// `[dedupe]` settings, resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DedupeSettings {
    /// Width of the time buckets of flow ids.
    pub window: std::time::Duration,
    /// How far apart two probes' first packet times of one flow may be.
    pub tolerance: std::time::Duration,
    /// Flows the in-memory window remembers (per collector process).
    pub memory_flows: usize,
}

impl Default for DedupeSettings {
    fn default() -> Self {
        Self {
            window: std::time::Duration::from_secs(60),
            tolerance: std::time::Duration::from_secs(2),
            memory_flows: 100_000,
        }
    }
}

impl DedupeSettings {
    fn window_us(&self) -> u64 {
        u64::try_from(self.window.as_micros())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    fn tolerance_us(&self) -> u64 {
        u64::try_from(self.tolerance.as_micros()).unwrap_or(u64::MAX)
    }
}

/// The observer-independent id of a flow starting at `first_seen_us` with
/// `community_id`, and the neighbouring bucket's id when the start is within
/// the tolerance of a bucket boundary.
pub fn flow_ids(
    community_id: &str,
    first_seen_us: u64,
    settings: &DedupeSettings,
) -> (String, Option<String>) {
    (
        bucket_flow_id(community_id, first_seen_us, settings),
        neighbour_id(community_id, first_seen_us, settings),
    )
}

/// The id of [`flow_ids`] alone.
pub fn bucket_flow_id(community_id: &str, first_seen_us: u64, settings: &DedupeSettings) -> String {
    bucket_id(community_id, first_seen_us / settings.window_us())
}

/// The neighbouring bucket's id of [`flow_ids`] alone (no hashing for
/// starts away from a boundary).
pub fn neighbour_id(
    community_id: &str,
    first_seen_us: u64,
    settings: &DedupeSettings,
) -> Option<String> {
    let window = settings.window_us();
    let bucket = first_seen_us / window;
    let offset = first_seen_us % window;
    let tolerance = settings.tolerance_us();
    let neighbour = if offset < tolerance && bucket > 0 {
        Some(bucket - 1)
    } else if window - offset <= tolerance {
        bucket.checked_add(1)
    } else {
        None
    };
    neighbour.map(|b| bucket_id(community_id, b))
}

fn bucket_id(community_id: &str, bucket: u64) -> String {
    let mut h = Sha1::new();
    h.update(b"flow-v2");
    h.update((community_id.len() as u64).to_be_bytes());
    h.update(community_id.as_bytes());
    h.update(bucket.to_be_bytes());
    sha1_hex(h)
}

/// The SHA-1 digest as 40 lowercase hex digits (ids are made for every
/// record: written in one go, not character by character).
pub(crate) fn sha1_hex(h: Sha1) -> String {
    let mut text = [0u8; 40];
    // 20 bytes always fit 40 digits; both lengths are fixed.
    let _ = hex::encode_to_slice(h.finalize(), &mut text);
    std::str::from_utf8(&text).unwrap_or_default().to_owned()
}

/// What a new flow document says about itself (borrowed from its
/// [`crate::sink::FlowKey`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mark<'a> {
    pub observer: &'a str,
    /// Its per-probe record id: also the id it is written under when it is a
    /// distinct flow.
    pub fallback_id: &'a str,
    pub first_seen_us: u64,
    /// The neighbouring bucket's id, for a start near a bucket boundary.
    pub neighbour: Option<String>,
}

/// The dedupe facts of a new flow document; None for alerts and for flows
/// that are not deduplicated (no Community ID: their id is the record id).
pub fn mark<'a>(doc: &'a Document, settings: &DedupeSettings) -> Option<Mark<'a>> {
    if doc.kind != DocKind::Flow {
        return None;
    }
    let key = doc.flow.as_ref()?;
    // A document under its record id (no Community ID, or rewritten as a
    // distinct flow) is not looked up again.
    if key.record_id == doc.id {
        return None;
    }
    Some(Mark {
        observer: &key.observer,
        fallback_id: &key.record_id,
        first_seen_us: key.first_seen_us,
        neighbour: neighbour_id(&key.community_id, key.first_seen_us, settings),
    })
}

/// The dedupe facts of a flow document already in an output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub observers: Vec<String>,
    pub record_ids: Vec<String>,
    pub first_seen_us: u64,
}

impl Seen {
    /// Reads `sonde.flow.observers`, `sonde.flow.record_ids` and
    /// `event.start` of a flow document; None when one is missing.
    pub fn of(body: &Value) -> Option<Seen> {
        let flow = body.get("sonde")?.get("flow")?;
        let strings = |key: &str| -> Option<Vec<String>> {
            flow.get(key)?
                .as_array()?
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect()
        };
        let observers = strings("observers")?;
        let record_ids = strings("record_ids")?;
        let start = body.get("event")?.get("start")?.as_str()?;
        Some(Seen {
            observers,
            record_ids,
            first_seen_us: parse_rfc3339_us(start)?,
        })
    }

    /// What a new document that passed adds to memory.
    pub fn from_mark(mark: &Mark<'_>) -> Seen {
        Seen {
            observers: vec![mark.observer.to_owned()],
            record_ids: vec![mark.fallback_id.to_owned()],
            first_seen_us: mark.first_seen_us,
        }
    }

    /// Adds the observer and record of `mark` (a merge).
    pub fn add(&mut self, mark: &Mark<'_>) {
        if !self.observers.iter().any(|o| o == mark.observer) {
            self.observers.push(mark.observer.to_owned());
        }
        if !self.record_ids.iter().any(|r| r == mark.fallback_id) {
            self.record_ids.push(mark.fallback_id.to_owned());
        }
    }

    /// Writes the lists into a flow document's body.
    pub fn write_into(&self, body: &mut Value) {
        let Some(root) = body.as_object_mut() else {
            return;
        };
        let sonde = root
            .entry("sonde")
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
        let Some(flow) = sonde.as_object_mut().map(|s| {
            s.entry("flow")
                .or_insert_with(|| Value::Object(serde_json::Map::new()))
        }) else {
            return;
        };
        if let Some(flow) = flow.as_object_mut() {
            flow.insert("observers".into(), self.observers.clone().into());
            flow.insert("record_ids".into(), self.record_ids.clone().into());
        }
    }
}

/// What a new flow document is, next to the document that holds its id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The same record again: delivered already.
    Resend,
    /// The same flow from another probe: add the observer.
    Merge,
    /// Another flow that happens to share the id: write it under its own.
    Distinct,
}

pub fn judge(existing: &Seen, new: &Mark<'_>, settings: &DedupeSettings) -> Verdict {
    if existing.record_ids.iter().any(|r| r == new.fallback_id) {
        return Verdict::Resend;
    }
    if existing.observers.iter().any(|o| o == new.observer) {
        return Verdict::Distinct;
    }
    if existing.first_seen_us.abs_diff(new.first_seen_us) <= settings.tolerance_us() {
        Verdict::Merge
    } else {
        Verdict::Distinct
    }
}

/// `doc` rewritten under its per-probe record id (a distinct flow; rare, so
/// the JSON is read back and written again).
pub fn under_own_id(doc: &Document, mark: &Mark<'_>) -> Document {
    let mut body = doc.body();
    if let Some(event) = body.get_mut("event").and_then(Value::as_object_mut) {
        event.insert("id".into(), mark.fallback_id.into());
    }
    Document {
        id: mark.fallback_id.to_owned(),
        json: serde_json::to_vec(&body).unwrap_or_default().into(),
        ..doc.clone()
    }
}

/// Unix microseconds of an RFC 3339 UTC time as sonde writes it
/// (`2026-11-25T10:00:00.123456Z`, any number of fraction digits).
pub(crate) fn parse_rfc3339_us(text: &str) -> Option<u64> {
    let (date, time) = text.strip_suffix('Z')?.split_once('T')?;
    let mut d = date.splitn(3, '-');
    let year: i32 = d.next()?.parse().ok()?;
    let month: u8 = d.next()?.parse().ok()?;
    let day: u8 = d.next()?.parse().ok()?;
    let (hms, fraction) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.splitn(3, ':');
    let (h, m, s): (u8, u8, u8) = (
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
    );
    let date =
        time::Date::from_calendar_date(year, time::Month::try_from(month).ok()?, day).ok()?;
    let at = date.with_hms(h, m, s).ok()?.assume_utc();
    let mut micros = 0u64;
    for c in fraction.chars().chain(std::iter::repeat('0')).take(6) {
        micros = micros * 10 + u64::from(c.to_digit(10)?);
    }
    let secs = u64::try_from(at.unix_timestamp()).ok()?;
    secs.checked_mul(1_000_000)?.checked_add(micros)
}

#[cfg(test)]
mod tests;
