//! The output stage: one task owns the sink and the spool; connections hand
//! it batches of documents and wait for the answer, which comes once every
//! document is either in the output or flushed to the spool (only then does
//! the server acknowledge the probe).
//!
//! - While the spool is empty and the output healthy, batches go straight to
//!   the sink. Documents it asks to retry (429, 5xx), and whole batches when
//!   it fails or takes longer than `slow_output`, are spooled.
//! - While the spool holds anything, new batches are spooled behind it, and
//!   the task drains it oldest first whenever it is not waiting out a
//!   backoff (exponential, 1 s to 60 s, ±20% jitter; 30 s while the output
//!   refuses us). Partly delivered spool batches keep only what is owed.
//! - Documents the output rejects for good go to the dead-letter store.
//! - A full spool with `backpressure` makes the answer an error: the server
//!   Nacks and the probe keeps the records.

use std::time::Duration;

use rand::Rng as _;
use sonde_common::telemetry::names;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{error, info, warn};

use crate::sink::{Document, Outcome, Sink, SinkError};
use crate::spool::{Spool, SpoolError};

#[derive(Debug)]
struct Job {
    docs: Vec<Document>,
    reply: oneshot::Sender<Result<Vec<Outcome>, String>>,
}

/// A cheap, cloneable handle to the output task.
#[derive(Clone, Debug)]
pub struct OutputHandle {
    tx: mpsc::Sender<Job>,
    /// Whether the last batch was taken (delivered or spooled), for `/ready`.
    healthy: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// Whether the output took its last batch, without holding the output open:
/// the output task ends when the last [`OutputHandle`] is dropped, so
/// long-lived observers (the `/ready` endpoint) keep this instead.
#[derive(Clone, Debug)]
pub struct OutputHealth(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl OutputHealth {
    pub fn healthy(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("output {0}")]
    Failed(String),
    #[error("the output has stopped")]
    Stopped,
}

impl OutputHandle {
    /// Whether the output took the last batch.
    pub fn healthy(&self) -> bool {
        self.healthy.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A view of [`Self::healthy`] that does not keep the output running.
    pub fn health(&self) -> OutputHealth {
        OutputHealth(std::sync::Arc::clone(&self.healthy))
    }

    /// Delivers `docs`; Ok once each is in the output or the spool.
    pub async fn deliver(&self, docs: Vec<Document>) -> Result<Vec<Outcome>, OutputError> {
        if docs.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job { docs, reply })
            .await
            .map_err(|_| OutputError::Stopped)?;
        rx.await
            .map_err(|_| OutputError::Stopped)?
            .map_err(OutputError::Failed)
    }
}

/// How the output task batches and when it gives up on a slow output.
#[derive(Clone, Copy, Debug)]
pub struct OutputSettings {
    /// Documents per delivery (batches from probes are merged up to this).
    pub batch_documents: usize,
    /// Documents per drain step of the spool: enough for every request the
    /// sink may have in flight, so a backlog drains faster than input arrives.
    pub drain_documents: usize,
    /// How long to wait for more batches to merge; zero: only what is queued.
    pub batch_delay: Duration,
    /// A direct delivery that takes longer is abandoned and spooled.
    pub slow_output: Duration,
}

/// Starts the task that owns `sink` and `spool`; it ends when every handle
/// is dropped (the spool keeps whatever it holds for the next start).
pub fn spawn<S: Sink + 'static>(
    sink: S,
    spool: Spool,
    settings: OutputSettings,
) -> (OutputHandle, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel::<Job>(64);
    let healthy = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let mut engine = Engine {
        sink,
        spool,
        settings,
        healthy: std::sync::Arc::clone(&healthy),
        backoff: Backoff::default(),
        refused: None,
        dead_log: RateLimit::new(Duration::from_secs(10)),
        refused_log: RateLimit::new(Duration::from_secs(60)),
    };
    let task = tokio::spawn(async move { engine.run(rx).await });
    (OutputHandle { tx, healthy }, task)
}

struct Engine<S> {
    sink: S,
    spool: Spool,
    settings: OutputSettings,
    healthy: std::sync::Arc<std::sync::atomic::AtomicBool>,
    backoff: Backoff,
    /// What the operator must fix, while the output refuses us.
    refused: Option<String>,
    dead_log: RateLimit,
    refused_log: RateLimit,
}

impl<S: Sink> Engine<S> {
    async fn run(&mut self, mut rx: mpsc::Receiver<Job>) {
        self.publish();
        if !self.spool.is_empty() {
            let s = self.spool.stats();
            info!(
                batches = s.batches,
                records = s.records,
                bytes = s.bytes,
                "The spool holds records from before; draining it."
            );
        }
        loop {
            let drain_at = self.backoff.next;
            let spooled = !self.spool.is_empty();
            tokio::select! {
                job = rx.recv() => {
                    let Some(job) = job else { break };
                    let jobs = gather(self.settings, job, &mut rx).await;
                    self.handle(jobs).await;
                }
                () = tokio::time::sleep_until(drain_at), if spooled => self.drain().await,
            }
            self.publish();
        }
        let s = self.spool.stats();
        if s.records > 0 {
            info!(
                records = s.records,
                "The output stops; the spool keeps its records for the next start."
            );
        }
    }

    /// Delivers or spools the documents of `jobs`, then answers each job.
    async fn handle(&mut self, jobs: Vec<Job>) {
        let mut docs = Vec::with_capacity(jobs.iter().map(|j| j.docs.len()).sum());
        let mut replies = Vec::with_capacity(jobs.len());
        for job in jobs {
            replies.push((job.docs.len(), job.reply));
            docs.extend(job.docs);
        }
        let direct =
            self.spool.is_empty() && self.refused.is_none() && Instant::now() >= self.backoff.next;
        let mut outcomes = vec![Outcome::Accepted; docs.len()];
        let owed: Vec<Document> = if direct {
            match tokio::time::timeout(self.settings.slow_output, self.sink.deliver(&docs)).await {
                Ok(Ok(got)) if got.len() == docs.len() => {
                    self.settle(&docs, &got);
                    let owed = owed_by(&docs, &got);
                    outcomes = got;
                    owed
                }
                Ok(Ok(got)) => {
                    self.failed(&SinkError::Worker(format!(
                        "{} outcomes for {} documents",
                        got.len(),
                        docs.len()
                    )));
                    docs
                }
                Ok(Err(e)) => {
                    self.failed(&e);
                    docs
                }
                Err(_) => {
                    warn!(after = ?self.settings.slow_output, output = self.sink.name(), "The output is slower than spool.slow_output; spooling instead.");
                    self.backoff.fail();
                    docs
                }
            }
        } else {
            docs
        };
        let result = self.store(&owed);
        let answer = match result {
            Ok(()) => {
                // Spooled documents count as taken: the spool will deliver them.
                for o in &mut outcomes {
                    if matches!(o, Outcome::Retry { .. }) {
                        *o = Outcome::Accepted;
                    }
                }
                Ok(outcomes)
            }
            Err(e) => {
                warn!(error = %e, "The batch cannot be spooled; the probe will resend it.");
                Err(e.to_string())
            }
        };
        self.healthy
            .store(answer.is_ok(), std::sync::atomic::Ordering::Relaxed);
        let mut rest = answer.map(|o| o.into_iter());
        for (n, reply) in replies {
            let share = match &mut rest {
                Ok(iter) => Ok(iter.by_ref().take(n).collect()),
                Err(e) => Err(e.clone()),
            };
            let _ = reply.send(share);
        }
    }

    /// Files the outcomes of a delivery: rejections to the dead letters,
    /// counts; resets or extends the backoff. What is owed is [`owed`].
    fn settle(&mut self, docs: &[Document], outcomes: &[Outcome]) {
        let (mut delivered, mut retry) = (0u64, 0usize);
        let mut retry_reason = None;
        for (doc, outcome) in docs.iter().zip(outcomes) {
            match outcome {
                Outcome::Accepted | Outcome::Duplicate => delivered += 1,
                Outcome::Retry { reason } => {
                    retry_reason.get_or_insert(reason);
                    retry += 1;
                }
                Outcome::Rejected { reason } => self.dead_letter(doc, reason),
            }
        }
        metrics::counter!(names::COLLECTOR_DELIVERED).increment(delivered);
        if let Some(reason) = retry_reason {
            warn!(output = self.sink.name(), retry, reason = %reason, "The output asked to retry documents; they are spooled.");
            self.backoff.fail();
        } else {
            if self.refused.take().is_some() {
                info!(
                    output = self.sink.name(),
                    "The output accepts documents again."
                );
            }
            self.backoff.reset();
        }
    }

    fn dead_letter(&mut self, doc: &Document, reason: &str) {
        if let Err(e) = blocking(|| self.spool.dead_letter(doc, reason)) {
            // The store is the spool itself: if it cannot write, nothing can.
            error!(error = %e, id = %doc.id, reason, "A rejected document could not be stored as a dead letter.");
            return;
        }
        self.dead_log.note(|n| {
            warn!(documents = n, last_reason = %reason, "The output rejected documents for good; they are in the dead-letter store (sonde-collector dead-letters list).");
        });
    }

    fn failed(&mut self, e: &SinkError) {
        match e {
            SinkError::Refused(what) => {
                let first = self.refused.is_none();
                self.refused = Some(what.clone());
                self.backoff.hold(Duration::from_secs(30));
                if first || self.refused_log.ready() {
                    error!(output = self.sink.name(), problem = %what, "The output refuses our documents; they are spooled until this is fixed.");
                }
            }
            other => {
                let delay = self.backoff.fail();
                warn!(output = self.sink.name(), error = %other, retry_in = ?delay, "The output failed; documents are spooled.");
            }
        }
    }

    /// Spools `docs` and flushes the store (with any dead letters written
    /// since the last flush: one flush covers every tree).
    fn store(&mut self, docs: &[Document]) -> Result<(), SpoolError> {
        blocking(|| {
            if docs.is_empty() {
                self.spool.flush()
            } else {
                self.spool.push(docs)
            }
        })
    }

    /// Sends the oldest spooled batches and files the outcomes.
    async fn drain(&mut self) {
        let mut entries = match blocking(|| self.spool.oldest(self.settings.drain_documents)) {
            Ok(e) => e,
            Err(e) => {
                error!(error = %e, "The spool cannot be read.");
                self.backoff.fail();
                return;
            }
        };
        // The documents move out of their entries; an entry keeps its key.
        let counts: Vec<usize> = entries.iter().map(|e| e.docs.len()).collect();
        let docs: Vec<Document> = entries
            .iter_mut()
            .flat_map(|e| std::mem::take(&mut e.docs))
            .collect();
        if docs.is_empty() {
            return;
        }
        let outcomes = match self.sink.deliver(&docs).await {
            Ok(o) if o.len() == docs.len() => o,
            Ok(o) => {
                self.failed(&SinkError::Worker(format!(
                    "{} outcomes for {} documents",
                    o.len(),
                    docs.len()
                )));
                return;
            }
            Err(e) => {
                self.failed(&e);
                return;
            }
        };
        self.settle(&docs, &outcomes);
        let result = blocking(|| {
            let mut at = 0;
            for (entry, n) in entries.iter().zip(counts) {
                let range = at..at + n;
                at += n;
                let owed = owed_by(&docs[range.clone()], &outcomes[range]);
                self.spool.replace_entry(entry, &owed)?;
            }
            self.spool.flush()
        });
        if let Err(e) = result {
            error!(error = %e, "The spool cannot be updated after a delivery; those documents will be sent again (as duplicates, which the output ignores).");
        }
        if self.spool.is_empty() {
            info!(output = self.sink.name(), "The spool is drained.");
        }
    }

    fn publish(&self) {
        let s = self.spool.stats();
        metrics::gauge!(names::COLLECTOR_SPOOL_BYTES).set(s.bytes as f64);
        metrics::gauge!(names::COLLECTOR_SPOOL_RECORDS).set(s.records as f64);
        metrics::gauge!(names::COLLECTOR_SPOOL_BATCHES).set(s.batches as f64);
        let age = s.oldest_ms.map_or(0.0, |t| {
            crate::spool::now_ms().saturating_sub(t) as f64 / 1000.0
        });
        metrics::gauge!(names::COLLECTOR_SPOOL_OLDEST_AGE).set(age);
        metrics::counter!(names::COLLECTOR_SPOOL_SHED, "kind" => "flow").absolute(s.shed_flows);
        metrics::counter!(names::COLLECTOR_SPOOL_SHED, "kind" => "alert").absolute(s.shed_alerts);
        metrics::gauge!(names::COLLECTOR_SPOOL_DAMAGED).set(s.damaged as f64);
        metrics::gauge!(names::COLLECTOR_DEAD_LETTERS).set(s.dead_letters as f64);
        metrics::gauge!(names::COLLECTOR_DEAD_LETTER_BYTES).set(s.dead_letter_bytes as f64);
        metrics::gauge!(names::COLLECTOR_OUTPUT_REFUSED)
            .set(f64::from(u8::from(self.refused.is_some())));
    }
}

/// `first` and whatever else arrives within the batch delay, up to the
/// document limit.
async fn gather(settings: OutputSettings, first: Job, rx: &mut mpsc::Receiver<Job>) -> Vec<Job> {
    let mut docs = first.docs.len();
    let mut jobs = vec![first];
    let deadline = Instant::now() + settings.batch_delay;
    while docs < settings.batch_documents {
        let next = match rx.try_recv() {
            Ok(job) => Some(job),
            Err(_) if settings.batch_delay.is_zero() => None,
            Err(_) => tokio::time::timeout_at(deadline, rx.recv())
                .await
                .ok()
                .flatten(),
        };
        let Some(job) = next else { break };
        docs += job.docs.len();
        jobs.push(job);
    }
    jobs
}

/// The documents of `docs` whose outcome asks for a retry: still owed.
fn owed_by(docs: &[Document], outcomes: &[Outcome]) -> Vec<Document> {
    docs.iter()
        .zip(outcomes)
        .filter(|(_, o)| matches!(o, Outcome::Retry { .. }))
        .map(|(d, _)| d.clone())
        .collect()
}

/// Runs blocking spool I/O (sled flushes) without stalling the runtime's
/// other tasks, where the runtime allows it.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// When to try the output next: 1 s doubling to 60 s, ±20% jitter.
#[derive(Debug)]
struct Backoff {
    next: Instant,
    delay: Duration,
}

const FIRST_DELAY: Duration = Duration::from_secs(1);
const MAX_DELAY: Duration = Duration::from_secs(60);

impl Default for Backoff {
    fn default() -> Self {
        Self {
            next: Instant::now(),
            delay: FIRST_DELAY,
        }
    }
}

impl Backoff {
    fn reset(&mut self) {
        self.delay = FIRST_DELAY;
        self.next = Instant::now();
    }

    /// Waits the current delay (jittered) and doubles it; returns the wait.
    fn fail(&mut self) -> Duration {
        let wait = self.delay.mul_f64(rand::rng().random_range(0.8..1.2));
        self.next = Instant::now() + wait;
        self.delay = (self.delay * 2).min(MAX_DELAY);
        wait
    }

    fn hold(&mut self, wait: Duration) {
        self.next = Instant::now() + wait;
    }
}

/// At most one log line per period, with the count of events since the last.
#[derive(Debug)]
struct RateLimit {
    period: Duration,
    last: Option<Instant>,
    count: u64,
}

impl RateLimit {
    fn new(period: Duration) -> Self {
        Self {
            period,
            last: None,
            count: 0,
        }
    }

    fn ready(&mut self) -> bool {
        let now = Instant::now();
        if self
            .last
            .is_none_or(|t| now.duration_since(t) >= self.period)
        {
            self.last = Some(now);
            true
        } else {
            false
        }
    }

    fn note(&mut self, log: impl FnOnce(u64)) {
        self.count += 1;
        if self.ready() {
            log(self.count);
            self.count = 0;
        }
    }
}

#[cfg(test)]
mod tests;
