//! Test support for classifiers: real captures through the whole pipeline,
//! the payloads of a capture's packets, and the truncate-at-every-offset check.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test support: a panic is a failed test"
)]

use std::path::PathBuf;

use sonde_proto::v1;

use super::{Findings, Kind, Packet, Parse, Probe, Transport};
use crate::capture::{FileSource, Next, PacketSource};
use crate::decode;
use crate::engine::Engine;
use crate::flow::FlowSettings;

/// A file of the shared test data (`../shared/testdata`, or `$SONDE_TESTDATA`).
pub(crate) fn testdata(rel: &str) -> PathBuf {
    let root = std::env::var_os("SONDE_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata"));
    let path = root.join(rel);
    assert!(
        path.exists(),
        "test data missing: {} (set SONDE_TESTDATA)",
        path.display()
    );
    path
}

/// Every flow record of `ndpi/pcap/NAME` with default settings.
pub(crate) fn flows(name: &str) -> Vec<v1::Flow> {
    flows_of(
        &testdata(&format!("ndpi/pcap/{name}")),
        FlowSettings::default(),
    )
}

/// Every flow record of a capture file.
pub(crate) fn flows_of(path: &std::path::Path, settings: FlowSettings) -> Vec<v1::Flow> {
    let mut source = FileSource::open(path, "test").unwrap();
    let mut engine = Engine::new(source.link_type(), "test", settings);
    let mut out = Vec::new();
    loop {
        match source.next_packet() {
            Ok(Next::Packet(p)) => engine.packet(&p, &mut out),
            Ok(Next::Idle) => {}
            Ok(Next::End) | Err(_) => break,
        }
    }
    engine.finish(&mut out);
    out
}

/// `MASTER.APP` (or `MASTER`) of a record, as ndpiReader prints it.
pub(crate) fn l7_name(flow: &v1::Flow) -> String {
    match &flow.l7 {
        Some(l7) if !l7.application.is_empty() && !l7.protocol.is_empty() => {
            format!("{}.{}", l7.protocol, l7.application)
        }
        Some(l7) if !l7.protocol.is_empty() => l7.protocol.clone(),
        Some(l7) if !l7.application.is_empty() => l7.application.clone(),
        _ => "Unknown".to_owned(),
    }
}

/// One packet with payload, as a classifier sees it, owning its bytes.
#[derive(Clone, Debug)]
pub(crate) struct OwnedPacket {
    pub(crate) payload: Vec<u8>,
    pub(crate) src_port: u16,
    pub(crate) dst_port: u16,
    pub(crate) transport: Transport,
    pub(crate) tcp_seq: Option<u32>,
    pub(crate) ts_us: u64,
}

impl OwnedPacket {
    /// A TCP segment between a client on port 40000 and a server on
    /// `server_port`, sent by the client (`from_client`) or the server.
    pub(crate) fn tcp(payload: &[u8], from_client: bool, server_port: u16, seq: u32) -> Self {
        let (src_port, dst_port) = if from_client {
            (40_000, server_port)
        } else {
            (server_port, 40_000)
        };
        Self {
            payload: payload.to_vec(),
            src_port,
            dst_port,
            transport: Transport::Tcp,
            tcp_seq: Some(seq),
            ts_us: 0,
        }
    }

    /// The packet as the flow's client (`from_client`) or server sent it.
    pub(crate) fn view(&self, from_client: bool) -> Packet<'_> {
        let (client_port, server_port) = if from_client {
            (self.src_port, self.dst_port)
        } else {
            (self.dst_port, self.src_port)
        };
        Packet {
            payload: &self.payload,
            from_client,
            transport: self.transport,
            client_port,
            server_port,
            tcp_seq: self.tcp_seq,
            ts_us: self.ts_us,
            packet_no: 1,
        }
    }

    /// The packet as sent to the well-known port (the server is the end
    /// with the lower port number).
    pub(crate) fn to_server(&self) -> Packet<'_> {
        self.view(self.dst_port <= self.src_port)
    }
}

/// Every packet with payload of `ndpi/pcap/NAME` (or another testdata path
/// when `name` contains a `/`).
pub(crate) fn payloads(name: &str) -> Vec<OwnedPacket> {
    let path = if name.contains('/') {
        testdata(name)
    } else {
        testdata(&format!("ndpi/pcap/{name}"))
    };
    let mut source = FileSource::open(&path, "test").unwrap();
    let link = source.link_type();
    let mut out = Vec::new();
    loop {
        match source.next_packet() {
            Ok(Next::Packet(p)) => {
                let Ok(d) = decode::decode(link, p.data) else {
                    continue;
                };
                if d.payload.is_empty() {
                    continue;
                }
                out.push(OwnedPacket {
                    payload: d.payload.to_vec(),
                    src_port: d.src_port,
                    dst_port: d.dst_port,
                    transport: Transport::of_ip_protocol(d.proto),
                    tcp_seq: d.tcp.map(|t| t.seq),
                    ts_us: p.ts_us,
                });
            }
            Ok(Next::Idle) => {}
            Ok(Next::End) | Err(_) => break,
        }
    }
    out
}

/// Feeds every prefix of `packet`'s payload to `kind`'s probe and to a fresh
/// parser (nothing may panic, whatever the cut) and returns the parser's
/// verdict per prefix length, for the caller to check (a cut message is
/// `Incomplete` or `Invalid`, not `Done` with fields it could not read).
pub(crate) fn every_prefix(kind: Kind, packet: &OwnedPacket, from_client: bool) -> Vec<Parse> {
    (0..=packet.payload.len())
        .map(|len| {
            let cut = OwnedPacket {
                payload: packet.payload.get(..len).unwrap().to_vec(),
                ..packet.clone()
            };
            let view = cut.view(from_client);
            let _ = kind.probe_for_test(&view);
            let mut findings = Findings::default();
            kind.start_for_test().parse(&view, &mut findings)
        })
        .collect()
}

/// Asserts that `probe` claims no payload of the given captures, sent by
/// either end (a negative test on other protocols' real traffic).
pub(crate) fn assert_not_claimed(probe: fn(&Packet<'_>) -> Probe, captures: &[&str]) {
    for capture in captures {
        for p in payloads(capture) {
            for from_client in [true, false] {
                assert_ne!(
                    probe(&p.view(from_client)),
                    Probe::Match,
                    "{capture}: {:?}",
                    p.payload.get(..24)
                );
            }
        }
    }
}

/// Feeds TCP segments (payload, sent by the client) of one flow to a parser,
/// each direction with its own consecutive sequence numbers; returns the
/// last verdict and the findings.
pub(crate) fn feed_tcp(
    server_port: u16,
    packets: &[(&[u8], bool)],
    mut parse: impl FnMut(&Packet<'_>, &mut Findings) -> Parse,
) -> (Parse, Findings) {
    let mut out = Findings::default();
    let mut seq = [1_000u32, 9_000u32];
    let mut last = Parse::Incomplete;
    for (payload, from_client) in packets {
        let dir = usize::from(!from_client);
        let p = OwnedPacket::tcp(payload, *from_client, server_port, seq[dir]);
        seq[dir] = seq[dir].wrapping_add(payload.len() as u32);
        last = parse(&p.view(*from_client), &mut out);
    }
    (last, out)
}
