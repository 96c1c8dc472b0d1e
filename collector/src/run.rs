//! `sonde-collector run`: the gRPC server for probes with the output the
//! config selects, until SIGINT or SIGTERM.

use std::sync::Arc;

use tokio::net::TcpListener;
use tracing::info;

use crate::config::CollectorConfig;
use crate::output;
use crate::server::{self, ServerStats};
use crate::sink::{NdjsonConfig, NdjsonSink};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("certificates: {0}")]
    Tls(#[from] sonde_common::tls::TlsError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("output: {0}")]
    Sink(#[from] crate::sink::SinkError),
    #[error(transparent)]
    Server(#[from] server::ServerError),
    #[error(
        "the Elasticsearch output is not in this build yet: remove [elasticsearch] to write NDJSON files to [file] dir"
    )]
    ElasticsearchNotYet,
}

/// Serves until `shutdown` completes; `on_listening` gets the bound address.
pub async fn run(
    config: &CollectorConfig,
    on_listening: impl FnOnce(std::net::SocketAddr),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<Arc<ServerStats>, RunError> {
    if config.elasticsearch.is_some() {
        return Err(RunError::ElasticsearchNotYet);
    }
    let tls = config.server.tls.load()?.server_config()?;
    let sink = NdjsonSink::new(NdjsonConfig {
        dir: config.file.dir.clone(),
        max_file_size: config.file.max_file_size.bytes(),
        max_file_age: config.file.max_file_age.get(),
        max_files: config.file.max_files,
    })?;
    let (handle, output_task) = output::spawn(sink);
    let listener = TcpListener::bind(config.server.listen)
        .await
        .map_err(|source| RunError::Listen {
            addr: config.server.listen,
            source,
        })?;
    let bound = listener.local_addr().map_err(|source| RunError::Listen {
        addr: config.server.listen,
        source,
    })?;
    info!(listen = %bound, output = %config.file.dir.display(), "Collector listening.");
    on_listening(bound);
    let stats = Arc::new(ServerStats::default());
    server::serve(listener, tls, handle, Arc::clone(&stats), shutdown).await?;
    // Every connection is gone: the output drains what it was given and stops.
    let _ = output_task.await;
    Ok(stats)
}
