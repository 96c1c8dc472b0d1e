//! Secrets (Elasticsearch password, API key) come from a file or an environment
//! variable, never from the config text or the command line, and never print.
//!
//! ```toml
//! password = { file = "/etc/sonde/es-password" }
//! api_key  = { env = "SONDE_ES_API_KEY" }
//! ```

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

use super::Problems;

/// Where a secret is read from.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretSource {
    /// A file holding the secret; one trailing newline is ignored.
    File(PathBuf),
    /// An environment variable.
    Env(String),
}

/// A secret value; `Debug` and `Display` print `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read secret file {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("environment variable {0} is not set or not UTF-8")]
    Env(String),
    #[error("secret from {0} is empty")]
    Empty(String),
}

impl SecretSource {
    /// Pure checks: a path or a plausible variable name.
    pub fn validate(&self, key: &str, problems: &mut Problems) {
        match self {
            SecretSource::File(path) => super::require_path(problems, key, path),
            SecretSource::Env(name) => problems.require(
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
                key,
                || format!("invalid environment variable name \"{name}\""),
            ),
        }
    }

    /// Reads the secret.
    pub fn read(&self) -> Result<Secret, SecretError> {
        let (value, origin) = match self {
            SecretSource::File(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| SecretError::File {
                    path: path.clone(),
                    source,
                })?;
                (text, path.display().to_string())
            }
            SecretSource::Env(name) => (
                std::env::var(name).map_err(|_| SecretError::Env(name.clone()))?,
                format!("${name}"),
            ),
        };
        let value = value
            .strip_suffix('\n')
            .map(|v| v.strip_suffix('\r').unwrap_or(v))
            .unwrap_or(&value);
        if value.is_empty() {
            return Err(SecretError::Empty(origin));
        }
        Ok(Secret(value.to_owned()))
    }
}

impl Secret {
    /// The secret itself; the only way to see it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_from_file_drops_one_trailing_newline_and_never_prints() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "hunter2\n").unwrap();
        let secret = SecretSource::File(path).read().unwrap();
        assert_eq!(secret.expose(), "hunter2");
        assert_eq!(format!("{secret:?} {secret}"), "Secret(***) ***");
    }

    #[test]
    fn empty_or_missing_secrets_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();
        assert!(matches!(
            SecretSource::File(empty).read(),
            Err(SecretError::Empty(_))
        ));
        let missing = dir.path().join("missing");
        assert!(matches!(
            SecretSource::File(missing).read(),
            Err(SecretError::File { .. })
        ));
        let var = "SONDE_TEST_SECRET_THAT_IS_NOT_SET";
        assert!(matches!(
            SecretSource::Env(var.into()).read(),
            Err(SecretError::Env(_))
        ));
    }
}
