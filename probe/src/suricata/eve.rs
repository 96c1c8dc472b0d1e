//! One line of Suricata's eve.json -> a typed [`EveEvent`].
//!
//! How: serde_json into private "wire" structs that name only the fields the
//! probe uses (everything else, payloads and packets included, is skipped
//! without being kept), then checks and conversions: the timestamp
//! (`2018-07-05T15:07:20.910626-0400`) to Unix microseconds, addresses to
//! `IpAddr`, the protocol (a name such as `TCP` or a number) to its IANA number.
//! Bounds: a line longer than the caller's limit is refused before parsing;
//! serde_json's recursion limit (128) bounds nesting. Never panics: every
//! problem is an [`EveError`] with a stable `reason()` for counters.

use std::collections::BTreeMap;
use std::net::IpAddr;

use sonde_common::community_id::{CommunityId, FlowTuple};
use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

const ICMP: u8 = 1;
const ICMPV6: u8 = 58;

/// Longest string of the input quoted back in an error message.
const QUOTE_MAX: usize = 64;

/// Why a line is not an event. `reason()` names each kind for counters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EveError {
    #[error("eve line of {len} bytes is longer than the limit of {limit} bytes")]
    TooLong { len: usize, limit: usize },
    #[error("eve line is empty")]
    Empty,
    #[error("eve line is not UTF-8 (invalid byte at offset {offset})")]
    NotUtf8 { offset: usize },
    #[error("eve line is not JSON (column {column}: {detail})")]
    NotJson { column: usize, detail: String },
    #[error("eve line ends early, at column {column} (truncated)")]
    Truncated { column: usize },
    #[error("eve line has a field of the wrong type at column {column}: {detail}")]
    WrongType { column: usize, detail: String },
    #[error("eve line has no \"{0}\"")]
    MissingField(&'static str),
    #[error("eve timestamp {0:?} is not of the form 2018-07-05T15:07:20.910626-0400")]
    BadTimestamp(String),
    #[error("eve {field} {value:?} is not an IP address")]
    BadAddress { field: &'static str, value: String },
    #[error("eve proto {0:?} is neither a protocol name nor a number from 0 to 255")]
    BadProto(String),
}

impl EveError {
    /// A short, fixed name for the `reason` label of the malformed counter.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::TooLong { .. } => "too_long",
            Self::Empty => "empty",
            Self::NotUtf8 { .. } => "not_utf8",
            Self::NotJson { .. } => "not_json",
            Self::Truncated { .. } => "truncated",
            Self::WrongType { .. } => "wrong_type",
            Self::MissingField(_) => "missing_field",
            Self::BadTimestamp(_) => "bad_timestamp",
            Self::BadAddress { .. } => "bad_address",
            Self::BadProto(_) => "bad_proto",
        }
    }
}

/// One eve record. Fields Suricata may omit are `Option`s; per-type objects
/// are present when the line has them (alert lines often carry `flow`,
/// `http` or `tls` too).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EveEvent {
    /// Unix microseconds (UTC).
    pub timestamp_us: u64,
    /// `alert`, `flow`, `dns`, `tls`, `http`, `stats`, ...
    pub event_type: String,
    pub src_ip: Option<IpAddr>,
    pub src_port: Option<u16>,
    pub dest_ip: Option<IpAddr>,
    pub dest_port: Option<u16>,
    /// IANA protocol number.
    pub proto: Option<u8>,
    /// ICMP and ICMPv6 type and code (Suricata writes no ports for them).
    pub icmp_type: Option<u8>,
    pub icmp_code: Option<u8>,
    pub community_id: Option<String>,
    /// Suricata's flow id: the same for every event of one flow.
    pub flow_id: Option<u64>,
    pub in_iface: Option<String>,
    pub app_proto: Option<String>,
    /// The sensor name (`host` in eve.json).
    pub host: Option<String>,
    pub alert: Option<EveAlert>,
    pub flow: Option<EveFlow>,
    pub dns: Option<EveDns>,
    pub tls: Option<EveTls>,
    pub http: Option<EveHttp>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EveAlert {
    /// `allowed` or `blocked`.
    pub action: Option<String>,
    pub gid: Option<u64>,
    pub signature_id: u64,
    pub rev: Option<u64>,
    pub signature: String,
    pub category: Option<String>,
    /// Suricata's severity: 1 is the highest.
    pub severity: Option<u32>,
    /// `alert.metadata`: string values only (Suricata writes lists of strings).
    pub metadata: BTreeMap<String, Vec<String>>,
    /// `alert.source` / `alert.target` (rules with a `target` keyword).
    pub source: Option<(IpAddr, Option<u16>)>,
    pub target: Option<(IpAddr, Option<u16>)>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EveFlow {
    pub pkts_toserver: u64,
    pub pkts_toclient: u64,
    pub bytes_toserver: u64,
    pub bytes_toclient: u64,
    /// Unix microseconds.
    pub start_us: Option<u64>,
    pub end_us: Option<u64>,
    pub state: Option<String>,
    pub reason: Option<String>,
    pub alerted: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EveDns {
    /// `query` or `answer` (absent in Suricata 8's combined records).
    pub kind: Option<String>,
    /// The queried name: `rrname`, or the first of `queries` (Suricata 8)
    /// or `query` (alert records).
    pub rrname: Option<String>,
    pub rrtype: Option<String>,
    pub rcode: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EveTls {
    pub sni: Option<String>,
    pub version: Option<String>,
    pub subject: Option<String>,
    pub issuerdn: Option<String>,
    pub fingerprint: Option<String>,
    pub ja3: Option<String>,
    pub ja3s: Option<String>,
    pub ja4: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EveHttp {
    pub hostname: Option<String>,
    pub url: Option<String>,
    pub method: Option<String>,
    pub status: Option<u16>,
    pub user_agent: Option<String>,
    pub protocol: Option<String>,
}

impl EveEvent {
    /// The flow's endpoints as Community ID hashes them, when the line has them.
    pub fn tuple(&self) -> Option<FlowTuple> {
        let (src, dst, proto) = (self.src_ip?, self.dest_ip?, self.proto?);
        match proto {
            ICMP | ICMPV6 => Some(FlowTuple::icmp(
                src,
                dst,
                self.icmp_type.unwrap_or(0),
                self.icmp_code.unwrap_or(0),
            )),
            _ => Some(FlowTuple::new(
                src,
                dst,
                proto,
                self.src_port.unwrap_or(0),
                self.dest_port.unwrap_or(0),
            )),
        }
    }

    /// The Community ID of the line's 5-tuple with `hasher`'s seed (which may
    /// differ from the `community_id` Suricata wrote with its own seed).
    pub fn community_id_with(&self, hasher: &CommunityId) -> Option<String> {
        hasher.compute(&self.tuple()?).ok()
    }
}

/// Parses one line (without or with its trailing newline). Lines longer than
/// `limit` bytes are refused unread.
pub fn parse_line(line: &[u8], limit: usize) -> Result<EveEvent, EveError> {
    if line.len() > limit {
        return Err(EveError::TooLong {
            len: line.len(),
            limit,
        });
    }
    let text = std::str::from_utf8(line).map_err(|e| EveError::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    let text = text.trim();
    if text.is_empty() {
        return Err(EveError::Empty);
    }
    let wire: wire::Event = serde_json::from_str(text).map_err(json_error)?;
    convert(wire)
}

fn json_error(e: serde_json::Error) -> EveError {
    use serde_json::error::Category;
    let column = e.column();
    match e.classify() {
        Category::Eof => EveError::Truncated { column },
        Category::Data => EveError::WrongType {
            column,
            detail: quote(&e.to_string()),
        },
        Category::Syntax | Category::Io => EveError::NotJson {
            column,
            detail: quote(&e.to_string()),
        },
    }
}

/// At most [`QUOTE_MAX`] characters of untrusted text for a message.
fn quote(s: &str) -> String {
    s.chars().take(QUOTE_MAX).collect()
}

fn convert(w: wire::Event) -> Result<EveEvent, EveError> {
    let timestamp = w.timestamp.ok_or(EveError::MissingField("timestamp"))?;
    let timestamp_us = parse_time(&timestamp)?;
    let event_type = w.event_type.ok_or(EveError::MissingField("event_type"))?;
    let alert = match w.alert {
        Some(a) => Some(convert_alert(a)?),
        None => None,
    };
    let flow = match w.flow {
        Some(f) => Some(EveFlow {
            pkts_toserver: f.pkts_toserver.unwrap_or(0),
            pkts_toclient: f.pkts_toclient.unwrap_or(0),
            bytes_toserver: f.bytes_toserver.unwrap_or(0),
            bytes_toclient: f.bytes_toclient.unwrap_or(0),
            start_us: f.start.as_deref().map(parse_time).transpose()?,
            end_us: f.end.as_deref().map(parse_time).transpose()?,
            state: f.state,
            reason: f.reason,
            alerted: f.alerted,
        }),
        None => None,
    };
    let dns = w.dns.map(|d| {
        let first = d.queries.into_iter().chain(d.query).next();
        EveDns {
            kind: d.kind,
            rrname: d
                .rrname
                .or_else(|| first.as_ref().and_then(|q| q.rrname.clone())),
            rrtype: d.rrtype.or_else(|| first.and_then(|q| q.rrtype)),
            rcode: d.rcode,
        }
    });
    let tls = w.tls.map(|t| EveTls {
        sni: t.sni,
        version: t.version,
        subject: t.subject,
        issuerdn: t.issuerdn,
        fingerprint: t.fingerprint,
        ja3: t.ja3.and_then(|j| j.hash),
        ja3s: t.ja3s.and_then(|j| j.hash),
        ja4: t.ja4,
    });
    let http = w.http.map(|h| EveHttp {
        hostname: h.hostname,
        url: h.url,
        method: h.http_method,
        status: h.status,
        user_agent: h.http_user_agent,
        protocol: h.protocol,
    });
    Ok(EveEvent {
        timestamp_us,
        event_type,
        src_ip: address("src_ip", w.src_ip.as_deref())?,
        src_port: w.src_port,
        dest_ip: address("dest_ip", w.dest_ip.as_deref())?,
        dest_port: w.dest_port,
        proto: w.proto.map(proto_number).transpose()?,
        icmp_type: w.icmp_type,
        icmp_code: w.icmp_code,
        community_id: w.community_id,
        flow_id: w.flow_id,
        in_iface: w.in_iface,
        app_proto: w.app_proto,
        host: w.host,
        alert,
        flow,
        dns,
        tls,
        http,
    })
}

fn convert_alert(a: wire::Alert) -> Result<EveAlert, EveError> {
    let signature_id = a
        .signature_id
        .ok_or(EveError::MissingField("alert.signature_id"))?;
    let endpoint = |field: &'static str, e: Option<wire::AlertEndpoint>| match e {
        Some(e) => Ok(address(field, e.ip.as_deref())?.map(|ip| (ip, e.port))),
        None => Ok(None),
    };
    let metadata = a
        .metadata
        .into_iter()
        .map(|(k, v)| {
            let values = match v {
                serde_json::Value::Array(items) => items
                    .into_iter()
                    .filter_map(|i| match i {
                        serde_json::Value::String(s) => Some(s),
                        _ => None,
                    })
                    .collect(),
                serde_json::Value::String(s) => vec![s],
                _ => Vec::new(),
            };
            (k, values)
        })
        .collect();
    Ok(EveAlert {
        action: a.action,
        gid: a.gid,
        signature_id,
        rev: a.rev,
        signature: a.signature.unwrap_or_default(),
        category: a.category,
        severity: a.severity,
        metadata,
        source: endpoint("alert.source.ip", a.source)?,
        target: endpoint("alert.target.ip", a.target)?,
    })
}

fn address(field: &'static str, value: Option<&str>) -> Result<Option<IpAddr>, EveError> {
    match value {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| EveError::BadAddress {
            field,
            value: quote(v),
        }),
    }
}

/// `TCP`, `UDP`, `ICMP`, `IPv6-ICMP`, `SCTP`, or a number (Suricata writes
/// other protocols by number, as a string or an integer).
fn proto_number(p: wire::Proto) -> Result<u8, EveError> {
    match p {
        wire::Proto::Number(n) => u8::try_from(n).map_err(|_| EveError::BadProto(n.to_string())),
        wire::Proto::Name(name) => {
            let known = match name.to_ascii_uppercase().as_str() {
                "TCP" => Some(6),
                "UDP" => Some(17),
                "ICMP" => Some(1),
                "IPV6-ICMP" | "ICMPV6" => Some(58),
                "SCTP" => Some(132),
                "GRE" => Some(47),
                "ESP" => Some(50),
                "AH" => Some(51),
                _ => None,
            };
            known
                .or_else(|| name.parse::<u8>().ok())
                .ok_or_else(|| EveError::BadProto(quote(&name)))
        }
    }
}

/// Suricata's `2018-07-05T15:07:20.910626-0400` (or with `+04:00`) to Unix µs.
pub fn parse_time(text: &str) -> Result<u64, EveError> {
    const SURICATA: &[BorrowedFormatItem<'static>] = format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond][offset_hour sign:mandatory][offset_minute]"
    );
    const COLON: &[BorrowedFormatItem<'static>] = format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond][offset_hour sign:mandatory]:[offset_minute]"
    );
    let bad = || EveError::BadTimestamp(quote(text));
    let parsed = OffsetDateTime::parse(text, SURICATA)
        .or_else(|_| OffsetDateTime::parse(text, COLON))
        .map_err(|_| bad())?;
    let us = parsed.unix_timestamp_nanos() / 1000;
    u64::try_from(us).map_err(|_| bad())
}

#[path = "eve_wire.rs"]
mod wire;

#[cfg(test)]
#[path = "eve_tests.rs"]
pub(super) mod tests;
