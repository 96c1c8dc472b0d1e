//! `sonde-probe read FILE`: the probe's pipeline on a capture file, offline.
//! One JSON document per line on stdout (the ECS documents the collector
//! would index, or the raw records), a summary on stderr. Packet time drives
//! everything, so the same file gives the same output every run.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use sonde_common::ecs::{self, Observer};
use sonde_proto::v1;

use crate::capture::{FileSource, Next, PacketSource};
use crate::engine::{Counters, Engine};
use crate::flow::FlowSettings;

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
}

/// What a run saw, for the summary line.
#[derive(Clone, Debug)]
pub struct Summary {
    pub counters: Counters,
    pub flows: u64,
    pub records: u64,
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
}

/// Runs the pipeline over `path`, writing documents to `out`.
pub fn read(
    path: &Path,
    options: &ReadOptions,
    out: &mut impl Write,
) -> Result<Summary, ReadError> {
    let started = Instant::now();
    let name = options.interface.clone().unwrap_or_else(|| {
        path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    });
    let mut source = FileSource::open(path, &name)?;
    let mut engine = Engine::new(source.link_type(), source.name(), options.settings.clone());
    let observer = Observer {
        name: options.observer.clone(),
        hostname: None,
    };
    let mut records = Vec::new();
    let mut written = 0;
    let mut read_error = None;
    loop {
        match source.next_packet() {
            Ok(Next::Packet(p)) => engine.packet(&p, &mut records),
            Ok(Next::Idle) => {}
            Ok(Next::End) => break,
            Err(e) => {
                let after = engine.counters().packets;
                read_error = Some(format!("{e} (after packet {after})"));
                break;
            }
        }
        written += write_records(&mut records, options.emit, &observer, out)?;
    }
    while engine.finish_some(FLUSH_CHUNK, &mut records) {
        written += write_records(&mut records, options.emit, &observer, out)?;
    }
    written += write_records(&mut records, options.emit, &observer, out)?;
    out.flush()?;
    Ok(Summary {
        counters: engine.counters(),
        flows: engine.table().stats().flows_created,
        records: written,
        elapsed_s: started.elapsed().as_secs_f64(),
        read_error,
    })
}

/// Writes one flow record as a JSON line, as `emit` says.
pub fn write_record(
    record: &v1::Flow,
    emit: Emit,
    observer: &Observer,
    out: &mut impl Write,
) -> Result<(), ReadError> {
    match emit {
        Emit::Ecs => serde_json::to_writer(&mut *out, &ecs::flow_document(record, observer))?,
        Emit::Records => serde_json::to_writer(&mut *out, record)?,
        Emit::None => return Ok(()),
    }
    out.write_all(b"\n")?;
    Ok(())
}

fn write_records(
    records: &mut Vec<v1::Flow>,
    emit: Emit,
    observer: &Observer,
    out: &mut impl Write,
) -> Result<u64, ReadError> {
    let n = records.len() as u64;
    for record in records.drain(..) {
        write_record(&record, emit, observer, out)?;
    }
    Ok(n)
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
        if let Some(e) = &self.read_error {
            text.push_str(&format!("\nerror: {e}; everything before it was processed"));
        }
        text
    }
}
