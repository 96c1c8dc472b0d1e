//! Incidents: one per (rule, role, host) while its condition holds. The
//! first window a threshold is crossed in raises the ENGAGED alert; each
//! further window in which it still holds raises one update (lifecycle
//! engaged, same incident id, higher count and last time); the first window
//! in which it no longer holds (or the end of input) raises the RELEASED
//! alert with the final evidence.
//!
//! Bounded: at most [`MAX_INCIDENTS`] engaged at once (beyond, new ones are
//! counted and dropped) and [`MAX_SIGNATURES`] Suricata signatures each.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use sonde_proto::v1;

use super::describe::Finding;
use super::detect::Role;
use crate::alert::build;
use crate::alert::{Rule, Rules};

pub(crate) const MAX_INCIDENTS: usize = 4096;
pub(crate) const MAX_SIGNATURES: usize = 32;

pub(crate) type Key = (Rule, Role, IpAddr);

#[derive(Debug)]
pub(crate) struct Incident {
    pub(crate) id: String,
    first_us: u64,
    last_us: u64,
    count: u64,
    minutes: u64,
    /// The latest window's finding: message, roles, evidence.
    last: Finding,
    signatures: Vec<v1::SuricataSignature>,
}

impl Incident {
    /// Whether `ip` is this incident's attacker or one of its victim's top
    /// sources.
    pub(crate) fn has_attacker(&self, ip: IpAddr) -> bool {
        self.last.attacker == Some(ip) || self.last.sources.contains(&ip)
    }
}

#[derive(Debug, Default)]
pub(crate) struct Incidents {
    pub(crate) map: BTreeMap<Key, Incident>,
    /// New incidents not opened because [`MAX_INCIDENTS`] were engaged.
    pub(crate) dropped: u64,
}

impl Incidents {
    /// The end of a window with its `findings` (sorted): incidents without a
    /// finding are released, findings engage new incidents or update theirs
    /// (emitting the update only when `emit_updates`).
    pub(crate) fn close(
        &mut self,
        findings: Vec<Finding>,
        rules: &Rules,
        emit_updates: bool,
        out: &mut Vec<v1::Alert>,
    ) {
        let held: BTreeSet<Key> = findings.iter().map(|f| (f.rule, f.role, f.ip)).collect();
        let gone: Vec<Key> = self
            .map
            .keys()
            .filter(|k| !held.contains(k))
            .copied()
            .collect();
        for key in gone {
            if let Some(inc) = self.map.remove(&key) {
                out.extend(alert(&inc, rules, v1::Lifecycle::Released));
            }
        }
        for f in findings {
            let key = (f.rule, f.role, f.ip);
            if let Some(inc) = self.map.get_mut(&key) {
                inc.count = inc.count.saturating_add(f.count);
                inc.minutes += 1;
                inc.first_us = inc.first_us.min(f.first_us);
                inc.last_us = inc.last_us.max(f.last_us);
                inc.last = f;
                if emit_updates {
                    out.extend(alert(inc, rules, v1::Lifecycle::Engaged));
                }
                continue;
            }
            if self.map.len() >= MAX_INCIDENTS {
                self.dropped += 1;
                continue;
            }
            let entity = match f.role {
                Role::Attacker => f.ip.to_string(),
                Role::Victim => format!("{} as victim", f.ip),
            };
            let inc = Incident {
                id: build::incident_id(f.rule.key(), &entity, f.first_us),
                first_us: f.first_us,
                last_us: f.last_us,
                count: f.count,
                minutes: 1,
                last: f,
                signatures: Vec::new(),
            };
            out.extend(alert(&inc, rules, v1::Lifecycle::Engaged));
            self.map.insert(key, inc);
        }
    }

    /// Releases every incident (end of input).
    pub(crate) fn release_all(&mut self, rules: &Rules, out: &mut Vec<v1::Alert>) {
        for inc in std::mem::take(&mut self.map).into_values() {
            out.extend(alert(&inc, rules, v1::Lifecycle::Released));
        }
    }

    /// Adds a signature (merged by id, counts added) to the incident `id`.
    pub(crate) fn attach(&mut self, id: &str, sig: v1::SuricataSignature) {
        let Some(inc) = self.map.values_mut().find(|i| i.id == id) else {
            return;
        };
        if let Some(s) = inc
            .signatures
            .iter_mut()
            .find(|s| s.signature_id == sig.signature_id)
        {
            s.count = s.count.saturating_add(sig.count.max(1));
        } else if inc.signatures.len() < MAX_SIGNATURES {
            let mut sig = sig;
            sig.count = sig.count.max(1);
            inc.signatures.push(sig);
        }
    }
}

/// The alert of `inc` at `lifecycle`; `None` when its rule is disabled.
fn alert(inc: &Incident, rules: &Rules, lifecycle: v1::Lifecycle) -> Option<v1::Alert> {
    let f = &inc.last;
    let mut a = rules.alert(f.rule)?;
    a.lifecycle = lifecycle as i32;
    a.entity_value = f.ip.to_string();
    a.first_seen_us = inc.first_us;
    a.last_seen_us = inc.last_us;
    a.count = inc.count;
    a.incident_id.clone_from(&inc.id);
    a.attacker_ip = f.attacker.map(build::ip_bytes).unwrap_or_default();
    a.victim_ip = f.victim.map(build::ip_bytes).unwrap_or_default();
    a.message.clone_from(&f.message);
    for (k, v) in &f.evidence {
        build::evidence(&mut a, k, v);
    }
    build::evidence(&mut a, "minutes", inc.minutes);
    a.signatures.clone_from(&inc.signatures);
    Some(a)
}
