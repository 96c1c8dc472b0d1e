//! Deduplication for the append-only outputs (NDJSON files, syslog), which
//! cannot look documents up or change them once written: a per-process
//! [`Window`] of recent flows in front of the sink.
//!
//! Decision: the second probe's record of a flow already written is not
//! written; it counts as delivered (`Duplicate`), is counted in
//! `sonde_collector_dedupe_merged_total{output}` and logged (debug per
//! document, an info summary at most every 10 s). Only a real duplicate is
//! dropped: another observer, the same Community ID and first packet times
//! within `dedupe.tolerance` of each other. The written document keeps the
//! first observer's `sonde.flow.observers`; Elasticsearch is the output
//! where the list grows. Resends are dropped the same way; a distinct flow
//! sharing the id is written under its own record id.
//!
//! A duplicate of a document of the same batch waits for that document's
//! outcome: if it was not delivered, neither is the duplicate (`Retry`), so
//! it is judged again when the spool resends it.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use hashbrown::HashMap;
use sonde_common::telemetry::names;
use tracing::{debug, info};

use super::window::{Entry, Window};
use super::{DedupeSettings, Seen, Verdict, judge, mark, under_own_id};
use crate::sink::{Document, Outcome, Sink, SinkError};

/// `inner` behind a dedupe window.
#[derive(Debug)]
pub struct Deduped<S> {
    inner: S,
    settings: DedupeSettings,
    window: Window,
    summary: (Option<Instant>, u64),
}

/// A document handed to the inner sink: one of the batch, or one rewritten
/// under its own record id.
enum Passed {
    Original(usize),
    Rewritten(Box<Document>),
}

/// Where a colliding id is: a document of this batch (its plan), or memory.
enum Holder {
    Batch(usize),
    Memory(String),
}

/// What to do with one document of a batch.
enum Plan {
    /// Pass it to the inner sink as `pass[at]`; remember (id, seen) if delivered.
    Pass {
        at: usize,
        remember: Option<(String, Seen)>,
    },
    /// Delivered already (a resend or another observer's copy), if the
    /// document of `pass[at]` it depends on is (None: in memory).
    Drop { after: Option<usize>, merged: bool },
}

impl<S: Sink> Deduped<S> {
    pub fn new(inner: S, settings: DedupeSettings) -> Self {
        Self {
            inner,
            settings,
            window: Window::new(&settings),
            summary: (None, 0),
        }
    }

    /// The window.
    pub fn window(&self) -> &Window {
        &self.window
    }

    /// The sink behind the window.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn plan(&mut self, docs: &[Document]) -> (Vec<Plan>, Vec<Passed>) {
        let mut plans: Vec<Plan> = Vec::with_capacity(docs.len());
        let mut pass: Vec<Passed> = Vec::with_capacity(docs.len());
        // Ids passed in this batch, not yet delivered: id -> position in `plans`.
        let mut pending: HashMap<Cow<'_, str>, usize> = HashMap::with_capacity(docs.len());
        for (n, doc) in docs.iter().enumerate() {
            let Some(m) = mark(doc, &self.settings) else {
                plans.push(Plan::Pass {
                    at: pass.len(),
                    remember: None,
                });
                pass.push(Passed::Original(n));
                continue;
            };
            // Who holds the id (or the neighbouring bucket's): a document of
            // this batch, or one delivered before.
            let mut hit = None;
            for id in std::iter::once(doc.id.as_str()).chain(m.neighbour.as_deref()) {
                if let Some(&p) = pending.get(id)
                    && let Plan::Pass {
                        remember: Some((_, seen)),
                        ..
                    } = &plans[p]
                {
                    hit = Some((Holder::Batch(p), judge(seen, &m, &self.settings)));
                    break;
                }
                if let Some(entry) = self.window.get(id) {
                    let verdict = judge(&entry.seen, &m, &self.settings);
                    hit = Some((Holder::Memory(id.to_owned()), verdict));
                    break;
                }
            }
            let plan = match hit {
                Some((holder, v @ (Verdict::Resend | Verdict::Merge))) => {
                    let merged = v == Verdict::Merge;
                    let after = match holder {
                        // `pending` only names passed documents.
                        Holder::Batch(p) => match &mut plans[p] {
                            Plan::Pass { at, remember } => {
                                if let (true, Some((_, seen))) = (merged, remember) {
                                    seen.add(&m);
                                }
                                Some(*at)
                            }
                            Plan::Drop { after, .. } => *after,
                        },
                        Holder::Memory(id) => {
                            if merged {
                                self.window.update(&id, |e| e.seen.add(&m));
                            }
                            None
                        }
                    };
                    Plan::Drop { after, merged }
                }
                Some((_, Verdict::Distinct)) => {
                    // Its own id, unless that was written already.
                    if let Some(&p) = pending.get(m.fallback_id) {
                        let at = match &plans[p] {
                            Plan::Pass { at, .. } => Some(*at),
                            Plan::Drop { after, .. } => *after,
                        };
                        Plan::Drop {
                            after: at,
                            merged: false,
                        }
                    } else if self.window.get(m.fallback_id).is_some() {
                        Plan::Drop {
                            after: None,
                            merged: false,
                        }
                    } else {
                        pending.insert(Cow::Borrowed(m.fallback_id), plans.len());
                        pass.push(Passed::Rewritten(Box::new(under_own_id(doc, &m))));
                        Plan::Pass {
                            at: pass.len() - 1,
                            remember: Some((m.fallback_id.to_owned(), Seen::from_mark(&m))),
                        }
                    }
                }
                None => {
                    pending.insert(Cow::Borrowed(doc.id.as_str()), plans.len());
                    pass.push(Passed::Original(n));
                    Plan::Pass {
                        at: pass.len() - 1,
                        remember: Some((doc.id.clone(), Seen::from_mark(&m))),
                    }
                }
            };
            plans.push(plan);
        }
        (plans, pass)
    }

    fn note_merged(&mut self, merged: u64, resends: u64) {
        let output = self.inner.name().to_owned();
        metrics::counter!(names::COLLECTOR_DEDUPE_MERGED, "output" => output.clone())
            .increment(merged);
        metrics::counter!(names::COLLECTOR_DEDUPE_RESENDS, "output" => output).increment(resends);
        self.summary.1 += merged;
        let due = self
            .summary
            .0
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(10));
        if self.summary.1 > 0 && due {
            info!(
                output = self.inner.name(),
                documents = self.summary.1,
                "Flows seen by more than one probe were written once; later observers' copies were not written (append-only output)."
            );
            self.summary = (Some(Instant::now()), 0);
        }
    }
}

impl<S: Sink> Sink for Deduped<S> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn prepare(&mut self) -> Result<(), SinkError> {
        self.inner.prepare().await
    }

    async fn deliver(&mut self, docs: &[Document]) -> Result<Vec<Outcome>, SinkError> {
        let (plans, pass) = self.plan(docs);
        let unchanged = pass.len() == docs.len()
            && pass
                .iter()
                .enumerate()
                .all(|(i, p)| matches!(p, Passed::Original(n) if *n == i));
        let got = if pass.is_empty() {
            Vec::new()
        } else if unchanged {
            // The common case: nothing dropped or rewritten, nothing copied.
            self.inner.deliver(docs).await?
        } else {
            let batch: Vec<Document> = pass
                .into_iter()
                .map(|p| match p {
                    Passed::Original(n) => docs[n].clone(),
                    Passed::Rewritten(d) => *d,
                })
                .collect();
            self.inner.deliver(&batch).await?
        };
        let passed = plans
            .iter()
            .filter(|p| matches!(p, Plan::Pass { .. }))
            .count();
        if got.len() != passed {
            return Ok(got);
        }
        let delivered = |o: &Outcome| matches!(o, Outcome::Accepted | Outcome::Duplicate);
        let (mut merged, mut resends) = (0u64, 0u64);
        let mut outcomes = Vec::with_capacity(docs.len());
        for (doc, plan) in docs.iter().zip(plans) {
            match plan {
                Plan::Pass { at, remember } => {
                    if let Some((id, seen)) = remember
                        && delivered(&got[at])
                    {
                        self.window.note(id, Entry { seen, index: None });
                    }
                    outcomes.push(got[at].clone());
                }
                Plan::Drop { after, merged: m } => {
                    if after.is_some_and(|at| !delivered(&got[at])) {
                        outcomes.push(Outcome::Retry {
                            reason: "the document this one duplicates was not delivered".into(),
                        });
                        continue;
                    }
                    if m {
                        merged += 1;
                        debug!(id = %doc.id, "A second probe's record of a flow already written was not written.");
                    } else {
                        resends += 1;
                    }
                    outcomes.push(Outcome::Duplicate);
                }
            }
        }
        self.note_merged(merged, resends);
        Ok(outcomes)
    }
}
