//! Shared helpers for sonde's end-to-end tests: where the real Elasticsearch
//! test nodes are (started by `scripts/test.sh` through
//! `scripts/elasticsearch.sh`), and HTTP clients for them.
//!
//! The nodes are described by environment variables:
//!
//! | variable | meaning |
//! |---|---|
//! | `SONDE_TEST_ES_HTTP_URL` | node with security off, plain HTTP |
//! | `SONDE_TEST_ES_HTTPS_URL` | node in Security Onion's mode: HTTPS + basic auth |
//! | `SONDE_TEST_ES_CA` | CA certificate (PEM) of the HTTPS node |
//! | `SONDE_TEST_ES_USER`, `SONDE_TEST_ES_PASSWORD` | its file-realm user |
//! | `SONDE_REQUIRE_ES=1` | a missing node fails the test instead of skipping it |
//!
//! `scripts/test.sh` sets all of them, so in CI no Elasticsearch test can be
//! skipped silently.

use std::path::PathBuf;
use std::time::Duration;

/// A running Elasticsearch test node.
#[derive(Clone, Debug)]
pub struct EsNode {
    pub url: String,
    pub ca: Option<PathBuf>,
    pub credentials: Option<(String, String)>,
}

/// Which of the two test nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EsMode {
    /// `xpack.security.enabled=false`.
    Http,
    /// HTTPS with a test CA and a file-realm user, as on Security Onion.
    Https,
}

impl EsNode {
    /// The node of `mode`, or `None` (test skipped) when it is not running and
    /// `SONDE_REQUIRE_ES` is not set.
    ///
    /// # Panics
    /// When the node is missing but required: a silently skipped test would
    /// pass without checking anything.
    pub fn get(mode: EsMode) -> Option<EsNode> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let node = match mode {
            EsMode::Http => var("SONDE_TEST_ES_HTTP_URL").map(|url| EsNode {
                url,
                ca: None,
                credentials: None,
            }),
            EsMode::Https => var("SONDE_TEST_ES_HTTPS_URL").map(|url| EsNode {
                url,
                ca: var("SONDE_TEST_ES_CA").map(PathBuf::from),
                credentials: var("SONDE_TEST_ES_USER").zip(var("SONDE_TEST_ES_PASSWORD")),
            }),
        };
        if node.is_none() {
            assert!(
                var("SONDE_REQUIRE_ES").is_none(),
                "Elasticsearch test node ({mode:?}) is required but not running: run scripts/test.sh"
            );
            eprintln!(
                "skipped: no Elasticsearch test node ({mode:?}); scripts/test.sh starts them"
            );
        }
        node
    }

    /// A client that trusts the node's CA (and nothing else) and sends no
    /// credentials; add them per request with [`EsNode::auth`].
    pub fn client(&self) -> reqwest::Client {
        let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(30));
        if let Some(ca) = &self.ca {
            let pem = std::fs::read(ca).unwrap_or_else(|e| panic!("reading {}: {e}", ca.display()));
            let cert = reqwest::Certificate::from_pem(&pem)
                .unwrap_or_else(|e| panic!("CA {}: {e}", ca.display()));
            builder = builder
                .tls_built_in_root_certs(false)
                .add_root_certificate(cert);
        }
        builder
            .build()
            .unwrap_or_else(|e| panic!("building HTTP client: {e}"))
    }

    /// Adds the node's basic-auth credentials, if it has any.
    pub fn auth(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.credentials {
            Some((user, password)) => request.basic_auth(user, Some(password)),
            None => request,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!(
            "{}/{}",
            self.url.trim_end_matches('/'),
            path.trim_start_matches('/')
        )
    }
}

/// A name no other test run uses, for indices and data streams.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A sonde binary of this workspace's build (`cargo test --workspace` builds
/// them: their crates have integration tests).
///
/// # Panics
/// When the binary is missing.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/deps/it-<hash> -> target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(PathBuf::from)
        .unwrap_or_default();
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built: run cargo build --workspace",
        path.display()
    );
    path
}

/// The shared third-party test data (`../shared/testdata` beside the
/// checkout), or `$SONDE_TESTDATA` when set.
///
/// # Panics
/// When the file is missing.
pub fn testdata(rel: &str) -> PathBuf {
    let root = std::env::var_os("SONDE_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata"));
    let path = root.join(rel);
    assert!(
        path.exists(),
        "test data missing: {} (set SONDE_TESTDATA)",
        path.display()
    );
    path
}
