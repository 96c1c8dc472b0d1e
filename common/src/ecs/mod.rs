//! The ECS document for a flow record, as the collector indexes it and
//! `sonde-probe read --emit ecs` prints it.
//!
//! Input: a [`Flow`] record, untrusted (it crossed the network and may come
//! from a buggy or hostile probe), and the [`Observer`] that produced it.
//! Output: one JSON object in Elastic Common Schema 8.17 following Security
//! Onion 2.4's conventions (data stream `logs-sonde.conn-so`):
//!
//! | fields | from |
//! |---|---|
//! | `@timestamp`, `event.*` | flow end (`last_seen_us`), start, duration in ns; kind/category/type |
//! | `source.*` = `client.*`, `destination.*` = `server.*` | ip, port, mac, bytes, packets (ECS: the source is the originator) |
//! | `network.*`, `related.ip` | transport, IANA number, ipv4/ipv6, Community ID, sums, VLAN |
//! | `connection.*` | Zeek `conn_state`/`history` the way SO indexes Zeek's conn.log |
//! | `observer.*` | the probe and its capture interface |
//! | `tls.*`, `dns.*`, `http.*`, `url.*`, `user_agent.original` | layer-7 metadata (see `l7`) |
//! | `sonde.*` | what ECS has no field for: end reason, TCP analysis, risks, nDPI names |
//!
//! Invariants: never panics; a field whose value is missing or invalid (IP
//! bytes of the wrong length, a time of 0 or past year 9999, an empty string,
//! a port above 65535) is left out, never emitted empty; counters fit an
//! Elasticsearch `long`; dates are RFC 3339 UTC with microseconds. The
//! function is pure (no clock), so a record always maps to the same document.

mod alert;
mod doc;
pub mod fields;
mod l7;
mod values;

use std::net::IpAddr;

use serde_json::Value;
use sonde_proto::v1::{Direction, Flow};

pub use alert::{alert_document, alert_fields};
pub use doc::{Doc, Leaf};
use values::long;

/// The ECS version the documents follow (`ecs.version`).
pub const ECS_VERSION: &str = "8.17.0";

/// Who produced the record: the probe identity (certificate name) and optional details.
#[derive(Clone, Debug)]
pub struct Observer {
    /// The probe's certificate identity (`observer.name`).
    pub name: String,
    /// The probe's host name when known (`observer.hostname`).
    pub hostname: Option<String>,
}

/// Maps a flow record to its ECS document (a JSON object).
pub fn flow_document(flow: &Flow, observer: &Observer) -> Value {
    flow_fields(flow, observer).into_value()
}

/// The fields of a flow record's ECS document, borrowing from the record:
/// callers may add their own before writing it ([`Doc::write_json`]).
pub fn flow_fields<'a>(flow: &'a Flow, observer: &'a Observer) -> Doc<'a> {
    // A plain TCP flow has about 60 fields; classified ones more.
    let mut doc = Doc::with_capacity(80);
    let counters = Counters::of(flow);
    put_event(&mut doc, flow);
    put_endpoints(&mut doc, flow, counters);
    put_network(&mut doc, flow, counters);
    put_connection(&mut doc, flow);
    put_observer(&mut doc, observer, &flow.interface);
    put_sonde_flow(&mut doc, flow, counters);
    if let Some(l7) = &flow.l7 {
        l7::put_l7(&mut doc, l7);
    }
    doc
}

/// Both directions' counters, or none: when the record has counters for one
/// direction only, the other saw nothing (an S0 flow has no reply), which is
/// worth indexing as 0 rather than leaving out.
#[derive(Clone, Copy)]
struct Counters<'a> {
    client: &'a Direction,
    server: &'a Direction,
}

impl<'a> Counters<'a> {
    fn of(flow: &'a Flow) -> Option<Self> {
        const ZERO: &Direction = &Direction {
            packets: 0,
            bytes: 0,
            payload_bytes: 0,
            tcp_flags: 0,
        };
        match (&flow.client_to_server, &flow.server_to_client) {
            (None, None) => None,
            (client, server) => Some(Self {
                client: client.as_ref().unwrap_or(ZERO),
                server: server.as_ref().unwrap_or(ZERO),
            }),
        }
    }
}

fn put_event(doc: &mut Doc<'_>, flow: &Flow) {
    let start = Leaf::time(flow.first_seen_us);
    let end = Leaf::time(flow.last_seen_us);
    // Data streams reject documents without @timestamp, so a record without a
    // usable end falls back to its start; with neither, the collector decides.
    doc.put_opt("@timestamp", end.clone().or_else(|| start.clone()));
    doc.put("ecs.version", ECS_VERSION);
    doc.put("event.kind", "event");
    doc.put("event.category", Leaf::Strs(&["network"]));
    // An interim record reports a flow that goes on: it has not ended.
    let types = if flow.interim {
        Leaf::Strs(&["connection"])
    } else {
        Leaf::Strs(&["connection", "end"])
    };
    doc.put("event.type", types);
    doc.put("event.module", "sonde");
    doc.put("event.dataset", "sonde.conn");
    // A duration needs both ends and must not be negative (ECS: nanoseconds).
    if start.is_some() && end.is_some() && flow.last_seen_us >= flow.first_seen_us {
        let micros = flow.last_seen_us - flow.first_seen_us;
        doc.put("event.duration", long(micros.saturating_mul(1000)));
    }
    doc.put_opt("event.start", start);
    doc.put_opt("event.end", end);
}

/// The fields of one endpoint under one name (`source` or its mirror `client`).
struct EndpointPaths {
    ip: &'static str,
    port: &'static str,
    mac: &'static str,
    bytes: &'static str,
    packets: &'static str,
}

macro_rules! endpoint_paths {
    ($name:literal) => {
        EndpointPaths {
            ip: concat!($name, ".ip"),
            port: concat!($name, ".port"),
            mac: concat!($name, ".mac"),
            bytes: concat!($name, ".bytes"),
            packets: concat!($name, ".packets"),
        }
    };
}

const CLIENT_NAMES: [EndpointPaths; 2] = [endpoint_paths!("source"), endpoint_paths!("client")];
const SERVER_NAMES: [EndpointPaths; 2] =
    [endpoint_paths!("destination"), endpoint_paths!("server")];

fn put_endpoints(doc: &mut Doc<'_>, flow: &Flow, counters: Option<Counters<'_>>) {
    let ports = values::has_ports(flow.ip_protocol);
    let sides = [
        (&CLIENT_NAMES, &flow.client, counters.map(|c| c.client)),
        (&SERVER_NAMES, &flow.server, counters.map(|c| c.server)),
    ];
    let mut related: Vec<Leaf<'_>> = Vec::new();
    for (names, endpoint, direction) in sides {
        let endpoint = endpoint.as_ref();
        let ip = endpoint.and_then(|e| values::ip(&e.ip));
        let port = endpoint
            .filter(|_| ports)
            .and_then(|e| u16::try_from(e.port).ok());
        let mac = endpoint.and_then(|e| values::mac(&e.mac));
        for paths in names {
            doc.put_opt(paths.ip, ip);
            doc.put_opt(paths.port, port);
            doc.put_opt(paths.mac, mac.clone());
            if let Some(d) = direction {
                doc.put(paths.bytes, long(d.bytes));
                doc.put(paths.packets, long(d.packets));
            }
        }
        if let Some(ip) =
            ip.filter(|ip| !related.iter().any(|r| matches!(r, Leaf::Ip(r) if r == ip)))
        {
            related.reserve_exact(2);
            related.push(Leaf::Ip(ip));
        }
    }
    doc.put_list("related.ip", related);
}

fn put_network<'a>(doc: &mut Doc<'a>, flow: &'a Flow, counters: Option<Counters<'_>>) {
    if let Some(transport) = values::transport(flow.ip_protocol) {
        doc.put("network.transport", transport);
        // ECS types the IANA number as a keyword.
        doc.put(
            "network.iana_number",
            Leaf::Digits(u64::from(flow.ip_protocol)),
        );
    }
    let address = [&flow.client, &flow.server]
        .into_iter()
        .flatten()
        .find_map(|e| values::ip(&e.ip));
    doc.put_opt(
        "network.type",
        address.map(|a| match a {
            IpAddr::V4(_) => "ipv4",
            IpAddr::V6(_) => "ipv6",
        }),
    );
    doc.put_str("network.community_id", &flow.community_id);
    if let Some(c) = counters {
        let bytes = c.client.bytes.saturating_add(c.server.bytes);
        let packets = c.client.packets.saturating_add(c.server.packets);
        doc.put("network.bytes", long(bytes));
        doc.put("network.packets", long(packets));
    }
    // 802.1Q ids are 12 bits; 0 means untagged. ECS types the id as a keyword.
    if (1..=4095).contains(&flow.vlan_id) {
        doc.put("network.vlan.id", Leaf::Digits(u64::from(flow.vlan_id)));
    }
}

/// `connection.*` is not ECS: it is where SO's ingest pipeline puts Zeek's
/// conn.log state and history, and sonde fills it the same way so SO's
/// connection dashboards show sonde flows beside Zeek's.
fn put_connection<'a>(doc: &mut Doc<'a>, flow: &'a Flow) {
    let state = flow.conn_state.trim();
    doc.put_str("connection.state", state);
    doc.put_opt(
        "connection.state_description",
        values::conn_state_description(state),
    );
    doc.put_str("connection.history", &flow.history);
}

/// The probe (`observer.*`) and the interface that saw the traffic.
fn put_observer<'a>(doc: &mut Doc<'a>, observer: &'a Observer, interface: &'a str) {
    doc.put_str("observer.name", observer.name.as_str());
    if let Some(hostname) = &observer.hostname {
        doc.put_str("observer.hostname", hostname.as_str());
    }
    doc.put("observer.type", "sensor");
    doc.put("observer.vendor", "sonde");
    doc.put("observer.product", "sonde");
    doc.put_str("observer.ingress.interface.name", interface);
}

fn put_sonde_flow<'a>(doc: &mut Doc<'a>, flow: &'a Flow, counters: Option<Counters<'_>>) {
    // A keyword: probes may use all 64 bits, beyond the range of a `long`.
    if flow.flow_id != 0 {
        doc.put("sonde.flow.id", Leaf::Digits(flow.flow_id));
    }
    doc.put_opt("sonde.flow.end_reason", values::end_reason(flow.end_reason));
    doc.put("sonde.flow.interim", flow.interim);
    if let Some(c) = counters {
        doc.put(
            "sonde.flow.client_payload_bytes",
            long(c.client.payload_bytes),
        );
        doc.put(
            "sonde.flow.server_payload_bytes",
            long(c.server.payload_bytes),
        );
        if flow.ip_protocol == 6 {
            doc.put_list(
                "sonde.flow.client_tcp_flags",
                values::tcp_flags(c.client.tcp_flags),
            );
            doc.put_list(
                "sonde.flow.server_tcp_flags",
                values::tcp_flags(c.server.tcp_flags),
            );
        }
    }
    if values::is_icmp(flow.ip_protocol) {
        // Zeek's convention, kept by the probe: type in the client port, code
        // in the server port. Type 0 (echo reply) and code 0 are real values.
        let field = |e: &Option<sonde_proto::v1::Endpoint>| {
            e.as_ref().and_then(|e| u8::try_from(e.port).ok())
        };
        doc.put_opt("sonde.flow.icmp.type", field(&flow.client));
        doc.put_opt("sonde.flow.icmp.code", field(&flow.server));
    }
    if let Some(tcp) = &flow.tcp {
        // 0 means "not measured" for the round-trip times only; a count of 0
        // retransmissions is a measurement.
        doc.put_opt("sonde.flow.rtt.client_us", nonzero(tcp.rtt_client_us));
        doc.put_opt("sonde.flow.rtt.server_us", nonzero(tcp.rtt_server_us));
        let sides = [
            (
                [
                    "sonde.flow.retransmissions.client",
                    "sonde.flow.retransmissions.server",
                ],
                tcp.client_retransmissions,
                tcp.server_retransmissions,
            ),
            (
                [
                    "sonde.flow.out_of_order.client",
                    "sonde.flow.out_of_order.server",
                ],
                tcp.client_out_of_order,
                tcp.server_out_of_order,
            ),
            (
                [
                    "sonde.flow.zero_windows.client",
                    "sonde.flow.zero_windows.server",
                ],
                tcp.client_zero_windows,
                tcp.server_zero_windows,
            ),
        ];
        for ([client_path, server_path], client, server) in sides {
            doc.put(client_path, long(client));
            doc.put(server_path, long(server));
        }
        // The ratio is undefined without payload; JSON has no NaN.
        let payload = counters.map_or(0, |c| {
            c.client
                .payload_bytes
                .saturating_add(c.server.payload_bytes)
        });
        let ratio = tcp.goodput_ratio;
        if payload > 0 && ratio.is_finite() && (0.0..=1.0).contains(&ratio) {
            doc.put("sonde.flow.goodput_ratio", ratio);
        }
    }
    let risks: Vec<Value> = flow
        .risks
        .iter()
        .filter(|r| !r.name.trim().is_empty())
        .map(|r| {
            let mut risk = Doc::default();
            risk.put_str("name", r.name.as_str());
            risk.put_opt("severity", values::severity(r.severity));
            risk.put_opt("score", nonzero(u64::from(r.score)));
            risk.put_str("info", r.info.as_str());
            risk.into_value()
        })
        .collect();
    doc.put_list("sonde.flow.risks", risks);
    doc.put_opt("sonde.flow.score", nonzero(u64::from(flow.score)));
}

fn nonzero(value: u64) -> Option<u64> {
    (value != 0).then(|| long(value))
}
