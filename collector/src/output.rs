//! The output stage: one task owns the sink; connections hand it batches of
//! documents and wait for the per-document outcomes. Serialising batches
//! through one task keeps file and socket writes ordered and makes "the
//! output accepted it" a single, clear point before the acknowledgement.

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::sink::{Document, Outcome, Sink};

#[derive(Debug)]
struct Job {
    docs: Vec<Document>,
    reply: oneshot::Sender<Result<Vec<Outcome>, String>>,
}

/// A cheap, cloneable handle to the output task.
#[derive(Clone, Debug)]
pub struct OutputHandle {
    tx: mpsc::Sender<Job>,
    /// Whether the last delivery succeeded (for `/ready`).
    healthy: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("output {0}")]
    Failed(String),
    #[error("the output has stopped")]
    Stopped,
}

/// Whether the sink took its last batch, without holding the output open:
/// the output task ends when the last [`OutputHandle`] is dropped, so
/// long-lived observers (the `/ready` endpoint) keep this instead.
#[derive(Clone, Debug)]
pub struct OutputHealth(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl OutputHealth {
    pub fn healthy(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl OutputHandle {
    /// Whether the sink took the last batch.
    pub fn healthy(&self) -> bool {
        self.healthy.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A view of [`Self::healthy`] that does not keep the output running.
    pub fn health(&self) -> OutputHealth {
        OutputHealth(std::sync::Arc::clone(&self.healthy))
    }

    /// Delivers `docs`; Ok once the sink holds them durably.
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

/// Starts the task that owns `sink`; it ends when every handle is dropped.
pub fn spawn<S: Sink + 'static>(mut sink: S) -> (OutputHandle, JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel::<Job>(32);
    let healthy = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flag = std::sync::Arc::clone(&healthy);
    let task = tokio::spawn(async move {
        while let Some(job) = rx.recv().await {
            let result = sink
                .deliver(&job.docs)
                .await
                .map_err(|e| format!("{}: {e}", sink.name()));
            flag.store(result.is_ok(), std::sync::atomic::Ordering::Relaxed);
            let _ = job.reply.send(result);
        }
    });
    (OutputHandle { tx, healthy }, task)
}
