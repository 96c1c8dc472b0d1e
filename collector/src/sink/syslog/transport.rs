//! Connections to the syslog server: a connected UDP socket, or a TCP or TLS
//! stream carrying octet-counted frames (RFC 6587 §3.4.1, RFC 5425 §4.3).

use std::future::poll_fn;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use sonde_common::tls::{TlsError, load_roots, provider, server_name};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpStream, UdpSocket, lookup_host};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConfig, version};

use super::{SyslogConfig, SyslogTransport};
use crate::sink::SinkError;

/// An open connection to the syslog server.
#[derive(Debug)]
pub(super) enum Connection {
    Udp(UdpSocket),
    Tcp(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// Opens connections and sends batches, each within the configured timeout.
pub(super) struct Connector {
    address: String,
    transport: SyslogTransport,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    timeout: Duration,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("address", &self.address)
            .field("transport", &self.transport)
            .field("server_name", &self.tls.as_ref().map(|(_, name)| name))
            .finish_non_exhaustive()
    }
}

impl Connector {
    /// Loads the CA for TLS; `config` has been validated.
    pub(super) fn new(config: &SyslogConfig) -> Result<Self, SinkError> {
        let tls = match (config.transport, &config.tls_ca) {
            (SyslogTransport::Tls, Some(ca)) => {
                let client = ClientConfig::builder_with_provider(provider())
                    .with_protocol_versions(&[&version::TLS13, &version::TLS12])
                    .map_err(TlsError::from)?
                    .with_root_certificates(load_roots(ca)?)
                    .with_no_client_auth();
                let name = match &config.tls_server_name {
                    Some(name) => name.as_str(),
                    None => split_host_port(&config.address).map_or("", |(host, _)| host),
                };
                Some((TlsConnector::from(Arc::new(client)), server_name(name)?))
            }
            (SyslogTransport::Tls, None) => {
                return Err(SinkError::Config(
                    "syslog: tls_ca: required with the TLS transport".to_owned(),
                ));
            }
            (SyslogTransport::Udp | SyslogTransport::Tcp, _) => None,
        };
        Ok(Self {
            address: config.address.clone(),
            transport: config.transport,
            tls,
            timeout: config.timeout,
        })
    }

    pub(super) fn address(&self) -> &str {
        &self.address
    }

    /// A new connection (for UDP, a socket connected to the server's address).
    pub(super) async fn connect(&self) -> Result<Connection, SinkError> {
        let (action, source) = match tokio::time::timeout(self.timeout, self.open()).await {
            Ok(Ok(connection)) => return Ok(connection),
            Ok(Err(failure)) => failure,
            Err(_) => ("connect", self.timed_out()),
        };
        Err(self.network_error(action, source))
    }

    async fn open(&self) -> Result<Connection, (&'static str, io::Error)> {
        match self.transport {
            SyslogTransport::Udp => {
                let udp = async {
                    let server = lookup_host(&self.address).await?.next().ok_or_else(|| {
                        io::Error::new(io::ErrorKind::NotFound, "the name has no address")
                    })?;
                    let local: SocketAddr = if server.is_ipv4() {
                        (Ipv4Addr::UNSPECIFIED, 0).into()
                    } else {
                        (Ipv6Addr::UNSPECIFIED, 0).into()
                    };
                    let socket = UdpSocket::bind(local).await?;
                    socket.connect(server).await?;
                    Ok(socket)
                };
                udp.await.map(Connection::Udp).map_err(|e| ("connect", e))
            }
            SyslogTransport::Tcp => TcpStream::connect(&self.address)
                .await
                .map(Connection::Tcp)
                .map_err(|e| ("connect", e)),
            SyslogTransport::Tls => {
                let Some((connector, name)) = &self.tls else {
                    return Err(("connect", io::Error::other("TLS is not configured")));
                };
                let tcp = TcpStream::connect(&self.address)
                    .await
                    .map_err(|e| ("connect", e))?;
                let tls = connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| ("TLS handshake", e))?;
                Ok(Connection::Tls(Box::new(tls)))
            }
        }
    }

    /// Sends `messages` on `connection` and flushes; an error means the
    /// connection must not be used again.
    pub(super) async fn send(
        &self,
        connection: &mut Connection,
        messages: &[Vec<u8>],
    ) -> Result<(), SinkError> {
        match tokio::time::timeout(self.timeout, connection.send(messages)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(source)) => Err(self.network_error("send", source)),
            Err(_) => Err(self.network_error("send", self.timed_out())),
        }
    }

    fn timed_out(&self) -> io::Error {
        let detail = format!("no progress in {} ms", self.timeout.as_millis());
        io::Error::new(io::ErrorKind::TimedOut, detail)
    }

    fn network_error(&self, action: &'static str, source: io::Error) -> SinkError {
        SinkError::Network {
            peer: format!("syslog server {}", self.address),
            action,
            source,
        }
    }
}

impl Connection {
    /// Whether the server closed a stream (a syslog server never sends, so any
    /// end of stream or error means closed). Checked before each batch, so that
    /// the batch is not written into a connection that is already gone.
    pub(super) async fn is_closed(&mut self) -> bool {
        match self {
            Connection::Udp(_) => false,
            Connection::Tcp(stream) => {
                let mut buf = [0u8; 512];
                match stream.try_read(&mut buf) {
                    Ok(read) => read == 0,
                    Err(e) => e.kind() != io::ErrorKind::WouldBlock,
                }
            }
            Connection::Tls(stream) => stream_ended(stream.as_mut()).await,
        }
    }

    async fn send(&mut self, messages: &[Vec<u8>]) -> io::Result<()> {
        match self {
            Connection::Udp(socket) => {
                for message in messages {
                    socket.send(message).await?;
                }
                Ok(())
            }
            Connection::Tcp(stream) => write_frames(stream, messages).await,
            Connection::Tls(stream) => write_frames(stream.as_mut(), messages).await,
        }
    }
}

/// Polls a read once without waiting: ended if it yields end of stream or an error.
async fn stream_ended<S: AsyncRead + Unpin>(stream: &mut S) -> bool {
    poll_fn(|cx| {
        let mut buf = [0u8; 512];
        let mut read = ReadBuf::new(&mut buf);
        Poll::Ready(match Pin::new(&mut *stream).poll_read(cx, &mut read) {
            Poll::Pending => false,
            Poll::Ready(Ok(())) => read.filled().is_empty(),
            Poll::Ready(Err(_)) => true,
        })
    })
    .await
}

/// `LEN SP MSG` per message (RFC 6587 §3.4.1), one write, then a flush.
async fn write_frames<W: AsyncWrite + Unpin>(
    stream: &mut W,
    messages: &[Vec<u8>],
) -> io::Result<()> {
    let total: usize = messages.iter().map(|m| m.len() + 8).sum();
    let mut frames = Vec::with_capacity(total);
    for message in messages {
        frames.extend_from_slice(message.len().to_string().as_bytes());
        frames.push(b' ');
        frames.extend_from_slice(message);
    }
    stream.write_all(&frames).await?;
    stream.flush().await
}

/// `host:port` or `[v6]:port` into host and port.
pub(super) fn split_host_port(address: &str) -> Option<(&str, u16)> {
    let (host, port) = address.rsplit_once(':')?;
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.strip_suffix(']')?,
        None if host.contains(':') => return None,
        None => host,
    };
    let port = port.parse().ok().filter(|&p| p != 0)?;
    (!host.is_empty()).then_some((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port_are_split_for_names_and_both_ip_families() {
        assert_eq!(split_host_port("so.lab:6514"), Some(("so.lab", 6514)));
        assert_eq!(split_host_port("10.0.0.1:514"), Some(("10.0.0.1", 514)));
        assert_eq!(split_host_port("[::1]:514"), Some(("::1", 514)));
        for bad in [
            "so.lab",
            "::1:514",
            ":514",
            "so.lab:0",
            "so.lab:http",
            "[::1]x:514",
        ] {
            assert_eq!(split_host_port(bad), None, "{bad}");
        }
    }
}
