//! Config loading shared by both binaries.
//!
//! Three steps, as in ripgrep's LowArgs/HiArgs and vector's validated sinks:
//! 1. **parse**: TOML into the raw serde structs; every unknown key is reported
//!    (not only the first), a type error names its key and line. Unknown keys
//!    are collected by this loader (`serde_ignored`) instead of
//!    `#[serde(deny_unknown_fields)]`, which would stop at the first one: config
//!    structs must only ever be read through [`load`] or [`parse`];
//! 2. **validate**: a pure check of the values ([`Validate`]) that collects every
//!    problem at once, each with the file and the dotted key;
//! 3. **build**: the I/O (reading certificates and secrets), done by the binary.
//!
//! `--check-config` runs all three and prints every problem it found.

mod secret;
mod units;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

pub use secret::{Secret, SecretError, SecretSource};
pub use units::{ByteSize, Duration};

/// One thing wrong with a config file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key, e.g. `flow.idle_timeout`; empty for the whole file.
    pub key: String,
    pub message: String,
}

/// Every problem found in one config file, in the order found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Problems {
    file: String,
    list: Vec<Problem>,
}

impl Problems {
    /// An empty list for the file called `file` (as shown to the operator).
    pub fn new(file: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            list: Vec::new(),
        }
    }

    pub fn push(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.list.push(Problem {
            key: key.into(),
            message: message.into(),
        });
    }

    /// Records `message` under `key` unless `ok`.
    pub fn require(&mut self, ok: bool, key: &str, message: impl FnOnce() -> String) {
        if !ok {
            self.push(key, message());
        }
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Problem> {
        self.list.iter()
    }

    pub fn file(&self) -> &str {
        &self.file
    }

    /// `Ok(())` when nothing was found, else the list as an error.
    pub fn into_result(self) -> Result<(), ConfigError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(self))
        }
    }
}

impl fmt::Display for Problems {
    /// One line per problem: `probe.toml: flow.idle_timeout: must be > 0 (got "0s")`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.list.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            if p.key.is_empty() {
                write!(f, "{}: {}", self.file, p.message)?;
            } else {
                write!(f, "{}: {}: {}", self.file, p.key, p.message)?;
            }
        }
        Ok(())
    }
}

/// A pure check of a parsed config: no I/O, every problem recorded.
pub trait Validate {
    fn validate(&self, problems: &mut Problems);
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(Problems),
}

impl ConfigError {
    /// The problems, when the file was read but is wrong.
    pub fn problems(&self) -> Option<&Problems> {
        match self {
            ConfigError::Invalid(p) => Some(p),
            ConfigError::Read { .. } => None,
        }
    }
}

/// Reads, parses and validates a config file.
pub fn load<T: DeserializeOwned + Validate>(path: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(&path.display().to_string(), &text)
}

/// Parses and validates config text; `file` names it in problems.
pub fn parse<T: DeserializeOwned + Validate>(file: &str, text: &str) -> Result<T, ConfigError> {
    let mut problems = Problems::new(file);
    let de = match toml::Deserializer::parse(text) {
        Ok(de) => de,
        Err(e) => {
            problems.push("", one_line(&e.to_string()));
            return Err(ConfigError::Invalid(problems));
        }
    };
    let mut unknown = Vec::new();
    let mut track = |path: serde_ignored::Path<'_>| unknown.push(path.to_string());
    let ignoring = serde_ignored::Deserializer::new(de, &mut track);
    let parsed: Result<T, _> = serde_path_to_error::deserialize(ignoring);
    for key in unknown {
        problems.push(key, "unknown key");
    }
    match parsed {
        Ok(config) => {
            config.validate(&mut problems);
            problems.into_result().map(|()| config)
        }
        Err(e) => {
            let key = e.path().to_string();
            let key = if key == "." { String::new() } else { key };
            problems.push(key, one_line(&e.into_inner().to_string()));
            Err(ConfigError::Invalid(problems))
        }
    }
}

/// toml's messages carry a multi-line source excerpt; keep the first line and
/// the message so each problem stays one line.
fn one_line(message: &str) -> String {
    let mut lines = message.lines().map(str::trim).filter(|l| !l.is_empty());
    let head = lines.next().unwrap_or_default().to_owned();
    // "TOML parse error at line 3, column 17" + the last line is the reason.
    match lines.next_back() {
        Some(reason) if head.starts_with("TOML parse error") => format!(
            "{reason} ({})",
            head.trim_start_matches("TOML parse error ")
        ),
        _ => head,
    }
}

/// `--check-config`: parse and validate, then, when that found nothing, the
/// I/O checks in `io` (certificates readable, secrets present...). Returns every
/// problem of the step that failed.
pub fn check<T: DeserializeOwned + Validate>(
    path: &Path,
    io: impl FnOnce(&T, &mut Problems),
) -> Result<T, ConfigError> {
    let config: T = load(path)?;
    let mut problems = Problems::new(path.display().to_string());
    io(&config, &mut problems);
    problems.into_result().map(|()| config)
}

/// Prints the outcome of [`check`] the way both binaries do and returns the
/// process exit code: 0 valid, 2 problems (one line each on stderr).
pub fn report_check<T>(path: &Path, outcome: &Result<T, ConfigError>) -> u8 {
    match outcome {
        Ok(_) => {
            println!("{}: configuration is valid", path.display());
            0
        }
        Err(ConfigError::Invalid(problems)) => {
            eprintln!("{problems}");
            let n = problems.len();
            eprintln!(
                "{}: {n} problem{} found",
                path.display(),
                if n == 1 { "" } else { "s" }
            );
            2
        }
        Err(e) => {
            eprintln!("{e}");
            2
        }
    }
}

/// Checks a path-valued setting is not empty.
pub fn require_path(problems: &mut Problems, key: &str, path: &Path) {
    problems.require(!path.as_os_str().is_empty(), key, || {
        "must not be empty".to_owned()
    });
}
