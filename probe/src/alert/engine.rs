//! The alert stage: every flow record goes through the flow checks (one-shot
//! alerts, merged per conversation), the host checks (incidents) and the
//! Suricata correlator; every alert and flow record then meets the export
//! policy. One engine per probe, fed on one thread.

use std::sync::Arc;
use std::time::Instant;

use metrics::counter;
use sonde_common::telemetry::names;
use sonde_proto::v1::{self, AlertSource};

use super::config::{AlertConfig, RoutingConfig, SuricataConfig};
use super::flow_checks::{FlowCheckSettings, FlowChecks};
use super::host::HostChecks;
use super::lists::{Blacklists, LoadReport};
use super::merge::Merger;
use super::policy::Policy;
use super::{Rules, build};
use crate::suricata::{Correlator, CorrelatorSettings, EveEvent};

/// Open merge windows at once; beyond it the oldest is emitted early.
const MERGE_CAPACITY: usize = 65_536;
/// Time-driven work (windows closing) runs at most this often, in data time.
const TICK_US: u64 = 1_000_000;
const RELOAD_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Everything the engine needs: the `[alert]`, `[suricata]` and `[routing]`
/// tables of the probe's config (also a file of its own for `read`).
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct AlertSettings {
    pub alert: AlertConfig,
    pub suricata: SuricataConfig,
    pub routing: RoutingConfig,
    /// How the probe computes its flows' Community ID (`[community_id]`).
    #[serde(skip)]
    pub community_id: sonde_common::community_id::CommunityId,
}

impl sonde_common::config::Validate for AlertSettings {
    fn validate(&self, p: &mut sonde_common::config::Problems) {
        self.alert.validate(p);
        self.suricata.validate(p);
        self.routing.validate(p);
    }
}

/// What the engine did, for summaries and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AlertCounters {
    pub raised: u64,
    pub exported: u64,
    /// Alerts the export policy kept on the probe.
    pub suppressed: u64,
    pub flows_suppressed: u64,
    pub suricata_events: u64,
    /// Flow alerts folded into the host incident of their attacker.
    pub absorbed: u64,
}

#[derive(Debug)]
pub struct AlertEngine {
    enabled: bool,
    /// Flows are remembered for Suricata's alerts only when they can come.
    suricata_active: bool,
    flow_checks: FlowChecks,
    host: HostChecks,
    suricata: Correlator,
    merger: Merger,
    policy: Policy,
    next_tick_us: u64,
    now_us: u64,
    scratch: Vec<(v1::Alert, String)>,
    raised: Vec<v1::Alert>,
    counters: AlertCounters,
    blacklist_report: LoadReport,
    /// Blacklist files are checked for changes once a second of wall time.
    last_reload: Instant,
}

impl AlertEngine {
    /// The engine; a blacklist file that cannot be read is logged and retried
    /// ([`blacklist_report`](Self::blacklist_report) has what the first load found).
    pub fn new(settings: &AlertSettings) -> Self {
        let a = &settings.alert;
        let rules = Arc::new(Rules::new(&a.rules));
        let local = a.local_networks();
        let (blacklists, blacklist_report) = Blacklists::load(&a.blacklists);
        let flow_checks = FlowChecks::new(
            Arc::clone(&rules),
            FlowCheckSettings::from_config(a),
            blacklists,
        );
        let s = &settings.suricata;
        let us = |d: sonde_common::config::Duration| {
            u64::try_from(d.get().as_micros()).unwrap_or(u64::MAX)
        };
        Self {
            enabled: a.enabled,
            suricata_active: s.eve.is_some() || s.socket.is_some(),
            flow_checks,
            host: HostChecks::new(Arc::clone(&rules), local),
            suricata: Correlator::new(CorrelatorSettings::from_config(s, settings.community_id)),
            merger: Merger::new(us(a.merge_window), MERGE_CAPACITY),
            policy: Policy::new(&settings.routing),
            next_tick_us: 0,
            now_us: 0,
            scratch: Vec::new(),
            raised: Vec::new(),
            counters: AlertCounters::default(),
            blacklist_report,
            last_reload: Instant::now(),
        }
    }

    /// What loading the blacklists found at start (entries, invalid lines
    /// with their numbers, unreadable files).
    pub fn blacklist_report(&self) -> &LoadReport {
        &self.blacklist_report
    }

    /// One flow record: checks run; alerts that are due and pass the policy
    /// go to `out`. Returns whether the record itself is exported.
    pub fn flow(&mut self, flow: &v1::Flow, out: &mut Vec<v1::Alert>) -> bool {
        if self.enabled {
            self.flow_checks.flow(flow, &mut self.scratch);
            for (alert, key) in self.scratch.drain(..) {
                self.merger.push(alert, key, &mut self.raised);
            }
            self.host.flow(flow, &mut self.raised);
            if self.suricata_active {
                self.suricata.flow(flow, &mut self.raised);
            }
            self.advance(flow.last_seen_us, out);
            self.route(out);
        }
        let exported = self.policy.flow(flow);
        if !exported {
            self.counters.flows_suppressed += 1;
            counter!(names::PROBE_FLOWS_SUPPRESSED).increment(1);
        }
        exported
    }

    /// Suricata's events will come (`read --suricata-eve`): flows are
    /// remembered for them from now on. Set from the start when the config
    /// names an eve file or socket.
    pub fn expect_suricata(&mut self) {
        self.suricata_active = true;
    }

    /// One Suricata event.
    pub fn eve(&mut self, event: EveEvent, out: &mut Vec<v1::Alert>) {
        self.counters.suricata_events += 1;
        self.suricata_active = true;
        if self.enabled {
            self.suricata.event(event, &mut self.raised);
            self.route(out);
        }
    }

    /// Data time moved on to `now_us` (a packet, or the clock of a quiet
    /// live probe): windows that ended are closed.
    pub fn advance(&mut self, now_us: u64, out: &mut Vec<v1::Alert>) {
        self.now_us = self.now_us.max(now_us);
        if !self.enabled || self.now_us < self.next_tick_us {
            return;
        }
        self.next_tick_us = self.now_us.saturating_add(TICK_US);
        if self.last_reload.elapsed() >= RELOAD_EVERY {
            self.last_reload = Instant::now();
            self.flow_checks.reload_blacklists();
        }
        self.merger.advance(self.now_us, &mut self.raised);
        self.host.advance(self.now_us, &mut self.raised);
        self.suricata.advance(self.now_us, &mut self.raised);
        self.route(out);
    }

    /// End of input: everything still open is emitted.
    pub fn finish(&mut self, out: &mut Vec<v1::Alert>) {
        if !self.enabled {
            return;
        }
        // Incidents first, so the last Suricata alerts can join them; then
        // everything is released.
        self.host.close_last_window(&mut self.raised);
        self.suricata.finish(&mut self.raised);
        self.merger.flush(&mut self.raised);
        self.route(out);
        self.host.finish(&mut self.raised);
        self.route(out);
    }

    pub fn counters(&self) -> AlertCounters {
        self.counters
    }

    /// Links Suricata alerts to the host incident of their attacker, then
    /// applies the export policy.
    fn route(&mut self, out: &mut Vec<v1::Alert>) {
        for mut alert in self.raised.drain(..) {
            if alert.source == AlertSource::Suricata as i32 {
                link_incident(&mut self.host, &mut alert);
            } else if part_of_incident(&self.host, &alert) {
                // Already counted in the incident's attempts: one alert per
                // incident, not one more per refused probe.
                self.counters.absorbed += alert.count.max(1);
                counter!(names::PROBE_ALERTS_ABSORBED).increment(alert.count.max(1));
                continue;
            }
            self.counters.raised += 1;
            let severity = build::severity_label(alert.severity);
            // Bounded labels: a sonde rule key, or "suricata" for any signature.
            let rule = super::Rule::from_key(&alert.rule_key)
                .filter(|_| alert.source != AlertSource::Suricata as i32)
                .map_or("suricata", super::Rule::key);
            counter!(names::PROBE_ALERTS, "rule" => rule, "severity" => severity).increment(1);
            if self.policy.alert(&alert) {
                self.counters.exported += 1;
                out.push(alert);
            } else {
                self.counters.suppressed += 1;
                counter!(names::PROBE_ALERTS_SUPPRESSED).increment(1);
            }
        }
    }
}

/// A refused connection from a host with an engaged incident (a scan, a
/// brute force) is one of that incident's attempts, not an alert of its own.
fn part_of_incident(host: &HostChecks, alert: &v1::Alert) -> bool {
    alert.rule_key == super::Rule::TcpConnectionRefused.key()
        && build::ip(&alert.attacker_ip).is_some_and(|ip| host.incident_of_attacker(ip).is_some())
}

/// A scan or flood and the Suricata alerts it triggered become one incident:
/// the Suricata alert names the host incident, the incident lists the
/// signatures in its next update.
fn link_incident(host: &mut HostChecks, alert: &mut v1::Alert) {
    let Some(attacker) = build::ip(&alert.attacker_ip) else {
        return;
    };
    let Some((incident, rule)) = host.incident_of_attacker(attacker) else {
        return;
    };
    for signature in &alert.signatures {
        host.attach_signature(&incident, signature.clone());
    }
    build::set_evidence(alert, "incident_id", &incident);
    build::set_evidence(alert, "incident_rule", rule);
}
