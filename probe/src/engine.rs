//! The per-packet path of one capture source: decode, fragment attribution,
//! flow table. Counts every packet it could not use, by reason. Plain
//! counters, no atomics: the owner publishes them periodically.

use sonde_proto::v1;

use crate::capture::Packet;
use crate::decode::fragments::{Attribution, FragmentTracker};
use crate::decode::{self, LinkType, Skip};
use crate::flow::{FlowSettings, FlowTable};

/// Datagrams whose first fragment is remembered, and for how long.
const FRAGMENT_CAPACITY: usize = 8192;
const FRAGMENT_TIMEOUT_US: u64 = 30_000_000;

/// What one engine saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub packets: u64,
    pub bytes: u64,
    /// Indexed like [`Skip::ALL`].
    pub skipped: [u64; Skip::ALL.len()],
    pub fragments_attributed: u64,
    pub fragments_unattributed: u64,
}

impl Counters {
    pub fn skipped_total(&self) -> u64 {
        self.skipped.iter().sum()
    }

    /// `(reason, count)` for every reason that occurred.
    pub fn skipped_by_reason(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        Skip::ALL
            .iter()
            .zip(self.skipped)
            .filter(|(_, n)| *n > 0)
            .map(|(s, n)| (s.name(), n))
    }
}

#[derive(Debug)]
pub struct Engine {
    link: LinkType,
    fragments: FragmentTracker,
    table: FlowTable,
    counters: Counters,
}

impl Engine {
    pub fn new(link: LinkType, interface: &str, settings: FlowSettings) -> Self {
        Self {
            link,
            fragments: FragmentTracker::new(FRAGMENT_CAPACITY, FRAGMENT_TIMEOUT_US),
            table: FlowTable::new(settings, interface),
            counters: Counters::default(),
        }
    }

    /// One captured frame; finished flow records go to `out`.
    pub fn packet(&mut self, packet: &Packet<'_>, out: &mut Vec<v1::Flow>) {
        self.counters.packets += 1;
        self.counters.bytes += u64::from(packet.wire_len);
        let mut decoded = decode::Decoded::empty();
        // Decoded into a local rather than returned: see `decode_into`.
        if let Err(skip) = decode::decode_into(self.link, packet.data, &mut decoded) {
            self.count_skip(skip);
            // Time still moves on for expiry.
            self.table.advance(packet.ts_us, out);
            return;
        }
        match self.fragments.observe(&mut decoded, packet.ts_us) {
            Attribution::Whole => {}
            Attribution::Attributed => self.counters.fragments_attributed += 1,
            // Without its first fragment there are no ports: no flow to
            // attribute it to. Counted, not guessed.
            Attribution::Unattributed => {
                self.counters.fragments_unattributed += 1;
                self.table.advance(packet.ts_us, out);
                return;
            }
        }
        self.table.process(&decoded, packet.ts_us, out);
    }

    /// A live source was idle: expire flows as of `now_us`.
    pub fn idle(&mut self, now_us: u64, out: &mut Vec<v1::Flow>) {
        self.table.advance(now_us, out);
    }

    /// Ends up to `max` flows (end of file, shutdown); true while flows remain.
    pub fn finish_some(&mut self, max: usize, out: &mut Vec<v1::Flow>) -> bool {
        self.table.flush(max, out)
    }

    /// Ends every flow at once; for small tables and tests.
    pub fn finish(&mut self, out: &mut Vec<v1::Flow>) {
        while self.table.flush(usize::MAX, out) {}
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    pub fn table(&self) -> &FlowTable {
        &self.table
    }

    fn count_skip(&mut self, skip: Skip) {
        if let Some(i) = Skip::ALL.iter().position(|s| *s == skip) {
            self.counters.skipped[i] += 1;
        }
    }
}
