//! The output engine with a scripted sink: direct delivery, spooling on
//! failure, draining in order, retries of only the failed documents, dead
//! letters, backpressure and slow outputs. Time is tokio's paused clock, so
//! backoffs pass instantly and deterministically.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde_json::json;

use super::*;
use crate::sink::DocKind;
use crate::spool::FullPolicy;

/// What the fake sink does with the next delivery.
#[derive(Clone, Copy, Debug)]
enum Step {
    /// Accept everything.
    Ok,
    /// Fail the whole delivery.
    Down,
    /// Refuse (401-like).
    Refuse,
    /// Retry documents whose id ends with an odd digit, accept the others.
    RetryOdd,
    /// Reject documents whose id ends with "3".
    RejectThrees,
    /// Take this long, then accept.
    Slow(Duration),
}

#[derive(Default)]
struct Script {
    steps: VecDeque<Step>,
    /// Ids accepted, in order.
    accepted: Vec<String>,
    calls: usize,
}

#[derive(Clone, Default)]
struct FakeSink(Arc<Mutex<Script>>);

impl FakeSink {
    fn then(&self, steps: &[Step]) {
        self.0.lock().unwrap().steps.extend(steps.iter().cloned());
    }
    fn accepted(&self) -> Vec<String> {
        self.0.lock().unwrap().accepted.clone()
    }
    fn calls(&self) -> usize {
        self.0.lock().unwrap().calls
    }
}

impl Sink for FakeSink {
    fn name(&self) -> &str {
        "fake"
    }

    async fn deliver(&mut self, docs: &[Document]) -> Result<Vec<Outcome>, SinkError> {
        let step = {
            let mut s = self.0.lock().unwrap();
            s.calls += 1;
            s.steps.pop_front().unwrap_or(Step::Ok)
        };
        if let Step::Slow(d) = step {
            tokio::time::sleep(d).await;
        }
        let outcomes: Vec<Outcome> = match step {
            Step::Down => {
                return Err(SinkError::Unavailable("connection refused".into()));
            }
            Step::Refuse => return Err(SinkError::Refused("401: check the password".into())),
            Step::Ok | Step::Slow(_) => vec![Outcome::Accepted; docs.len()],
            Step::RetryOdd => docs
                .iter()
                .map(|d| {
                    let last = d.id.bytes().last().unwrap_or(b'0');
                    if (last - b'0') % 2 == 1 {
                        Outcome::Retry {
                            reason: "429".into(),
                        }
                    } else {
                        Outcome::Accepted
                    }
                })
                .collect(),
            Step::RejectThrees => docs
                .iter()
                .map(|d| {
                    if d.id.ends_with('3') {
                        Outcome::Rejected {
                            reason: "400: mapper_parsing_exception".into(),
                        }
                    } else {
                        Outcome::Accepted
                    }
                })
                .collect(),
        };
        let mut s = self.0.lock().unwrap();
        for (d, o) in docs.iter().zip(&outcomes) {
            if *o == Outcome::Accepted {
                s.accepted.push(d.id.clone());
            }
        }
        Ok(outcomes)
    }
}

fn docs(range: std::ops::Range<u32>) -> Vec<Document> {
    range
        .map(|n| {
            Document::from_value(
                format!("d{n}"),
                DocKind::Flow,
                u64::from(n),
                json!({"n": n}),
            )
        })
        .collect()
}

fn ids(range: std::ops::Range<u32>) -> Vec<String> {
    range.map(|n| format!("d{n}")).collect()
}

struct Rig {
    sink: FakeSink,
    handle: OutputHandle,
    task: JoinHandle<()>,
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

fn rig(max_bytes: u64, policy: FullPolicy) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spool");
    let (spool, _) = Spool::open(&path, max_bytes, policy).unwrap();
    let sink = FakeSink::default();
    let settings = OutputSettings {
        batch_documents: 1000,
        drain_documents: 1000,
        batch_delay: Duration::ZERO,
        slow_output: Duration::from_secs(5),
    };
    let (handle, task) = spawn(sink.clone(), spool, settings);
    Rig {
        sink,
        handle,
        task,
        _dir: dir,
        path,
    }
}

impl Rig {
    /// Stops the engine and reopens its spool.
    async fn spool(self) -> Spool {
        drop(self.handle);
        self.task.await.unwrap();
        Spool::open(&self.path, 1 << 30, FullPolicy::Backpressure)
            .unwrap()
            .0
    }
}

/// Lets the engine run until `cond` holds (paused time: instant).
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..10_000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(start_paused = true)]
async fn a_healthy_output_gets_batches_directly() {
    let r = rig(1 << 30, FullPolicy::Backpressure);
    let out = r.handle.deliver(docs(0..5)).await.unwrap();
    assert_eq!(out, vec![Outcome::Accepted; 5]);
    assert_eq!(r.sink.accepted(), ids(0..5));
    let spool = r.spool().await;
    assert!(spool.is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_outage_is_spooled_then_drained_in_order() {
    let r = rig(1 << 30, FullPolicy::Backpressure);
    r.sink.then(&[Step::Down, Step::Down, Step::Down]);
    // Acknowledged although the output is down: the spool has it.
    assert!(r.handle.deliver(docs(0..3)).await.is_ok());
    assert!(r.handle.deliver(docs(3..6)).await.is_ok());
    assert!(r.handle.deliver(docs(6..9)).await.is_ok());
    let sink = r.sink.clone();
    until("the drain", || sink.accepted().len() == 9).await;
    assert_eq!(sink.accepted(), ids(0..9), "in order, each once");
    let spool = r.spool().await;
    assert!(spool.is_empty());
}

#[tokio::test(start_paused = true)]
async fn only_the_documents_asked_for_are_retried() {
    let r = rig(1 << 30, FullPolicy::Backpressure);
    r.sink.then(&[Step::RetryOdd]);
    assert!(r.handle.deliver(docs(0..6)).await.is_ok());
    let sink = r.sink.clone();
    until("the retries", || sink.accepted().len() == 6).await;
    let accepted = sink.accepted();
    assert_eq!(accepted[..3], ["d0", "d2", "d4"]);
    assert_eq!(accepted[3..], ["d1", "d3", "d5"]);
    assert_eq!(sink.calls(), 2);
    assert!(r.spool().await.is_empty());
}

#[tokio::test(start_paused = true)]
async fn rejected_documents_become_dead_letters() {
    let r = rig(1 << 30, FullPolicy::Backpressure);
    r.sink.then(&[Step::RejectThrees]);
    let out = r.handle.deliver(docs(0..5)).await.unwrap();
    assert!(matches!(out[3], Outcome::Rejected { .. }));
    let spool = r.spool().await;
    let dead = spool.dead_letters().unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].doc.id, "d3");
    assert!(dead[0].reason.contains("mapper_parsing_exception"));
    assert!(spool.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_full_spool_pushes_back_and_loses_nothing() {
    let r = rig(700, FullPolicy::Backpressure);
    r.sink.then(&[Step::Down; 50]);
    assert!(r.handle.deliver(docs(0..10)).await.is_ok());
    let refused = r.handle.deliver(docs(10..40)).await;
    assert!(refused.is_err(), "{refused:?}");
    assert!(!r.handle.healthy());
    let spool = r.spool().await;
    assert_eq!(spool.stats().records, 10);
}

#[tokio::test(start_paused = true)]
async fn a_slow_output_is_spooled_instead_of_waited_for() {
    let r = rig(1 << 30, FullPolicy::Backpressure);
    r.sink.then(&[Step::Slow(Duration::from_secs(60))]);
    let started = Instant::now();
    assert!(r.handle.deliver(docs(0..4)).await.is_ok());
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    let sink = r.sink.clone();
    until("the drain", || sink.accepted().len() == 4).await;
    assert_eq!(sink.accepted(), ids(0..4));
}

#[tokio::test(start_paused = true)]
async fn a_refusing_output_keeps_everything_spooled_until_fixed() {
    let r = rig(1 << 30, FullPolicy::Backpressure);
    r.sink.then(&[Step::Refuse, Step::Refuse]);
    assert!(r.handle.deliver(docs(0..2)).await.is_ok());
    assert!(r.handle.deliver(docs(2..4)).await.is_ok());
    let sink = r.sink.clone();
    until("the fix", || sink.accepted().len() == 4).await;
    assert_eq!(sink.accepted(), ids(0..4));
}

#[tokio::test(start_paused = true)]
async fn the_spool_survives_the_engine_and_drains_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spool");
    let settings = OutputSettings {
        batch_documents: 2,
        drain_documents: 2,
        batch_delay: Duration::ZERO,
        slow_output: Duration::from_secs(5),
    };
    {
        let (spool, _) = Spool::open(&path, 1 << 30, FullPolicy::Backpressure).unwrap();
        let sink = FakeSink::default();
        sink.then(&[Step::Down; 100]);
        let (handle, task) = spawn(sink, spool, settings);
        assert!(handle.deliver(docs(0..3)).await.is_ok());
        assert!(handle.deliver(docs(3..5)).await.is_ok());
        drop(handle);
        task.await.unwrap();
    }
    let (spool, _) = Spool::open(&path, 1 << 30, FullPolicy::Backpressure).unwrap();
    assert_eq!(spool.stats().records, 5);
    let sink = FakeSink::default();
    let (handle, task) = spawn(sink.clone(), spool, settings);
    until("the drain", || sink.accepted().len() == 5).await;
    assert_eq!(sink.accepted(), ids(0..5));
    drop(handle);
    task.await.unwrap();
}
