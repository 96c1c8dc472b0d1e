//! Export: records from the capture threads into the [`ExportBuffer`], batched
//! (closed at `batch_bytes` or after `batch_delay`), gzip-compressed, over one
//! mutual-TLS gRPC `Export` stream to the collector; dropped from the buffer
//! only when acknowledged (proto/README.md has the rules).
//!
//! Reconnects use gRPC's connection backoff (1 s, x1.6, ±20 % jitter, at most
//! 120 s) and resend everything unacknowledged. Shutdown: once the record
//! channel closes, what is left is sent and acknowledgements are awaited up to
//! a deadline; whatever stays unacknowledged is reported as lost.

mod buffer;
mod connect;

pub use buffer::{ExportBuffer, Shed};

use std::sync::Arc;
use std::time::{Duration, Instant};

use sonde_proto::v1::{self, ExportRequest, Hello, export_request, export_response};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tracing::{info, warn};

/// Where and how to export.
#[derive(Clone, Debug)]
pub struct ExportSettings {
    /// `host:port` of the collector.
    pub endpoint: String,
    pub server_name: String,
    /// Rebuilt when the certificate files change: a reconnect picks up
    /// rotated certificates.
    pub tls: Arc<sonde_common::tls::Reloading<rustls::ClientConfig>>,
    /// The identity in this probe's certificate (`Batch.observer`).
    pub observer: String,
    pub max_records: usize,
    pub max_bytes: usize,
    pub batch_bytes: usize,
    pub batch_delay: Duration,
    /// How long shutdown waits for the last acknowledgements.
    pub shutdown_deadline: Duration,
    /// Reported interfaces (`Hello.interfaces`).
    pub interfaces: Vec<String>,
    /// Whether a stream is open now, for `/ready`.
    pub connected: Arc<std::sync::atomic::AtomicBool>,
}

/// What an export run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExportSummary {
    pub records: u64,
    pub acknowledged_through: u64,
    pub unacknowledged: u64,
    /// Records the collector refused as invalid.
    pub rejected: u64,
    pub shed: Shed,
    pub connections: u64,
}

/// Export state as metrics (absolute values; cheap, ten times a second).
fn publish(buffer: &ExportBuffer, summary: &ExportSummary) {
    use metrics::{counter, gauge};
    use sonde_common::telemetry::names as n;
    gauge!(n::PROBE_EXPORT_BUFFER_RECORDS).set(buffer.len() as f64);
    gauge!(n::PROBE_EXPORT_BUFFER_BYTES).set(buffer.bytes() as f64);
    let shed = buffer.shed();
    counter!(n::PROBE_EXPORT_SHED, "kind" => "flow").absolute(shed.flows);
    counter!(n::PROBE_EXPORT_SHED, "kind" => "alert").absolute(shed.alerts);
    counter!(n::PROBE_EXPORT_ACKED).absolute(summary.acknowledged_through);
    counter!(n::PROBE_EXPORT_CONNECTIONS).absolute(summary.connections);
}

/// gRPC's connection backoff (doc/connection-backoff.md in grpc/grpc).
#[derive(Debug)]
struct Backoff {
    next: Duration,
    seed: u64,
}

impl Backoff {
    const INITIAL: Duration = Duration::from_secs(1);
    const MAX: Duration = Duration::from_secs(120);

    fn new() -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos() as u64)
            .unwrap_or(1);
        Self {
            next: Self::INITIAL,
            seed: seed | 1,
        }
    }

    fn reset(&mut self) {
        self.next = Self::INITIAL;
    }

    /// The next wait: the current delay ±20 %, then the delay grows by 1.6.
    fn wait(&mut self) -> Duration {
        // xorshift: jitter needs no cryptographic randomness.
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let jitter = (self.seed % 401) as f64 / 1000.0 - 0.2;
        let wait = self.next.mul_f64(1.0 + jitter);
        self.next = self.next.mul_f64(1.6).min(Self::MAX);
        wait
    }
}

/// Runs until `records` closes and everything is acknowledged (or the
/// shutdown deadline passes).
pub async fn run(
    settings: ExportSettings,
    mut records: mpsc::Receiver<v1::Record>,
) -> ExportSummary {
    let mut buffer = ExportBuffer::new(settings.max_records, settings.max_bytes);
    let boot_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0);
    let mut summary = ExportSummary::default();
    let mut backoff = Backoff::new();
    let mut input_open = true;
    let mut closing_since: Option<Instant> = None;
    loop {
        summary.connections += 1;
        let outcome = session(
            &settings,
            boot_epoch,
            &mut buffer,
            &mut records,
            &mut input_open,
            &mut summary,
        )
        .await;
        match outcome {
            Ok(()) | Err(SessionError::Deadline) => break,
            Err(e) => {
                warn!(collector = %settings.endpoint, error = %e, "Export stream ended; reconnecting.");
                if !input_open {
                    let since = *closing_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= settings.shutdown_deadline {
                        break;
                    }
                }
                buffer.rewind(None);
                let wait = backoff.wait();
                // Keep taking records while waiting, so capture never blocks on us.
                let until = tokio::time::Instant::now() + wait;
                while input_open {
                    match tokio::time::timeout_at(until, records.recv()).await {
                        Ok(Some(record)) => {
                            summary.records += 1;
                            buffer.push(record);
                        }
                        Ok(None) => input_open = false,
                        Err(_) => break,
                    }
                }
                if !input_open {
                    tokio::time::sleep_until(until).await;
                }
            }
        }
        if summary.acknowledged_through > 0 {
            backoff.reset();
        }
    }
    summary.unacknowledged = buffer.len() as u64;
    summary.shed = buffer.shed();
    if summary.unacknowledged > 0 {
        warn!(
            records = summary.unacknowledged,
            "Shutting down with unacknowledged records: they are lost."
        );
    }
    summary
}

#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error("connecting: {0}")]
    Connect(String),
    #[error("stream: {0}")]
    Stream(#[from] tonic::Status),
    #[error("the collector closed the stream")]
    Closed,
    #[error("shutdown deadline passed with records unacknowledged")]
    Deadline,
}

/// One stream: Hello, then batches and acknowledgements, until the input is
/// closed and everything is acknowledged (Ok) or the stream fails (Err).
async fn session(
    settings: &ExportSettings,
    boot_epoch: u64,
    buffer: &mut ExportBuffer,
    records: &mut mpsc::Receiver<v1::Record>,
    input_open: &mut bool,
    summary: &mut ExportSummary,
) -> Result<(), SessionError> {
    let mut client = connect::connect(settings)
        .await
        .map_err(SessionError::Connect)?;
    let (tx, rx) = mpsc::channel::<ExportRequest>(8);
    let hello = Hello {
        software_version: env!("CARGO_PKG_VERSION").to_owned(),
        boot_epoch,
        first_unacked_seq: buffer.first_unacked(),
        protocol_revision: sonde_proto::v1::PROTOCOL_REVISION,
        interfaces: settings.interfaces.clone(),
    };
    let _ = tx
        .send(ExportRequest {
            message: Some(export_request::Message::Hello(hello)),
        })
        .await;
    let mut responses = client.export(ReceiverStream::new(rx)).await?.into_inner();
    info!(collector = %settings.endpoint, "Export stream open.");
    settings
        .connected
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let result = stream(
        settings,
        buffer,
        records,
        input_open,
        summary,
        &tx,
        &mut responses,
    )
    .await;
    settings
        .connected
        .store(false, std::sync::atomic::Ordering::Relaxed);
    result
}

/// The body of a session once the stream is open.
async fn stream(
    settings: &ExportSettings,
    buffer: &mut ExportBuffer,
    records: &mut mpsc::Receiver<v1::Record>,
    input_open: &mut bool,
    summary: &mut ExportSummary,
    tx: &mpsc::Sender<ExportRequest>,
    responses: &mut tonic::Streaming<v1::ExportResponse>,
) -> Result<(), SessionError> {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut oldest_unsent: Option<Instant> = None;
    // Batches sent and not yet acknowledged: (first, last) sequence numbers.
    let mut in_flight: std::collections::VecDeque<(u64, u64)> = std::collections::VecDeque::new();
    let mut closed_at: Option<Instant> = None;
    loop {
        tokio::select! {
            record = records.recv(), if *input_open => match record {
                Some(record) => {
                    summary.records += 1;
                    buffer.push(record);
                    oldest_unsent.get_or_insert_with(Instant::now);
                }
                None => {
                    *input_open = false;
                    closed_at = Some(Instant::now());
                }
            },
            response = responses.message() => match response? {
                Some(r) => match r.message {
                    Some(export_response::Message::Ack(ack)) => {
                        buffer.ack(ack.through_seq);
                        in_flight.retain(|&(_, last)| last > ack.through_seq);
                        summary.acknowledged_through = summary.acknowledged_through.max(ack.through_seq);
                    }
                    Some(export_response::Message::Nack(nack)) => {
                        warn!(code = nack.code, first_seq = nack.first_seq, reason = %nack.message, "Collector refused a batch.");
                        let batch = in_flight.iter().find(|&&(first, _)| first == nack.first_seq).copied();
                        match batch {
                            // Resending the same records cannot help: they are
                            // rejected (the collector counted them too).
                            Some((_, last)) if nack.code == v1::NackCode::Invalid as i32 => {
                                summary.rejected += last + 1 - nack.first_seq;
                                buffer.ack(last);
                                in_flight.retain(|&(_, l)| l > last);
                            }
                            _ => {
                                tokio::time::sleep(Duration::from_millis(u64::from(nack.retry_after_ms).max(100))).await;
                                buffer.rewind(Some(nack.first_seq));
                                in_flight.clear();
                            }
                        }
                    }
                    None => {}
                },
                None => return Err(SessionError::Closed),
            },
            _ = tick.tick() => publish(buffer, summary),
        }
        // Close batches on size, on age, and when the input is done.
        let (unsent, bytes) = buffer.unsent();
        let due = !*input_open
            || bytes >= settings.batch_bytes
            || oldest_unsent.is_some_and(|t| t.elapsed() >= settings.batch_delay);
        if unsent > 0 && due {
            while let Some(mut batch) =
                buffer.next_batch(sonde_proto::limits::MAX_BATCH_RECORDS, settings.batch_bytes)
            {
                batch.observer.clone_from(&settings.observer);
                in_flight.push_back((
                    batch.first_seq,
                    batch.first_seq + batch.records.len() as u64 - 1,
                ));
                if tx
                    .send(ExportRequest {
                        message: Some(export_request::Message::Batch(batch)),
                    })
                    .await
                    .is_err()
                {
                    return Err(SessionError::Closed);
                }
            }
            oldest_unsent = None;
        }
        if !*input_open && buffer.all_acked() {
            return Ok(());
        }
        if closed_at.is_some_and(|t| t.elapsed() >= settings.shutdown_deadline) {
            return Err(SessionError::Deadline);
        }
    }
}

/// `sonde-probe check`: connects with the probe's certificate, sends a Hello
/// and waits for the collector's answering Ack. Returns the acknowledged
/// sequence number.
pub async fn check_connection(settings: &ExportSettings) -> Result<u64, String> {
    let mut client = connect::connect(settings).await?;
    let (tx, rx) = mpsc::channel::<ExportRequest>(1);
    let hello = Hello {
        software_version: env!("CARGO_PKG_VERSION").to_owned(),
        boot_epoch: 0,
        first_unacked_seq: 1,
        protocol_revision: sonde_proto::v1::PROTOCOL_REVISION,
        interfaces: settings.interfaces.clone(),
    };
    tx.send(ExportRequest {
        message: Some(export_request::Message::Hello(hello)),
    })
    .await
    .map_err(|_| "the stream closed before the Hello".to_owned())?;
    let mut responses = client
        .export(ReceiverStream::new(rx))
        .await
        .map_err(|s| s.message().to_owned())?
        .into_inner();
    let first = tokio::time::timeout(Duration::from_secs(10), responses.message())
        .await
        .map_err(|_| "no answer to the Hello within 10 s".to_owned())?
        .map_err(|s| format!("{:?}: {}", s.code(), s.message()))?;
    drop(tx);
    match first.and_then(|r| r.message) {
        Some(export_response::Message::Ack(ack)) => Ok(ack.through_seq),
        Some(export_response::Message::Nack(nack)) => {
            Err(format!("the collector refused: {}", nack.message))
        }
        None => Err("the collector closed the stream".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_by_1_6_with_20_percent_jitter_up_to_120_seconds() {
        let mut b = Backoff::new();
        let mut expected = 1.0f64;
        for _ in 0..20 {
            let w = b.wait().as_secs_f64();
            assert!(
                w >= expected * 0.8 - 1e-9 && w <= expected * 1.2 + 1e-9,
                "{w} vs {expected}"
            );
            expected = (expected * 1.6).min(120.0);
        }
        b.reset();
        assert!(b.wait() <= Duration::from_millis(1200));
    }
}
