//! The in-memory dedupe window: flow ids a collector process delivered
//! recently, with who observed them and, for Elasticsearch, the index that
//! holds them.
//!
//! Bounded: entries leave oldest first, silently once their flow started more
//! than two windows before the newest one seen (no probe can still match
//! them), counted as evictions (`sonde_collector_dedupe_evictions_total`) when
//! the capacity forces them out earlier.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use hashbrown::HashMap;
use std::sync::Arc;

use sonde_common::telemetry::names;

use super::{DedupeSettings, Seen};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub seen: Seen,
    /// Elasticsearch: the backing index of the document.
    pub index: Option<String>,
}

#[derive(Debug)]
pub struct Window {
    entries: HashMap<Arc<str>, Entry>,
    /// Insertion order: (id, first_seen_us).
    order: VecDeque<(Arc<str>, u64)>,
    capacity: usize,
    horizon_us: u64,
    newest_us: u64,
    evictions: u64,
    /// Evictions not yet added to the metric, and when it was last updated.
    unreported: u64,
    reported_at: Instant,
}

impl Window {
    pub fn new(settings: &DedupeSettings) -> Self {
        Self {
            entries: HashMap::new(),
            order: VecDeque::new(),
            capacity: settings.memory_flows.max(1),
            horizon_us: settings.window_us().saturating_mul(2),
            newest_us: 0,
            evictions: 0,
            unreported: 0,
            reported_at: Instant::now(),
        }
    }

    pub fn get(&self, id: &str) -> Option<&Entry> {
        self.entries.get(id)
    }

    /// Remembers (or updates) `id`.
    pub fn note(&mut self, id: &str, entry: Entry) {
        let first = entry.seen.first_seen_us;
        self.newest_us = self.newest_us.max(first);
        if let Some(old) = self.entries.get_mut(id) {
            *old = entry;
            return;
        }
        let key: Arc<str> = Arc::from(id);
        self.entries.insert(Arc::clone(&key), entry);
        self.order.push_back((key, first));
        self.expire();
        self.report_evictions();
    }

    /// Changes the entry of `id`, if it is remembered.
    pub fn update(&mut self, id: &str, change: impl FnOnce(&mut Entry)) {
        if let Some(entry) = self.entries.get_mut(id) {
            change(entry);
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries forced out by the capacity so far.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// Adds evictions to the metric in bunches (under load every new flow
    /// evicts one; a metric update per flow costs more than the window).
    fn report_evictions(&mut self) {
        if self.unreported >= 256
            || (self.unreported > 0 && self.reported_at.elapsed() >= Duration::from_secs(1))
        {
            metrics::counter!(names::COLLECTOR_DEDUPE_EVICTIONS).increment(self.unreported);
            self.unreported = 0;
            self.reported_at = Instant::now();
        }
    }

    fn expire(&mut self) {
        while let Some((_, first)) = self.order.front() {
            let old = first.saturating_add(self.horizon_us) < self.newest_us;
            let full = self.entries.len() > self.capacity;
            if !old && !full {
                break;
            }
            if !old {
                self.evictions += 1;
                self.unreported += 1;
            }
            if let Some((id, _)) = self.order.pop_front() {
                self.entries.remove(&id);
            }
        }
    }
}
