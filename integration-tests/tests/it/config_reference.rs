//! docs/configuration.md is the configuration reference: every key it
//! documents exists in the config structs, and every key of the structs is
//! documented. The structs' keys come from their `Debug` output (every field
//! is printed, nested by indentation) of a config with every section present.

use std::collections::BTreeSet;

fn reference_section(heading: &str) -> String {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/configuration.md"
    ))
    .unwrap();
    let start = text
        .find(heading)
        .unwrap_or_else(|| panic!("no {heading} in the reference"));
    let rest = &text[start + heading.len()..];
    rest[..rest.find("\n## ").unwrap_or(rest.len())].to_owned()
}

/// The keys of the first column of the section's table: "`a.b` / `.c`"
/// documents a.b and a.c; "`x[].y`" is x.y; "`m.NAME`" is the map m;
/// "`m.KEY.f`" is the field f of every entry of the map m, and
/// "`m.KEY.THRESHOLD`" the thresholds flattened into an entry's table.
fn documented_keys(section: &str) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        let cell = line.split('|').nth(1).unwrap_or_default();
        let mut first = String::new();
        for item in cell.split('`').skip(1).step_by(2) {
            let key = if let Some(last) = item.strip_prefix('.') {
                let parent = first.rsplit_once('.').map_or("", |(p, _)| p);
                format!("{parent}.{last}")
            } else {
                first = item.to_owned();
                item.to_owned()
            };
            let key = key
                .replace("[]", "")
                .replace(".KEY.THRESHOLD", ".thresholds")
                .replace(".KEY.", ".");
            keys.insert(key.strip_suffix(".NAME").unwrap_or(&key).to_owned());
        }
    }
    keys
}

/// Dotted paths of the leaf fields in a pretty `Debug` rendering.
fn debug_keys(debug: &str) -> BTreeSet<String> {
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut paths = Vec::new();
    for line in debug.lines() {
        let indent = line.len() - line.trim_start().len();
        let Some((name, value)) = line.trim_start().split_once(": ") else {
            continue;
        };
        if !name.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            continue;
        }
        while stack.last().is_some_and(|(i, _)| *i >= indent) {
            stack.pop();
        }
        let mut path: Vec<&str> = stack.iter().map(|(_, n)| n.as_str()).collect();
        path.push(name);
        paths.push(path.join("."));
        if value.ends_with(['{', '(', '[']) {
            stack.push((indent, name.to_owned()));
        }
    }
    let all: BTreeSet<String> = paths.iter().cloned().collect();
    all.iter()
        .filter(|p| !all.iter().any(|q| q.starts_with(&format!("{p}."))))
        .cloned()
        .collect()
}

fn example(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/../deploy/config/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn assert_same(documented: &BTreeSet<String>, structs: &BTreeSet<String>) {
    let undocumented: Vec<_> = structs.difference(documented).collect();
    let unknown: Vec<_> = documented.difference(structs).collect();
    assert!(
        undocumented.is_empty() && unknown.is_empty(),
        "keys in the structs but not in docs/configuration.md: {undocumented:?}; documented but not in the structs: {unknown:?}"
    );
}

#[test]
fn the_collector_reference_lists_exactly_the_collectors_keys() {
    // Every optional section present (validation would refuse syslog next to
    // Elasticsearch; parsing alone does not).
    let text = example("collector.example.toml") + "\n[syslog]\naddress = \"siem:6514\"\n";
    let config: sonde_collector::config::CollectorConfig = toml::from_str(&text).unwrap();
    let structs = debug_keys(&format!("{config:#?}"));
    assert!(structs.len() > 30, "{structs:?}");
    assert_same(
        &documented_keys(&reference_section("## Collector")),
        &structs,
    );
}

#[test]
fn the_probe_reference_lists_exactly_the_probes_keys() {
    let config: sonde_probe::config::ProbeConfig =
        toml::from_str(&example("probe.example.toml")).unwrap();
    let structs = debug_keys(&format!("{config:#?}"));
    assert!(structs.len() > 15, "{structs:?}");
    assert_same(&documented_keys(&reference_section("## Probe")), &structs);
}

#[test]
fn the_key_extraction_reads_the_table_forms() {
    let keys = documented_keys(
        "| `a.tls.ca` / `.cert` | x |\n| `b.user` + `.password` | y |\n| `c.x`, `c.y` | z |\n| `d[].e` | |\n| `f.map.NAME` | |\n",
    );
    let want: BTreeSet<String> = [
        "a.tls.ca",
        "a.tls.cert",
        "b.user",
        "b.password",
        "c.x",
        "c.y",
        "d.e",
        "f.map",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(keys, want);
}
