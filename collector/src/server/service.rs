//! The `Export` stream, one task per probe connection (rules in
//! proto/README.md): `Hello` first, then batches; each batch is turned into
//! documents, handed to the output, and acknowledged (cumulatively) only once
//! the output has accepted it. A high-water mark per (identity, boot epoch)
//! drops replays, so a probe resending after a reconnect does not duplicate.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use sonde_proto::limits::MAX_BATCH_RECORDS;
use sonde_proto::v1::collector_server::Collector;
use sonde_proto::v1::{
    Ack, Batch, ExportRequest, ExportResponse, Nack, NackCode, export_request, export_response,
    record,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use tracing::{info, warn};

use super::PeerInfo;
use crate::documents::{Mapper, Source};
use crate::output::OutputHandle;
use crate::sink::Outcome;

/// How long a probe should wait after an output failure.
const RETRY_AFTER_MS: u32 = 1000;

/// Counters of the server, read by the metrics exporter and tests.
#[derive(Debug, Default)]
pub struct ServerStats {
    pub handshakes_failed: AtomicU64,
    pub streams: AtomicU64,
    pub batches: AtomicU64,
    pub records: AtomicU64,
    /// Records at or below the high-water mark: already delivered.
    pub replayed_records: AtomicU64,
    /// Sequence numbers skipped by probes (their buffer was full).
    pub shed_records: AtomicU64,
    pub rejected_records: AtomicU64,
    pub permission_denied: AtomicU64,
    pub nacks: AtomicU64,
}

impl ServerStats {
    /// Copies the counters into the `metrics` registry (absolute values).
    pub fn publish(&self) {
        use sonde_common::telemetry::names as n;
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        for (name, value) in [
            (n::COLLECTOR_STREAMS, get(&self.streams)),
            (n::COLLECTOR_HANDSHAKES_FAILED, get(&self.handshakes_failed)),
            (n::COLLECTOR_BATCHES, get(&self.batches)),
            (n::COLLECTOR_RECORDS, get(&self.records)),
            (n::COLLECTOR_REPLAYED, get(&self.replayed_records)),
            (n::COLLECTOR_PROBE_SHED, get(&self.shed_records)),
            (n::COLLECTOR_REJECTED, get(&self.rejected_records)),
            (n::COLLECTOR_PERMISSION_DENIED, get(&self.permission_denied)),
            (n::COLLECTOR_NACKS, get(&self.nacks)),
        ] {
            metrics::counter!(name).absolute(value);
        }
    }
}

type Marks = Arc<Mutex<HashMap<(String, u64), u64>>>;

#[derive(Debug, Clone)]
pub struct ExportService {
    output: OutputHandle,
    stats: Arc<ServerStats>,
    marks: Marks,
    mapper: Mapper,
    /// Streams are closed after about this long (±10%), so probes reconnect
    /// and spread over collector replicas (`server.max_connection_age`).
    max_stream_age: std::time::Duration,
}

impl ExportService {
    pub fn new(
        output: OutputHandle,
        stats: Arc<ServerStats>,
        mapper: Mapper,
        max_stream_age: std::time::Duration,
    ) -> Self {
        Self {
            output,
            stats,
            marks: Marks::default(),
            mapper,
            max_stream_age,
        }
    }
}

type Reply = mpsc::Sender<Result<ExportResponse, Status>>;

#[tonic::async_trait]
impl Collector for ExportService {
    type ExportStream = ReceiverStream<Result<ExportResponse, Status>>;

    async fn export(
        &self,
        request: Request<Streaming<ExportRequest>>,
    ) -> Result<Response<Self::ExportStream>, Status> {
        let peer = request
            .extensions()
            .get::<PeerInfo>()
            .cloned()
            .ok_or_else(|| Status::unauthenticated("a client certificate is required"))?;
        let mut inbound = request.into_inner();
        let Some(ExportRequest {
            message: Some(export_request::Message::Hello(hello)),
        }) = inbound.message().await?
        else {
            return Err(Status::invalid_argument(
                "the first message of a stream must be a Hello",
            ));
        };
        self.stats.streams.fetch_add(1, Ordering::Relaxed);
        info!(probe = %peer.identity, version = %hello.software_version, boot_epoch = hello.boot_epoch, "Probe said hello.");
        let (tx, rx) = mpsc::channel(16);
        let session = Session {
            source: Source::new(&peer.identity),
            identity: peer.identity,
            boot_epoch: hello.boot_epoch,
            output: self.output.clone(),
            stats: Arc::clone(&self.stats),
            marks: Arc::clone(&self.marks),
            mapper: self.mapper.clone(),
            max_age: self
                .max_stream_age
                .mul_f64(rand::Rng::random_range(&mut rand::rng(), 0.9..1.1)),
        };
        tokio::spawn(async move {
            if let Err(status) = session
                .run(hello.first_unacked_seq, &mut inbound, &tx)
                .await
            {
                let _ = tx.send(Err(status)).await;
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

struct Session {
    identity: String,
    /// The identity as documents name it.
    source: Source,
    boot_epoch: u64,
    output: OutputHandle,
    stats: Arc<ServerStats>,
    marks: Marks,
    mapper: Mapper,
    /// This stream's age limit (jittered, so probes do not reconnect in step).
    max_age: std::time::Duration,
}

fn ack(through_seq: u64) -> ExportResponse {
    ExportResponse {
        message: Some(export_response::Message::Ack(Ack { through_seq })),
    }
}

fn nack(code: NackCode, first_seq: u64, retry_after_ms: u32, message: String) -> ExportResponse {
    ExportResponse {
        message: Some(export_response::Message::Nack(Nack {
            code: code as i32,
            first_seq,
            retry_after_ms,
            message,
        })),
    }
}

impl Session {
    fn mark(&self) -> u64 {
        let marks = self
            .marks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        marks
            .get(&(self.identity.clone(), self.boot_epoch))
            .copied()
            .unwrap_or(0)
    }

    fn set_mark(&self, through: u64) {
        let mut marks = self
            .marks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mark = marks
            .entry((self.identity.clone(), self.boot_epoch))
            .or_insert(0);
        *mark = (*mark).max(through);
    }

    async fn run(
        self,
        first_unacked: u64,
        inbound: &mut Streaming<ExportRequest>,
        tx: &Reply,
    ) -> Result<(), Status> {
        // Answer the Hello: everything before first_unacked (or our mark) is done.
        let mut acked = first_unacked.saturating_sub(1).max(self.mark());
        send(tx, ack(acked)).await?;
        // After a Nack(UNAVAILABLE) for a batch starting at F, batches the probe
        // had already sent behind it are skipped until it resends from F:
        // taking them would acknowledge F's records without having them.
        let mut resend_from: Option<u64> = None;
        let closes_at = tokio::time::Instant::now() + self.max_age;
        loop {
            // Only the wait for the next message is cut short: a batch being
            // handled is delivered and acknowledged first. Whatever the probe
            // sent after it is unacknowledged and sent again on its next stream.
            let message = tokio::select! {
                m = inbound.message() => m?,
                () = tokio::time::sleep_until(closes_at) => {
                    info!(probe = %self.identity, age = ?self.max_age, "Closing the stream at server.max_connection_age; the probe reconnects (and may land on another collector).");
                    return Ok(());
                }
            };
            let Some(message) = message else { break };
            match message.message {
                Some(export_request::Message::Batch(batch)) => {
                    match resend_from {
                        Some(f) if batch.first_seq != f => continue,
                        _ => resend_from = None,
                    }
                    let first = batch.first_seq;
                    let (now_acked, failed) = self.batch(batch, acked, tx).await?;
                    acked = now_acked;
                    if failed {
                        resend_from = Some(first);
                    }
                }
                Some(export_request::Message::Hello(_)) => {
                    return Err(Status::invalid_argument(
                        "Hello is only allowed as the first message",
                    ));
                }
                None => return Err(Status::invalid_argument("empty ExportRequest")),
            }
        }
        Ok(())
    }

    /// Handles one batch; returns the new acknowledged sequence number and
    /// whether the output failed (the probe must resend this batch).
    async fn batch(&self, batch: Batch, acked: u64, tx: &Reply) -> Result<(u64, bool), Status> {
        self.stats.batches.fetch_add(1, Ordering::Relaxed);
        if !batch.observer.is_empty() && batch.observer != self.identity {
            self.stats.permission_denied.fetch_add(1, Ordering::Relaxed);
            warn!(probe = %self.identity, claimed = %batch.observer, "Batch claims another observer; stream refused.");
            return Err(Status::permission_denied(format!(
                "this connection's certificate identity is {:?}, the batch claims {:?}",
                self.identity, batch.observer
            )));
        }
        let n = batch.records.len() as u64;
        let last = batch.first_seq.saturating_add(n.saturating_sub(1));
        if batch.first_seq == 0 || n == 0 || n > MAX_BATCH_RECORDS as u64 {
            let reason = format!(
                "invalid batch: first_seq {}, {n} records (limit {MAX_BATCH_RECORDS})",
                batch.first_seq
            );
            return self
                .refuse(batch.first_seq, last, n, reason, acked, tx)
                .await;
        }
        let mark = self.mark().max(acked);
        if last <= mark {
            self.stats.replayed_records.fetch_add(n, Ordering::Relaxed);
            send(tx, ack(mark)).await?;
            return Ok((mark, false));
        }
        if batch.first_seq > mark + 1 {
            self.stats
                .shed_records
                .fetch_add(batch.first_seq - mark - 1, Ordering::Relaxed);
        }
        // Records at or below the mark were delivered by an earlier stream.
        let skip = mark.saturating_sub(batch.first_seq - 1).min(n) as usize;
        self.stats
            .replayed_records
            .fetch_add(skip as u64, Ordering::Relaxed);
        let mut docs = Vec::with_capacity(batch.records.len() - skip);
        for rec in batch.records.into_iter().skip(skip) {
            match rec.kind {
                Some(record::Kind::Flow(flow)) => docs.push(self.mapper.flow(&self.source, &flow)),
                Some(record::Kind::Alert(alert)) => {
                    docs.push(self.mapper.alert(&self.source, &alert))
                }
                Some(record::Kind::Status(_)) => {}
                None => {
                    let reason = "a record without a kind (flow, alert or status)".to_owned();
                    return self
                        .refuse(batch.first_seq, last, n, reason, acked, tx)
                        .await;
                }
            }
        }
        self.stats
            .records
            .fetch_add(docs.len() as u64, Ordering::Relaxed);
        match self.output.deliver(docs).await {
            Ok(outcomes) => {
                let rejected = outcomes
                    .iter()
                    .filter(|o| matches!(o, Outcome::Rejected { .. }))
                    .count();
                if rejected > 0 {
                    self.stats
                        .rejected_records
                        .fetch_add(rejected as u64, Ordering::Relaxed);
                    warn!(probe = %self.identity, rejected, "The output rejected documents.");
                }
                self.set_mark(last);
                send(tx, ack(last)).await?;
                Ok((last, false))
            }
            Err(e) => {
                self.stats.nacks.fetch_add(1, Ordering::Relaxed);
                warn!(probe = %self.identity, error = %e, "Output failed; the probe will resend.");
                send(
                    tx,
                    nack(
                        NackCode::Unavailable,
                        batch.first_seq,
                        RETRY_AFTER_MS,
                        e.to_string(),
                    ),
                )
                .await?;
                Ok((acked, true))
            }
        }
    }

    /// Refuses an invalid batch for good: its records count as rejected on
    /// both sides and the stream goes on after it.
    async fn refuse(
        &self,
        first_seq: u64,
        last: u64,
        n: u64,
        message: String,
        acked: u64,
        tx: &Reply,
    ) -> Result<(u64, bool), Status> {
        self.stats.nacks.fetch_add(1, Ordering::Relaxed);
        self.stats.rejected_records.fetch_add(n, Ordering::Relaxed);
        warn!(probe = %self.identity, first_seq, reason = %message, "Batch refused.");
        if first_seq > 0 {
            self.set_mark(last);
        }
        send(tx, nack(NackCode::Invalid, first_seq, 0, message)).await?;
        Ok((acked.max(if first_seq > 0 { last } else { acked }), false))
    }
}

async fn send(tx: &Reply, response: ExportResponse) -> Result<(), Status> {
    tx.send(Ok(response))
        .await
        .map_err(|_| Status::cancelled("the probe went away"))
}
