//! Attribution of IP fragments to flows.
//!
//! Only the first fragment of a datagram carries the transport header. The
//! tracker remembers its ports under (source, destination, protocol, IP id) so
//! that later fragments count towards the same flow. Bounded: at most
//! `capacity` datagrams, each forgotten after `timeout` of packet time (RFC 791
//! suggests 15 s for reassembly; Linux uses 30 s). Later fragments seen before
//! their first fragment, or after it was forgotten, are reported as
//! unattributed and counted by the caller.

use std::collections::HashMap;
use std::net::IpAddr;

use super::{Decoded, Fragment};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Key {
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    id: u32,
}

#[derive(Clone, Copy, Debug)]
struct Ports {
    src: u16,
    dst: u16,
    seen_us: u64,
}

/// What the tracker did with a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attribution {
    /// Not a fragment, or a first fragment (recorded).
    Whole,
    /// A later fragment given the ports of its first fragment.
    Attributed,
    /// A later fragment whose first fragment is unknown.
    Unattributed,
}

#[derive(Debug)]
pub struct FragmentTracker {
    datagrams: HashMap<Key, Ports>,
    capacity: usize,
    timeout_us: u64,
    last_sweep_us: u64,
}

impl FragmentTracker {
    pub fn new(capacity: usize, timeout_us: u64) -> Self {
        Self {
            datagrams: HashMap::new(),
            capacity: capacity.max(1),
            timeout_us,
            last_sweep_us: 0,
        }
    }

    /// Records a first fragment, or fills a later fragment's ports.
    pub fn observe(&mut self, p: &mut Decoded<'_>, now_us: u64) -> Attribution {
        let (id, first) = match p.fragment {
            Fragment::None => return Attribution::Whole,
            Fragment::First { id } => (id, true),
            Fragment::Later { id } => (id, false),
        };
        self.sweep(now_us);
        let key = Key {
            src: p.src,
            dst: p.dst,
            proto: p.proto,
            id,
        };
        if first {
            if self.datagrams.len() >= self.capacity && !self.datagrams.contains_key(&key) {
                self.evict_oldest();
            }
            self.datagrams.insert(
                key,
                Ports {
                    src: p.src_port,
                    dst: p.dst_port,
                    seen_us: now_us,
                },
            );
            return Attribution::Whole;
        }
        match self.datagrams.get_mut(&key) {
            Some(ports) => {
                ports.seen_us = now_us;
                p.src_port = ports.src;
                p.dst_port = ports.dst;
                Attribution::Attributed
            }
            None => Attribution::Unattributed,
        }
    }

    pub fn len(&self) -> usize {
        self.datagrams.len()
    }

    pub fn is_empty(&self) -> bool {
        self.datagrams.is_empty()
    }

    /// Drops expired datagrams, at most once per second of packet time.
    fn sweep(&mut self, now_us: u64) {
        if now_us.saturating_sub(self.last_sweep_us) < 1_000_000 {
            return;
        }
        self.last_sweep_us = now_us;
        let timeout = self.timeout_us;
        self.datagrams
            .retain(|_, p| now_us.saturating_sub(p.seen_us) <= timeout);
    }

    fn evict_oldest(&mut self) {
        if let Some(oldest) = self
            .datagrams
            .iter()
            .min_by_key(|(_, p)| p.seen_us)
            .map(|(k, _)| *k)
        {
            self.datagrams.remove(&oldest);
        }
    }
}
