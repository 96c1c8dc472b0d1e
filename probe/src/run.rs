//! `sonde-probe run`: the probe proper. Capture (live interfaces, or a capture
//! file replayed with `--replay`), flows, and export to the collector over
//! mutual TLS, until SIGINT/SIGTERM (or the end of the file); then the flow
//! tables are flushed and the exporter waits for the last acknowledgements.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sonde_proto::v1;
use tokio::sync::mpsc;
use tracing::info;

use crate::alert::AlertEngine;
use crate::config::ProbeConfig;
use crate::export::{self, ExportSettings, ExportSummary};
use crate::live::{self, LiveError, LiveOptions};
use crate::pipeline::{Output, Pipeline};

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
    #[error(transparent)]
    Eve(#[from] crate::read::EveFileError),
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
    let alerts = AlertEngine::new(&config.alert_settings());
    let mut pipeline = Pipeline::new(Some(alerts), ToExporter { tx: &tx });
    let eve_stop = Arc::new(AtomicBool::new(false));
    let mut eve_thread = None;
    let captured = match replay {
        Some(path) => {
            let eve = config
                .suricata
                .eve
                .as_deref()
                .map(|p| (p, config.suricata.max_line.bytes() as usize));
            let name = crate::read::file_name(path);
            crate::read::process_file::<_, RunError>(
                path,
                &name,
                &config.flow_settings()?,
                eve,
                &mut pipeline,
            )
            .map(|_| ())
        }
        None => {
            let options = LiveOptions {
                captures: config.capture.clone(),
                settings: config.flow_settings()?,
            };
            if let Some((handle, rx)) = crate::suricata::spawn_follower(&config.suricata, &eve_stop)
            {
                pipeline = pipeline.with_eve(rx);
                eve_thread = Some(handle);
            }
            let ready = |names: &[String]| info!(interfaces = %names.join(", "), "Capturing.");
            let captured = live::capture(&options, stop, ready, &mut pipeline)
                .map(|_| ())
                .and_then(|()| pipeline.finish())
                .map_err(RunError::from);
            eve_stop.store(true, Ordering::Relaxed);
            captured
        }
    };
    // The follower ends on the flag, or when its queue's receiver is gone.
    drop(pipeline);
    if let Some(handle) = eve_thread {
        let _ = handle.join();
    }
    drop(tx);
    let summary = runtime.block_on(exporter).unwrap_or_default();
    runtime.shutdown_timeout(Duration::from_secs(1));
    captured?;
    Ok(summary)
}

/// Records that leave the probe go to the exporter's channel; blocks while
/// it is full (the capture then shows the backlog as kernel drops).
#[derive(Debug)]
struct ToExporter<'a> {
    tx: &'a mpsc::Sender<v1::Record>,
}

impl Output for ToExporter<'_> {
    type Error = LiveError;

    fn flow(&mut self, flow: v1::Flow) -> Result<(), LiveError> {
        self.send(v1::record::Kind::Flow(Box::new(flow)))
    }

    fn alert(&mut self, alert: v1::Alert) -> Result<(), LiveError> {
        self.send(v1::record::Kind::Alert(Box::new(alert)))
    }
}

impl ToExporter<'_> {
    fn send(&self, kind: v1::record::Kind) -> Result<(), LiveError> {
        self.tx
            .blocking_send(v1::Record { kind: Some(kind) })
            .map_err(|_| LiveError::Exporter)
    }
}
