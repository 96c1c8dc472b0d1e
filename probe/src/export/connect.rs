//! The TLS connection to the collector: TCP, then rustls with the probe's
//! client certificate (TLS 1.3, ALPN h2), then HTTP/2 for tonic. The TLS
//! configuration is ours rather than tonic's so that it is the one
//! `sonde_common::tls` builds and tests.

use std::time::Duration;

use hyper_util::rt::TokioIo;
use sonde_proto::v1::collector_client::CollectorClient;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tonic::codec::CompressionEncoding;
use tonic::transport::{Channel, Endpoint, Uri};

use super::ExportSettings;

pub(super) async fn connect(settings: &ExportSettings) -> Result<CollectorClient<Channel>, String> {
    let server_name =
        sonde_common::tls::server_name(&settings.server_name).map_err(|e| e.to_string())?;
    let connector = TlsConnector::from(settings.tls.current());
    let address = settings.endpoint.clone();
    let service = tower::service_fn(move |_: Uri| {
        let (connector, server_name, address) =
            (connector.clone(), server_name.clone(), address.clone());
        async move {
            let tcp = TcpStream::connect(&address).await?;
            let _ = tcp.set_nodelay(true);
            let tls = connector.connect(server_name, tcp).await?;
            Ok::<_, std::io::Error>(TokioIo::new(tls))
        }
    });
    // The URI only names the authority for HTTP/2; the connector does the rest.
    let endpoint = Endpoint::from_shared(format!("http://{}", settings.endpoint))
        .map_err(|e| format!("invalid collector endpoint {:?}: {e}", settings.endpoint))?
        .connect_timeout(Duration::from_secs(10))
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(20))
        .keep_alive_while_idle(true);
    let channel = endpoint
        .connect_with_connector(service)
        .await
        .map_err(|e| describe(&e))?;
    Ok(CollectorClient::new(channel)
        .send_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(sonde_proto::limits::MAX_MESSAGE_BYTES)
        .max_encoding_message_size(sonde_proto::limits::MAX_MESSAGE_BYTES))
}

/// tonic's transport error with its causes (where rustls says what is wrong
/// with a certificate).
fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
