//! The flow table proper: lookup, creation, per-packet update, expiry.

use std::net::IpAddr;
use std::sync::Arc;

use hashlink::LinkedHashMap;
use sonde_proto::v1;

use super::FlowSettings;
use super::history::History;
use super::tcp::TcpFlow;
use crate::decode::{Decoded, proto};

/// Canonical flow key: the endpoint with the smaller (address, port) first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowKey {
    lo: (IpAddr, u16),
    hi: (IpAddr, u16),
    proto: u8,
    vlan: u16,
}

impl FlowKey {
    /// The key of a packet and whether its source is the key's `lo` end.
    pub fn of(p: &Decoded<'_>) -> (FlowKey, bool) {
        let (sport, dport) = key_ports(p);
        let (src, dst) = ((p.src, sport), (p.dst, dport));
        let src_is_lo = src <= dst;
        let (lo, hi) = if src_is_lo { (src, dst) } else { (dst, src) };
        (
            FlowKey {
                lo,
                hi,
                proto: p.proto,
                vlan: p.vlan,
            },
            src_is_lo,
        )
    }
}

/// ICMP requests and replies share a flow: map type/code the Community ID way.
fn key_ports(p: &Decoded<'_>) -> (u16, u16) {
    match p.proto {
        proto::ICMP | proto::ICMPV6 => {
            let (s, d, _) = sonde_common::community_id::icmp_ports(
                p.proto == proto::ICMPV6,
                p.src_port as u8,
                p.dst_port as u8,
            );
            (s, d)
        }
        _ => (p.src_port, p.dst_port),
    }
}

/// Counters of one direction since the last record.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct DirStats {
    pub(super) packets: u64,
    pub(super) bytes: u64,
    pub(super) payload_bytes: u64,
    pub(super) tcp_flags: u8,
}

/// One flow. Index 0 of the per-direction arrays is client -> server.
#[derive(Clone, Debug)]
pub(super) struct Flow {
    pub(super) id: u64,
    pub(super) proto: u8,
    pub(super) vlan: u16,
    pub(super) client: (IpAddr, u16),
    pub(super) server: (IpAddr, u16),
    pub(super) macs: [Option<[u8; 6]>; 2],
    /// True when the client is the key's `lo` end.
    pub(super) client_is_lo: bool,
    pub(super) last_us: u64,
    /// Start of the current record's interval (first_us, or the last interim).
    pub(super) interval_us: u64,
    pub(super) dirs: [DirStats; 2],
    /// Totals over the whole flow, for conn_state.
    pub(super) total_packets: [u64; 2],
    pub(super) total_payload: [u64; 2],
    pub(super) tcp: Option<TcpFlow>,
    pub(super) history: History,
}

/// What the table did since it was created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableStats {
    pub flows_created: u64,
    pub flows_evicted: u64,
    /// Flows ended by the idle (or closed) timeout.
    pub flows_expired: u64,
    pub records: u64,
    pub interim_records: u64,
}

#[derive(Debug)]
pub struct FlowTable {
    flows: LinkedHashMap<FlowKey, Flow>,
    settings: FlowSettings,
    interface: Arc<str>,
    next_id: u64,
    stats: TableStats,
    last_sweep_us: u64,
    /// Keys to expire, reused across sweeps.
    scratch: Vec<FlowKey>,
    min_idle_us: u64,
}

impl FlowTable {
    pub fn new(settings: FlowSettings, interface: &str) -> Self {
        let min_idle_us = settings
            .idle_by_protocol
            .values()
            .copied()
            .chain([settings.idle_timeout_us, settings.closed_timeout_us])
            .min()
            .unwrap_or(settings.idle_timeout_us);
        Self {
            flows: LinkedHashMap::new(),
            settings,
            interface: Arc::from(interface),
            next_id: 1,
            stats: TableStats::default(),
            last_sweep_us: 0,
            scratch: Vec::new(),
            min_idle_us,
        }
    }

    pub fn len(&self) -> usize {
        self.flows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    pub fn stats(&self) -> TableStats {
        self.stats
    }

    /// Accounts one packet captured at `ts_us`; finished records go to `out`.
    pub fn process(&mut self, p: &Decoded<'_>, ts_us: u64, out: &mut Vec<v1::Flow>) {
        self.advance(ts_us, out);
        let (key, src_is_lo) = FlowKey::of(p);
        if !self.flows.contains_key(&key) {
            if self.flows.len() >= self.settings.max_flows.max(1) {
                self.evict_one(out);
            }
            let flow = self.create(p, ts_us, src_is_lo);
            self.flows.insert(key, flow);
        }
        let Some(flow) = self.flows.to_back(&key) else {
            return;
        };
        let from_client = src_is_lo == flow.client_is_lo;
        if ts_us.saturating_sub(flow.interval_us) >= self.settings.active_timeout_us {
            let record = super::record::build(
                flow,
                &self.interface,
                &self.settings,
                v1::EndReason::ActiveTimeout,
                true,
            );
            out.push(record);
            self.stats.records += 1;
            self.stats.interim_records += 1;
            flow.dirs = [DirStats::default(); 2];
            flow.interval_us = ts_us;
        }
        update(flow, p, from_client, ts_us);
    }

    /// Expires idle flows as of `now_us` (a packet timestamp). Cheap when
    /// called often: it sweeps at most once per second of packet time.
    pub fn advance(&mut self, now_us: u64, out: &mut Vec<v1::Flow>) {
        if now_us.saturating_sub(self.last_sweep_us) < 1_000_000 {
            return;
        }
        self.last_sweep_us = now_us;
        let mut keys = std::mem::take(&mut self.scratch);
        keys.clear();
        for (key, flow) in self.flows.iter() {
            let idle = now_us.saturating_sub(flow.last_us);
            if idle <= self.min_idle_us {
                break; // everything behind is younger
            }
            if idle > self.idle_timeout(flow) {
                keys.push(*key);
            }
        }
        for key in &keys {
            if let Some(flow) = self.flows.remove(key) {
                self.stats.flows_expired += 1;
                let reason = end_reason(&flow, v1::EndReason::Idle);
                self.emit(&flow, reason, out);
            }
        }
        self.scratch = keys;
    }

    /// Ends up to `max` flows, longest idle first (shutdown or end of a
    /// capture file); true while flows remain. Callers drain in chunks so the
    /// records of a full table never sit in memory all at once.
    pub fn flush(&mut self, max: usize, out: &mut Vec<v1::Flow>) -> bool {
        for _ in 0..max {
            let Some((_, flow)) = self.flows.pop_front() else {
                break;
            };
            let reason = end_reason(&flow, v1::EndReason::Shutdown);
            self.emit(&flow, reason, out);
        }
        !self.flows.is_empty()
    }

    fn idle_timeout(&self, flow: &Flow) -> u64 {
        if flow.tcp.as_ref().is_some_and(|t| t.saw_fin_or_rst) {
            return self.settings.closed_timeout_us;
        }
        self.settings
            .idle_by_protocol
            .get(&flow.proto)
            .copied()
            .unwrap_or(self.settings.idle_timeout_us)
    }

    fn evict_one(&mut self, out: &mut Vec<v1::Flow>) {
        if let Some((_, flow)) = self.flows.pop_front() {
            self.stats.flows_evicted += 1;
            self.emit(&flow, v1::EndReason::Evicted, out);
        }
    }

    fn emit(&mut self, flow: &Flow, reason: v1::EndReason, out: &mut Vec<v1::Flow>) {
        out.push(super::record::build(
            flow,
            &self.interface,
            &self.settings,
            reason,
            false,
        ));
        self.stats.records += 1;
    }

    fn create(&mut self, p: &Decoded<'_>, ts_us: u64, src_is_lo: bool) -> Flow {
        let id = self.next_id;
        self.next_id += 1;
        self.stats.flows_created += 1;
        let mut history = History::default();
        // The receiver is the originator when the first packet is a SYN+ACK
        // (Zeek's `^`). ICMP keeps the first sender, as Zeek does: its type
        // and code are the flow's "ports", for the Community ID.
        let flip = matches!((p.proto, p.tcp), (proto::TCP, Some(t)) if t.flags & 0x12 == 0x12);
        if flip {
            history.flipped();
        }
        let (src, dst) = ((p.src, p.src_port), (p.dst, p.dst_port));
        let (client, server, macs) = if flip {
            (dst, src, [p.dst_mac, p.src_mac])
        } else {
            (src, dst, [p.src_mac, p.dst_mac])
        };
        Flow {
            id,
            proto: p.proto,
            vlan: p.vlan,
            client,
            server,
            macs,
            client_is_lo: src_is_lo != flip,
            last_us: ts_us,
            interval_us: ts_us,
            dirs: [DirStats::default(); 2],
            total_packets: [0; 2],
            total_payload: [0; 2],
            tcp: (p.proto == proto::TCP).then(TcpFlow::default),
            history,
        }
    }
}

/// FIN or RST end a TCP flow for the record, whatever made the table notice.
fn end_reason(flow: &Flow, otherwise: v1::EndReason) -> v1::EndReason {
    use super::EndpointState::{Closed, Reset};
    match &flow.tcp {
        Some(t) if t.dirs.iter().any(|d| d.state == Reset) => v1::EndReason::Rst,
        Some(t) if t.dirs.iter().all(|d| d.state == Closed) => v1::EndReason::Fin,
        _ => otherwise,
    }
}

fn update(flow: &mut Flow, p: &Decoded<'_>, from_client: bool, ts_us: u64) {
    let d = usize::from(!from_client);
    flow.last_us = flow.last_us.max(ts_us);
    let stats = &mut flow.dirs[d];
    stats.packets += 1;
    stats.bytes += u64::from(p.ip_len);
    stats.payload_bytes += u64::from(p.payload_len);
    flow.total_packets[d] += 1;
    flow.total_payload[d] += u64::from(p.payload_len);
    if flow.macs[d].is_none() {
        flow.macs[d] = p.src_mac;
    }
    match (&mut flow.tcp, p.tcp) {
        (Some(tcp), Some(header)) => {
            stats.tcp_flags |= header.flags;
            tcp.update(
                from_client,
                &header,
                p.payload_len,
                ts_us,
                &mut flow.history,
            );
        }
        // Later fragments of a TCP segment: bytes only.
        (Some(_), None) => {}
        (None, _) if p.payload_len > 0 && p.proto == proto::UDP => {
            flow.history.once(from_client, 'D')
        }
        (None, _) => {}
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::decode::{Decoded, Fragment, TcpHeader};

    fn packet(
        src: IpAddr,
        dst: IpAddr,
        proto: u8,
        sport: u16,
        dport: u16,
        vlan: u16,
    ) -> Decoded<'static> {
        Decoded {
            vlan,
            src_mac: None,
            dst_mac: None,
            src,
            dst,
            proto,
            src_port: sport,
            dst_port: dport,
            ip_len: 40,
            payload_len: 0,
            tcp: (proto == proto::TCP).then_some(TcpHeader {
                flags: 0x10,
                seq: 1,
                ack: 1,
                window: 100,
            }),
            fragment: Fragment::None,
            payload: &[],
        }
    }

    fn any_ip() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            any::<[u8; 4]>().prop_map(IpAddr::from),
            any::<[u8; 16]>().prop_map(IpAddr::from),
        ]
    }

    proptest! {
        #[test]
        fn both_directions_of_a_packet_have_the_same_key(
            a in any_ip(), b in any_ip(), proto in prop_oneof![Just(6u8), Just(17), Just(132), Just(47)],
            sport in any::<u16>(), dport in any::<u16>(), vlan in 0u16..4096,
        ) {
            let (k1, lo1) = FlowKey::of(&packet(a, b, proto, sport, dport, vlan));
            let (k2, lo2) = FlowKey::of(&packet(b, a, proto, dport, sport, vlan));
            prop_assert_eq!(k1, k2);
            // Exactly one direction is the lo end, unless both ends are equal.
            prop_assert!(lo1 != lo2 || (a, sport) == (b, dport));
        }

        #[test]
        fn icmp_requests_and_replies_share_a_key(a in any::<[u8; 4]>(), b in any::<[u8; 4]>(), pair in prop_oneof![Just((8u16, 0u16)), Just((13, 14)), Just((17, 18))]) {
            let (a, b) = (IpAddr::from(a), IpAddr::from(b));
            let (k1, _) = FlowKey::of(&packet(a, b, proto::ICMP, pair.0, 0, 0));
            let (k2, _) = FlowKey::of(&packet(b, a, proto::ICMP, pair.1, 0, 0));
            prop_assert_eq!(k1, k2);
        }

        #[test]
        fn different_vlans_never_share_a_flow(a in any_ip(), b in any_ip(), v1 in 0u16..4096, v2 in 0u16..4096) {
            prop_assume!(v1 != v2);
            let (k1, _) = FlowKey::of(&packet(a, b, 6, 1, 2, v1));
            let (k2, _) = FlowKey::of(&packet(a, b, 6, 1, 2, v2));
            prop_assert_ne!(k1, k2);
        }
    }
}
