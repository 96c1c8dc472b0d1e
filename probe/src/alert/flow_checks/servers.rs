//! Unexpected DNS, NTP, DHCP and SMTP servers: a local client talking to a
//! server of the service that is not in the service's allowed list (ntopng's
//! "Unexpected DNS/NTP/DHCP/SMTP Server" checks). A service without a list
//! is not checked.
//!
//! The service is the flow's nDPI protocol (`DNS`, `NTP`, `DHCP`, `SMTP`,
//! `SMTPS`), or, when the classifier did not name one, the service's
//! well-known server port. The server is the endpoint on the service's
//! port (a DHCP offer or a DNS answer may open the flow); broadcast,
//! multicast and unspecified addresses are never a server.

use std::net::IpAddr;

use ipnet::IpNet;
use sonde_proto::v1;

use super::super::{Rule, Rules, build};
use super::checks::{alert, conversation};
use super::{Ctx, FlowCheckSettings, at};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Service {
    Dns,
    Ntp,
    Dhcp,
    Smtp,
}

impl Service {
    const ALL: [Service; 4] = [Service::Dns, Service::Ntp, Service::Dhcp, Service::Smtp];

    fn rule(self) -> Rule {
        match self {
            Service::Dns => Rule::UnexpectedDnsServer,
            Service::Ntp => Rule::UnexpectedNtpServer,
            Service::Dhcp => Rule::UnexpectedDhcpServer,
            Service::Smtp => Rule::UnexpectedSmtpServer,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Service::Dns => "DNS",
            Service::Ntp => "NTP",
            Service::Dhcp => "DHCP",
            Service::Smtp => "SMTP",
        }
    }

    /// nDPI's protocol names of the service.
    fn protocols(self) -> &'static [&'static str] {
        match self {
            Service::Dns => &["DNS"],
            Service::Ntp => &["NTP"],
            Service::Dhcp => &["DHCP"],
            Service::Smtp => &["SMTP", "SMTPS"],
        }
    }

    /// Well-known server ports: (IP protocol, port).
    fn ports(self) -> &'static [(u32, u32)] {
        match self {
            Service::Dns => &[(17, 53), (6, 53)],
            Service::Ntp => &[(17, 123)],
            Service::Dhcp => &[(17, 67)],
            Service::Smtp => &[(6, 25), (6, 465), (6, 587)],
        }
    }

    fn allowed(self, settings: &FlowCheckSettings) -> Option<&[IpNet]> {
        let a = &settings.allowed;
        match self {
            Service::Dns => a.dns.as_deref(),
            Service::Ntp => a.ntp.as_deref(),
            Service::Dhcp => a.dhcp.as_deref(),
            Service::Smtp => a.smtp.as_deref(),
        }
    }

    /// Whether the flow is of this service (by protocol, else by port).
    fn matches(self, flow: &v1::Flow, client_port: u32, server_port: u32) -> bool {
        let named = flow
            .l7
            .as_ref()
            .map(|l| l.protocol.as_str())
            .filter(|p| !p.is_empty() && *p != "Unknown");
        match named {
            Some(p) => self.protocols().iter().any(|n| n.eq_ignore_ascii_case(p)),
            None => self.ports().iter().any(|(proto, port)| {
                flow.ip_protocol == *proto
                    && (server_port == *port || (self == Service::Dhcp && client_port == *port))
            }),
        }
    }
}

/// Not an address a server answers from.
fn never_a_server(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.is_broadcast() || a.is_unspecified() || a.is_multicast(),
        IpAddr::V6(a) => a.is_unspecified() || a.is_multicast(),
    }
}

pub(super) fn unexpected(
    rules: &Rules,
    settings: &FlowCheckSettings,
    ctx: &Ctx<'_>,
    out: &mut Vec<(v1::Alert, String)>,
) {
    let client_port = ctx.flow.client.as_ref().map_or(0, |c| c.port);
    for service in Service::ALL {
        let Some(allowed) = service.allowed(settings) else {
            continue;
        };
        if !service.matches(ctx.flow, client_port, ctx.port) {
            continue;
        }
        // The endpoint on the service's port is the server, whichever sent
        // first (a DHCP offer, a DNS answer whose query was not captured).
        let on_port = |port: u32| service.ports().iter().any(|(_, p)| *p == port);
        let (client, server, port) = if on_port(client_port) && !on_port(ctx.port) {
            (ctx.server, ctx.client, client_port)
        } else {
            (ctx.client, ctx.server, ctx.port)
        };
        if never_a_server(server) || allowed.iter().any(|n| n.contains(&server)) {
            continue;
        }
        // A DHCP client has no address yet; other clients must be local.
        if service != Service::Dhcp && !settings.is_local(client) {
            continue;
        }
        let name = service.name();
        let message = format!(
            "{client} used {name} server {}, which is not an allowed {name} server",
            at(server, port)
        );
        let Some(mut a) = alert(rules, service.rule(), ctx, message) else {
            continue;
        };
        // The unexpected server is the suspect.
        a.attacker_ip = build::ip_bytes(server);
        a.victim_ip = build::ip_bytes(client);
        build::evidence(&mut a, "server", server);
        build::evidence(&mut a, "service", name);
        out.push((a, conversation(client, server, port)));
    }
}
