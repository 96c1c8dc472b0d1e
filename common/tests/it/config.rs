//! Config loading: unknown keys, type errors, validation problems, all at once.

use serde::Deserialize;
use sonde_common::config::{self, ByteSize, Duration, Problems, SecretSource, Validate};

#[derive(Debug, Deserialize)]
struct Demo {
    flow: Flow,
    #[serde(default)]
    password: Option<SecretSource>,
}

#[derive(Debug, Deserialize)]
struct Flow {
    idle_timeout: Duration,
    max_memory: ByteSize,
}

impl Validate for Demo {
    fn validate(&self, p: &mut Problems) {
        p.require(
            !self.flow.idle_timeout.is_zero(),
            "flow.idle_timeout",
            || format!("must be > 0 (got \"{}\")", self.flow.idle_timeout),
        );
        p.require(
            self.flow.max_memory >= ByteSize::mib(1),
            "flow.max_memory",
            || format!("must be at least 1MiB (got {})", self.flow.max_memory),
        );
        if let Some(pw) = &self.password {
            pw.validate("password", p);
        }
    }
}

#[test]
fn valid_config_parses_units_and_secret_sources() {
    let text = "password = { env = \"ES_PW\" }\n[flow]\nidle_timeout = \"1m 30s\"\nmax_memory = \"64MiB\"\n";
    let demo: Demo = config::parse("demo.toml", text).unwrap();
    assert_eq!(demo.flow.idle_timeout, Duration::from_secs(90));
    assert_eq!(demo.flow.max_memory, ByteSize::mib(64));
    assert_eq!(demo.password, Some(SecretSource::Env("ES_PW".into())));
}

#[test]
fn every_validation_problem_is_reported_with_file_and_key() {
    let text = "password = { env = \"NOT A NAME\" }\n[flow]\nidle_timeout = \"0s\"\nmax_memory = \"1KiB\"\n";
    let err = config::parse::<Demo>("probe.toml", text).unwrap_err();
    let problems = err.problems().unwrap();
    assert_eq!(problems.len(), 3, "{err}");
    let text = err.to_string();
    assert!(
        text.contains("probe.toml: flow.idle_timeout: must be > 0 (got \"0s\")"),
        "{text}"
    );
    assert!(
        text.contains("probe.toml: flow.max_memory: must be at least 1MiB (got 1KiB)"),
        "{text}"
    );
    assert!(
        text.contains("probe.toml: password: invalid environment variable name"),
        "{text}"
    );
}

#[test]
fn every_unknown_key_is_reported_not_just_the_first() {
    let text = "colour = 1\n[flow]\nidle_timeout = \"10s\"\nmax_memory = \"2MiB\"\nidel_timeout = \"5s\"\n";
    let err = config::parse::<Demo>("c.toml", text).unwrap_err();
    let keys: Vec<_> = err
        .problems()
        .unwrap()
        .iter()
        .map(|p| p.key.clone())
        .collect();
    assert_eq!(keys, ["colour", "flow.idel_timeout"], "{err}");
}

#[test]
fn a_type_error_names_its_key_and_line() {
    let text = "[flow]\nidle_timeout = \"30\"\nmax_memory = \"2MiB\"\n";
    let err = config::parse::<Demo>("c.toml", text)
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("c.toml: flow.idle_timeout: "), "{err}");
    assert!(err.contains("no unit"), "{err}");
    assert!(err.contains("line 2"), "{err}");
}

#[test]
fn broken_toml_is_one_clear_problem() {
    let err = config::parse::<Demo>("c.toml", "[flow\n")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("c.toml: "), "{err}");
    assert!(err.contains("line 1"), "{err}");
}
