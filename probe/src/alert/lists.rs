//! Blacklists: files of IP addresses, CIDR networks and domains, one per
//! line (`#` starts a comment, blank lines are ignored), looked up for every
//! flow record and reloaded when a file changes.
//!
//! How: each file becomes a table of its own (so a match names its list):
//! IPv4 and IPv6 addresses and networks as sorted, merged ranges searched by
//! bisection, domains as a set searched for the name and each parent domain
//! (lowercase, trailing dot ignored). A line that is none of the three is
//! counted and reported with its file and line number; the rest of the file
//! still loads. [`Blacklists::reload_if_changed`] compares each file's
//! modification time and size (one `stat` per file: cheap once a second); a
//! file that disappears or cannot be read keeps its last good list and is
//! warned about once.
//!
//! Bounds: files over [`MAX_FILE_BYTES`] are refused (the last good list
//! stays), at most [`MAX_ENTRIES`] entries per file (the rest are counted as
//! skipped), lines over [`MAX_LINE`] bytes are invalid, and at most
//! [`MAX_EXAMPLES`] invalid lines per file are kept for the report.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use ipnet::IpNet;
use sonde_common::telemetry::names;
use tracing::{info, warn};

pub(crate) const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
pub(crate) const MAX_ENTRIES: usize = 1_000_000;
pub(crate) const MAX_LINE: usize = 1024;
pub(crate) const MAX_EXAMPLES: usize = 20;

/// A line that was not an address, CIDR or domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidLine {
    /// 1-based.
    pub line: u64,
    /// The line, cut to 80 characters.
    pub text: String,
}

/// What loading one file gave.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileReport {
    pub path: PathBuf,
    /// Entries in use for this file after the load (the last good list when
    /// the load failed).
    pub entries: u64,
    pub invalid_lines: u64,
    /// The first invalid lines, with their numbers.
    pub invalid: Vec<InvalidLine>,
    /// Entries beyond [`MAX_ENTRIES`], not loaded.
    pub skipped: u64,
    /// Why the file could not be read; its last good list stays in use.
    pub error: Option<String>,
}

/// What a load or reload did, one report per file it touched.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    pub files: Vec<FileReport>,
}

impl LoadReport {
    /// One line per problem: unreadable files, invalid lines with their
    /// numbers (`blacklist.txt:7: "10.0.0.300"`).
    pub fn problems(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for f in &self.files {
            let path = f.path.display();
            if let Some(error) = &f.error {
                lines.push(format!("{path}: {error}"));
            }
            for bad in &f.invalid {
                lines.push(format!(
                    "{path}:{}: not an address, CIDR or domain: \"{}\"",
                    bad.line, bad.text
                ));
            }
            let unlisted = f.invalid_lines.saturating_sub(f.invalid.len() as u64);
            if unlisted > 0 {
                lines.push(format!("{path}: {unlisted} more invalid lines"));
            }
            if f.skipped > 0 {
                lines.push(format!(
                    "{path}: {} entries beyond the limit of {MAX_ENTRIES} were not loaded",
                    f.skipped
                ));
            }
        }
        lines
    }

    pub fn invalid_lines(&self) -> u64 {
        self.files.iter().map(|f| f.invalid_lines).sum()
    }

    pub fn errors(&self) -> usize {
        self.files.iter().filter(|f| f.error.is_some()).count()
    }
}

/// The loaded entries of one file.
#[derive(Debug, Default)]
struct Table {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
    domains: HashSet<String>,
}

impl Table {
    fn len(&self) -> usize {
        self.v4.len() + self.v6.len() + self.domains.len()
    }

    fn contains_ip(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => in_ranges(&self.v4, u32::from(a)),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => in_ranges(&self.v4, u32::from(v4)),
                None => in_ranges(&self.v6, u128::from(a)),
            },
        }
    }

    /// The entry that holds `name` (itself or a parent domain).
    fn domain_entry(&self, name: &str) -> Option<&str> {
        let mut rest = name;
        loop {
            if let Some(hit) = self.domains.get(rest) {
                return Some(hit.as_str());
            }
            rest = rest.split_once('.')?.1;
        }
    }
}

/// Whether a sorted, merged range list holds `x`.
fn in_ranges<T: Ord + Copy>(ranges: &[(T, T)], x: T) -> bool {
    let i = ranges.partition_point(|(start, _)| *start <= x);
    i > 0 && ranges.get(i - 1).is_some_and(|(_, end)| x <= *end)
}

/// Sorts and merges overlapping or adjacent ranges.
fn merge<T: Ord + Copy>(ranges: &mut Vec<(T, T)>, next: impl Fn(T) -> Option<T>) {
    ranges.sort_unstable();
    let mut out: Vec<(T, T)> = Vec::with_capacity(ranges.len());
    for &(start, end) in ranges.iter() {
        match out.last_mut() {
            Some(last) if next(last.1).is_none_or(|n| start <= n) => last.1 = last.1.max(end),
            _ => out.push((start, end)),
        }
    }
    *ranges = out;
}

/// A domain as compared: lowercase, without a trailing dot or a leading
/// `*.`; `None` when it is not a domain name.
pub(crate) fn normalize_domain(name: &str) -> Option<String> {
    let name = name.trim().trim_end_matches('.');
    let name = name.strip_prefix("*.").unwrap_or(name);
    if name.is_empty() || name.len() > 253 || name.parse::<IpAddr>().is_ok() {
        return None;
    }
    let ok = name.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    // No top-level domain is all digits: "300.1.1.1" is a bad address.
    let numeric_tld = name
        .rsplit('.')
        .next()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()));
    (ok && !numeric_tld).then(|| name.to_ascii_lowercase())
}

enum Entry {
    Net(IpNet),
    Domain(String),
}

fn parse_line(line: &str) -> Option<Entry> {
    if line.len() > MAX_LINE {
        return None;
    }
    if let Ok(net) = line.parse::<IpNet>() {
        return Some(Entry::Net(net.trunc()));
    }
    if let Ok(ip) = line.parse::<IpAddr>() {
        return Some(Entry::Net(IpNet::from(ip)));
    }
    normalize_domain(line).map(Entry::Domain)
}

/// For the fuzz target: `data` parsed as a list file, then looked up with
/// addresses and names taken from the same bytes. Returns the entries and
/// invalid lines; never panics.
pub fn fuzz_parse(data: &[u8]) -> (usize, u64) {
    let mut report = FileReport::default();
    let Ok(table) = parse(data, &mut report) else {
        return (0, report.invalid_lines);
    };
    for chunk in data.chunks(16) {
        if let Ok(octets) = <[u8; 16]>::try_from(chunk) {
            let _ = table.contains_ip(IpAddr::from(octets));
        }
        if let Some(four) = chunk.get(..4).and_then(|c| <[u8; 4]>::try_from(c).ok()) {
            let _ = table.contains_ip(IpAddr::from(four));
        }
    }
    for line in String::from_utf8_lossy(data).lines() {
        let _ = table.domain_entry(line);
    }
    (table.len(), report.invalid_lines)
}

/// Parses a file, line by line, into a table and its report. Lines are
/// read with a cap, so a file without newlines costs [`MAX_LINE`] bytes.
fn parse(mut reader: impl BufRead, report: &mut FileReport) -> std::io::Result<Table> {
    let mut table = Table::default();
    let mut count = 0usize;
    let mut buf = Vec::with_capacity(256);
    let mut n: u64 = 0;
    loop {
        buf.clear();
        let read = (&mut reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)?;
        if read == 0 {
            break;
        }
        let complete = buf.last() == Some(&b'\n');
        if !complete && buf.len() > MAX_LINE {
            // Skip the rest of an overlong line.
            let mut sink = Vec::new();
            while reader.read_until(b'\n', &mut sink)? > 0 {
                if sink.last() == Some(&b'\n') {
                    break;
                }
                sink.clear();
            }
        }
        n += 1;
        let text = String::from_utf8_lossy(&buf);
        let line = text.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let Some(entry) = parse_line(line) else {
            report.invalid_lines += 1;
            if report.invalid.len() < MAX_EXAMPLES {
                report.invalid.push(InvalidLine {
                    line: n,
                    text: line.chars().take(80).collect(),
                });
            }
            continue;
        };
        if count >= MAX_ENTRIES {
            report.skipped += 1;
            continue;
        }
        count += 1;
        match entry {
            Entry::Net(IpNet::V4(n)) => table
                .v4
                .push((u32::from(n.network()), u32::from(n.broadcast()))),
            Entry::Net(IpNet::V6(n)) => table
                .v6
                .push((u128::from(n.network()), u128::from(n.broadcast()))),
            Entry::Domain(d) => {
                table.domains.insert(d);
            }
        }
    }
    merge(&mut table.v4, |x| x.checked_add(1));
    merge(&mut table.v6, |x| x.checked_add(1));
    Ok(table)
}

/// A file's identity for change detection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
}

fn stamp(path: &Path) -> std::io::Result<Stamp> {
    let m = std::fs::metadata(path)?;
    Ok(Stamp {
        modified: m.modified().ok(),
        len: m.len(),
    })
}

#[derive(Debug)]
struct ListFile {
    path: PathBuf,
    /// The file name: the list's name in evidence and metrics.
    name: String,
    stamp: Option<Stamp>,
    table: Table,
    /// The last read failed and was warned about.
    failing: bool,
}

/// Every configured blacklist file.
#[derive(Debug, Default)]
pub struct Blacklists {
    files: Vec<ListFile>,
}

impl Blacklists {
    /// Loads every file; a file that cannot be read starts empty and is
    /// loaded when it appears. The report says what each file gave.
    pub fn load(paths: &[PathBuf]) -> (Self, LoadReport) {
        let mut lists = Self {
            files: paths
                .iter()
                .map(|p| ListFile {
                    name: p.file_name().map_or_else(
                        || p.display().to_string(),
                        |n| n.to_string_lossy().into_owned(),
                    ),
                    path: p.clone(),
                    stamp: None,
                    table: Table::default(),
                    failing: false,
                })
                .collect(),
        };
        let mut report = LoadReport::default();
        for file in &mut lists.files {
            if let Some(r) = file.reload(true) {
                report.files.push(r);
            }
        }
        (lists, report)
    }

    /// Reloads the files whose modification time or size changed; `None`
    /// when nothing changed. A file that disappeared or became unreadable
    /// keeps its last good list (reported and warned about once).
    pub fn reload_if_changed(&mut self) -> Option<LoadReport> {
        let mut report = LoadReport::default();
        for file in &mut self.files {
            if let Some(r) = file.reload(false) {
                report.files.push(r);
            }
        }
        (!report.files.is_empty()).then_some(report)
    }

    /// Entries over every list.
    pub fn len(&self) -> usize {
        self.files.iter().map(|f| f.table.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name of the first list that holds `ip`.
    pub fn ip(&self, ip: IpAddr) -> Option<&str> {
        self.files
            .iter()
            .find(|f| f.table.contains_ip(ip))
            .map(|f| f.name.as_str())
    }

    /// The first list holding `name` or one of its parent domains: `(list,
    /// entry)`.
    pub fn domain(&self, name: &str) -> Option<(&str, &str)> {
        let name = normalize_domain(name)?;
        self.files.iter().find_map(|f| {
            f.table
                .domain_entry(&name)
                .map(|entry| (f.name.as_str(), entry))
        })
    }
}

impl ListFile {
    /// Reads the file if it changed (or `force`); the report of what happened.
    fn reload(&mut self, force: bool) -> Option<FileReport> {
        let mut report = FileReport {
            path: self.path.clone(),
            ..FileReport::default()
        };
        let now = match stamp(&self.path) {
            Ok(s) if s.len > MAX_FILE_BYTES => Err(format!(
                "file of {} bytes is over the limit of {MAX_FILE_BYTES}",
                s.len
            )),
            Ok(s) => Ok(s),
            Err(e) => Err(e.to_string()),
        };
        let loaded = match now {
            Ok(s) if !force && self.stamp == Some(s) => return None,
            Ok(s) => std::fs::File::open(&self.path)
                .and_then(|f| parse(BufReader::new(f.take(MAX_FILE_BYTES)), &mut report))
                .map(|table| (s, table))
                .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        match loaded {
            Ok((s, table)) => {
                self.table = table;
                self.stamp = Some(s);
                self.failing = false;
                report.entries = self.table.len() as u64;
                self.publish(&report, "loaded");
                Some(report)
            }
            Err(error) => {
                if self.failing && !force {
                    return None;
                }
                self.failing = true;
                // Counts of a read that broke off mid-file mean nothing.
                report.invalid_lines = 0;
                report.invalid.clear();
                report.skipped = 0;
                // Read again when it comes back, even with the same stamp.
                self.stamp = None;
                report.entries = self.table.len() as u64;
                warn!(list = %self.path.display(), %error, entries = report.entries,
                    "Blacklist file unreadable; keeping its last good list.");
                report.error = Some(error);
                self.publish(&report, "failed");
                Some(report)
            }
        }
    }

    fn publish(&self, report: &FileReport, result: &'static str) {
        let list = self.name.clone();
        metrics::gauge!(names::PROBE_BLACKLIST_ENTRIES, "list" => list.clone())
            .set(report.entries as f64);
        metrics::counter!(names::PROBE_BLACKLIST_LOADS, "list" => list.clone(), "result" => result)
            .increment(1);
        if report.invalid_lines > 0 {
            metrics::counter!(names::PROBE_BLACKLIST_INVALID_LINES, "list" => list)
                .increment(report.invalid_lines);
            let lines: Vec<String> = report
                .invalid
                .iter()
                .map(|l| format!("{}:{}: \"{}\"", self.path.display(), l.line, l.text))
                .collect();
            warn!(list = %self.path.display(), invalid = report.invalid_lines,
                first = %lines.join("; "),
                "Blacklist lines that are not an address, CIDR or domain were skipped.");
        }
        if result == "loaded" {
            info!(list = %self.path.display(), entries = report.entries, "Blacklist loaded.");
        }
    }
}

#[cfg(test)]
mod tests;
