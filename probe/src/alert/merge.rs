//! Merging repeated one-shot alerts: the same rule about the same entity
//! within a window becomes one alert with a count and the first and last
//! time, emitted when the window ends (or at shutdown), instead of one alert
//! per occurrence. The window starts at the first occurrence.
//!
//! Bounded: at most `capacity` open windows; beyond it the oldest is emitted
//! early (nothing is dropped).

use std::collections::HashMap;

use sonde_proto::v1;

use super::build;

#[derive(Debug)]
pub struct Merger {
    window_us: u64,
    capacity: usize,
    open: HashMap<(String, String), v1::Alert>,
}

impl Merger {
    pub fn new(window_us: u64, capacity: usize) -> Self {
        Self {
            window_us,
            capacity: capacity.max(1),
            open: HashMap::new(),
        }
    }

    /// Adds an occurrence. `merge_key` names the entity for merging (it may be
    /// coarser than the alert's entity: a conversation rather than one flow).
    pub fn push(&mut self, alert: v1::Alert, merge_key: String, out: &mut Vec<v1::Alert>) {
        if self.window_us == 0 {
            out.push(finish(alert, &merge_key));
            return;
        }
        let key = (alert.rule_key.clone(), merge_key);
        if let Some(open) = self.open.get_mut(&key) {
            open.count = open.count.saturating_add(alert.count.max(1));
            open.first_seen_us = open.first_seen_us.min(alert.first_seen_us);
            open.last_seen_us = open.last_seen_us.max(alert.last_seen_us);
            open.score = open.score.max(alert.score);
            open.severity = open.severity.max(alert.severity);
            return;
        }
        if self.open.len() >= self.capacity {
            self.emit_oldest(out);
        }
        self.open.insert(key, alert);
    }

    /// Emits every alert whose window ended by `now_us`, oldest first.
    pub fn advance(&mut self, now_us: u64, out: &mut Vec<v1::Alert>) {
        let window = self.window_us;
        self.drain_where(|a| a.first_seen_us.saturating_add(window) <= now_us, out);
    }

    /// Emits everything (end of file, shutdown).
    pub fn flush(&mut self, out: &mut Vec<v1::Alert>) {
        self.drain_where(|_| true, out);
    }

    pub fn len(&self) -> usize {
        self.open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    fn emit_oldest(&mut self, out: &mut Vec<v1::Alert>) {
        let oldest = self
            .open
            .iter()
            .min_by_key(|(k, a)| (a.first_seen_us, (*k).clone()))
            .map(|(k, _)| k.clone());
        if let Some(key) = oldest
            && let Some(alert) = self.open.remove(&key)
        {
            out.push(finish(alert, &key.1));
        }
    }

    fn drain_where(&mut self, due: impl Fn(&v1::Alert) -> bool, out: &mut Vec<v1::Alert>) {
        if self.open.is_empty() {
            return;
        }
        let mut ready: Vec<((String, String), v1::Alert)> = Vec::new();
        self.open.retain(|k, a| {
            if due(a) {
                ready.push((k.clone(), std::mem::take(a)));
                false
            } else {
                true
            }
        });
        // Deterministic order: time, then key.
        ready.sort_by(|(ka, a), (kb, b)| (a.first_seen_us, ka).cmp(&(b.first_seen_us, kb)));
        out.extend(
            ready
                .into_iter()
                .map(|((_, merge_key), a)| finish(a, &merge_key)),
        );
    }
}

/// The incident id of a merged alert, and its count in the message.
fn finish(mut alert: v1::Alert, merge_key: &str) -> v1::Alert {
    if alert.incident_id.is_empty() {
        alert.incident_id = build::incident_id(&alert.rule_key, merge_key, alert.first_seen_us);
    }
    if alert.count > 1 {
        let count = alert.count;
        build::set_evidence(&mut alert, "occurrences", count);
        alert.message = format!(
            "{} ({} times)",
            alert.message,
            build::thousands(alert.count)
        );
    }
    alert
}

#[cfg(test)]
mod tests {
    use super::*;

    fn occurrence(rule: &str, at: u64) -> v1::Alert {
        v1::Alert {
            rule_key: rule.into(),
            message: "Zero window on 10.0.0.1:80".into(),
            first_seen_us: at,
            last_seen_us: at + 5,
            count: 1,
            ..Default::default()
        }
    }

    #[test]
    fn repeats_within_the_window_become_one_alert() {
        let mut m = Merger::new(60_000_000, 1000);
        let mut out = Vec::new();
        for i in 0..5 {
            m.push(
                occurrence("tcp_zero_window", i * 1_000_000),
                "a".into(),
                &mut out,
            );
        }
        m.push(
            occurrence("tcp_zero_window", 2_000_000),
            "b".into(),
            &mut out,
        );
        assert!(out.is_empty(), "nothing before the window ends");
        m.advance(59_999_999, &mut out);
        assert!(out.is_empty());
        m.advance(60_000_000, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].count, 5);
        assert_eq!((out[0].first_seen_us, out[0].last_seen_us), (0, 4_000_005));
        assert_eq!(out[0].message, "Zero window on 10.0.0.1:80 (5 times)");
        assert!(!out[0].incident_id.is_empty());
        m.flush(&mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].count, 1);
        assert_eq!(out[1].message, "Zero window on 10.0.0.1:80");
    }

    #[test]
    fn after_the_window_a_new_alert_starts() {
        let mut m = Merger::new(10, 1000);
        let mut out = Vec::new();
        m.push(occurrence("r", 0), "a".into(), &mut out);
        m.advance(10, &mut out);
        m.push(occurrence("r", 11), "a".into(), &mut out);
        m.flush(&mut out);
        assert_eq!(out.len(), 2);
        assert_ne!(out[0].incident_id, out[1].incident_id);
    }

    #[test]
    fn a_full_merger_emits_its_oldest_early() {
        let mut m = Merger::new(1_000_000, 2);
        let mut out = Vec::new();
        for (i, key) in ["a", "b", "c"].into_iter().enumerate() {
            m.push(occurrence("r", i as u64), key.into(), &mut out);
        }
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].first_seen_us, 0);
        assert_eq!(m.len(), 2);
    }
}
