//! Tests of the rule catalogue and its config.

use super::*;

#[test]
fn keys_are_unique_and_snake_case() {
    let mut keys: Vec<&str> = Rule::ALL.iter().map(|r| r.key()).collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), Rule::ALL.len());
    for key in keys {
        assert!(
            key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{key}"
        );
        assert_eq!(Rule::from_key(key).map(Rule::key), Some(key));
    }
}

#[test]
fn config_overrides_defaults_and_problems_are_reported() {
    let config: BTreeMap<String, RuleConfig> = toml::from_str(
        r#"
        [syn_scan]
        enabled = false
        severity = "critical"
        attempts = 100
        [elephant_flow]
        bytes = -1
        [no_such_rule]
        enabled = true
        [tcp_zero_window]
        window = 3
        "#,
    )
    .expect("valid TOML");
    let rules = Rules::new(&config);
    assert!(!rules.enabled(Rule::SynScan));
    assert!(rules.alert(Rule::SynScan).is_none());
    assert_eq!(rules.severity(Rule::SynScan), Severity::Critical);
    assert_eq!(rules.threshold(Rule::SynScan, "attempts"), 100.0);
    // An invalid value keeps the default.
    assert_eq!(
        rules.threshold(Rule::ElephantFlow, "bytes"),
        1_073_741_824.0
    );
    let mut p = Problems::new("probe.toml");
    validate(&config, &mut p);
    let text = p.to_string();
    assert!(
        text.contains("alert.rules.elephant_flow.bytes: must be a number >= 0"),
        "{text}"
    );
    assert!(
        text.contains("alert.rules.no_such_rule: unknown rule"),
        "{text}"
    );
    assert!(
        text.contains(
            "alert.rules.tcp_zero_window.window: unknown setting; this rule has no thresholds"
        ),
        "{text}"
    );
}

#[test]
fn docs_list_every_rule_with_its_thresholds() {
    let docs = include_str!("../../../docs/alerts.md");
    for rule in Rule::ALL {
        let row = docs
            .lines()
            .find(|l| l.starts_with(&format!("| `{}` |", rule.key())))
            .unwrap_or_else(|| panic!("docs/alerts.md has no row for {}", rule.key()));
        for t in rule.thresholds() {
            assert!(
                row.contains(&format!("`{}`", t.name)),
                "docs/alerts.md: {} does not name its threshold {}",
                rule.key(),
                t.name
            );
        }
    }
}

#[test]
fn an_alert_carries_the_catalogue_fields() {
    let alert = Rules::default()
        .alert(Rule::LowGoodput)
        .expect("enabled by default");
    assert_eq!(alert.rule_key, "low_goodput");
    assert_eq!(alert.rule_name, "Low Goodput Ratio");
    assert_eq!(alert.severity, Severity::Low as i32);
    assert_eq!(alert.source, v1::AlertSource::Sonde as i32);
    assert_eq!(alert.entity, EntityKind::Flow as i32);
    assert_eq!(alert.count, 1);
}
