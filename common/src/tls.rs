//! TLS for the probe -> collector link: rustls configurations for mutual TLS 1.3,
//! PEM loading, and a peer's identity taken from its certificate.
//!
//! - The server (collector) requires a client certificate chaining to the
//!   configured CA; there is no anonymous mode.
//! - The client (probe) presents its certificate and trusts only the configured
//!   CA for the server, checked against the configured server name.
//! - Only TLS 1.3 with the `ring` provider; ALPN `h2` for gRPC.
//!
//! Identity: the first DNS name in the certificate's subjectAltName, else the
//! subject's common name (see [`identity_of`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use serde::Deserialize;

use crate::config::{Problems, require_path};

/// The ALPN protocol gRPC runs on.
pub const ALPN_H2: &[u8] = b"h2";

/// Certificate files of one side of the link.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct TlsFiles {
    /// CA certificate(s), PEM: the peer's certificate must chain to one of them.
    pub ca: PathBuf,
    /// This side's certificate chain, PEM, leaf first.
    pub cert: PathBuf,
    /// This side's private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {what} {path}: {source}")]
    Read {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what} {path} holds no usable PEM {kind}: {detail}")]
    Pem {
        what: &'static str,
        path: PathBuf,
        kind: &'static str,
        detail: String,
    },
    #[error("CA file {path}: {detail}")]
    Ca { path: PathBuf, detail: String },
    #[error("invalid server name \"{0}\"")]
    ServerName(String),
    #[error("certificate {path} does not match key {key}: {source}")]
    Mismatch {
        path: PathBuf,
        key: PathBuf,
        source: rustls::Error,
    },
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("client verifier: {0}")]
    Verifier(String),
    #[error("certificate cannot be parsed: {0}")]
    BadCertificate(String),
    #[error("certificate has neither a DNS subjectAltName nor a common name")]
    NoIdentity,
}

impl TlsFiles {
    /// Pure checks, keys reported under `prefix` (e.g. `collector.tls`).
    pub fn validate(&self, prefix: &str, problems: &mut Problems) {
        require_path(problems, &format!("{prefix}.ca"), &self.ca);
        require_path(problems, &format!("{prefix}.cert"), &self.cert);
        require_path(problems, &format!("{prefix}.key"), &self.key);
    }

    /// Loads the three files; for `--check-config` and start-up.
    pub fn load(&self) -> Result<LoadedTls, TlsError> {
        Ok(LoadedTls {
            roots: load_roots(&self.ca)?,
            chain: load_certs(&self.cert, "certificate")?,
            key: load_key(&self.key)?,
            files: self.clone(),
        })
    }
}

/// Certificate files read and parsed, ready to build a rustls config.
#[derive(Debug)]
pub struct LoadedTls {
    pub roots: RootCertStore,
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    files: TlsFiles,
}

impl LoadedTls {
    /// The identity in this side's own certificate.
    pub fn identity(&self) -> Result<String, TlsError> {
        let leaf = self.chain.first().ok_or(TlsError::NoIdentity)?;
        identity_of(leaf)
    }

    /// A server config that requires a client certificate from the CA.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, TlsError> {
        let provider = provider();
        let verifier = WebPkiClientVerifier::builder_with_provider(
            Arc::new(self.roots.clone()),
            provider.clone(),
        )
        .build()
        .map_err(|e| TlsError::Verifier(e.to_string()))?;
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_client_cert_verifier(verifier)
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .map_err(|source| self.mismatch(source))?;
        config.alpn_protocols = vec![ALPN_H2.to_vec()];
        Ok(Arc::new(config))
    }

    /// A client config that presents this side's certificate and trusts only the CA.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, TlsError> {
        let mut config = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_root_certificates(self.roots.clone())
            .with_client_auth_cert(self.chain.clone(), self.key.clone_key())
            .map_err(|source| self.mismatch(source))?;
        config.alpn_protocols = vec![ALPN_H2.to_vec()];
        Ok(Arc::new(config))
    }

    fn mismatch(&self, source: rustls::Error) -> TlsError {
        TlsError::Mismatch {
            path: self.files.cert.clone(),
            key: self.files.key.clone(),
            source,
        }
    }
}

/// The crypto provider sonde uses everywhere: ring.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Parses a server name (DNS name or IP address) for the client side.
pub fn server_name(name: &str) -> Result<ServerName<'static>, TlsError> {
    ServerName::try_from(name.to_owned()).map_err(|_| TlsError::ServerName(name.to_owned()))
}

/// All certificates in a PEM file (at least one).
pub fn load_certs(
    path: &Path,
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(path, what)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, what, "certificate", e.to_string()))?;
    if certs.is_empty() {
        return Err(pem_error(
            path,
            what,
            "certificate",
            "no CERTIFICATE block".into(),
        ));
    }
    Ok(certs)
}

/// The first private key in a PEM file.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read(path, "private key")?;
    PrivateKeyDer::from_pem_slice(&bytes)
        .map_err(|e| pem_error(path, "private key", "private key", e.to_string()))
}

/// A root store holding every certificate of a CA file.
pub fn load_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(path, "CA file")? {
        roots.add(cert).map_err(|e| TlsError::Ca {
            path: path.to_owned(),
            detail: e.to_string(),
        })?;
    }
    Ok(roots)
}

fn read(path: &Path, what: &'static str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_owned(),
        source,
    })
}

fn pem_error(path: &Path, what: &'static str, kind: &'static str, detail: String) -> TlsError {
    TlsError::Pem {
        what,
        path: path.to_owned(),
        kind,
        detail,
    }
}

/// A peer's identity: the first DNS subjectAltName, else the subject CN.
///
/// The collector stamps this on every record of the peer as `observer.name`.
pub fn identity_of(cert: &CertificateDer<'_>) -> Result<String, TlsError> {
    use x509_parser::extensions::GeneralName;

    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref())
        .map_err(|e| TlsError::BadCertificate(e.to_string()))?;
    if let Ok(Some(san)) = parsed.subject_alternative_name() {
        for name in &san.value.general_names {
            if let GeneralName::DNSName(dns) = name
                && !dns.is_empty()
            {
                return Ok(dns.to_ascii_lowercase());
            }
        }
    }
    parsed
        .subject()
        .iter_common_name()
        .find_map(|cn| {
            cn.as_str()
                .ok()
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        })
        .ok_or(TlsError::NoIdentity)
}

/// Subject and expiry of a certificate, for log lines and `check` output.
pub fn describe(cert: &CertificateDer<'_>) -> Result<CertSummary, TlsError> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref())
        .map_err(|e| TlsError::BadCertificate(e.to_string()))?;
    let validity = parsed.validity();
    Ok(CertSummary {
        subject: parsed.subject().to_string(),
        issuer: parsed.issuer().to_string(),
        not_before: validity.not_before.to_datetime(),
        not_after: validity.not_after.to_datetime(),
    })
}

/// What an operator wants to know about a certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertSummary {
    pub subject: String,
    pub issuer: String,
    pub not_before: time::OffsetDateTime,
    pub not_after: time::OffsetDateTime,
}

/// A TLS configuration that follows its files: rebuilt when the CA,
/// certificate or key changes on disk (size or modification time), so
/// certificates rotate without a restart. A rebuild that fails (a half-written
/// file, a key that does not match) keeps the previous configuration and says
/// why in the log; the next change is tried again.
pub struct Reloading<T> {
    files: TlsFiles,
    build: fn(&LoadedTls) -> Result<Arc<T>, TlsError>,
    state: std::sync::Mutex<(Stamp, Arc<T>)>,
}

/// Size and modification time of the three files.
type Stamp = [Option<(u64, std::time::SystemTime)>; 3];

fn stamp(files: &TlsFiles) -> Stamp {
    [&files.ca, &files.cert, &files.key].map(|p| {
        std::fs::metadata(p)
            .ok()
            .and_then(|m| Some((m.len(), m.modified().ok()?)))
    })
}

impl<T> std::fmt::Debug for Reloading<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloading")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl Reloading<ServerConfig> {
    /// A server configuration (see [`LoadedTls::server_config`]).
    pub fn server(files: TlsFiles) -> Result<Self, TlsError> {
        Self::new(files, LoadedTls::server_config)
    }
}

impl Reloading<ClientConfig> {
    /// A client configuration (see [`LoadedTls::client_config`]).
    pub fn client(files: TlsFiles) -> Result<Self, TlsError> {
        Self::new(files, LoadedTls::client_config)
    }
}

impl<T> Reloading<T> {
    fn new(
        files: TlsFiles,
        build: fn(&LoadedTls) -> Result<Arc<T>, TlsError>,
    ) -> Result<Self, TlsError> {
        let stamped = stamp(&files);
        let config = build(&files.load()?)?;
        Ok(Self {
            files,
            build,
            state: std::sync::Mutex::new((stamped, config)),
        })
    }

    /// The configuration for the next connection, rebuilt first if a file changed.
    pub fn current(&self) -> Arc<T> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = stamp(&self.files);
        if now != state.0 {
            state.0 = now;
            match self.files.load().and_then(|loaded| (self.build)(&loaded)) {
                Ok(config) => {
                    tracing::info!(cert = %self.files.cert.display(), "Certificates changed on disk: reloaded.");
                    state.1 = config;
                }
                Err(e) => {
                    tracing::error!(cert = %self.files.cert.display(), error = %e, "Certificates changed on disk but cannot be used; keeping the previous ones.");
                }
            }
        }
        Arc::clone(&state.1)
    }
}
