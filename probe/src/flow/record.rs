//! Builds the exported record (`sonde_proto::v1::Flow`) from a flow's state.

use std::net::IpAddr;

use sonde_common::community_id::FlowTuple;
use sonde_proto::v1;

use super::FlowSettings;
use super::history::{StateInput, conn_state};
use super::table::{DirStats, Flow, FlowKey};
use crate::classify;
use crate::decode::proto;

fn endpoint((ip, port): (IpAddr, u16), mac: Option<[u8; 6]>) -> v1::Endpoint {
    v1::Endpoint {
        ip: sonde_proto::ip_to_bytes(ip),
        port: u32::from(port),
        mac: mac.map(|m| m.to_vec()).unwrap_or_default(),
    }
}

fn direction(d: DirStats, flags: u8) -> v1::Direction {
    v1::Direction {
        packets: u64::from(d.packets),
        bytes: d.bytes,
        payload_bytes: d.payload_bytes,
        tcp_flags: u32::from(flags),
    }
}

/// The record of `flow` for the interval since its last record.
pub(super) fn build(
    key: &FlowKey,
    flow: &mut Flow,
    interface: &str,
    settings: &FlowSettings,
    reason: v1::EndReason,
    interim: bool,
) -> v1::Flow {
    let [c2s, s2c] = flow.dirs;
    let (client, server, proto) = (flow.client(key), flow.server(key), key.proto());
    let state = conn_state(&StateInput {
        proto,
        client: flow
            .tcp
            .as_ref()
            .map(|t| t.dirs[0].state)
            .unwrap_or_default(),
        server: flow
            .tcp
            .as_ref()
            .map(|t| t.dirs[1].state)
            .unwrap_or_default(),
        client_sent: flow.sent(0),
        server_sent: flow.sent(1),
        any_payload: flow.sent_payload(0) || flow.sent_payload(1),
        history: flow.history.as_str(),
    });
    let tuple = match proto {
        proto::ICMP | proto::ICMPV6 => {
            FlowTuple::icmp(client.0, server.0, client.1 as u8, server.1 as u8)
        }
        _ => FlowTuple::new(client.0, server.0, proto, client.1, server.1),
    };
    let tcp = flow.tcp.as_ref().map(|t| v1::TcpAnalysis {
        rtt_server_us: u64::from(t.rtt_server_us),
        rtt_client_us: u64::from(t.rtt_client_us),
        client_retransmissions: u64::from(t.dirs[0].retransmissions),
        server_retransmissions: u64::from(t.dirs[1].retransmissions),
        client_out_of_order: u64::from(t.dirs[0].out_of_order),
        server_out_of_order: u64::from(t.dirs[1].out_of_order),
        client_zero_windows: u64::from(t.dirs[0].zero_windows),
        server_zero_windows: u64::from(t.dirs[1].zero_windows),
        goodput_ratio: goodput(
            c2s.payload_bytes + s2c.payload_bytes,
            t.retransmitted_bytes(),
            c2s.bytes + s2c.bytes,
        ),
    });
    let facts = classify::FlowFacts {
        ip_protocol: proto,
        client,
        server,
        sent: [flow.sent(0), flow.sent(1)],
        sent_payload: [flow.sent_payload(0), flow.sent_payload(1)],
        tcp_flags: flow.tcp_flags,
        conn_state: state,
        first_seen_us: flow.interval_us,
    };
    let (l7, risks, score) =
        classify::verdict(flow.dpi.as_deref_mut(), &facts, &settings.dpi, !interim);
    v1::Flow {
        interface: interface.to_owned(),
        vlan_id: u32::from(key.vlan()),
        ip_protocol: u32::from(proto),
        client: Some(endpoint(client, flow.mac(0))),
        server: Some(endpoint(server, flow.mac(1))),
        client_to_server: Some(direction(c2s, flow.tcp_flags[0])),
        server_to_client: Some(direction(s2c, flow.tcp_flags[1])),
        first_seen_us: flow.interval_us,
        last_seen_us: flow.last_us,
        conn_state: state.to_owned(),
        history: flow.history.as_str().to_owned(),
        end_reason: reason as i32,
        interim,
        community_id: settings.community_id.compute(&tuple).unwrap_or_default(),
        flow_id: flow.id,
        tcp,
        l7: l7.map(Box::new),
        risks,
        score,
    }
}

/// Payload bytes delivered once over IP bytes on the wire, in [0, 1]: low
/// when a flow is all headers (ACK storms, tiny writes) or retransmissions.
/// The retransmitted bytes are counted over the whole flow, so an interim
/// record's ratio is approximate.
fn goodput(interval_payload: u64, retransmitted: u64, interval_bytes: u64) -> f64 {
    if interval_bytes == 0 {
        return 0.0;
    }
    let delivered = interval_payload.saturating_sub(retransmitted.min(interval_payload));
    (delivered as f64 / interval_bytes as f64).clamp(0.0, 1.0)
}
