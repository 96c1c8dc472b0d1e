//! The export policy ("routing", like ntopng's recipients): what leaves the
//! probe. Alerts by minimum severity, rules included or excluded and
//! interface; flows all, none, only those with a risk, or sampled. Host pools
//! (named CIDR lists) carry their own policy: the first pool holding an
//! alert's attacker or victim (a flow's client or server) decides for it.

use std::net::IpAddr;

use ipnet::IpNet;
use sonde_proto::v1::{self, AlertSource, Severity};

use super::build;
use super::config::{FlowExport, RoutingConfig, parse_net};

#[derive(Clone, Debug)]
struct Route {
    min_severity: Severity,
    include: Vec<String>,
    exclude: Vec<String>,
    flows: FlowExport,
}

#[derive(Clone, Debug)]
struct Pool {
    networks: Vec<IpNet>,
    route: Route,
}

#[derive(Clone, Debug)]
pub struct Policy {
    default: Route,
    pools: Vec<Pool>,
    interfaces: Vec<String>,
    flow_sample: u64,
}

impl Default for Policy {
    fn default() -> Self {
        Self::new(&RoutingConfig::default())
    }
}

impl Policy {
    pub fn new(config: &RoutingConfig) -> Self {
        let default = Route {
            min_severity: config.min_severity.into(),
            include: config.include_rules.clone(),
            exclude: config.exclude_rules.clone(),
            flows: config.flows,
        };
        let pools = config
            .pools
            .iter()
            .map(|p| Pool {
                networks: p.networks.iter().filter_map(|n| parse_net(n)).collect(),
                route: Route {
                    min_severity: p.min_severity.map_or(default.min_severity, Into::into),
                    include: p
                        .include_rules
                        .clone()
                        .unwrap_or_else(|| default.include.clone()),
                    exclude: p
                        .exclude_rules
                        .clone()
                        .unwrap_or_else(|| default.exclude.clone()),
                    flows: p.flows.unwrap_or(default.flows),
                },
            })
            .collect();
        Self {
            default,
            pools,
            interfaces: config.interfaces.clone(),
            flow_sample: u64::from(config.flow_sample.max(1)),
        }
    }

    /// Whether `alert` leaves the probe.
    pub fn alert(&self, alert: &v1::Alert) -> bool {
        // Host incidents may span interfaces and name none: the interface
        // filter applies to what names one.
        if !alert.interface.is_empty() && !self.interface_allowed(&alert.interface) {
            return false;
        }
        let (a, b) = match (build::ip(&alert.attacker_ip), build::ip(&alert.victim_ip)) {
            (None, None) => alert
                .flow
                .as_ref()
                .and_then(build::endpoints)
                .map_or((None, None), |(c, s)| (Some(c), Some(s))),
            other => other,
        };
        let route = self.route(a, b);
        let severity = Severity::try_from(alert.severity).unwrap_or(Severity::Unspecified);
        if severity < route.min_severity {
            return false;
        }
        if !route.include.is_empty() && !route.include.iter().any(|r| names(r, alert)) {
            return false;
        }
        !route.exclude.iter().any(|r| names(r, alert))
    }

    /// Whether the flow record leaves the probe.
    pub fn flow(&self, flow: &v1::Flow) -> bool {
        if !self.interface_allowed(&flow.interface) {
            return false;
        }
        let (client, server) =
            build::endpoints(flow).map_or((None, None), |(c, s)| (Some(c), Some(s)));
        match self.route(client, server).flows {
            FlowExport::All => true,
            FlowExport::None => false,
            FlowExport::Risky => !flow.risks.is_empty(),
            FlowExport::Sampled => {
                !flow.risks.is_empty()
                    || build::fnv1a(&[flow.community_id.as_bytes()]) % self.flow_sample == 0
            }
        }
    }

    fn interface_allowed(&self, interface: &str) -> bool {
        self.interfaces.is_empty() || self.interfaces.iter().any(|i| i == interface)
    }

    fn route(&self, a: Option<IpAddr>, b: Option<IpAddr>) -> &Route {
        let holds = |pool: &&Pool, ip: Option<IpAddr>| {
            ip.is_some_and(|ip| pool.networks.iter().any(|n| n.contains(&ip)))
        };
        self.pools
            .iter()
            .find(|p| holds(p, a) || holds(p, b))
            .map_or(&self.default, |p| &p.route)
    }
}

/// Whether the rule name of the config names `alert`: a sonde rule key,
/// `suricata` (every Suricata alert) or `suricata:SID`.
fn names(rule: &str, alert: &v1::Alert) -> bool {
    let suricata = alert.source == AlertSource::Suricata as i32;
    if suricata {
        rule == "suricata" || rule.strip_prefix("suricata:") == Some(alert.rule_key.as_str())
    } else {
        rule == alert.rule_key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(toml_text: &str) -> Policy {
        let config: RoutingConfig = toml::from_str(toml_text).expect("valid routing config");
        Policy::new(&config)
    }

    fn alert(rule: &str, severity: Severity, attacker: [u8; 4]) -> v1::Alert {
        v1::Alert {
            rule_key: rule.into(),
            severity: severity as i32,
            source: AlertSource::Sonde as i32,
            attacker_ip: attacker.to_vec(),
            interface: "eth0".into(),
            ..Default::default()
        }
    }

    fn flow(client: [u8; 4], risky: bool, community_id: &str) -> v1::Flow {
        v1::Flow {
            interface: "eth0".into(),
            client: Some(v1::Endpoint {
                ip: client.to_vec(),
                ..Default::default()
            }),
            server: Some(v1::Endpoint {
                ip: vec![93, 184, 216, 34],
                ..Default::default()
            }),
            community_id: community_id.into(),
            risks: if risky {
                vec![v1::FlowRisk::default()]
            } else {
                Vec::new()
            },
            ..Default::default()
        }
    }

    #[test]
    fn the_default_policy_exports_everything() {
        let p = Policy::default();
        assert!(p.alert(&alert("syn_scan", Severity::Low, [10, 0, 0, 1])));
        assert!(p.flow(&flow([10, 0, 0, 1], false, "x")));
    }

    #[test]
    fn minimum_severity_and_rule_lists_filter_alerts() {
        let p = policy(
            r#"min_severity = "medium"
               exclude_rules = ["elephant_flow", "suricata:2013504"]"#,
        );
        assert!(!p.alert(&alert("syn_scan", Severity::Low, [10, 0, 0, 1])));
        assert!(p.alert(&alert("syn_scan", Severity::Medium, [10, 0, 0, 1])));
        assert!(p.alert(&alert("syn_scan", Severity::Critical, [10, 0, 0, 1])));
        assert!(!p.alert(&alert("elephant_flow", Severity::High, [10, 0, 0, 1])));
        let mut suricata = alert("2013504", Severity::High, [10, 0, 0, 1]);
        suricata.source = AlertSource::Suricata as i32;
        assert!(!p.alert(&suricata));
        suricata.rule_key = "2013505".into();
        assert!(p.alert(&suricata));

        let only = policy(r#"include_rules = ["suricata"]"#);
        assert!(only.alert(&suricata));
        assert!(!only.alert(&alert("syn_scan", Severity::High, [10, 0, 0, 1])));
    }

    #[test]
    fn a_host_pool_has_its_own_policy() {
        let p = policy(
            r#"min_severity = "high"
               flows = "none"
               [[pools]]
               name = "servers"
               networks = ["10.1.0.0/16"]
               min_severity = "low"
               flows = "all""#,
        );
        assert!(p.alert(&alert("syn_scan", Severity::Low, [10, 1, 2, 3])));
        assert!(!p.alert(&alert("syn_scan", Severity::Low, [10, 2, 2, 3])));
        assert!(p.flow(&flow([10, 1, 2, 3], false, "a")));
        assert!(!p.flow(&flow([10, 2, 2, 3], false, "a")));
    }

    #[test]
    fn interfaces_limit_what_is_exported() {
        let p = policy(r#"interfaces = ["eth1"]"#);
        assert!(!p.alert(&alert("syn_scan", Severity::High, [10, 0, 0, 1])));
        let mut a = alert("syn_scan", Severity::High, [10, 0, 0, 1]);
        a.interface = "eth1".into();
        assert!(p.alert(&a));
        a.interface.clear();
        assert!(p.alert(&a), "a host incident names no interface");
        assert!(!p.flow(&flow([10, 0, 0, 1], true, "a")));
    }

    #[test]
    fn risky_and_sampled_flow_exports() {
        let risky = policy(r#"flows = "risky""#);
        assert!(risky.flow(&flow([10, 0, 0, 1], true, "a")));
        assert!(!risky.flow(&flow([10, 0, 0, 1], false, "a")));

        let sampled = policy("flows = \"sampled\"\nflow_sample = 10");
        let kept = (0..10_000)
            .filter(|i| sampled.flow(&flow([10, 0, 0, 1], false, &format!("1:{i}"))))
            .count();
        assert!((800..1200).contains(&kept), "about one in ten: {kept}");
        // Every risky flow is kept, and the choice is the same every time.
        assert!(sampled.flow(&flow([10, 0, 0, 1], true, "1:1")));
        let again = (0..10_000)
            .filter(|i| sampled.flow(&flow([10, 0, 0, 1], false, &format!("1:{i}"))))
            .count();
        assert_eq!(kept, again);
    }
}
