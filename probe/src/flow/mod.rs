//! Flow table: decoded packets in, bidirectional flow records
//! (`sonde_proto::v1::Flow`) out.
//!
//! Design note (expiry):
//! - A flow is keyed by its canonical 5-tuple plus the outer VLAN id
//!   ([`FlowKey`]); the client (originator) is the SYN sender, else the first
//!   packet's sender; a first packet that is a SYN+ACK makes its receiver the
//!   client, and the history starts with `^` as in Zeek.
//! - Time is the packets' capture time only, never a clock: the table expires
//!   flows when [`FlowTable::advance`] is called with a packet timestamp, so a
//!   replay gives the same records every run.
//! - A flow ends after `idle_timeout` without packets (`closed_timeout` once a
//!   TCP flow saw FIN or RST; per-protocol overrides); a flow older than
//!   `active_timeout` emits an interim record (counters of the interval, then
//!   reset; TCP analysis and history stay cumulative) and goes on; when the
//!   table is full the longest-idle flow is evicted (counted); shutdown
//!   flushes every flow. Every record carries its end reason.
//! - Flows are kept in least-recently-seen order (an intrusive list over a
//!   slab, see `table`), so both eviction and the idle sweep start at the
//!   front and stop at the first flow too young to expire: no full scans.

mod history;
mod record;
mod table;
pub mod tcp;

pub use history::EndpointState;
pub use table::{FlowKey, FlowTable, TableStats};

use std::collections::HashMap;

use sonde_common::community_id::CommunityId;

use crate::classify::DpiSettings;

/// Flow table settings, in microseconds of packet time.
#[derive(Clone, Debug)]
pub struct FlowSettings {
    pub idle_timeout_us: u64,
    pub closed_timeout_us: u64,
    pub active_timeout_us: u64,
    /// Idle timeout per IP protocol number, overriding `idle_timeout_us`.
    pub idle_by_protocol: HashMap<u8, u64>,
    pub max_flows: usize,
    pub community_id: CommunityId,
    pub dpi: DpiSettings,
}

impl Default for FlowSettings {
    fn default() -> Self {
        Self {
            idle_timeout_us: 60_000_000,
            closed_timeout_us: 15_000_000,
            active_timeout_us: 300_000_000,
            idle_by_protocol: HashMap::new(),
            max_flows: 131_072,
            community_id: CommunityId::default(),
            dpi: DpiSettings::default(),
        }
    }
}
