//! The in-memory dedupe window: flow ids a collector process delivered
//! recently, with who observed them and, for Elasticsearch, the index that
//! holds them.
//!
//! Bounded: entries leave oldest first, silently once their flow started more
//! than two windows before the newest one seen (no probe can still match
//! them), counted as evictions (`sonde_collector_dedupe_evictions_total`) when
//! the capacity forces them out earlier.

use std::collections::VecDeque;
use std::hash::BuildHasher as _;
use std::time::{Duration, Instant};

use hashbrown::HashTable;

use sonde_common::telemetry::names;

use super::{DedupeSettings, Seen};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub seen: Seen,
    /// Elasticsearch: the backing index of the document.
    pub index: Option<String>,
}

/// One remembered flow id.
#[derive(Debug)]
struct Slot {
    id: Box<str>,
    /// Insertion number: what the order queue names it by.
    n: u64,
    entry: Entry,
}

/// A remembered flow id in insertion order: its hash and insertion number
/// find its slot without hashing or comparing the id again.
#[derive(Debug)]
struct Noted {
    hash: u64,
    n: u64,
    first_seen_us: u64,
}

#[derive(Debug)]
pub struct Window {
    slots: HashTable<Slot>,
    hasher: hashbrown::DefaultHashBuilder,
    order: VecDeque<Noted>,
    next: u64,
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
            slots: HashTable::new(),
            hasher: hashbrown::DefaultHashBuilder::default(),
            order: VecDeque::new(),
            next: 0,
            capacity: settings.memory_flows.max(1),
            horizon_us: settings.window_us().saturating_mul(2),
            newest_us: 0,
            evictions: 0,
            unreported: 0,
            reported_at: Instant::now(),
        }
    }

    fn hash(&self, id: &str) -> u64 {
        self.hasher.hash_one(id)
    }

    pub fn get(&self, id: &str) -> Option<&Entry> {
        self.slots
            .find(self.hash(id), |slot| &*slot.id == id)
            .map(|slot| &slot.entry)
    }

    /// Remembers (or updates) `id` (a `String` is kept without a copy).
    pub fn note(&mut self, id: impl AsRef<str> + Into<Box<str>>, entry: Entry) {
        let first = entry.seen.first_seen_us;
        self.newest_us = self.newest_us.max(first);
        let hash = self.hash(id.as_ref());
        let hasher = &self.hasher;
        let slot = self.slots.entry(
            hash,
            |slot| *slot.id == *id.as_ref(),
            |slot| hasher.hash_one(&*slot.id),
        );
        if let hashbrown::hash_table::Entry::Occupied(mut old) = slot {
            old.get_mut().entry = entry;
            return;
        }
        let n = self.next;
        self.next += 1;
        slot.insert(Slot {
            id: id.into(),
            n,
            entry,
        });
        self.order.push_back(Noted {
            hash,
            n,
            first_seen_us: first,
        });
        self.expire();
        self.report_evictions();
    }

    /// Changes the entry of `id`, if it is remembered.
    pub fn update(&mut self, id: &str, change: impl FnOnce(&mut Entry)) {
        let hash = self.hash(id);
        if let Some(slot) = self.slots.find_mut(hash, |slot| &*slot.id == id) {
            change(&mut slot.entry);
        }
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
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
        while let Some(oldest) = self.order.front() {
            let old = oldest.first_seen_us.saturating_add(self.horizon_us) < self.newest_us;
            let full = self.slots.len() > self.capacity;
            if !old && !full {
                break;
            }
            if !old {
                self.evictions += 1;
                self.unreported += 1;
            }
            if let Some(gone) = self.order.pop_front()
                && let Ok(slot) = self.slots.find_entry(gone.hash, |slot| slot.n == gone.n)
            {
                slot.remove();
            }
        }
    }
}
