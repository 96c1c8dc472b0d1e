//! `sonde-probe check`: the real path, step by step, like ntopng's "Check"
//! button: the configuration, the permission to capture on each interface,
//! and a connection to the collector with the probe's certificate that
//! round-trips a Hello. One line per step; stops at the first failure.

use std::path::Path;
use std::time::Duration;

use crate::capture::LiveSource;
use crate::config::{self, ProbeConfig};
use crate::export::{self, ExportSettings};

/// Runs the checks, printing a line per step to `out`; true when all passed.
pub fn run(path: &Path, out: &mut dyn FnMut(bool, String)) -> bool {
    let config: ProbeConfig = match sonde_common::config::check(path, config::check_io) {
        Ok(c) => c,
        Err(e) => {
            out(false, format!("configuration {}:\n{e}", path.display()));
            return false;
        }
    };
    out(true, format!("configuration {} is valid", path.display()));

    for capture in &config.capture {
        match LiveSource::open(capture) {
            Ok(_) => out(
                true,
                format!(
                    "capture on {} (filter {:?})",
                    capture.interface, capture.bpf_filter
                ),
            ),
            Err(e) => {
                out(false, format!("capture on {}: {e}", capture.interface));
                return false;
            }
        }
    }

    let tls = match config.collector.tls.load() {
        Ok(t) => t,
        Err(e) => {
            out(false, format!("certificates: {e}"));
            return false;
        }
    };
    let (client, identity) = match (
        sonde_common::tls::Reloading::client(config.collector.tls.clone()),
        tls.identity(),
    ) {
        (Ok(c), Ok(i)) => (std::sync::Arc::new(c), i),
        (Err(e), _) | (_, Err(e)) => {
            out(false, format!("certificates: {e}"));
            return false;
        }
    };
    if let Some(leaf) = tls.chain.first()
        && let Ok(summary) = sonde_common::tls::describe(leaf)
    {
        out(
            true,
            format!(
                "certificate of {identity}, valid until {}",
                summary.not_after
            ),
        );
    }
    let settings = ExportSettings {
        endpoint: config.collector.endpoint.clone(),
        server_name: config.collector.server_name().to_owned(),
        tls: client,
        observer: identity.clone(),
        max_records: 1,
        max_bytes: 1,
        batch_bytes: 1,
        batch_delay: Duration::from_secs(1),
        shutdown_deadline: Duration::from_secs(1),
        interfaces: config.capture.iter().map(|c| c.interface.clone()).collect(),
        connected: Default::default(),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            out(false, format!("runtime: {e}"));
            return false;
        }
    };
    match runtime.block_on(export::check_connection(&settings)) {
        Ok(through) => {
            out(
                true,
                format!(
                    "collector {} accepted {identity} (Hello acknowledged through {through})",
                    settings.endpoint
                ),
            );
            true
        }
        Err(e) => {
            out(false, format!("collector {}: {e}", settings.endpoint));
            false
        }
    }
}
