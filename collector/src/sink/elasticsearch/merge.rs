//! Cross-probe dedupe in Elasticsearch (see [`crate::dedupe`]): flow
//! documents are created under their observer-independent id; a 409 on a
//! flow is judged against the document already there.
//!
//! 1. Flows that start near a bucket boundary look up the neighbouring
//!    bucket's id first: `_mget` on the index this process saw it in (real
//!    time), else an `ids` search over the flow target (sees what was
//!    refreshed, 1 s by default).
//! 2. The rest are created (`_bulk` `create`).
//! 3. A 409 (or a found neighbour) is read with `_mget` on the index the
//!    bulk item named (a data stream's backing index) and judged: a resend
//!    is `Duplicate`; another observer's copy is merged by writing the
//!    document back with the observer added, with `if_seq_no` and
//!    `if_primary_term` (no script: the node may lack lang-painless), retried
//!    up to three times when another replica wrote in between; a distinct
//!    flow is created under its own record id.

use std::collections::HashMap;

use serde_json::{Value, json};
use sonde_common::telemetry::names;
use tracing::{debug, warn};

use super::{EsSink, bulk};
use crate::dedupe::window::Entry;
use crate::dedupe::{Mark, Seen, Verdict, judge, mark, under_own_id};
use crate::sink::{Document, Outcome, SinkError};

/// Rounds of read-modify-write before a merge is left to a later retry.
const MERGE_ROUNDS: usize = 3;

/// Extra tries of a boundary lookup answered 429 or 503.
const SEARCH_ATTEMPTS: usize = 4;

/// A flow document read back.
#[derive(Debug)]
struct Found {
    index: String,
    seq_no: u64,
    primary_term: u64,
    source: Value,
}

/// A merge to write: the document as read, its observers with the new
/// ones, and the positions of the new documents it answers for.
type Write = (Found, Seen, Vec<usize>);

/// A document a new flow collides with: its id and, when known, its index.
#[derive(Clone, Debug)]
struct Target {
    id: String,
    index: Option<String>,
}

impl EsSink {
    /// Delivers `docs`, merging flows of several probes.
    pub(super) async fn deliver_deduped(
        &mut self,
        docs: &[Document],
    ) -> Result<Vec<Outcome>, SinkError> {
        let settings = self.settings.dedupe;
        let marks: Vec<Option<Mark>> = docs.iter().map(|d| mark(d, &settings)).collect();
        let mut outcomes: Vec<Option<Outcome>> = vec![None; docs.len()];
        let mut collisions: Vec<(usize, Target)> = Vec::new();

        // 1. Starts near a boundary: is the neighbouring bucket's document there?
        let near: Vec<(usize, String)> = marks
            .iter()
            .enumerate()
            .filter_map(|(i, m)| Some((i, m.as_ref()?.neighbour.clone()?)))
            .collect();
        if !near.is_empty() {
            metrics::counter!(names::COLLECTOR_DEDUPE_BOUNDARY_LOOKUPS)
                .increment(near.len() as u64);
            let targets: Vec<Target> = near
                .iter()
                .map(|(_, id)| Target {
                    id: id.clone(),
                    index: self.recent.get(id).and_then(|e| e.index.clone()),
                })
                .collect();
            let found = self.read(&targets).await?;
            for ((i, id), target) in near.into_iter().zip(targets) {
                let (Some(f), Some(m)) = (found.get(&id), &marks[i]) else {
                    continue;
                };
                if Seen::of(&f.source).is_some_and(|s| judge(&s, m, &settings) != Verdict::Distinct)
                {
                    collisions.push((
                        i,
                        Target {
                            index: Some(f.index.clone()),
                            ..target
                        },
                    ));
                    outcomes[i] = Some(Outcome::Retry {
                        reason: "merge pending".into(),
                    });
                }
            }
        }

        // 2. Create the rest.
        let rest: Vec<usize> = (0..docs.len()).filter(|&i| outcomes[i].is_none()).collect();
        let (got, indices) = if rest.len() == docs.len() {
            self.bulk(docs).await?
        } else {
            let batch: Vec<Document> = rest.iter().map(|&i| docs[i].clone()).collect();
            self.bulk(&batch).await?
        };
        for ((i, o), index) in rest.iter().copied().zip(got).zip(indices) {
            if let Some(m) = &marks[i] {
                match o {
                    Outcome::Accepted => self.recent.note(
                        docs[i].id.as_str(),
                        Entry {
                            seen: Seen::from_mark(m),
                            index,
                        },
                    ),
                    Outcome::Duplicate => {
                        collisions.push((
                            i,
                            Target {
                                id: docs[i].id.clone(),
                                index,
                            },
                        ));
                        continue;
                    }
                    _ => {}
                }
            }
            outcomes[i] = Some(o);
        }

        // 3. Judge the collisions; merge or write distinct flows under their own id.
        let distinct = self.resolve(&marks, collisions, &mut outcomes).await?;
        if !distinct.is_empty() {
            metrics::counter!(names::COLLECTOR_DEDUPE_DISTINCT).increment(distinct.len() as u64);
            let own: Vec<Document> = distinct
                .iter()
                .filter_map(|&i| Some(under_own_id(&docs[i], marks[i].as_ref()?)))
                .collect();
            let (got, _) = self.bulk(&own).await?;
            for (&i, o) in distinct.iter().zip(got) {
                outcomes[i] = Some(o);
            }
        }
        Ok(outcomes
            .into_iter()
            .map(|o| {
                o.unwrap_or(Outcome::Retry {
                    reason: "no outcome for this document".into(),
                })
            })
            .collect())
    }

    /// Judges each colliding document against the one holding its id; writes
    /// merges. Returns the positions of distinct flows.
    async fn resolve(
        &mut self,
        marks: &[Option<Mark<'_>>],
        mut todo: Vec<(usize, Target)>,
        outcomes: &mut [Option<Outcome>],
    ) -> Result<Vec<usize>, SinkError> {
        let settings = self.settings.dedupe;
        let mut distinct = Vec::new();
        let (mut merged, mut resends) = (0u64, 0u64);
        for _ in 0..MERGE_ROUNDS {
            if todo.is_empty() {
                break;
            }
            let targets: Vec<Target> = todo.iter().map(|(_, t)| t.clone()).collect();
            let mut found = self.read(&targets).await?;
            // Writes by id: the document with every observer added this round.
            let mut writes: HashMap<String, Write> = HashMap::new();
            for (i, target) in std::mem::take(&mut todo) {
                let Some(m) = &marks[i] else { continue };
                let current = match writes.get(&target.id) {
                    Some((_, seen, _)) => Some(seen.clone()),
                    None => found.get(&target.id).and_then(|f| Seen::of(&f.source)),
                };
                let Some(mut seen) = current else {
                    // A 409 without a readable document: not ours to judge now.
                    outcomes[i] = Some(Outcome::Retry {
                        reason: format!("document {} collides but cannot be read", target.id),
                    });
                    continue;
                };
                match judge(&seen, m, &settings) {
                    Verdict::Resend => {
                        resends += 1;
                        outcomes[i] = Some(Outcome::Duplicate);
                        // Another document of this round may have added it.
                        if let Some((_, _, members)) = writes.get_mut(&target.id) {
                            members.push(i);
                        }
                    }
                    Verdict::Distinct => distinct.push(i),
                    Verdict::Merge => {
                        seen.add(m);
                        match writes.get_mut(&target.id) {
                            Some((_, s, members)) => {
                                *s = seen;
                                members.push(i);
                            }
                            None => {
                                if let Some(f) = found.remove(&target.id) {
                                    writes.insert(target.id.clone(), (f, seen, vec![i]));
                                }
                            }
                        }
                    }
                }
            }
            if writes.is_empty() {
                break;
            }
            let writes: Vec<(String, Write)> = writes.into_iter().collect();
            let statuses = self.write_back(&writes).await?;
            for ((id, (f, seen, members)), status) in writes.into_iter().zip(statuses) {
                match status {
                    Ok(()) => {
                        for &i in &members {
                            if outcomes[i]
                                .as_ref()
                                .is_none_or(|o| *o != Outcome::Duplicate)
                            {
                                merged += 1;
                                debug!(id = %id, observer = marks[i].as_ref().map_or("", |m| m.observer), "Flow seen by another probe: observer added.");
                                outcomes[i] = Some(Outcome::Accepted);
                            }
                        }
                        self.recent.note(
                            id.as_str(),
                            Entry {
                                seen,
                                index: Some(f.index.clone()),
                            },
                        );
                    }
                    // Someone wrote in between: read again next round.
                    Err(None) => {
                        for i in members {
                            outcomes[i] = None;
                            todo.push((
                                i,
                                Target {
                                    id: id.clone(),
                                    index: Some(f.index.clone()),
                                },
                            ));
                        }
                    }
                    Err(Some(o)) => {
                        for i in members {
                            outcomes[i] = Some(o.clone());
                        }
                    }
                }
            }
        }
        for (i, _) in todo {
            outcomes[i] = Some(Outcome::Retry {
                reason: "the flow document kept changing while merging observers".into(),
            });
        }
        metrics::counter!(names::COLLECTOR_DEDUPE_MERGED, "output" => "elasticsearch")
            .increment(merged);
        metrics::counter!(names::COLLECTOR_DEDUPE_RESENDS, "output" => "elasticsearch")
            .increment(resends);
        Ok(distinct)
    }

    /// Reads the documents of `targets`: `_mget` where the index is known
    /// (real time), an `ids` search over the flow target otherwise.
    async fn read(&mut self, targets: &[Target]) -> Result<HashMap<String, Found>, SinkError> {
        let mut found = HashMap::new();
        let known: Vec<Value> = targets
            .iter()
            .filter_map(|t| Some(json!({"_index": t.index.as_ref()?, "_id": t.id})))
            .collect();
        if !known.is_empty() {
            let body = json!({ "docs": known });
            let (status, answer) = self
                .call(reqwest::Method::POST, "/_mget", Some(&body))
                .await?;
            expect_ok(status, "/_mget", &answer)?;
            for doc in answer["docs"].as_array().into_iter().flatten() {
                if doc["found"] == true
                    && let Some(f) = found_of(doc)
                {
                    found.insert(id_of(doc), f);
                }
            }
        }
        let unknown: Vec<&str> = targets
            .iter()
            .filter(|t| t.index.is_none())
            .map(|t| t.id.as_str())
            .collect();
        if !unknown.is_empty() {
            let path = format!(
                "/{}/_search?ignore_unavailable=true&allow_no_indices=true",
                self.settings.flows.pattern()
            );
            let body = json!({
                "size": unknown.len(),
                "seq_no_primary_term": true,
                "query": {"ids": {"values": unknown}},
            });
            let mut attempt = 0;
            let answer = loop {
                let (status, answer) = self.call(reqwest::Method::POST, &path, Some(&body)).await?;
                match status {
                    200 => break answer,
                    404 => break Value::Null,
                    // A data stream whose shards are starting (another
                    // replica just created it): wait a little, then give up
                    // the lookup. Missing a merge makes a second document,
                    // never a lost one.
                    429 | 503 if attempt < SEARCH_ATTEMPTS => {
                        attempt += 1;
                        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                    }
                    429 | 503 => {
                        warn!(
                            status,
                            ids = unknown.len(),
                            "The boundary lookup of flow ids failed; those flows are written under their own bucket's id."
                        );
                        break Value::Null;
                    }
                    _ => {
                        expect_ok(status, &path, &answer)?;
                        break answer;
                    }
                }
            };
            for hit in answer["hits"]["hits"].as_array().into_iter().flatten() {
                if let Some(f) = found_of(hit) {
                    found.entry(id_of(hit)).or_insert(f);
                }
            }
        }
        Ok(found)
    }

    /// Writes merged documents back where they are, if nobody changed them
    /// since they were read. Per document: Ok, Err(None) for a conflict (read
    /// again), Err(Some(outcome)) otherwise.
    async fn write_back(
        &mut self,
        writes: &[(String, Write)],
    ) -> Result<Vec<Result<(), Option<Outcome>>>, SinkError> {
        let mut ndjson = Vec::new();
        for (id, (f, seen, _)) in writes {
            let action = json!({"index": {
                "_index": f.index,
                "_id": id,
                "if_seq_no": f.seq_no,
                "if_primary_term": f.primary_term,
            }});
            let mut body = f.source.clone();
            seen.write_into(&mut body);
            // Serialising a `Value` cannot fail.
            let _ = serde_json::to_writer(&mut ndjson, &action);
            ndjson.push(b'\n');
            let _ = serde_json::to_writer(&mut ndjson, &body);
            ndjson.push(b'\n');
        }
        let url = self.url("/_bulk");
        let request = self.request(&url, ndjson)?;
        let reply = super::send(request).await.map_err(SinkError::Unavailable)?;
        let (status, body) = reply;
        if status != 200 {
            let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            super::refused(status, &url, &value)?;
            return Err(SinkError::Unavailable(format!(
                "{url} answered {status} to a merge: {}",
                bulk::error_reason(value.get("error"))
            )));
        }
        Ok(bulk::items(&body, writes.len())
            .into_iter()
            .map(|(o, _)| match o {
                Outcome::Accepted => Ok(()),
                Outcome::Duplicate => Err(None),
                other => Err(Some(other)),
            })
            .collect())
    }
}

fn id_of(doc: &Value) -> String {
    doc["_id"].as_str().unwrap_or_default().to_owned()
}

fn found_of(doc: &Value) -> Option<Found> {
    Some(Found {
        index: doc["_index"].as_str()?.to_owned(),
        seq_no: doc["_seq_no"].as_u64()?,
        primary_term: doc["_primary_term"].as_u64()?,
        source: doc.get("_source")?.clone(),
    })
}

fn expect_ok(status: u16, path: &str, answer: &Value) -> Result<(), SinkError> {
    super::refused(status, path, answer)?;
    if status == 200 {
        Ok(())
    } else {
        Err(SinkError::Unavailable(format!(
            "{path} answered {status}: {}",
            bulk::error_reason(answer.get("error"))
        )))
    }
}
