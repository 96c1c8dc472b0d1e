//! The syslog sink: one ECS document per RFC 5424 message, over UDP, TCP or
//! TLS, for a SIEM or a relay that takes syslog JSON.
//!
//! Message (RFC 5424 §6):
//! `<PRI>1 TIMESTAMP HOSTNAME sonde PROCID MSGID - MSG`
//! - PRI = facility × 8 + severity. Flows are 6 (informational); alerts take
//!   their severity from the document's `event.severity` (SO's scale): 1 low →
//!   5 notice, 2 medium → 4 warning, 3 high → 3 error, 4 critical → 2 critical;
//!   an alert without a valid `event.severity` is 4 (warning).
//! - TIMESTAMP is the document's event time, RFC 3339 UTC with microseconds
//!   (`2024-05-01T12:00:00.123456Z`); HOSTNAME is the configured name or `-`;
//!   PROCID is the collector's process id; MSGID is `flow` or `alert`; no
//!   STRUCTURED-DATA.
//! - MSG is the compact ECS JSON with the document id as `event.id` (as the
//!   NDJSON sink writes it). It is sent without the UTF-8 BOM of §6.4: JSON is
//!   UTF-8 by definition (RFC 8259 §8.1) and JSON readers behind syslog
//!   receivers fail on a leading BOM.
//!
//! Transports: UDP sends one datagram per message (RFC 5426). TCP and TLS
//! (RFC 5425) frame each message by octet counting, `LEN SP MSG` (RFC 6587
//! §3.4.1). TLS verifies the server's certificate against the configured CA and
//! server name (default: the host of `address`); TLS 1.2 and 1.3.
//!
//! Delivery: a message longer than `max_message_bytes` is Rejected with its
//! size, never truncated. Connections open lazily and are reopened after any
//! error or when the server has closed them; a failed send is a `SinkError`,
//! and the caller resends the whole batch, so a receiver may see a message
//! twice. Syslog has no acknowledgement: Accepted means the batch was flushed
//! to the socket (for UDP, handed to the kernel).

mod transport;

use std::path::PathBuf;
use std::time::Duration;

use tracing::info;

use self::transport::{Connection, Connector};
use super::{DocKind, Document, Outcome, Sink, SinkError, ecs_json, utc_fields};

/// The largest UDP payload over IPv4.
const MAX_UDP_PAYLOAD: usize = 65_507;

/// How messages reach the syslog server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyslogTransport {
    Udp,
    Tcp,
    Tls,
}

/// Where and how the syslog sink sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyslogConfig {
    /// The server, `host:port` (`[v6]:port` for an IPv6 address).
    pub address: String,
    pub transport: SyslogTransport,
    /// Syslog facility 0-23; default 16 (local0).
    pub facility: u8,
    /// HOSTNAME of every message; empty means the NILVALUE `-`.
    pub hostname: String,
    /// CA certificate(s), PEM, the server's certificate must chain to (TLS only).
    pub tls_ca: Option<PathBuf>,
    /// Name the server's certificate must hold; default: the host of `address`.
    pub tls_server_name: Option<String>,
    /// Longest message, header included; longer documents are Rejected.
    pub max_message_bytes: usize,
    /// Limit for connecting and for sending one batch; past it the batch fails.
    pub timeout: Duration,
}

impl SyslogConfig {
    pub const DEFAULT_FACILITY: u8 = 16;
    pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 8192;
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

    /// A configuration with the defaults: local0, no hostname, 8192 bytes, 10 s.
    pub fn new(address: impl Into<String>, transport: SyslogTransport) -> Self {
        Self {
            address: address.into(),
            transport,
            facility: Self::DEFAULT_FACILITY,
            hostname: String::new(),
            tls_ca: None,
            tls_server_name: None,
            max_message_bytes: Self::DEFAULT_MAX_MESSAGE_BYTES,
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }

    /// Every problem of the configuration (empty when it can work).
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if transport::split_host_port(&self.address).is_none() {
            problems.push(format!(
                "address: expected host:port (got \"{}\")",
                self.address
            ));
        }
        if self.facility > 23 {
            problems.push(format!("facility: must be 0-23 (got {})", self.facility));
        }
        let printable = self.hostname.bytes().all(|b| (33..=126).contains(&b));
        if !printable || self.hostname.len() > 255 {
            problems.push(format!(
                "hostname: must be at most 255 printable ASCII characters without spaces (got \"{}\")",
                self.hostname.escape_debug()
            ));
        }
        let limit = match self.transport {
            SyslogTransport::Udp => MAX_UDP_PAYLOAD,
            SyslogTransport::Tcp | SyslogTransport::Tls => usize::MAX,
        };
        if self.max_message_bytes == 0 || self.max_message_bytes > limit {
            problems.push(format!(
                "max_message_bytes: must be 1-{limit} (got {})",
                self.max_message_bytes
            ));
        }
        if self.timeout.is_zero() {
            problems.push("timeout: must be > 0 (got 0s)".to_owned());
        }
        if self.transport == SyslogTransport::Tls && self.tls_ca.is_none() {
            problems.push("tls_ca: required with the TLS transport".to_owned());
        }
        problems
    }
}

/// Sends documents to a syslog server; see the module documentation.
pub struct SyslogSink {
    header: Header,
    max_message_bytes: usize,
    connector: Connector,
    /// Open connection; taken out while a batch is being sent, so that a
    /// cancelled send (a half-written frame) never leaves it for the next batch.
    connection: Option<Connection>,
}

impl std::fmt::Debug for SyslogSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyslogSink")
            .field("connector", &self.connector)
            .field("connected", &self.connection.is_some())
            .finish_non_exhaustive()
    }
}

impl SyslogSink {
    /// Checks the configuration and loads the TLS CA; connects on the first batch.
    pub fn new(config: SyslogConfig) -> Result<Self, SinkError> {
        let problems = config.problems();
        if !problems.is_empty() {
            return Err(SinkError::Config(format!(
                "syslog: {}",
                problems.join("; ")
            )));
        }
        let hostname = if config.hostname.is_empty() {
            "-".to_owned()
        } else {
            config.hostname.clone()
        };
        Ok(Self {
            header: Header {
                facility: config.facility,
                hostname,
                procid: std::process::id(),
            },
            max_message_bytes: config.max_message_bytes,
            connector: Connector::new(&config)?,
            connection: None,
        })
    }

    /// The message for `doc`, or the reason it cannot be sent.
    fn message(&self, doc: &Document) -> Result<Vec<u8>, String> {
        let message = self.header.format(doc)?;
        if message.len() > self.max_message_bytes {
            return Err(format!(
                "syslog message of {} bytes exceeds max_message_bytes {}",
                message.len(),
                self.max_message_bytes
            ));
        }
        Ok(message)
    }
}

impl Sink for SyslogSink {
    fn name(&self) -> &str {
        "syslog"
    }

    async fn deliver(&mut self, docs: &[Document]) -> Result<Vec<Outcome>, SinkError> {
        let mut outcomes = Vec::with_capacity(docs.len());
        let mut messages = Vec::with_capacity(docs.len());
        for doc in docs {
            match self.message(doc) {
                Ok(message) => {
                    messages.push(message);
                    outcomes.push(Outcome::Accepted);
                }
                Err(reason) => outcomes.push(Outcome::Rejected { reason }),
            }
        }
        if messages.is_empty() {
            return Ok(outcomes);
        }
        let mut open = self.connection.take();
        if let Some(connection) = &mut open
            && connection.is_closed().await
        {
            info!(peer = %self.connector.address(), "Syslog server closed the connection; reconnecting.");
            open = None;
        }
        let mut connection = match open {
            Some(connection) => connection,
            None => self.connector.connect().await?,
        };
        self.connector.send(&mut connection, &messages).await?;
        self.connection = Some(connection);
        Ok(outcomes)
    }
}

/// The parts of the RFC 5424 header that do not change per message.
#[derive(Debug)]
struct Header {
    facility: u8,
    hostname: String,
    procid: u32,
}

impl Header {
    /// `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - MSG` (RFC 5424 §6).
    fn format(&self, doc: &Document) -> Result<Vec<u8>, String> {
        let time = utc_fields(doc.timestamp_us).ok_or_else(|| {
            format!(
                "document {}: timestamp {} µs is beyond year 9999",
                doc.id, doc.timestamp_us
            )
        })?;
        let json = ecs_json(doc)?;
        let pri = u16::from(self.facility) * 8 + u16::from(severity(doc));
        let head = format!(
            "<{pri}>1 {:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z {} sonde {} {} - ",
            time.year(),
            u8::from(time.month()),
            time.day(),
            time.hour(),
            time.minute(),
            time.second(),
            time.microsecond(),
            self.hostname,
            self.procid,
            doc.kind.as_str(),
        );
        let mut message = head.into_bytes();
        message.extend_from_slice(json);
        Ok(message)
    }
}

/// Syslog severity (RFC 5424 §6.2.1) of a document.
fn severity(doc: &Document) -> u8 {
    match doc.kind {
        DocKind::Flow => 6,
        DocKind::Alert => match doc.severity {
            Some(1) => 5,
            Some(2) => 4,
            Some(3) => 3,
            Some(4) => 2,
            _ => 4,
        },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn header() -> Header {
        Header {
            facility: 16,
            hostname: "so-manager".into(),
            procid: 42,
        }
    }

    fn alert(severity: Value) -> Document {
        Document::from_value(
            "a1".into(),
            DocKind::Alert,
            1_714_564_800_000_001,
            json!({"event": {"severity": severity}}),
        )
    }

    #[test]
    fn alert_severities_follow_security_onions_scale() {
        let pri = |s: Value| severity(&alert(s));
        assert_eq!(pri(json!(1)), 5);
        assert_eq!(pri(json!(2)), 4);
        assert_eq!(pri(json!(3)), 3);
        assert_eq!(pri(json!(4)), 2);
        assert_eq!(pri(json!(9)), 4);
        assert_eq!(pri(json!("high")), 4);
    }

    #[test]
    fn header_has_every_rfc5424_field_in_order() {
        let message = header().format(&alert(json!(4))).unwrap();
        let text = String::from_utf8(message).unwrap();
        let (head, msg) = text.split_at(text.find('{').unwrap());
        assert_eq!(
            head,
            "<130>1 2024-05-01T12:00:00.000001Z so-manager sonde 42 alert - "
        );
        let msg: Value = serde_json::from_str(msg).unwrap();
        assert_eq!(msg, json!({"event": {"id": "a1", "severity": 4}}));
    }

    #[test]
    fn config_problems_are_all_reported_at_once() {
        let mut config = SyslogConfig::new("no-port", SyslogTransport::Tls);
        config.facility = 24;
        config.hostname = "two words".into();
        config.max_message_bytes = 0;
        let problems = config.problems();
        assert_eq!(problems.len(), 5, "{problems:?}");
        let udp = SyslogConfig {
            max_message_bytes: 70_000,
            ..SyslogConfig::new("127.0.0.1:514", SyslogTransport::Udp)
        };
        assert_eq!(
            udp.problems(),
            ["max_message_bytes: must be 1-65507 (got 70000)"]
        );
    }
}
