//! Logging set-up shared by both binaries: `tracing` to stderr, as text for a
//! terminal or JSON for a log shipper, filtered by a level or an `EnvFilter`
//! directive (`RUST_LOG` wins when set).

use serde::Deserialize;
use tracing_subscriber::EnvFilter;

use crate::config::Problems;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// The `[log]` section of both configs.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A level (`info`) or an `EnvFilter` directive (`info,sonde_probe=debug`).
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".to_owned(),
        }
    }
}

impl LogConfig {
    pub fn validate(&self, problems: &mut Problems) {
        if let Err(e) = EnvFilter::try_new(&self.level) {
            problems.push(
                "log.level",
                format!("invalid level or filter \"{}\": {e}", self.level),
            );
        }
    }
}

/// The `[metrics]` section: where the Prometheus exporter and the health
/// endpoint listen. Off when `listen` is absent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct MetricsConfig {
    pub listen: Option<std::net::SocketAddr>,
}

/// Every metric sonde exports, in one place. Names follow
/// `sonde_<binary>_<thing>_<unit>[_total]`; labels are bounded (interface
/// names from the config, fixed reason sets), never addresses or host names.
pub mod names {
    /// Packets libpcap delivered (label `interface`).
    pub const PROBE_CAPTURE_RECEIVED: &str = "sonde_probe_capture_received_packets_total";
    /// Packets the kernel dropped: the probe did not keep up (label `interface`).
    pub const PROBE_CAPTURE_KERNEL_DROPPED: &str =
        "sonde_probe_capture_kernel_dropped_packets_total";
    /// Packets the interface or driver dropped (label `interface`).
    pub const PROBE_CAPTURE_INTERFACE_DROPPED: &str =
        "sonde_probe_capture_interface_dropped_packets_total";
    /// Packets the probe processed (label `interface`).
    pub const PROBE_PACKETS: &str = "sonde_probe_packets_total";
    /// Bytes on the wire of those packets (label `interface`).
    pub const PROBE_BYTES: &str = "sonde_probe_bytes_total";
    /// Packets not decoded, by `reason` (label `interface`).
    pub const PROBE_DECODE_SKIPPED: &str = "sonde_probe_decode_skipped_packets_total";
    /// Later IP fragments whose first fragment was never seen.
    pub const PROBE_FRAGMENTS_UNATTRIBUTED: &str = "sonde_probe_fragments_unattributed_total";
    /// Flows in the table now (gauge, label `interface`).
    pub const PROBE_FLOWS_ACTIVE: &str = "sonde_probe_flows_active";
    /// Flows created (label `interface`).
    pub const PROBE_FLOWS_CREATED: &str = "sonde_probe_flows_created_total";
    /// Flows ended by their idle timeout.
    pub const PROBE_FLOWS_EXPIRED: &str = "sonde_probe_flows_expired_total";
    /// Flows evicted because the table was full.
    pub const PROBE_FLOWS_EVICTED: &str = "sonde_probe_flows_evicted_total";
    /// Flow records produced (final and interim).
    pub const PROBE_FLOW_RECORDS: &str = "sonde_probe_flow_records_total";
}

/// Starts the Prometheus exporter on `listen` (`GET /metrics`) and installs
/// it as the global `metrics` recorder. Runs on its own thread.
pub fn install_prometheus(listen: std::net::SocketAddr) -> Result<(), String> {
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .with_http_listener(listen)
        .install()
        .map_err(|e| format!("cannot start the metrics endpoint on {listen}: {e}"))
}

/// Installs the global subscriber; call once, from `main`.
pub fn init_logging(config: &LogConfig) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second init (tests) is harmless: keep the first subscriber.
    let _ = match config.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
