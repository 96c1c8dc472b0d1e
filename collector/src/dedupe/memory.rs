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

use std::time::{Duration, Instant};

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
    Rewritten(Document),
}

/// What to do with one document of a batch.
enum Plan {
    /// Pass it to the inner sink as `pass[i]`; remember `seen` under `id` if delivered.
    Pass {
        at: usize,
        id: String,
        seen: Option<Seen>,
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
        let mut plans = Vec::with_capacity(docs.len());
        let mut pass: Vec<Passed> = Vec::with_capacity(docs.len());
        // Ids passed in this batch, not yet delivered: id -> (pass index, seen).
        let mut pending: std::collections::HashMap<String, (usize, Seen)> =
            std::collections::HashMap::new();
        for (n, doc) in docs.iter().enumerate() {
            let Some(m) = mark(doc, &self.settings) else {
                plans.push(Plan::Pass {
                    at: pass.len(),
                    id: doc.id.clone(),
                    seen: None,
                });
                pass.push(Passed::Original(n));
                continue;
            };
            let candidates = std::iter::once(doc.id.as_str()).chain(m.neighbour.as_deref());
            let mut found = None;
            for id in candidates {
                if let Some((at, seen)) = pending.get(id) {
                    found = Some((id.to_owned(), Some(*at), seen.clone()));
                    break;
                }
                if let Some(entry) = self.window.get(id) {
                    found = Some((id.to_owned(), None, entry.seen.clone()));
                    break;
                }
            }
            let verdict = found
                .as_ref()
                .map(|(_, _, seen)| judge(seen, &m, &self.settings));
            match (found, verdict) {
                (Some((id, after, mut seen)), Some(v @ (Verdict::Resend | Verdict::Merge))) => {
                    let merged = v == Verdict::Merge;
                    if merged {
                        seen.add(&m);
                        match after {
                            Some(at) => {
                                pending.insert(id, (at, seen));
                            }
                            None => {
                                if let Some(entry) = self.window.get(&id) {
                                    let index = entry.index.clone();
                                    self.window.note(&id, Entry { seen, index });
                                }
                            }
                        }
                    }
                    plans.push(Plan::Drop { after, merged });
                }
                (Some(_), _) => {
                    // Distinct: its own id, unless that was written already.
                    let own = under_own_id(doc, &m);
                    let seen = Seen::from_mark(&m);
                    if let Some((at, _)) = pending.get(&own.id) {
                        plans.push(Plan::Drop {
                            after: Some(*at),
                            merged: false,
                        });
                    } else if self.window.get(&own.id).is_some() {
                        plans.push(Plan::Drop {
                            after: None,
                            merged: false,
                        });
                    } else {
                        pending.insert(own.id.clone(), (pass.len(), seen.clone()));
                        plans.push(Plan::Pass {
                            at: pass.len(),
                            id: own.id.clone(),
                            seen: Some(seen),
                        });
                        pass.push(Passed::Rewritten(own));
                    }
                }
                (None, _) => {
                    let seen = Seen::from_mark(&m);
                    pending.insert(doc.id.clone(), (pass.len(), seen.clone()));
                    plans.push(Plan::Pass {
                        at: pass.len(),
                        id: doc.id.clone(),
                        seen: Some(seen),
                    });
                    pass.push(Passed::Original(n));
                }
            }
        }
        // Merges into documents of this batch update what is remembered.
        for plan in &mut plans {
            if let Plan::Pass {
                id,
                seen: Some(seen),
                ..
            } = plan
                && let Some((_, latest)) = pending.get(id.as_str())
            {
                seen.clone_from(latest);
            }
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
                    Passed::Rewritten(d) => d,
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
                Plan::Pass { at, id, seen } => {
                    if let Some(seen) = seen
                        && delivered(&got[at])
                    {
                        self.window.note(&id, Entry { seen, index: None });
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
