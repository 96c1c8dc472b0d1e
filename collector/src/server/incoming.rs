//! Accepts TCP connections and runs each TLS handshake in its own task (a
//! slow or hostile client never blocks the others), yielding streams that
//! carry the peer's certificate identity to the gRPC handlers.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use sonde_common::tls::Reloading;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::Connected;
use tracing::{info, warn};

use super::ServerStats;

/// A handshake that takes longer than this is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Who is on the other end of a connection; in every request's extensions.
#[derive(Clone, Debug)]
pub struct PeerInfo {
    /// The probe's identity (certificate DNS name, else CN).
    pub identity: String,
    pub remote: SocketAddr,
}

/// A TLS connection whose client certificate was verified.
#[derive(Debug)]
pub(crate) struct PeerStream {
    inner: TlsStream<TcpStream>,
    info: PeerInfo,
}

impl Connected for PeerStream {
    type ConnectInfo = PeerInfo;

    fn connect_info(&self) -> PeerInfo {
        self.info.clone()
    }
}

impl AsyncRead for PeerStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for PeerStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// The stream of authenticated connections for tonic's `serve_with_incoming`.
pub(crate) fn tls_incoming(
    listener: TcpListener,
    tls: Arc<Reloading<rustls::ServerConfig>>,
    stats: Arc<ServerStats>,
) -> ReceiverStream<Result<PeerStream, std::io::Error>> {
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let (tcp, remote) = match listener.accept().await {
                Ok(conn) => conn,
                Err(e) => {
                    warn!(error = %e, "Accepting a connection failed.");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            if tx.is_closed() {
                break; // the server is gone
            }
            // The current certificates: rotated files apply to new connections.
            let acceptor = TlsAcceptor::from(tls.current());
            let (conn_tx, stats) = (tx.clone(), Arc::clone(&stats));
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(acceptor, tcp, remote))
                    .await
                {
                    Ok(Ok(stream)) => {
                        info!(probe = %stream.info.identity, %remote, "Probe connected.");
                        let _ = conn_tx.send(Ok(stream)).await;
                    }
                    Ok(Err(reason)) => {
                        stats.handshakes_failed.fetch_add(1, Ordering::Relaxed);
                        warn!(%remote, reason = %reason, "TLS handshake refused.");
                    }
                    Err(_) => {
                        stats.handshakes_failed.fetch_add(1, Ordering::Relaxed);
                        warn!(%remote, "TLS handshake timed out.");
                    }
                }
            });
        }
    });
    ReceiverStream::new(rx)
}

async fn handshake(
    acceptor: TlsAcceptor,
    tcp: TcpStream,
    remote: SocketAddr,
) -> Result<PeerStream, String> {
    let _ = tcp.set_nodelay(true);
    // rustls names the reason: unknown issuer, expired, no certificate...
    let inner = acceptor.accept(tcp).await.map_err(|e| e.to_string())?;
    let (_, conn) = inner.get_ref();
    let leaf = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or_else(|| "no client certificate".to_owned())?;
    let identity = sonde_common::tls::identity_of(leaf).map_err(|e| e.to_string())?;
    Ok(PeerStream {
        inner,
        info: PeerInfo { identity, remote },
    })
}
