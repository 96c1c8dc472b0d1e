//! The Elasticsearch sink: `_bulk` over HTTP(S) with reqwest.
//!
//! - HTTPS with the operator's CA (Security Onion's), basic auth or an API
//!   key; secrets are read once at start and never logged.
//! - Each batch is cut into request bodies by documents and bytes, gzip'ed,
//!   and sent with up to `max_in_flight` requests at once, round-robin over
//!   the configured URLs.
//! - Per document: 201 accepted, 409 duplicate (delivered before), 429/5xx
//!   retry (only those documents), other 4xx rejected (dead letter). A 413
//!   splits the request in two until it fits; a single document that is too
//!   large is rejected. 401/403/404 on a request stop the delivery with what
//!   the operator must fix ([`SinkError::Refused`]); the caller keeps spooling.
//! - Before the first write ([`Sink::prepare`]): the node must be 8.x (read
//!   from `/_nodes/_local`: the test distribution has no `GET /`), and the
//!   templates of [`templates`] are installed unless a newer sonde's are there.

mod bulk;
mod merge;
pub mod templates;

use std::io::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;
use sonde_common::config::Secret;
use tokio::task::JoinSet;
use tracing::{info, warn};

use super::{Document, Outcome, Sink, SinkError};

/// Where documents of one kind go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A data stream (created on the first write by its template).
    DataStream(String),
    /// Daily indices: a pattern with `%Y`, `%m`, `%d`, from the document's
    /// time in UTC.
    Daily(String),
}

impl Target {
    /// Checks a configured target: Elasticsearch's index name rules.
    pub fn parse(text: &str) -> Result<Target, String> {
        let plain = text
            .replace("%Y", "2026")
            .replace("%m", "01")
            .replace("%d", "01");
        if plain.contains('%') {
            return Err(format!(
                "\"{text}\": only %Y, %m and %d may be used in an index pattern"
            ));
        }
        let bad = plain.is_empty()
            || plain.len() > 200
            || plain.starts_with(['-', '_', '+', '.'])
            || plain.chars().any(|c| {
                c.is_ascii_uppercase()
                    || matches!(
                        c,
                        '\\' | '/' | '*' | '?' | '"' | '<' | '>' | '|' | ' ' | ',' | '#' | ':'
                    )
            });
        if bad {
            return Err(format!(
                "\"{text}\" is not a valid index or data stream name (lowercase, no \\ / * ? \" < > | , # : or spaces, not starting with - _ + .)"
            ));
        }
        Ok(if text.contains('%') {
            Target::Daily(text.to_owned())
        } else {
            Target::DataStream(text.to_owned())
        })
    }

    pub fn is_data_stream(&self) -> bool {
        matches!(self, Target::DataStream(_))
    }

    /// The index (or data stream) a document of time `timestamp_us` goes to.
    pub fn index_for(&self, timestamp_us: u64) -> String {
        match self {
            Target::DataStream(name) => name.clone(),
            Target::Daily(pattern) => {
                let secs = i64::try_from(timestamp_us / 1_000_000).unwrap_or(0);
                let date = time::OffsetDateTime::from_unix_timestamp(secs)
                    .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
                    .date();
                pattern
                    .replace("%Y", &format!("{:04}", date.year()))
                    .replace("%m", &format!("{:02}", u8::from(date.month())))
                    .replace("%d", &format!("{:02}", date.day()))
            }
        }
    }

    /// The template's index pattern.
    pub fn pattern(&self) -> String {
        match self {
            Target::DataStream(name) => name.clone(),
            Target::Daily(pattern) => {
                let prefix = pattern.split('%').next().unwrap_or_default();
                format!("{prefix}*")
            }
        }
    }
}

/// How the sink authenticates.
#[derive(Clone, Debug)]
pub enum Auth {
    None,
    Basic {
        username: String,
        password: Secret,
    },
    /// The encoded key (`base64(id:key)`), as Kibana shows it.
    ApiKey(Secret),
}

/// Everything the sink needs, resolved (secrets read, targets parsed).
#[derive(Clone, Debug)]
pub struct EsSettings {
    pub urls: Vec<String>,
    pub ca: Option<PathBuf>,
    pub auth: Auth,
    pub flows: Target,
    pub alerts: Target,
    pub ilm_policy: Option<String>,
    pub batch_documents: usize,
    pub batch_bytes: usize,
    pub max_in_flight: usize,
    pub request_timeout: Duration,
    pub compress: bool,
    /// Flow documents of several probes merged into one (see [`merge`]).
    pub dedupe: crate::dedupe::DedupeSettings,
}

#[derive(Debug)]
pub struct EsSink {
    client: reqwest::Client,
    settings: EsSettings,
    next_url: usize,
    prepared: bool,
    /// Flow documents this process wrote or merged recently, with their index.
    recent: crate::dedupe::window::Window,
}

/// What one request came back with.
type Reply = Result<(u16, Vec<u8>), String>;

impl EsSink {
    pub fn new(settings: EsSettings) -> Result<Self, SinkError> {
        let mut builder = reqwest::Client::builder()
            .timeout(settings.request_timeout)
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(60));
        if let Some(ca) = &settings.ca {
            let pem = std::fs::read(ca).map_err(|source| SinkError::File {
                action: "read the Elasticsearch CA",
                path: ca.clone(),
                source,
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                SinkError::Config(format!("elasticsearch.ca {}: {e}", ca.display()))
            })?;
            builder = builder.tls_built_in_root_certs(false);
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder
            .build()
            .map_err(|e| SinkError::Config(format!("HTTP client: {e}")))?;
        if settings.urls.is_empty() {
            return Err(SinkError::Config("no Elasticsearch URL".into()));
        }
        Ok(Self {
            client,
            next_url: 0,
            prepared: false,
            recent: crate::dedupe::window::Window::new(&settings.dedupe),
            settings,
        })
    }

    fn url(&mut self, path: &str) -> String {
        let base = &self.settings.urls[self.next_url % self.settings.urls.len()];
        self.next_url = self.next_url.wrapping_add(1);
        format!("{}{path}", base.trim_end_matches('/'))
    }

    fn authorize(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.settings.auth {
            Auth::None => request,
            Auth::Basic { username, password } => {
                request.basic_auth(username, Some(password.expose()))
            }
            Auth::ApiKey(key) => request.header(
                reqwest::header::AUTHORIZATION,
                format!("ApiKey {}", key.expose()),
            ),
        }
    }

    /// A JSON request; the status and the body (JSON or Null).
    async fn call(
        &mut self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), SinkError> {
        let url = self.url(path);
        let mut request = self.authorize(self.client.request(method, &url));
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| unavailable(&url, &e))?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(|e| unavailable(&url, &e))?;
        let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        Ok((status, value))
    }

    /// The version of every node answering `/_nodes/_local`; an error unless 8.x.
    pub async fn check_version(&mut self) -> Result<String, SinkError> {
        let path = "/_nodes/_local?filter_path=nodes.*.version";
        let (status, nodes) = self.call(reqwest::Method::GET, path, None).await?;
        refused(status, path, &nodes)?;
        let version = nodes
            .get("nodes")
            .and_then(Value::as_object)
            .and_then(|n| n.values().next())
            .and_then(|n| n.get("version"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| {
                SinkError::Unavailable(format!(
                    "/_nodes/_local answered {status} without a version: is this Elasticsearch?"
                ))
            })?;
        if !version.starts_with("8.") {
            return Err(SinkError::Refused(format!(
                "Elasticsearch {version} is not supported: sonde needs 8.x"
            )));
        }
        Ok(version)
    }

    /// Installs the templates; leaves a newer sonde's alone. Returns what it did.
    pub async fn install_templates(&mut self) -> Result<Vec<String>, SinkError> {
        let all = templates::all(
            &self.settings.flows,
            &self.settings.alerts,
            self.settings.ilm_policy.as_deref(),
        );
        let mut done = Vec::new();
        for t in all {
            let (status, existing) = self.call(reqwest::Method::GET, &t.path, None).await?;
            // 404: not installed yet.
            if status != 404 {
                refused(status, &t.path, &existing)?;
            }
            if let Some(theirs) = templates::installed_version(&existing)
                && templates::is_newer(&theirs)
            {
                warn!(template = %t.path, installed = %theirs, ours = templates::VERSION, "A newer sonde installed this template; it is left as it is.");
                done.push(format!("{} kept (version {theirs})", t.path));
                continue;
            }
            let (status, answer) = self
                .call(reqwest::Method::PUT, &t.path, Some(&t.body))
                .await?;
            refused(status, &t.path, &answer)?;
            if status != 200 {
                return Err(SinkError::Refused(format!(
                    "installing {} failed with {status}: {}",
                    t.path,
                    bulk::error_reason(answer.get("error"))
                )));
            }
            done.push(format!("{} installed", t.path));
        }
        Ok(done)
    }

    /// Sends `docs` and returns one outcome each, in order, with the index
    /// each bulk item named.
    async fn bulk(
        &mut self,
        docs: &[Document],
    ) -> Result<(Vec<Outcome>, Vec<Option<String>>), SinkError> {
        let s = &self.settings;
        let mut pending: Vec<(usize, usize)> =
            bulk::bodies(docs, s.batch_documents, s.batch_bytes, &s.flows, &s.alerts)
                .into_iter()
                .map(|b| (b.first, b.count))
                .rev()
                .collect();
        let mut outcomes: Vec<Option<Outcome>> = vec![None; docs.len()];
        let mut indices: Vec<Option<String>> = vec![None; docs.len()];
        let mut running: JoinSet<((usize, usize), String, Reply, Duration)> = JoinSet::new();
        let (mut sent, mut unreachable) = (0usize, 0usize);
        let mut last_error = String::new();
        while !pending.is_empty() || !running.is_empty() {
            while running.len() < self.settings.max_in_flight {
                let Some((first, count)) = pending.pop() else {
                    break;
                };
                let mut ndjson = Vec::new();
                for doc in &docs[first..first + count] {
                    bulk::append(
                        &mut ndjson,
                        doc,
                        &self.settings.flows,
                        &self.settings.alerts,
                    );
                }
                let url = self.url("/_bulk");
                let request = self.request(&url, ndjson)?;
                sent += 1;
                running.spawn(async move {
                    let started = Instant::now();
                    let reply = send(request).await;
                    ((first, count), url, reply, started.elapsed())
                });
            }
            let Some(joined) = running.join_next().await else {
                break;
            };
            let ((first, count), url, reply, took) =
                joined.map_err(|e| SinkError::Worker(e.to_string()))?;
            metrics::histogram!(sonde_common::telemetry::names::COLLECTOR_ES_BULK_SECONDS)
                .record(took.as_secs_f64());
            let range = first..first + count;
            match reply {
                Err(e) => {
                    unreachable += 1;
                    last_error.clone_from(&e);
                    fill(&mut outcomes, range, &Outcome::Retry { reason: e });
                }
                Ok((200, body)) => {
                    let items = bulk::items(&body, count);
                    let slots = outcomes[range.clone()].iter_mut().zip(&mut indices[range]);
                    for ((slot, index), (o, i)) in slots.zip(items) {
                        *slot = Some(o);
                        *index = i;
                    }
                }
                Ok((413, _)) if count > 1 => {
                    let half = count / 2;
                    pending.push((first + half, count - half));
                    pending.push((first, half));
                }
                Ok((413, _)) => fill(
                    &mut outcomes,
                    range,
                    &Outcome::Rejected {
                        reason: "413: the document alone is larger than Elasticsearch's http.max_content_length".into(),
                    },
                ),
                Ok((status @ (429 | 500..=599), body)) => fill(
                    &mut outcomes,
                    range,
                    &Outcome::Retry {
                        reason: format!("{status}: {}", reason_of(&body)),
                    },
                ),
                Ok((status, body)) => {
                    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    refused(status, &url, &value)?;
                    fill(
                        &mut outcomes,
                        range,
                        &Outcome::Rejected {
                            reason: format!("{status}: {}", bulk::error_reason(value.get("error"))),
                        },
                    );
                }
            }
        }
        if sent > 0 && unreachable == sent {
            return Err(SinkError::Unavailable(last_error));
        }
        let outcomes = outcomes
            .into_iter()
            .map(|o| {
                o.unwrap_or(Outcome::Retry {
                    reason: "no answer for this document".into(),
                })
            })
            .collect();
        Ok((outcomes, indices))
    }

    fn request(&self, url: &str, ndjson: Vec<u8>) -> Result<reqwest::RequestBuilder, SinkError> {
        let mut request = self
            .authorize(self.client.post(url))
            .header(reqwest::header::CONTENT_TYPE, "application/x-ndjson");
        if self.settings.compress {
            let mut gz = flate2::write::GzEncoder::new(
                Vec::with_capacity(ndjson.len() / 4),
                flate2::Compression::fast(),
            );
            gz.write_all(&ndjson)
                .map_err(|e| SinkError::Worker(format!("gzip: {e}")))?;
            let body = gz
                .finish()
                .map_err(|e| SinkError::Worker(format!("gzip: {e}")))?;
            request = request
                .header(reqwest::header::CONTENT_ENCODING, "gzip")
                .body(body);
        } else {
            request = request.body(ndjson);
        }
        Ok(request)
    }
}

async fn send(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.map_err(|e| describe(&e))?;
    let status = response.status().as_u16();
    let body = response.bytes().await.map_err(|e| describe(&e))?;
    Ok((status, body.to_vec()))
}

fn fill(outcomes: &mut [Option<Outcome>], range: std::ops::Range<usize>, outcome: &Outcome) {
    for slot in &mut outcomes[range] {
        *slot = Some(outcome.clone());
    }
}

fn reason_of(body: &[u8]) -> String {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    bulk::error_reason(value.get("error"))
}

/// reqwest's error with its causes (which say "connection refused", "certificate").
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    bulk::truncate(text, 500)
}

fn unavailable(url: &str, e: &reqwest::Error) -> SinkError {
    SinkError::Unavailable(format!("{url}: {}", describe(e)))
}

/// 401, 403 and 404 on a request: the operator must act; writing stops.
fn refused(status: u16, url: &str, body: &Value) -> Result<(), SinkError> {
    let reason = bulk::error_reason(body.get("error"));
    let fix = match status {
        401 => "check [elasticsearch] username/password or api_key",
        403 => {
            "grant the user the privileges in docs/configuration.md (create_doc and auto_configure on the targets, read and index on the flow target, manage_index_templates, monitor)"
        }
        404 => "check [elasticsearch] urls: the path does not exist (a proxy prefix?)",
        _ => return Ok(()),
    };
    Err(SinkError::Refused(format!(
        "{url} answered {status} ({reason}): {fix}"
    )))
}

impl Sink for EsSink {
    fn name(&self) -> &str {
        "elasticsearch"
    }

    async fn prepare(&mut self) -> Result<(), SinkError> {
        if self.prepared {
            return Ok(());
        }
        let version = self.check_version().await?;
        let done = self.install_templates().await?;
        info!(version = %version, templates = ?done, "Elasticsearch is ready.");
        self.prepared = true;
        Ok(())
    }

    async fn deliver(&mut self, docs: &[Document]) -> Result<Vec<Outcome>, SinkError> {
        self.prepare().await?;
        let outcomes = self.deliver_deduped(docs).await?;
        for o in &outcomes {
            let label = match o {
                Outcome::Accepted => "created",
                Outcome::Duplicate => "duplicate",
                Outcome::Retry { .. } => "retry",
                Outcome::Rejected { .. } => "rejected",
            };
            metrics::counter!(sonde_common::telemetry::names::COLLECTOR_ES_ITEMS, "outcome" => label)
                .increment(1);
        }
        Ok(outcomes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_data_streams_or_daily_patterns() {
        let ds = Target::parse("logs-sonde.conn-so").unwrap();
        assert!(ds.is_data_stream());
        assert_eq!(ds.index_for(0), "logs-sonde.conn-so");
        let daily = Target::parse("so-ntopng-%Y.%m.%d").unwrap();
        assert!(!daily.is_data_stream());
        // 2026-11-25T23:59:59Z
        assert_eq!(
            daily.index_for(1_795_651_199_000_000),
            "so-ntopng-2026.11.25"
        );
        assert_eq!(daily.pattern(), "so-ntopng-*");
        for bad in ["", "Logs", "a b", "_x", "x*", "a/b", "so-%H", "x,y"] {
            assert!(Target::parse(bad).is_err(), "{bad:?}");
        }
    }
}
