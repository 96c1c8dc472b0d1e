//! The probe flows the correlator remembers for alerts that come after
//! them, by canonical 5-tuple: the latest record per probe flow id, evicted
//! oldest-first beyond `max` flows.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use sonde_proto::v1;

use super::eve::EveEvent;
use crate::alert::build;

/// The 5-tuple with its endpoints in canonical order (ICMP without ports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct TupleKey {
    proto: u8,
    a: (IpAddr, u16),
    b: (IpAddr, u16),
}

impl TupleKey {
    fn new(proto: u8, x: (IpAddr, u16), y: (IpAddr, u16)) -> Self {
        let (x, y) = if matches!(proto, 1 | 58) {
            ((x.0, 0), (y.0, 0))
        } else {
            (x, y)
        };
        let (a, b) = if x <= y { (x, y) } else { (y, x) };
        Self { proto, a, b }
    }

    pub(crate) fn of_flow(flow: &v1::Flow) -> Option<Self> {
        let (client, server) = build::endpoints(flow)?;
        let port = |e: &Option<v1::Endpoint>| {
            e.as_ref()
                .and_then(|e| u16::try_from(e.port).ok())
                .unwrap_or(0)
        };
        let proto = u8::try_from(flow.ip_protocol).ok()?;
        Some(Self::new(
            proto,
            (client, port(&flow.client)),
            (server, port(&flow.server)),
        ))
    }

    pub(crate) fn of_event(e: &EveEvent) -> Option<Self> {
        Some(Self::new(
            e.proto?,
            (e.src_ip?, e.src_port.unwrap_or(0)),
            (e.dest_ip?, e.dest_port.unwrap_or(0)),
        ))
    }
}

/// An alert time within a flow's lifetime, widened by `window`.
pub(crate) fn within(flow: &v1::Flow, t: u64, window: u64) -> bool {
    flow.first_seen_us.saturating_sub(window) <= t && t <= flow.last_seen_us.saturating_add(window)
}

/// Recent flows by 5-tuple, and their insertion order for eviction.
#[derive(Debug)]
pub(crate) struct RecentFlows {
    flows: HashMap<TupleKey, Vec<v1::Flow>>,
    order: VecDeque<(TupleKey, u64)>,
    max: usize,
}

impl RecentFlows {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            flows: HashMap::new(),
            order: VecDeque::new(),
            max,
        }
    }

    /// Remembers a record (replacing an earlier record of the same flow);
    /// returns how many flows were evicted.
    pub(crate) fn insert(&mut self, key: TupleKey, flow: &v1::Flow) -> u64 {
        let same = self.flows.entry(key).or_default();
        if let Some(old) = same.iter_mut().find(|f| f.flow_id == flow.flow_id) {
            // A later (interim or final) record of the same flow.
            *old = flow.clone();
            return 0;
        }
        same.push(flow.clone());
        self.order.push_back((key, flow.flow_id));
        let mut evicted = 0;
        while self.order.len() > self.max {
            let Some((k, id)) = self.order.pop_front() else {
                break;
            };
            if let Some(list) = self.flows.get_mut(&k) {
                list.retain(|f| f.flow_id != id);
                if list.is_empty() {
                    self.flows.remove(&k);
                }
            }
            evicted += 1;
        }
        evicted
    }

    /// The flow of this 5-tuple that best holds time `t` (inside it, else
    /// the nearest within `window`).
    pub(crate) fn best(&self, key: &TupleKey, t: u64, window: u64) -> Option<v1::Flow> {
        self.flows
            .get(key)?
            .iter()
            .filter(|f| within(f, t, window))
            .min_by_key(|f| {
                if t < f.first_seen_us {
                    f.first_seen_us - t
                } else {
                    t.saturating_sub(f.last_seen_us)
                }
            })
            .cloned()
    }
}
