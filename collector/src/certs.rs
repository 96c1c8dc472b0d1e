//! `sonde-collector certs init`: a quick-start PKI for one collector and its
//! probes: a CA, a collector server certificate and one client certificate per
//! probe (ECDSA P-256, PEM). Private keys are written 0600; existing files are
//! never overwritten without `--force`.
//!
//! Everything is generated in memory first, so a failure leaves no half-written
//! set behind.

use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use sonde_common::pki::{Authority, PkiError, Validity};

/// What `certs init` was asked to do.
#[derive(Clone, Debug)]
pub struct InitRequest {
    pub dir: PathBuf,
    pub collector_name: String,
    /// Extra names or IP addresses the collector is reached by.
    pub collector_alt_names: Vec<String>,
    pub probes: Vec<String>,
    /// Validity of the collector and probe certificates.
    pub days: u32,
    pub force: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum CertsError {
    #[error(
        "invalid name \"{0}\": use letters, digits, '-' and '.' (a DNS name), at most 253 characters"
    )]
    InvalidName(String),
    #[error("probe name \"{0}\" is given twice")]
    DuplicateProbe(String),
    #[error("at least one --probe NAME is required")]
    NoProbes,
    #[error("--days must be between 1 and 3650 (got {0})")]
    Days(u32),
    #[error("refusing to overwrite existing files (use --force to replace them): {}", list(.0))]
    Exists(Vec<PathBuf>),
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl CertsError {
    /// Usage mistakes exit 2, failures while writing 1.
    pub fn exit_code(&self) -> u8 {
        match self {
            CertsError::Pki(_) | CertsError::Write { .. } => 1,
            _ => 2,
        }
    }
}

fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// One file to write.
#[derive(Debug)]
struct Output {
    path: PathBuf,
    contents: String,
    private: bool,
    what: String,
}

/// Generates the set and writes it; returns the report to print.
pub fn init(req: &InitRequest) -> Result<String, CertsError> {
    validate(req)?;
    let ca_validity = Validity::days(3650);
    let validity = Validity::days(i64::from(req.days));
    let ca = Authority::generate(&format!("sonde CA ({})", req.collector_name), ca_validity)?;
    let server = ca.issue_server(&req.collector_name, &req.collector_alt_names, validity)?;

    let dir = &req.dir;
    let mut outputs = vec![
        output(
            dir,
            "ca.pem",
            ca.cert_pem(),
            false,
            "CA certificate: give it to the collector and every probe",
        ),
        output(
            dir,
            "ca.key",
            ca.key_pem(),
            true,
            "CA private key: keep it offline, it signs new certificates",
        ),
        output(
            dir,
            "collector.pem",
            &server.cert_pem,
            false,
            "collector certificate",
        ),
        output(
            dir,
            "collector.key",
            &server.key_pem,
            true,
            "collector private key",
        ),
    ];
    for probe in &req.probes {
        let issued = ca.issue_client(probe, validity)?;
        outputs.push(output(
            dir,
            &format!("probe-{probe}.pem"),
            &issued.cert_pem,
            false,
            &format!("certificate of probe {probe}"),
        ));
        outputs.push(output(
            dir,
            &format!("probe-{probe}.key"),
            &issued.key_pem,
            true,
            &format!("private key of probe {probe}"),
        ));
    }

    if !req.force {
        let existing: Vec<PathBuf> = outputs
            .iter()
            .filter(|o| o.path.exists())
            .map(|o| o.path.clone())
            .collect();
        if !existing.is_empty() {
            return Err(CertsError::Exists(existing));
        }
    }
    std::fs::create_dir_all(dir).map_err(|source| CertsError::Write {
        path: dir.clone(),
        source,
    })?;
    for o in &outputs {
        write_file(&o.path, &o.contents, o.private, req.force)?;
    }
    Ok(report(req, &outputs))
}

fn output(dir: &Path, name: &str, contents: &str, private: bool, what: &str) -> Output {
    Output {
        path: dir.join(name),
        contents: contents.to_owned(),
        private,
        what: what.to_owned(),
    }
}

fn validate(req: &InitRequest) -> Result<(), CertsError> {
    if !(1..=3650).contains(&req.days) {
        return Err(CertsError::Days(req.days));
    }
    if req.probes.is_empty() {
        return Err(CertsError::NoProbes);
    }
    for name in std::iter::once(&req.collector_name).chain(&req.probes) {
        if !is_dns_name(name) {
            return Err(CertsError::InvalidName(name.clone()));
        }
    }
    for alt in &req.collector_alt_names {
        if alt.parse::<std::net::IpAddr>().is_err() && !is_dns_name(alt) {
            return Err(CertsError::InvalidName(alt.clone()));
        }
    }
    let mut seen = std::collections::HashSet::new();
    for probe in &req.probes {
        if !seen.insert(probe.to_ascii_lowercase()) {
            return Err(CertsError::DuplicateProbe(probe.clone()));
        }
    }
    Ok(())
}

/// A DNS name made of labels of letters, digits and inner hyphens. Also what
/// keeps probe names safe to use in file names.
fn is_dns_name(name: &str) -> bool {
    name.len() <= 253
        && !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

fn write_file(path: &Path, contents: &str, private: bool, force: bool) -> Result<(), CertsError> {
    let mode = if private { 0o600 } else { 0o644 };
    let err = |source| CertsError::Write {
        path: path.to_owned(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).mode(mode);
    if force {
        options.create(true).truncate(true);
    } else {
        // create_new: a file that appeared since the check is still not overwritten.
        options.create_new(true);
    }
    let mut file = options.open(path).map_err(err)?;
    // `mode` applies only to new files: tighten a replaced one too.
    file.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(err)?;
    file.write_all(contents.as_bytes()).map_err(err)?;
    file.sync_all().map_err(err)
}

fn report(req: &InitRequest, outputs: &[Output]) -> String {
    let mut out = String::new();
    for o in outputs {
        let _ = writeln!(
            out,
            "wrote {} ({}{})",
            o.path.display(),
            o.what,
            if o.private { ", mode 0600" } else { "" }
        );
    }
    let dir = req.dir.display();
    let probe = req.probes.first().map_or("NAME", String::as_str);
    let _ = write!(
        out,
        "\nNext steps:\n\
         1. On the collector, in collector.toml:\n\
         \x20    [server.tls]\n\
         \x20    ca = \"{dir}/ca.pem\"\n\
         \x20    cert = \"{dir}/collector.pem\"\n\
         \x20    key = \"{dir}/collector.key\"\n\
         2. Copy ca.pem, probe-{probe}.pem and probe-{probe}.key to probe {probe} (keep the key 0600),\n\
         \x20  and point [collector] endpoint at \"{name}:PORT\" in its probe.toml.\n\
         3. Move ca.key somewhere offline; only new certificates need it.\n\
         4. Check both configs: sonde-collector --check-config collector.toml, sonde-probe --check-config probe.toml\n",
        name = req.collector_name,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_names_must_be_dns_names() {
        assert!(is_dns_name("probe-01.branch.example"));
        assert!(!is_dns_name("../etc/passwd"));
        assert!(!is_dns_name("a b"));
        assert!(!is_dns_name("-probe"));
        assert!(!is_dns_name(""));
        assert!(!is_dns_name("a..b"));
    }
}
