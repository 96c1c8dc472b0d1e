//! The stages after the flow table, shared by `read`, `capture` and `run`:
//! each flow record goes through the alert engine and the export policy,
//! Suricata's events join in, and what passes goes to an [`Output`] (JSON
//! lines, or the exporter's channel). Without an alert engine every flow
//! passes.

use std::sync::mpsc;

use sonde_proto::v1;

use crate::alert::{AlertCounters, AlertEngine};
use crate::suricata::eve::EveEvent;

/// Where records that leave the probe go.
pub trait Output {
    type Error;
    fn flow(&mut self, flow: v1::Flow) -> Result<(), Self::Error>;
    fn alert(&mut self, alert: v1::Alert) -> Result<(), Self::Error>;
}

#[derive(Debug)]
pub struct Pipeline<O> {
    alerts: Option<AlertEngine>,
    /// Events of a followed eve.json (live), drained as time passes.
    eve: Option<mpsc::Receiver<EveEvent>>,
    raised: Vec<v1::Alert>,
    flows_out: u64,
    alerts_out: u64,
    output: O,
}

impl<O: Output> Pipeline<O> {
    pub fn new(alerts: Option<AlertEngine>, output: O) -> Self {
        Self {
            alerts,
            eve: None,
            raised: Vec::new(),
            flows_out: 0,
            alerts_out: 0,
            output,
        }
    }

    /// Suricata's events arrive on `rx` (a follower thread).
    pub fn with_eve(mut self, rx: mpsc::Receiver<EveEvent>) -> Self {
        self.eve = Some(rx);
        self
    }

    /// One flow record.
    pub fn flow(&mut self, flow: v1::Flow) -> Result<(), O::Error> {
        self.take_eve();
        let exported = match &mut self.alerts {
            Some(alerts) => alerts.flow(&flow, &mut self.raised),
            None => true,
        };
        if exported {
            self.flows_out += 1;
            self.output.flow(flow)?;
        }
        self.emit()
    }

    /// Several flow records, drained.
    pub fn flows(&mut self, flows: &mut Vec<v1::Flow>) -> Result<(), O::Error> {
        // Called once per packet; most packets end no flow.
        if flows.is_empty() {
            return Ok(());
        }
        for flow in flows.drain(..) {
            self.flow(flow)?;
        }
        Ok(())
    }

    /// One Suricata event (offline; live events come through [`with_eve`](Self::with_eve)).
    pub fn eve(&mut self, event: EveEvent) -> Result<(), O::Error> {
        if let Some(alerts) = &mut self.alerts {
            alerts.eve(event, &mut self.raised);
        }
        self.emit()
    }

    /// Time moved on to `now_us`: queued Suricata events are taken in and
    /// windows that ended are closed.
    pub fn advance(&mut self, now_us: u64) -> Result<(), O::Error> {
        self.take_eve();
        if let Some(alerts) = &mut self.alerts {
            alerts.advance(now_us, &mut self.raised);
        }
        self.emit()
    }

    /// End of input: every open alert is emitted.
    pub fn finish(&mut self) -> Result<(), O::Error> {
        self.take_eve();
        if let Some(alerts) = &mut self.alerts {
            alerts.finish(&mut self.raised);
        }
        self.emit()
    }

    pub fn counters(&self) -> AlertCounters {
        self.alerts
            .as_ref()
            .map(AlertEngine::counters)
            .unwrap_or_default()
    }

    /// Flow records and alerts that went to the output.
    pub fn written(&self) -> (u64, u64) {
        (self.flows_out, self.alerts_out)
    }

    pub fn output_mut(&mut self) -> &mut O {
        &mut self.output
    }

    /// Takes in the events a follower queued (a cheap check when none are).
    fn take_eve(&mut self) {
        if let (Some(alerts), Some(rx)) = (&mut self.alerts, &self.eve) {
            while let Ok(event) = rx.try_recv() {
                alerts.eve(event, &mut self.raised);
            }
        }
    }

    fn emit(&mut self) -> Result<(), O::Error> {
        if self.raised.is_empty() {
            return Ok(());
        }
        for alert in self.raised.drain(..) {
            self.alerts_out += 1;
            self.output.alert(alert)?;
        }
        Ok(())
    }
}
