//! The gRPC server probes connect to: TLS 1.3 with a client certificate from
//! the configured CA, the `sonde.v1.Collector/Export` stream, and the hand-off
//! of each batch to the output, acknowledged only once the output has it.
//!
//! Inputs: a bound `TcpListener` (tests bind port 0) and a shutdown future;
//! outputs: batches of ECS [`Document`](crate::sink::Document)s to the output
//! task through [`OutputHandle`].

mod incoming;
mod service;

pub use incoming::PeerInfo;
pub use service::{ExportService, ServerStats};

use std::future::Future;
use std::sync::Arc;

use sonde_proto::limits::MAX_MESSAGE_BYTES;
use sonde_proto::v1::collector_server::CollectorServer;
use tokio::net::TcpListener;
use tonic::codec::CompressionEncoding;

use crate::output::OutputHandle;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Serves probes on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<sonde_common::tls::Reloading<rustls::ServerConfig>>,
    output: OutputHandle,
    stats: Arc<ServerStats>,
    mapper: crate::documents::Mapper,
    max_stream_age: std::time::Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let incoming = incoming::tls_incoming(listener, tls, Arc::clone(&stats));
    let service = CollectorServer::new(ExportService::new(output, stats, mapper, max_stream_age))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip);
    tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(std::time::Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(std::time::Duration::from_secs(20)))
        .add_service(service)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await?;
    Ok(())
}
