//! One minute of flow records, reduced to what the host checks compare:
//! per-host counters, per-(host, port) counters and per-(attacker, victim,
//! port) counters of the events that matter (failed TCP attempts, FIN / RST /
//! NULL / XMAS probes, unanswered UDP, echo requests, short login sessions,
//! and, once a host is busy, its flow / DNS / ICMP peers).
//!
//! Distinct counts come from the maps themselves: a (host, port) or
//! (attacker, victim, port) entry that is new increments the host's distinct
//! counter, so no per-host set is kept. Every map is capped
//! ([`MAX_HOSTS`], [`MAX_PORTS`], [`MAX_TRIPLES`]); an event that would need a
//! new entry beyond the cap is counted in [`Overflow`] and not recorded (the
//! distinct counts then undercount: a full window never invents an alert).
//!
//! The per-record path allocates nothing beyond map entries.

use std::net::IpAddr;

use hashbrown::HashMap;

/// Hosts tracked per window.
pub(crate) const MAX_HOSTS: usize = 65_536;
/// (host, port) entries per window.
pub(crate) const MAX_PORTS: usize = 131_072;
/// (attacker, victim, port) entries per window.
pub(crate) const MAX_TRIPLES: usize = 262_144;

/// What an (attacker, victim, port) entry counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Kind {
    /// A TCP SYN that never carried data: unanswered, refused or reset.
    Attempt,
    /// The same, per (attacker, victim) with port 0: distinct victims.
    AttemptHost,
    Fin,
    Rst,
    Null,
    Xmas,
    /// A UDP flow the server never answered.
    NoReply,
    /// ICMP echo requests, per (sender, target) with port 0.
    Echo,
    /// Short or failed sessions to a login service.
    Brute,
    /// Flows of a busy host (flow flood evidence), port = server port.
    FlowPeer,
    /// DNS queries of a busy host.
    DnsPeer,
    /// ICMP packets of a busy host.
    IcmpPeer,
}

/// The four stealth-scan flag patterns, indexed like `HostStat::flags_out`.
pub(crate) const FLAG_KINDS: [Kind; 4] = [Kind::Fin, Kind::Rst, Kind::Null, Kind::Xmas];

/// What a (host, port) entry counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum PortKind {
    /// Attempts sent by the host to the port; distinct = victims.
    Sent,
    /// Attempts received by the host on the port; distinct = sources.
    Received,
    /// Unanswered UDP sent by the host to the port; distinct = victims.
    UdpSent,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Triple {
    pub(crate) a: IpAddr,
    pub(crate) v: IpAddr,
    pub(crate) port: u16,
    pub(crate) kind: Kind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct PortKey {
    pub(crate) ip: IpAddr,
    pub(crate) port: u16,
    pub(crate) kind: PortKind,
}

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct PortStat {
    pub(crate) count: u32,
    pub(crate) distinct: u32,
}

/// One host's counters in one window ("out" = as client / sender, "in" =
/// as server / receiver).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct HostStat {
    pub(crate) first_us: u64,
    pub(crate) last_us: u64,
    pub(crate) attempts_out: u32,
    pub(crate) attempt_ports_out: u32,
    pub(crate) attempt_hosts_out: u32,
    pub(crate) attempts_in: u32,
    /// Most attempts this host sent to one (victim, port).
    pub(crate) flood_out_max: u32,
    /// Most attempts this host received on one port.
    pub(crate) flood_in_max: u32,
    /// Most distinct victims this host probed on one port (TCP or UDP).
    pub(crate) horizontal_max: u32,
    /// FIN, RST, NULL, XMAS probes sent.
    pub(crate) flags_out: [u32; 4],
    pub(crate) icmp_out: u32,
    pub(crate) icmp_in: u32,
    pub(crate) echo_out: u32,
    pub(crate) echo_hosts_out: u32,
    pub(crate) flows_out: u32,
    pub(crate) flows_in: u32,
    pub(crate) dns_out: u32,
    pub(crate) dns_in: u32,
    pub(crate) brute_out: u32,
    /// Most short sessions this host opened to one (server, port).
    pub(crate) brute_max: u32,
    pub(crate) score_out: u32,
    pub(crate) score_in: u32,
}

impl HostStat {
    fn seen(&mut self, first_us: u64, last_us: u64) {
        if self.first_us == 0 || first_us < self.first_us {
            self.first_us = first_us;
        }
        self.last_us = self.last_us.max(last_us);
    }
}

/// Entries that could not be recorded because a map was full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Overflow {
    pub hosts: u64,
    pub ports: u64,
    pub triples: u64,
}

/// One minute window.
#[derive(Debug, Default)]
pub(crate) struct Window {
    pub(crate) hosts: HashMap<IpAddr, HostStat>,
    pub(crate) ports: HashMap<PortKey, PortStat>,
    pub(crate) triples: HashMap<Triple, u32>,
    pub(crate) overflow: Overflow,
}

impl Window {
    /// Empties the window for the next minute, keeping room for as many
    /// entries as this one had (the memory of a past spike is given back).
    pub(crate) fn clear(&mut self) {
        let (h, p, t) = (self.hosts.len(), self.ports.len(), self.triples.len());
        self.hosts.clear();
        self.ports.clear();
        self.triples.clear();
        self.hosts.shrink_to(h);
        self.ports.shrink_to(p);
        self.triples.shrink_to(t);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    /// The host's counters, created if there is room.
    pub(crate) fn host(
        &mut self,
        ip: IpAddr,
        first_us: u64,
        last_us: u64,
    ) -> Option<&mut HostStat> {
        let full = self.hosts.len() >= MAX_HOSTS;
        let overflow = &mut self.overflow;
        let st = match self.hosts.entry(ip) {
            hashbrown::hash_map::Entry::Occupied(e) => e.into_mut(),
            hashbrown::hash_map::Entry::Vacant(e) => {
                if full {
                    overflow.hosts += 1;
                    return None;
                }
                e.insert(HostStat::default())
            }
        };
        st.seen(first_us, last_us);
        Some(st)
    }

    /// Adds `n` to a triple; returns (its new count, whether it is new), or
    /// `None` when the map is full.
    pub(crate) fn triple(&mut self, t: Triple, n: u32) -> Option<(u32, bool)> {
        let full = self.triples.len() >= MAX_TRIPLES;
        match self.triples.entry(t) {
            hashbrown::hash_map::Entry::Occupied(e) => {
                let c = e.into_mut();
                *c = c.saturating_add(n);
                Some((*c, false))
            }
            hashbrown::hash_map::Entry::Vacant(e) => {
                if full {
                    self.overflow.triples += 1;
                    return None;
                }
                e.insert(n);
                Some((n, true))
            }
        }
    }

    /// Adds to a (host, port) entry: `n` to its count, 1 to its distinct
    /// count when `new_peer`; returns the entry and whether it is new.
    pub(crate) fn port(&mut self, k: PortKey, n: u32, new_peer: bool) -> Option<(PortStat, bool)> {
        let full = self.ports.len() >= MAX_PORTS;
        let (st, new) = match self.ports.entry(k) {
            hashbrown::hash_map::Entry::Occupied(e) => (e.into_mut(), false),
            hashbrown::hash_map::Entry::Vacant(e) => {
                if full {
                    self.overflow.ports += 1;
                    return None;
                }
                (e.insert(PortStat::default()), true)
            }
        };
        st.count = st.count.saturating_add(n);
        if new_peer {
            st.distinct = st.distinct.saturating_add(1);
        }
        Some((*st, new))
    }
}
