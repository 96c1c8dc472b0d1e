//! deploy/kibana/sonde.ndjson: every field a visualization or map uses
//! exists in the collector's index templates with a type that works for its
//! use (numbers for sums, aggregatable fields for terms, geo_point for maps),
//! and every reference between the saved objects resolves.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;
use sonde_collector::sink::elasticsearch::templates;
use sonde_common::ecs::fields::Kind;

fn objects() -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/kibana/sonde.ndjson");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Dotted field name -> mapping type, from a template's mappings.
fn mapped(kind: Kind) -> HashMap<String, String> {
    fn walk(prefix: &str, props: &Value, out: &mut HashMap<String, String>) {
        let Some(map) = props.as_object() else { return };
        for (name, def) in map {
            let path = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}.{name}")
            };
            if let Some(ty) = def["type"].as_str() {
                out.insert(path.clone(), ty.to_owned());
            }
            walk(&path, &def["properties"], out);
        }
    }
    let mut out = HashMap::new();
    walk("", &templates::mappings(kind)["properties"], &mut out);
    out
}

fn json_attr(object: &Value, key: &str) -> Value {
    serde_json::from_str(object["attributes"][key].as_str().unwrap()).unwrap()
}

/// The data view a visualization or map reads.
fn kind_of(object: &Value) -> Kind {
    let view = object["references"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == "index-pattern")
        .unwrap()["id"]
        .as_str()
        .unwrap();
    match view {
        "sonde-flows" => Kind::Flow,
        "sonde-alerts" => Kind::Alert,
        other => panic!("unknown data view {other}"),
    }
}

#[test]
fn every_field_the_dashboards_use_is_mapped_with_a_usable_type() {
    let (flows, alerts) = (mapped(Kind::Flow), mapped(Kind::Alert));
    let mut checked = 0;
    for object in objects() {
        let title = object["attributes"]["title"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        let fields = match kind_of_opt(&object) {
            Some(Kind::Flow) => &flows,
            Some(Kind::Alert) => &alerts,
            None => continue,
        };
        let mut uses: Vec<(String, &str)> = Vec::new();
        match object["type"].as_str().unwrap() {
            "visualization" => {
                for agg in json_attr(&object, "visState")["aggs"].as_array().unwrap() {
                    if let Some(field) = agg["params"]["field"].as_str() {
                        let use_ = match agg["type"].as_str().unwrap() {
                            "sum" | "avg" | "max" | "min" => "number",
                            "date_histogram" => "date",
                            _ => "aggregatable",
                        };
                        uses.push((field.to_owned(), use_));
                    }
                }
            }
            "map" => {
                for layer in json_attr(&object, "layerListJSON").as_array().unwrap() {
                    let source = &layer["sourceDescriptor"];
                    uses.push((source["geoField"].as_str().unwrap().to_owned(), "geo"));
                    for m in source["metrics"].as_array().into_iter().flatten() {
                        uses.push((m["field"].as_str().unwrap().to_owned(), "number"));
                    }
                }
            }
            _ => continue,
        }
        for (field, use_) in uses {
            let ty = fields
                .get(&field)
                .unwrap_or_else(|| panic!("{title}: {field} is not in the index template"));
            let ok = match use_ {
                "number" => matches!(ty.as_str(), "long" | "double"),
                "date" => ty == "date",
                "geo" => ty == "geo_point",
                _ => ty != "text",
            };
            assert!(ok, "{title}: {field} is {ty}, not usable as {use_}");
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} field uses checked");
}

fn kind_of_opt(object: &Value) -> Option<Kind> {
    matches!(object["type"].as_str(), Some("visualization" | "map")).then(|| kind_of(object))
}

#[test]
fn every_reference_between_saved_objects_resolves() {
    let objects = objects();
    let ids: Vec<(String, String)> = objects
        .iter()
        .map(|o| {
            (
                o["type"].as_str().unwrap().to_owned(),
                o["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for object in &objects {
        let refs = object["references"].as_array().unwrap();
        for r in refs {
            let wanted = (
                r["type"].as_str().unwrap().to_owned(),
                r["id"].as_str().unwrap().to_owned(),
            );
            assert!(
                ids.contains(&wanted),
                "{}: dangling reference {wanted:?}",
                object["id"]
            );
        }
        let names: Vec<&str> = refs.iter().map(|r| r["name"].as_str().unwrap()).collect();
        if object["type"] == "dashboard" {
            for panel in json_attr(object, "panelsJSON").as_array().unwrap() {
                let name = panel["panelRefName"].as_str().unwrap();
                assert!(
                    names.contains(&name),
                    "{}: panel {name} has no reference",
                    object["id"]
                );
            }
        }
        if let Some(source) =
            object["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"].as_str()
        {
            let source: Value = serde_json::from_str(source).unwrap();
            if let Some(name) = source["indexRefName"].as_str() {
                assert!(
                    names.contains(&name),
                    "{}: {name} has no reference",
                    object["id"]
                );
            }
        }
    }
}

#[test]
fn the_data_views_match_the_default_targets() {
    for object in objects().iter().filter(|o| o["type"] == "index-pattern") {
        let title = object["attributes"]["title"].as_str().unwrap();
        let prefix = title.strip_suffix('*').unwrap();
        assert!(
            ["logs-sonde.conn-so", "logs-sonde.alert-so"]
                .iter()
                .any(|t| t.starts_with(prefix)),
            "{title} matches no default target"
        );
        assert_eq!(object["attributes"]["timeFieldName"], "@timestamp");
    }
}
