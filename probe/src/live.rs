//! Live capture: one thread per interface, each with its own decoder and flow
//! table, every record carrying its interface's name. Records go through a
//! bounded channel to one writer; capture statistics and table counters are
//! published as metrics once per second.
//!
//! Time: packets carry the kernel's capture timestamps; on a quiet interface
//! the engine is advanced with the wall clock (the same clock those
//! timestamps come from), so idle flows still end. Files use packet time only
//! (see `read`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use metrics::{counter, gauge};
use sonde_common::telemetry::names;
use sonde_proto::v1;

use crate::capture::{CaptureError, CaptureStats, LiveSource, Next, PacketSource};
use crate::config::CaptureConfig;
use crate::decode::Skip;
use crate::engine::{Counters, Engine};
use crate::flow::FlowSettings;
use crate::pipeline::{Output, Pipeline};

/// Records waiting for the writer; a full channel blocks the capture thread,
/// and the kernel's drop counter then shows the loss.
const CHANNEL_RECORDS: usize = 65_536;
const PUBLISH_EVERY: Duration = Duration::from_secs(1);
const TICK_EVERY: Duration = Duration::from_secs(1);

#[derive(Clone, Debug)]
pub struct LiveOptions {
    pub captures: Vec<CaptureConfig>,
    pub settings: FlowSettings,
}

/// What one interface saw, for the summary.
#[derive(Clone, Debug)]
pub struct InterfaceSummary {
    pub interface: String,
    pub counters: Counters,
    pub capture: CaptureStats,
    pub flows: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error("writing output: {0}")]
    Output(#[from] std::io::Error),
    #[error("encoding a record: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the exporter stopped")]
    Exporter,
    #[error("capture thread for {0} panicked")]
    Thread(String),
}

/// What the capture hands its records to, on the calling thread.
pub trait LiveSink {
    fn flow(&mut self, flow: v1::Flow) -> Result<(), LiveError>;
    /// Called about once a second with the wall clock (Unix µs), busy or
    /// quiet, so time-driven work (alert windows) goes on.
    fn tick(&mut self, now_us: u64) -> Result<(), LiveError>;
}

impl<O: Output<Error = LiveError>> LiveSink for Pipeline<O> {
    fn flow(&mut self, flow: v1::Flow) -> Result<(), LiveError> {
        Pipeline::flow(self, flow)
    }

    fn tick(&mut self, now_us: u64) -> Result<(), LiveError> {
        self.advance(now_us)
    }
}

/// Captures until `stop` is set, handing every record to `sink` (on the
/// calling thread). Every interface is opened before any packet is read, so a
/// wrong name or filter fails at once; `on_ready` is called once all are open.
pub fn capture(
    options: &LiveOptions,
    stop: &Arc<AtomicBool>,
    on_ready: impl FnOnce(&[String]),
    sink: &mut impl LiveSink,
) -> Result<Vec<InterfaceSummary>, LiveError> {
    let sources = options
        .captures
        .iter()
        .map(LiveSource::open)
        .collect::<Result<Vec<_>, _>>()?;
    on_ready(
        &sources
            .iter()
            .map(|s| s.name().to_owned())
            .collect::<Vec<_>>(),
    );
    let (tx, rx) = mpsc::sync_channel::<v1::Flow>(CHANNEL_RECORDS);
    let mut threads = Vec::new();
    for source in sources {
        let (tx, stop, settings) = (tx.clone(), Arc::clone(stop), options.settings.clone());
        let name = source.name().to_owned();
        let handle = std::thread::Builder::new()
            .name(format!("capture-{name}"))
            .spawn(move || run_interface(source, settings, &stop, &tx))
            .map_err(LiveError::Output)?;
        threads.push((name, handle));
    }
    drop(tx);

    let mut failed = None;
    let mut last_tick = Instant::now();
    loop {
        let outcome = match rx.recv_timeout(TICK_EVERY) {
            Ok(record) => sink.flow(record),
            Err(mpsc::RecvTimeoutError::Timeout) => Ok(()),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let outcome = outcome.and_then(|()| {
            if last_tick.elapsed() >= TICK_EVERY {
                last_tick = Instant::now();
                sink.tick(now_us())
            } else {
                Ok(())
            }
        });
        if let Err(e) = outcome {
            // Stop capturing; the threads end when they see the flag.
            stop.store(true, Ordering::Relaxed);
            failed = Some(e);
            break;
        }
    }
    let mut summaries = Vec::new();
    for (name, handle) in threads {
        summaries.push(handle.join().map_err(|_| LiveError::Thread(name))??);
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(summaries),
    }
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

fn run_interface(
    mut source: LiveSource,
    settings: FlowSettings,
    stop: &AtomicBool,
    tx: &mpsc::SyncSender<v1::Flow>,
) -> Result<InterfaceSummary, LiveError> {
    let name = source.name().to_owned();
    let mut engine = Engine::new(source.link_type(), &name, settings);
    let mut records = Vec::new();
    let mut publisher = Publisher::new(&name);
    let mut last_publish = Instant::now();
    let mut outcome = Ok(());
    while !stop.load(Ordering::Relaxed) {
        match source.next_packet() {
            Ok(Next::Packet(p)) => engine.packet(&p, &mut records),
            Ok(Next::Idle | Next::End) => engine.idle(now_us(), &mut records),
            Err(e) => {
                outcome = Err(e);
                break;
            }
        }
        if send(&mut records, tx).is_err() {
            break; // the writer is gone
        }
        if last_publish.elapsed() >= PUBLISH_EVERY {
            last_publish = Instant::now();
            publisher.publish(&engine, source.stats());
        }
    }
    while engine.finish_some(1024, &mut records) {
        let _ = send(&mut records, tx);
    }
    let _ = send(&mut records, tx);
    let capture = source.stats().unwrap_or_default();
    publisher.publish(&engine, Some(capture));
    outcome?;
    Ok(InterfaceSummary {
        interface: name,
        counters: engine.counters(),
        capture,
        flows: engine.table().stats().flows_created,
    })
}

fn send(records: &mut Vec<v1::Flow>, tx: &mpsc::SyncSender<v1::Flow>) -> Result<(), ()> {
    for record in records.drain(..) {
        tx.send(record).map_err(|_| ())?;
    }
    Ok(())
}

/// Publishes an engine's plain counters as metrics (absolute values, so
/// publishing is idempotent and cheap).
struct Publisher {
    interface: String,
}

impl Publisher {
    fn new(interface: &str) -> Self {
        Self {
            interface: interface.to_owned(),
        }
    }

    fn publish(&mut self, engine: &Engine, capture: Option<CaptureStats>) {
        let iface = || self.interface.clone();
        let c = engine.counters();
        if let Some(s) = capture {
            counter!(names::PROBE_CAPTURE_RECEIVED, "interface" => iface()).absolute(s.received);
            counter!(names::PROBE_CAPTURE_KERNEL_DROPPED, "interface" => iface())
                .absolute(s.dropped_kernel);
            counter!(names::PROBE_CAPTURE_INTERFACE_DROPPED, "interface" => iface())
                .absolute(s.dropped_interface);
        }
        for (skip, n) in Skip::ALL.iter().zip(c.skipped) {
            counter!(names::PROBE_DECODE_SKIPPED, "interface" => iface(), "reason" => skip.name())
                .absolute(n);
        }
        counter!(names::PROBE_FRAGMENTS_UNATTRIBUTED, "interface" => iface())
            .absolute(c.fragments_unattributed);
        let table = engine.table();
        gauge!(names::PROBE_FLOWS_ACTIVE, "interface" => iface()).set(table.len() as f64);
        counter!(names::PROBE_FLOWS_EVICTED, "interface" => iface())
            .absolute(table.stats().flows_evicted);
        counter!(names::PROBE_FLOW_RECORDS, "interface" => iface()).absolute(table.stats().records);
    }
}
