//! The files behind the NDJSON sink: rotation, pruning, and the
//! all-or-nothing append of one batch (see the parent module for the rules).
//! Everything here is blocking I/O and runs on tokio's blocking pool.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, IoSlice, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use bytes::Bytes;
use tracing::{debug, error, warn};

use super::NdjsonConfig;
use super::name::{NameKey, parse_name, stamp_now};
use crate::sink::{DocKind, SinkError};

/// Lines are handed to the kernel (straight from the documents' buffers, one
/// `writev` for many) once this many slices (a line and its newline are two)
/// are pending for a file: Linux's `IOV_MAX`.
const WRITE_SLICES: usize = 1024;

/// Taken names skipped in a row before giving up (another writer in the directory?).
const NAME_ATTEMPTS: u64 = 1000;

/// Files of one kind.
#[derive(Debug, Default)]
struct KindFiles {
    current: Option<OpenFile>,
    /// Rotated files, oldest first.
    rotated: VecDeque<PathBuf>,
    /// The newest name used or found, so that new names sort after it.
    last: Option<NameKey>,
}

/// The current file of a kind.
#[derive(Debug)]
struct OpenFile {
    file: File,
    path: PathBuf,
    opened: Instant,
    /// Bytes in the file, the running batch's lines not yet written included.
    len: u64,
    /// What the file was before the running batch: what a rollback restores.
    origin: Origin,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    /// The file existed with this many bytes.
    Existing(u64),
    /// The batch created the file.
    Created,
}

/// The NDJSON files of one directory.
#[derive(Debug)]
pub(super) struct Writer {
    config: NdjsonConfig,
    /// Indexed by [`slot`].
    kinds: [KindFiles; 2],
}

impl Writer {
    /// Creates the directory if needed and adopts the sink's files already in it.
    pub(super) fn open(config: NdjsonConfig) -> Result<Self, SinkError> {
        let dir = &config.dir;
        fs::create_dir_all(dir).map_err(|source| file_error("create directory", dir, source))?;
        let mut found: [Vec<(NameKey, PathBuf)>; 2] = Default::default();
        let entries = fs::read_dir(dir).map_err(|source| file_error("list", dir, source))?;
        for entry in entries {
            let entry = entry.map_err(|source| file_error("list", dir, source))?;
            let is_file = entry.file_type().is_ok_and(|t| t.is_file());
            let name = entry.file_name();
            if let (true, Some((kind, key))) = (is_file, name.to_str().and_then(parse_name)) {
                found[slot(kind)].push((key, entry.path()));
            }
        }
        let kinds = found.map(|mut files| {
            files.sort();
            // A crash (kill -9, power loss) can leave the newest file ending in
            // a partial line. It was never acknowledged (acks follow fsync of
            // whole batches): cut it so every line of every file is JSON.
            if let Some((_, newest)) = files.last() {
                match truncate_torn_tail(newest) {
                    Ok(0) => {}
                    Ok(cut) => warn!(path = %newest.display(), bytes = cut, "Cut a partial line left by a crash."),
                    Err(e) => warn!(path = %newest.display(), error = %e, "Cannot check the end of an NDJSON file."),
                }
            }
            KindFiles {
                current: None,
                last: files.last().map(|(key, _)| key.clone()),
                rotated: files.into_iter().map(|(_, path)| path).collect(),
            }
        });
        let mut writer = Self { config, kinds };
        writer.prune();
        Ok(writer)
    }

    /// Appends `lines` (each ending in a newline) and makes them durable, or
    /// leaves every file as it was before the call.
    /// Writes `lines` (documents without their newline).
    pub(super) fn write_batch(&mut self, lines: &[(DocKind, Bytes)]) -> Result<(), SinkError> {
        for files in &mut self.kinds {
            if let Some(current) = &mut files.current {
                current.origin = Origin::Existing(current.len);
            }
        }
        let mut retired = Vec::new();
        let result = self
            .append(lines, &mut retired)
            .and_then(|created| self.sync(&retired, created));
        match result {
            Ok(()) => {
                for (slot, file) in retired {
                    self.kinds[slot].rotated.push_back(file.path);
                }
                self.prune();
                Ok(())
            }
            Err(e) => {
                self.roll_back(retired);
                Err(e)
            }
        }
    }

    /// Writes the lines, rotating as needed; files rotated away go to
    /// `retired` (still open, for sync or rollback). True if a file was created.
    fn append(
        &mut self,
        lines: &[(DocKind, Bytes)],
        retired: &mut Vec<(usize, OpenFile)>,
    ) -> Result<bool, SinkError> {
        let mut created = false;
        // Per kind: lines not yet handed to the kernel, each followed by a newline.
        let mut pending: [Vec<IoSlice<'_>>; 2] = Default::default();
        for (kind, line) in lines {
            let slot = slot(*kind);
            let len = u64::try_from(line.len() + 1).unwrap_or(u64::MAX);
            let rotate = self.kinds[slot]
                .current
                .as_ref()
                .is_some_and(|current| self.is_full(current, len));
            if rotate && let Some(old) = self.kinds[slot].current.take() {
                // Retire first: a failed write must still be rolled back.
                retired.push((slot, old));
                if let Some((_, old)) = retired.last_mut() {
                    old.write(&mut pending[slot])?;
                }
            }
            let current = match self.kinds[slot].current.take() {
                Some(current) => current,
                None => {
                    let new = self.create(*kind)?;
                    created = true;
                    new
                }
            };
            let current = self.kinds[slot].current.insert(current);
            let slices = &mut pending[slot];
            slices.push(IoSlice::new(line));
            slices.push(IoSlice::new(b"\n"));
            current.len = current.len.saturating_add(len);
            if slices.len() >= WRITE_SLICES {
                current.write(slices)?;
            }
        }
        for (files, slices) in self.kinds.iter_mut().zip(&mut pending) {
            if let Some(current) = &mut files.current {
                current.write(slices)?;
            }
        }
        Ok(created)
    }

    /// Whether `current` must be rotated before a line of `len` bytes.
    fn is_full(&self, current: &OpenFile, len: u64) -> bool {
        current.len > 0
            && (current.len.saturating_add(len) > self.config.max_file_size
                || current.opened.elapsed() >= self.config.max_file_age)
    }

    fn sync(&self, retired: &[(usize, OpenFile)], created: bool) -> Result<(), SinkError> {
        let touched = retired.iter().map(|(_, file)| file).chain(
            self.kinds
                .iter()
                .filter_map(|files| files.current.as_ref())
                .filter(|file| file.origin != Origin::Existing(file.len)),
        );
        for file in touched {
            file.file
                .sync_data()
                .map_err(|source| file_error("sync", &file.path, source))?;
            if !self.config.keep_page_cache {
                file.drop_page_cache();
            }
        }
        if created {
            // The new names must survive a crash too, not only the data.
            let dir = &self.config.dir;
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|source| file_error("sync directory", dir, source))?;
        }
        Ok(())
    }

    /// A new current file for `kind`, named after the newest known one.
    fn create(&mut self, kind: DocKind) -> Result<OpenFile, SinkError> {
        let files = &mut self.kinds[slot(kind)];
        let now = stamp_now();
        let mut key = match &files.last {
            Some(last) if last.stamp >= now => NameKey {
                stamp: last.stamp.clone(),
                n: last.n.saturating_add(1),
            },
            _ => NameKey { stamp: now, n: 0 },
        };
        let mut path = self.config.dir.join(key.file_name(kind));
        for _ in 0..NAME_ATTEMPTS {
            let mut options = OpenOptions::new();
            options.append(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o640);
            match options.open(&path) {
                Ok(file) => {
                    files.last = Some(key);
                    return Ok(OpenFile {
                        file,
                        path,
                        opened: Instant::now(),
                        len: 0,
                        origin: Origin::Created,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    key.n = key.n.saturating_add(1);
                    path = self.config.dir.join(key.file_name(kind));
                }
                Err(source) => return Err(file_error("create", &path, source)),
            }
        }
        let detail = format!("{NAME_ATTEMPTS} file names in a row already exist");
        Err(file_error("create", &path, io::Error::other(detail)))
    }

    /// Puts every file back as it was before the batch.
    fn roll_back(&mut self, retired: Vec<(usize, OpenFile)>) {
        for (slot, file) in retired {
            if let Some(path) = file.undo() {
                self.kinds[slot].rotated.push_back(path);
            }
        }
        for files in &mut self.kinds {
            let Some(mut current) = files.current.take() else {
                continue;
            };
            match current.origin {
                Origin::Created => {
                    current.undo();
                }
                Origin::Existing(len) => match current.file.set_len(len) {
                    Ok(()) => {
                        current.len = len;
                        files.current = Some(current);
                    }
                    Err(e) => {
                        error!(path = %current.path.display(), error = %e,
                            "Cannot cut a file back after a failed batch; it may hold a partial line.");
                        files.rotated.push_back(current.path);
                    }
                },
            }
        }
    }

    /// Deletes the oldest rotated files beyond `max_files` per kind.
    fn prune(&mut self) {
        for files in &mut self.kinds {
            while files.rotated.len() > self.config.max_files {
                let Some(path) = files.rotated.pop_front() else {
                    break;
                };
                if let Err(e) = fs::remove_file(&path)
                    && e.kind() != io::ErrorKind::NotFound
                {
                    warn!(path = %path.display(), error = %e, "Cannot delete an old NDJSON file.");
                }
            }
        }
    }
}

impl OpenFile {
    /// Writes `slices` out, all of them, and empties the list.
    fn write(&mut self, slices: &mut Vec<IoSlice<'_>>) -> Result<(), SinkError> {
        let mut rest = &mut slices[..];
        while !rest.is_empty() {
            match self.file.write_vectored(rest) {
                Ok(0) => {
                    let source = io::Error::from(io::ErrorKind::WriteZero);
                    return Err(file_error("write", &self.path, source));
                }
                Ok(n) => IoSlice::advance_slices(&mut rest, n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => return Err(file_error("write", &self.path, source)),
            }
        }
        slices.clear();
        Ok(())
    }

    /// Asks the kernel to forget the file's pages once they are on disk: the
    /// sink never reads them back, and a steady stream of output would
    /// otherwise push out the page cache of everything else on the machine
    /// (Elasticsearch's index files above all). Only advice: a failure is
    /// logged at debug level and changes nothing.
    fn drop_page_cache(&self) {
        if let Err(e) = rustix::fs::fadvise(&self.file, 0, None, rustix::fs::Advice::DontNeed) {
            debug!(path = %self.path.display(), error = %e, "Cannot drop written pages from the page cache.");
        }
    }

    /// Restores the file as before the batch; returns its path if it remains.
    fn undo(self) -> Option<PathBuf> {
        let result = match self.origin {
            Origin::Created => fs::remove_file(&self.path).map(|()| false),
            Origin::Existing(len) => self.file.set_len(len).map(|()| true),
        };
        match result {
            Ok(remains) => remains.then_some(self.path),
            Err(e) => {
                error!(path = %self.path.display(), error = %e,
                    "Cannot undo a failed batch in a file; it may hold a partial line.");
                Some(self.path)
            }
        }
    }
}

/// Truncates `path` after its last newline; returns the bytes removed.
fn truncate_torn_tail(path: &Path) -> io::Result<u64> {
    use std::io::{Read, Seek, SeekFrom};
    const CHUNK: u64 = 64 * 1024;
    let mut file = fs::OpenOptions::new().read(true).write(true).open(path)?;
    let len = file.metadata()?.len();
    let mut end = len;
    let mut buf = vec![0u8; CHUNK as usize];
    // Scan backwards for the last newline.
    let keep = loop {
        if end == 0 {
            break 0;
        }
        let start = end.saturating_sub(CHUNK);
        let n = (end - start) as usize;
        let chunk = buf.get_mut(..n).unwrap_or_default();
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(chunk)?;
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            break start + i as u64 + 1;
        }
        end = start;
    };
    if keep < len {
        file.set_len(keep)?;
        file.sync_all()?;
    }
    Ok(len - keep)
}

fn file_error(action: &'static str, path: &Path, source: io::Error) -> SinkError {
    SinkError::File {
        action,
        path: path.to_owned(),
        source,
    }
}

fn slot(kind: DocKind) -> usize {
    match kind {
        DocKind::Flow => 0,
        DocKind::Alert => 1,
    }
}
