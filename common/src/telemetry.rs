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
    /// Records waiting for the collector's acknowledgement (gauge).
    /// Alerts raised, by rule key and severity (before the export policy).
    pub const PROBE_ALERTS: &str = "sonde_probe_alerts_total";
    /// Flow alerts folded into the host incident of their attacker (refused
    /// connections of a scan).
    pub const PROBE_ALERTS_ABSORBED: &str = "sonde_probe_alerts_absorbed_total";
    /// Alerts the export policy kept on the probe.
    pub const PROBE_ALERTS_SUPPRESSED: &str = "sonde_probe_alerts_suppressed_total";
    /// Flow records the export policy kept on the probe.
    pub const PROBE_FLOWS_SUPPRESSED: &str = "sonde_probe_flows_suppressed_total";
    pub const PROBE_EXPORT_BUFFER_RECORDS: &str = "sonde_probe_export_buffer_records";
    /// Encoded bytes of those records (gauge).
    pub const PROBE_EXPORT_BUFFER_BYTES: &str = "sonde_probe_export_buffer_bytes";
    /// Records shed because the export buffer was full, by `kind` (flow, alert).
    pub const PROBE_EXPORT_SHED: &str = "sonde_probe_export_shed_records_total";
    /// Records the collector acknowledged.
    pub const PROBE_EXPORT_ACKED: &str = "sonde_probe_export_acknowledged_records_total";
    /// Connections opened to the collector.
    pub const PROBE_EXPORT_CONNECTIONS: &str = "sonde_probe_export_connections_total";
    /// Entries (addresses, networks, domains) of a blacklist file now
    /// (gauge, label `list`: the file name).
    pub const PROBE_BLACKLIST_ENTRIES: &str = "sonde_probe_blacklist_entries";
    /// Lines of blacklist files that were not an address, CIDR or domain
    /// (label `list`), counted at every load.
    pub const PROBE_BLACKLIST_INVALID_LINES: &str = "sonde_probe_blacklist_invalid_lines_total";
    /// Blacklist file loads by `result` (loaded, failed) (label `list`).
    pub const PROBE_BLACKLIST_LOADS: &str = "sonde_probe_blacklist_loads_total";
    /// eve.json lines read from Suricata (file or socket), oversize ones included.
    pub const PROBE_EVE_LINES: &str = "sonde_probe_eve_lines_total";
    /// eve.json lines parsed into events.
    pub const PROBE_EVE_EVENTS: &str = "sonde_probe_eve_events_total";
    /// eve.json lines skipped as malformed, by `reason` (not_json, truncated, ...).
    pub const PROBE_EVE_MALFORMED: &str = "sonde_probe_eve_malformed_total";
    /// eve.json lines longer than `suricata.max_line`, skipped unread.
    pub const PROBE_EVE_OVERSIZE: &str = "sonde_probe_eve_oversize_lines_total";
    /// The eve file reopened, by `reason` (rotated, truncated).
    pub const PROBE_EVE_REOPENED: &str = "sonde_probe_eve_reopened_total";
    /// Suricata alerts emitted after correlation and consolidation, by
    /// `context` (flow: matched a probe flow; none: timed out without one).
    pub const PROBE_SURICATA_ALERTS: &str = "sonde_probe_suricata_alerts_total";
    /// Entries dropped from the correlator's bounded tables, by `table`.
    pub const PROBE_SURICATA_EVICTED: &str = "sonde_probe_suricata_evicted_total";

    /// Probe streams accepted.
    pub const COLLECTOR_STREAMS: &str = "sonde_collector_streams_total";
    /// TLS handshakes refused (unknown CA, no or expired certificate...).
    pub const COLLECTOR_HANDSHAKES_FAILED: &str = "sonde_collector_handshakes_failed_total";
    pub const COLLECTOR_BATCHES: &str = "sonde_collector_batches_total";
    /// Records handed to the output.
    pub const COLLECTOR_RECORDS: &str = "sonde_collector_records_total";
    /// Records dropped as replays (at or below a probe's high-water mark).
    pub const COLLECTOR_REPLAYED: &str = "sonde_collector_replayed_records_total";
    /// Sequence numbers probes skipped because their buffer was full.
    pub const COLLECTOR_PROBE_SHED: &str = "sonde_collector_probe_shed_records_total";
    /// Records refused (invalid batches) or rejected by the output.
    pub const COLLECTOR_REJECTED: &str = "sonde_collector_rejected_records_total";
    /// Batches whose records claimed another observer.
    pub const COLLECTOR_PERMISSION_DENIED: &str = "sonde_collector_permission_denied_total";
    pub const COLLECTOR_NACKS: &str = "sonde_collector_nacks_total";
    /// Seconds per Elasticsearch `_bulk` request (histogram).
    pub const COLLECTOR_ES_BULK_SECONDS: &str = "sonde_collector_elasticsearch_bulk_seconds";
    /// Bulk items by `outcome`: created, duplicate, retry, rejected.
    pub const COLLECTOR_ES_ITEMS: &str = "sonde_collector_elasticsearch_items_total";
    /// Documents delivered by the output (directly or from the spool).
    pub const COLLECTOR_DELIVERED: &str = "sonde_collector_delivered_documents_total";
    /// Spool: encoded bytes, documents, batches, age of the oldest batch.
    pub const COLLECTOR_SPOOL_BYTES: &str = "sonde_collector_spool_bytes";
    pub const COLLECTOR_SPOOL_RECORDS: &str = "sonde_collector_spool_records";
    pub const COLLECTOR_SPOOL_BATCHES: &str = "sonde_collector_spool_batches";
    pub const COLLECTOR_SPOOL_OLDEST_AGE: &str = "sonde_collector_spool_oldest_age_seconds";
    /// Records deleted by `spool.full_policy = "shed"`, by `kind`.
    pub const COLLECTOR_SPOOL_SHED: &str = "sonde_collector_spool_shed_records_total";
    /// Spooled values that could not be decoded (kept aside).
    pub const COLLECTOR_SPOOL_DAMAGED: &str = "sonde_collector_spool_damaged_entries";
    /// Damaged spool stores moved aside at start.
    pub const COLLECTOR_SPOOL_MOVED_ASIDE: &str = "sonde_collector_spool_moved_aside_total";
    /// Documents in the dead-letter store, and their bytes.
    pub const COLLECTOR_DEAD_LETTERS: &str = "sonde_collector_dead_letters";
    pub const COLLECTOR_DEAD_LETTER_BYTES: &str = "sonde_collector_dead_letter_bytes";
    /// 1 while the output refuses us (credentials, privileges) until fixed.
    pub const COLLECTOR_OUTPUT_REFUSED: &str = "sonde_collector_output_refused";
    /// Flow records of a second probe merged into a flow document already
    /// written (Elasticsearch: observer added; append-only outputs: not
    /// written), by `output`.
    pub const COLLECTOR_DEDUPE_MERGED: &str = "sonde_collector_dedupe_merged_total";
    /// Flow records found already written by their own probe (resends), by `output`.
    pub const COLLECTOR_DEDUPE_RESENDS: &str = "sonde_collector_dedupe_resends_total";
    /// Flow records that shared an id with another flow and were written
    /// under their own record id.
    pub const COLLECTOR_DEDUPE_DISTINCT: &str = "sonde_collector_dedupe_distinct_total";
    /// Flows near a time-bucket boundary whose neighbouring id was looked up
    /// in Elasticsearch.
    pub const COLLECTOR_DEDUPE_BOUNDARY_LOOKUPS: &str =
        "sonde_collector_dedupe_boundary_lookups_total";
    /// Flows forced out of the in-memory dedupe window by its capacity.
    pub const COLLECTOR_DEDUPE_EVICTIONS: &str = "sonde_collector_dedupe_evictions_total";
}

/// What `/ready` answers: ready (200) or not (503, with the reason).
/// `/health` (liveness) answers 200 whenever the process serves at all: a
/// probe must not be restarted, and lose its buffer, because its collector is
/// away.
pub type ReadyCheck = std::sync::Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// Installs the Prometheus recorder as the global `metrics` recorder and
/// serves `GET /metrics` (Prometheus text), `GET /health` (liveness) and
/// `GET /ready` (readiness, from `ready`) on `listen`, from
/// a thread of its own. Returns the bound address (`listen` may use port 0).
pub fn serve_metrics(
    listen: std::net::SocketAddr,
    ready: ReadyCheck,
) -> Result<std::net::SocketAddr, String> {
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| format!("cannot install the metrics recorder: {e}"))?;
    let listener = std::net::TcpListener::bind(listen)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|e| format!("cannot serve metrics on {listen}: {e}"))?;
    let bound = listener
        .local_addr()
        .map_err(|e| format!("metrics listener: {e}"))?;
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(http::serve(listener, handle, ready));
        })
        .map_err(|e| format!("metrics thread: {e}"))?;
    Ok(bound)
}

/// The metrics and health endpoint: HTTP/1.1 with hyper, three paths.
mod http {
    use http_body_util::Full;
    use hyper::body::Bytes;
    use hyper::{Request, Response, StatusCode};
    use hyper_util::rt::TokioIo;
    use metrics_exporter_prometheus::PrometheusHandle;

    use super::ReadyCheck;

    pub(super) async fn serve(
        listener: std::net::TcpListener,
        handle: PrometheusHandle,
        ready: ReadyCheck,
    ) {
        let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
            return;
        };
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let (handle, ready) = (handle.clone(), ready.clone());
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                        let response = respond(req.uri().path(), &handle, &ready);
                        async move { Ok::<_, std::convert::Infallible>(response) }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    }

    fn respond(path: &str, handle: &PrometheusHandle, ready: &ReadyCheck) -> Response<Full<Bytes>> {
        let (status, body) = match path {
            "/metrics" => (StatusCode::OK, handle.render()),
            "/health" => (StatusCode::OK, "ok\n".to_owned()),
            "/ready" => match ready() {
                Ok(()) => (StatusCode::OK, "ready\n".to_owned()),
                Err(reason) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("not ready: {reason}\n"),
                ),
            },
            _ => (
                StatusCode::NOT_FOUND,
                "GET /metrics, /health or /ready\n".to_owned(),
            ),
        };
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        response
    }
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
