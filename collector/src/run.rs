//! `sonde-collector run`: the gRPC server for probes with the output the
//! config selects, until SIGINT or SIGTERM.

use std::sync::Arc;

use tokio::net::TcpListener;
use tracing::info;

use crate::config::CollectorConfig;
use crate::config::SyslogTransportName;
use crate::output;
use crate::server::{self, ServerStats};
use crate::sink::{
    Document, NdjsonConfig, NdjsonSink, Outcome, Sink, SinkError, SyslogConfig, SyslogSink,
    SyslogTransport,
};

/// The output the config selects (one, for the life of the process).
#[allow(
    clippy::large_enum_variant,
    reason = "a single value, never moved in a hot path"
)]
enum Output {
    Ndjson(NdjsonSink),
    Syslog(SyslogSink),
}

impl Sink for Output {
    fn name(&self) -> &str {
        match self {
            Output::Ndjson(s) => s.name(),
            Output::Syslog(s) => s.name(),
        }
    }

    async fn deliver(&mut self, docs: &[Document]) -> Result<Vec<Outcome>, SinkError> {
        match self {
            Output::Ndjson(s) => s.deliver(docs).await,
            Output::Syslog(s) => s.deliver(docs).await,
        }
    }
}

fn output(config: &CollectorConfig) -> Result<(Output, String), SinkError> {
    if let Some(c) = &config.syslog {
        let transport = match c.transport {
            SyslogTransportName::Udp => SyslogTransport::Udp,
            SyslogTransportName::Tcp => SyslogTransport::Tcp,
            SyslogTransportName::Tls => SyslogTransport::Tls,
        };
        let mut s = SyslogConfig::new(c.address.clone(), transport);
        s.facility = c.facility;
        s.hostname.clone_from(&c.hostname);
        s.tls_ca.clone_from(&c.ca);
        s.tls_server_name.clone_from(&c.server_name);
        return Ok((
            Output::Syslog(SyslogSink::new(s)?),
            format!("syslog {}", c.address),
        ));
    }
    let sink = NdjsonSink::new(NdjsonConfig {
        dir: config.file.dir.clone(),
        max_file_size: config.file.max_file_size.bytes(),
        max_file_age: config.file.max_file_age.get(),
        max_files: config.file.max_files,
    })?;
    Ok((Output::Ndjson(sink), config.file.dir.display().to_string()))
}

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
    #[error(transparent)]
    Enrich(#[from] crate::enrich::EnrichError),
    #[error("{0}")]
    Metrics(String),
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
    let tls = Arc::new(sonde_common::tls::Reloading::server(
        config.server.tls.clone(),
    )?);
    let enricher = crate::enrich::Enricher::open(&config.enrich)?;
    let (sink, described) = output(config)?;
    let (handle, output_task) = output::spawn(sink);
    if let Some(addr) = config.metrics.listen {
        // Not a handle clone: that would keep the output task alive forever.
        let output = handle.health();
        let ready = std::sync::Arc::new(move || {
            if output.healthy() {
                Ok(())
            } else {
                Err("the output failed its last batch".to_owned())
            }
        });
        sonde_common::telemetry::serve_metrics(addr, ready).map_err(RunError::Metrics)?;
    }
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
    info!(listen = %bound, output = %described, "Collector listening.");
    on_listening(bound);
    let stats = Arc::new(ServerStats::default());
    let publisher = {
        let stats = Arc::clone(&stats);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            loop {
                tick.tick().await;
                stats.publish();
            }
        })
    };
    let served = server::serve(
        listener,
        tls,
        handle,
        Arc::clone(&stats),
        enricher,
        shutdown,
    )
    .await;
    publisher.abort();
    stats.publish();
    served?;
    // Every connection is gone: the output drains what it was given and stops.
    let _ = output_task.await;
    Ok(stats)
}
