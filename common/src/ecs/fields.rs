//! Every field sonde writes, with its Elasticsearch type: the single source
//! of the collector's index templates (explicit mappings, core types only,
//! which every Elasticsearch 8 has) and of the checks that dashboards only
//! use fields that exist.
//!
//! Types follow ECS 8.17 where the field is ECS, narrowed to core types:
//! ECS `wildcard` and `constant_keyword` become `keyword`, `match_only_text`
//! becomes `text`, `scaled_float` becomes `double`. Tests keep this table, the
//! documents and ECS in agreement (common/tests/it/ecs.rs).

/// A core Elasticsearch field type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    Keyword,
    Text,
    Ip,
    Date,
    Long,
    Double,
    Boolean,
    GeoPoint,
    /// An array of objects whose fields are listed under the same prefix.
    Object,
}

impl FieldType {
    /// The mapping type name.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Keyword => "keyword",
            FieldType::Text => "text",
            FieldType::Ip => "ip",
            FieldType::Date => "date",
            FieldType::Long => "long",
            FieldType::Double => "double",
            FieldType::Boolean => "boolean",
            FieldType::GeoPoint => "geo_point",
            FieldType::Object => "object",
        }
    }
}

use FieldType::{Boolean, Date, Double, GeoPoint, Ip, Keyword, Long, Object, Text};

/// Fields every sonde document has or may have (flows and alerts).
pub const COMMON: &[(&str, FieldType)] = &[
    ("@timestamp", Date),
    ("ecs.version", Keyword),
    ("event.kind", Keyword),
    ("event.category", Keyword),
    ("event.type", Keyword),
    ("event.module", Keyword),
    ("event.dataset", Keyword),
    ("event.id", Keyword),
    ("event.duration", Long),
    ("event.start", Date),
    ("event.end", Date),
    ("event.severity", Long),
    ("message", Text),
    ("related.ip", Ip),
    ("network.transport", Keyword),
    ("network.iana_number", Keyword),
    ("network.type", Keyword),
    ("network.community_id", Keyword),
    ("network.protocol", Keyword),
    ("network.application", Keyword),
    ("network.direction", Keyword),
    ("network.bytes", Long),
    ("network.packets", Long),
    ("network.vlan.id", Keyword),
    ("observer.name", Keyword),
    ("observer.hostname", Keyword),
    ("observer.type", Keyword),
    ("observer.vendor", Keyword),
    ("observer.product", Keyword),
    ("observer.ingress.interface.name", Keyword),
];

/// The endpoint fields, under `source`, `destination`, `client` and `server`.
pub const ENDPOINT: &[(&str, FieldType)] = &[
    ("ip", Ip),
    ("port", Long),
    ("mac", Keyword),
    ("bytes", Long),
    ("packets", Long),
    ("geo.city_name", Keyword),
    ("geo.continent_code", Keyword),
    ("geo.continent_name", Keyword),
    ("geo.country_iso_code", Keyword),
    ("geo.country_name", Keyword),
    ("geo.region_iso_code", Keyword),
    ("geo.region_name", Keyword),
    ("geo.location", GeoPoint),
    ("geo.postal_code", Keyword),
    ("geo.timezone", Keyword),
    ("as.number", Long),
    ("as.organization.name", Keyword),
];

/// The endpoint objects [`ENDPOINT`] applies to.
pub const ENDPOINTS: [&str; 4] = ["source", "destination", "client", "server"];

/// Flow documents (`logs-sonde.conn-so`), besides [`COMMON`] and the endpoints.
pub const FLOW: &[(&str, FieldType)] = &[
    ("connection.state", Keyword),
    ("connection.state_description", Keyword),
    ("connection.history", Keyword),
    ("sonde.flow.id", Keyword),
    ("sonde.flow.observers", Keyword),
    ("sonde.flow.record_ids", Keyword),
    ("sonde.flow.end_reason", Keyword),
    ("sonde.flow.interim", Boolean),
    ("sonde.flow.client_payload_bytes", Long),
    ("sonde.flow.server_payload_bytes", Long),
    ("sonde.flow.client_tcp_flags", Keyword),
    ("sonde.flow.server_tcp_flags", Keyword),
    ("sonde.flow.icmp.type", Long),
    ("sonde.flow.icmp.code", Long),
    ("sonde.flow.rtt.client_us", Long),
    ("sonde.flow.rtt.server_us", Long),
    ("sonde.flow.retransmissions.client", Long),
    ("sonde.flow.retransmissions.server", Long),
    ("sonde.flow.out_of_order.client", Long),
    ("sonde.flow.out_of_order.server", Long),
    ("sonde.flow.zero_windows.client", Long),
    ("sonde.flow.zero_windows.server", Long),
    ("sonde.flow.goodput_ratio", Double),
    ("sonde.flow.risks", Object),
    ("sonde.flow.risks.name", Keyword),
    ("sonde.flow.risks.severity", Keyword),
    ("sonde.flow.risks.score", Long),
    ("sonde.flow.risks.info", Keyword),
    ("sonde.flow.score", Long),
    ("sonde.l7.name", Keyword),
    ("sonde.l7.category", Keyword),
    ("sonde.ssh.client_software", Keyword),
    ("sonde.ssh.server_software", Keyword),
    ("sonde.tls.client_version", Keyword),
    ("sonde.tls.ja4", Keyword),
    ("sonde.tls.alpn", Keyword),
    ("tls.client.server_name", Keyword),
    ("tls.client.ja3", Keyword),
    ("tls.server.ja3s", Keyword),
    ("tls.version", Keyword),
    ("tls.version_protocol", Keyword),
    ("tls.cipher", Keyword),
    ("tls.next_protocol", Keyword),
    ("tls.server.subject", Keyword),
    ("tls.server.issuer", Keyword),
    ("tls.server.not_before", Date),
    ("tls.server.not_after", Date),
    ("tls.server.hash.sha1", Keyword),
    ("tls.server.x509.alternative_names", Keyword),
    ("dns.id", Keyword),
    ("dns.type", Keyword),
    ("dns.question.name", Keyword),
    ("dns.question.type", Keyword),
    ("dns.response_code", Keyword),
    ("dns.answers", Object),
    ("dns.answers.name", Keyword),
    ("dns.answers.type", Keyword),
    ("dns.answers.data", Keyword),
    ("dns.answers.ttl", Long),
    ("dns.resolved_ip", Ip),
    ("http.version", Keyword),
    ("http.request.method", Keyword),
    ("http.response.status_code", Long),
    ("http.response.mime_type", Keyword),
    ("url.domain", Keyword),
    ("url.port", Long),
    ("url.original", Keyword),
    ("url.path", Keyword),
    ("url.query", Keyword),
    ("user_agent.original", Keyword),
];

/// Alert documents (`logs-sonde.alert-so`), besides [`COMMON`], the
/// endpoints and the flow context ([`FLOW`]): the rule and SO's alert fields.
pub const ALERT: &[(&str, FieldType)] = &[
    ("tags", Keyword),
    ("event.severity_label", Keyword),
    ("event.risk_score", Double),
    ("rule.id", Keyword),
    ("rule.uuid", Keyword),
    ("rule.name", Keyword),
    ("rule.category", Keyword),
    ("rule.ruleset", Keyword),
    ("rule.description", Keyword),
    ("sonde.alert.key", Keyword),
    ("sonde.alert.source", Keyword),
    ("sonde.alert.score", Long),
    ("sonde.alert.count", Long),
    ("sonde.alert.first_seen", Date),
    ("sonde.alert.last_seen", Date),
    ("sonde.alert.lifecycle", Keyword),
    ("sonde.alert.incident_id", Keyword),
    ("sonde.alert.entity.kind", Keyword),
    ("sonde.alert.entity.value", Keyword),
    ("sonde.alert.evidence", Object),
    ("sonde.alert.evidence.key", Keyword),
    ("sonde.alert.evidence.value", Keyword),
    ("sonde.alert.signatures", Object),
    ("sonde.alert.signatures.id", Long),
    ("sonde.alert.signatures.name", Keyword),
    ("sonde.alert.signatures.category", Keyword),
    ("sonde.alert.signatures.severity", Long),
    ("sonde.alert.signatures.count", Long),
];

/// Objects whose keys are open-ended (`sonde.l7.extra.<key>`, from the
/// probe's DPI): every string below them is a `keyword` by a dynamic template.
pub const DYNAMIC_KEYWORD_PREFIXES: &[&str] = &["sonde.l7.extra"];

/// Which document kind a field list is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Flow,
    Alert,
}

/// Every explicitly mapped field of `kind`, with its type, dotted names.
pub fn all(kind: Kind) -> Vec<(String, FieldType)> {
    // Alerts carry their flow's context, so they have every flow field too.
    let own: &[&[(&str, FieldType)]] = match kind {
        Kind::Flow => &[FLOW],
        Kind::Alert => &[FLOW, ALERT],
    };
    let mut out: Vec<(String, FieldType)> = COMMON
        .iter()
        .chain(own.iter().flat_map(|list| list.iter()))
        .map(|&(name, ty)| (name.to_owned(), ty))
        .collect();
    for side in ENDPOINTS {
        out.extend(
            ENDPOINT
                .iter()
                .map(|&(name, ty)| (format!("{side}.{name}"), ty)),
        );
    }
    out
}

/// The type of `field` in documents of `kind`: explicit, or dynamic keyword.
pub fn lookup(kind: Kind, field: &str) -> Option<FieldType> {
    if DYNAMIC_KEYWORD_PREFIXES.iter().any(|p| {
        field
            .strip_prefix(p)
            .is_some_and(|rest| rest.starts_with('.'))
    }) {
        return Some(Keyword);
    }
    all(kind)
        .into_iter()
        .find(|(name, _)| name == field)
        .map(|(_, ty)| ty)
}
