//! `sonde-collector run`: the gRPC server for probes with the output the
//! config selects, until SIGINT or SIGTERM.

use std::sync::Arc;

use tokio::net::TcpListener;
use tracing::info;

use crate::config::SyslogTransportName;
use crate::config::{CollectorConfig, ElasticsearchConfig};
use crate::dedupe::memory::Deduped;
use crate::output;
use crate::server::{self, ServerStats};
use crate::sink::elasticsearch::{Auth, EsSettings, EsSink, Target};
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
    Elasticsearch(EsSink),
    Ndjson(Deduped<NdjsonSink>),
    Syslog(Deduped<SyslogSink>),
}

impl Sink for Output {
    fn name(&self) -> &str {
        match self {
            Output::Elasticsearch(s) => s.name(),
            Output::Ndjson(s) => s.name(),
            Output::Syslog(s) => s.name(),
        }
    }

    async fn prepare(&mut self) -> Result<(), SinkError> {
        match self {
            Output::Elasticsearch(s) => s.prepare().await,
            Output::Ndjson(s) => s.prepare().await,
            Output::Syslog(s) => s.prepare().await,
        }
    }

    async fn deliver(&mut self, docs: &[Document]) -> Result<Vec<Outcome>, SinkError> {
        match self {
            Output::Elasticsearch(s) => s.deliver(docs).await,
            Output::Ndjson(s) => s.deliver(docs).await,
            Output::Syslog(s) => s.deliver(docs).await,
        }
    }
}

/// The Elasticsearch sink's settings from the config, secrets read.
pub fn es_settings(
    c: &ElasticsearchConfig,
    dedupe: crate::dedupe::DedupeSettings,
) -> Result<EsSettings, SinkError> {
    let secret = |s: &sonde_common::config::SecretSource, key: &str| {
        s.read()
            .map_err(|e| SinkError::Config(format!("elasticsearch.{key}: {e}")))
    };
    let auth = match (&c.username, &c.password, &c.api_key) {
        (Some(username), Some(password), _) => Auth::Basic {
            username: username.clone(),
            password: secret(password, "password")?,
        },
        (_, _, Some(key)) => Auth::ApiKey(secret(key, "api_key")?),
        _ => Auth::None,
    };
    Ok(EsSettings {
        urls: c.urls.clone(),
        ca: c.ca.clone(),
        auth,
        flows: Target::parse(&c.flow_target).map_err(SinkError::Config)?,
        alerts: Target::parse(&c.alert_target).map_err(SinkError::Config)?,
        ilm_policy: c.ilm_policy.clone(),
        batch_documents: c.batch_documents,
        batch_bytes: usize::try_from(c.batch_bytes.bytes()).unwrap_or(usize::MAX),
        max_in_flight: c.max_in_flight,
        request_timeout: c.request_timeout.get(),
        compress: c.compress,
        dedupe,
    })
}

fn output(config: &CollectorConfig) -> Result<(Output, String), SinkError> {
    if let Some(c) = &config.elasticsearch {
        let sink = EsSink::new(es_settings(c, config.dedupe.settings())?)?;
        return Ok((Output::Elasticsearch(sink), c.urls.join(", ")));
    }
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
            Output::Syslog(Deduped::new(SyslogSink::new(s)?, config.dedupe.settings())),
            format!("syslog {}", c.address),
        ));
    }
    let sink = NdjsonSink::new(NdjsonConfig {
        dir: config.file.dir.clone(),
        max_file_size: config.file.max_file_size.bytes(),
        max_file_age: config.file.max_file_age.get(),
        max_files: config.file.max_files,
        keep_page_cache: config.file.keep_page_cache,
    })?;
    Ok((
        Output::Ndjson(Deduped::new(sink, config.dedupe.settings())),
        config.file.dir.display().to_string(),
    ))
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
    #[error(transparent)]
    Spool(#[from] crate::spool::SpoolError),
}

/// Serves until `shutdown` completes; `on_listening` gets the bound address.
pub async fn run(
    config: &CollectorConfig,
    on_listening: impl FnOnce(std::net::SocketAddr),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<Arc<ServerStats>, RunError> {
    let tls = Arc::new(sonde_common::tls::Reloading::server(
        config.server.tls.clone(),
    )?);
    let enricher = crate::enrich::Enricher::open(&config.enrich)?;
    let (sink, described) = output(config)?;
    let (spool, damaged) = crate::spool::Spool::open(
        &config.spool.dir,
        config.spool.max_size.bytes(),
        config.spool.full_policy,
    )?;
    if let Some(d) = damaged {
        tracing::error!(moved_to = %d.moved_to.display(), reason = %d.reason, "The spool was damaged: it was moved aside and a new one started. Its records could not be read.");
        metrics::counter!(sonde_common::telemetry::names::COLLECTOR_SPOOL_MOVED_ASIDE).increment(1);
    }
    let settings = match &config.elasticsearch {
        Some(es) => output::OutputSettings {
            batch_documents: es.batch_documents,
            drain_documents: es.batch_documents.saturating_mul(es.max_in_flight),
            batch_delay: es.batch_delay.get(),
            slow_output: config.spool.slow_output.get(),
        },
        None => output::OutputSettings {
            batch_documents: 10_000,
            drain_documents: 10_000,
            batch_delay: std::time::Duration::ZERO,
            slow_output: config.spool.slow_output.get(),
        },
    };
    let (handle, output_task) = output::spawn(sink, spool, settings);
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
        crate::documents::Mapper {
            enricher,
            dedupe: config.dedupe.settings(),
        },
        config.server.max_connection_age.get(),
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
