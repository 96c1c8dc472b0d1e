//! The collector's configuration file (`collector.toml`): the gRPC listener and
//! its certificates, the outputs (Elasticsearch, files), the spool.
//!
//! Parsing and the pure validation live here; the I/O checks (certificates,
//! secrets) are in [`check_io`]. Every key is documented in
//! docs/configuration.md, and `deploy/config/collector.example.toml` is parsed
//! by a test.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;
use sonde_common::config::{ByteSize, Duration, Problems, SecretSource, Validate, require_path};
use sonde_common::telemetry::{LogConfig, MetricsConfig};
use sonde_common::tls::{self, TlsFiles};

#[derive(Clone, Debug, Deserialize)]
pub struct CollectorConfig {
    pub server: ServerConfig,
    #[serde(default)]
    pub elasticsearch: Option<ElasticsearchConfig>,
    #[serde(default)]
    pub spool: SpoolConfig,
    /// NDJSON files: the output when neither Elasticsearch nor syslog is configured.
    #[serde(default)]
    pub file: FileOutputConfig,
    /// RFC 5424 syslog, one ECS document per message, instead of files.
    #[serde(default)]
    pub syslog: Option<SyslogOutputConfig>,
    /// GeoIP/ASN databases and local networks (`network.direction`).
    #[serde(default)]
    pub enrich: crate::enrich::EnrichConfig,
    /// Cross-probe deduplication of flows.
    #[serde(default)]
    pub dedupe: DedupeConfig,
    #[serde(default)]
    pub metrics: MetricsConfig,
    #[serde(default)]
    pub log: LogConfig,
}

/// `[server]`: where probes connect.
#[derive(Clone, Debug, Deserialize)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub tls: TlsFiles,
    /// Streams older than this are closed (the probe reconnects at once), so
    /// probes spread again over collector replicas after a scale-up.
    #[serde(default = "default_max_connection_age")]
    pub max_connection_age: Duration,
}

/// `[elasticsearch]`: absent means no Elasticsearch output.
#[derive(Clone, Debug, Deserialize)]
pub struct ElasticsearchConfig {
    /// One or more node URLs, `https://so-manager:9200`.
    pub urls: Vec<String>,
    /// CA that signed Elasticsearch's HTTP certificate (Security Onion's own CA).
    #[serde(default)]
    pub ca: Option<PathBuf>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<SecretSource>,
    #[serde(default)]
    pub api_key: Option<SecretSource>,
    /// Where flows go: a data stream name, or a daily index pattern with
    /// `%Y`, `%m`, `%d` (UTC, from the document's time), like the ntopng
    /// blog's `so-ntopng-%Y.%m.%d`.
    #[serde(default = "default_flow_target")]
    pub flow_target: String,
    /// Where alerts go (same forms as `flow_target`).
    #[serde(default = "default_alert_target")]
    pub alert_target: String,
    /// ILM policy the templates set (`index.lifecycle.name`), e.g. Security
    /// Onion's `so-logs-sonde`; none by default.
    #[serde(default)]
    pub ilm_policy: Option<String>,
    /// One bulk request holds at most this many documents...
    #[serde(default = "default_batch_documents")]
    pub batch_documents: usize,
    /// ...and this many bytes (uncompressed).
    #[serde(default = "default_batch_bytes")]
    pub batch_bytes: ByteSize,
    /// Documents from probes wait at most this long to fill a request.
    #[serde(default = "default_batch_delay")]
    pub batch_delay: Duration,
    /// Bulk requests sent at the same time.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
    /// A request that takes longer fails (and is retried).
    #[serde(default = "default_request_timeout")]
    pub request_timeout: Duration,
    /// gzip request bodies.
    #[serde(default = "default_true")]
    pub compress: bool,
}

fn default_flow_target() -> String {
    "logs-sonde.conn-so".into()
}
fn default_alert_target() -> String {
    "logs-sonde.alert-so".into()
}
fn default_batch_documents() -> usize {
    5000
}
fn default_batch_bytes() -> ByteSize {
    ByteSize::mib(8)
}
fn default_batch_delay() -> Duration {
    Duration::from_millis(500)
}
fn default_max_in_flight() -> usize {
    4
}
fn default_request_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_true() -> bool {
    true
}

/// `[spool]`: the on-disk store that holds batches while outputs are down.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct SpoolConfig {
    pub dir: PathBuf,
    pub max_size: ByteSize,
    /// When `max_size` is reached: `backpressure` (probes keep the data in
    /// their buffers) or `shed` (oldest flows deleted first, alerts last).
    pub full_policy: crate::spool::FullPolicy,
    /// A delivery to the output that takes longer than this is spooled
    /// instead, so a slow Elasticsearch does not slow the probes down.
    pub slow_output: Duration,
}

/// `[file]`: NDJSON output files, one directory, rotated by size and age.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct FileOutputConfig {
    pub dir: PathBuf,
    pub max_file_size: ByteSize,
    pub max_file_age: Duration,
    /// Rotated files kept per kind (flow, alert); older ones are deleted.
    pub max_files: usize,
    /// Keep written lines in the page cache instead of dropping them once
    /// they are on disk.
    pub keep_page_cache: bool,
}

impl Default for FileOutputConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("/var/lib/sonde-collector/ndjson"),
            max_file_size: ByteSize::mib(256),
            max_file_age: Duration::from_secs(3600),
            max_files: 48,
            keep_page_cache: false,
        }
    }
}

/// `[dedupe]`: when two probes' records of a flow are one document.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct DedupeConfig {
    /// Width of the time buckets of flow document ids; every collector
    /// replica must use the same value.
    pub window: Duration,
    /// How far apart two probes' first packet times of one flow may be.
    pub tolerance: Duration,
    /// Flows each collector process remembers (NDJSON and syslog outputs;
    /// a cache for Elasticsearch).
    pub memory_flows: usize,
}

impl Default for DedupeConfig {
    fn default() -> Self {
        let d = crate::dedupe::DedupeSettings::default();
        Self {
            window: Duration::from_secs(d.window.as_secs()),
            tolerance: Duration::from_secs(d.tolerance.as_secs()),
            memory_flows: d.memory_flows,
        }
    }
}

impl DedupeConfig {
    pub fn settings(&self) -> crate::dedupe::DedupeSettings {
        crate::dedupe::DedupeSettings {
            window: self.window.get(),
            tolerance: self.tolerance.get(),
            memory_flows: self.memory_flows,
        }
    }

    fn validate(&self, p: &mut Problems) {
        p.require(
            self.window >= Duration::from_secs(1),
            "dedupe.window",
            || format!("must be at least 1s (got \"{}\")", self.window),
        );
        p.require(
            self.tolerance.get() * 2 <= self.window.get(),
            "dedupe.tolerance",
            || {
                format!(
                    "must be at most half of dedupe.window (got \"{}\" with a window of \"{}\")",
                    self.tolerance, self.window
                )
            },
        );
        p.require(self.memory_flows >= 1, "dedupe.memory_flows", || {
            "must be at least 1".to_owned()
        });
    }
}

/// `[syslog]`: where to send documents as RFC 5424 messages.
#[derive(Clone, Debug, Deserialize)]
pub struct SyslogOutputConfig {
    /// `host:port` of the syslog server.
    pub address: String,
    #[serde(default)]
    pub transport: SyslogTransportName,
    /// Facility 0-23 (default 16, local0).
    #[serde(default = "default_facility")]
    pub facility: u8,
    /// HOSTNAME field; default: none (`-`).
    #[serde(default)]
    pub hostname: String,
    /// CA of the server's certificate (transport "tls").
    #[serde(default)]
    pub ca: Option<PathBuf>,
    #[serde(default)]
    pub server_name: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyslogTransportName {
    Udp,
    #[default]
    Tcp,
    Tls,
}

fn default_facility() -> u8 {
    16
}

fn default_max_connection_age() -> Duration {
    Duration::from_secs(3600)
}

impl Default for SpoolConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("/var/lib/sonde-collector/spool"),
            max_size: ByteSize(10 << 30),
            full_policy: crate::spool::FullPolicy::Backpressure,
            slow_output: Duration::from_secs(5),
        }
    }
}

impl Validate for CollectorConfig {
    fn validate(&self, p: &mut Problems) {
        self.server.tls.validate("server.tls", p);
        self.enrich.validate(p);
        self.dedupe.validate(p);
        p.require(
            self.server.max_connection_age >= Duration::from_secs(5),
            "server.max_connection_age",
            || {
                format!(
                    "must be at least 5s (got \"{}\")",
                    self.server.max_connection_age
                )
            },
        );
        if let Some(es) = &self.elasticsearch {
            es.validate(p);
        }
        if let Some(syslog) = &self.syslog {
            p.require(
                syslog
                    .address
                    .rsplit_once(':')
                    .is_some_and(|(h, port)| !h.is_empty() && port.parse::<u16>().is_ok()),
                "syslog.address",
                || format!("must be host:port (got \"{}\")", syslog.address),
            );
            p.require(syslog.facility <= 23, "syslog.facility", || {
                format!("must be 0-23 (got {})", syslog.facility)
            });
            p.require(
                syslog.transport != SyslogTransportName::Tls || syslog.ca.is_some(),
                "syslog.ca",
                || "transport \"tls\" needs the server's CA file".to_owned(),
            );
            p.require(self.elasticsearch.is_none(), "syslog", || {
                "choose one output: [elasticsearch] or [syslog]".to_owned()
            });
        }
        require_path(p, "spool.dir", &self.spool.dir);
        require_path(p, "file.dir", &self.file.dir);
        p.require(
            self.file.max_file_size >= ByteSize::mib(1),
            "file.max_file_size",
            || format!("must be at least 1MiB (got {})", self.file.max_file_size),
        );
        p.require(self.file.max_files >= 1, "file.max_files", || {
            "must be at least 1".to_owned()
        });
        p.require(
            self.spool.max_size >= ByteSize::mib(64),
            "spool.max_size",
            || format!("must be at least 64MiB (got {})", self.spool.max_size),
        );
        self.log.validate(p);
    }
}

impl ElasticsearchConfig {
    fn validate(&self, p: &mut Problems) {
        p.require(!self.urls.is_empty(), "elasticsearch.urls", || {
            "must list at least one URL".into()
        });
        for (i, url) in self.urls.iter().enumerate() {
            let ok = ["http://", "https://"].iter().any(|scheme| {
                url.strip_prefix(scheme)
                    .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'))
            });
            p.require(ok, &format!("elasticsearch.urls[{i}]"), || {
                format!("must be an http:// or https:// URL (got \"{url}\")")
            });
        }
        match (&self.username, &self.password, &self.api_key) {
            (Some(_), Some(_), Some(_)) => p.push(
                "elasticsearch.api_key",
                "set either username/password or api_key, not both",
            ),
            (Some(_), None, _) => p.push(
                "elasticsearch.password",
                "username is set but password is not",
            ),
            (None, Some(_), _) => p.push(
                "elasticsearch.username",
                "password is set but username is not",
            ),
            _ => {}
        }
        if let Some(pw) = &self.password {
            pw.validate("elasticsearch.password", p);
        }
        if let Some(key) = &self.api_key {
            key.validate("elasticsearch.api_key", p);
        }
        if let Some(ca) = &self.ca {
            require_path(p, "elasticsearch.ca", ca);
        }
        p.require(
            self.ca.is_some() || !self.urls.iter().any(|u| u.starts_with("https://")),
            "elasticsearch.ca",
            || {
                "https:// URLs need the CA of Elasticsearch's certificate (sonde trusts no other)"
                    .into()
            },
        );
        for (key, target) in [
            ("elasticsearch.flow_target", &self.flow_target),
            ("elasticsearch.alert_target", &self.alert_target),
        ] {
            if let Err(e) = crate::sink::elasticsearch::Target::parse(target) {
                p.push(key, e);
            }
        }
        p.require(
            self.flow_target != self.alert_target,
            "elasticsearch.alert_target",
            || "must differ from flow_target: flows and alerts have different mappings".into(),
        );
        p.require(
            (1..=100_000).contains(&self.batch_documents),
            "elasticsearch.batch_documents",
            || format!("must be 1-100000 (got {})", self.batch_documents),
        );
        p.require(
            self.batch_bytes >= ByteSize(64 << 10) && self.batch_bytes <= ByteSize::mib(100),
            "elasticsearch.batch_bytes",
            || format!("must be 64KiB-100MiB (got {})", self.batch_bytes),
        );
        p.require(
            (1..=64).contains(&self.max_in_flight),
            "elasticsearch.max_in_flight",
            || format!("must be 1-64 (got {})", self.max_in_flight),
        );
        p.require(
            self.request_timeout >= Duration::from_secs(1),
            "elasticsearch.request_timeout",
            || format!("must be at least 1s (got \"{}\")", self.request_timeout),
        );
    }
}

/// The I/O half of `--check-config`: certificates load and match, secrets can
/// be read. It does not contact Elasticsearch (`sonde-collector check` does).
pub fn check_io(config: &CollectorConfig, p: &mut Problems) {
    match config.server.tls.load() {
        Ok(loaded) => {
            if let Err(e) = loaded.server_config() {
                p.push("server.tls", e.to_string());
            }
        }
        Err(e) => p.push("server.tls", e.to_string()),
    }
    if let Err(e) = crate::enrich::Enricher::open(&config.enrich) {
        p.push("enrich", e.to_string());
    }
    if let Some(es) = &config.elasticsearch {
        for (key, secret) in [
            ("elasticsearch.password", &es.password),
            ("elasticsearch.api_key", &es.api_key),
        ] {
            if let Some(Err(e)) = secret.as_ref().map(SecretSource::read) {
                p.push(key, e.to_string());
            }
        }
        if let Some(Err(e)) = es.ca.as_deref().map(tls::load_roots) {
            p.push("elasticsearch.ca", e.to_string());
        }
    }
}
