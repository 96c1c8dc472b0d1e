//! Suricata alerts -> consolidated `v1::Alert`s (source SURICATA) with the
//! probe's flow context.
//!
//! How: an alert event joins the open group of its (signature, attacker)
//! when it falls within `consolidation_window` of the group's first alert,
//! else it starts a new group. A group takes the probe flow of one of its
//! alerts: matched by the 5-tuple the Community ID hashes (so a Suricata
//! `community_id` made with another seed than the probe's still matches; a
//! line whose `community_id` differs from the one its 5-tuple gives with the
//! configured seed is counted as a seed mismatch) and by time (the alert
//! between the flow's first and last packet, widened by
//! `correlation_window`). Flows are reported when they end, usually after
//! the alert, so a group without flow waits for one up to
//! `correlation_window` after its first alert. flow, dns, tls and http
//! events are kept by Suricata flow id and enrich the alerts of that flow.
//!
//! Time comes from the records, on two clocks: eve time (newest eve event)
//! closes consolidation windows, flow time (newest flow end) ends the wait
//! for flows; `advance` moves both. So the flows of a capture may be fed
//! before its eve file, or interleaved with it, and give the same alerts.
//! Output is sorted by (first time, signature id, attacker).
//!
//! Bounds: `max_flows` remembered flows, `max_enrichment` enriched Suricata
//! flows (both oldest-first evictions), `max_pending` open groups (the oldest
//! is emitted early when full); every eviction is counted.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::IpAddr;

use metrics::counter;
use sonde_common::community_id::{CommunityId, Encoding};
use sonde_common::telemetry::names;
use sonde_proto::v1;

use super::eve::EveEvent;
use super::flows::{RecentFlows, TupleKey, within};
use super::group::{Enrichment, Group, MAX_LINKS};
use crate::alert::config::SuricataConfig;

pub use super::group::so_severity;

#[derive(Debug, Clone)]
pub struct CorrelatorSettings {
    /// The seed Suricata computes `community_id` with (`community-id-seed`).
    pub community_id_seed: u16,
    /// How the probe writes its flow records' `community_id` (`[community_id]`
    /// of probe.toml), used for the entity of an alert that found no flow.
    pub probe_community_id: CommunityId,
    /// How long a group waits for a flow, and how far outside a flow's first
    /// and last packet an alert may be and still belong to it.
    pub correlation_window_us: u64,
    /// Alerts of one signature from one attacker within this time of the
    /// first are one alert.
    pub consolidation_window_us: u64,
    /// Open consolidation groups.
    pub max_pending: usize,
    /// Recent probe flows kept for alerts that come after them.
    pub max_flows: usize,
    /// Suricata flows whose dns/tls/http facts are kept.
    pub max_enrichment: usize,
    /// Victims listed per consolidated alert.
    pub max_victims: usize,
}

impl CorrelatorSettings {
    /// `[suricata]` of probe.toml, with the probe's own `[community_id]`.
    pub fn from_config(config: &SuricataConfig, probe_community_id: CommunityId) -> Self {
        let us = |d: std::time::Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        Self {
            community_id_seed: config.community_id_seed,
            probe_community_id,
            correlation_window_us: us(config.correlation_window.get()),
            consolidation_window_us: us(config.consolidation_window.get()),
            ..Self::default()
        }
    }
}

impl Default for CorrelatorSettings {
    fn default() -> Self {
        Self {
            community_id_seed: 0,
            probe_community_id: CommunityId::default(),
            correlation_window_us: 120_000_000,
            consolidation_window_us: 60_000_000,
            max_pending: 4096,
            max_flows: 16_384,
            max_enrichment: 16_384,
            max_victims: 16,
        }
    }
}

/// What the correlator did, for tests, `read`'s summary and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorrelatorCounters {
    /// Alert events taken in.
    pub alerts_in: u64,
    /// Alert events without a usable attacker address, dropped.
    pub alerts_without_address: u64,
    /// Consolidated alerts emitted, with and without a probe flow.
    pub emitted_with_flow: u64,
    pub emitted_without_flow: u64,
    /// Lines whose `community_id` is not what their 5-tuple gives with the
    /// configured seed (a wrong `community_id_seed`).
    pub community_id_mismatch: u64,
    pub evicted_flows: u64,
    pub evicted_enrichment: u64,
    /// Groups emitted before their window ended because `max_pending` was reached.
    pub evicted_groups: u64,
}

#[derive(Debug)]
pub struct Correlator {
    settings: CorrelatorSettings,
    suricata_cid: CommunityId,
    probe_cid: CommunityId,
    eve_now: u64,
    flow_now: u64,
    flows: RecentFlows,
    enrichment: HashMap<u64, Enrichment>,
    enrichment_order: VecDeque<u64>,
    /// Groups by id (ids grow with arrival), the open one per (sid, attacker),
    /// and the 5-tuples groups without flow wait for.
    groups: BTreeMap<u64, Group>,
    /// (window start, id) of every group: the order their windows close in.
    due: BTreeSet<(u64, u64)>,
    open: HashMap<(u64, IpAddr), u64>,
    waiting: HashMap<TupleKey, Vec<(u64, u64)>>,
    /// The keys each group waits under (at most `MAX_LINKS`).
    waits: HashMap<u64, Vec<TupleKey>>,
    next_id: u64,
    counters: CorrelatorCounters,
}

impl Correlator {
    pub fn new(settings: CorrelatorSettings) -> Self {
        Self {
            flows: RecentFlows::new(settings.max_flows),
            suricata_cid: CommunityId::new(settings.community_id_seed, Encoding::Base64),
            probe_cid: settings.probe_community_id,
            settings,
            eve_now: 0,
            flow_now: 0,
            enrichment: HashMap::new(),
            enrichment_order: VecDeque::new(),
            groups: BTreeMap::new(),
            due: BTreeSet::new(),
            open: HashMap::new(),
            waiting: HashMap::new(),
            waits: HashMap::new(),
            next_id: 0,
            counters: CorrelatorCounters::default(),
        }
    }

    pub fn counters(&self) -> &CorrelatorCounters {
        &self.counters
    }

    /// Groups not emitted yet.
    pub fn pending(&self) -> usize {
        self.groups.len()
    }

    /// A probe flow record (final or interim): remembered for later alerts,
    /// and given to the groups waiting for it.
    pub fn flow(&mut self, flow: &v1::Flow, out: &mut Vec<v1::Alert>) {
        self.flow_now = self.flow_now.max(flow.last_seen_us);
        if let Some(key) = TupleKey::of_flow(flow) {
            if let Some(waiters) = self.waiting.remove(&key) {
                let window = self.settings.correlation_window_us;
                let mut rest = Vec::new();
                for (id, t) in waiters {
                    match self.groups.get_mut(&id) {
                        Some(g) if g.flow.is_none() && within(flow, t, window) => {
                            g.flow = Some(flow.clone());
                        }
                        Some(g) if g.flow.is_none() => rest.push((id, t)),
                        _ => {}
                    }
                }
                if !rest.is_empty() {
                    self.waiting.insert(key, rest);
                }
            }
            let evicted = self.flows.insert(key, flow);
            if evicted > 0 {
                self.counters.evicted_flows += evicted;
                counter!(names::PROBE_SURICATA_EVICTED, "table" => "flows").increment(evicted);
            }
        }
        self.emit_ready(out);
    }

    /// One eve event: alerts are consolidated and correlated; flow, dns, tls
    /// and http events are kept as enrichment; others are ignored.
    pub fn event(&mut self, event: EveEvent, out: &mut Vec<v1::Alert>) {
        self.eve_now = self.eve_now.max(event.timestamp_us);
        if event.alert.is_some() {
            self.alert(&event, out);
        } else if let Some(id) = event.flow_id {
            self.enrich(id, &event);
        }
        self.emit_ready(out);
    }

    fn enrich(&mut self, id: u64, event: &EveEvent) {
        if let Some(e) = self.enrichment.get_mut(&id) {
            e.absorb(event);
            return;
        }
        let mut e = Enrichment::default();
        e.absorb(event);
        if e == Enrichment::default() {
            return;
        }
        self.enrichment.insert(id, e);
        self.enrichment_order.push_back(id);
        while self.enrichment_order.len() > self.settings.max_enrichment {
            if let Some(old) = self.enrichment_order.pop_front() {
                self.enrichment.remove(&old);
            }
            self.counters.evicted_enrichment += 1;
            counter!(names::PROBE_SURICATA_EVICTED, "table" => "enrichment").increment(1);
        }
    }

    fn alert(&mut self, event: &EveEvent, out: &mut Vec<v1::Alert>) {
        let Some(a) = &event.alert else { return };
        self.counters.alerts_in += 1;
        let attacker = a.source.map(|s| s.0).or(event.src_ip);
        let victim = a.target.map(|t| t.0).or(event.dest_ip);
        let Some(attacker) = attacker else {
            self.counters.alerts_without_address += 1;
            return;
        };
        let sid = a.signature_id;
        if let (Some(theirs), Some(ours)) = (
            &event.community_id,
            event.community_id_with(&self.suricata_cid),
        ) {
            if *theirs != ours {
                self.counters.community_id_mismatch += 1;
            }
        }
        let t = event.timestamp_us;
        let window = self.settings.consolidation_window_us;
        let id = match self.open.get(&(sid, attacker)).copied() {
            Some(id)
                if self.groups.get(&id).is_some_and(|g| {
                    t < g.window_start_us.saturating_add(window)
                        && t.saturating_add(window) > g.window_start_us
                }) =>
            {
                id
            }
            _ => self.start_group(event, sid, attacker, out),
        };
        let max_victims = self.settings.max_victims;
        let key = TupleKey::of_event(event);
        let found = match (&key, self.groups.get(&id)) {
            (Some(k), Some(g)) if g.flow.is_none() => {
                self.flows.best(k, t, self.settings.correlation_window_us)
            }
            _ => None,
        };
        let Some(g) = self.groups.get_mut(&id) else {
            return;
        };
        g.add(event, victim, max_victims);
        if g.flow.is_some() {
            return;
        }
        if let Some(flow) = found {
            g.flow = Some(flow);
        } else if let Some(k) = key {
            let keys = self.waits.entry(id).or_default();
            if keys.len() < MAX_LINKS && !keys.contains(&k) {
                keys.push(k);
                self.waiting.entry(k).or_default().push((id, t));
            }
        }
    }

    fn start_group(
        &mut self,
        event: &EveEvent,
        sid: u64,
        attacker: IpAddr,
        out: &mut Vec<v1::Alert>,
    ) -> u64 {
        while self.groups.len() >= self.settings.max_pending.max(1) {
            let Some((&oldest, _)) = self.groups.iter().next() else {
                break;
            };
            self.counters.evicted_groups += 1;
            counter!(names::PROBE_SURICATA_EVICTED, "table" => "groups").increment(1);
            self.take(oldest, out);
        }
        let id = self.next_id;
        self.next_id += 1;
        let entity = event.community_id_with(&self.probe_cid).unwrap_or_default();
        self.groups
            .insert(id, Group::new(event, sid, attacker, entity));
        self.due.insert((event.timestamp_us, id));
        self.open.insert((sid, attacker), id);
        id
    }

    /// Moves both clocks to `now_us` (packet time) and emits what is due.
    pub fn advance(&mut self, now_us: u64, out: &mut Vec<v1::Alert>) {
        self.eve_now = self.eve_now.max(now_us);
        self.flow_now = self.flow_now.max(now_us);
        self.emit_ready(out);
    }

    /// Emits every group now, whatever its window (end of input).
    pub fn finish(&mut self, out: &mut Vec<v1::Alert>) {
        let ids: Vec<u64> = self.groups.keys().copied().collect();
        let mut done = Vec::new();
        for id in ids {
            self.take(id, &mut done);
        }
        sort(&mut done);
        out.append(&mut done);
    }

    fn emit_ready(&mut self, out: &mut Vec<v1::Alert>) {
        let (cons, corr) = (
            self.settings.consolidation_window_us,
            self.settings.correlation_window_us,
        );
        // Only groups whose consolidation window has closed, in the order
        // the windows close; of those, the ones with a flow or done waiting.
        let ready: Vec<u64> = self
            .due
            .iter()
            .take_while(|(start, _)| self.eve_now >= start.saturating_add(cons))
            .filter(|(start, id)| {
                self.flow_now >= start.saturating_add(corr)
                    || self.groups.get(id).is_some_and(|g| g.flow.is_some())
            })
            .map(|(_, id)| *id)
            .collect();
        if ready.is_empty() {
            return;
        }
        let mut done = Vec::new();
        for id in ready {
            self.take(id, &mut done);
        }
        sort(&mut done);
        out.append(&mut done);
    }

    /// Removes a group and turns it into its alert.
    fn take(&mut self, id: u64, out: &mut Vec<v1::Alert>) {
        let Some(mut g) = self.groups.remove(&id) else {
            return;
        };
        self.due.remove(&(g.window_start_us, id));
        if self.open.get(&(g.sid, g.attacker)) == Some(&id) {
            self.open.remove(&(g.sid, g.attacker));
        }
        for key in self.waits.remove(&id).unwrap_or_default() {
            if let Some(list) = self.waiting.get_mut(&key) {
                list.retain(|(gid, _)| *gid != id);
                if list.is_empty() {
                    self.waiting.remove(&key);
                }
            }
        }
        for fid in &g.suricata_flow_ids {
            if let Some(e) = self.enrichment.get(fid) {
                g.enrichment.merge(e);
            }
        }
        let context = if g.flow.is_some() {
            self.counters.emitted_with_flow += 1;
            "flow"
        } else {
            self.counters.emitted_without_flow += 1;
            "none"
        };
        counter!(names::PROBE_SURICATA_ALERTS, "context" => context).increment(1);
        out.push(g.into_alert());
    }
}

/// Deterministic order: first time, signature id, attacker.
fn sort(alerts: &mut [v1::Alert]) {
    alerts.sort_by(|a, b| {
        (a.first_seen_us, &a.rule_key, &a.attacker_ip).cmp(&(
            b.first_seen_us,
            &b.rule_key,
            &b.attacker_ip,
        ))
    });
}

#[cfg(test)]
#[path = "correlate_tests.rs"]
mod tests;
