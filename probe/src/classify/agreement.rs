//! Agreement with nDPI: every capture of `ndpi/pcap` through the whole
//! pipeline, each flow's verdict compared with the one ndpiReader printed in
//! `ndpi/result/NAME.out`, for the flows where nDPI gives a real verdict
//! (any confidence but `Unknown` and `Match by port`, a guess from the port
//! number alone). Flows are matched by transport and their two endpoints,
//! whichever end sent first; not by VLAN, since with stacked tags nDPI
//! reports the inner id and sonde the outer one.
//!
//! The test prints the figures and a per-protocol table of disagreements;
//! docs/classification.md explains the ones that remain. Nothing here knows a
//! file name or an address of the captures.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test support: a panic is a failed test"
)]

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use sonde_proto::v1;

use super::testing::{flows_of, l7_name, testdata};
use crate::flow::FlowSettings;

/// Master protocols that must agree with nDPI (issue 5).
const MASTER_GOAL: f64 = 0.85;
/// Full `MASTER.APP` names that must agree with nDPI.
const FULL_GOAL: f64 = 0.75;

/// One flow line of an ndpiReader `.out` file.
#[derive(Debug)]
struct Expected {
    key: FlowKey,
    /// `MASTER.APP` or `MASTER`, without nDPI's numeric ids or tunnel prefix.
    name: String,
    confidence: String,
}

/// Transport and the two endpoints, in a canonical order.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct FlowKey {
    l4: String,
    ends: [(IpAddr, u16); 2],
}

impl FlowKey {
    fn new(l4: &str, a: (IpAddr, u16), b: (IpAddr, u16)) -> Self {
        let mut ends = [a, b];
        ends.sort();
        Self {
            l4: l4.to_owned(),
            ends,
        }
    }
}

/// `1.2.3.4:80` or `[::1]:80`.
fn endpoint(s: &str) -> Option<(IpAddr, u16)> {
    let (ip, port) = s.rsplit_once(':')?;
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    Some((ip.parse().ok()?, port.parse().ok()?))
}

/// The value of the first `[label: value]` field of a line.
fn field<'a>(line: &'a str, label: &str) -> Option<&'a str> {
    let start = line.find(&format!("[{label}: "))? + label.len() + 3;
    let end = line.get(start..)?.find(']')? + start;
    line.get(start..end)
}

fn parse_out(text: &str) -> Vec<Expected> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(proto) = field(line, "proto") else {
            continue;
        };
        let mut words = line.split_whitespace();
        let (Some(_id), Some(l4), Some(src), Some(_dir), Some(dst)) = (
            words.next(),
            words.next(),
            words.next(),
            words.next(),
            words.next(),
        ) else {
            continue;
        };
        let (Some(src), Some(dst)) = (endpoint(src), endpoint(dst)) else {
            continue;
        };
        // "VXLAN:91.119/TLS.Facebook" -> "TLS.Facebook"
        let name = proto.split_once('/').map_or(proto, |(_, n)| n).to_owned();
        let confidence = field(line, "Confidence").unwrap_or("Unknown").to_owned();
        out.push(Expected {
            key: FlowKey::new(l4, src, dst),
            name,
            confidence,
        });
    }
    out
}

fn l4_name(ip_protocol: u32) -> String {
    match ip_protocol {
        6 => "TCP".into(),
        17 => "UDP".into(),
        1 => "ICMP".into(),
        58 => "ICMPV6".into(),
        2 => "IGMP".into(),
        n => n.to_string(),
    }
}

fn key_of(flow: &v1::Flow) -> Option<FlowKey> {
    let (c, s) = (flow.client.as_ref()?, flow.server.as_ref()?);
    let a = (
        sonde_proto::ip_from_bytes(&c.ip)?,
        u16::try_from(c.port).ok()?,
    );
    let b = (
        sonde_proto::ip_from_bytes(&s.ip)?,
        u16::try_from(s.port).ok()?,
    );
    let ports = matches!(flow.ip_protocol, 6 | 17 | 132);
    let (a, b) = if ports { (a, b) } else { ((a.0, 0), (b.0, 0)) };
    Some(FlowKey::new(&l4_name(flow.ip_protocol), a, b))
}

fn master(name: &str) -> &str {
    name.split_once('.').map_or(name, |(m, _)| m)
}

#[derive(Default)]
struct Tally {
    flows: usize,
    master: usize,
    full: usize,
}

#[test]
fn classification_agrees_with_ndpi_on_its_own_captures() {
    let dir = testdata("ndpi/pcap");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut total = Tally::default();
    // nDPI's name -> (ours -> count), for the flows that disagree.
    let mut wrong: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    let mut per_file = Vec::new();
    for name in &names {
        let result = testdata(&format!("ndpi/result/{name}.out"));
        let expected = parse_out(&std::fs::read_to_string(result).unwrap());
        // nDPI's flow is the first of ours with its endpoints: a flow table
        // with shorter timeouts may split a long flow into several records.
        let mut records = flows_of(&dir.join(name), FlowSettings::default());
        records.sort_by_key(|f| std::cmp::Reverse(f.first_seen_us));
        let ours: HashMap<FlowKey, String> = records
            .iter()
            .filter_map(|f| Some((key_of(f)?, l7_name(f))))
            .collect();
        let mut file = Tally::default();
        for e in &expected {
            if e.confidence == "Unknown" || e.confidence == "Match by port" {
                continue;
            }
            let got = ours
                .get(&e.key)
                .cloned()
                .unwrap_or_else(|| "(no flow)".into());
            file.flows += 1;
            if master(&got) == master(&e.name) {
                file.master += 1;
            }
            if got == e.name {
                file.full += 1;
            } else {
                *wrong
                    .entry(e.name.clone())
                    .or_default()
                    .entry(got)
                    .or_default() += 1;
            }
        }
        total.flows += file.flows;
        total.master += file.master;
        total.full += file.full;
        per_file.push((name.clone(), file));
    }
    println!("per capture (flows with a real nDPI verdict: master / full agree):");
    for (name, t) in &per_file {
        if t.flows > 0 {
            println!(
                "  {name:45} {:3} flows {:3} / {:3}",
                t.flows, t.master, t.full
            );
        }
    }
    println!("disagreements (nDPI -> sonde: flows):");
    for (ndpi, ours) in &wrong {
        for (got, n) in ours {
            println!("  {ndpi:28} -> {got:28} {n}");
        }
    }
    let ratio = |n: usize| n as f64 / total.flows.max(1) as f64;
    println!(
        "agreement over {} flows: master {} ({:.1}%), full name {} ({:.1}%)",
        total.flows,
        total.master,
        100.0 * ratio(total.master),
        total.full,
        100.0 * ratio(total.full)
    );
    assert!(
        total.flows >= 150,
        "too few flows compared: {}",
        total.flows
    );
    assert!(
        ratio(total.master) >= MASTER_GOAL,
        "master protocol agreement below goal"
    );
    assert!(
        ratio(total.full) >= FULL_GOAL,
        "full name agreement below goal"
    );
}

#[test]
fn out_lines_parse_into_keys_names_and_confidences() {
    let line = "\t1\tUDP 82.178.113.245:47255 <-> 82.178.158.181:53 [VLAN: 785][proto: 5.142/DNS.WhatsApp][IP: 0/Unknown][ClearText][Confidence: DPI][FPC: 5.142/DNS.WhatsApp, Confidence: DPI]";
    let v6 = "\t2\tTCP [2a03:2880::1]:443 <-> [2001:db8::2]:5000 [proto: VXLAN:91.119/TLS.Facebook][Confidence: Match by port]";
    let parsed = parse_out(&format!("{line}\n{v6}\nnot a flow\n"));
    assert_eq!(parsed.len(), 2);
    assert_eq!(parsed[0].name, "DNS.WhatsApp");
    assert_eq!(parsed[0].confidence, "DPI");
    assert_eq!(
        parsed[0].key,
        FlowKey::new(
            "UDP",
            ("82.178.158.181".parse().unwrap(), 53),
            ("82.178.113.245".parse().unwrap(), 47255)
        )
    );
    assert_eq!(parsed[1].name, "TLS.Facebook");
    assert_eq!(parsed[1].confidence, "Match by port");
    assert_eq!(master(&parsed[1].name), "TLS");
}
