//! The spool's value format, versioned by its first byte. Values come back
//! from disk, so decoding is checked: a short or garbled value is a
//! [`DecodeError`], never a panic.
//!
//! ```text
//! batch:  [1] [enqueued_ms u64] [count u32] count × document
//! dead:   [1] [time_ms u64] [reason: u32 len + UTF-8] document
//! document: [kind u8: 0 flow, 1 alert] [timestamp_us u64]
//!           [id: u32 len + UTF-8] [body: u32 len + JSON]
//! ```
//! Integers are big-endian.

use crate::sink::{DocKind, Document};

const VERSION: u8 = 1;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("unknown format version {0}")]
    Version(u8),
    #[error("value ends early")]
    Short,
    #[error("unknown document kind {0}")]
    Kind(u8),
    #[error("invalid UTF-8 in {0}")]
    Utf8(&'static str),
    #[error("document body is not JSON: {0}")]
    Json(String),
    #[error("{0} bytes left over")]
    Trailing(usize),
}

pub(super) fn encode_batch(enqueued_ms: u64, docs: &[Document]) -> Vec<u8> {
    let size: usize = docs.iter().map(|d| 32 + d.id.len()).sum::<usize>() + 13;
    let mut out = Vec::with_capacity(size);
    out.push(VERSION);
    out.extend_from_slice(&enqueued_ms.to_be_bytes());
    out.extend_from_slice(&(docs.len() as u32).to_be_bytes());
    for doc in docs {
        encode_doc(&mut out, doc);
    }
    out
}

pub(super) fn encode_dead(time_ms: u64, reason: &str, doc: &Document) -> Vec<u8> {
    let mut out = vec![VERSION];
    out.extend_from_slice(&time_ms.to_be_bytes());
    put_bytes(&mut out, reason.as_bytes());
    encode_doc(&mut out, doc);
    out
}

fn encode_doc(out: &mut Vec<u8>, doc: &Document) {
    out.push(match doc.kind {
        DocKind::Flow => 0,
        DocKind::Alert => 1,
    });
    out.extend_from_slice(&doc.timestamp_us.to_be_bytes());
    put_bytes(out, doc.id.as_bytes());
    put_bytes(out, &doc.json);
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Enqueue time and document count, without decoding the documents.
pub(super) fn batch_header(value: &[u8]) -> Result<(u64, u32), DecodeError> {
    let mut r = Reader(value);
    r.version()?;
    Ok((r.u64()?, r.u32()?))
}

pub(super) fn decode_batch(value: &[u8]) -> Result<(u64, Vec<Document>), DecodeError> {
    let mut r = Reader(value);
    r.version()?;
    let enqueued = r.u64()?;
    let count = r.u32()? as usize;
    // Each document takes at least 17 bytes: never trust the count for allocation.
    let mut docs = Vec::with_capacity(count.min(r.0.len() / 17));
    for _ in 0..count {
        docs.push(r.doc()?);
    }
    r.end()?;
    Ok((enqueued, docs))
}

pub(super) fn decode_dead(value: &[u8]) -> Result<(u64, String, Document), DecodeError> {
    let mut r = Reader(value);
    r.version()?;
    let time = r.u64()?;
    let reason = r.string("reason")?;
    let doc = r.doc()?;
    r.end()?;
    Ok((time, reason, doc))
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError::Short);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        self.take(N)?.try_into().map_err(|_| DecodeError::Short)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn version(&mut self) -> Result<(), DecodeError> {
        match self.u8()? {
            VERSION => Ok(()),
            v => Err(DecodeError::Version(v)),
        }
    }

    fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    fn string(&mut self, what: &'static str) -> Result<String, DecodeError> {
        std::str::from_utf8(self.bytes()?)
            .map(str::to_owned)
            .map_err(|_| DecodeError::Utf8(what))
    }

    fn doc(&mut self) -> Result<Document, DecodeError> {
        let kind = match self.u8()? {
            0 => DocKind::Flow,
            1 => DocKind::Alert,
            k => return Err(DecodeError::Kind(k)),
        };
        let timestamp_us = self.u64()?;
        let id = self.string("id")?;
        let json = self.bytes()?.to_vec();
        Document::from_json(id, kind, timestamp_us, json)
            .map_err(|e| DecodeError::Json(e.to_string()))
    }

    fn end(&self) -> Result<(), DecodeError> {
        match self.0.len() {
            0 => Ok(()),
            n => Err(DecodeError::Trailing(n)),
        }
    }
}
