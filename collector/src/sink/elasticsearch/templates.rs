//! Index templates: one component template with the mappings of each
//! document kind (built from `sonde_common::ecs::fields`,
//! core types only), and one composable template per target, with the
//! settings (ILM policy), that makes a data stream (or matches the daily
//! indices).
//!
//! Every template carries `_meta.sonde_version`; one already installed by a
//! newer sonde is left alone, so an old collector never downgrades mappings
//! a newer one relies on.

use serde_json::{Map, Value, json};
use sonde_common::ecs::fields::{self, FieldType, Kind};

use super::Target;

/// The sonde version written into templates.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Higher than Elastic's built-in `logs` template (100), so ours applies to
/// `logs-sonde.*`.
const PRIORITY: u32 = 500;

/// Longest keyword indexed (longer values stay in `_source`).
const IGNORE_ABOVE: u32 = 1024;

/// A template to install: its API path and body.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub path: String,
    pub body: Value,
}

/// `major * 1_000_000 + minor * 1_000 + patch`, Elasticsearch's integer
/// template `version`.
pub fn version_number(version: &str) -> Option<u64> {
    let mut parts = version
        .split(['.', '-', '+'])
        .map(|p| p.parse::<u64>().ok());
    let (major, minor, patch) = (parts.next()??, parts.next()??, parts.next()??);
    Some(major * 1_000_000 + minor.min(999) * 1_000 + patch.min(999))
}

fn meta() -> Value {
    json!({"managed_by": "sonde", "sonde_version": VERSION})
}

/// A node of the mapping tree: a field with a type, or an object.
#[derive(Debug, Default)]
struct Node {
    ty: Option<FieldType>,
    /// New keys below it are mapped by the dynamic template.
    open: bool,
    children: std::collections::BTreeMap<String, Node>,
}

impl Node {
    fn at(&mut self, dotted: &str) -> &mut Node {
        dotted.split('.').fold(self, |node, part| {
            node.children.entry(part.to_owned()).or_default()
        })
    }

    fn properties(&self) -> Value {
        let map: Map<String, Value> = self
            .children
            .iter()
            .map(|(name, child)| (name.clone(), child.to_json()))
            .collect();
        Value::Object(map)
    }

    fn to_json(&self) -> Value {
        match self.ty {
            Some(FieldType::Keyword) => json!({"type": "keyword", "ignore_above": IGNORE_ABOVE}),
            Some(ty) if ty != FieldType::Object => json!({"type": ty.as_str()}),
            _ if self.open => {
                json!({"type": "object", "dynamic": true, "properties": self.properties()})
            }
            _ => json!({"properties": self.properties()}),
        }
    }
}

/// The mappings of `kind`: every field of `sonde_common::ecs::fields`.
pub fn mappings(kind: Kind) -> Value {
    let mut root = Node::default();
    for (name, ty) in fields::all(kind) {
        root.at(&name).ty = Some(ty);
    }
    // Open-ended objects: whatever key the probe sends is a keyword there.
    for prefix in fields::DYNAMIC_KEYWORD_PREFIXES {
        root.at(prefix).open = true;
    }
    let open: Vec<String> = fields::DYNAMIC_KEYWORD_PREFIXES
        .iter()
        .map(|p| format!("{p}.*"))
        .collect();
    json!({
        // Fields sonde does not know stay in _source, unindexed: never a
        // mapping explosion, never a rejected document.
        "dynamic": false,
        "dynamic_templates": [{
            "sonde_open_keywords": {
                "path_match": open,
                "mapping": {"type": "keyword", "ignore_above": IGNORE_ABOVE}
            }
        }],
        "properties": root.properties(),
    })
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Flow => "conn",
        Kind::Alert => "alert",
    }
}

/// The index template's name for `target`: one per target, so collectors
/// writing to different targets (or tests) never overwrite each other's.
pub fn index_template_name(kind: Kind, target: &Target) -> String {
    let slug = target
        .pattern()
        .trim_end_matches('*')
        .trim_end_matches(['-', '.', '_'])
        .to_owned();
    format!("sonde-{}-{slug}", kind_name(kind))
}

/// Every template, in the order they must be installed: the mappings of
/// each kind (a component template shared by every target of that kind),
/// then one composable template per target with its settings.
pub fn all(flows: &Target, alerts: &Target, ilm_policy: Option<&str>) -> Vec<Template> {
    let mut settings = json!({"index": {"mapping": {"total_fields": {"limit": 2000}}}});
    if let Some(policy) = ilm_policy {
        settings["index"]["lifecycle"] = json!({"name": policy});
    }
    let mut out = Vec::new();
    for (kind, target) in [(Kind::Flow, flows), (Kind::Alert, alerts)] {
        let name = kind_name(kind);
        let mappings_name = format!("sonde-{name}@mappings");
        out.push(Template {
            path: format!("/_component_template/{mappings_name}"),
            body: json!({"template": {"mappings": mappings(kind)}, "version": version_number(VERSION), "_meta": meta()}),
        });
        let mut index_template = json!({
            "index_patterns": [target.pattern()],
            "composed_of": [mappings_name],
            "template": {"settings": settings.clone()},
            "priority": PRIORITY,
            "version": version_number(VERSION),
            "_meta": meta(),
        });
        if target.is_data_stream() {
            index_template["data_stream"] = json!({});
        }
        out.push(Template {
            path: format!("/_index_template/{}", index_template_name(kind, target)),
            body: index_template,
        });
    }
    out
}

/// The `_meta.sonde_version` of an installed template (`GET` response body
/// of either template API), if any.
pub fn installed_version(response: &Value) -> Option<String> {
    let entry = response
        .get("index_templates")
        .or_else(|| response.get("component_templates"))?
        .as_array()?
        .first()?;
    let template = entry
        .get("index_template")
        .or_else(|| entry.get("component_template"))?;
    template
        .get("_meta")?
        .get("sonde_version")?
        .as_str()
        .map(str::to_owned)
}

/// Whether a template of `installed` version must be left alone.
pub fn is_newer(installed: &str) -> bool {
    match (version_number(installed), version_number(VERSION)) {
        (Some(theirs), Some(ours)) => theirs > ours,
        // Unreadable: not ours to judge, keep it.
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        assert_eq!(version_number("0.1.0"), Some(1_000));
        assert_eq!(version_number("1.10.2"), Some(1_010_002));
        assert_eq!(version_number("2.0.0-rc.1"), Some(2_000_000));
        assert_eq!(version_number("junk"), None);
        assert!(is_newer("99.0.0"));
        assert!(!is_newer("0.0.1"));
        assert!(!is_newer(VERSION));
        assert!(is_newer("not a version"));
    }

    #[test]
    fn mappings_have_every_field_with_its_type() {
        let m = mappings(Kind::Flow);
        let p = &m["properties"];
        assert_eq!(p["source"]["properties"]["ip"]["type"], "ip");
        assert_eq!(p["@timestamp"]["type"], "date");
        assert_eq!(
            p["destination"]["properties"]["geo"]["properties"]["location"]["type"],
            "geo_point"
        );
        assert_eq!(
            p["network"]["properties"]["community_id"]["type"],
            "keyword"
        );
        assert_eq!(
            p["sonde"]["properties"]["flow"]["properties"]["risks"]["properties"]["score"]["type"],
            "long"
        );
        assert_eq!(
            p["sonde"]["properties"]["l7"]["properties"]["extra"]["dynamic"],
            true
        );
        assert_eq!(m["dynamic"], false);
        let alert = mappings(Kind::Alert);
        assert_eq!(
            alert["properties"]["rule"]["properties"]["name"]["type"],
            "keyword"
        );
        assert_eq!(alert["properties"]["tags"]["type"], "keyword");
        // Alerts carry their flow's context: the flow fields are mapped too.
        assert_eq!(
            alert["properties"]["connection"]["properties"]["state"]["type"],
            "keyword"
        );
        assert!(m["properties"].get("rule").is_none(), "flows have no rule");
    }

    #[test]
    fn templates_make_data_streams_or_daily_indices_and_carry_the_ilm_policy() {
        let flows = Target::parse("logs-sonde.conn-so").unwrap();
        let alerts = Target::parse("so-ntopng-%Y.%m.%d").unwrap();
        let all = all(&flows, &alerts, Some("so-logs-sonde"));
        let paths: Vec<_> = all.iter().map(|t| t.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/_component_template/sonde-conn@mappings",
                "/_index_template/sonde-conn-logs-sonde.conn-so",
                "/_component_template/sonde-alert@mappings",
                "/_index_template/sonde-alert-so-ntopng",
            ]
        );
        assert_eq!(
            all[1].body["template"]["settings"]["index"]["lifecycle"]["name"],
            "so-logs-sonde"
        );
        assert_eq!(all[1].body["index_patterns"], json!(["logs-sonde.conn-so"]));
        assert!(all[1].body.get("data_stream").is_some());
        assert_eq!(all[3].body["index_patterns"], json!(["so-ntopng-*"]));
        assert!(all[3].body.get("data_stream").is_none());
        assert_eq!(all[3].body["_meta"]["sonde_version"], VERSION);
        let without = super::all(&flows, &alerts, None);
        assert!(
            without[1].body["template"]["settings"]["index"]
                .get("lifecycle")
                .is_none()
        );
    }

    #[test]
    fn the_installed_version_is_read_from_either_api() {
        let index = json!({"index_templates": [{"name": "sonde-conn", "index_template": {"_meta": {"sonde_version": "3.1.0"}}}]});
        assert_eq!(installed_version(&index).as_deref(), Some("3.1.0"));
        let component = json!({"component_templates": [{"name": "x", "component_template": {"_meta": {"sonde_version": "0.1.0"}}}]});
        assert_eq!(installed_version(&component).as_deref(), Some("0.1.0"));
        assert_eq!(installed_version(&json!({"index_templates": []})), None);
        assert_eq!(installed_version(&json!("garbage")), None);
    }
}
