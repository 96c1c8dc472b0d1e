//! Small helpers every check uses to fill an alert: incident ids, evidence,
//! the flow's endpoints, numbers written for people.

use std::net::IpAddr;

use sonde_proto::v1;

/// A stable incident id: the same rule, entity and start give the same id in
/// every run (a replayed file gives the same documents); 16 hex digits.
pub fn incident_id(rule_key: &str, entity: &str, first_seen_us: u64) -> String {
    let h = fnv1a(&[
        rule_key.as_bytes(),
        entity.as_bytes(),
        &first_seen_us.to_be_bytes(),
    ]);
    format!("{h:016x}")
}

/// FNV-1a (64 bits) of `parts`, a zero byte between them so `("ab", "c")`
/// and `("a", "bc")` differ. Stable across versions and platforms, unlike
/// std's hasher: ids and sampling choices are the same in every run.
pub fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, part) in parts.iter().enumerate() {
        let sep: &[u8] = if i == 0 { &[] } else { &[0] };
        for b in sep.iter().chain(part.iter()) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// Adds one piece of evidence.
pub fn evidence(alert: &mut v1::Alert, key: &str, value: impl ToString) {
    alert.evidence.push(v1::Evidence {
        key: key.to_owned(),
        value: value.to_string(),
    });
}

/// Replaces the evidence under `key` (or adds it).
pub fn set_evidence(alert: &mut v1::Alert, key: &str, value: impl ToString) {
    match alert.evidence.iter_mut().find(|e| e.key == key) {
        Some(e) => e.value = value.to_string(),
        None => evidence(alert, key, value),
    }
}

/// Addresses to and from the raw bytes records carry.
pub use sonde_proto::{ip_from_bytes as ip, ip_to_bytes as ip_bytes};

/// The client and server addresses of a flow record.
pub fn endpoints(flow: &v1::Flow) -> Option<(IpAddr, IpAddr)> {
    let client = ip(&flow.client.as_ref()?.ip)?;
    let server = ip(&flow.server.as_ref()?.ip)?;
    Some((client, server))
}

pub fn server_port(flow: &v1::Flow) -> u32 {
    flow.server.as_ref().map_or(0, |s| s.port)
}

/// An alert about one flow: the flow's context, the client as attacker and
/// the server as victim unless the check says otherwise, the flow's interface,
/// its Community ID as the entity, and its times.
pub fn for_flow(mut alert: v1::Alert, flow: &v1::Flow) -> v1::Alert {
    if let Some((client, server)) = endpoints(flow) {
        alert.attacker_ip = ip_bytes(client);
        alert.victim_ip = ip_bytes(server);
    }
    alert.interface.clone_from(&flow.interface);
    alert.entity_value.clone_from(&flow.community_id);
    alert.first_seen_us = flow.first_seen_us;
    alert.last_seen_us = flow.last_seen_us;
    alert.flow = Some(flow.clone());
    alert
}

/// SO's label of a severity number: `low`, `medium`, `high`, `critical`.
pub fn severity_label(severity: i32) -> &'static str {
    match v1::Severity::try_from(severity).unwrap_or(v1::Severity::Unspecified) {
        v1::Severity::Unspecified => "unspecified",
        v1::Severity::Low => "low",
        v1::Severity::Medium => "medium",
        v1::Severity::High => "high",
        v1::Severity::Critical => "critical",
    }
}

/// `1994` as `1,994`: counts in messages are read by people.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `n thing` or `n things`, with `n` written by [`thousands`].
pub fn plural(n: u64, thing: &str) -> String {
    if n == 1 {
        format!("1 {thing}")
    } else {
        format!("{} {thing}s", thousands(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_for_people() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1994), "1,994");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(plural(1, "port"), "1 port");
        assert_eq!(plural(1994, "port"), "1,994 ports");
    }

    #[test]
    fn incident_ids_are_stable_and_distinct() {
        let a = incident_id("syn_scan", "10.0.0.5", 1);
        assert_eq!(a, incident_id("syn_scan", "10.0.0.5", 1));
        assert_eq!(a.len(), 16);
        assert_ne!(a, incident_id("syn_scan", "10.0.0.5", 2));
        assert_ne!(a, incident_id("syn_flood", "10.0.0.5", 1));
        // The separator keeps ("ab", "c") and ("a", "bc") apart.
        assert_ne!(incident_id("ab", "c", 0), incident_id("a", "bc", 0));
    }
}
