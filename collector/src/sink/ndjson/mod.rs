//! The NDJSON file sink: one ECS document per line, in a directory of files
//! that rotate by size and age, for Filebeat, `jq` or an archive.
//!
//! Line format: the ECS body exactly as Elasticsearch would index it, compact,
//! with the document id added as `event.id` when the body has no `event.id`
//! (see `sink::ecs_json`). No wrapper object: every line is a
//! document a shipper can forward unchanged.
//!
//! Files: `sonde-flow-YYYYMMDD-HHMMSS-N.ndjson` and `sonde-alert-…`, one
//! current file per kind. The stamp is the wall clock (UTC) when the file was
//! created, not an event time, so that names sort in the order files were
//! written even when a capture file is replayed; `N` tells apart files created
//! in the same second (names never go backwards, even if the clock does).
//! The current file is replaced by a new one before a line would take it past
//! `max_file_size` (one document larger than that gets a file of its own), or
//! when a document arrives and the file is older than `max_file_age` (there is
//! no timer: an idle file stays current). On start the sink adopts the files
//! already in the directory as rotated ones and always begins new current
//! files. On start and after each batch, the oldest rotated files beyond
//! `max_files` per kind are deleted; the current file never is.
//!
//! Durability and atomicity: a batch is appended, then every file it touched is
//! `fdatasync`ed (and the directory, when files were created) before `deliver`
//! returns Ok, and then (unless `keep_page_cache`) dropped from the page
//! cache: nothing reads them back here. If anything fails, files are cut back to their length before the
//! batch and files created by it are removed, so a failed batch leaves no line,
//! whole or partial; the caller retries the batch. Blocking file I/O runs on
//! tokio's blocking pool, never on a runtime worker.

mod files;
mod name;

use std::path::PathBuf;
use std::time::Duration;

use self::files::Writer;
use bytes::Bytes;

use super::{DocKind, Document, Outcome, Sink, SinkError, ecs_json};

/// Where and how the NDJSON sink writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NdjsonConfig {
    /// Directory of the files; created if missing.
    pub dir: PathBuf,
    /// A file is rotated before a line would take it past this many bytes.
    pub max_file_size: u64,
    /// A file is rotated when a document arrives and the file is this old.
    pub max_file_age: Duration,
    /// Rotated files kept per kind, besides the current one; older ones are deleted.
    pub max_files: usize,
    /// Leave written pages in the page cache (for a shipper on the same
    /// machine that reads the files as they grow); by default they are
    /// dropped once on disk, see `files::OpenFile::drop_page_cache`.
    pub keep_page_cache: bool,
}

impl NdjsonConfig {
    /// Every problem of the configuration (empty when it can work).
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.dir.as_os_str().is_empty() {
            problems.push("dir: must not be empty".to_owned());
        }
        if self.max_file_size == 0 {
            problems.push("max_file_size: must be > 0 (got 0)".to_owned());
        }
        if self.max_file_age.is_zero() {
            problems.push("max_file_age: must be > 0 (got 0s)".to_owned());
        }
        problems
    }
}

/// Writes documents to rotating NDJSON files; see the module documentation.
#[derive(Debug)]
pub struct NdjsonSink {
    config: NdjsonConfig,
    /// None only after the blocking worker died mid-batch; rebuilt on the next batch.
    writer: Option<Writer>,
}

impl NdjsonSink {
    /// Checks the configuration, creates the directory and adopts the files in it.
    ///
    /// Blocking (directory creation and listing): call it at start-up.
    pub fn new(config: NdjsonConfig) -> Result<Self, SinkError> {
        let problems = config.problems();
        if !problems.is_empty() {
            return Err(SinkError::Config(format!(
                "ndjson: {}",
                problems.join("; ")
            )));
        }
        let writer = Writer::open(config.clone())?;
        Ok(Self {
            config,
            writer: Some(writer),
        })
    }

    /// The directory the sink writes to.
    pub fn dir(&self) -> &std::path::Path {
        &self.config.dir
    }
}

impl Sink for NdjsonSink {
    fn name(&self) -> &str {
        "ndjson"
    }

    async fn deliver(&mut self, docs: &[Document]) -> Result<Vec<Outcome>, SinkError> {
        let mut outcomes = Vec::with_capacity(docs.len());
        let mut lines: Vec<(DocKind, Bytes)> = Vec::with_capacity(docs.len());
        for doc in docs {
            match ecs_json(doc) {
                Ok(_) => {
                    lines.push((doc.kind, doc.json.clone()));
                    outcomes.push(Outcome::Accepted);
                }
                Err(reason) => outcomes.push(Outcome::Rejected { reason }),
            }
        }
        if lines.is_empty() {
            return Ok(outcomes);
        }
        let writer = self.writer.take();
        let config = self.config.clone();
        // If this future is dropped while the task runs, the writer is lost with
        // it and the next batch starts new files: the batch may then be in the
        // files although the caller never saw Ok, which at-least-once allows.
        let (writer, result) = tokio::task::spawn_blocking(move || {
            let mut writer = match writer {
                Some(writer) => writer,
                None => match Writer::open(config) {
                    Ok(writer) => writer,
                    Err(e) => return (None, Err(e)),
                },
            };
            let result = writer.write_batch(&lines);
            (Some(writer), result)
        })
        .await
        .map_err(|e| SinkError::Worker(e.to_string()))?;
        self.writer = writer;
        result.map(|()| outcomes)
    }
}
