//! `sonde-probe read FILE [--suricata-eve EVE]`: the probe's pipeline on a
//! capture file, offline: flows, DPI, alerts (Suricata's too) and the export
//! policy. One JSON document per line on stdout (the ECS documents the
//! collector would index, or the raw records), a summary on stderr. Packet
//! time drives everything, so the same files give the same output every run.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use sonde_common::ecs::{self, Observer};
use sonde_proto::v1;

use crate::alert::{AlertCounters, AlertEngine, AlertSettings};
use crate::capture::{FileSource, Next, PacketSource};
use crate::engine::{Counters, Engine};
use crate::flow::FlowSettings;
use crate::pipeline::{Output, Pipeline};
use crate::suricata::EveCounters;

/// Flows ended per step at the end of a file, to bound the records in memory.
const FLUSH_CHUNK: usize = 1024;

/// What `read` writes per flow record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Emit {
    /// ECS documents, exactly as the collector indexes them.
    #[default]
    Ecs,
    /// The probe's wire records (`sonde.v1.Flow`) as JSON.
    Records,
    /// Nothing per flow, only the summary (to measure decode and flows).
    None,
}

#[derive(Clone, Debug)]
pub struct ReadOptions {
    pub emit: Emit,
    /// `observer.name` of the documents.
    pub observer: String,
    /// Interface name on the records; default: the file name.
    pub interface: Option<String>,
    pub settings: FlowSettings,
    /// Checks, Suricata correlation and export policy; `None`: no alerts,
    /// every flow written.
    pub alerts: Option<AlertSettings>,
    /// Suricata's eve.json for the same traffic, correlated by packet time.
    pub suricata_eve: Option<PathBuf>,
}

/// What a run saw, for the summary line.
#[derive(Clone, Debug)]
pub struct Summary {
    pub counters: Counters,
    pub flows: u64,
    /// Flow records written (the export policy may keep some back).
    pub records: u64,
    pub alerts: AlertCounters,
    /// eve.json lines read and skipped, when one was given.
    pub eve: Option<EveCounters>,
    /// Problems worth a line of their own (blacklist files).
    pub notes: Vec<String>,
    pub elapsed_s: f64,
    /// Set when the file ended with a read error (a truncated or corrupt
    /// file), with the position: what came before was still processed and
    /// written, and the command exits 1.
    pub read_error: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Capture(#[from] crate::capture::CaptureError),
    #[error("writing output: {0}")]
    Output(#[from] std::io::Error),
    #[error("encoding a record: {0}")]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Eve(#[from] EveFileError),
}

/// Runs the pipeline over `path`, writing documents to `out`.
pub fn read(
    path: &Path,
    options: &ReadOptions,
    out: &mut impl Write,
) -> Result<Summary, ReadError> {
    let started = Instant::now();
    let name = options.interface.clone().unwrap_or_else(|| file_name(path));
    let mut alerts = options.alerts.as_ref().map(AlertEngine::new);
    if let (Some(alerts), Some(_)) = (&mut alerts, &options.suricata_eve) {
        alerts.expect_suricata();
    }
    let notes = alerts
        .as_ref()
        .map(|a| a.blacklist_report().problems())
        .unwrap_or_default();
    let output = JsonLines {
        emit: options.emit,
        observer: Observer {
            name: options.observer.clone(),
            hostname: None,
        },
        out,
    };
    let mut pipeline = Pipeline::new(alerts, output);
    let eve = options.suricata_eve.as_deref().map(|eve_path| {
        let max_line = options
            .alerts
            .as_ref()
            .map_or(1 << 20, |a| a.suricata.max_line.bytes() as usize);
        (eve_path, max_line)
    });
    let run = process_file::<_, ReadError>(path, &name, &options.settings, eve, &mut pipeline)?;
    pipeline.output_mut().out.flush()?;
    Ok(Summary {
        counters: run.counters,
        flows: run.flows,
        records: pipeline.written().0,
        alerts: pipeline.counters(),
        eve: run.eve,
        notes,
        elapsed_s: started.elapsed().as_secs_f64(),
        read_error: run.read_error,
    })
}

/// The name of a file, for the interface field of its records.
pub fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// What one pass over a capture file saw.
#[derive(Clone, Debug)]
pub struct FileRun {
    pub counters: Counters,
    pub flows: u64,
    pub eve: Option<EveCounters>,
    /// A read error that ended the file early (everything before it was processed).
    pub read_error: Option<String>,
}

/// An eve.json that could not be read at all.
#[derive(Debug, thiserror::Error)]
#[error("reading {}: {error}", path.display())]
pub struct EveFileError {
    pub path: PathBuf,
    pub error: std::io::Error,
}

/// The capture file `path` through the flow table into `pipeline` at full
/// speed, with Suricata's events of `eve` (path, longest line) fed in
/// packet-time order; ends every flow and alert at the end.
pub fn process_file<O, E>(
    path: &Path,
    interface: &str,
    settings: &FlowSettings,
    eve: Option<(&Path, usize)>,
    pipeline: &mut Pipeline<O>,
) -> Result<FileRun, E>
where
    O: Output,
    E: From<O::Error> + From<crate::capture::CaptureError> + From<EveFileError>,
{
    let mut source = FileSource::open(path, interface)?;
    let mut engine = Engine::new(source.link_type(), source.name(), settings.clone());
    let (events, eve_counters) = match eve {
        Some((eve_path, max_line)) => {
            let (mut events, counters) =
                crate::suricata::read_file(eve_path, max_line).map_err(|error| EveFileError {
                    path: eve_path.to_owned(),
                    error,
                })?;
            events.sort_by_key(|e| e.timestamp_us);
            (events, Some(counters))
        }
        None => (Vec::new(), None),
    };
    // Peeked through the slice, not `Peekable::next_if`: an `EveEvent` is a
    // large struct, and `next_if` moves one in and out of its slot on every
    // packet even when no event is due (5% of a run without eve.json).
    let mut events = events.into_iter();
    let mut flows = Vec::new();
    let mut read_error = None;
    loop {
        match source.next_packet() {
            Ok(Next::Packet(p)) => {
                engine.packet(&p, &mut flows);
                pipeline.flows(&mut flows).map_err(E::from)?;
                while events
                    .as_slice()
                    .first()
                    .is_some_and(|e| e.timestamp_us <= p.ts_us)
                {
                    if let Some(event) = events.next() {
                        pipeline.eve(event).map_err(E::from)?;
                    }
                }
                pipeline.advance(p.ts_us).map_err(E::from)?;
            }
            Ok(Next::Idle) => {}
            Ok(Next::End) => break,
            Err(e) => {
                let after = engine.counters().packets;
                read_error = Some(format!("{e} (after packet {after})"));
                break;
            }
        }
    }
    while engine.finish_some(FLUSH_CHUNK, &mut flows) {
        pipeline.flows(&mut flows).map_err(E::from)?;
    }
    pipeline.flows(&mut flows).map_err(E::from)?;
    for event in events {
        pipeline.eve(event).map_err(E::from)?;
    }
    pipeline.finish().map_err(E::from)?;
    Ok(FileRun {
        counters: engine.counters(),
        flows: engine.table().stats().flows_created,
        eve: eve_counters,
        read_error,
    })
}

/// One JSON document per line.
#[derive(Debug)]
pub struct JsonLines<'a, W> {
    pub emit: Emit,
    pub observer: Observer,
    pub out: &'a mut W,
}

impl<W: Write> Output for JsonLines<'_, W> {
    type Error = ReadError;

    fn flow(&mut self, flow: v1::Flow) -> Result<(), ReadError> {
        write_record(&flow, self.emit, &self.observer, self.out)
    }

    fn alert(&mut self, alert: v1::Alert) -> Result<(), ReadError> {
        write_alert(&alert, self.emit, &self.observer, self.out)
    }
}

/// Writes one alert as a JSON line, as `emit` says.
pub fn write_alert(
    alert: &v1::Alert,
    emit: Emit,
    observer: &Observer,
    out: &mut impl Write,
) -> Result<(), ReadError> {
    match emit {
        Emit::Ecs => write_doc(&ecs::alert_fields(alert, observer), out)?,
        Emit::Records => serde_json::to_writer(&mut *out, alert)?,
        Emit::None => return Ok(()),
    }
    out.write_all(b"\n")?;
    Ok(())
}

/// Writes one flow record as a JSON line, as `emit` says.
pub fn write_record(
    record: &v1::Flow,
    emit: Emit,
    observer: &Observer,
    out: &mut impl Write,
) -> Result<(), ReadError> {
    match emit {
        Emit::Ecs => write_doc(&ecs::flow_fields(record, observer), out)?,
        Emit::Records => serde_json::to_writer(&mut *out, record)?,
        Emit::None => return Ok(()),
    }
    out.write_all(b"\n")?;
    Ok(())
}

/// An ECS document, written as the collector writes it.
fn write_doc(doc: &ecs::Doc<'_>, out: &mut impl Write) -> std::io::Result<()> {
    let mut json = Vec::with_capacity(1536);
    doc.write_json(&mut json);
    out.write_all(&json)
}

impl Summary {
    /// The stderr summary: one line of totals, one of skip reasons.
    pub fn render(&self, path: &Path) -> String {
        let c = &self.counters;
        let pps = if self.elapsed_s > 0.0 {
            c.packets as f64 / self.elapsed_s
        } else {
            0.0
        };
        let mut text = format!(
            "{}: {} packets, {} bytes, {} flows, {} records, {} undecoded, {:.3} s, {:.0} packets/s",
            path.display(),
            c.packets,
            c.bytes,
            self.flows,
            self.records,
            c.skipped_total(),
            self.elapsed_s,
            pps,
        );
        let reasons: Vec<String> = c
            .skipped_by_reason()
            .map(|(r, n)| format!("{r}={n}"))
            .collect();
        if !reasons.is_empty() {
            text.push_str(&format!("\nundecoded: {}", reasons.join(" ")));
        }
        if c.fragments_attributed + c.fragments_unattributed > 0 {
            text.push_str(&format!(
                "\nfragments: {} attributed, {} unattributed",
                c.fragments_attributed, c.fragments_unattributed
            ));
        }
        let a = &self.alerts;
        if a.raised + a.flows_suppressed + a.suricata_events + a.absorbed > 0 {
            text.push_str(&format!(
                "\nalerts: {} raised, {} exported, {} kept by the export policy, {} flow alerts folded into incidents; {} flow records kept by the policy",
                a.raised, a.exported, a.suppressed, a.absorbed, a.flows_suppressed
            ));
        }
        if let Some(e) = &self.eve {
            text.push_str(&format!(
                "\neve: {} lines, {} events, {} malformed, {} too long",
                e.lines,
                e.events,
                e.malformed_total(),
                e.oversize
            ));
        }
        for note in &self.notes {
            text.push_str(&format!("\nblacklist: {note}"));
        }
        if let Some(e) = &self.read_error {
            text.push_str(&format!("\nerror: {e}; everything before it was processed"));
        }
        text
    }
}
