//! The DNS message format (RFC 1035 §4.1), read-only and bounds-checked: the
//! header, domain names with compression pointers, questions and resource
//! records, and the names of types and response codes.
//!
//! Names are decoded loop-safe: a compression pointer must point strictly
//! before the label that holds it (RFC 1035 §4.1.4 "a prior occurrence"), so
//! every jump goes backwards and decoding ends; the number of jumps and the
//! decoded length (255 octets, RFC 1035 §2.3.4) are bounded too.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::classify::cursor::{Cursor, Error, Result};

/// Header size (RFC 1035 §4.1.1).
pub(super) const HEADER_LEN: usize = 12;
/// Longest name in its wire form (RFC 1035 §2.3.4).
const MAX_NAME: usize = 255;
/// Compression pointers followed per name at most.
const MAX_JUMPS: usize = 32;

/// The fixed header (RFC 1035 §4.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Header {
    pub(super) id: u16,
    pub(super) response: bool,
    pub(super) opcode: u8,
    pub(super) rcode: u8,
    pub(super) qdcount: u16,
    pub(super) ancount: u16,
    pub(super) nscount: u16,
    pub(super) arcount: u16,
}

impl Header {
    pub(super) fn read(c: &mut Cursor<'_>) -> Result<Header> {
        let id = c.u16()?;
        let flags = c.u16()?;
        Ok(Header {
            id,
            response: flags & 0x8000 != 0,
            opcode: ((flags >> 11) & 0x0f) as u8,
            rcode: (flags & 0x0f) as u8,
            qdcount: c.u16()?,
            ancount: c.u16()?,
            nscount: c.u16()?,
            arcount: c.u16()?,
        })
    }

    /// Whether the header can be a DNS message's: a known opcode and
    /// counts that fit a datagram. Every question takes at least 5 bytes and
    /// every record 11, so absurd counts give a non-DNS payload away.
    pub(super) fn plausible(&self) -> bool {
        // RFC 1035 §4.1.1 (QUERY, IQUERY, STATUS), RFC 1996 (NOTIFY), RFC 2136 (UPDATE).
        let opcode = matches!(self.opcode, 0 | 1 | 2 | 4 | 5);
        let records = u32::from(self.ancount) + u32::from(self.nscount) + u32::from(self.arcount);
        let counts = self.qdcount <= 16 && records <= 512;
        // A query asks something; a response without a question must
        // carry records (mDNS announcements, RFC 6762 §8.3).
        let asks = if self.response {
            self.qdcount > 0 || records > 0
        } else {
            self.qdcount > 0 && (self.opcode == 5 || self.ancount <= 32 && self.nscount <= 32)
        };
        opcode && counts && asks && (self.response || self.rcode == 0)
    }
}

/// A decoded domain name and where its wire form ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Name {
    /// Labels joined by dots, raw bytes (may be anything but `.` separators).
    pub(super) bytes: Vec<u8>,
    /// Length of the first label (nDPI's long-label check).
    pub(super) first_label: usize,
}

/// Reads the name at `at` in `msg`; returns it and the offset just past its
/// wire form (past the first pointer, if any).
pub(super) fn read_name(msg: &[u8], at: usize) -> Result<(Name, usize)> {
    let mut name = Name {
        // Most names fit: one allocation instead of three or four growths.
        bytes: Vec::with_capacity(64),
        first_label: 0,
    };
    let end = walk_name(msg, at, |label| {
        if name.bytes.is_empty() && name.first_label == 0 {
            name.first_label = label.len();
        } else {
            name.bytes.push(b'.');
        }
        name.bytes.extend_from_slice(label);
    })?;
    Ok((name, end))
}

/// Checks the name at `at` as [`read_name`] does, without building it;
/// returns the offset just past its wire form.
fn skip_name(msg: &[u8], at: usize) -> Result<usize> {
    walk_name(msg, at, |_| {})
}

/// Walks the name at `at`, handing each label to `label` in order; returns
/// the offset just past its wire form (past the first pointer, if any).
fn walk_name(msg: &[u8], at: usize, mut label: impl FnMut(&[u8])) -> Result<usize> {
    let mut pos = at;
    let mut end = None;
    let mut jumps = 0;
    let mut wire_len = 1; // the root label
    loop {
        let len = *msg.get(pos).ok_or(Error::Truncated)?;
        match len & 0xc0 {
            0x00 if len == 0 => {
                return Ok(end.unwrap_or(pos + 1));
            }
            0x00 => {
                let len = usize::from(len);
                let bytes = msg.get(pos + 1..pos + 1 + len).ok_or(Error::Truncated)?;
                wire_len += len + 1;
                if wire_len > MAX_NAME {
                    return Err(Error::Malformed);
                }
                label(bytes);
                pos += 1 + len;
            }
            // RFC 1035 §4.1.4: a pointer to a prior occurrence.
            0xc0 => {
                let low = *msg.get(pos + 1).ok_or(Error::Truncated)?;
                let target = usize::from(u16::from_be_bytes([len & 0x3f, low]));
                if target >= pos || jumps == MAX_JUMPS {
                    return Err(Error::Malformed);
                }
                jumps += 1;
                end.get_or_insert(pos + 2);
                pos = target;
            }
            // 0x40 and 0x80: extended and reserved label types (RFC 6891 §5).
            _ => return Err(Error::Malformed),
        }
    }
}

/// One question (RFC 1035 §4.1.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Question {
    pub(super) name: Name,
    pub(super) qtype: u16,
}

pub(super) fn read_question(msg: &[u8], at: usize) -> Result<(Question, usize)> {
    let (name, end) = read_name(msg, at)?;
    let mut c = Cursor::new(msg.get(end..).ok_or(Error::Truncated)?);
    let qtype = c.u16()?;
    let _class = c.u16()?;
    // RFC 1035 §3.2.2: type 0 is reserved.
    if qtype == 0 {
        return Err(Error::Malformed);
    }
    Ok((Question { name, qtype }, end + 4))
}

/// One resource record (RFC 1035 §4.1.3), its data still raw.
#[derive(Clone, Debug)]
pub(super) struct Record<'a> {
    pub(super) name: Name,
    pub(super) rtype: u16,
    pub(super) ttl: u32,
    /// Offset of the data in the message (names in it may point back).
    pub(super) data_at: usize,
    pub(super) data: &'a [u8],
}

pub(super) fn read_record(msg: &[u8], at: usize) -> Result<(Record<'_>, usize)> {
    let (name, end) = read_name(msg, at)?;
    let (rtype, ttl, data_at, data) = record_fields(msg, end)?;
    Ok((
        Record {
            name,
            rtype,
            ttl,
            data_at,
            data,
        },
        data_at + data.len(),
    ))
}

/// Checks the record at `at` as [`read_record`] does (the same errors)
/// without building its name: for the sections nothing is kept from.
/// Returns the offset just past it.
pub(super) fn skip_record(msg: &[u8], at: usize) -> Result<usize> {
    let end = skip_name(msg, at)?;
    let (_, _, data_at, data) = record_fields(msg, end)?;
    Ok(data_at + data.len())
}

/// Type, TTL, data offset and data of the record whose name ends at `end`.
fn record_fields(msg: &[u8], end: usize) -> Result<(u16, u32, usize, &[u8])> {
    let mut c = Cursor::new(msg.get(end..).ok_or(Error::Truncated)?);
    let rtype = c.u16()?;
    let _class = c.u16()?;
    let ttl = c.u32()?;
    let data = c.vec_u16()?.rest();
    Ok((rtype, ttl, end + 10, data))
}

/// The record's data in presentation form, for the types analysts read
/// (RFC 1035 §3.3, RFC 3596); empty for the others.
pub(super) fn data_text(msg: &[u8], r: &Record<'_>) -> String {
    let name_at = |off: usize| {
        read_name(msg, r.data_at + off)
            .map(|(n, _)| String::from_utf8_lossy(&n.bytes).into_owned())
            .unwrap_or_default()
    };
    match (r.rtype, r.data.len()) {
        (1, 4) => <[u8; 4]>::try_from(r.data)
            .map(|a| {
                // Sized once: `to_string` grew the string twice per address.
                let mut s = String::with_capacity(15);
                let _ = write!(s, "{}", Ipv4Addr::from(a));
                s
            })
            .unwrap_or_default(),
        (28, 16) => <[u8; 16]>::try_from(r.data)
            .map(|a| Ipv6Addr::from(a).to_string())
            .unwrap_or_default(),
        // NS, CNAME, PTR: a name.
        (2 | 5 | 12, _) => name_at(0),
        // MX: preference, exchange.
        (15, 3..) => {
            let pref = Cursor::new(r.data).u16().unwrap_or_default();
            format!("{pref} {}", name_at(2))
        }
        // TXT: character-strings, the first 128 bytes' worth.
        (16, _) => {
            let mut c = Cursor::new(r.data);
            let mut out = String::new();
            while let Ok(mut s) = c.vec_u8() {
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(&String::from_utf8_lossy(s.rest()));
                if out.len() >= 128 {
                    break;
                }
            }
            out
        }
        // SRV (RFC 2782): priority weight port target.
        (33, 7..) => {
            let mut c = Cursor::new(r.data);
            let mut out = String::new();
            if let (Ok(p), Ok(w), Ok(port)) = (c.u16(), c.u16(), c.u16()) {
                let _ = write!(out, "{p} {w} {port} {}", name_at(6));
            }
            out
        }
        _ => String::new(),
    }
}

/// The name of a record type (IANA "Resource Record (RR) TYPEs"), or
/// `TYPE123` (RFC 3597 §5).
pub(super) fn type_name(t: u16) -> String {
    let name = match t {
        1 => "A",
        2 => "NS",
        5 => "CNAME",
        6 => "SOA",
        12 => "PTR",
        13 => "HINFO",
        15 => "MX",
        16 => "TXT",
        17 => "RP",
        18 => "AFSDB",
        24 => "SIG",
        25 => "KEY",
        28 => "AAAA",
        29 => "LOC",
        33 => "SRV",
        35 => "NAPTR",
        36 => "KX",
        37 => "CERT",
        39 => "DNAME",
        41 => "OPT",
        42 => "APL",
        43 => "DS",
        44 => "SSHFP",
        45 => "IPSECKEY",
        46 => "RRSIG",
        47 => "NSEC",
        48 => "DNSKEY",
        49 => "DHCID",
        50 => "NSEC3",
        51 => "NSEC3PARAM",
        52 => "TLSA",
        53 => "SMIMEA",
        55 => "HIP",
        59 => "CDS",
        60 => "CDNSKEY",
        61 => "OPENPGPKEY",
        62 => "CSYNC",
        63 => "ZONEMD",
        64 => "SVCB",
        65 => "HTTPS",
        99 => "SPF",
        108 => "EUI48",
        109 => "EUI64",
        249 => "TKEY",
        250 => "TSIG",
        251 => "IXFR",
        252 => "AXFR",
        255 => "ANY",
        256 => "URI",
        257 => "CAA",
        _ => return format!("TYPE{t}"),
    };
    name.to_owned()
}

/// The name of a response code (RFC 1035 §4.1.1, RFC 2136 §2.2).
pub(super) fn rcode_name(rcode: u8) -> String {
    let name = match rcode {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        _ => return format!("RCODE{rcode}"),
    };
    name.to_owned()
}

/// Record types nDPI calls obsolete or experimental ("Susp DNS Traffic"):
/// MD, MF, MB, MG, MR, NULL, WKS, MINFO, HINFO... (RFC 1035 §3.3, RFC 6895
/// and later deprecations), and the meta-queries MAILA/MAILB.
pub(super) fn obsolete_type(t: u16) -> bool {
    matches!(
        t,
        3 | 4
            | 7..=11
            | 13
            | 14
            | 17
            | 19..=27
            | 30..=32
            | 34
            | 38
            | 40
            | 42
            | 56..=58
            | 99..=107
            | 253
            | 254
            | 259
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn name(msg: &[u8], at: usize) -> Result<String> {
        read_name(msg, at).map(|(n, _)| String::from_utf8_lossy(&n.bytes).into_owned())
    }

    #[test]
    fn names_follow_compression_pointers_backwards() {
        // "a.example" at 0, then "www" + pointer to 0 at 11.
        let msg = b"\x01a\x07example\x00\x03www\xc0\x00";
        assert_eq!(name(msg, 0).unwrap(), "a.example");
        let (n, end) = read_name(msg, 11).unwrap();
        assert_eq!(n.bytes, b"www.a.example");
        assert_eq!(n.first_label, 3);
        assert_eq!(end, msg.len());
    }

    #[test]
    fn pointer_loops_and_forward_pointers_are_malformed() {
        // A pointer to itself, and two pointers pointing at each other.
        assert_eq!(name(b"\xc0\x00", 0), Err(Error::Malformed));
        assert_eq!(name(b"\x01a\xc0\x04\xc0\x02", 0), Err(Error::Malformed));
        assert_eq!(name(b"\x01a\xc0\x00", 0), Err(Error::Malformed));
    }

    #[test]
    fn names_longer_than_255_octets_are_malformed() {
        let mut msg = Vec::new();
        for _ in 0..5 {
            msg.push(63);
            msg.extend_from_slice(&[b'x'; 63]);
        }
        msg.push(0);
        assert_eq!(name(&msg, 0), Err(Error::Malformed));
        // A chain of pointers that adds up past the limit.
        let mut msg = vec![63];
        msg.extend_from_slice(&[b'x'; 63]);
        msg.push(0);
        for i in 0..8u16 {
            let prev = if i == 0 { 0 } else { 65 + (i - 1) * 66 };
            msg.push(63);
            msg.extend_from_slice(&[b'y'; 63]);
            msg.extend_from_slice(&(0xc000 | prev).to_be_bytes());
        }
        assert_eq!(name(&msg, msg.len() - 66), Err(Error::Malformed));
    }

    #[test]
    fn cut_names_are_truncated_and_reserved_label_types_malformed() {
        assert_eq!(name(b"\x03ww", 0), Err(Error::Truncated));
        assert_eq!(name(b"\x03www", 0), Err(Error::Truncated));
        assert_eq!(name(b"\xc0", 0), Err(Error::Truncated));
        assert_eq!(name(b"\x41a\x00", 0), Err(Error::Malformed));
    }

    #[test]
    fn skipping_a_record_ends_and_fails_where_reading_it_does() {
        // "a.example" A 1.2.3.4, then "www" + pointer, TXT "hi".
        let mut msg =
            b"\x01a\x07example\x00\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x01\x02\x03\x04"
                .to_vec();
        let second = msg.len();
        msg.extend_from_slice(b"\x03www\xc0\x00\x00\x10\x00\x01\x00\x00\x00\x3c\x00\x03\x02hi");
        for at in [0, second] {
            for cut in at..=msg.len() {
                let msg = &msg[..cut];
                assert_eq!(
                    skip_record(msg, at),
                    read_record(msg, at).map(|(_, end)| end),
                    "record at {at}, message cut at {cut}"
                );
            }
        }
        assert_eq!(skip_record(b"\xc0\x00", 0), Err(Error::Malformed));
        assert_eq!(skip_record(b"\x41a\x00", 0), Err(Error::Malformed));
    }

    #[test]
    fn types_and_codes_have_their_names() {
        assert_eq!(type_name(1), "A");
        assert_eq!(type_name(65), "HTTPS");
        assert_eq!(type_name(123), "TYPE123");
        assert_eq!(rcode_name(3), "NXDOMAIN");
        assert_eq!(rcode_name(2), "SERVFAIL");
        assert!(obsolete_type(10) && !obsolete_type(1) && !obsolete_type(33));
    }
}
