//! `sonde-probe run`: the probe proper. Capture (live interfaces, or a capture
//! file replayed with `--replay`), flows, and export to the collector over
//! mutual TLS, until SIGINT/SIGTERM (or the end of the file); then the flow
//! tables are flushed and the exporter waits for the last acknowledgements.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use sonde_proto::v1;
use tokio::sync::mpsc;
use tracing::info;

use crate::capture::{FileSource, Next, PacketSource};
use crate::config::ProbeConfig;
use crate::engine::Engine;
use crate::export::{self, ExportSettings, ExportSummary};
use crate::live::{self, LiveError, LiveOptions};

/// Records between the capture threads and the exporter.
const CHANNEL_RECORDS: usize = 65_536;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("certificates: {0}")]
    Tls(#[from] sonde_common::tls::TlsError),
    #[error(transparent)]
    Capture(#[from] crate::capture::CaptureError),
    #[error(transparent)]
    Live(#[from] LiveError),
    #[error("dpi.applications: {0}")]
    Applications(#[from] crate::classify::apps::AppsError),
    #[error("no [[capture]] interface in the config and no --replay file")]
    NoCapture,
    #[error("starting the runtime: {0}")]
    Runtime(std::io::Error),
}

/// Runs the probe; returns what the exporter did. `connected` follows
/// whether an export stream is open (for `/ready`).
pub fn run(
    config: &ProbeConfig,
    replay: Option<&Path>,
    stop: &Arc<AtomicBool>,
    connected: Arc<AtomicBool>,
) -> Result<ExportSummary, RunError> {
    let tls = config.collector.tls.load()?;
    let settings = ExportSettings {
        endpoint: config.collector.endpoint.clone(),
        server_name: config.collector.server_name().to_owned(),
        tls: Arc::new(sonde_common::tls::Reloading::client(
            config.collector.tls.clone(),
        )?),
        observer: tls.identity()?,
        max_records: config.buffer.max_records as usize,
        max_bytes: config.buffer.max_bytes.bytes() as usize,
        batch_bytes: config.collector.batch_bytes.bytes() as usize,
        batch_delay: config.collector.batch_delay.get(),
        shutdown_deadline: config.collector.shutdown_deadline.get(),
        interfaces: match replay {
            Some(path) => vec![path.display().to_string()],
            None => config.capture.iter().map(|c| c.interface.clone()).collect(),
        },
        connected,
    };
    if replay.is_none() && config.capture.is_empty() {
        return Err(RunError::NoCapture);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(RunError::Runtime)?;
    let (tx, rx) = mpsc::channel::<v1::Record>(CHANNEL_RECORDS);
    info!(probe = %settings.observer, collector = %settings.endpoint, "Starting.");
    let exporter = runtime.spawn(export::run(settings, rx));
    let to_record = |flow: v1::Flow| v1::Record {
        kind: Some(v1::record::Kind::Flow(flow)),
    };
    let captured = match replay {
        Some(path) => replay_file(path, config, &tx, to_record),
        None => {
            let options = LiveOptions {
                captures: config.capture.clone(),
                settings: config.flow_settings()?,
            };
            let ready = |names: &[String]| info!(interfaces = %names.join(", "), "Capturing.");
            live::capture(&options, stop, ready, |flow| {
                tx.blocking_send(to_record(flow))
                    .map_err(|_| LiveError::Exporter)
            })
            .map(|_| ())
            .map_err(RunError::from)
        }
    };
    drop(tx);
    let summary = runtime.block_on(exporter).unwrap_or_default();
    runtime.shutdown_timeout(Duration::from_secs(1));
    captured?;
    Ok(summary)
}

/// A capture file through the engine at full speed, records to the exporter.
fn replay_file(
    path: &Path,
    config: &ProbeConfig,
    tx: &mpsc::Sender<v1::Record>,
    to_record: impl Fn(v1::Flow) -> v1::Record,
) -> Result<(), RunError> {
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let mut source = FileSource::open(path, &name)?;
    let mut engine = Engine::new(source.link_type(), source.name(), config.flow_settings()?);
    let mut records = Vec::new();
    let send = |records: &mut Vec<v1::Flow>| -> Result<(), RunError> {
        for flow in records.drain(..) {
            tx.blocking_send(to_record(flow))
                .map_err(|_| LiveError::Exporter)?;
        }
        Ok(())
    };
    while let Ok(Next::Packet(p)) = source.next_packet() {
        engine.packet(&p, &mut records);
        send(&mut records)?;
    }
    while engine.finish_some(1024, &mut records) {
        send(&mut records)?;
    }
    send(&mut records)
}
