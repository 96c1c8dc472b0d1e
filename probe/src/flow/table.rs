//! The flow table proper: lookup, creation, per-packet update, expiry.
//!
//! Storage (design note): flows live in a slab (`Vec<Slot>`, reused through a
//! free list) threaded on an intrusive doubly linked list in
//! least-recently-seen order; a `hashbrown::HashTable<u32>` maps a key's hash
//! to its slot. Per flow that is one slot (key, flow state, two links) plus
//! about five bytes of index: no allocation per flow, and eviction and expiry
//! walk from the list's head. Memory and time per flow are measured in
//! docs/benchmarks.md.

use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::Arc;

use hashbrown::{DefaultHashBuilder, HashTable};
use sonde_proto::v1;

use super::FlowSettings;
use super::history::History;
use super::tcp::TcpFlow;
use crate::classify::{self, FlowDpi, Transport};
use crate::decode::{Decoded, proto};

/// No slot.
const NIL: u32 = u32::MAX;

/// Canonical flow key: the endpoint with the smaller (address, port) first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowKey {
    lo_ip: IpAddr,
    hi_ip: IpAddr,
    lo_port: u16,
    hi_port: u16,
    vlan: u16,
    proto: u8,
}

impl FlowKey {
    /// The key of a packet and whether its source is the key's `lo` end.
    // Inlined: called once per packet, and its result returned through
    // memory was read back wider than written (a store-forwarding stall).
    #[inline]
    pub fn of(p: &Decoded<'_>) -> (FlowKey, bool) {
        let (sport, dport) = key_ports(p);
        let (src, dst) = ((p.src, sport), (p.dst, dport));
        let src_is_lo = order(src) <= order(dst);
        let (lo, hi) = if src_is_lo { (src, dst) } else { (dst, src) };
        let key = FlowKey {
            lo_ip: lo.0,
            hi_ip: hi.0,
            lo_port: lo.1,
            hi_port: hi.1,
            vlan: p.vlan,
            proto: p.proto,
        };
        (key, src_is_lo)
    }

    pub(super) fn lo(&self) -> (IpAddr, u16) {
        (self.lo_ip, self.lo_port)
    }

    pub(super) fn hi(&self) -> (IpAddr, u16) {
        (self.hi_ip, self.hi_port)
    }

    pub(super) fn proto(&self) -> u8 {
        self.proto
    }

    pub(super) fn vlan(&self) -> u16 {
        self.vlan
    }
}

/// `(address, port)` as a value that orders as `IpAddr`'s `Ord` does (every
/// IPv4 address before every IPv6 one, then numerically), compared in a few
/// instructions instead of field by field.
fn order((ip, port): (IpAddr, u16)) -> (bool, u128, u16) {
    match ip {
        IpAddr::V4(a) => (false, u128::from(u32::from(a)), port),
        IpAddr::V6(a) => (true, u128::from(a), port),
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

/// Counters of one direction since the last record. Packets fit 32 bits:
/// an interval (at most the active timeout) at this probe's top speed holds
/// about a billion; the count saturates rather than wraps.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct DirStats {
    pub(super) bytes: u64,
    pub(super) payload_bytes: u64,
    pub(super) packets: u32,
}

/// `Flow::bits`.
const CLIENT_IS_LO: u8 = 1;
/// MAC address of the client (`<< 0`) / server (`<< 1`) known.
const MAC: u8 = 2;
/// Client / server sent a packet, ever.
const SENT: u8 = 8;
/// Client / server sent payload, ever.
const PAYLOAD: u8 = 32;

/// One flow. Index 0 of the per-direction arrays is client -> server.
#[derive(Debug)]
pub(super) struct Flow {
    pub(super) id: u64,
    /// Start of the current record's interval (first packet, or the last interim).
    pub(super) interval_us: u64,
    pub(super) last_us: u64,
    pub(super) dirs: [DirStats; 2],
    pub(super) tcp_flags: [u8; 2],
    macs: [[u8; 6]; 2],
    bits: u8,
    pub(super) history: History,
    pub(super) tcp: Option<TcpFlow>,
    /// DPI state and verdict; allocated at the first payload packet.
    pub(super) dpi: Option<Box<FlowDpi>>,
}

impl Flow {
    fn has(&self, bit: u8) -> bool {
        self.bits & bit != 0
    }

    /// The originator's (address, port).
    pub(super) fn client(&self, key: &FlowKey) -> (IpAddr, u16) {
        if self.has(CLIENT_IS_LO) {
            key.lo()
        } else {
            key.hi()
        }
    }

    pub(super) fn server(&self, key: &FlowKey) -> (IpAddr, u16) {
        if self.has(CLIENT_IS_LO) {
            key.hi()
        } else {
            key.lo()
        }
    }

    /// MAC of the client (`dir` 0) or server (1), when the link had one.
    pub(super) fn mac(&self, dir: usize) -> Option<[u8; 6]> {
        self.has(MAC << dir).then(|| self.macs[dir])
    }

    /// Whether the client (0) or server (1) ever sent a packet / payload.
    pub(super) fn sent(&self, dir: usize) -> bool {
        self.has(SENT << dir)
    }

    pub(super) fn sent_payload(&self, dir: usize) -> bool {
        self.has(PAYLOAD << dir)
    }
}

#[derive(Debug)]
struct Slot {
    key: FlowKey,
    flow: Flow,
    prev: u32,
    next: u32,
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
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// Least and most recently seen flows.
    head: u32,
    tail: u32,
    len: usize,
    settings: FlowSettings,
    interface: Arc<str>,
    next_id: u64,
    stats: TableStats,
    last_sweep_us: u64,
    /// Slots to expire, reused across sweeps.
    scratch: Vec<u32>,
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
        // The table never grows past max_flows (and slot indices are u32):
        // reserve once, so growth never copies the slab (pages are only
        // resident once used). The index, unlike the slab, grows with the
        // flows: sized for max_flows from the start, a few thousand live
        // flows were spread over a megabyte of buckets and every lookup
        // missed the cache; growing rehashes only the small index.
        let capacity = settings.max_flows.clamp(1, NIL as usize - 1);
        Self {
            index: HashTable::new(),
            hasher: DefaultHashBuilder::default(),
            slots: Vec::with_capacity(capacity),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
            len: 0,
            settings: FlowSettings {
                max_flows: capacity,
                ..settings
            },
            interface: Arc::from(interface),
            next_id: 1,
            stats: TableStats::default(),
            last_sweep_us: 0,
            scratch: Vec::new(),
            min_idle_us,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn stats(&self) -> TableStats {
        self.stats
    }

    /// Accounts one packet captured at `ts_us`; finished records go to `out`.
    pub fn process(&mut self, p: &Decoded<'_>, ts_us: u64, out: &mut Vec<v1::Flow>) {
        self.advance(ts_us, out);
        let (key, src_is_lo) = FlowKey::of(p);
        let hash = self.hasher.hash_one(key);
        let slots = &self.slots;
        let found = self
            .index
            .find(hash, |&i| slots[i as usize].key == key)
            .copied();
        let i = match found {
            Some(i) => {
                self.touch(i);
                i
            }
            None => {
                if self.len >= self.settings.max_flows {
                    self.evict_one(out);
                }
                let flow = self.create(p, ts_us, src_is_lo);
                self.insert(key, flow, hash)
            }
        };
        let slot = &mut self.slots[i as usize];
        let flow = &mut slot.flow;
        let from_client = src_is_lo == flow.has(CLIENT_IS_LO);
        if ts_us.saturating_sub(flow.interval_us) >= self.settings.active_timeout_us {
            let record = super::record::build(
                &slot.key,
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
            flow.tcp_flags = [0; 2];
            flow.interval_us = ts_us;
        }
        update(flow, p, from_client, ts_us);
        if self.settings.dpi.enabled {
            classify_packet(flow, &slot.key, p, from_client, ts_us, &self.settings.dpi);
        }
    }

    /// Expires idle flows as of `now_us` (a packet timestamp). Cheap when
    /// called often: it sweeps at most once per second of packet time.
    pub fn advance(&mut self, now_us: u64, out: &mut Vec<v1::Flow>) {
        if now_us.saturating_sub(self.last_sweep_us) < 1_000_000 {
            return;
        }
        self.last_sweep_us = now_us;
        let mut expired = std::mem::take(&mut self.scratch);
        expired.clear();
        let mut i = self.head;
        while i != NIL {
            let slot = &self.slots[i as usize];
            let idle = now_us.saturating_sub(slot.flow.last_us);
            if idle <= self.min_idle_us {
                break; // everything behind is younger
            }
            if idle > self.idle_timeout(&slot.key, &slot.flow) {
                expired.push(i);
            }
            i = slot.next;
        }
        for &i in &expired {
            self.stats.flows_expired += 1;
            let reason = end_reason(&self.slots[i as usize].flow, v1::EndReason::Idle);
            self.emit(i, reason, out);
            self.remove(i);
        }
        self.scratch = expired;
    }

    /// Ends up to `max` flows, longest idle first (shutdown or end of a
    /// capture file); true while flows remain. Callers drain in chunks so the
    /// records of a full table never sit in memory all at once.
    pub fn flush(&mut self, max: usize, out: &mut Vec<v1::Flow>) -> bool {
        for _ in 0..max {
            let i = self.head;
            if i == NIL {
                break;
            }
            let reason = end_reason(&self.slots[i as usize].flow, v1::EndReason::Shutdown);
            self.emit(i, reason, out);
            self.remove(i);
        }
        self.head != NIL
    }

    fn idle_timeout(&self, key: &FlowKey, flow: &Flow) -> u64 {
        if flow.tcp.as_ref().is_some_and(|t| t.saw_fin_or_rst) {
            return self.settings.closed_timeout_us;
        }
        self.settings
            .idle_by_protocol
            .get(&key.proto)
            .copied()
            .unwrap_or(self.settings.idle_timeout_us)
    }

    fn evict_one(&mut self, out: &mut Vec<v1::Flow>) {
        let i = self.head;
        if i != NIL {
            self.stats.flows_evicted += 1;
            self.emit(i, v1::EndReason::Evicted, out);
            self.remove(i);
        }
    }

    fn emit(&mut self, i: u32, reason: v1::EndReason, out: &mut Vec<v1::Flow>) {
        let slot = &mut self.slots[i as usize];
        out.push(super::record::build(
            &slot.key,
            &mut slot.flow,
            &self.interface,
            &self.settings,
            reason,
            false,
        ));
        self.stats.records += 1;
    }

    /// Stores a new flow at the tail; returns its slot.
    fn insert(&mut self, key: FlowKey, flow: Flow, hash: u64) -> u32 {
        let slot = Slot {
            key,
            flow,
            prev: NIL,
            next: NIL,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = slot;
                i
            }
            None => {
                self.slots.push(slot);
                (self.slots.len() - 1) as u32
            }
        };
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.index
            .insert_unique(hash, i, |&j| hasher.hash_one(slots[j as usize].key));
        self.push_back(i);
        self.len += 1;
        i
    }

    /// Forgets a flow: out of the index and the list, slot to the free list.
    fn remove(&mut self, i: u32) {
        let hash = self.hasher.hash_one(self.slots[i as usize].key);
        if let Ok(entry) = self.index.find_entry(hash, |&j| j == i) {
            entry.remove();
        }
        self.unlink(i);
        self.free.push(i);
        self.len -= 1;
    }

    fn touch(&mut self, i: u32) {
        if self.tail != i {
            self.unlink(i);
            self.push_back(i);
        }
    }

    fn unlink(&mut self, i: u32) {
        let (prev, next) = (self.slots[i as usize].prev, self.slots[i as usize].next);
        match prev {
            NIL => self.head = next,
            p => self.slots[p as usize].next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.slots[n as usize].prev = prev,
        }
    }

    fn push_back(&mut self, i: u32) {
        let tail = self.tail;
        {
            let slot = &mut self.slots[i as usize];
            slot.prev = tail;
            slot.next = NIL;
        }
        match tail {
            NIL => self.head = i,
            t => self.slots[t as usize].next = i,
        }
        self.tail = i;
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
        Flow {
            id,
            interval_us: ts_us,
            last_us: ts_us,
            dirs: [DirStats::default(); 2],
            tcp_flags: [0; 2],
            macs: [[0; 6]; 2],
            bits: if src_is_lo != flip { CLIENT_IS_LO } else { 0 },
            history,
            tcp: (p.proto == proto::TCP).then(TcpFlow::default),
            dpi: None,
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
    stats.packets = stats.packets.saturating_add(1);
    stats.bytes += u64::from(p.ip_len);
    stats.payload_bytes += u64::from(p.payload_len);
    flow.bits |= SENT << d;
    if p.payload_len > 0 {
        flow.bits |= PAYLOAD << d;
    }
    if let Some(mac) = p.src_mac
        && !flow.has(MAC << d)
    {
        flow.macs[d] = mac;
        flow.bits |= MAC << d;
    }
    match (&mut flow.tcp, p.tcp) {
        (Some(tcp), Some(header)) => {
            flow.tcp_flags[d] |= header.flags;
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

/// Hands the packet to DPI while the flow is young enough for it.
fn classify_packet(
    flow: &mut Flow,
    key: &FlowKey,
    p: &Decoded<'_>,
    from_client: bool,
    ts_us: u64,
    settings: &classify::DpiSettings,
) {
    let packet_no = flow.dirs[0].packets.saturating_add(flow.dirs[1].packets);
    if packet_no > settings.max_packets {
        // DPI is over for this flow: drop its working state once.
        if flow.dpi.as_ref().is_some_and(|d| d.active()) {
            classify::finish(&mut flow.dpi);
        }
        return;
    }
    let (client, server) = (flow.client(key), flow.server(key));
    let pkt = classify::Packet {
        payload: p.payload,
        from_client,
        transport: Transport::of_ip_protocol(p.proto),
        client_port: client.1,
        server_port: server.1,
        tcp_seq: p.tcp.map(|t| t.seq),
        ts_us,
        packet_no,
    };
    classify::on_packet(&mut flow.dpi, &pkt, settings);
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
        fn endpoints_order_as_ip_addr_and_port_do(a in any_ip(), b in any_ip(), p in any::<u16>(), q in any::<u16>()) {
            prop_assert_eq!(order((a, p)).cmp(&order((b, q))), (a, p).cmp(&(b, q)));
            prop_assert_eq!(order((a, p)).cmp(&order((a, q))), p.cmp(&q));
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
