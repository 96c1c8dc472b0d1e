//! The probe's export buffer: records waiting for the collector's
//! acknowledgement, numbered as they enter (proto/README.md).
//!
//! Invariants: entries are in sequence order; an entry stays until an `Ack`
//! covers it (sending does not remove it, so a reconnect resends everything
//! unacknowledged); the buffer never holds more than `max_records` records or
//! `max_bytes` encoded bytes. When full, an incoming flow is shed; an incoming
//! alert sheds the oldest flow not yet sent, or is itself shed when only
//! alerts and in-flight records remain. Every shed record is counted; its
//! sequence number is skipped, never reused, so batches stop at the gap.

use std::collections::VecDeque;

use prost::Message as _;
use sonde_proto::v1;

#[derive(Debug)]
struct Entry {
    seq: u64,
    record: v1::Record,
    size: usize,
}

impl Entry {
    fn is_flow(&self) -> bool {
        matches!(self.record.kind, Some(v1::record::Kind::Flow(_)))
    }
}

/// What was shed since start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Shed {
    pub flows: u64,
    pub alerts: u64,
}

#[derive(Debug)]
pub struct ExportBuffer {
    entries: VecDeque<Entry>,
    next_seq: u64,
    /// Highest sequence number sent on the current stream.
    sent_through: u64,
    /// Highest sequence number acknowledged.
    acked_through: u64,
    bytes: usize,
    max_records: usize,
    max_bytes: usize,
    shed: Shed,
}

impl ExportBuffer {
    pub fn new(max_records: usize, max_bytes: usize) -> Self {
        Self {
            entries: VecDeque::new(),
            next_seq: 1,
            sent_through: 0,
            acked_through: 0,
            bytes: 0,
            max_records: max_records.max(1),
            max_bytes: max_bytes.max(1),
            shed: Shed::default(),
        }
    }

    /// Adds a record, numbering it; returns false when it was shed.
    pub fn push(&mut self, record: v1::Record) -> bool {
        let seq = self.next_seq;
        self.next_seq += 1;
        let is_flow = matches!(record.kind, Some(v1::record::Kind::Flow(_)));
        let size = record.encoded_len();
        while self.entries.len() >= self.max_records || self.bytes + size > self.max_bytes {
            if is_flow || !self.shed_oldest_unsent_flow() {
                if is_flow {
                    self.shed.flows += 1
                } else {
                    self.shed.alerts += 1
                }
                return false;
            }
        }
        self.bytes += size;
        self.entries.push_back(Entry { seq, record, size });
        true
    }

    fn shed_oldest_unsent_flow(&mut self) -> bool {
        let sent = self.sent_through;
        let Some(i) = self
            .entries
            .iter()
            .position(|e| e.seq > sent && e.is_flow())
        else {
            return false;
        };
        if let Some(e) = self.entries.remove(i) {
            self.bytes -= e.size;
            self.shed.flows += 1;
        }
        true
    }

    /// The next contiguous run of unsent records, up to the limits (always at
    /// least one record when any is unsent); marks it sent.
    pub fn next_batch(&mut self, max_records: usize, max_bytes: usize) -> Option<v1::Batch> {
        let sent = self.sent_through;
        let start = self.entries.iter().position(|e| e.seq > sent)?;
        let first_seq = self.entries.get(start)?.seq;
        let (mut records, mut bytes) = (Vec::new(), 0);
        for (expected, e) in (first_seq..).zip(self.entries.iter().skip(start)) {
            let full =
                records.len() >= max_records || (!records.is_empty() && bytes + e.size > max_bytes);
            if e.seq != expected || full {
                break;
            }
            bytes += e.size;
            records.push(e.record.clone());
        }
        self.sent_through = first_seq + records.len() as u64 - 1;
        Some(v1::Batch {
            first_seq,
            records,
            observer: String::new(),
        })
    }

    /// Encoded bytes and age-defining first entry of what is not yet sent.
    pub fn unsent(&self) -> (usize, usize) {
        let sent = self.sent_through;
        self.entries
            .iter()
            .filter(|e| e.seq > sent)
            .fold((0, 0), |(n, b), e| (n + 1, b + e.size))
    }

    /// Forgets everything through `seq`: the collector has it.
    pub fn ack(&mut self, through: u64) {
        self.acked_through = self.acked_through.max(through);
        while self.entries.front().is_some_and(|e| e.seq <= through) {
            if let Some(e) = self.entries.pop_front() {
                self.bytes -= e.size;
            }
        }
        self.sent_through = self.sent_through.max(through);
    }

    /// Sends again from `from_seq` (a Nack), or from the first unacknowledged
    /// record (a new stream).
    pub fn rewind(&mut self, from_seq: Option<u64>) {
        let from = from_seq
            .unwrap_or(self.acked_through + 1)
            .max(self.acked_through + 1);
        self.sent_through = from - 1;
    }

    /// The `Hello.first_unacked_seq` of a new stream.
    pub fn first_unacked(&self) -> u64 {
        self.entries.front().map_or(self.next_seq, |e| e.seq)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn shed(&self) -> Shed {
        self.shed
    }

    /// Whether every record was acknowledged.
    pub fn all_acked(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(id: u64) -> v1::Record {
        v1::Record {
            kind: Some(v1::record::Kind::Flow(Box::new(v1::Flow {
                flow_id: id,
                ..Default::default()
            }))),
        }
    }

    fn alert(key: &str) -> v1::Record {
        v1::Record {
            kind: Some(v1::record::Kind::Alert(Box::new(v1::Alert {
                rule_key: key.into(),
                ..Default::default()
            }))),
        }
    }

    fn ids(b: &v1::Batch) -> Vec<u64> {
        b.records
            .iter()
            .map(|r| match &r.kind {
                Some(v1::record::Kind::Flow(f)) => f.flow_id,
                _ => 0,
            })
            .collect()
    }

    #[test]
    fn records_are_numbered_batched_and_dropped_only_when_acknowledged() {
        let mut b = ExportBuffer::new(100, 1 << 20);
        for i in 1..=5 {
            assert!(b.push(flow(i)));
        }
        let batch = b.next_batch(3, 1 << 20).unwrap();
        assert_eq!((batch.first_seq, ids(&batch)), (1, vec![1, 2, 3]));
        let batch = b.next_batch(3, 1 << 20).unwrap();
        assert_eq!((batch.first_seq, ids(&batch)), (4, vec![4, 5]));
        assert!(b.next_batch(3, 1 << 20).is_none());
        b.ack(3);
        assert_eq!((b.len(), b.first_unacked()), (2, 4));
        // A reconnect resends everything unacknowledged.
        b.rewind(None);
        assert_eq!(b.next_batch(10, 1 << 20).unwrap().first_seq, 4);
        b.ack(5);
        assert!(b.all_acked());
        assert_eq!(b.first_unacked(), 6);
    }

    #[test]
    fn a_full_buffer_sheds_flows_before_alerts_and_counts_them() {
        let mut b = ExportBuffer::new(3, 1 << 20);
        assert!(b.push(flow(1)));
        assert!(b.push(alert("a")));
        assert!(b.push(flow(3)));
        assert!(!b.push(flow(4)), "a new flow is shed when full");
        assert!(
            b.push(alert("b")),
            "an alert pushes out the oldest unsent flow"
        );
        assert_eq!(
            b.shed(),
            Shed {
                flows: 2,
                alerts: 0
            }
        );
        // Now only alerts and flow 3 remain; sending everything makes them in-flight.
        let _ = b.next_batch(10, 1 << 20);
        assert!(!b.push(alert("c")), "in-flight records are never shed");
        assert_eq!(
            b.shed(),
            Shed {
                flows: 2,
                alerts: 1
            }
        );
    }

    #[test]
    fn batches_stop_at_the_gap_a_shed_record_leaves() {
        let mut b = ExportBuffer::new(2, 1 << 20);
        b.push(flow(1));
        b.push(flow(2));
        b.push(flow(3)); // shed: seq 3 is skipped
        b.ack(2);
        b.push(flow(4)); // seq 4
        let batch = b.next_batch(10, 1 << 20).unwrap();
        assert_eq!((batch.first_seq, ids(&batch)), (4, vec![4]));
    }

    #[test]
    fn a_nack_rewinds_to_its_first_sequence_number() {
        let mut b = ExportBuffer::new(10, 1 << 20);
        for i in 1..=4 {
            b.push(flow(i));
        }
        let _ = b.next_batch(2, 1 << 20);
        let _ = b.next_batch(2, 1 << 20);
        b.ack(2);
        b.rewind(Some(3));
        assert_eq!(b.next_batch(10, 1 << 20).unwrap().first_seq, 3);
    }

    #[test]
    fn the_byte_limit_bounds_the_buffer_and_batches() {
        let one = flow(1).encoded_len();
        let mut b = ExportBuffer::new(1000, one * 3);
        for i in 1..=5 {
            b.push(flow(i));
        }
        assert_eq!(b.len(), 3);
        assert!(b.bytes() <= one * 3);
        let batch = b.next_batch(100, one * 2).unwrap();
        assert_eq!(batch.records.len(), 2);
    }
}
