//! The spool: batches of documents the output could not take yet, on disk in
//! sled (0.34), so that the collector can acknowledge probes while
//! Elasticsearch is down or slow, and survive restarts and `kill -9`.
//!
//! # Layout
//!
//! One sled database in `spool.dir` with three trees:
//!
//! | tree | key | value |
//! |---|---|---|
//! | `batches` | u64 big-endian, increasing | one batch: enqueue time and its documents ([`codec`]) |
//! | `dead` | u64 big-endian, increasing | one document the output refused for good (HTTP 400), with the reason and time |
//! | `damaged` | the original key | a value that could not be decoded, kept raw for inspection |
//!
//! # Invariants
//!
//! - A batch is one key, whatever its size (not one key per document): a
//!   write is one insert and one flush.
//! - [`Spool::push`] returns only after the batch is flushed to disk: only
//!   then may the probe be acknowledged.
//! - Keys increase in arrival order, so draining from the first key delivers
//!   in order; a key is never reused while the store lives (the next key is
//!   one past the last at open).
//! - Data is deleted only when the output took it (accepted, or already had
//!   it: a 409), when the shedding policy removes it (counted, logged), or by
//!   the operator (`sonde-collector dead-letters purge`). A partly delivered
//!   batch is rewritten in place with only the documents still owed.
//! - Sizes are the encoded bytes of keys and values (what the bound in
//!   `spool.max_size` limits); sled's files on disk are larger by its own
//!   overhead and reclaim space lazily.
//! - A store that sled cannot open (or that panics sled while opening) is
//!   renamed to `<dir>.damaged-<unix time>` and a fresh one created: the
//!   collector reports it and keeps running instead of crash-looping. A store
//!   locked by another process is an error, never moved.

mod codec;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::sink::{DocKind, Document};

pub use codec::DecodeError;

/// What to do when a batch does not fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FullPolicy {
    /// Refuse the batch: the probes keep it in their own buffers and resend.
    Backpressure,
    /// Delete the oldest flows (then, if still needed, the oldest alerts).
    Shed,
}

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error(
        "the spool at {dir} is in use by another process (is another collector running?): {source}"
    )]
    Locked { dir: PathBuf, source: sled::Error },
    #[error("spool: {0}")]
    Sled(#[from] sled::Error),
    #[error("the spool is full ({bytes} of {max} bytes); the batch of {batch} bytes is refused")]
    Full { bytes: u64, max: u64, batch: u64 },
    #[error("cannot move the damaged spool {dir} aside: {source}")]
    MoveAside {
        dir: PathBuf,
        source: std::io::Error,
    },
}

/// A store that could not be opened and was moved aside.
#[derive(Clone, Debug)]
pub struct Damaged {
    pub moved_to: PathBuf,
    pub reason: String,
}

/// One spooled batch.
#[derive(Clone, Debug)]
pub struct Entry {
    pub key: u64,
    /// When it was spooled, Unix milliseconds.
    pub enqueued_ms: u64,
    pub docs: Vec<Document>,
}

/// One dead letter.
#[derive(Clone, Debug)]
pub struct DeadLetter {
    pub key: u64,
    pub time_ms: u64,
    pub reason: String,
    pub doc: Document,
}

/// Counters and sizes, for metrics and logs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpoolStats {
    pub batches: u64,
    pub records: u64,
    pub bytes: u64,
    /// Unix ms of the oldest batch, if any.
    pub oldest_ms: Option<u64>,
    pub dead_letters: u64,
    pub dead_letter_bytes: u64,
    /// Values that could not be decoded (kept in the `damaged` tree).
    pub damaged: u64,
    /// Documents deleted by the shedding policy since start.
    pub shed_flows: u64,
    pub shed_alerts: u64,
}

#[derive(Debug)]
pub struct Spool {
    db: sled::Db,
    batches: sled::Tree,
    dead: sled::Tree,
    damaged: sled::Tree,
    max_bytes: u64,
    policy: FullPolicy,
    next_batch: u64,
    next_dead: u64,
    stats: SpoolStats,
}

/// sled's page cache; the spool is written and read sequentially.
const CACHE_BYTES: u64 = 64 << 20;

impl Spool {
    /// Opens (or creates) the spool in `dir`; a damaged store is moved aside
    /// and reported in the second value.
    pub fn open(
        dir: &Path,
        max_bytes: u64,
        policy: FullPolicy,
    ) -> Result<(Spool, Option<Damaged>), SpoolError> {
        let (db, damaged) = match open_db_waiting(dir) {
            Ok(db) => (db, None),
            Err(OpenFailure::Locked(source)) => {
                return Err(SpoolError::Locked {
                    dir: dir.to_owned(),
                    source,
                });
            }
            Err(OpenFailure::Damaged(reason)) => {
                let moved_to = aside_name(dir);
                std::fs::rename(dir, &moved_to).map_err(|source| SpoolError::MoveAside {
                    dir: dir.to_owned(),
                    source,
                })?;
                let db = open_db(dir).map_err(|e| match e {
                    OpenFailure::Locked(source) => SpoolError::Locked {
                        dir: dir.to_owned(),
                        source,
                    },
                    OpenFailure::Damaged(reason) => SpoolError::Sled(sled::Error::Unsupported(
                        format!("a fresh spool cannot be created: {reason}"),
                    )),
                })?;
                (db, Some(Damaged { moved_to, reason }))
            }
        };
        let mut spool = Spool {
            batches: db.open_tree("batches")?,
            dead: db.open_tree("dead")?,
            damaged: db.open_tree("damaged")?,
            db,
            max_bytes,
            policy,
            next_batch: 1,
            next_dead: 1,
            stats: SpoolStats::default(),
        };
        spool.scan()?;
        Ok((spool, damaged))
    }

    /// Recomputes sizes and next keys; moves undecodable batches to `damaged`.
    fn scan(&mut self) -> Result<(), SpoolError> {
        let mut stats = SpoolStats {
            damaged: self.damaged.len() as u64,
            ..SpoolStats::default()
        };
        let mut bad = Vec::new();
        for item in self.batches.iter() {
            let (key, value) = item?;
            match codec::batch_header(&value) {
                Ok((enqueued_ms, count)) => {
                    stats.batches += 1;
                    stats.records += u64::from(count);
                    stats.bytes += (key.len() + value.len()) as u64;
                    stats.oldest_ms.get_or_insert(enqueued_ms);
                }
                Err(_) => bad.push((key, value)),
            }
        }
        for (key, value) in bad {
            tracing::error!(key = ?key, "A spooled batch cannot be decoded; it is kept in the damaged tree.");
            self.damaged.insert(&key, value)?;
            self.batches.remove(&key)?;
            stats.damaged += 1;
        }
        for item in self.dead.iter() {
            let (key, value) = item?;
            stats.dead_letters += 1;
            stats.dead_letter_bytes += (key.len() + value.len()) as u64;
        }
        self.next_batch = last_key(&self.batches)?.map_or(1, |k| k + 1);
        self.next_dead = last_key(&self.dead)?.map_or(1, |k| k + 1);
        self.stats = stats;
        self.db.flush()?;
        Ok(())
    }

    pub fn stats(&self) -> SpoolStats {
        self.stats
    }

    pub fn is_empty(&self) -> bool {
        self.stats.batches == 0
    }

    /// Spools `docs` as one batch and flushes the store (every tree) to disk.
    pub fn push(&mut self, docs: &[Document]) -> Result<(), SpoolError> {
        if docs.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let value = codec::encode_batch(now, docs);
        let size = (8 + value.len()) as u64;
        self.make_room(size)?;
        let key = self.next_batch;
        self.batches.insert(key.to_be_bytes(), value)?;
        self.db.flush()?;
        self.next_batch += 1;
        self.stats.batches += 1;
        self.stats.records += docs.len() as u64;
        self.stats.bytes += size;
        self.stats.oldest_ms.get_or_insert(now);
        Ok(())
    }

    /// Frees space for `size` more bytes, or refuses, by the policy.
    fn make_room(&mut self, size: u64) -> Result<(), SpoolError> {
        let full = |s: &Self| s.stats.bytes + size > s.max_bytes;
        if !full(self) {
            return Ok(());
        }
        let refused = SpoolError::Full {
            bytes: self.stats.bytes,
            max: self.max_bytes,
            batch: size,
        };
        if self.policy == FullPolicy::Backpressure || size > self.max_bytes {
            return Err(refused);
        }
        // Flows first, oldest first; then whole batches (alerts), oldest first.
        let (mut flows, mut alerts) = (0u64, 0u64);
        let keys: Vec<u64> = self
            .batches
            .iter()
            .keys()
            .filter_map(|k| k.ok().and_then(|k| key_of(&k)))
            .collect();
        for &key in &keys {
            if !full(self) {
                break;
            }
            let Some(entry) = self.get(key)? else {
                continue;
            };
            let kept: Vec<Document> = entry
                .docs
                .iter()
                .filter(|d| d.kind != DocKind::Flow)
                .cloned()
                .collect();
            let removed = entry.docs.len() - kept.len();
            if removed > 0 {
                flows += removed as u64;
                self.replace_entry(&entry, &kept)?;
            }
        }
        for &key in &keys {
            if !full(self) {
                break;
            }
            let Some(entry) = self.get(key)? else {
                continue;
            };
            alerts += entry.docs.len() as u64;
            self.replace_entry(&entry, &[])?;
        }
        self.stats.shed_flows += flows;
        self.stats.shed_alerts += alerts;
        tracing::warn!(
            shed_flows = flows,
            shed_alerts = alerts,
            max_bytes = self.max_bytes,
            "The spool is full: the oldest records were deleted to make room (spool.full_policy = \"shed\")."
        );
        if full(self) {
            return Err(refused);
        }
        Ok(())
    }

    fn get(&self, key: u64) -> Result<Option<Entry>, SpoolError> {
        let Some(value) = self.batches.get(key.to_be_bytes())? else {
            return Ok(None);
        };
        match codec::decode_batch(&value) {
            Ok((enqueued_ms, docs)) => Ok(Some(Entry {
                key,
                enqueued_ms,
                docs,
            })),
            Err(e) => {
                self.quarantine(key, &value, &e)?;
                Ok(None)
            }
        }
    }

    fn quarantine(&self, key: u64, value: &[u8], e: &DecodeError) -> Result<(), SpoolError> {
        tracing::error!(key, error = %e, "A spooled batch cannot be decoded; it is kept in the damaged tree.");
        self.damaged.insert(key.to_be_bytes(), value)?;
        self.batches.remove(key.to_be_bytes())?;
        Ok(())
    }

    /// The oldest batches, in order, up to `max_docs` documents (at least one
    /// batch when the spool is not empty).
    pub fn oldest(&mut self, max_docs: usize) -> Result<Vec<Entry>, SpoolError> {
        let mut out: Vec<Entry> = Vec::new();
        let mut docs = 0;
        let mut bad = Vec::new();
        for item in self.batches.iter() {
            let (key, value) = item?;
            let Some(k) = key_of(&key) else { continue };
            match codec::decode_batch(&value) {
                Ok((enqueued_ms, batch)) => {
                    if !out.is_empty() && docs + batch.len() > max_docs {
                        break;
                    }
                    docs += batch.len();
                    out.push(Entry {
                        key: k,
                        enqueued_ms,
                        docs: batch,
                    });
                }
                Err(e) => bad.push((k, value, e)),
            }
        }
        for (key, value, e) in bad {
            self.quarantine(key, &value, &e)?;
            self.stats.damaged += 1;
            self.recount()?;
        }
        Ok(out)
    }

    /// Rewrites `entry` (its key and enqueue time) with only `remaining`
    /// (deletes it when empty).
    pub fn replace_entry(
        &mut self,
        entry: &Entry,
        remaining: &[Document],
    ) -> Result<(), SpoolError> {
        let key = entry.key.to_be_bytes();
        let Some(old) = self.batches.get(key)? else {
            return Ok(());
        };
        let old_size = (8 + old.len()) as u64;
        // The stored count, not `entry.docs`: a caller may have moved them out.
        let old_count = codec::batch_header(&old).map_or(0, |(_, n)| u64::from(n));
        self.stats.bytes = self.stats.bytes.saturating_sub(old_size);
        self.stats.records = self.stats.records.saturating_sub(old_count);
        if remaining.is_empty() {
            self.batches.remove(key)?;
            self.stats.batches = self.stats.batches.saturating_sub(1);
            self.stats.oldest_ms = self.first_time()?;
        } else {
            let value = codec::encode_batch(entry.enqueued_ms, remaining);
            self.stats.bytes += (8 + value.len()) as u64;
            self.stats.records += remaining.len() as u64;
            self.batches.insert(key, value)?;
        }
        Ok(())
    }

    /// Enqueue time of the first batch.
    fn first_time(&self) -> Result<Option<u64>, SpoolError> {
        Ok(self
            .batches
            .first()?
            .and_then(|(_, v)| codec::batch_header(&v).ok())
            .map(|(t, _)| t))
    }

    fn recount(&mut self) -> Result<(), SpoolError> {
        let shed = (self.stats.shed_flows, self.stats.shed_alerts);
        self.scan()?;
        (self.stats.shed_flows, self.stats.shed_alerts) = shed;
        Ok(())
    }

    /// Stores `doc` as a dead letter with `reason` (not flushed: call
    /// [`Spool::flush`]).
    pub fn dead_letter(&mut self, doc: &Document, reason: &str) -> Result<(), SpoolError> {
        let value = codec::encode_dead(now_ms(), reason, doc);
        self.stats.dead_letters += 1;
        self.stats.dead_letter_bytes += (8 + value.len()) as u64;
        self.dead.insert(self.next_dead.to_be_bytes(), value)?;
        self.next_dead += 1;
        Ok(())
    }

    pub fn flush(&self) -> Result<(), SpoolError> {
        self.db.flush()?;
        Ok(())
    }

    /// Every dead letter, oldest first (undecodable ones are skipped and logged).
    pub fn dead_letters(&self) -> Result<Vec<DeadLetter>, SpoolError> {
        let mut out = Vec::new();
        for item in self.dead.iter() {
            let (key, value) = item?;
            let Some(k) = key_of(&key) else { continue };
            match codec::decode_dead(&value) {
                Ok((time_ms, reason, doc)) => out.push(DeadLetter {
                    key: k,
                    time_ms,
                    reason,
                    doc,
                }),
                Err(e) => tracing::error!(key = k, error = %e, "A dead letter cannot be decoded."),
            }
        }
        Ok(out)
    }

    /// Moves the dead letters `keys` (all when empty) back into the spool as
    /// one batch, to be delivered again; returns how many moved.
    pub fn resend_dead_letters(&mut self, keys: &[u64]) -> Result<usize, SpoolError> {
        let chosen: Vec<DeadLetter> = self
            .dead_letters()?
            .into_iter()
            .filter(|d| keys.is_empty() || keys.contains(&d.key))
            .collect();
        let docs: Vec<Document> = chosen.iter().map(|d| d.doc.clone()).collect();
        self.push(&docs)?;
        for d in &chosen {
            self.dead.remove(d.key.to_be_bytes())?;
        }
        self.flush()?;
        self.recount()?;
        Ok(chosen.len())
    }

    /// Deletes the dead letters `keys` (all when empty); returns how many.
    pub fn purge_dead_letters(&mut self, keys: &[u64]) -> Result<usize, SpoolError> {
        let mut n = 0;
        for d in self.dead_letters()? {
            if keys.is_empty() || keys.contains(&d.key) {
                self.dead.remove(d.key.to_be_bytes())?;
                n += 1;
            }
        }
        self.flush()?;
        self.recount()?;
        Ok(n)
    }
}

enum OpenFailure {
    Locked(sled::Error),
    Damaged(String),
}

/// sled releases its lock from its own threads shortly after the last
/// handle is dropped: a store closed a moment ago (in this process, or by a
/// process that is just exiting) is waited for, up to a second.
fn open_db_waiting(dir: &Path) -> Result<sled::Db, OpenFailure> {
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    loop {
        match open_db(dir) {
            Err(OpenFailure::Locked(_)) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

fn open_db(dir: &Path) -> Result<sled::Db, OpenFailure> {
    let config = sled::Config::new()
        .path(dir)
        .cache_capacity(CACHE_BYTES)
        .flush_every_ms(None);
    // sled 0.34 can panic on some corrupt files instead of returning an error.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || config.open())) {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(sled::Error::Io(e))) if is_lock_error(&e) => {
            Err(OpenFailure::Locked(sled::Error::Io(e)))
        }
        Ok(Err(e)) => Err(OpenFailure::Damaged(e.to_string())),
        Err(panic) => Err(OpenFailure::Damaged(format!(
            "sled panicked while opening it: {}",
            panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)")
        ))),
    }
}

/// sled reports a store held by another process as an I/O error on its lock.
fn is_lock_error(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::WouldBlock || e.to_string().contains("lock")
}

fn aside_name(dir: &Path) -> PathBuf {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    let mut name = dir.as_os_str().to_owned();
    name.push(format!(".damaged-{secs}"));
    PathBuf::from(name)
}

fn key_of(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

fn last_key(tree: &sled::Tree) -> Result<Option<u64>, SpoolError> {
    Ok(tree.last()?.and_then(|(k, _)| key_of(&k)))
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests;
