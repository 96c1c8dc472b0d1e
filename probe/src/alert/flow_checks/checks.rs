//! The checks themselves: each looks at one record (with the flow's totals
//! in [`Ctx`]) and adds at most one alert per rule, except flow risks (one
//! per risk).

use sonde_proto::v1::{self, Severity};

use super::super::lists::Blacklists;
use super::super::{Rule, Rules, build};
use super::{Ctx, FlowCheckSettings, at, dns, servers};

type Out = Vec<(v1::Alert, String)>;

/// Protocols sent in clear text that nDPI's protocol breed calls unsafe
/// (ntopng's remote-to-local check keys on that breed); the probe's
/// classifier also flags them with the "Unsafe Protocol" risk.
const INSECURE_PROTOCOLS: &[&str] = &[
    "Telnet",
    "FTP_CONTROL",
    "FTP_DATA",
    "POP3",
    "IMAP",
    "IRC",
    "SMBv1",
    "TFTP",
    "Rlogin",
    "Rsh",
];
const UNSAFE_PROTOCOL_RISK: &str = "Unsafe Protocol";

pub(super) fn run(
    rules: &Rules,
    settings: &FlowCheckSettings,
    lists: &Blacklists,
    ctx: &Ctx<'_>,
    out: &mut Out,
) {
    flow_risks(rules, settings, ctx, out);
    low_goodput(rules, ctx, out);
    blacklisted_ip(rules, lists, ctx, out);
    blacklisted_domain(rules, lists, ctx, out);
    remote_to_local_insecure(rules, settings, ctx, out);
    elephant(rules, ctx, out);
    long_lived(rules, ctx, out);
    refused(rules, ctx, out);
    zero_window(rules, ctx, out);
    servers::unexpected(rules, settings, ctx, out);
    dns::exfiltration(rules, ctx, out);
}

/// An alert of `rule` about the flow, with its message; `None` when the
/// rule is disabled.
pub(super) fn alert(
    rules: &Rules,
    rule: Rule,
    ctx: &Ctx<'_>,
    message: String,
) -> Option<v1::Alert> {
    let mut a = build::for_flow(rules.alert(rule)?, ctx.flow);
    a.message = message;
    Some(a)
}

/// The flow's protocol for people: `TLS`, else the transport.
pub(super) fn protocol(flow: &v1::Flow) -> String {
    match flow.l7.as_ref().map(|l| l.protocol.as_str()) {
        Some(p) if !p.is_empty() && p != "Unknown" => p.to_owned(),
        _ => match flow.ip_protocol {
            6 => "TCP".into(),
            17 => "UDP".into(),
            1 | 58 => "ICMP".into(),
            n => format!("IP protocol {n}"),
        },
    }
}

fn flow_risks(rules: &Rules, settings: &FlowCheckSettings, ctx: &Ctx<'_>, out: &mut Out) {
    let min = settings.min_risk_severity as i32;
    for risk in &ctx.flow.risks {
        if risk.severity < min || risk.severity <= Severity::Unspecified as i32 {
            continue;
        }
        let mut message = format!(
            "{} on a {} flow from {} to {}",
            risk.name,
            protocol(ctx.flow),
            ctx.client,
            ctx.server_at()
        );
        if !risk.info.is_empty() {
            message = format!("{message}: {}", risk.info);
        }
        let Some(mut a) = alert(rules, Rule::FlowRisk, ctx, message) else {
            return;
        };
        a.rule_name = format!("Flow Risk: {}", risk.name);
        // The risk's own severity, unless the config overrides the rule's.
        a.severity = rules
            .severity_override(Rule::FlowRisk)
            .map_or(risk.severity, |s| s as i32);
        a.score = risk.score;
        build::evidence(&mut a, "risk", &risk.name);
        if !risk.info.is_empty() {
            build::evidence(&mut a, "risk_info", &risk.info);
        }
        out.push((a, format!("{} {}", ctx.conversation, risk.name)));
    }
}

fn low_goodput(rules: &Rules, ctx: &Ctx<'_>, out: &mut Out) {
    let Some(tcp) = ctx.flow.tcp.as_ref() else {
        return;
    };
    let bytes = ctx.c2s_bytes.saturating_add(ctx.s2c_bytes);
    let ratio = rules.threshold(Rule::LowGoodput, "ratio");
    let min_bytes = rules.threshold(Rule::LowGoodput, "min_bytes");
    if ctx.flow.ip_protocol != 6 || (bytes as f64) < min_bytes || tcp.goodput_ratio >= ratio {
        return;
    }
    let message = format!(
        "Low goodput ratio {:.2} on a {} flow from {} to {} ({} bytes)",
        tcp.goodput_ratio,
        protocol(ctx.flow),
        ctx.client,
        ctx.server_at(),
        build::thousands(bytes)
    );
    if let Some(mut a) = alert(rules, Rule::LowGoodput, ctx, message) {
        build::evidence(&mut a, "goodput_ratio", format!("{:.3}", tcp.goodput_ratio));
        build::evidence(&mut a, "threshold", ratio);
        build::evidence(&mut a, "bytes", bytes);
        out.push((a, ctx.conversation.clone()));
    }
}

fn blacklisted_ip(rules: &Rules, lists: &Blacklists, ctx: &Ctx<'_>, out: &mut Out) {
    if lists.is_empty() {
        return;
    }
    let server = lists.ip(ctx.server);
    let client = lists.ip(ctx.client);
    let (bad, other, list, message) = match (server, client) {
        (Some(list), _) => (
            ctx.server,
            ctx.client,
            list,
            format!(
                "{} contacted blacklisted {} (list {list})",
                ctx.client,
                ctx.server_at()
            ),
        ),
        (None, Some(list)) => (
            ctx.client,
            ctx.server,
            list,
            format!(
                "Blacklisted {} contacted {} (list {list})",
                ctx.client,
                ctx.server_at()
            ),
        ),
        (None, None) => return,
    };
    if let Some(mut a) = alert(rules, Rule::BlacklistedIp, ctx, message) {
        a.attacker_ip = build::ip_bytes(bad);
        a.victim_ip = build::ip_bytes(other);
        build::evidence(&mut a, "blacklisted_ip", bad);
        build::evidence(&mut a, "list", list);
        if let (Some(_), Some(client_list)) = (server, client) {
            build::evidence(&mut a, "blacklisted_client", ctx.client);
            build::evidence(&mut a, "client_list", client_list);
        }
        out.push((a, ctx.conversation.clone()));
    }
}

fn blacklisted_domain(rules: &Rules, lists: &Blacklists, ctx: &Ctx<'_>, out: &mut Out) {
    if lists.is_empty() {
        return;
    }
    let Some(l7) = ctx.flow.l7.as_ref() else {
        return;
    };
    let names = [
        ("DNS query", l7.dns.as_ref().map(|d| d.query.as_str())),
        ("TLS SNI", l7.tls.as_ref().map(|t| t.sni.as_str())),
        ("HTTP host", l7.http.as_ref().map(|h| host_only(&h.host))),
    ];
    let hit = names.into_iter().find_map(|(field, name)| {
        let name = name.filter(|n| !n.is_empty())?;
        lists
            .domain(name)
            .map(|(list, entry)| (field, name, list, entry))
    });
    let Some((field, name, list, entry)) = hit else {
        return;
    };
    let message = format!(
        "Blacklisted domain {name} in the {field} of a flow from {} to {} (list {list})",
        ctx.client,
        ctx.server_at()
    );
    if let Some(mut a) = alert(rules, Rule::BlacklistedDomain, ctx, message) {
        build::evidence(&mut a, "domain", name);
        build::evidence(&mut a, "field", field);
        build::evidence(&mut a, "list", list);
        build::evidence(&mut a, "list_entry", entry);
        out.push((a, format!("{} {entry}", ctx.conversation)));
    }
}

/// `example.com:8080` -> `example.com`; a bracketed IPv6 literal stays whole
/// (and is not a domain).
fn host_only(host: &str) -> &str {
    if host.starts_with('[') {
        return host;
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

fn remote_to_local_insecure(
    rules: &Rules,
    settings: &FlowCheckSettings,
    ctx: &Ctx<'_>,
    out: &mut Out,
) {
    if settings.is_local(ctx.client) || !settings.is_local(ctx.server) {
        return;
    }
    let name = protocol(ctx.flow);
    let listed = INSECURE_PROTOCOLS
        .iter()
        .any(|p| p.eq_ignore_ascii_case(&name));
    let flagged = ctx
        .flow
        .risks
        .iter()
        .any(|r| r.name == UNSAFE_PROTOCOL_RISK);
    if !listed && !flagged {
        return;
    }
    let message = format!(
        "Remote client {} reached local server {} over {name}, an insecure protocol",
        ctx.client,
        ctx.server_at()
    );
    if let Some(mut a) = alert(rules, Rule::RemoteToLocalInsecure, ctx, message) {
        build::evidence(&mut a, "protocol", &name);
        out.push((a, ctx.conversation.clone()));
    }
}

fn elephant(rules: &Rules, ctx: &Ctx<'_>, out: &mut Out) {
    let limit = rules.threshold(Rule::ElephantFlow, "bytes");
    if (ctx.c2s_bytes as f64) <= limit && (ctx.s2c_bytes as f64) <= limit {
        return;
    }
    let message = format!(
        "Elephant flow from {} to {}: {} bytes from the client, {} from the server",
        ctx.client,
        ctx.server_at(),
        build::thousands(ctx.c2s_bytes),
        build::thousands(ctx.s2c_bytes)
    );
    if let Some(mut a) = alert(rules, Rule::ElephantFlow, ctx, message) {
        a.first_seen_us = ctx.start_us;
        build::evidence(&mut a, "client_bytes", ctx.c2s_bytes);
        build::evidence(&mut a, "server_bytes", ctx.s2c_bytes);
        build::evidence(&mut a, "threshold_bytes", limit);
        out.push((a, ctx.conversation.clone()));
    }
}

fn long_lived(rules: &Rules, ctx: &Ctx<'_>, out: &mut Out) {
    let limit_s = rules.threshold(Rule::LongLivedFlow, "seconds");
    let duration_us = ctx.flow.last_seen_us.saturating_sub(ctx.start_us);
    let duration_s = duration_us / 1_000_000;
    if (duration_us as f64) <= limit_s * 1_000_000.0 {
        return;
    }
    let message = format!(
        "Long-lived {} flow from {} to {}: open for {}",
        protocol(ctx.flow),
        ctx.client,
        ctx.server_at(),
        human_duration(duration_s)
    );
    if let Some(mut a) = alert(rules, Rule::LongLivedFlow, ctx, message) {
        a.first_seen_us = ctx.start_us;
        build::evidence(&mut a, "duration_s", duration_s);
        build::evidence(&mut a, "threshold_s", limit_s);
        out.push((a, ctx.conversation.clone()));
    }
}

/// `13h 05m`, `2d 01h`, `45m 10s`.
pub(super) fn human_duration(s: u64) -> String {
    let (d, h, m) = (s / 86_400, s / 3600 % 24, s / 60 % 60);
    if d > 0 {
        format!("{d}d {h:02}h")
    } else if h > 0 {
        format!("{h}h {m:02}m")
    } else {
        format!("{m}m {:02}s", s % 60)
    }
}

fn refused(rules: &Rules, ctx: &Ctx<'_>, out: &mut Out) {
    if ctx.flow.ip_protocol != 6 || ctx.flow.conn_state != "REJ" {
        return;
    }
    let message = format!(
        "TCP connection from {} to {} refused (SYN answered by RST)",
        ctx.client,
        ctx.server_at()
    );
    if let Some(mut a) = alert(rules, Rule::TcpConnectionRefused, ctx, message) {
        build::evidence(&mut a, "conn_state", "REJ");
        build::evidence(&mut a, "history", &ctx.flow.history);
        out.push((a, ctx.conversation.clone()));
    }
}

fn zero_window(rules: &Rules, ctx: &Ctx<'_>, out: &mut Out) {
    let Some(tcp) = ctx.flow.tcp.as_ref() else {
        return;
    };
    let (c, s) = (tcp.client_zero_windows, tcp.server_zero_windows);
    if ctx.flow.ip_protocol != 6 || c.saturating_add(s) == 0 {
        return;
    }
    let message = format!(
        "TCP zero window on a {} flow from {} to {} (server {}, client {})",
        protocol(ctx.flow),
        ctx.client,
        ctx.server_at(),
        build::plural(s, "time"),
        build::plural(c, "time")
    );
    if let Some(mut a) = alert(rules, Rule::TcpZeroWindow, ctx, message) {
        build::evidence(&mut a, "server_zero_windows", s);
        build::evidence(&mut a, "client_zero_windows", c);
        out.push((a, ctx.conversation.clone()));
    }
}

/// `client server:port` of a flow whose server is `server` (DHCP's server
/// may be the record's client).
pub(super) fn conversation(
    client: std::net::IpAddr,
    server: std::net::IpAddr,
    port: u32,
) -> String {
    format!("{client} {}", at(server, port))
}
