//! `sonde-collector check`: the real path, step by step: the configuration,
//! the certificates (loaded, matching, not expired), the listen address,
//! the spool, and the output (Elasticsearch answers our credentials and is
//! 8.x, the NDJSON directory takes a test file, the syslog server accepts a
//! connection). One line per step; stops at the first failure.

use std::path::Path;

use crate::config::{self, CollectorConfig, SyslogTransportName};

/// One check: a line saying what passed, or what failed.
type Step = fn(&CollectorConfig) -> Result<String, String>;

/// Runs the checks, printing a line per step through `out`; true when all passed.
pub fn run(path: &Path, out: &mut dyn FnMut(bool, String)) -> bool {
    let config: CollectorConfig = match sonde_common::config::check(path, config::check_io) {
        Ok(c) => c,
        Err(e) => {
            out(false, format!("configuration {}:\n{e}", path.display()));
            return false;
        }
    };
    out(true, format!("configuration {} is valid", path.display()));
    let steps: [Step; 4] = [certificates, listen, spool, output];
    steps.iter().all(|step| match step(&config) {
        Ok(line) => {
            out(true, line);
            true
        }
        Err(line) => {
            out(false, line);
            false
        }
    })
}

fn certificates(config: &CollectorConfig) -> Result<String, String> {
    let tls = config
        .server
        .tls
        .load()
        .map_err(|e| format!("certificates: {e}"))?;
    tls.server_config()
        .map_err(|e| format!("certificates: {e}"))?;
    let identity = tls.identity().map_err(|e| format!("certificates: {e}"))?;
    let leaf = tls.chain.first().ok_or("certificates: empty chain")?;
    let summary = sonde_common::tls::describe(leaf).map_err(|e| format!("certificates: {e}"))?;
    let now = time::OffsetDateTime::now_utc();
    if summary.not_after < now || summary.not_before > now {
        return Err(format!(
            "certificate {} of {identity} is not valid now ({} to {})",
            config.server.tls.cert.display(),
            summary.not_before,
            summary.not_after
        ));
    }
    Ok(format!(
        "certificate of {identity} valid until {}, probes need a certificate from {}",
        summary.not_after,
        config.server.tls.ca.display()
    ))
}

fn listen(config: &CollectorConfig) -> Result<String, String> {
    let addr = config.server.listen;
    std::net::TcpListener::bind(addr)
        .map(|_| format!("can listen on {addr}"))
        .map_err(|e| format!("cannot listen on {addr}: {e}"))
}

/// The spool opens (a running collector holding it counts as fine).
fn spool(config: &CollectorConfig) -> Result<String, String> {
    let dir = &config.spool.dir;
    match crate::spool::Spool::open(dir, config.spool.max_size.bytes(), config.spool.full_policy) {
        Ok((spool, damaged)) => {
            let s = spool.stats();
            let moved = damaged
                .map(|d| format!("; a damaged store was moved to {}", d.moved_to.display()))
                .unwrap_or_default();
            Ok(format!(
                "spool {} holds {} records ({} bytes of {}), {} dead letters{moved}",
                dir.display(),
                s.records,
                s.bytes,
                config.spool.max_size,
                s.dead_letters
            ))
        }
        Err(crate::spool::SpoolError::Locked { .. }) => Ok(format!(
            "spool {} is in use by a running collector",
            dir.display()
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// Elasticsearch answers with our credentials and is 8.x.
fn elasticsearch(es: &crate::config::ElasticsearchConfig) -> Result<String, String> {
    let settings = crate::run::es_settings(es, crate::dedupe::DedupeSettings::default())
        .map_err(|e| e.to_string())?;
    let mut sink = crate::sink::elasticsearch::EsSink::new(settings).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    let version = runtime
        .block_on(sink.check_version())
        .map_err(|e| format!("Elasticsearch {}: {e}", es.urls.join(", ")))?;
    Ok(format!(
        "Elasticsearch {version} at {} accepts our credentials",
        es.urls.join(", ")
    ))
}

fn output(config: &CollectorConfig) -> Result<String, String> {
    if let Some(es) = &config.elasticsearch {
        return elasticsearch(es);
    }
    if let Some(syslog) = &config.syslog {
        return match syslog.transport {
            SyslogTransportName::Udp => std::net::UdpSocket::bind("0.0.0.0:0")
                .and_then(|s| s.connect(&syslog.address))
                .map(|()| format!("syslog over UDP to {} (no reply expected)", syslog.address))
                .map_err(|e| format!("syslog {}: {e}", syslog.address)),
            SyslogTransportName::Tcp | SyslogTransportName::Tls => {
                std::net::TcpStream::connect(&syslog.address)
                    .map(|_| format!("syslog server {} accepts connections", syslog.address))
                    .map_err(|e| format!("syslog server {}: {e}", syslog.address))
            }
        };
    }
    let dir = &config.file.dir;
    std::fs::create_dir_all(dir).map_err(|e| format!("output directory {}: {e}", dir.display()))?;
    let probe = dir.join(".sonde-check");
    std::fs::write(&probe, b"check\n")
        .map_err(|e| format!("output directory {} is not writable: {e}", dir.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(format!("output directory {} is writable", dir.display()))
}
