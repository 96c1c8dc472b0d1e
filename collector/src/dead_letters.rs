//! `sonde-collector dead-letters`: inspect, re-send and delete the documents
//! the output refused for good (HTTP 400: a mapping conflict, a field
//! Elasticsearch cannot parse). They live in the spool's `dead` tree, so the
//! collector must be stopped (sled allows one process per store); `resend`
//! moves them back into the spool, and the next `run` delivers them.

use std::io::Write;

use crate::spool::{FullPolicy, Spool, SpoolError};

/// What to do with the dead letters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// One line per dead letter: key, time, kind, id, reason.
    List,
    /// The full documents (NDJSON), with their reasons, for `keys` (all when empty).
    Show(Vec<u64>),
    /// Back into the spool, for `keys` (all when empty).
    Resend(Vec<u64>),
    /// Deleted, for `keys` (all when empty).
    Purge(Vec<u64>),
}

#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    #[error(transparent)]
    Spool(#[from] SpoolError),
    #[error("writing the output: {0}")]
    Io(#[from] std::io::Error),
    #[error("no dead letter has key {0}")]
    Unknown(u64),
}

/// Runs `action` on the spool in `dir`, writing what it did to `out`.
pub fn run(
    dir: &std::path::Path,
    max_bytes: u64,
    action: &Action,
    out: &mut dyn Write,
) -> Result<(), DeadLetterError> {
    let (mut spool, _) = Spool::open(dir, max_bytes, FullPolicy::Backpressure)?;
    let letters = spool.dead_letters()?;
    let keys = match action {
        Action::List => &Vec::new(),
        Action::Show(k) | Action::Resend(k) | Action::Purge(k) => k,
    };
    if let Some(missing) = keys.iter().find(|k| !letters.iter().any(|d| d.key == **k)) {
        return Err(DeadLetterError::Unknown(*missing));
    }
    match action {
        Action::List => {
            for d in &letters {
                writeln!(
                    out,
                    "{}\t{}\t{}\t{}\t{}",
                    d.key,
                    rfc3339_ms(d.time_ms),
                    d.doc.kind.as_str(),
                    d.doc.id,
                    d.reason
                )?;
            }
            writeln!(out, "{} dead letters", letters.len())?;
        }
        Action::Show(keys) => {
            for d in letters
                .iter()
                .filter(|d| keys.is_empty() || keys.contains(&d.key))
            {
                let line = serde_json::json!({
                    "key": d.key,
                    "time": rfc3339_ms(d.time_ms),
                    "reason": d.reason,
                    "id": d.doc.id,
                    "kind": d.doc.kind.as_str(),
                    "document": d.doc.body(),
                });
                writeln!(out, "{line}")?;
            }
        }
        Action::Resend(keys) => {
            let n = spool.resend_dead_letters(keys)?;
            writeln!(
                out,
                "{n} dead letters moved back into the spool; the collector delivers them when it runs"
            )?;
        }
        Action::Purge(keys) => {
            let n = spool.purge_dead_letters(keys)?;
            writeln!(out, "{n} dead letters deleted")?;
        }
    }
    Ok(())
}

fn rfc3339_ms(ms: u64) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}
