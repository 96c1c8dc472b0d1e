//! The shapes of eve.json that serde reads: only the fields named here are
//! kept, everything else is skipped unread. [`super`] checks and converts them.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Deserialize)]
pub(super) struct Event {
    pub timestamp: Option<String>,
    pub event_type: Option<String>,
    pub src_ip: Option<String>,
    pub src_port: Option<u16>,
    pub dest_ip: Option<String>,
    pub dest_port: Option<u16>,
    pub proto: Option<Proto>,
    pub icmp_type: Option<u8>,
    pub icmp_code: Option<u8>,
    pub community_id: Option<String>,
    pub flow_id: Option<u64>,
    pub in_iface: Option<String>,
    pub app_proto: Option<String>,
    pub host: Option<String>,
    pub alert: Option<Alert>,
    pub flow: Option<Flow>,
    pub dns: Option<Dns>,
    pub tls: Option<Tls>,
    pub http: Option<Http>,
}

#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum Proto {
    Number(u64),
    Name(String),
}

#[derive(Deserialize)]
pub(super) struct Alert {
    pub action: Option<String>,
    pub gid: Option<u64>,
    pub signature_id: Option<u64>,
    pub rev: Option<u64>,
    pub signature: Option<String>,
    pub category: Option<String>,
    pub severity: Option<u32>,
    #[serde(default)]
    pub metadata: BTreeMap<String, serde_json::Value>,
    pub source: Option<AlertEndpoint>,
    pub target: Option<AlertEndpoint>,
}

#[derive(Deserialize)]
pub(super) struct AlertEndpoint {
    pub ip: Option<String>,
    pub port: Option<u16>,
}

#[derive(Deserialize)]
pub(super) struct Flow {
    pub pkts_toserver: Option<u64>,
    pub pkts_toclient: Option<u64>,
    pub bytes_toserver: Option<u64>,
    pub bytes_toclient: Option<u64>,
    pub start: Option<String>,
    pub end: Option<String>,
    pub state: Option<String>,
    pub reason: Option<String>,
    pub alerted: Option<bool>,
}

#[derive(Deserialize)]
pub(super) struct Dns {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub rrname: Option<String>,
    pub rrtype: Option<String>,
    pub rcode: Option<String>,
    /// Suricata 8's dns records.
    #[serde(default)]
    pub queries: Vec<Query>,
    /// Suricata 7 and 8's alert records.
    #[serde(default)]
    pub query: Vec<Query>,
}

#[derive(Deserialize)]
pub(super) struct Query {
    pub rrname: Option<String>,
    pub rrtype: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct Tls {
    pub sni: Option<String>,
    pub version: Option<String>,
    pub subject: Option<String>,
    pub issuerdn: Option<String>,
    pub fingerprint: Option<String>,
    pub ja3: Option<Hash>,
    pub ja3s: Option<Hash>,
    pub ja4: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct Hash {
    pub hash: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct Http {
    pub hostname: Option<String>,
    pub url: Option<String>,
    pub http_method: Option<String>,
    pub status: Option<u16>,
    pub http_user_agent: Option<String>,
    pub protocol: Option<String>,
}
