//! The per-record path: what one flow record adds to the current window.
//!
//! - Flow-level events (a flow started, a failed attempt, a flag probe, a
//!   short login session, an echo sweep target, the flow's risk score) count
//!   once per flow, on its first record: interim records carry the counters
//!   of their interval, and conn_state / history / risks are cumulative, so
//!   the caller says whether this record is the flow's first.
//! - Packet-level events (ICMP packets, DNS queries) come from every record's
//!   interval counters; a record spanning more than a minute adds its
//!   per-minute average, so a long, slow flow never looks like a burst.

use std::net::IpAddr;

use sonde_proto::v1;

use crate::alert::build;

use super::window::{FLAG_KINDS, Kind, PortKey, PortKind, Triple, Window};

const MINUTE_US: u64 = 60_000_000;

const FIN: u32 = 0x01;
const SYN: u32 = 0x02;
const RST: u32 = 0x04;
const PSH: u32 = 0x08;
const URG: u32 = 0x20;
/// FIN SYN RST PSH ACK URG: the flags the stealth-scan patterns look at.
const SIX: u32 = 0x3f;

/// Thresholds the per-record path needs, read once from the rules.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// A host's flow / DNS / ICMP peers are recorded (for the evidence's top
    /// peers) once its counter reaches this share of the rule's threshold.
    pub(crate) flow_peers_from: u32,
    pub(crate) dns_peers_from: u32,
    pub(crate) icmp_peers_from: u32,
    /// A login session with fewer payload bytes (both directions) is short.
    pub(crate) brute_bytes: u64,
}

/// nDPI's names of remote-login protocols.
const LOGIN_PROTOCOLS: &[&str] = &["SSH", "RDP", "FTP_CONTROL", "Telnet", "VNC", "Rlogin"];
/// Their well-known ports: FTP, SSH, Telnet, rlogin, RDP, VNC.
const LOGIN_PORTS: &[u32] = &[21, 22, 23, 513, 3389, 5900];

fn is_login(flow: &v1::Flow, port: u32) -> bool {
    LOGIN_PORTS.contains(&port)
        || flow
            .l7
            .as_ref()
            .is_some_and(|l7| LOGIN_PROTOCOLS.contains(&l7.protocol.as_str()))
}

fn is_dns(flow: &v1::Flow, port: u32) -> bool {
    port == 53 || flow.l7.as_ref().is_some_and(|l7| l7.protocol == "DNS")
}

fn is_group(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.is_multicast() || a.is_broadcast(),
        IpAddr::V6(a) => a.is_multicast(),
    }
}

/// Conn states of a TCP flow whose handshake failed or was aborted.
fn failed_state(state: &str) -> bool {
    matches!(
        state,
        "S0" | "REJ" | "RSTOS0" | "RSTRH" | "SH" | "SHR" | "OTH" | "RSTO" | "RSTR"
    )
}

/// `packets` of a record as a per-minute amount.
fn per_minute(packets: u64, first_us: u64, last_us: u64) -> u32 {
    let span = last_us.saturating_sub(first_us);
    let n = if span > MINUTE_US {
        (u128::from(packets) * u128::from(MINUTE_US) / u128::from(span)) as u64
    } else {
        packets
    };
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn u16_port(p: u32) -> u16 {
    u16::try_from(p).unwrap_or(0)
}

/// Adds one record to `w`. `first` = this is the flow's first record.
pub(crate) fn observe(w: &mut Window, flow: &v1::Flow, first: bool, limits: &Limits) {
    let (Some(ce), Some(se)) = (flow.client.as_ref(), flow.server.as_ref()) else {
        return;
    };
    let (Some(c), Some(s)) = (build::ip(&ce.ip), build::ip(&se.ip)) else {
        return;
    };
    let (t0, t1) = (
        flow.first_seen_us,
        flow.last_seen_us.max(flow.first_seen_us),
    );
    let zero = v1::Direction::default();
    let c2s = flow.client_to_server.as_ref().unwrap_or(&zero);
    let s2c = flow.server_to_client.as_ref().unwrap_or(&zero);
    let port = se.port;
    let p16 = u16_port(port);

    // Counters of both hosts, then the per-kind events.
    let mut c_flows = 0;
    let mut c_dns = 0;
    let mut c_icmp = 0;
    if let Some(h) = w.host(c, t0, t1) {
        if first {
            h.flows_out = h.flows_out.saturating_add(1);
            h.score_out = h.score_out.saturating_add(flow.score);
        }
        c_flows = h.flows_out;
    }
    let mut s_flows = 0;
    if let Some(h) = w.host(s, t0, t1) {
        if first {
            h.flows_in = h.flows_in.saturating_add(1);
            h.score_in = h.score_in.saturating_add(flow.score);
        }
        s_flows = h.flows_in;
    }
    if first && (c_flows >= limits.flow_peers_from || s_flows >= limits.flow_peers_from) {
        w.triple(
            Triple {
                a: c,
                v: s,
                port: p16,
                kind: Kind::FlowPeer,
            },
            1,
        );
    }

    match flow.ip_protocol {
        6 => {
            if !first {
                return;
            }
            let flags = c2s.tcp_flags & SIX;
            let no_payload = c2s.payload_bytes == 0 && s2c.payload_bytes == 0;
            if flags & SYN != 0 && no_payload && failed_state(&flow.conn_state) {
                attempt(w, c, s, p16, t0, t1);
            } else if flags & SYN == 0 && c2s.packets > 0 {
                let i = match flags {
                    FIN => Some(0),
                    RST => Some(1),
                    0 => Some(2),
                    f if f == FIN | PSH | URG => Some(3),
                    _ => None,
                };
                if let Some(i) = i {
                    if let Some(h) = w.host(c, t0, t1) {
                        h.flags_out[i] = h.flags_out[i].saturating_add(1);
                    }
                    w.triple(
                        Triple {
                            a: c,
                            v: s,
                            port: p16,
                            kind: FLAG_KINDS[i],
                        },
                        1,
                    );
                }
            }
            // A session long enough for an interim record is not short.
            if !flow.interim && is_login(flow, port) {
                let failed = failed_state(&flow.conn_state);
                let small =
                    c2s.payload_bytes.saturating_add(s2c.payload_bytes) < limits.brute_bytes;
                if failed || small {
                    brute(w, c, s, p16, t0, t1);
                }
            }
            if is_dns(flow, port) {
                c_dns = 1;
            }
        }
        17 => {
            if first && c2s.packets > 0 && s2c.packets == 0 && !is_group(s) {
                if let Some((_, true)) = w.triple(
                    Triple {
                        a: c,
                        v: s,
                        port: p16,
                        kind: Kind::NoReply,
                    },
                    1,
                ) {
                    let k = PortKey {
                        ip: c,
                        port: p16,
                        kind: PortKind::UdpSent,
                    };
                    if let Some((ps, _)) = w.port(k, 1, true)
                        && let Some(h) = w.host(c, t0, t1)
                    {
                        h.horizontal_max = h.horizontal_max.max(ps.distinct);
                    }
                }
            }
            if is_dns(flow, port) {
                c_dns = per_minute(c2s.packets, t0, t1);
            }
        }
        1 | 58 => {
            c_icmp = per_minute(c2s.packets, t0, t1);
            let echo = if flow.ip_protocol == 1 { 8 } else { 128 };
            if first && ce.port == echo && !is_group(s) {
                let n = u32::try_from(c2s.packets).unwrap_or(u32::MAX);
                let new = matches!(
                    w.triple(
                        Triple {
                            a: c,
                            v: s,
                            port: 0,
                            kind: Kind::Echo
                        },
                        n
                    ),
                    Some((_, true))
                );
                if let Some(h) = w.host(c, t0, t1) {
                    h.echo_out = h.echo_out.saturating_add(n);
                    if new {
                        h.echo_hosts_out = h.echo_hosts_out.saturating_add(1);
                    }
                }
            }
        }
        _ => {}
    }
    if c_dns > 0 {
        add_peer_counter(
            w,
            c,
            s,
            p16,
            t0,
            t1,
            c_dns,
            Kind::DnsPeer,
            limits.dns_peers_from,
        );
    }
    if c_icmp > 0 {
        add_peer_counter(
            w,
            c,
            s,
            0,
            t0,
            t1,
            c_icmp,
            Kind::IcmpPeer,
            limits.icmp_peers_from,
        );
    }
}

/// Adds `n` DNS queries or ICMP packets from `c` to `s`, and records the
/// pair once either side is busy.
#[allow(
    clippy::too_many_arguments,
    reason = "one call per kind, all plain values"
)]
fn add_peer_counter(
    w: &mut Window,
    c: IpAddr,
    s: IpAddr,
    port: u16,
    t0: u64,
    t1: u64,
    n: u32,
    kind: Kind,
    from: u32,
) {
    let dns = kind == Kind::DnsPeer;
    let mut busy = false;
    if let Some(h) = w.host(c, t0, t1) {
        let v = if dns { &mut h.dns_out } else { &mut h.icmp_out };
        *v = v.saturating_add(n);
        busy |= *v >= from;
    }
    if let Some(h) = w.host(s, t0, t1) {
        let v = if dns { &mut h.dns_in } else { &mut h.icmp_in };
        *v = v.saturating_add(n);
        busy |= *v >= from;
    }
    if busy {
        w.triple(
            Triple {
                a: c,
                v: s,
                port,
                kind,
            },
            n,
        );
    }
}

/// A failed TCP attempt from `c` to `s:port`.
fn attempt(w: &mut Window, c: IpAddr, s: IpAddr, port: u16, t0: u64, t1: u64) {
    let (to_target, new_target) = w
        .triple(
            Triple {
                a: c,
                v: s,
                port,
                kind: Kind::Attempt,
            },
            1,
        )
        .unwrap_or((0, false));
    let new_host = matches!(
        w.triple(
            Triple {
                a: c,
                v: s,
                port: 0,
                kind: Kind::AttemptHost
            },
            1
        ),
        Some((_, true))
    );
    let out = w.port(
        PortKey {
            ip: c,
            port,
            kind: PortKind::Sent,
        },
        1,
        new_target,
    );
    let inc = w.port(
        PortKey {
            ip: s,
            port,
            kind: PortKind::Received,
        },
        1,
        new_target,
    );
    if let Some(h) = w.host(c, t0, t1) {
        h.attempts_out = h.attempts_out.saturating_add(1);
        h.flood_out_max = h.flood_out_max.max(to_target);
        if new_host {
            h.attempt_hosts_out = h.attempt_hosts_out.saturating_add(1);
        }
        if let Some((ps, new_port)) = out {
            h.horizontal_max = h.horizontal_max.max(ps.distinct);
            if new_port {
                h.attempt_ports_out = h.attempt_ports_out.saturating_add(1);
            }
        }
    }
    if let Some(h) = w.host(s, t0, t1) {
        h.attempts_in = h.attempts_in.saturating_add(1);
        if let Some((ps, _)) = inc {
            h.flood_in_max = h.flood_in_max.max(ps.count);
        }
    }
}

/// A short or failed session from `c` to the login service `s:port`.
fn brute(w: &mut Window, c: IpAddr, s: IpAddr, port: u16, t0: u64, t1: u64) {
    let n = w
        .triple(
            Triple {
                a: c,
                v: s,
                port,
                kind: Kind::Brute,
            },
            1,
        )
        .map_or(0, |(n, _)| n);
    if let Some(h) = w.host(c, t0, t1) {
        h.brute_out = h.brute_out.saturating_add(1);
        h.brute_max = h.brute_max.max(n);
    }
}
