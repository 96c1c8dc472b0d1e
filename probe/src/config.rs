//! The probe's configuration file (`probe.toml`): what to capture, how flows
//! expire, where the collector is and with which certificate.
//!
//! Parsing and the pure validation live here; the I/O checks (certificates
//! readable and matching) are in [`check_io`]. Every key is documented in
//! docs/configuration.md, and `deploy/config/probe.example.toml` is parsed by a
//! test.

use serde::Deserialize;
use sonde_common::community_id::Encoding;
use sonde_common::config::{ByteSize, Duration, Problems, Validate};
use sonde_common::telemetry::{LogConfig, MetricsConfig};
use sonde_common::tls::{self, TlsFiles};

use crate::classify::DpiSettings;
use crate::classify::apps::{Applications, AppsError};

#[derive(Clone, Debug, Deserialize)]
pub struct ProbeConfig {
    pub collector: CollectorLink,
    #[serde(default)]
    pub capture: Vec<CaptureConfig>,
    #[serde(default)]
    pub flow: FlowConfig,
    #[serde(default)]
    pub dpi: DpiConfig,
    #[serde(default)]
    pub community_id: CommunityIdConfig,
    #[serde(default)]
    pub buffer: BufferConfig,
    #[serde(default)]
    pub alert: crate::alert::config::AlertConfig,
    #[serde(default)]
    pub suricata: crate::alert::config::SuricataConfig,
    #[serde(default)]
    pub routing: crate::alert::config::RoutingConfig,
    #[serde(default)]
    pub metrics: MetricsConfig,
    #[serde(default)]
    pub log: LogConfig,
}

/// `[collector]`: the gRPC endpoint and this probe's certificate.
#[derive(Clone, Debug, Deserialize)]
pub struct CollectorLink {
    /// `host:port` of the collector.
    pub endpoint: String,
    /// Name expected in the collector's certificate; default: the endpoint's host.
    #[serde(default)]
    pub server_name: Option<String>,
    pub tls: TlsFiles,
    /// A batch is sent once it holds this much (encoded, before compression)...
    #[serde(default = "default_batch_bytes")]
    pub batch_bytes: ByteSize,
    /// ...or once its oldest record waited this long.
    #[serde(default = "default_batch_delay")]
    pub batch_delay: Duration,
    /// On shutdown, how long to wait for the last acknowledgements.
    #[serde(default = "default_shutdown_deadline")]
    pub shutdown_deadline: Duration,
}

fn default_batch_bytes() -> ByteSize {
    ByteSize::mib(1)
}

fn default_batch_delay() -> Duration {
    Duration::from_secs(1)
}

fn default_shutdown_deadline() -> Duration {
    Duration::from_secs(10)
}

/// One `[[capture]]` table per interface.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct CaptureConfig {
    pub interface: String,
    /// A BPF filter expression (tcpdump syntax); empty captures everything.
    pub bpf_filter: String,
    pub snaplen: u32,
    pub promiscuous: bool,
    /// Kernel capture buffer.
    pub buffer_size: ByteSize,
    /// Deliver packets as they arrive instead of in buffered blocks.
    pub immediate_mode: bool,
}

/// `[flow]`: flow table limits and expiry.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct FlowConfig {
    pub idle_timeout: Duration,
    /// Idle timeout once a TCP flow saw FIN or RST.
    pub closed_timeout: Duration,
    /// Interim records for flows that last longer than this.
    pub active_timeout: Duration,
    /// Flows held at once; the longest-idle flow is evicted beyond it.
    pub max_flows: u32,
    /// Idle timeouts per IP protocol, by name (`tcp`, `udp`, `icmp`, `icmpv6`,
    /// `sctp`) or number (`"47"`), overriding `idle_timeout`.
    pub protocol_idle_timeouts: std::collections::BTreeMap<String, Duration>,
}

/// `[dpi]`: deep packet inspection.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct DpiConfig {
    pub enabled: bool,
    /// Packets per flow (both directions) that DPI looks at.
    pub max_packets: u32,
    /// A file of the user's applications (host names, address ranges), added
    /// to the built-in list (format: probe/data/applications.toml).
    pub applications: Option<std::path::PathBuf>,
    /// Certificates expiring within this long raise "TLS Cert About To Expire".
    pub cert_expiry_warning: Duration,
}

impl Default for DpiConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_packets: crate::classify::DEFAULT_MAX_PACKETS,
            applications: None,
            cert_expiry_warning: Duration::from_secs(30 * 86_400),
        }
    }
}

/// `[community_id]`: must match Suricata's and Zeek's settings to correlate.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(default)]
pub struct CommunityIdConfig {
    pub seed: u16,
    pub encoding: CommunityIdEncoding,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CommunityIdEncoding {
    #[default]
    Base64,
    Hex,
}

/// `[buffer]`: records waiting for the collector's acknowledgement.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct BufferConfig {
    pub max_records: u32,
    pub max_bytes: ByteSize,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        Self {
            interface: String::new(),
            bpf_filter: String::new(),
            snaplen: 65_535,
            promiscuous: true,
            buffer_size: ByteSize::mib(16),
            immediate_mode: false,
        }
    }
}

impl Default for FlowConfig {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(60),
            closed_timeout: Duration::from_secs(15),
            active_timeout: Duration::from_secs(300),
            max_flows: 131_072,
            protocol_idle_timeouts: std::collections::BTreeMap::new(),
        }
    }
}

impl Default for BufferConfig {
    fn default() -> Self {
        Self {
            max_records: 200_000,
            max_bytes: ByteSize::mib(64),
        }
    }
}

impl From<CommunityIdEncoding> for Encoding {
    fn from(e: CommunityIdEncoding) -> Self {
        match e {
            CommunityIdEncoding::Base64 => Encoding::Base64,
            CommunityIdEncoding::Hex => Encoding::Hex,
        }
    }
}

impl CollectorLink {
    /// The name the collector's certificate must carry.
    pub fn server_name(&self) -> &str {
        match &self.server_name {
            Some(name) => name,
            None => endpoint_host(&self.endpoint),
        }
    }
}

/// The host part of `host:port` or `[v6]:port`.
fn endpoint_host(endpoint: &str) -> &str {
    let host = endpoint.rsplit_once(':').map_or(endpoint, |(host, _)| host);
    host.trim_start_matches('[').trim_end_matches(']')
}

impl Validate for ProbeConfig {
    fn validate(&self, p: &mut Problems) {
        let link = &self.collector;
        match link.endpoint.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|n| n > 0) => {}
            _ => p.push(
                "collector.endpoint",
                format!(
                    "must be host:port, e.g. \"collector.example.net:7443\" (got \"{}\")",
                    link.endpoint
                ),
            ),
        }
        if let Err(e) = tls::server_name(link.server_name()) {
            p.push("collector.server_name", e.to_string());
        }
        link.tls.validate("collector.tls", p);
        p.require(
            link.batch_bytes >= ByteSize::kib(16) && link.batch_bytes <= ByteSize::mib(4),
            "collector.batch_bytes",
            || format!("must be between 16KiB and 4MiB (got {})", link.batch_bytes),
        );
        p.require(!link.batch_delay.is_zero(), "collector.batch_delay", || {
            format!("must be > 0 (got \"{}\")", link.batch_delay)
        });

        let mut seen = std::collections::HashSet::new();
        for (i, c) in self.capture.iter().enumerate() {
            let key = |k: &str| format!("capture[{i}].{k}");
            p.require(!c.interface.is_empty(), &key("interface"), || {
                "must not be empty".into()
            });
            p.require(
                seen.insert(&c.interface) || c.interface.is_empty(),
                &key("interface"),
                || format!("\"{}\" is listed twice", c.interface),
            );
            p.require((64..=262_144).contains(&c.snaplen), &key("snaplen"), || {
                format!("must be between 64 and 262144 (got {})", c.snaplen)
            });
            p.require(
                c.buffer_size >= ByteSize::mib(1),
                &key("buffer_size"),
                || format!("must be at least 1MiB (got {})", c.buffer_size),
            );
        }

        let f = &self.flow;
        for (name, value) in [
            ("flow.idle_timeout", f.idle_timeout),
            ("flow.closed_timeout", f.closed_timeout),
            ("flow.active_timeout", f.active_timeout),
        ] {
            p.require(!value.is_zero(), name, || {
                format!("must be > 0 (got \"{value}\")")
            });
        }
        p.require(
            f.active_timeout >= f.idle_timeout,
            "flow.active_timeout",
            || {
                format!(
                    "must not be shorter than flow.idle_timeout ({} < {})",
                    f.active_timeout, f.idle_timeout
                )
            },
        );
        for (name, timeout) in &f.protocol_idle_timeouts {
            let key = format!("flow.protocol_idle_timeouts.{name}");
            p.require(protocol_number(name).is_some(), &key, || {
                "unknown protocol: use tcp, udp, icmp, icmpv6, sctp or a number 0-255".to_owned()
            });
            p.require(!timeout.is_zero(), &key, || {
                format!("must be > 0 (got \"{timeout}\")")
            });
        }
        p.require(f.max_flows >= 1024, "flow.max_flows", || {
            format!("must be at least 1024 (got {})", f.max_flows)
        });

        p.require(
            (1..=1024).contains(&self.dpi.max_packets),
            "dpi.max_packets",
            || format!("must be between 1 and 1024 (got {})", self.dpi.max_packets),
        );

        let b = &self.buffer;
        p.require(b.max_records >= 1000, "buffer.max_records", || {
            format!("must be at least 1000 (got {})", b.max_records)
        });
        p.require(b.max_bytes >= ByteSize::mib(2), "buffer.max_bytes", || {
            format!("must be at least 2MiB, twice a batch (got {})", b.max_bytes)
        });
        self.alert.validate(p);
        self.suricata.validate(p);
        self.routing.validate(p);
        self.log.validate(p);
    }
}

/// An IP protocol number from its name or decimal number.
pub fn protocol_number(name: &str) -> Option<u8> {
    match name.to_ascii_lowercase().as_str() {
        "tcp" => Some(6),
        "udp" => Some(17),
        "icmp" => Some(1),
        "icmpv6" | "ipv6-icmp" => Some(58),
        "sctp" => Some(132),
        other => other.parse().ok(),
    }
}

impl ProbeConfig {
    /// The flow table settings this config asks for; reads the user's
    /// applications file.
    pub fn flow_settings(&self) -> Result<crate::flow::FlowSettings, AppsError> {
        let us = |d: Duration| u64::try_from(d.get().as_micros()).unwrap_or(u64::MAX);
        let f = &self.flow;
        Ok(crate::flow::FlowSettings {
            idle_timeout_us: us(f.idle_timeout),
            closed_timeout_us: us(f.closed_timeout),
            active_timeout_us: us(f.active_timeout),
            idle_by_protocol: f
                .protocol_idle_timeouts
                .iter()
                .filter_map(|(name, d)| Some((protocol_number(name)?, us(*d))))
                .collect(),
            max_flows: f.max_flows as usize,
            community_id: sonde_common::community_id::CommunityId::new(
                self.community_id.seed,
                self.community_id.encoding.into(),
            ),
            dpi: self.dpi_settings()?,
        })
    }

    /// The alert engine's settings.
    pub fn alert_settings(&self) -> crate::alert::AlertSettings {
        crate::alert::AlertSettings {
            alert: self.alert.clone(),
            suricata: self.suricata.clone(),
            routing: self.routing.clone(),
            community_id: sonde_common::community_id::CommunityId::new(
                self.community_id.seed,
                self.community_id.encoding.into(),
            ),
        }
    }

    fn dpi_settings(&self) -> Result<DpiSettings, AppsError> {
        let d = &self.dpi;
        let apps = match &d.applications {
            Some(path) => Applications::with_file(path)?,
            None => Applications::builtin(),
        };
        Ok(DpiSettings {
            enabled: d.enabled,
            max_packets: d.max_packets,
            apps: std::sync::Arc::new(apps),
            cert_expiry_warning_us: u64::try_from(d.cert_expiry_warning.get().as_micros())
                .unwrap_or(u64::MAX),
        })
    }
}

/// The I/O half of `--check-config`: the certificate files load, the key
/// matches, and the certificate yields an identity.
pub fn check_io(config: &ProbeConfig, p: &mut Problems) {
    match config.collector.tls.load() {
        Ok(loaded) => {
            if let Err(e) = loaded.client_config() {
                p.push("collector.tls", e.to_string());
            }
            if let Err(e) = loaded.identity() {
                p.push("collector.tls.cert", e.to_string());
            }
        }
        Err(e) => p.push("collector.tls", e.to_string()),
    }
    if let Some(path) = &config.dpi.applications
        && let Err(e) = Applications::with_file(path)
    {
        p.push("dpi.applications", e.to_string());
    }
    // An unreadable list is a mistake in the config; invalid lines are not
    // (feeds have them): the probe logs them with their line numbers.
    let (_, report) = crate::alert::lists::Blacklists::load(&config.alert.blacklists);
    for file in report.files.iter().filter(|f| f.error.is_some()) {
        p.push(
            "alert.blacklists",
            format!(
                "{}: {}",
                file.path.display(),
                file.error.as_deref().unwrap_or_default()
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_name_defaults_to_the_endpoint_host() {
        let link = |endpoint: &str| CollectorLink {
            endpoint: endpoint.into(),
            server_name: None,
            tls: TlsFiles {
                ca: "a".into(),
                cert: "b".into(),
                key: "c".into(),
            },
            batch_bytes: default_batch_bytes(),
            batch_delay: default_batch_delay(),
            shutdown_deadline: default_shutdown_deadline(),
        };
        assert_eq!(
            link("collector.example.net:7443").server_name(),
            "collector.example.net"
        );
        assert_eq!(link("[2001:db8::1]:7443").server_name(), "2001:db8::1");
        assert_eq!(link("10.0.0.1:7443").server_name(), "10.0.0.1");
    }
}
