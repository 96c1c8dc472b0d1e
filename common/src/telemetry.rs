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
